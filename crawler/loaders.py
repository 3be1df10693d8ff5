"""The file loader: local files and folders through the same core path as crawled pages.

No Twisted here. Folders are walked in sorted order (so "the first stored copy wins" is
deterministic), symlinks are not followed out of the folder being loaded (nor is any file read
that lies outside it when opened, whatever was relinked meanwhile), and nothing but regular files
is ever read. Every accepted file ends in a ledger row; files a folder walk passes over
(unsupported types) are counted as skipped in the report.
"""

from __future__ import annotations

import glob
import gzip
import logging
import os
import stat
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cleaners.clean import Cleaned, CleanOptions
from cleaners.errors import BAD_GZIP, TOO_LARGE, Rejected
from cleaners.worker import CleanerPool, default_workers
from crawler import archives, settings
from crawler.config import (
    Source,
    dedup_config,
    default_options,
    load_sources,
    source_for_paths,
    worker_memory_limit,
)
from crawler.core import Ingest, Prepared
from crawler.items import RawPage
from crawler.report import RunReport
from crawler.run import Run
from db import failpoints
from db.runs import archive_offsets
from db.vocabulary import NOT_REGULAR_FILE, OUTSIDE_ROOT, UNREADABLE, UNSUPPORTED_TYPE, Outcome

log = logging.getLogger(__name__)

KINDS_BY_SUFFIX = {".txt": "text", ".html": "html", ".htm": "html"}
# Inputs read and not yet committed, per worker: about 0.3 s of cleaning, more than a group
# commit takes, so the workers never wait for the writer.
WINDOW_PER_WORKER = 12


class InputError(ValueError):
    """A path given on the command line does not exist (nothing has been done)."""


def display(path: str) -> str:
    """A path as text that can be stored and printed: bytes of a file name that are not UTF-8
    (which Python carries as lone surrogates) are shown as `\\xNN` escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class FileInput:
    path: str  # as given, or joined onto the folder as given (the name used to open the file)
    reject: str | None = (
        None  # accepted but refused before reading (outside_root, not_regular_file)
    )
    root: Path | None = None  # the folder a walk found it in (resolved): what it must lie inside

    @property
    def origin(self) -> str:
        """The ledger's name for this input: the path as given, made storable."""
        return display(self.path)


def kind_of(path: str) -> tuple[str | None, bool]:
    """(kind by extension or None, gzip-compressed?) for a file name: "text", "html", or
    "archive" (WARC, ARC, WET: crawler/archives.py)."""
    name = path.lower()
    gz = name.endswith(".gz")
    if archives.is_archive(name):
        return "archive", gz
    if gz:
        name = name[:-3]
    return KINDS_BY_SUFFIX.get(os.path.splitext(name)[1]), gz


def expand_patterns(paths: list[str]) -> list[str]:
    """Paths with glob patterns (`/srv/warc/*.warc.gz`, as a `warc` source's paths may be) made
    into the files they match, in sorted order; a pattern that matches nothing adds nothing."""
    expanded: list[str] = []
    for path in paths:
        if glob.has_magic(path):
            expanded += sorted(glob.glob(path))
        else:
            expanded.append(path)
    return expanded


def check_paths(paths: list[str]) -> None:
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        raise InputError(f"path not found: {', '.join(map(display, missing))}")


def walk(
    paths: list[str], skipped: Callable[[str, str], None] | None = None
) -> Iterator[FileInput]:
    """Accepted inputs in a stable order. A file named directly is always accepted (and refused as
    `unsupported_type` when its extension is not ours); inside a folder only supported types are
    accepted, and a symlink leading outside that folder is refused."""
    for given in paths:
        if os.path.isdir(given):
            yield from _walk_dir(given, skipped)
        elif kind_of(given)[0] is None and os.path.splitext(given.removesuffix(".gz"))[1]:
            yield FileInput(given, reject=UNSUPPORTED_TYPE)  # named, but a .pdf, .jpg, ...
        else:
            yield FileInput(given)  # .txt/.html/.htm(.gz), or no extension: sniffed


def _resolved(path: str) -> Path | None:
    """Where `path` leads, links followed; None for a symlink loop (which leads nowhere)."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):  # Python < 3.13 raises RuntimeError on a loop
        return None


def _inside(root: Path, target: Path) -> bool:
    return target == root or root in target.parents


def _walk_dir(top: str, skipped: Callable[[str, str], None] | None) -> Iterator[FileInput]:
    root = Path(top).resolve()
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        dirnames.sort()
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                dirnames.remove(d)
                if skipped:
                    skipped(os.path.join(dirpath, d), "symlinked_folder")
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if kind_of(name)[0] is None:
                if skipped:
                    skipped(path, UNSUPPORTED_TYPE)
                continue
            if os.path.islink(path):
                target = _resolved(path)  # a loop is read as it is, and fails unreadable
                if target is not None and not _inside(root, target):
                    yield FileInput(path, reject=OUTSIDE_ROOT, root=root)
                    continue
            yield FileInput(path, root=root)


# A FIFO swapped in for the file after it was checked cannot block the open (POSIX flags).
_OPEN_FLAGS = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | _OPEN_FLAGS)


def _opened_path(fd: int, path: str) -> Path | None:
    """The real path of the file open on `fd` (None when it cannot be told)."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:  # no /proc: the path now, if it still names the file that was opened
        target, opened = _resolved(path), os.fstat(fd)
        if target is None:
            return None
        try:
            now = os.stat(target)
        except OSError:
            return None
        same = (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)
        return target if same else None


def open_checked(path: str, root: Path | None = None) -> BinaryIO:
    """The file, open for reading. Raises Rejected or OSError.

    Only a regular file is opened: its kind is checked before it is opened (a device is never
    opened) and again on the open descriptor, as the path may name something else by then (a
    FIFO, which the non-blocking open cannot wait on). With `root` (a folder walk), the file
    that was opened must lie inside it, whatever was linked or renamed since the walk looked."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise Rejected(NOT_REGULAR_FILE, "not a regular file")
    handle = open(path, "rb", opener=_open_nonblocking)  # noqa: SIM115 - returned open
    try:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise Rejected(NOT_REGULAR_FILE, "not a regular file when opened")
        if root is not None:
            real = _opened_path(handle.fileno(), path)
            if real is None or not _inside(root, real):
                raise Rejected(OUTSIDE_ROOT, f"opened outside the folder: {real or 'unknown'}")
    except BaseException:
        handle.close()
        raise
    return handle


def read_file(path: str, max_bytes: int, root: Path | None = None) -> bytes:
    """The file's bytes (decompressed if .gz), never more than `max_bytes`, read as
    `open_checked` opens it. Raises Rejected or OSError."""
    gz = path.lower().endswith(".gz")
    with open_checked(path, root) as handle:
        st = os.fstat(handle.fileno())
        if not gz and st.st_size > max_bytes:
            raise Rejected(TOO_LARGE, f"{st.st_size} bytes > {max_bytes}")
        if not gz:
            data = handle.read(max_bytes + 1)
        else:
            try:
                with gzip.GzipFile(fileobj=handle) as unzipped:
                    data = unzipped.read(max_bytes + 1)
            except (OSError, EOFError, zlib.error) as exc:
                raise Rejected(BAD_GZIP, str(exc)) from None
    if len(data) > max_bytes:
        raise Rejected(TOO_LARGE, f"more than {max_bytes} bytes")
    return data


def file_url(path: str) -> str:
    """The `file:` URL of the file a path leads to (links resolved), the same however it is
    spelled; for a symlink loop, of the link itself."""
    return (_resolved(path) or Path(os.path.abspath(path))).as_uri()


def file_page(path: str, source: str, body: bytes) -> RawPage:
    kind, _gz = kind_of(path)
    return RawPage(
        origin=display(path),
        url=file_url(path),
        source=source,
        body=body,
        content_type=kind,
    )


def count_inputs(paths: list[str]) -> int:
    """How many inputs a load of `paths` will accept (for a progress bar's length)."""
    return sum(1 for _ in walk(paths))


def load_files(ingest: Ingest, paths: list[str], options: CleanOptions, pool: CleanerPool) -> None:
    """Run every accepted file under `paths` through the core path; each ends in a ledger row.

    Files are read here, in walk order, and cleaned by the pool's workers (`pool.size` at once);
    the run's writer stores them in walk order, so the outcome is the same whatever the number of
    workers: when two near-duplicates race, the one that comes first in walk order wins. Raises
    the writer's error if it stopped on one."""
    report = ingest.report

    def skipped(path: str, reason: str) -> None:
        report.skipped[reason] += 1
        log.debug("skipped %s: %s", display(path), reason)

    load_inputs(ingest, walk(paths, skipped), options, pool)


def load_inputs(
    ingest: Ingest, inputs: Iterable[FileInput], options: CleanOptions, pool: CleanerPool
) -> None:
    """`load_files` of inputs already walked (a cluster job's shard of a walk)."""
    loader = _Pipeline(ingest, options, pool)
    try:
        for item in inputs:
            loader.add(item)
        loader.finish()
    finally:
        loader.close()


class _Pipeline:
    """Reads inputs in order, has them cleaned concurrently, hands them to the writer in order.

    At most WINDOW_PER_WORKER inputs per worker are in flight (read and not yet committed), so
    memory grows with the number of workers, not with the number of inputs; that is enough work
    queued for the workers to go on while the writer commits a group."""

    def __init__(self, ingest: Ingest, options: CleanOptions, pool: CleanerPool) -> None:
        self.ingest, self.options, self.pool = ingest, options, pool
        # Fingerprints are computed by the writer when a core is left over for this process
        # (fewer workers than cores): then they cost the workers nothing.
        self.fingerprint_here = pool.size < default_workers()
        self.cleaning: deque[tuple[RawPage, Future[Cleaned] | Prepared]] = deque()
        self.storing: deque[Future[list[Outcome]]] = deque()
        self.limit = WINDOW_PER_WORKER * pool.size

    def add(self, item: FileInput) -> None:
        if not item.reject and kind_of(item.path)[0] == "archive":
            return self._add_archive(item)
        source = self.ingest.report.source
        failure: tuple[str, str, str] | None = None
        body = b""
        if item.reject:
            failure = ("rejected", item.reject, "")
        else:
            try:
                body = read_file(item.path, self.options.max_bytes, item.root)
            except Rejected as exc:
                failure = ("rejected", exc.reason, exc.detail)
            except OSError as exc:
                failure = ("failed", UNREADABLE, exc.strerror or str(exc))
        if failure is not None:
            page = RawPage(origin=item.origin, url=file_url(item.path), source=source, body=b"")
        else:
            page = file_page(item.path, source, body)
        self._queue(page, failure)
        return None

    def _add_archive(self, item: FileInput) -> None:
        """Every record of a web archive, in file order (crawler/archives.py)."""
        source, report = self.ingest.report.source, self.ingest.report
        try:
            stream = open_checked(item.path, item.root)
        except (Rejected, OSError) as exc:
            failure = (
                ("rejected", exc.reason, exc.detail)
                if isinstance(exc, Rejected)
                else ("failed", UNREADABLE, exc.strerror or str(exc))
            )
            page = RawPage(origin=item.origin, url=file_url(item.path), source=source, body=b"")
            self._queue(page, failure)
            return
        reader = self.ingest.run.reader  # none on a cluster worker: the writer skips what is done
        done, failed = archive_offsets(reader, item.origin) if reader else (set(), set())
        with stream:
            records = archives.records(
                stream, item.origin, source, self.options.max_bytes, done, failed
            )
            for record in records:
                if record.skipped:
                    report.skipped[record.skipped] += 1
                elif record.page is not None:
                    self._queue(record.page, None)
                else:
                    url = record.url or file_url(item.path)
                    page = RawPage(origin=record.origin, url=url, source=source, body=b"")
                    failure = (record.state or "failed", record.reason or "", record.detail)
                    self._queue(page, failure)

    def _queue(self, page: RawPage, failure: tuple[str, str, str] | None) -> None:
        """Admit one input and queue it for cleaning (or, with `failure`, for its ledger row)."""
        if not self.ingest.admit(page):  # the same input named twice: its first row stands
            return
        if failure is not None:
            self.cleaning.append((page, Prepared(failure=failure)))
        else:
            failpoints.hit("after_fetch")
            cleaning = self.ingest.submit(
                page, self.options, self.pool, fingerprint_here=self.fingerprint_here
            )
            self.cleaning.append((page, cleaning))
        self._make_room(self.limit)

    def _make_room(self, limit: int) -> None:
        """Hand finished inputs to the writer, in order, and wait until fewer than `limit` are
        in flight."""
        while True:
            while self.storing and self.storing[0].done():
                self.storing.popleft().result()  # raises the error that stopped the writer
            self._hand_over()
            if len(self.cleaning) + len(self.storing) < limit:
                return
            waiting: list[Future[Any]] = []
            if self.storing:
                waiting.append(self.storing[0])
                self.ingest.run.writer.flush()  # what it has is all it gets until this returns
            if self.cleaning and isinstance(self.cleaning[0][1], Future):
                waiting.append(self.cleaning[0][1])
            futures_wait(waiting, return_when=FIRST_COMPLETED)

    def _hand_over(self) -> None:
        """The inputs at the head whose cleaning is done go to the writer."""
        while self.cleaning:
            page, result = self.cleaning[0]
            if isinstance(result, Future):
                if not result.done():
                    return
                failpoints.hit("after_extract")
                prepared = self.ingest.prepared(page, result)
            else:
                prepared = result
            self.cleaning.popleft()
            self.storing.append(self.ingest.store(page, prepared))

    def finish(self) -> None:
        self._make_room(1)

    def close(self) -> None:
        for _page, result in self.cleaning:  # left over when the load stopped on an error
            if isinstance(result, Future):
                result.cancel()


def plan_load(
    paths: list[str], source: str | None, sources_file: str | None
) -> tuple[list[str], str, CleanOptions]:
    """The paths a load reads (patterns expanded), the source it runs as and its cleaning options.
    Raises InputError for a missing path or sources file, ConfigError for a bad sources file."""
    paths = expand_patterns(paths)
    check_paths(paths)
    if sources_file is not None and not os.path.exists(sources_file):
        raise InputError(f"sources file not found: {sources_file}")
    sources = load_sources(sources_file or settings.CRAWLER_SOURCES_FILE)
    chosen: Source | None = sources.get(source) if source else source_for_paths(sources, paths)
    name = source or (chosen.name if chosen else "local")
    return paths, name, chosen.clean if chosen else default_options()


def load(
    paths: list[str],
    *,
    db_path: str,
    source: str | None = None,
    near: bool = True,
    sources_file: str | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 0,
    batch: int = settings.CRAWLER_STORE_BATCH,
) -> RunReport:
    """Load files and folders into the database at `db_path`; returns the closed run report.

    `sources_file` must exist when given; by default `seeds/sources.toml` under the current folder
    is used if it is there. The source is `source` if given, else the configured files source
    whose folders hold the paths, else "local". `workers`: cleaning processes (0: one per core);
    `batch`: inputs per store transaction at most.
    Raises InputError for a missing path, ConfigError for a bad sources file, SourceBusy,
    DatabaseError / ConfigMismatch when the database cannot be used: all before anything is
    written; and the database's error if it fails during the load (the run is closed `failed`).
    """
    paths, name, options = plan_load(paths, source, sources_file)
    command = "load " + " ".join(map(display, paths))
    run = Run(db_path, name, command, dedup_config(), near=near, batch=batch, progress=progress)
    with run, CleanerPool(workers or default_workers(), memory_limit=worker_memory_limit()) as pool:
        load_files(Ingest(run), paths, options, pool)
    return run.report
