"""The `runs` table: one row per run, opened at start and closed with its report."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from sqlite_utils import Database

from crawler.items import utcnow_iso
from db.connect import write_transaction


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_interrupted(db: Database) -> int:
    """Close runs left 'running' by a process on this host that no longer exists (a crash or kill -9)."""
    host = socket.gethostname()
    rows = db.execute(
        "SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", [host]
    ).fetchall()
    dead = [run_id for run_id, pid in rows if pid is None or not _alive(int(pid))]
    if dead:
        with write_transaction(db):
            db.conn.executemany(
                "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE id = ?",
                [(utcnow_iso(), run_id) for run_id in dead],
            )
    return len(dead)


def start_run(db: Database, source: str, command: str) -> int:
    mark_interrupted(db)
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO runs(source, command, started_at, status, pid, host) VALUES (?, ?, ?, 'running', ?, ?)",
            [source, command, utcnow_iso(), os.getpid(), socket.gethostname()],
        )
    return int(cursor.lastrowid or 0)


def ledger_counts(db: Database, run_id: int) -> dict[str, int]:
    """Terminal states of this run's inputs, counted from the ledger itself."""
    rows = db.execute(
        "SELECT state, count(*) FROM pages WHERE run_id = ? GROUP BY state", [run_id]
    ).fetchall()
    return {state: int(n) for state, n in rows}


def finish_run(db: Database, run_id: int, status: str, report: dict[str, Any]) -> None:
    """Close the run: state counts come from the ledger itself, `inputs` from the report."""
    counts = ledger_counts(db, run_id)
    with write_transaction(db):
        db.execute(
            """UPDATE runs SET finished_at = ?, status = ?, inputs = ?, stored = ?, duplicates = ?,
                   unchanged = ?, rejected = ?, failed = ?, report = ? WHERE id = ?""",
            [
                utcnow_iso(), status, int(report.get("inputs", 0)), counts.get("stored", 0),
                counts.get("duplicate", 0), counts.get("unchanged", 0), counts.get("rejected", 0),
                counts.get("failed", 0), json.dumps(report, ensure_ascii=False, sort_keys=True), run_id,
            ],
        )  # fmt: skip
