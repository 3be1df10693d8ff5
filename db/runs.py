"""The `runs` table: one row per run, opened at start and closed with its report."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from sqlite_utils import Database

from db.transaction import write_transaction
from db.vocabulary import FIELDS, utcnow_iso


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host."""
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
        "SELECT id, pid FROM runs WHERE status = 'running' AND host = ? AND job IS NULL", [host]
    ).fetchall()
    dead = [int(run_id) for run_id, pid in rows if pid is None or not process_alive(int(pid))]
    if dead:
        with write_transaction(db):
            _close_interrupted(db, dead)
    return len(dead)


def _close_interrupted(db: Database, run_ids: list[int]) -> None:
    """Close dead runs as interrupted, with their state counts taken from the ledger."""
    for run_id in run_ids:
        counts = ledger_counts(db, run_id)
        db.execute(
            """UPDATE runs SET status = 'interrupted', finished_at = ?, stored = ?, duplicates = ?,
                   unchanged = ?, rejected = ?, failed = ?,
                   inputs = (SELECT count(DISTINCT CASE WHEN instr(origin, '#') > 0
                             THEN substr(origin, 1, instr(origin, '#') - 1) ELSE origin END)
                             FROM pages WHERE run_id = ?)
               WHERE id = ? AND status = 'running'""",
            [
                utcnow_iso(), counts.get("stored", 0), counts.get("duplicate", 0),
                counts.get("unchanged", 0), counts.get("rejected", 0), counts.get("failed", 0),
                run_id, run_id,
            ],
        )  # fmt: skip


def start_run(db: Database, source: str, command: str) -> int:
    """Open a run of `source`. The caller holds the source's lock (db.locks), so a run of this
    source still marked `running` is dead, whatever host or pid it names: it is closed as
    interrupted first."""
    mark_interrupted(db)
    with write_transaction(db):
        stale = db.execute(
            "SELECT id FROM runs WHERE source = ? AND status = 'running' AND job IS NULL",
            [source],
        ).fetchall()
        _close_interrupted(db, [int(r[0]) for r in stale])
        cursor = db.execute(
            "INSERT INTO runs(source, command, started_at, status, pid, host) VALUES (?, ?, ?, 'running', ?, ?)",
            [source, command, utcnow_iso(), os.getpid(), socket.gethostname()],
        )
    return int(cursor.lastrowid or 0)


def job_run(db: Database, job: str, source: str, command: str) -> int:
    """The run that stores cluster job `job`: opened on its first result, reopened (`running`
    again, under this process) when a writer that stopped before the job ended takes it up again.
    Runs of jobs are closed by the writer when their job ends, never as a dead process's."""
    with write_transaction(db):
        row = db.execute("SELECT id FROM runs WHERE job = ?", [job]).fetchone()
        if row is not None:
            db.execute(
                """UPDATE runs SET status = 'running', finished_at = NULL, pid = ?, host = ?
                   WHERE id = ?""",
                [os.getpid(), socket.gethostname(), row[0]],
            )
            return int(row[0])
        cursor = db.execute(
            """INSERT INTO runs(source, command, started_at, status, pid, host, job)
               VALUES (?, ?, ?, 'running', ?, ?, ?)""",
            [source, command, utcnow_iso(), os.getpid(), socket.gethostname(), job],
        )
    return int(cursor.lastrowid or 0)


def close_dead_job_runs(db: Database, open_jobs: set[str]) -> int:
    """Runs of cluster jobs left `running` whose job is no longer open (the broker lost it, or it
    was cancelled): closed as interrupted, with their counts from the ledger."""
    rows = db.execute("SELECT id, job FROM runs WHERE status = 'running' AND job IS NOT NULL")
    dead = [int(run_id) for run_id, job in rows.fetchall() if job not in open_jobs]
    if dead:
        with write_transaction(db):
            _close_interrupted(db, dead)
    return len(dead)


def ledger_reasons(db: Database, run_id: int) -> dict[tuple[str, str], int]:
    """(state, reason) of this run's inputs, counted from the ledger itself."""
    rows = db.execute(
        """SELECT state, reason, count(*) FROM pages WHERE run_id = ? AND reason IS NOT NULL
           GROUP BY state, reason""",
        [run_id],
    ).fetchall()
    return {(state, reason): int(n) for state, reason, n in rows}


def recorded(db: Database, run_id: int, origin: str) -> bool:
    """True when this run has a ledger row for `origin` (or, split into entries, for `origin#1`)."""
    row = db.execute(
        "SELECT 1 FROM pages WHERE run_id = ? AND origin IN (?, ?)", [run_id, origin, origin + "#1"]
    ).fetchone()
    return row is not None


def archive_offsets(db: Database, name: str) -> tuple[set[int], set[int]]:
    """Byte offsets of the records of the archive `name` in the ledger: (done: recorded in a
    final state by some run; failed: recorded `failed` and never done since, which the next run
    retries)."""
    prefix = name + "#"
    rows = db.execute(
        "SELECT origin, state FROM pages WHERE origin >= ? AND origin < ?",
        [prefix, name + "$"],  # '$' sorts right after '#': the index reads just this archive
    ).fetchall()
    done: set[int] = set()
    failed: set[int] = set()
    for origin, state in rows:
        offset = origin[len(prefix) :].split("#", 1)[0]  # PATH#OFFSET, or PATH#OFFSET#n (split)
        if offset.isdigit():
            (failed if state == "failed" else done).add(int(offset))
    return done, failed - done


def last_success(db: Database, source: str) -> str | None:
    """When the source's last finished run started (ISO 8601), if it has one."""
    if "runs" not in db.table_names():
        return None
    row = db.execute(
        "SELECT max(started_at) FROM runs WHERE source = ? AND status = 'finished'", [source]
    ).fetchone()
    return row[0] if row and row[0] else None


def recent_runs(db: Database, source: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest runs (of one source, if given), newest first, with their JSON report parsed."""
    where, params = ("WHERE source = ?", [source]) if source else ("", [])
    rows = list(
        db.query(
            f"""SELECT id, source, status, started_at, finished_at, inputs, stored, duplicates,
                   unchanged, rejected, failed, report FROM runs {where}
                ORDER BY id DESC LIMIT ?""",
            [*params, limit],
        )
    )
    for row in rows:
        row["report"] = json.loads(row["report"] or "{}")
    return rows


def run_sources(db: Database) -> list[str]:
    """Every source that has a run in this database."""
    return [r[0] for r in db.execute("SELECT DISTINCT source FROM runs ORDER BY source")]


def ledger_counts(db: Database, run_id: int) -> dict[str, int]:
    """Terminal states of this run's inputs, counted from the ledger itself."""
    rows = db.execute(
        "SELECT state, count(*) FROM pages WHERE run_id = ? GROUP BY state", [run_id]
    ).fetchall()
    return {state: int(n) for state, n in rows}


def field_coverage(db: Database, run_id: int) -> dict[str, float]:
    """Share of the articles this run stored that have each metadata field."""
    row = db.execute(
        """SELECT count(*), count(a.title), count(a.author), count(a.published_at),
                  count(a.language)
           FROM pages p JOIN articles a ON a.id = p.article_id
           WHERE p.run_id = ? AND p.state = 'stored'""",
        [run_id],
    ).fetchone()
    total = int(row[0])
    if not total:
        return {}
    return {name: round(int(n) / total, 3) for name, n in zip(FIELDS, row[1:], strict=True)}


def found_before(db: Database, source: str, run_id: int) -> int | None:
    """Articles found (stored, unchanged, duplicate) by the source's last finished run before
    `run_id`; None when there is none."""
    row = db.execute(
        """SELECT stored + unchanged + duplicates FROM runs
           WHERE source = ? AND status = 'finished' AND id < ? ORDER BY id DESC LIMIT 1""",
        [source, run_id],
    ).fetchone()
    return None if row is None else int(row[0])


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
