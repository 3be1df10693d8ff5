"""A disk that fills up during a run, and a database that cannot be written: one clear line, a
non-zero exit, no partial unit of work, and a rerun (with space back) that finishes the job.

The disk fills up by a file size limit (RLIMIT_FSIZE) set on the running process with prlimit
once it has stored some articles: the database's files cannot grow past their size at that moment
plus a little, which is what a full disk looks like to SQLite. (Mounting a small tmpfs needs
privileges CI does not have.) SIGXFSZ is ignored, as a process on a full disk gets ENOSPC, not a
signal. The read-only database is one the run's user may read but not write: when the tests run as
root, the run is started as `nobody`, for whom permissions still apply.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import faultserver
from tests.conftest import ROOT, check_ledger, query
from tests.faultserver import Running
from tests.gen import write_corpus

EXE = str(Path(sys.executable).parent / "crawler")


def ignore_sigxfsz() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def db_files(db: Path) -> int:
    return max(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


def stored(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def run_until_the_disk_fills(command: list[str], db: Path, after: int) -> subprocess.Popen[str]:
    """Start `command`; once `after` articles are stored, cap its file sizes where they stand
    (plus 64 KB); return the finished process."""
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_sigxfsz,
    )
    deadline = time.monotonic() + 60
    while stored(db) < after:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cap = db_files(db) + 64 * 1024
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (cap, cap))
    proc.wait(120)
    return proc


def assert_one_line_error(proc: subprocess.Popen[str], *words: str) -> None:
    _out, err = proc.communicate()
    assert proc.returncode not in (0, None), err
    assert "Traceback" not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("crawler: error: "), err[-2000:]
    for word in words:
        assert word in last, last


@pytest.mark.timeout(180)
def test_a_load_that_fills_the_disk_stops_cleanly_and_a_rerun_finishes(tmp_path: Path) -> None:
    db = tmp_path / "full.db"
    corpus = write_corpus(tmp_path / "docs", 400)
    proc = run_until_the_disk_fills([EXE, "load", str(corpus), "--db", str(db)], db, after=20)
    assert_one_line_error(proc, "cannot write the database", "disk full")
    check_ledger(db)  # no partial unit: every stored article has its ledger row and bands
    (status,) = query(db, "SELECT status FROM runs")[0]
    assert status == "failed"
    kept = stored(db)
    assert 20 <= kept < 400
    rerun = subprocess.run(
        [EXE, "load", str(corpus), "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert stored(db) == 400  # 0 lost, and check_ledger: 0 duplicated
    check_ledger(db)


def crawl_command(tmp_path: Path, server: Running, db: Path) -> list[str]:
    sources = faultserver.sources_file(tmp_path, server)
    return [EXE, "crawl", "faults", "--sources", str(sources), "--db", str(db)]


@pytest.mark.timeout(180)
def test_a_crawl_that_fills_the_disk_stops_at_once_and_a_rerun_finishes(tmp_path: Path) -> None:
    db = tmp_path / "full.db"
    with faultserver.running(tmp_path, 400, 0.0) as server:
        command = crawl_command(tmp_path, server, db)
        started = time.monotonic()
        proc = run_until_the_disk_fills(command, db, after=20)
        assert time.monotonic() - started < 60  # stopped, not crawling on with nowhere to write
        assert_one_line_error(proc, "cannot write the database", "disk full")
        check_ledger(db)
        (status,) = query(db, "SELECT status FROM runs")[0]
        assert status == "failed"
        rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert stored(db) == 400
    check_ledger(db)


def as_reader_only(db: Path) -> Callable[[], None] | None:
    """A preexec function that makes the run unable to write `db` and its folder."""
    if os.geteuid() == 0:

        def nobody() -> None:
            os.setgid(65534)
            os.setuid(65534)

        for path in (db.parent, *db.parent.iterdir()):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)  # nobody may read, not write
        return nobody
    for path in (*db.parent.iterdir(), db.parent):
        os.chmod(path, 0o555 if path.is_dir() else 0o444)
    return None


@pytest.mark.timeout(120)
def test_a_read_only_database_is_refused_with_one_line_and_left_untouched(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # `nobody` must reach the files: a folder outside pytest's (0700) one
        tmp_path = Path(tempfile.mkdtemp(prefix="crawler-readonly-"))
        os.chmod(tmp_path, 0o755)
    folder = tmp_path / "db"
    folder.mkdir()
    db = folder / "articles.db"
    corpus = write_corpus(tmp_path / "docs", 30)
    first = subprocess.run(
        [EXE, "load", str(corpus), "--db", str(db)], cwd=ROOT, capture_output=True, timeout=120
    )
    assert first.returncode == 0
    subprocess.run([sys.executable, "-c", f"import sqlite3; sqlite3.connect({str(db)!r}).close()"])
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    more = write_corpus(tmp_path / "more", 10, start=30)
    os.chmod(more, 0o755)
    preexec = as_reader_only(db)
    try:
        with faultserver.running(tmp_path, 20, 0.0) as server:
            runs = {
                "load": [EXE, "load", str(more), "--db", str(db)],
                "crawl": crawl_command(tmp_path, server, db),
            }
            for name, command in runs.items():
                proc = subprocess.Popen(
                    command,
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    preexec_fn=preexec,
                )
                proc.wait(60)
                assert_one_line_error(proc, str(db))
                _out, err = proc.communicate()
                assert "read-only" in err or "readonly" in err or "Permission denied" in err, (
                    name,
                    err[-500:],
                )
    finally:
        for path in (folder, *folder.iterdir()):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # not one byte written
    assert stored(db) == 30
    check_ledger(db)


@pytest.mark.timeout(120)
def test_a_crawl_of_a_busy_source_is_refused_with_one_line(tmp_path: Path) -> None:
    from crawler.report import EXIT_BUSY
    from db.locks import source_lock

    db = tmp_path / "busy.db"
    with faultserver.running(tmp_path, 5, 0.0) as server, source_lock(str(db), "faults"):
        proc = subprocess.Popen(
            crawl_command(tmp_path, server, db), cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        proc.wait(60)
        assert proc.returncode == EXIT_BUSY
        assert_one_line_error(proc, "source 'faults' is already running")
        assert [r for r in server.requests() if r["path"] != "/robots.txt"] == []
