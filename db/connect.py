"""Opening the database: one place for the pragmas every connection needs.

WAL lets readers work while a crawl writes; synchronous=NORMAL is durable across application crashes
in WAL mode; busy_timeout makes writers queue instead of failing; foreign keys are on. Transactions
are explicit (`BEGIN IMMEDIATE` through `write_transaction`), never implicit.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlite_utils import Database

from db.migrations import migrate as apply_migrations
from db.transaction import write_transaction

__all__ = ["DatabaseError", "connect", "describe_error", "write_transaction"]

BUSY_TIMEOUT_MS = 30_000


class DatabaseError(RuntimeError):
    """The database cannot be opened or written; the message is one line for people."""


def describe_error(exc: BaseException, path: str | Path) -> str:
    """One line for people about a database error, with the likely cause where SQLite's own
    words do not say it (SQLite reports a write refused by a file size limit as an I/O error).
    A DatabaseError is already such a line."""
    text = str(exc)
    if isinstance(exc, DatabaseError):
        return text
    if "disk I/O error" in text or "disk is full" in text:
        return (
            f"cannot write the database {path}: {text} (is the disk full, or a file size limit "
            "reached?); finished inputs are stored, rerun to continue"
        )
    if "readonly" in text or "read-only" in text:
        return (
            f"cannot write the database {path}: it is read-only (file or folder permissions, "
            "or a read-only mount)"
        )
    return f"database error on {path}: {text}"


def connect(path: str | Path, *, migrate: bool = True, must_exist: bool = False) -> Database:
    """Open (creating if needed, unless `must_exist`) the database at `path` with our pragmas, and
    migrate it forward."""
    target = str(path)
    if must_exist and target != ":memory:" and not Path(target).is_file():
        raise DatabaseError(f"database not found: {target}")
    try:
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        # A run's connection is handed to its writer thread (one thread at a time uses it).
        conn = sqlite3.connect(
            target, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: the band index stays hot at scale
        conn.execute("PRAGMA mmap_size=268435456")  # reads of a large index without syscalls
    except (sqlite3.Error, OSError) as exc:
        raise DatabaseError(f"cannot open database {target}: {exc}") from None
    db = Database(conn, execute_plugins=False)
    if migrate:
        try:
            apply_migrations(db)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise DatabaseError(f"cannot prepare database {target}: {exc}") from None
    return db


def _wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, waiting as long as the busy timeout for other connections. Switching needs an
    exclusive lock, and SQLite answers "database is locked" at once, without its busy handler, when
    another process holds a write lock meanwhile (processes creating one new database together)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
