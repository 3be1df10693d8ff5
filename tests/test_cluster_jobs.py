"""The cluster's other kinds of job, end to end through one writer and one worker: a web archive
(`submit load X.warc.gz`), an ad hoc URL crawl (`submit crawl http://...`) and the sources due
(`submit run --due`). Each ends with its articles stored by the writer and `crawler jobs` showing
its jobs done.

One redis-server, writer and worker serve the whole module (starting them is most of the cost);
each test's inputs are texts of its own, and each checks only the runs of the jobs it submitted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from warcio.warcwriter import WARCWriter

from tests.conftest import check_ledger, crawler_subprocess, query
from tests.faultserver import article
from tests.gen import write_corpus
from tests.redisserver import EXE, RedisServer
from tests.test_archives import response_record
from tests.test_cluster import Cluster, submit

pytestmark = pytest.mark.skipif(EXE is None, reason="redis-server is not installed")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("cluster")
    server = RedisServer(folder / "redis")
    server.start()
    running = Cluster(server, folder / "cluster.db", folder)
    try:
        running.start_writer()
        running.start_worker()
        yield running
    finally:
        running.stop()
        server.stop()


def _submitted(out: str) -> list[str]:
    """The job ids `crawler submit` printed (one `ID<TAB>KIND<TAB>SOURCE<TAB>TITLE` line each)."""
    return [line.split("\t")[0] for line in out.splitlines() if line.count("\t") == 3]


def _done(cluster: Cluster, ids: list[str]) -> dict[str, dict[str, object]]:
    """`crawler jobs --json` for these jobs; each must be done. Also the plain listing says so."""
    listed = crawler_subprocess("jobs", "--broker", cluster.server.url, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert {job: rows[job]["state"] for job in ids} == dict.fromkeys(ids, "done"), rows
    plain = crawler_subprocess("jobs", "--broker", cluster.server.url)
    for job in ids:
        (line,) = [x for x in plain.stdout.splitlines() if x.startswith(job)]
        assert " done, " in line, line
    return {job: rows[job] for job in ids}


def _stored_by(db: Path, jobs: list[str]) -> list[tuple[object, ...]]:
    """(url, content hash) of the articles the runs of these jobs stored, by URL."""
    marks = ", ".join("?" * len(jobs))
    return query(
        db,
        f"""SELECT a.url, a.content_hash FROM articles a JOIN runs r ON r.id = a.run_id
            WHERE r.job IN ({marks}) ORDER BY a.url""",
        tuple(jobs),
    )


@pytest.mark.timeout(180)
def test_a_warc_gz_job_stores_what_crawler_load_stores(cluster: Cluster, tmp_path: Path) -> None:
    archive = tmp_path / "crawl.warc.gz"
    with open(archive, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        writer.write_record(writer.create_warcinfo_record(archive.name, {"software": "test"}))
        for n in range(3):
            response_record(writer, f"https://warc.example/a{n}", article(700 + n), "text/html")
        response_record(
            writer, "https://warc.example/a0-again", article(700), "text/html"
        )  # a copy
        response_record(
            writer, "https://warc.example/logo.png", b"\x89PNG\r\n" + bytes(99), "image/png"
        )
    alone = tmp_path / "alone.db"
    loaded = crawler_subprocess("load", str(archive), "--db", str(alone))
    assert loaded.returncode == 0, loaded.stderr
    waiting = submit(cluster.server.url, "load", str(archive), "--wait")
    out, err = waiting.communicate(timeout=150)
    assert waiting.returncode == 0, (out, err, cluster.output())
    jobs = _submitted(out)
    assert len(jobs) == 1  # an archive file is a job of its own
    assert "stored 3" in out and "duplicate 1" in out, out
    expected = query(alone, "SELECT url, content_hash FROM articles ORDER BY url")
    assert len(expected) == 3
    assert _stored_by(cluster.db, jobs) == expected
    (row,) = _done(cluster, jobs).values()
    assert row["kind"] == "load"
    report = row["report"]
    assert isinstance(report, dict) and report["items"]["stored"] == 3, report
    check_ledger(cluster.db)


@pytest.mark.timeout(240)
def test_an_ad_hoc_url_crawl_job_stores_the_site(cluster: Cluster, tmp_path: Path) -> None:
    from tests.site import ARTICLES, serve

    with serve() as site:
        waiting = submit(
            cluster.server.url, "crawl", f"{site.base}/", "--allow-private", "127.0.0.1", "--wait"
        )
        out, err = waiting.communicate(timeout=200)
        requested = list(site.requested)
    assert waiting.returncode in (0, 3), (out, err, cluster.output())  # 3: its 404, a failure
    jobs = _submitted(out)
    assert len(jobs) == 1
    assert "/robots.txt" in requested and not any(p.startswith("/private/") for p in requested)
    stored = _stored_by(cluster.db, jobs)
    titles = query(
        cluster.db,
        """SELECT a.title FROM articles a JOIN runs r ON r.id = a.run_id WHERE r.job = ?
           ORDER BY a.title""",
        (jobs[0],),
    )
    assert sorted(str(t) for (t,) in titles) == sorted(title for _l, title, _p in ARTICLES.values())
    assert {str(url).removeprefix(site.base) for url, _hash in stored} <= {
        *ARTICLES,
        "/syndicated/harbour-ferry-copy",
    }
    (row,) = _done(cluster, jobs).values()
    port = site.base.rsplit(":", 1)[1]
    assert row["kind"] == "crawl" and row["source"] == f"127.0.0.1:{port}"  # as crawler crawl URL
    (run,) = query(cluster.db, "SELECT source, status FROM runs WHERE job = ?", (jobs[0],))
    assert run == (row["source"], "finished")
    check_ledger(cluster.db)


@pytest.mark.timeout(240)
def test_submit_run_due_enqueues_only_the_sources_due_and_then_none(
    cluster: Cluster, tmp_path: Path
) -> None:
    """A source that never ran is due; one without a schedule never is (run it by name); right
    after the due one has run, nothing is due and nothing is enqueued."""
    yearly, manual = write_corpus(tmp_path / "yearly", 3, 900), write_corpus(tmp_path / "m", 2, 950)
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f'[sources.yearly]\nkind = "files"\npaths = ["{yearly}"]\nschedule = "0 0 1 1 *"\n\n'
        f'[sources.manual]\nkind = "files"\npaths = ["{manual}"]\n',
        "utf-8",
    )
    due = ("run", "--due", "--sources", str(sources), "--db", str(cluster.db))
    waiting = submit(cluster.server.url, *due, "--wait")
    out, err = waiting.communicate(timeout=200)
    assert waiting.returncode == 0, (out, err, cluster.output())
    jobs = _submitted(out)
    assert [line.split("\t")[2] for line in out.splitlines() if line.count("\t") == 3] == ["yearly"]
    assert "stored 3" in out, out
    assert len(_stored_by(cluster.db, jobs)) == 3
    (job,) = jobs  # three files: one job
    assert query(cluster.db, "SELECT source, status FROM runs WHERE job = ?", (job,)) == [
        ("yearly", "finished")
    ]
    assert query(cluster.db, "SELECT count(*) FROM runs WHERE source = 'manual'") == [(0,)]
    assert {row["source"] for row in _done(cluster, jobs).values()} == {"yearly"}
    before = crawler_subprocess("jobs", "--broker", cluster.server.url, "--json")
    again = submit(cluster.server.url, *due)
    out2, err2 = again.communicate(timeout=60)
    assert again.returncode == 0, err2
    assert _submitted(out2) == [] and "nothing to submit" in out2
    after = crawler_subprocess("jobs", "--broker", cluster.server.url, "--json")
    assert after.stdout.splitlines() == before.stdout.splitlines()  # no job was enqueued
    check_ledger(cluster.db)


@pytest.mark.timeout(120)
def test_submit_run_due_skips_a_source_whose_job_is_still_open(
    cluster: Cluster, tmp_path: Path
) -> None:
    """From cron, `submit run --due` every few minutes: a source whose last job is still queued
    (or running) has not run yet, but is not enqueued a second time. A broker database of its own
    with no worker, so the first job stays queued."""
    corpus = write_corpus(tmp_path / "slow", 2, 980)
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f'[sources.pending]\nkind = "files"\npaths = ["{corpus}"]\nschedule = "*/5 * * * *"\n',
        "utf-8",
    )
    url = cluster.server.url.rsplit("/", 1)[0] + "/1"
    due = ("run", "--due", "--sources", str(sources), "--db", str(tmp_path / "pending.db"))
    first = submit(url, *due)
    out1, err1 = first.communicate(timeout=60)
    assert first.returncode == 0, err1
    (job,) = _submitted(out1)
    second = submit(url, *due)
    out2, err2 = second.communicate(timeout=60)
    assert second.returncode == 0, err2
    assert _submitted(out2) == [] and "nothing to submit" in out2, out2
    assert "pending" in out2 and job in out2  # says which job it waits for
    listed = crawler_subprocess("jobs", "--broker", url, "--json")
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [job]
