"""The one writer of a run: a thread that owns the database connection and stores units of work by
group commit.

Producers (the file loader, the crawl's item pipeline, and later archives and remote workers) hand
it one input at a time through `submit` and get a future of that input's outcomes; they never touch
the database for writing. The writer takes what is queued, in the order it was queued, waits up to
`linger` seconds for more (at most `batch` units), and stores the group in one transaction
(`db.store.store_units`: dedup decision, articles, band keys and ledger rows together). Then it
resolves each input's future, and keeps the HTTP validators of the group's stored pages in one more
transaction. Storing in queue order is what makes "the first in walk order wins" hold in a load,
whatever the number of cleaning workers.

A transaction that fails fails every input of its group, and the writer stops: every later
submission fails with the same error, so the run ends `failed` with that one line. What committed
before stays committed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from sqlite_utils import Database

from cleaners.fingerprint import DedupConfig
from crawler.report import RunReport
from db import validators
from db.store import Unit, store_units
from db.vocabulary import CLEAN_ERROR, ORIGIN_CONFLICT, Outcome

log = logging.getLogger(__name__)

# The outcome a cluster worker's input gets once it is on the results stream: its ledger state is
# decided by the writer that stores it (crawler/cluster.py).
SENT = "sent"


@dataclass
class Work:
    """One input for the writer. `make` builds its unit on the writer's thread (so fingerprints
    left to the writer are computed there, just before the transaction that needs them)."""

    key: str  # the input's ledger name: reserved from admission until its transaction commits
    url: str | None  # where its bytes came from
    source: str
    make: Callable[[], Unit]
    fired: Counter[str] = field(default_factory=Counter)  # cleaning rules that fired on it
    removed: Counter[str] = field(default_factory=Counter)  # characters each of them removed
    validators: tuple[str, str | None, str | None] | None = None  # (url, ETag, Last-Modified)
    revalidated: str | None = None  # a URL that answered 304: its revisit clock restarts
    future: Future[list[Outcome]] = field(default_factory=Future)
    # A cluster job's input: its run's report (else the writer's), and delivered at least once, so
    # a second delivery is recognised in its run's ledger and stored once.
    report: RunReport | None = None
    once: bool = False


class Sink(Protocol):
    """What producers hand their inputs to: the writer of a run, or a cluster worker's link to
    the results stream (crawler/cluster.py)."""

    error: BaseException | None

    def reserve(self, key: str) -> bool: ...
    def reserved(self, key: str) -> bool: ...
    def release(self, key: str) -> None: ...
    def flush(self) -> None: ...
    def in_flight(self) -> int: ...
    def submit(self, work: Work) -> Future[list[Outcome]]: ...
    def close(self) -> BaseException | None: ...


class _Stop:
    """Queued by `close`: the writer stores what was queued before it, then stops."""


class _Flush:
    """Queued by `flush`: the group being gathered is stored now, without waiting for more."""


_STOP, _FLUSH = _Stop(), _Flush()


class Writer:
    """Stores the units of one run; see the module docstring. `error` is the error that stopped
    it, if one did."""

    def __init__(
        self,
        db: Database,
        report: RunReport,
        config: DedupConfig,
        *,
        near: bool = True,
        batch: int = 256,
        linger: float = 0.1,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.db, self.report, self.config, self.near = db, report, config, near
        self.batch = max(1, batch)
        self.linger = max(0.0, linger)
        self.progress = progress
        self.error: BaseException | None = None
        self._queue: queue.SimpleQueue[Work | _Stop | _Flush] = queue.SimpleQueue()
        self._reserved: set[str] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="writer", daemon=True)
        self._closed = False
        self._thread.start()

    # --- the producers' side ---------------------------------------------------------------
    def reserve(self, key: str) -> bool:
        """Claim an input's ledger name until its unit commits; False when it is already claimed
        (the same input twice in flight)."""
        with self._lock:
            if key in self._reserved:
                return False
            self._reserved.add(key)
            return True

    def reserved(self, key: str) -> bool:
        return key in self._reserved

    def release(self, key: str) -> None:
        """Give up a reserved name that will not be submitted (its input was abandoned)."""
        self._release(key)

    def flush(self) -> None:
        """Store what is queued now: the producer is about to wait for it, so waiting for more
        would only leave both idle for the linger time."""
        self._queue.put(_FLUSH)

    def in_flight(self) -> int:
        """Inputs admitted and not yet committed."""
        return len(self._reserved)

    def submit(self, work: Work) -> Future[list[Outcome]]:
        """Queue one input's unit; its future resolves when its transaction has committed (or
        fails with the error that stopped the writer). Its key was reserved at admission."""
        if self.error is not None:
            self._fail([work], self.error)
        elif self._closed:
            self._fail([work], RuntimeError("the writer is closed"))
        else:
            self._queue.put(work)
        return work.future

    def close(self) -> BaseException | None:
        """Store everything queued, stop the thread; returns the error that stopped the writer,
        if one did."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()
        return self.error

    # --- the writer's thread ---------------------------------------------------------------
    def _serve(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if isinstance(first, _Stop):
                return
            if isinstance(first, _Flush):
                continue
            group: list[Work] = [first]
            deadline = time.monotonic() + self.linger
            while len(group) < self.batch:
                wait = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, _Stop):
                    stopping = True
                    break
                if isinstance(item, _Flush):
                    break
                group.append(item)
            if self.error is not None:
                self._fail(group, self.error)
                continue
            try:
                self._store(group)
            except BaseException as exc:
                self.error = exc
                self._fail(group, exc)

    def _fail(self, group: list[Work], exc: BaseException) -> None:
        for work in group:
            self._release(work.key)
            if not work.future.done():
                work.future.set_exception(exc)

    def _release(self, key: str) -> None:
        with self._lock:
            self._reserved.discard(key)

    def _unit(self, work: Work) -> Unit:
        """The work's unit; a failure to build it (fingerprinting left to the writer) fails that
        input alone, as it would have in a cleaning worker."""
        try:
            return work.make()
        except Exception as exc:
            log.exception("building the unit of %s failed", work.key)
            outcome = Outcome(work.key, "failed", CLEAN_ERROR, url=work.url)
            return Unit(outcome=outcome, source=work.source, detail=f"{type(exc).__name__}: {exc}")

    def commit_group(self, units: list[Unit]) -> list[list[Outcome]]:
        """One transaction for the group's units (tests replace it to simulate a failing disk)."""
        return store_units(self.db, self.report.run_id, units, self.config, near=self.near)

    def _store(self, group: list[Work]) -> None:
        units = [self._unit(work) for work in group]
        for work, unit in zip(group, units, strict=True):
            if work.report is not None:
                unit.run_id, unit.once = work.report.run_id, work.once
        started = time.perf_counter()
        results = self.commit_group(units)
        self.report.timed_commit(started)
        conflicts = [n for n, unit in enumerate(units) if unit.conflict]
        if conflicts:
            self._record_conflicts(conflicts, group, results, units)
        for work, unit, outcomes in zip(group, units, results, strict=True):
            self._release(work.key)
            report = work.report or self.report
            if not (unit.conflict or unit.repeat):
                report.fired.update(work.fired)
                report.removed.update(work.removed)
                report.exact_only += sum(1 for a in unit.articles if a.signature is None)
            report.add(outcomes)
            report.tick()
            if not work.future.done():  # done: its producer gave up on it (a cancelled crawl)
                work.future.set_result(outcomes)
        if self.progress is not None:
            self.progress(len(group))
        seen = [
            w.validators
            for w, outcomes in zip(group, results, strict=True)
            if w.validators is not None and any(o.article_id is not None for o in outcomes)
        ]
        revalidated = [w.revalidated for w in group if w.revalidated is not None]
        # a cache for the next revisit, in a transaction of its own: if it fails, the pages above
        # stay stored (and reported so) and the run stops on the error
        remember_validators(self.db, seen, revalidated)

    def _record_conflicts(
        self,
        conflicts: list[int],
        group: list[Work],
        results: list[list[Outcome]],
        units: list[Unit],
    ) -> None:
        """The inputs at these places of the group, whose ledger name another input of this run
        holds (a file literally named `listing.html#1`): recorded failed on their own, if even
        that name is free; their outcomes replace the empty ones in `results`."""
        failures = [
            Unit(
                outcome=Outcome(group[n].key, "failed", ORIGIN_CONFLICT, url=group[n].url),
                source=group[n].source,
                detail="name taken in this run",
                run_id=units[n].run_id,
            )
            for n in conflicts
        ]
        for n, failure, outcomes in zip(
            conflicts, failures, self.commit_group(failures), strict=True
        ):
            if failure.conflict:
                (group[n].report or self.report).skipped[ORIGIN_CONFLICT] += 1
                log.warning("not recorded, its name is taken in this run: %s", group[n].key)
            results[n] = outcomes


# Module level, so a test can make the cache write fail.
remember_validators = validators.remember
