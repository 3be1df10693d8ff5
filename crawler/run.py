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
import sqlite3
from collections.abc import Callable
from types import TracebackType

from sqlite_utils import Database

from cleaners.fingerprint import DedupConfig
from crawler import settings
from crawler.report import RunReport
from crawler.writer import Writer
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
        self._writer: Writer | None = None
        self._held = contextlib.ExitStack()
        self.closed = False

    @property
    def writer(self) -> Writer:
        assert self._writer is not None, "the run is not open"
        return self._writer

    @property
    def reader(self) -> Database:
        """A connection of the producers' own, for reads (WAL: it never waits on the writer)."""
        assert self._reader is not None, "the run is not open"
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
            self._held.close()
            raise DatabaseError(describe_error(exc, self.db_path)) from None
        except BaseException:
            self._held.close()
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

    def close(self, status: str) -> RunReport:
        """Store what is queued, then close the run's row (`failed` if the writer stopped on an
        error) and release the lock. Idempotent."""
        if self.closed or self._db is None:
            return self.report
        self.closed = True
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
        return self.report

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


def close_report(db: Database, report: RunReport, status: str) -> None:
    """Close `report` with what only the database knows (coverage, the previous run) and store it."""
    with contextlib.suppress(sqlite3.Error):  # a broken database still gets its run closed below
        report.coverage = field_coverage(db, report.run_id)
        report.found_before = found_before(db, report.source, report.run_id)
    report.close(status)
    for warning in report.warnings():
        log.warning("%s", warning)
    finish_run(db, report.run_id, status, report.as_dict())
