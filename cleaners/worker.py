"""Cleaning with a deadline: `clean()` runs in a worker process that is killed when a page takes too
long, so one hostile page can cost a run seconds, never the run.

A `WorkerCleaner` keeps one worker process (started from a fork server that has the cleaners
already imported, so a restart costs milliseconds), sends it each input and waits at most `timeout`
seconds. Past the deadline the worker is killed and the input is rejected `extract_timeout`; a worker
that dies (a crash, the memory cap) fails the input `clean_crashed`; either way the next input gets
a fresh worker. Workers are also recycled after `max_pages` inputs, so slow leaks in the parsing
libraries cannot accumulate. With `extract_timeout = 0` the same call cleans in this process, with
no deadline and no worker.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import sys
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from cleaners.clean import Cleaned, CleanOptions, clean
from cleaners.errors import EXTRACT_TIMEOUT, Rejected
from cleaners.fingerprint import DedupConfig

CLEAN_CRASHED = "clean_crashed"
DEFAULT_MAX_PAGES = 1000


class CleanFailed(Exception):
    """Cleaning raised or the worker died: the input ends `failed` with this reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _context() -> Any:
    if sys.platform != "win32" and "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        # The fork server imports the cleaners (and the main module, as multiprocessing's default
        # does, when it is a real file) once; every worker forked from it starts warm.
        main = getattr(sys.modules.get("__main__"), "__file__", None)
        preload = ["__main__"] if main and os.path.exists(main) else []
        ctx.set_forkserver_preload([*preload, "cleaners.warm"])
        return ctx
    return multiprocessing.get_context("spawn")


def _serve(conn: Connection, memory_limit: int | None) -> None:
    """The worker's loop: (options key, options or None, body, kind, encoding, url, dedup config or
    None) in, one result out, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if memory_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    known: dict[int, CleanOptions] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        key, options, body, kind, encoding, url, config = message
        if options is not None:
            known[key] = options
        result: tuple[Any, ...]
        try:
            cleaned = clean(
                body,
                kind=kind,
                declared_encoding=encoding,
                url=url,
                options=known[key],
                fingerprint_with=config,
            )
            result = ("ok", cleaned)
        except Rejected as exc:
            result = ("rejected", exc.reason, exc.detail)
        except MemoryError:
            result = ("error", "MemoryError", "the page needs more memory than the worker may use")
        except Exception as exc:  # a cleaner bug or a library failure on hostile input
            result = ("error", type(exc).__name__, str(exc)[:500])
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


class WorkerCleaner:
    """`clean()` in a worker process under each input's `extract_timeout`; in this process, with
    no deadline, when that is 0. The worker starts with the first input that needs it."""

    def __init__(
        self, *, max_pages: int = DEFAULT_MAX_PAGES, memory_limit: int | None = None
    ) -> None:
        self.max_pages = max_pages
        self.memory_limit = memory_limit
        self._ctx = _context()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._served = 0
        self._options: dict[int, CleanOptions] = {}  # key -> options (held, so ids stay unique)
        self._sent: set[int] = set()  # option keys the current worker has
        self.restarts = 0

    def _start(self) -> Connection:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_serve, args=(child, self.memory_limit), name="crawler-clean", daemon=True
        )
        process.start()
        child.close()
        self._process, self._conn, self._served = process, parent, 0
        self._sent.clear()
        return parent

    def _stop(self, *, kill: bool) -> None:
        process, conn = self._process, self._conn
        self._process, self._conn = None, None
        if conn is not None:
            if not kill:
                with contextlib.suppress(OSError):
                    conn.send(None)
            conn.close()
        if process is not None:
            if kill:
                process.kill()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)

    def clean(
        self,
        body: bytes,
        *,
        kind: str | None,
        declared_encoding: str | None,
        url: str | None,
        options: CleanOptions,
        fingerprint_with: DedupConfig | None = None,
    ) -> Cleaned:
        if options.extract_timeout <= 0:
            return clean(
                body,
                kind=kind,
                declared_encoding=declared_encoding,
                url=url,
                options=options,
                fingerprint_with=fingerprint_with,
            )
        if self._conn is not None and self._served >= self.max_pages:
            self._stop(kill=False)
            self.restarts += 1
        conn = self._conn or self._start()
        key = id(options)
        self._options.setdefault(key, options)
        fresh = key not in self._sent
        try:
            conn.send(
                (
                    key,
                    options if fresh else None,
                    body,
                    kind,
                    declared_encoding,
                    url,
                    fingerprint_with,
                )
            )
            self._sent.add(key)
            self._served += 1
            ready = conn.poll(options.extract_timeout)
            result = conn.recv() if ready else None
        except (EOFError, OSError):
            how = self._death()
            self._stop(kill=True)
            self.restarts += 1
            raise CleanFailed(CLEAN_CRASHED, f"the cleaning worker died ({how})") from None
        if result is None:
            self._stop(kill=True)
            self.restarts += 1
            raise Rejected(
                EXTRACT_TIMEOUT, f"no result within {options.extract_timeout:g}s; worker killed"
            )
        status = result[0]
        if status == "ok":
            return result[1]
        if status == "rejected":
            raise Rejected(result[1], result[2])
        raise CleanFailed("clean_error", f"{result[1]}: {result[2]}")

    def _death(self) -> str:
        process = self._process
        if process is None:
            return "not running"
        process.join(timeout=2)
        code = process.exitcode
        if code is None:
            return "pipe closed"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"exit code {code}, killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def close(self) -> None:
        self._stop(kill=False)

    def __enter__(self) -> WorkerCleaner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_workers() -> int:
    """Cleaning workers to run by default: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class CleanerPool:
    """`size` WorkerCleaners (so `size` worker processes, each recycled and killed at deadlines
    as one WorkerCleaner is), lent out one caller at a time: a thread takes one with `lend()`,
    sends its page and waits for the result with the GIL released, so `size` pages are cleaned at
    once on `size` cores."""

    def __init__(self, size: int, *, memory_limit: int | None = None) -> None:
        self.size = max(1, size)
        self._all = [WorkerCleaner(memory_limit=memory_limit) for _ in range(self.size)]
        self._free: queue.SimpleQueue[WorkerCleaner] = queue.SimpleQueue()
        for cleaner in self._all:
            self._free.put(cleaner)

    @contextlib.contextmanager
    def lend(self) -> Iterator[WorkerCleaner]:
        cleaner = self._free.get()
        try:
            yield cleaner
        finally:
            self._free.put(cleaner)

    @property
    def restarts(self) -> int:
        return sum(c.restarts for c in self._all)

    def close(self) -> None:
        for cleaner in self._all:
            cleaner.close()

    def __enter__(self) -> CleanerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
