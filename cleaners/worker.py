"""Cleaning with a deadline: `clean()` runs in worker processes that are killed when a page takes
too long, so one hostile page can cost a run seconds, never the run.

A `CleanerPool` keeps `size` worker processes (started from a fork server that has the cleaners
already imported, so a restart costs milliseconds), each driven by one thread of this process.
`submit()` queues an input and returns a future; a driver sends it to its worker and waits for the
result at most the input's `extract_timeout`, counted from when the worker starts on it. Past the
deadline the worker is killed and the input is rejected `extract_timeout`; a worker that dies (a
crash, the memory cap) fails the input it was cleaning `clean_crashed`; either way the inputs
queued behind it go to a fresh worker. Workers are also recycled after `max_pages` inputs, so slow
leaks in the parsing libraries cannot accumulate.

A worker reads ahead: while it cleans one input the next waits in its pipe (when both fit in the
pipe's buffer, so a send never blocks the driver past a deadline), and it starts on that one the
moment it has written the previous result, without waiting for this process to answer. Its
results travel back through a pipe large enough to hold them, for the same reason.

With `extract_timeout = 0` the same call cleans in the calling thread, with no deadline and no
worker. `WorkerCleaner` is a pool of one, with a blocking `clean()`.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import CancelledError, Future
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from typing import Any

from cleaners.clean import Cleaned, CleanOptions, clean
from cleaners.errors import CLEAN_CRASHED, EXTRACT_TIMEOUT, Rejected
from cleaners.fingerprint import DedupConfig

DEFAULT_MAX_PAGES = 1000
READ_AHEAD = 2  # inputs sent to one worker at once: the one it cleans and the next
PIPE_BYTES = 1 << 20  # asked for each pipe (Linux lets any process have up to 1 MiB)
_PIPE_SLACK = 2 * 4096 + 64  # a pipe's partly filled pages and the messages' length prefixes


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


def start_fork_server() -> None:
    """Start the workers' fork server now rather than with the first page: it loads the cleaners
    and the language model (a second or two) while the caller sets itself up (a crawl: Scrapy,
    then robots.txt and the first listing), so the first pages do not wait for it. A no-op where
    workers are spawned, not forked from a server."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _widen(conn: Connection) -> int:
    """Grow the pipe behind `conn` to PIPE_BYTES if the system allows; its capacity in bytes
    (0 where it cannot be told: then nothing is sent ahead)."""
    try:
        import fcntl

        set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
        get_size = getattr(fcntl, "F_GETPIPE_SZ", None)
        if set_size is None or get_size is None:
            return 0
        with contextlib.suppress(OSError):  # over the per-user limit: keep the default size
            fcntl.fcntl(conn.fileno(), set_size, PIPE_BYTES)
        return int(fcntl.fcntl(conn.fileno(), get_size))
    except (ImportError, OSError):
        return 0


def _serve(inbox: Connection, conn: Connection, memory_limit: int | None) -> None:
    """The worker's loop: (options key, options or None, body, kind, encoding, url, dedup config or
    None) in from `inbox`, one result out to `conn`, until the inbox closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if memory_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    # What the worker inherited (the cleaners, the language model) stays out of the collector's
    # way: collections no longer walk it, and no copy-on-write page is dirtied by walking it.
    gc.freeze()
    known: dict[int, CleanOptions] = {}
    while True:
        try:
            message = inbox.recv()
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


class _Job:
    """One input for a worker: its arguments, its options, the future that gets its result, and
    the message as pickled for the worker that is to read it."""

    __slots__ = ("args", "future", "generation", "new_key", "options", "payload")

    def __init__(self, args: tuple[Any, ...], options: CleanOptions, future: Future[Cleaned]):
        self.args = args
        self.options = options
        self.future = future
        self.payload = b""
        self.generation = -1  # the worker generation `payload` was made for
        self.new_key: int | None = None  # the options key `payload` teaches the worker


class _Unsendable(Exception):
    """The input's message cannot be pickled for the worker."""


class _Driver:
    """One worker process and the thread of this process that feeds it: inputs go out in the
    order they were taken, results come back in the same order, and each input's deadline runs
    from when the worker starts on it (when the result before it arrived, or when it was sent to
    an idle worker)."""

    def __init__(self, pool: CleanerPool, index: int) -> None:
        self.pool = pool
        self.process: BaseProcess | None = None
        self.inbox: Connection | None = None  # the write end of the pipe the worker reads
        self.results: Connection | None = None  # the read end of the pipe it answers on
        self.capacity = 0  # of the inbox pipe, in bytes
        self.generation = 0  # counts worker starts: a message is pickled for one generation
        self.served = 0
        self.known_keys: set[int] = set()  # options keys the current worker has been sent
        self.ready: deque[_Job] = deque()  # taken from the pool, not sent (or to send again)
        self.inflight: deque[_Job] = deque()  # sent to the current worker, oldest first
        self.head_since = 0.0  # when the worker started on inflight[0]
        self.start_failures = 0
        self.restarts = 0
        self.sent_ahead = 0  # inputs sent while the worker was busy with another
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name=f"crawler-clean-{index}", daemon=True)
        self.thread.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def _run(self) -> None:
        while True:
            try:
                if self.pool.aborted:
                    self._abort()
                    return
                self._take()
                if self.ready and self._may_send(self.ready[0]):
                    self._send()
                elif self.inflight:
                    self._await_head()
                elif self.stopping and not self.ready:
                    self._stop(kill=False)
                    return
            except _Unsendable as exc:  # only the input at the head of `ready` is pickled
                detail = f"the input cannot be sent to the cleaning worker: {exc}"
                self.ready.popleft().future.set_exception(CleanFailed("clean_error", detail))
            except Exception as exc:  # a bug here must fail its inputs, never strand them
                detail = f"the cleaning worker's driver failed: {type(exc).__name__}: {exc}"
                jobs = [*self.inflight, *self.ready]
                self.inflight.clear()
                self.ready.clear()
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(CleanFailed("clean_error", detail))
                with contextlib.suppress(Exception):
                    self._stop(kill=True)

    def _take(self) -> None:
        """Take inputs from the pool until this worker has READ_AHEAD; wait for one if idle."""
        jobs = self.pool.jobs
        while self._has_room():
            idle = not self.ready and not self.inflight
            try:
                job = jobs.get(timeout=0.25) if idle else jobs.get_nowait()
            except queue.Empty:
                return
            if job is None:
                self.stopping = True
            elif job.future.set_running_or_notify_cancel():
                self.ready.append(job)

    def _has_room(self) -> bool:
        """Whether this driver takes another input: fewer than READ_AHEAD held, and not stopping."""
        return not self.stopping and len(self.ready) + len(self.inflight) < READ_AHEAD

    def _payload(self, job: _Job) -> bytes:
        if job.generation != self.generation:
            key = id(job.options)
            new = key not in self.known_keys
            message = (key, job.options if new else None, *job.args)
            try:
                job.payload = bytes(ForkingPickler.dumps(message))
            except Exception as exc:
                raise _Unsendable(f"{type(exc).__name__}: {exc}") from None
            job.generation, job.new_key = self.generation, key if new else None
        return job.payload

    def _may_send(self, job: _Job) -> bool:
        """Whether `job` can go to the worker now: always when it is idle (it is reading, so the
        send completes); while it is busy, only if the pipe can hold every message it may not
        have read yet, so the send cannot block. A worker due for recycling first finishes what
        it has."""
        if self.process is not None and self.served >= self.pool.max_pages:
            if self.inflight:
                return False
            self._stop(kill=False)
            self.restarts += 1
        if not self.inflight:
            return True
        unread = sum(len(sent.payload) for sent in self.inflight)
        return unread + len(self._payload(job)) + _PIPE_SLACK <= self.capacity

    def _send(self) -> None:
        """Send the first ready input to the worker (starting one if need be)."""
        job = self.ready[0]
        if self.process is None:
            try:
                self._start()
            except Exception as exc:  # no process could be started (fork failed, no file handles)
                self.ready.popleft()
                detail = f"the cleaning worker could not start: {type(exc).__name__}: {exc}"
                job.future.set_exception(CleanFailed(CLEAN_CRASHED, detail))
                return
        assert self.inbox is not None
        payload = self._payload(job)
        try:
            self.inbox.send_bytes(payload)
        except OSError:  # the worker is gone (it died after its last result)
            self._died()
            return
        self.ready.popleft()
        if job.new_key is not None:
            self.known_keys.add(job.new_key)
        if self.inflight:
            self.sent_ahead += 1
        else:
            self.head_since = time.monotonic()
        self.inflight.append(job)
        self.served += 1

    def _await_head(self) -> None:
        """Wait (a while) for the oldest input's result; kill the worker at its deadline."""
        assert self.results is not None
        head = self.inflight[0]
        timeout = head.options.extract_timeout
        deadline = self.head_since + timeout
        wait = min(deadline - time.monotonic(), 0.25)  # to see pool.aborted
        if self._has_room():
            wait = min(wait, 0.01)  # an input may have arrived to send ahead
        try:
            result = self.results.recv() if self.results.poll(max(0.0, wait)) else None
        except (EOFError, OSError):
            self._died()
            return
        if result is None:
            if time.monotonic() < deadline:
                return
            self.inflight.popleft()
            self._resend_inflight()
            detail = f"no result within {timeout:g}s; worker killed"
            head.future.set_exception(Rejected(EXTRACT_TIMEOUT, detail))
            self.restarts += 1
            self._stop(kill=True)
            return
        self._resolve_head(result)

    def _resolve_head(self, result: tuple[Any, ...]) -> None:
        head = self.inflight.popleft()
        self.head_since = time.monotonic()
        self.start_failures = 0
        status = result[0]
        if status == "ok":
            head.future.set_result(result[1])
        elif status == "rejected":
            head.future.set_exception(Rejected(result[1], result[2]))
        else:
            head.future.set_exception(CleanFailed("clean_error", f"{result[1]}: {result[2]}"))

    def _resend_inflight(self) -> None:
        """Inputs the killed worker had not started go to the next one, first."""
        self.ready.extendleft(reversed(self.inflight))
        self.inflight.clear()

    def _died(self) -> None:
        """The worker died: the input it was cleaning fails `clean_crashed`, the ones queued
        behind it go to a fresh worker. A worker that dies before reading anything three times
        running fails the input it was to read."""
        with contextlib.suppress(EOFError, OSError):  # results it wrote before dying still count
            while self.inflight and self.results is not None and self.results.poll(0):
                self._resolve_head(self.results.recv())
        how = self._death()
        self._stop(kill=True)
        self.restarts += 1
        if self.inflight:
            head = self.inflight.popleft()
            self._resend_inflight()
            head.future.set_exception(
                CleanFailed(CLEAN_CRASHED, f"the cleaning worker died ({how})")
            )
            return
        self.start_failures += 1
        if self.start_failures >= 3 and self.ready:
            self.ready.popleft().future.set_exception(
                CleanFailed(CLEAN_CRASHED, f"the cleaning worker could not start ({how})")
            )

    def _abort(self) -> None:
        """The pool was closed on an error: stop at once, cancelling what is left."""
        self._stop(kill=bool(self.inflight))
        for job in [*self.inflight, *self.ready]:
            job.future.set_exception(CancelledError())
        self.inflight.clear()
        self.ready.clear()

    def _start(self) -> None:
        ctx = self.pool.ctx
        inbox_read, inbox = ctx.Pipe(duplex=False)
        results, results_write = ctx.Pipe(duplex=False)
        self.capacity = _widen(inbox)
        _widen(results)  # a result waits there, not in the worker, until this thread reads it
        process = ctx.Process(
            target=_serve,
            args=(inbox_read, results_write, self.pool.memory_limit),
            name="crawler-clean",
            daemon=True,
        )
        process.start()
        inbox_read.close()
        results_write.close()
        self.process, self.inbox, self.results = process, inbox, results
        self.generation += 1
        self.served = 0
        self.known_keys.clear()

    def _stop(self, *, kill: bool) -> None:
        process, inbox, results = self.process, self.inbox, self.results
        self.process, self.inbox, self.results = None, None, None
        if inbox is not None:
            if not kill:
                with contextlib.suppress(OSError):
                    inbox.send(None)
            inbox.close()
        if results is not None:
            results.close()
        if process is not None:
            if kill:
                process.kill()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)

    def _death(self) -> str:
        process = self.process
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


def default_workers() -> int:
    """Cleaning workers to run by default: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class CleanerPool:
    """`size` worker processes cleaning inputs submitted from any thread: `submit()` returns a
    future (whose `result()` raises Rejected or CleanFailed as `clean()` would), `clean()` waits for
    it. Workers start with the first input that needs one."""

    def __init__(
        self,
        size: int,
        *,
        memory_limit: int | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        self.size = max(1, size)
        self.memory_limit = memory_limit
        self.max_pages = max(1, max_pages)
        self.ctx = _context()
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.aborted = False
        self._drivers: list[_Driver] = []
        self._options: dict[int, CleanOptions] = {}  # key -> options (held, so ids stay unique)
        self._lock = threading.Lock()
        self._closed = False

    def submit(
        self,
        body: bytes,
        *,
        kind: str | None,
        declared_encoding: str | None,
        url: str | None,
        options: CleanOptions,
        fingerprint_with: DedupConfig | None = None,
    ) -> Future[Cleaned]:
        future: Future[Cleaned] = Future()
        if options.extract_timeout <= 0:  # no deadline: cleaned here and now
            future.set_running_or_notify_cancel()
            try:
                future.set_result(
                    clean(
                        body,
                        kind=kind,
                        declared_encoding=declared_encoding,
                        url=url,
                        options=options,
                        fingerprint_with=fingerprint_with,
                    )
                )
            except Exception as exc:
                future.set_exception(exc)
            return future
        args = (body, kind, declared_encoding, url, fingerprint_with)
        with self._lock:  # queued before close() can queue its stop markers
            if self._closed:
                raise RuntimeError("the cleaner pool is closed")
            if not self._drivers:
                self._drivers = [_Driver(self, i) for i in range(self.size)]
            self._options.setdefault(id(options), options)
            self.jobs.put(_Job(args, options, future))
        return future

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
        return self.submit(
            body,
            kind=kind,
            declared_encoding=declared_encoding,
            url=url,
            options=options,
            fingerprint_with=fingerprint_with,
        ).result()

    @property
    def restarts(self) -> int:
        return sum(d.restarts for d in self._drivers)

    @property
    def sent_ahead(self) -> int:
        """Inputs sent to a worker while it was still cleaning the one before."""
        return sum(d.sent_ahead for d in self._drivers)

    @property
    def pids(self) -> list[int]:
        """The worker processes running now."""
        return [pid for d in self._drivers if (pid := d.pid) is not None]

    def close(self, *, cancel: bool = False) -> None:
        """Stop the workers once they have cleaned every input submitted; with `cancel` (an
        error path, or a second call after an interrupted first), at once, cancelling what is
        left."""
        with self._lock:
            first = not self._closed
            self._closed = True
            drivers = self._drivers
        if cancel:
            self.aborted = True
            with contextlib.suppress(queue.Empty):
                while True:
                    job = self.jobs.get_nowait()
                    if job is not None:
                        job.future.cancel()
        if first:
            for _ in drivers:
                self.jobs.put(None)
        for driver in drivers:
            driver.thread.join()

    def __enter__(self) -> CleanerPool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(cancel=exc_type is not None)


class WorkerCleaner(CleanerPool):
    """A pool of one worker: `clean()` in a worker process under each input's `extract_timeout`."""

    def __init__(
        self, *, max_pages: int = DEFAULT_MAX_PAGES, memory_limit: int | None = None
    ) -> None:
        super().__init__(1, memory_limit=memory_limit, max_pages=max_pages)

    @property
    def pid(self) -> int | None:
        """The worker process running now, if any."""
        return self._drivers[0].pid if self._drivers else None

    def __enter__(self) -> WorkerCleaner:
        return self
