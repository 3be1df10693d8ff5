"""Store invariants: one transaction per unit, pinned dedup configuration, concurrent writers,
kill -9 then rerun."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import ROOT, SEED_LISTING, check_ledger, query
from tests.gen import write_corpus


def test_a_failing_unit_leaves_nothing_half_written(
    run_cli: Callable[..., Result], db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import db.store

    real = db.store.insert_keys
    calls = {"n": 0}

    def flaky(conn: object, article_id: int, keys: list[int]) -> None:
        calls["n"] += 1
        if calls["n"] == 5:  # the fifth entry of the ten-entry listing
            raise sqlite3.OperationalError("disk I/O error")
        real(conn, article_id, keys)  # type: ignore[arg-type]

    monkeypatch.setattr(db.store, "insert_keys", flaky)
    result = run_cli("load", str(SEED_LISTING))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["crawler: error: database error: disk I/O error"]
    assert query(db_path, "SELECT count(*) FROM articles") == [(0,)]
    assert query(db_path, "SELECT count(*) FROM pages") == [(0,)]
    assert query(db_path, "SELECT status FROM runs") == [("failed",)]
    monkeypatch.undo()
    assert run_cli("load", str(SEED_LISTING)).exit_code == 0
    assert query(db_path, "SELECT count(*) FROM articles") == [(10,)]
    check_ledger(db_path)


def test_changed_dedup_configuration_is_refused_until_rebuild(
    run_cli: Callable[..., Result], db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli("load", str(SEED_LISTING)).exit_code == 0
    monkeypatch.setattr("crawler.settings.DEDUP_BANDS", 16)
    monkeypatch.setattr("crawler.settings.DEDUP_ROWS", 8)
    refused = run_cli("load", str(SEED_LISTING))
    assert refused.exit_code == 1
    (line,) = refused.output.strip().splitlines()
    assert line.startswith("crawler: error: dedup configuration differs")
    assert "bands: db=20 run=16" in line and "crawler dedup rebuild" in line
    rebuilt = run_cli("dedup", "rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "re-indexed 10 articles" in rebuilt.output
    assert query(db_path, "SELECT value FROM meta WHERE key = 'dedup.bands'") == [("16",)]
    assert query(db_path, "SELECT count(*) FROM dedup_bands") == [(160,)]
    assert run_cli("load", str(SEED_LISTING)).exit_code == 0
    check_ledger(db_path)


def _crawler(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_concurrent_loads_store_each_text_once(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 60)
    db = tmp_path / "shared.db"
    procs = [_crawler("load", str(corpus), "--db", str(db)) for _ in range(2)]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert query(db, "SELECT count(*) FROM articles") == [(60,)]
    states = dict(query(db, "SELECT state, count(*) FROM pages GROUP BY state"))
    assert states["stored"] == 60
    assert sum(states.values()) == 120  # every input of both runs has exactly one terminal row
    check_ledger(db)


def test_kill_9_then_rerun_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 300)
    db = tmp_path / "killed.db"
    proc = _crawler("load", str(corpus), "--db", str(db))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if db.exists() and query(db, "SELECT count(*) FROM pages")[0][0] >= 40:  # type: ignore[operator]
            break
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    partial = query(db, "SELECT count(*) FROM articles")[0][0]
    assert 0 < partial < 300  # type: ignore[operator]
    check_ledger(db)
    rerun = _crawler("load", str(corpus), "--db", str(db))
    _out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert query(db, "SELECT count(*) FROM articles") == [(300,)]
    assert query(db, "SELECT status FROM runs ORDER BY id") == [("interrupted",), ("finished",)]
    check_ledger(db)
