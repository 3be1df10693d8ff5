"""A cluster worker's side of a run (crawler/cluster.py): `RemoteRun` is a `Run` with no database,
whose `ResultsSender` sends each input's unit of work to its job's results stream, where the
cluster's writer stores it. A crawl job's CrawlRun extension and a load job's loader use it as
they use a run on one machine."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from typing import Any

from cleaners.fingerprint import DedupConfig
from crawler import broker
from crawler.broker import TERMINAL, Client, job_key, results_key, retrying, text
from crawler.report import RunReport
from crawler.run import Run
from crawler.writer import SENT, Work
from db.store import Unit
from db.vocabulary import CLEAN_ERROR, Outcome

log = logging.getLogger(__name__)


class JobGone(Exception):
    """The job this worker runs was closed by the writer meanwhile: its lease ran out (the broker
    was unreachable for longer than it) and another worker did it."""


class ResultsSender:
    """A `Sink` (crawler/writer.py) that sends each input's unit of work to its job's results
    stream instead of storing it: in groups, retried while the broker is down (nothing is
    dropped); each future resolves with a `sent` outcome once its entry is in Redis.

    A group waits up to LINGER seconds for more (or until the producer flushes because it waits
    for one): with Redis writing each reply's data to disk first (appendfsync always), one send
    per page would make the disk's fsync time, not the cleaning, set the pace."""

    BATCH = 256
    LINGER = 0.1
    CHECK_EVERY = 5.0  # seconds between checks that the job is still open

    def __init__(self, client: Client, job: str, report: RunReport, stop: threading.Event) -> None:
        self.client, self.job, self.report, self.stop = client, job, report, stop
        self.error: BaseException | None = None
        self.sent = 0
        self._queue: list[Work] = []
        self._cond = threading.Condition()
        self._reserved: set[str] = set()
        self._done: set[str] = set()  # names sent in this job: a repeated input is skipped
        self._closed = False
        self._flushed = False
        self._checked = 0.0
        self._thread = threading.Thread(target=self._serve, name="sender", daemon=True)
        self._thread.start()

    def reserve(self, key: str) -> bool:
        with self._cond:
            if key in self._reserved or key in self._done:
                return False
            self._reserved.add(key)
            return True

    def reserved(self, key: str) -> bool:
        return key in self._reserved or key in self._done

    def release(self, key: str) -> None:
        with self._cond:
            self._reserved.discard(key)

    def flush(self) -> None:
        with self._cond:
            self._flushed = True
            self._cond.notify()

    def in_flight(self) -> int:
        return len(self._reserved)

    def submit(self, work: Work) -> Future[list[Outcome]]:
        with self._cond:
            if self.error is not None or self._closed:
                work.future.set_exception(self.error or RuntimeError("the sender is closed"))
            else:
                self._queue.append(work)
                self._cond.notify()
        return work.future

    def close(self) -> BaseException | None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        return self.error

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                deadline = time.monotonic() + self.LINGER
                while (
                    len(self._queue) < self.BATCH
                    and not (self._closed or self._flushed)
                    and (wait := deadline - time.monotonic()) > 0
                ):
                    self._cond.wait(wait)
                self._flushed = False
                if not self._queue:
                    return
                group, self._queue = self._queue[: self.BATCH], self._queue[self.BATCH :]
            try:
                self._send(group)
            except BaseException as exc:  # stopped while the broker was down
                self.error = exc
                for work in group:
                    if not work.future.done():
                        work.future.set_exception(exc)
                with self._cond:
                    for work in self._queue:
                        work.future.set_exception(exc)
                    self._queue.clear()

    def _send(self, group: list[Work]) -> None:
        entries = []
        for work in group:
            unit = _unit(work)
            self.report.exact_only += sum(1 for a in unit.articles if a.signature is None)
            entries.append(
                broker.encode_result(
                    self.job, work.key, work.url, work.source, unit, work.fired, work.removed,
                    work.validators, work.revalidated,
                )
            )  # fmt: skip
        stream = results_key(self.job)

        def send() -> None:
            if time.monotonic() - self._checked > self.CHECK_EVERY:
                if text(self.client.hget(job_key(self.job), "state")) in TERMINAL:
                    raise JobGone(f"job {self.job} was closed meanwhile (another worker redid it)")
                self._checked = time.monotonic()
            pipe = self.client.pipeline(transaction=False)
            for entry in entries:
                pipe.xadd(stream, entry)
            pipe.hset(job_key(self.job), mapping={"progress": self.sent + len(group)})
            pipe.execute()

        retrying(send, what=f"results of job {self.job}", stop=self.stop.is_set)
        self.sent += len(group)
        for work in group:
            with self._cond:
                self._reserved.discard(work.key)
                self._done.add(work.key)
            self.report.fired.update(work.fired)
            self.report.removed.update(work.removed)
            outcome = Outcome(work.key, SENT, url=work.url)
            self.report.add([outcome])
            self.report.tick()
            if not work.future.done():
                work.future.set_result([outcome])


def _unit(work: Work) -> Unit:
    try:
        return work.make()
    except Exception as exc:  # fingerprinting left to the sender failed: that input alone fails
        outcome = Outcome(work.key, "failed", CLEAN_ERROR, url=work.url)
        return Unit(outcome=outcome, source=work.source, detail=f"{type(exc).__name__}: {exc}")


class RemoteRun(Run):
    """The run of a job on a worker: no database, no lock; its inputs go to the job's results
    stream. Closed `finished` or `failed`, it sends the job's end; closed `interrupted`, it sends
    nothing more (the job goes back to the queue and is redone; the writer stores each input once)."""

    def __init__(
        self,
        client: Client,
        job: str,
        source: str,
        config: DedupConfig,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__("", source, f"job {job}", config)
        self.client, self.job = client, job
        self.stop = stop or threading.Event()
        self.reason = ""

    def open(self) -> RemoteRun:
        self._writer = ResultsSender(self.client, self.job, self.report, self.stop)
        return self

    def close(self, status: str) -> RunReport:
        if self.closed:
            return self.report
        self.closed = True
        error = self._writer.close() if self._writer is not None else None
        if isinstance(error, JobGone):
            log.warning("%s", error)
            self.report.close("interrupted")
            return self.report
        if error is not None:
            status = "failed"
            self.reason = f"results could not be sent: {error}"
        self.report.close(status)
        if status != "interrupted":
            send_end(self.client, self.job, status, self.report, self.reason, self.stop)
        return self.report


def send_end(
    client: Client,
    job: str,
    status: str,
    report: RunReport | None,
    reason: str,
    stop: threading.Event,
) -> None:
    summary: dict[str, Any] = {}
    if report is not None:
        summary = {
            "inputs": report.inputs,
            "skipped": dict(report.skipped),
            "fetched": report.fetched,
            "fired": dict(report.fired),
            "removed": dict(report.removed),
            "sent": report.states.get(SENT, 0),
            "exact_only": report.exact_only,
        }
    entry = broker.encode_end(job, status, summary, reason)
    retrying(client.xadd, results_key(job), entry, what=f"end of job {job}", stop=stop.is_set)
