"""Shared fixtures: temporary databases, the CLI in-process and as a real subprocess."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crawler.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds" / "documents"
SEED_LISTING = SEEDS / "000_573631d5b3c2138a.txt"
SEED_ARTICLE = SEEDS / "004_34bd77d5f75da4ac.txt"


@pytest.fixture(autouse=True)
def _signal_handlers_restored() -> Iterator[None]:
    """A test (or the code it runs in-process) that leaves its own SIGINT or SIGTERM handler
    behind fails, and the handler is put back: a later test would otherwise meet it instead of
    Python's (a library function must give a program its handlers back)."""
    kinds = (signal.SIGINT, signal.SIGTERM)
    before = {kind: signal.getsignal(kind) for kind in kinds}
    yield
    left = {
        kind.name: signal.getsignal(kind)
        for kind in kinds
        if signal.getsignal(kind) != before[kind]
    }
    for kind in kinds:
        signal.signal(kind, before[kind])
    assert not left, f"signal handlers left behind: {left}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "articles.db"


@pytest.fixture
def run_cli(db_path: Path) -> Callable[..., Result]:
    """Invoke `crawler ARGS... --db <tmp db>` in-process (click's runner)."""

    def invoke(*args: str, db: Path | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(cli, [*args, "--db", str(db or db_path)], catch_exceptions=False)

    return invoke


def crawler_subprocess(
    *args: str, cwd: Path = ROOT, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script (or the module) as a real process."""
    exe = shutil.which("crawler", path=str(Path(sys.executable).parent)) or ""
    cmd = [exe] if exe else [sys.executable, "-m", "crawler.entry"]
    return subprocess.run(
        [*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ}
    )


def query(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def check_ledger(db: Path) -> None:
    """Invariants after any run: integrity ok, uniqueness, index and articles consistent."""
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "PRAGMA foreign_key_check") == []
    assert query(db, "SELECT url FROM articles GROUP BY url HAVING count(*) > 1") == []
    assert (
        query(db, "SELECT content_hash FROM articles GROUP BY content_hash HAVING count(*) > 1")
        == []
    )
    # every band key points to an article; every article with a signature has all its bands
    assert query(
        db, "SELECT count(*) FROM dedup_bands WHERE article_id NOT IN (SELECT id FROM articles)"
    ) == [(0,)]
    bands = int(query(db, "SELECT value FROM meta WHERE key = 'dedup.bands'")[0][0])  # type: ignore[call-overload]
    partial = query(
        db,
        "SELECT article_id FROM dedup_bands GROUP BY article_id HAVING count(DISTINCT band) != ?",
        (bands,),
    )
    assert partial == []
    unindexed = query(
        db,
        """SELECT id FROM articles WHERE id NOT IN (SELECT article_id FROM dedup_bands)
           AND metadata NOT LIKE '%"dedup": "exact_only"%'""",
    )
    assert unindexed == []
    # every stored ledger row points at an article; every article was stored by some ledger row
    assert query(
        db, "SELECT count(*) FROM pages WHERE state = 'stored' AND article_id IS NULL"
    ) == [(0,)]
    assert query(
        db,
        "SELECT count(*) FROM articles WHERE id NOT IN (SELECT article_id FROM pages WHERE state = 'stored')",
    ) == [(0,)]
