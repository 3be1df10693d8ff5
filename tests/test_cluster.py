"""The cluster on Redis (crawler/cluster.py): workers clean, one writer stores, and the result is
the one of a single machine, through kill -9 of a worker, of the writer and of Redis.

Each test starts its own redis-server (free port, AOF with appendfsync always, in a temp folder),
so it can kill it and start it again from its AOF. Waits are bounded by deadlines generous enough
for a machine three times slower, and end as soon as the condition holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from crawler import broker
from crawler.broker import decode_result, encode_result
from db.store import Unit
from db.vocabulary import Article, Outcome
from tests.conftest import ROOT, check_ledger, crawler_subprocess, query
from tests.redisserver import EXE, RedisServer
from tests.test_workers import outcome, racing_corpus

pytestmark = pytest.mark.skipif(EXE is None, reason="redis-server is not installed")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    redis_server = RedisServer(tmp_path / "redis")
    redis_server.start()
    yield redis_server
    redis_server.stop()


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "crawler.entry", *args]


class Cluster:
    """A writer and workers as real processes, each killable."""

    def __init__(self, server: RedisServer, db: Path, tmp: Path) -> None:
        self.server, self.db, self.tmp = server, db, tmp
        self.writer: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def _start(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"proc-{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "wb") as out:
            return subprocess.Popen(_command(*args), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def start_writer(self) -> None:
        self.writer = self._start("writer", "--db", str(self.db), "--broker", self.server.url)

    def start_worker(self, lease: float = 60) -> subprocess.Popen[bytes]:
        worker = self._start("worker", "--broker", self.server.url, "--lease", str(lease))
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for proc in [*self.workers, self.writer]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.writer]:
            if proc is not None:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in self.logs)


@pytest.fixture
def cluster(server: RedisServer, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(server, tmp_path / "cluster.db", tmp_path)
    yield c
    c.stop()


def submit(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _command("submit", "--broker", url, *args),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def single_machine(corpus: Path, tmp: Path) -> tuple[list[tuple[object, ...]], ...]:
    db = tmp / "single.db"
    run = crawler_subprocess("load", str(corpus), "--db", str(db))
    assert run.returncode == 0, run.stderr
    return outcome(db)


def each_input_once(db: Path) -> None:
    """Every input has exactly one ledger row over all the jobs' runs: none lost, none twice."""
    assert query(db, "SELECT origin FROM pages GROUP BY origin HAVING count(*) > 1") == []


def test_a_result_survives_the_broker_as_json() -> None:
    article = Article(
        url="https://news.example/a", origin="/srv/a.html", source="s", text="본문 text",
        title="T", published_at="2024-01-02T03:04:05+09:00", fetched_at="2024-01-03T00:00:00+00:00",
        metadata={"dedup": "exact_only", "n": [1, 2]}, content_hash="ab", signature=[1, 2**32 - 1],
        entry=2,
    )  # fmt: skip
    unit = Unit(articles=[article], attempts=2)
    entry = encode_result(
        "job1", "/srv/a.html", "https://news.example/a", "s", unit, Counter(r=1), Counter(r=9),
        ("u", "etag", None), None,
    )  # fmt: skip
    data = decode_result(entry["body"])
    assert data["unit"].articles == [article] and data["unit"].attempts == 2
    assert data["validators"] == ("u", "etag", None) and data["fired"] == {"r": 1}
    failed = Unit(outcome=Outcome("/srv/b", "failed", "clean_error", url="x"), source="s")
    entry = encode_result("j", "k", None, "s", failed, Counter(), Counter(), None, None)
    back = decode_result(entry["body"])
    assert back["unit"].outcome == failed.outcome


def test_a_broker_url_that_is_not_redis_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = crawler_subprocess("jobs", "--broker", "http://127.0.0.1:1/")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "not a Redis URL" in result.stderr


@pytest.mark.timeout(300)
def test_three_workers_and_one_writer_store_what_one_machine_stores(
    cluster: Cluster, server: RedisServer, tmp_path: Path
) -> None:
    """Near-duplicates race across shards (the first copy is slow to clean): the writer stores
    shards in walk order, so the same copies win as in `crawler load`."""
    corpus = racing_corpus(tmp_path / "corpus")
    expected = single_machine(corpus, tmp_path)
    cluster.start_writer()
    for _ in range(3):
        cluster.start_worker()
    waiting = submit(server.url, "load", str(corpus), "--shard", "7", "--wait")
    out, err = waiting.communicate(timeout=240)
    assert waiting.returncode == 0, (out, err, cluster.output())
    assert len([line for line in out.splitlines() if "\tload\t" in line]) == 12  # 84 files / 7
    assert "84 inputs" in out and "duplicate 16" in out
    assert outcome(cluster.db) == expected
    each_input_once(cluster.db)
    check_ledger(cluster.db)
    # one run per job, each closed with the job's id on it
    assert query(
        cluster.db, "SELECT count(*), count(DISTINCT job) FROM runs WHERE status = 'finished'"
    ) == [(12, 12)]
    jobs = crawler_subprocess("jobs", "--broker", server.url)
    assert jobs.returncode == 0 and jobs.stdout.count(" done, ") == 12, jobs.stdout


@pytest.mark.timeout(120)
def test_a_second_writer_is_refused(cluster: Cluster, server: RedisServer, tmp_path: Path) -> None:
    cluster.start_writer()
    with redis.Redis.from_url(server.url) as client:
        until(lambda: client.exists(broker.WRITER) == 1, 60, "the writer's claim")
    same_db = crawler_subprocess(
        "writer", "--db", str(cluster.db), "--broker", server.url, "--exit-when-idle", "1"
    )
    assert same_db.returncode == 75, same_db.stderr
    assert "another writer" in same_db.stderr and same_db.stderr.count("\n") == 1
    other_db = crawler_subprocess(
        "writer", "--db", str(tmp_path / "other.db"), "--broker", server.url,
        "--exit-when-idle", "1",
    )  # fmt: skip
    assert other_db.returncode == 75 and "already has a writer" in other_db.stderr


def _jobs(url: str) -> list[dict[str, str]]:
    from crawler.cluster import recent_jobs

    with broker.connect(url) as client:
        return recent_jobs(client, 1000)


def _running_worker(
    url: str, workers: list[subprocess.Popen[bytes]]
) -> tuple[subprocess.Popen[bytes], str] | None:
    """A worker process now in the middle of a job (results sent, not yet its end), and the job."""
    for row in _jobs(url):
        if row.get("state") == "running" and int(row.get("progress") or 0) > 0:
            if row.get("sent_at"):  # its worker has sent all of it: the writer closes it
                continue
            pid = int(row["node"].rsplit(":", 1)[1])
            for proc in workers:
                if proc.pid == pid and proc.poll() is None:
                    return proc, row["id"]
    return None


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return int(query(db, "SELECT count(*) FROM pages")[0][0])  # type: ignore[call-overload]
    except Exception:
        return 0


@pytest.mark.timeout(420)
@pytest.mark.parametrize(
    "faults", [("worker",), ("writer",), ("redis",), ("worker", "writer", "redis")]
)
def test_kill_9_loses_nothing_and_stores_nothing_twice(
    cluster: Cluster, server: RedisServer, tmp_path: Path, faults: tuple[str, ...]
) -> None:
    """kill -9 of a worker mid-job (its job is taken over when its lease runs out), of the writer
    mid-batch (restarted: it reads what it had not acknowledged), of Redis (restarted from its
    AOF): every job ends done, `submit --wait` exits 0 only then, and the database is the one a
    single machine makes: no input lost, none stored twice."""
    from tests.gen import write_corpus

    corpus = write_corpus(tmp_path / "corpus", 240)
    (corpus / "copy.txt").write_text((corpus / "doc00001.txt").read_text("utf-8"), "utf-8")
    expected = single_machine(corpus, tmp_path)
    cluster.start_writer()
    for _ in range(2):
        cluster.start_worker(lease=3)
    waiting = submit(server.url, "load", str(corpus), "--shard", "20", "--wait")
    hit = None  # the job whose worker was killed before it had sent all of the job
    if "worker" in faults:
        victim: list[tuple[subprocess.Popen[bytes], str]] = []

        def busy() -> bool:
            found = _running_worker(server.url, cluster.workers)
            victim[:] = [found] if found else []
            return found is not None

        def job_row(job: str) -> dict[str, str]:
            return next((r for r in _jobs(server.url) if r.get("id") == job), {})

        def settled(job: str) -> bool:  # taken over by another worker, or closed as it was
            row = job_row(job)
            return row.get("state") == "done" or int(row.get("attempts") or 0) >= 2

        for _ in range(5):  # a kill can land after the worker sent the job's end: then again
            until(busy, 120, "a worker in the middle of a job")
            proc, job = victim[0]
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            cluster.start_worker(lease=3)
            until(lambda job=job: settled(job), 120, "the killed worker's job taken over")
            if int(job_row(job).get("attempts") or 0) >= 2:
                hit = job
                break
        assert hit is not None, "no kill landed in the middle of a job in 5 tries"
    if "writer" in faults:
        until(lambda: _stored(cluster.db) > 20, 120, "the writer storing")
        assert cluster.writer is not None
        os.kill(cluster.writer.pid, signal.SIGKILL)
        cluster.writer.wait(10)
        time.sleep(0.5)
        cluster.start_writer()
    if "redis" in faults:
        until(lambda: _stored(cluster.db) > 60, 120, "more stored")
        server.kill()
        time.sleep(1.5)  # workers and writer find it gone, and retry
        assert waiting.poll() is None  # --wait waits for the broker, it does not end
        server.start()
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, (out, err, cluster.output())
    assert all(row["state"] == "done" for row in _jobs(server.url))
    assert outcome(cluster.db) == expected, cluster.output()
    each_input_once(cluster.db)
    check_ledger(cluster.db)
    if "redis" in faults:
        assert "unreachable" in cluster.output()  # said in one line, then retried
    if "worker" in faults:  # the killed worker's job was taken over and redone
        row = next(r for r in _jobs(server.url) if r.get("id") == hit)
        assert row.get("state") == "done" and int(row.get("attempts") or 0) >= 2, row


@pytest.mark.timeout(180)
def test_a_job_that_cannot_run_fails_with_its_reason(
    cluster: Cluster, server: RedisServer, tmp_path: Path
) -> None:
    """A job a worker cannot run (its sources file broken since it was submitted) ends failed with
    the reason, its run closed failed; it does not hang the queue."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Title\n\n" + "A sentence of the article body. " * 20, "utf-8")
    (corpus / "b.txt").write_text(
        "Title\n\n" + "Another article body, quite different. " * 20, "utf-8"
    )
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[sources.mine]\nkind = "files"\npaths = ["{corpus}"]\n', "utf-8")
    cluster.start_writer()
    waiting = submit(server.url, "load", str(corpus), "--sources", str(sources), "--source", "mine")
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    sources.write_text("this is not toml [", "utf-8")  # the workers cannot read it either
    cluster.start_worker()
    job = out.split("\t", 1)[0]
    client = broker.connect(server.url)
    until(
        lambda: broker.job_fields(client, job).get("state") in ("done", "failed"),
        120,
        "the job's end",
    )
    row = broker.job_fields(client, job)
    assert row["state"] == "failed" and "sources" in row["reason"].lower(), row
    # the run of the job is closed failed in the database, with its reason in the job
    assert query(cluster.db, "SELECT status FROM runs WHERE job = ?", (job,)) == [("failed",)]


@pytest.mark.timeout(300)
def test_a_source_crawled_by_a_worker_stores_what_crawler_crawl_stores(
    cluster: Cluster, server: RedisServer, tmp_path: Path
) -> None:
    """A crawl job runs the same crawl on a worker (its own process), sending its pages' units;
    the writer stores what `crawler crawl` stores (same texts, same URLs reaching them, the same
    ledger reasons for robots and 404). Submitted twice at once, the source is crawled by one
    worker at a time; the second crawl finds everything unchanged, never stored twice."""
    from tests.site import serve
    from tests.test_crawl import sources_file

    # which of two identical pages a concurrent crawl stores first is timing: compare each text
    # with every URL that reached it, and the inputs without an article by state and reason
    found = """SELECT a.content_hash, p.url FROM pages p JOIN articles a
               ON a.id = coalesce(p.article_id, p.duplicate_of) WHERE p.run_id = ? ORDER BY 1, 2"""
    others = """SELECT p.url, p.state, p.reason FROM pages p WHERE p.run_id = ?
                AND p.state IN ('rejected', 'failed') ORDER BY 1"""
    with serve() as site:
        sources = sources_file(tmp_path, site.base)
        alone = tmp_path / "alone.db"
        crawl = crawler_subprocess(
            "crawl", "testsite", "--sources", str(sources), "--db", str(alone)
        )
        assert crawl.returncode in (0, 3), crawl.stderr
        cluster.start_writer()
        cluster.start_worker()
        cluster.start_worker()
        first = submit(server.url, "crawl", "testsite", "--sources", str(sources), "--wait")
        second = submit(server.url, "crawl", "testsite", "--sources", str(sources), "--wait")
        _out1, err1 = first.communicate(timeout=240)
        _out2, err2 = second.communicate(timeout=240)
    assert first.returncode in (0, 3) and second.returncode in (0, 3), (
        err1,
        err2,
        cluster.output(),
    )
    runs = query(cluster.db, "SELECT id, started_at, finished_at FROM runs ORDER BY id")
    assert len(runs) == 2
    # one at a time: the second job's worker started after the first's had sent its last result
    jobs = sorted(_jobs(server.url), key=lambda row: row["started"])
    assert jobs[1]["started"] >= jobs[0]["sent_at"], jobs
    first_run, second_run = (int(str(r[0])) for r in runs)
    assert query(cluster.db, found, (first_run,)) == query(alone, found, (1,))
    assert query(cluster.db, others, (first_run,)) == query(alone, others, (1,))
    again = query(cluster.db, "SELECT DISTINCT state FROM pages WHERE run_id = ?", (second_run,))
    assert {str(r[0]) for r in again} <= {"unchanged", "duplicate", "rejected"}, again
    assert query(cluster.db, "SELECT count(*) FROM articles") == query(
        alone, "SELECT count(*) FROM articles"
    )
    check_ledger(cluster.db)


@pytest.mark.timeout(240)
def test_a_stopped_worker_puts_its_job_back_and_submit_run_sends_configured_sources(
    cluster: Cluster, server: RedisServer, tmp_path: Path
) -> None:
    """SIGTERM to a worker mid-job: it exits 143 and its job is queued again at once (no lease to
    wait for); another worker finishes it. `submit run NAME` makes load jobs of a files source;
    `crawler jobs --json` shows each job with its report."""
    import json

    from tests.gen import write_corpus

    corpus = write_corpus(tmp_path / "corpus", 120)
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[sources.docs]\nkind = "files"\npaths = ["{corpus}"]\n', "utf-8")
    cluster.start_writer()
    worker = cluster.start_worker(lease=600)  # a lease that never runs out in this test
    waiting = subprocess.Popen(
        _command("submit", "--broker", server.url, "run", "docs", "--sources", str(sources), "--wait"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    until(lambda: _running_worker(server.url, [worker]) is not None, 120, "the worker mid-job")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 143, cluster.output()
    assert "back in the queue" in cluster.output()
    cluster.start_worker(lease=600)
    out, err = waiting.communicate(timeout=180)
    assert waiting.returncode == 0, (out, err, cluster.output())
    assert "120 inputs" in out and "stored 120" in out
    each_input_once(cluster.db)
    check_ledger(cluster.db)
    listed = crawler_subprocess("jobs", "--broker", server.url, "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["state"] for r in rows] == ["done", "done"]  # 120 files: jobs of 100 and 20
    assert {r["source"] for r in rows} == {"docs"}
    assert sum(r["report"]["items"]["stored"] for r in rows) == 120
    assert max(int(r["attempts"]) for r in rows) == 2  # the job that was put back
