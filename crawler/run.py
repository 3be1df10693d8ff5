"""One run of one source, written once for every kind of input: a load of files, a crawl, and later
archives and remote workers.

`Run.open` takes the source's lock, opens the database (migrating it), refuses a dedup
configuration that differs from the one the database was built with, closes runs a crash left
`running`, opens the run's row and starts its writer. `Run.close` drains the writer and closes the
run's row with its report; `with Run(...)` chooses the status (`finished`, `interrupted` on Ctrl-C
or SIGTERM, `failed` on an error). Producers read the database through `reader`, a connection of
their own, and write only through `writer`.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator
from types import TracebackType

from sqlite_utils import Database

from cleaners.fingerprint import DedupConfig
from crawler import settings
from crawler.report import RunReport
from crawler.writer import Sink, Writer
from db.connect import DatabaseError, connect, describe_error
from db.dedup import check_config
from db.locks import source_lock
from db.runs import field_coverage, finish_run, found_before, start_run

log = logging.getLogger(__name__)


class Run:
    def __init__(
        self,
        db_path: str,
        source: str,
        command: str,
        config: DedupConfig,
        *,
        near: bool = True,
        batch: int = settings.CRAWLER_STORE_BATCH,
        linger: float = settings.CRAWLER_STORE_LINGER,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.db_path, self.source, self.command = db_path, source, command
        self.config, self.near = config, near
        self.batch, self.linger = batch, linger
        self.progress = progress
        self.report = RunReport(source=source)
        self._db: Database | None = None
        self._reader: Database | None = None
        self._writer: Sink | None = None
        self._held = contextlib.ExitStack()
        self.closed = False

    @property
    def writer(self) -> Sink:
        assert self._writer is not None, "the run is not open"
        return self._writer

    @property
    def reader(self) -> Database | None:
        """A connection of the producers' own, for reads (WAL: it never waits on the writer).
        None for a cluster worker's run (crawler/cluster.py), which has no database: its
        results are checked against the ledger by the writer that stores them."""
        return self._reader

    @property
    def error(self) -> BaseException | None:
        """The error that stopped the writer, if one did."""
        return self._writer.error if self._writer is not None else None

    def open(self) -> Run:
        """Raises SourceBusy (another process runs this source), OSError (the lock cannot be taken),
        DatabaseError or ConfigMismatch: all before anything is written."""
        try:
            self._held.enter_context(source_lock(self.db_path, self.source))
            self._db = db = connect(self.db_path)
            self._held.callback(db.close)
            check_config(db, self.config, self.db_path)
            self.report.run_id = start_run(db, self.source, self.command)
            self._reader = connect(self.db_path, migrate=False)
            self._held.callback(self._reader.close)
        except sqlite3.Error as exc:
            self._abort_open("failed")
            raise DatabaseError(describe_error(exc, self.db_path)) from None
        except BaseException as exc:
            self._abort_open("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
            raise
        self._writer = Writer(
            db,
            self.report,
            self.config,
            near=self.near,
            batch=self.batch,
            linger=self.linger,
            progress=self.progress,
        )
        return self

    def _abort_open(self, status: str) -> None:
        """`open` failed or was interrupted: a run row it had opened is closed, nothing else
        stays held."""
        if self._db is not None and self.report.run_id:
            with contextlib.suppress(sqlite3.Error):
                finish_run(self._db, self.report.run_id, status, self.report.as_dict())
        self._held.close()

    def close(self, status: str) -> RunReport:
        """Store what is queued, then close the run's row (`failed` if the writer stopped on an
        error) and release the lock. Idempotent. A SIGINT or SIGTERM that comes meanwhile waits
        until the run is closed (then its handler runs), so the connection is never closed under
        the writer and the run row is never left `running`."""
        if self.closed or self._db is None:
            return self.report
        self.closed = True
        with _signals_deferred() as received:
            self._close(status)
        if received:  # now acted on, by whatever handler was there before
            signal.raise_signal(received[0])
        return self.report

    def _close(self, status: str) -> None:
        assert self._db is not None
        with self._held:
            if self._writer is not None and self._writer.close() is not None:
                status = "failed"
            db = self._db
            try:
                close_report(db, self.report, status)
            except sqlite3.Error as exc:
                log.error("%s", describe_error(exc, self.db_path))
                self.report.status = "failed"
                with contextlib.suppress(sqlite3.Error):  # perhaps the space is back by now
                    finish_run(db, self.report.run_id, "failed", self.report.as_dict())

    def __enter__(self) -> Run:
        return self.open()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            status = "finished"
        elif issubclass(kind, KeyboardInterrupt):
            status = "interrupted"
        else:
            status = "failed"
        self.close(status)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[list[int]]:
    """SIGINT and SIGTERM are noted, not acted on, for the block (on the main thread, where
    Python runs signal handlers; elsewhere nothing changes)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    kinds = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, _frame: received.append(signum)) for s in kinds}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def close_report(db: Database, report: RunReport, status: str) -> None:
    """Close `report` with what only the database knows (coverage, the previous run) and store it."""
    with contextlib.suppress(sqlite3.Error):  # a broken database still gets its run closed below
        report.coverage = field_coverage(db, report.run_id)
        report.found_before = found_before(db, report.source, report.run_id)
    report.close(status)
    for warning in report.warnings():
        log.warning("%s", warning)
    finish_run(db, report.run_id, status, report.as_dict())
