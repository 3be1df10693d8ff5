"""One run at a time per source: an exclusive `flock` on a lock file beside the database.

The kernel drops the lock when its process ends, however it ends (kill -9, a crash, a reboot), so a
crashed run never leaves a source stuck; the next run takes the lock at once and closes the runs the
dead one left `running`. Different sources have different lock files and may run in parallel. Lock
files must be on a local file system (flock over NFS is not reliable).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from db.vocabulary import utcnow_iso


class SourceBusy(Exception):
    """Another process is running this source; the message says which."""


def lock_path(db_path: str, source: str) -> Path:
    return Path(f"{db_path}-locks") / f"{quote(source, safe='')}.lock"


@contextlib.contextmanager
def source_lock(db_path: str, source: str) -> Iterator[None]:
    """Hold the source's lock for the block; SourceBusy at once if another process holds it."""
    path = lock_path(db_path, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise SourceBusy(
                f"source {source!r} is already running ({holder}); lock file {path}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(
            fd, f"pid {os.getpid()} on {socket.gethostname()} since {utcnow_iso()}".encode(), 0
        )
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def is_locked(db_path: str, source: str) -> bool:
    """True while some process holds the source's lock."""
    try:
        with source_lock(db_path, source):
            return False
    except SourceBusy:
        return True
