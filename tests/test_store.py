"""Store invariants: one transaction per unit, pinned dedup configuration, concurrent writers,
kill -9 then rerun."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from cleaners.fingerprint import DedupConfig
from db.migrations import SCHEMA_VERSION
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
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"crawler: error: cannot write the database {db_path}: disk I/O error")
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
    """Two sources loading the same texts at once (one run per source at a time, different
    sources in parallel): the store's transaction decides, each text is stored once."""
    corpus = write_corpus(tmp_path / "corpus", 60)
    db = tmp_path / "shared.db"
    procs = [
        _crawler("load", str(corpus), "--db", str(db), "--source", name) for name in ("a", "b")
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert query(db, "SELECT count(*) FROM articles") == [(60,)]
    states = dict(query(db, "SELECT state, count(*) FROM pages GROUP BY state"))
    assert states["stored"] == 60
    assert sum(states.values()) == 120  # every input of both runs has exactly one terminal row
    check_ledger(db)


def _recorded(db: Path) -> int:
    """Ledger rows so far (0 while the database is still being created)."""
    try:
        return int(query(db, "SELECT count(*) FROM pages")[0][0])  # type: ignore[call-overload]
    except sqlite3.OperationalError:  # no file or no tables yet
        return 0


def test_kill_9_then_rerun_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 300)
    db = tmp_path / "killed.db"
    # small transactions, so that the kill lands while some are committed and some not
    proc = _crawler("load", str(corpus), "--db", str(db), "--batch", "10", "--workers", "1")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if _recorded(db) >= 40:
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


def test_a_rebuild_with_other_settings_stops_a_running_load(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crawler.core
    from cleaners.fingerprint import DedupConfig
    from db.connect import connect
    from db.dedup import rebuild

    corpus = write_corpus(tmp_path / "corpus", 12)
    real_build = crawler.core.build_articles
    calls = {"n": 0}

    def build_then_rebuild(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 5:  # another process rebuilds the index with other settings
            other = connect(str(db_path))
            rebuild(other, DedupConfig(bands=16, rows=8))
            other.close()
        return real_build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(crawler.core, "build_articles", build_then_rebuild)
    # one input per transaction, in order: exactly the four before the change are stored
    result = run_cli("load", str(corpus), "--batch", "1", "--workers", "1")
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("crawler: error: the dedup configuration of this database changed")
    assert query(db_path, "SELECT count(*) FROM articles") == [(4,)]  # nothing after the change
    assert query(db_path, "SELECT status FROM runs") == [("failed",)]
    assert query(db_path, "SELECT value FROM meta WHERE key = 'dedup.bands'") == [("16",)]
    check_ledger(db_path)


def test_processes_creating_one_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    db = tmp_path / "new" / "fresh.db"
    start = time.time() + 1.5  # every process opens the database at the same moment
    code = (
        "import sys, time\n"
        "from crawler.config import dedup_config\n"
        "from db.connect import connect\n"
        "from db.dedup import check_config\n"
        f"time.sleep(max(0, {start} - time.time()))\n"
        "db = connect(sys.argv[1])\n"
        "check_config(db, dedup_config())\n"
        "print(db.execute('SELECT count(*) FROM _sqlite_migrations').fetchone()[0])\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(db)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    results = [(proc, *proc.communicate(timeout=60)) for proc in procs]  # every one ends first
    for proc, out, err in results:
        assert proc.returncode == 0, err
        assert out.strip() == str(SCHEMA_VERSION)  # every migration, each applied once
    assert query(db, "SELECT count(*) FROM _sqlite_migrations") == [(SCHEMA_VERSION,)]
    assert len(query(db, "SELECT key FROM meta WHERE key LIKE 'dedup.%'")) == len(
        DedupConfig().pinned()
    )


@pytest.mark.timeout(30)
def test_opening_waits_for_a_writer_before_switching_to_wal(tmp_path: Path) -> None:
    """SQLite refuses the switch to WAL at once, without its busy handler, while another connection
    holds a write lock (as when several processes create one new database together); `connect`
    waits for the lock instead of failing."""
    from db.connect import connect

    path = tmp_path / "new.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other(x)")
    writer.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, writer.execute, ["COMMIT"])
    started = time.monotonic()
    release.start()
    try:
        db = connect(path)
    finally:
        release.join()
        writer.close()
    assert time.monotonic() - started >= 0.25  # it waited for the commit
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


@pytest.mark.parametrize("version", [1, 2])
def test_a_database_of_every_earlier_schema_version_migrates_forward_without_loss(
    run_cli: Callable[..., Result], db_path: Path, version: int
) -> None:
    """tests/fixtures/db/vN.sql: a database as schema version N left it (kept as SQL text)."""
    db_path.parent.mkdir(parents=True)
    dump = (ROOT / "tests" / "fixtures" / "db" / f"v{version}.sql").read_text("utf-8")
    old = sqlite3.connect(db_path)
    old.executescript(dump)
    old.close()
    assert query(db_path, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(version),)
    ]
    assert run_cli("load", str(SEED_LISTING)).exit_code == 0  # opens it: migrates, then loads
    assert query(db_path, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    assert query(db_path, "SELECT count(*) FROM articles") == [(12,)]  # 2 old + 10 entries
    assert query(db_path, "SELECT title FROM articles WHERE source = 'old' ORDER BY id") == [
        ("서울시 예산안",),
        ("Ferry terminal",),
    ]
    # articles stored before search existed are searchable after the migration
    assert query(
        db_path, "SELECT rowid FROM articles_fts WHERE articles_fts MATCH '\"대중교통\"'"
    ) == [(1,)]
    validators = query(db_path, "SELECT count(*) FROM http_validators")
    assert validators == [(1 if version >= 2 else 0,)]
    check_ledger(db_path)
