"""A cluster on Redis: workers on any number of machines fetch, clean and fingerprint whole jobs;
one writer stores their results into the database, making every dedup decision, so the outcome is
the one of a single machine. See docs/cluster.md, and crawler/broker.py for what Redis holds.

- `submit_*` enqueue jobs (one per source, one per shard of files, one per archive file);
  `wait` follows them to their combined report.
- `Worker` takes jobs from the `crawler:jobs` stream, renews its lease on the job while it runs
  it, and sends each input's unit of work to the job's results stream through `ResultsSender`,
  the producers' `Sink` that a `RemoteRun` holds instead of a database writer. A job is run by the
  same code as `crawler load` and `crawler crawl`; a crawl runs in a process of its own (Twisted's
  reactor runs once a process).
- `ClusterWriter` reads the results of the jobs that may be stored now, stores them through the
  run writer of crawler/writer.py (one run per job, the job's id on the run's row), acknowledges
  them only once committed, and closes each job's run at its end. A result delivered twice is
  recognised in its run's ledger and stored once.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from cleaners.worker import CleanerPool
from crawler import broker, settings
from crawler.broker import (
    ALL,
    JOBS,
    OPEN,
    TERMINAL,
    WORKERS_GROUP,
    WRITER,
    WRITER_GROUP,
    Backoff,
    Client,
    job_fields,
    job_key,
    results_key,
    retrying,
    source_key,
    text,
)
from crawler.config import dedup_config, default_options, load_sources, worker_memory_limit
from crawler.core import Ingest
from crawler.remote import RemoteRun, send_end
from crawler.report import (
    EXIT_BROKEN,
    EXIT_ERROR,
    EXIT_FAILURES,
    EXIT_OK,
    EXIT_UNREACHABLE,
    RunReport,
)
from crawler.run import close_report
from crawler.writer import Work, Writer
from db.connect import connect
from db.dedup import check_config
from db.locks import SourceBusy, source_lock
from db.runs import (
    close_dead_job_runs,
    job_run,
    ledger_counts,
    ledger_reasons,
    process_alive,
)
from db.store import Unit
from db.vocabulary import Outcome

log = logging.getLogger(__name__)

LEASE = settings.CRAWLER_CLUSTER_LEASE
SHARD = settings.CRAWLER_CLUSTER_SHARD


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- submitting jobs -------------------------------------------------------------------------
@dataclass
class JobSpec:
    kind: str  # "load" or "crawl"
    source: str
    spec: dict[str, Any]
    title: str
    after: str = ""
    id: str = ""


def _new_ids(n: int) -> list[str]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    batch = secrets.token_hex(3)
    return [f"{stamp}-{batch}-{k:06d}" for k in range(1, n + 1)]


def enqueue(client: Client, jobs: list[JobSpec], *, chained: bool = False) -> list[str]:
    """Put `jobs` in the queue, all or none (one MULTI): their hashes, the open set, the stream.
    `chained`: each job's results are stored after the previous job's (a load's walk order)."""
    ids = _new_ids(len(jobs))
    for n, (job, job_id) in enumerate(zip(jobs, ids, strict=True)):
        job.id = job_id
        if chained and n:
            job.after = ids[n - 1]
    retrying(broker.ensure_group, client, JOBS, WORKERS_GROUP, what="jobs stream")
    now = _now()

    def put() -> None:
        pipe = client.pipeline(transaction=True)
        for job in jobs:
            pipe.hset(
                job_key(job.id),
                mapping={
                    "id": job.id, "kind": job.kind, "source": job.source, "title": job.title,
                    "spec": json.dumps(job.spec, ensure_ascii=False), "after": job.after,
                    "state": "queued", "submitted": now, "attempts": 0, "progress": 0,
                },
            )  # fmt: skip
            pipe.sadd(OPEN, job.id)
            pipe.zadd(ALL, {job.id: time.time()})
            pipe.xadd(JOBS, {"job": job.id})
        pipe.execute()

    retrying(put, what="submitting jobs")
    return ids


def plan_load_jobs(
    paths: list[str], source: str | None, sources_file: str | None, shard: int = SHARD
) -> list[JobSpec]:
    """A load as jobs: the walk of `paths` (done here, so its order is the load's), one job per
    archive file and per `shard` other files, each stored after the one before it."""
    from crawler.loaders import kind_of, plan_load, walk

    absolute = [os.path.abspath(p) for p in paths]
    absolute, name, _options = plan_load(absolute, source, sources_file)
    skipped: Counter[str] = Counter()
    jobs: list[JobSpec] = []
    files: list[list[Any]] = []
    sources = os.path.abspath(sources_file) if sources_file else None

    def job(items: list[list[Any]]) -> JobSpec:
        first = items[0][0]
        title = first if len(items) == 1 else f"{first} and {len(items) - 1} more"
        spec: dict[str, Any] = {"inputs": items, "sources_file": sources, "skipped": {}}
        return JobSpec("load", name, spec, title)

    for item in walk(absolute, lambda _p, reason: skipped.update([reason])):
        entry = [item.path, item.reject, str(item.root) if item.root else None]
        if kind_of(item.path)[0] == "archive" and item.reject is None:
            if files:
                jobs.append(job(files))
                files = []
            jobs.append(job([entry]))
        else:
            files.append(entry)
            if len(files) >= shard:
                jobs.append(job(files))
                files = []
    if files or not jobs:
        jobs.append(job(files or []))
    jobs[0].spec["skipped"] = dict(skipped)
    return jobs


def plan_crawl_jobs(
    targets: list[str], sources_file: str, allow_private: list[str] | None = None
) -> list[JobSpec]:
    """One job per source or URL: a source is crawled by one worker at a time."""
    from crawler.crawl import resolve_target

    jobs = []
    sources = os.path.abspath(sources_file)
    for target in targets:
        resolved = resolve_target(target, sources, allow_private=allow_private)
        name = resolved if isinstance(resolved, str) else resolved.name
        spec = {"target": target, "sources_file": sources, "allow_private": allow_private or []}
        jobs.append(JobSpec("crawl", name, spec, target))
    return jobs


# --- following jobs ----------------------------------------------------------------------------
def job_rows(
    client: Client, ids: Iterable[str], stop: Callable[[], bool] | None = None
) -> list[dict[str, str]]:
    ids = list(ids)

    def read() -> list[dict[str, str]]:
        pipe = client.pipeline(transaction=False)
        for job in ids:
            pipe.hgetall(job_key(job))
        return [{text(k): text(v) for k, v in raw.items()} for raw in pipe.execute()]

    return retrying(read, what="job states", stop=stop)


def recent_jobs(
    client: Client, limit: int = 50, patience: float | None = None
) -> list[dict[str, str]]:
    """The last `limit` jobs submitted, oldest first. `patience`: give up (the broker's error)
    after that many seconds of an unreachable broker, instead of waiting for it."""
    deadline = time.monotonic() + patience if patience is not None else None
    stop = (lambda: time.monotonic() > deadline) if deadline is not None else None
    ids = [text(j) for j in retrying(client.zrange, ALL, -limit, -1, what="job list", stop=stop)]
    return [row for row in job_rows(client, ids, stop) if row]


def open_jobs_of_sources(client: Client) -> dict[str, str]:
    """Source -> the first of its jobs still open (queued or running, or stored but not yet
    closed): a source with one has not had its run yet, so `submit run --due` leaves it be."""
    jobs = sorted(text(j) for j in retrying(client.smembers, OPEN, what="open jobs"))
    found: dict[str, str] = {}
    for row in job_rows(client, jobs):
        source = row.get("source")
        if source and row.get("state") not in TERMINAL:
            found.setdefault(source, row.get("id") or "?")
    return found


def describe(row: dict[str, str]) -> str:
    state = row.get("state", "?")
    if state == "running" and row.get("sent_at"):
        state = "storing"
    where = f" on {row['node']}" if row.get("node") and state in ("running", "storing") else ""
    extra = f": {row['reason']}" if row.get("reason") else ""
    return (
        f"{row.get('id', '?')}  {row.get('kind', '?'):<5} {row.get('source', '?'):<16} "
        f"{state}{where}, {row.get('progress', 0)} sent{extra}  [{row.get('title', '')}]"
    )


def combined_exit(rows: list[dict[str, str]]) -> int:
    codes = set()
    for row in rows:
        if row.get("state") == "failed":
            codes.add(EXIT_ERROR)
        else:
            report = json.loads(row.get("report") or "{}")
            codes.add(int(report.get("exit_code", EXIT_OK)))
    for code in (EXIT_ERROR, EXIT_BROKEN, EXIT_UNREACHABLE, EXIT_FAILURES):
        if code in codes:
            return code
    return max(codes or {EXIT_OK})


def combined_report(rows: list[dict[str, str]]) -> str:
    items: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    inputs = 0
    lines = []
    for row in rows:
        report = json.loads(row.get("report") or "{}")
        inputs += int(report.get("inputs", 0) or 0)
        items.update(report.get("items", {}))
        for state, by in report.get("reasons", {}).items():
            reasons.update({f"{state}/{r}": n for r, n in by.items()})
        run = f"run {report['run_id']}" if report.get("run_id") else "no run"
        extra = f": {row['reason']}" if row.get("reason") else ""
        lines.append(
            f"  job {row.get('id')} [{row.get('source')}] {row.get('state')}{extra} ({run})"
        )
    head = f"{len(rows)} jobs: {inputs} inputs -> {sum(items.values())} items"
    states = ", ".join(f"{s} {n}" for s, n in sorted(items.items())) or "none"
    why = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items()))
    return "\n".join([head, f"  {states}" + (f" ({why})" if why else ""), *lines])


def wait(
    client: Client, ids: list[str], *, show: Callable[[str], None], every: float = 1.0
) -> list[dict[str, str]]:
    """Until every job in `ids` is done or failed (the writer closed it): their rows. Polls
    only each job's state and progress (a job's spec can be long), the open ones only."""
    shown = 0.0
    states: dict[str, str] = {}
    progress: dict[str, int] = {}
    while True:
        unfinished = [job for job in ids if states.get(job) not in TERMINAL]
        if not unfinished:
            return job_rows(client, ids)

        def read(jobs: list[str] = unfinished) -> list[list[Any]]:
            pipe = client.pipeline(transaction=False)
            for job in jobs:
                pipe.hmget(job_key(job), ["state", "progress"])
            return list(pipe.execute())

        for job, (state, sent) in zip(unfinished, retrying(read, what="job states"), strict=True):
            states[job] = text(state) or "missing"
            progress[job] = int(text(sent) or 0)
        if time.monotonic() - shown >= every:
            shown = time.monotonic()
            counts = Counter(states.values())
            show(
                ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))
                + f"; {sum(progress.values())} inputs sent"
            )
        time.sleep(0.5)


# --- the worker --------------------------------------------------------------------------------
class Worker:
    """Takes jobs one at a time until stopped (`stop` set: the job in hand goes back to the
    queue). `pool` cleans in `cleaners` processes; `idle_exit`: return after that many seconds
    with no job (tests and benchmarks)."""

    def __init__(
        self,
        url: str,
        *,
        lease: float = LEASE,
        cleaners: int = 1,
        idle_exit: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.url, self.lease, self.cleaners, self.idle_exit = url, lease, cleaners, idle_exit
        self.client = broker.connect(url)
        self.node = node_name()
        self.stop = stop or threading.Event()
        self.pool: CleanerPool | None = None
        self.child: subprocess.Popen[bytes] | None = None
        self.logging_args: list[str] = []  # the CLI's -v / -q / --log-file, for crawl processes

    def serve(self) -> int:
        broker.check_version(self.client, self.url)
        retrying(broker.ensure_group, self.client, JOBS, WORKERS_GROUP, what=self.url)
        log.info("worker %s taking jobs from %s", self.node, self.url)
        idle_since = time.monotonic()
        try:
            while not self.stop.is_set():
                taken = self._take()
                if taken is None:
                    if (
                        self.idle_exit is not None
                        and time.monotonic() - idle_since > self.idle_exit
                    ):
                        return 0
                    continue
                self._run(*taken)
                idle_since = time.monotonic()
        finally:
            if self.pool is not None:
                self.pool.__exit__(None, None, None)
        return 0

    def _take(self) -> tuple[str, str] | None:
        """A job whose worker stopped renewing it, else a new one (waiting up to 2 s)."""
        lease_ms = int(self.lease * 1000)

        def take() -> Any:
            claimed = self.client.xautoclaim(
                JOBS, WORKERS_GROUP, self.node, lease_ms, start_id="0-0", count=1
            )
            if claimed[1]:
                return claimed[1]
            read = self.client.xreadgroup(
                WORKERS_GROUP, self.node, {JOBS: ">"}, count=1, block=2000
            )
            return read[0][1] if read else []

        entries = retrying(take, what=self.url, stop=self.stop.is_set)
        for entry_id, fields in entries:
            if not fields:  # deleted meanwhile
                self.client.xack(JOBS, WORKERS_GROUP, entry_id)
                continue
            return text(entry_id), text(fields.get(b"job"))
        return None

    def _run(self, entry: str, job: str) -> None:
        row = job_fields(self.client, job)
        if not row or row.get("state") in TERMINAL:  # done by another (a lease that ran out)
            retrying(self.client.xack, JOBS, WORKERS_GROUP, entry, what=self.url)
            return
        beat = _Heartbeat(self, entry, job, row)
        if not beat.acquire_source():
            return  # stopped while waiting for the source
        started = {"state": "running", "node": self.node, "started": _now(), "sent_at": "",
                   "heartbeat": _now(), "attempts": int(row.get("attempts") or 0) + 1}  # fmt: skip
        retrying(lambda: self.client.hset(job_key(job), mapping=started), what=self.url)
        beat.start()
        interrupted = False
        try:
            interrupted = self._load(job, row) if row["kind"] == "load" else self._crawl(job)
        except Exception as exc:  # a job that cannot run: it ends failed, with its reason
            log.error("job %s failed: %s", job, broker._one_line(exc))
            send_end(self.client, job, "failed", None, broker._one_line(exc), self.stop)
        finally:
            beat.finish()
        if interrupted or self.stop.is_set():
            self._requeue(entry, job)
            return

        def done() -> None:
            pipe = self.client.pipeline(transaction=True)
            pipe.xack(JOBS, WORKERS_GROUP, entry)
            pipe.hset(job_key(job), "sent_at", _now())
            pipe.execute()

        retrying(done, what=self.url)

    def _requeue(self, entry: str, job: str) -> None:
        """Back to the queue at once (a stopping worker's job), for any worker to redo."""

        def put_back() -> None:
            pipe = self.client.pipeline(transaction=True)
            pipe.xadd(JOBS, {"job": job})
            pipe.xack(JOBS, WORKERS_GROUP, entry)
            pipe.hset(job_key(job), mapping={"state": "queued", "node": ""})
            pipe.execute()

        try:
            put_back()
            log.warning("job %s: stopped, back in the queue", job)
        except redis.RedisError as exc:  # its lease runs out and another worker takes it
            log.warning("job %s: stopped; the broker is unreachable (%s)", job, exc)

    def _load(self, job: str, row: dict[str, str]) -> bool:
        from crawler.loaders import FileInput, load_inputs

        spec = json.loads(row["spec"])
        sources = load_sources(spec.get("sources_file")) if spec.get("sources_file") else {}
        chosen = sources.get(row["source"])
        options = chosen.clean if chosen else default_options()
        inputs = [FileInput(p, r, Path(root) if root else None) for p, r, root in spec["inputs"]]
        if self.pool is None:
            self.pool = CleanerPool(self.cleaners, memory_limit=worker_memory_limit())
            self.pool.__enter__()
        run = RemoteRun(self.client, job, row["source"], dedup_config(), self.stop)
        run.open()
        run.report.skipped.update(spec.get("skipped", {}))
        status = "finished"
        try:
            load_inputs(Ingest(run), _until(inputs, self.stop), options, self.pool)
        except KeyboardInterrupt:
            status = "interrupted"
        except Exception as exc:
            run.reason, status = broker._one_line(exc), "failed"
        if self.stop.is_set():
            status = "interrupted"
        run.close(status)
        return status == "interrupted"

    def _crawl(self, job: str) -> bool:
        """In a process of its own; True when it was stopped (the job goes back to the queue)."""
        command = [sys.executable, "-m", "crawler.entry", *self.logging_args, "crawl-job",
                   "--broker", self.url, job]  # fmt: skip
        self.child = subprocess.Popen(command)
        try:
            while True:
                try:
                    code = self.child.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    if self.stop.is_set():
                        self.child.terminate()
        finally:
            self.child = None
        if self.stop.is_set() or code in (130, 143):
            return True
        if code not in (0, 3, 4, 5):  # the crawl's own run sends its end; a crash does not
            row = job_fields(self.client, job)
            if row.get("state") not in TERMINAL:
                send_end(
                    self.client, job, "failed", None, f"crawl process exited {code}", self.stop
                )
        return False


def _until(items: Iterable[Any], stop: threading.Event) -> Iterable[Any]:
    for item in items:
        if stop.is_set():
            raise KeyboardInterrupt
        yield item


class _Heartbeat:
    """Renews the worker's lease on its job (XCLAIM of its own entry resets the idle time), and
    its hold on the job's source, every quarter lease."""

    def __init__(self, worker: Worker, entry: str, job: str, row: dict[str, str]) -> None:
        self.worker, self.entry, self.job, self.row = worker, entry, job, row
        self.source = row.get("source", "") if row.get("kind") == "crawl" else ""
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def _renew(self) -> None:
        w = self.worker
        pipe = w.client.pipeline(transaction=False)
        pipe.xclaim(JOBS, WORKERS_GROUP, w.node, 0, [self.entry], justid=True)
        pipe.hset(job_key(self.job), "heartbeat", _now())
        if self.source:
            pipe.pexpire(source_key(self.source), int(w.lease * 1000))
        pipe.execute()

    def acquire_source(self) -> bool:
        """Crawls hold their source: wait (renewing the job) while another worker crawls it."""
        if not self.source:
            return True
        w, said = self.worker, False
        while not w.stop.is_set():
            got = retrying(
                lambda: w.client.set(
                    source_key(self.source), w.node, nx=True, px=int(w.lease * 1000)
                ),
                what=w.url,
                stop=w.stop.is_set,
            )
            if got:
                return True
            if not said:
                log.warning(
                    "job %s waits: source %s is being crawled elsewhere", self.job, self.source
                )
                said = True
            retrying(self._renew, what=w.url, stop=w.stop.is_set)
            w.stop.wait(min(2.0, w.lease / 4))
        self.worker._requeue(self.entry, self.job)
        return False

    def start(self) -> None:
        self.thread.start()

    def _beat(self) -> None:
        backoff = Backoff(self.worker.url)
        while not self.done.wait(self.worker.lease / 4 if not backoff.down_since else 0.5):
            try:
                self._renew()
                backoff.ok()
            except redis.RedisError as exc:
                backoff.failed(exc, self.done.is_set)

    def finish(self) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join()
        if self.source:
            w = self.worker
            try:
                if text(w.client.get(source_key(self.source))) == w.node:
                    w.client.delete(source_key(self.source))
            except redis.RedisError:
                pass  # it expires with the lease


def crawl_job(url: str, job: str) -> int:
    """A crawl job, in the process the worker started for it (`crawler crawl-job`, hidden): the
    crawl's run is a RemoteRun (crawler/extensions.py makes it when CRAWLER_JOB is set)."""
    from crawler.crawl import CrawlError, crawl_settings, resolve_target, run_crawl

    client = broker.connect(url)
    row = job_fields(client, job)
    spec = json.loads(row["spec"])
    settings = crawl_settings(":cluster:", spec["sources_file"])
    settings.set("CRAWLER_BROKER", url, priority="cmdline")
    settings.set("CRAWLER_JOB", job, priority="cmdline")
    try:
        target = resolve_target(
            spec["target"], spec["sources_file"], allow_private=spec.get("allow_private")
        )
        report = run_crawl(target, ":cluster:", settings)
    except CrawlError as exc:
        send_end(client, job, "failed", exc.report, str(exc), threading.Event())
        return exc.code
    return report.exit_code()


# --- the writer ---------------------------------------------------------------------------------
class WriterBusy(Exception):
    pass


@dataclass
class _Open:
    """A job the writer is storing: its run, and its results read but not yet acknowledged."""

    report: RunReport
    pending: list[tuple[str, Future[list[Outcome]]]] = field(default_factory=list)


class ClusterWriter:
    """The one process that writes `db_path` for the broker at `url`; see the module docstring."""

    def __init__(
        self,
        db_path: str,
        url: str,
        *,
        near: bool = True,
        batch: int = 256,
        linger: float = 0.05,
        stop: threading.Event | None = None,
        idle_exit: float | None = None,
    ) -> None:
        self.db_path, self.url, self.near = db_path, url, near
        self.batch, self.linger = batch, linger
        self.client = broker.connect(url)
        self.stop = stop or threading.Event()
        self.idle_exit = idle_exit
        self.config = dedup_config()
        self.node = f"{node_name()}:{os.path.abspath(db_path)}"
        self.jobs: dict[str, _Open] = {}
        self.grouped: set[str] = set()
        self.drained: set[str] = set()  # streams whose entries pending from before are read
        self.after: dict[str, str] = {}  # the job each open job is stored after ("" for none)
        self.stored = 0

    def serve(self) -> int:
        try:
            with source_lock(self.db_path, "cluster-writer"):
                return self._serve()
        except SourceBusy as exc:
            raise WriterBusy(f"another writer stores into {self.db_path}: {exc}") from None

    def _claim_broker(self) -> None:
        """One writer per broker: the key names this one, renewed; a writer on this host that
        died (kill -9) leaves a key its successor takes over at once."""

        def claim() -> bool:
            if self.client.set(WRITER, self.node, nx=True, ex=30):
                return True
            holder = text(self.client.get(WRITER))
            host, _, rest = holder.partition(":")
            pid = rest.split(":", 1)[0]
            if holder == self.node or (
                host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid))
            ):
                self.client.set(WRITER, self.node, ex=30)
                return True
            raise WriterBusy(f"broker {self.url} already has a writer: {holder}")

        retrying(claim, what=self.url, stop=self.stop.is_set)

    def _renew_claim(self) -> None:
        def renew() -> None:
            holder = text(self.client.get(WRITER))
            if holder and holder != self.node:
                raise WriterBusy(f"broker {self.url} was taken over by writer {holder}")
            self.client.set(WRITER, self.node, ex=30)

        retrying(renew, what=self.url, stop=self.stop.is_set)

    def _serve(self) -> int:
        broker.check_version(self.client, self.url)
        self._claim_broker()
        db = connect(self.db_path)
        main = connect(self.db_path, migrate=False)
        check_config(db, self.config, self.db_path)
        self.main = main
        writer = Writer(
            db, RunReport(source="cluster"), self.config, near=self.near, batch=self.batch,
            linger=self.linger,
        )  # fmt: skip
        open_jobs = {text(j) for j in retrying(self.client.smembers, OPEN, what=self.url)}
        closed = close_dead_job_runs(main, open_jobs)
        if closed:
            log.warning("closed %d runs of jobs the broker no longer has as interrupted", closed)
        log.info("writer %s storing into %s", self.node, self.db_path)
        idle_since = time.monotonic()
        renewed = 0.0
        try:
            while not self.stop.is_set():
                if time.monotonic() - renewed > 10:
                    self._renew_claim()
                    renewed = time.monotonic()
                if self._step(writer):
                    idle_since = time.monotonic()
                elif self.idle_exit is not None and time.monotonic() - idle_since > self.idle_exit:
                    break
                if writer.error is not None:
                    raise writer.error
        finally:
            writer.close()
            db.close()
            main.close()
            try:
                if text(self.client.get(WRITER)) == self.node:
                    self.client.delete(WRITER)
            except redis.RedisError:
                pass
        return 0

    def _eligible(self) -> list[str]:
        """Open jobs whose results may be stored now: those not waiting on an earlier job."""

        def read() -> list[str]:
            jobs = sorted(text(j) for j in self.client.smembers(OPEN))
            unknown = [job for job in jobs if job not in self.after]
            pipe = self.client.pipeline(transaction=False)
            for job in unknown:
                pipe.hget(job_key(job), "after")
            self.after.update(zip(unknown, (text(a) for a in pipe.execute()), strict=True))
            opened = set(jobs)
            return [j for j in jobs if not self.after[j] or self.after[j] not in opened]

        return retrying(read, what=self.url, stop=self.stop.is_set)

    def _step(self, writer: Writer) -> bool:
        """Read and store one batch of results; False when there was none."""
        eligible = self._eligible()[:64]
        if not eligible:
            self.stop.wait(0.5)
            return False
        streams = {}
        for job in eligible:
            stream = results_key(job)
            if stream not in self.grouped:
                retrying(broker.ensure_group, self.client, stream, WRITER_GROUP, what=self.url)
                self.grouped.add(stream)
            streams[stream] = ">" if stream in self.drained else "0"
        block = None if any(v == "0" for v in streams.values()) else 1000
        read = retrying(
            self.client.xreadgroup, WRITER_GROUP, "writer", streams, self.batch, block,
            what=self.url, stop=self.stop.is_set,
        )  # fmt: skip
        got = False
        for stream_raw, entries in read or []:
            stream = text(stream_raw)
            if streams.get(stream) == "0" and not entries:
                self.drained.add(stream)  # its entries from before a restart are all read
            for entry_id, fields in entries:
                got = True
                self._entry(writer, stream, text(entry_id), fields)
        if got:
            self._commit(writer)
        return got

    def _open(self, job: str) -> _Open | None:
        if job not in self.jobs:
            row = retrying(job_fields, self.client, job, what=self.url)
            if not row or row.get("state") in TERMINAL:
                return None
            source = row.get("source") or "cluster"
            run_id = job_run(self.main, job, source, f"job {job}: {row.get('title', '')}"[:500])
            self.jobs[job] = _Open(RunReport(source=source, run_id=run_id))
        return self.jobs[job]

    def _entry(
        self, writer: Writer, stream: str, entry_id: str, fields: dict[bytes, bytes]
    ) -> None:
        kind = fields.get(b"type", b"")
        body = fields.get(b"body", b"{}")
        job = stream.removeprefix(results_key(""))
        state = self._open(job) if kind in (b"unit", b"end") else None
        if state is None:  # a closed job's late result (a worker that redid it): stored already
            retrying(self.client.xack, stream, WRITER_GROUP, entry_id, what=self.url)
            return
        if kind == b"end":
            self._commit(writer)  # everything before the end is stored first
            self._close(job, json.loads(body), entry_id)
            return
        data = broker.decode_result(body)
        unit: Unit = data["unit"]
        work = Work(
            data["key"], data["url"], data["source"], functools.partial(_same, unit),
            fired=Counter(data["fired"]), removed=Counter(data["removed"]),
            validators=data["validators"], revalidated=data["revalidated"],
            report=state.report, once=True,
        )  # fmt: skip
        state.pending.append((entry_id, writer.submit(work)))

    def _commit(self, writer: Writer) -> None:
        """Wait for what was submitted to commit, then acknowledge it."""
        writer.flush()
        for job, state in list(self.jobs.items()):
            if not state.pending:
                continue
            for _entry_id, future in state.pending:
                future.result()  # the writer's error stops the writer process here, unacked
            ids = [entry_id for entry_id, _f in state.pending]
            retrying(self.client.xack, results_key(job), WRITER_GROUP, *ids, what=self.url)
            self.stored += len(ids)
            state.pending = []

    def _close(self, job: str, end: dict[str, Any], entry_id: str) -> None:
        """The job's end: its run closed with its counts from the ledger and what only the worker
        counted; the job done (or failed, with the worker's reason); its results dropped."""
        state = self.jobs.pop(job)
        report = state.report
        summary = end.get("summary", {})
        report.states = Counter(ledger_counts(self.main, report.run_id))
        report.reasons = Counter(ledger_reasons(self.main, report.run_id))
        report.inputs = int(summary.get("inputs", 0) or 0)
        report.skipped = Counter(summary.get("skipped", {}))
        report.fired = Counter(summary.get("fired", {}))
        report.removed = Counter(summary.get("removed", {}))
        report.fetched = summary.get("fetched")
        report.exact_only = int(summary.get("exact_only", 0) or 0)
        status = "finished" if end.get("status") == "finished" else "failed"
        close_report(self.main, report, status)
        reason = str(end.get("reason") or "")
        outcome = {
            "state": "done" if status == "finished" else "failed", "reason": reason,
            "report": json.dumps(report.as_dict(), ensure_ascii=False),
            "run_id": report.run_id, "finished": _now(),
        }  # fmt: skip
        stream = results_key(job)

        def finish() -> None:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(job_key(job), mapping=outcome)
            pipe.srem(OPEN, job)
            pipe.xack(stream, WRITER_GROUP, entry_id)
            pipe.delete(stream)
            pipe.execute()

        retrying(finish, what=self.url)
        self.grouped.discard(stream)
        self.drained.discard(stream)
        self.after.pop(job, None)
        log.info("job %s %s: %s", job, outcome["state"], report.progress_line())


def _same(unit: Unit) -> Unit:
    return unit
