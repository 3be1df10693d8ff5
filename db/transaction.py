"""Explicit write transactions: every write of the project goes through `write_transaction`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlite_utils import Database


@contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """One unit of work: `BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any exception."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        try:
            db.conn.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:  # a failed COMMIT leaves the transaction open
                db.conn.execute("ROLLBACK")
            raise
