"""The reliability battery against a misbehaving server: the real `crawler crawl` process against
tests/faultserver.py (a subprocess), every URL's terminal state checked against the oracle.

CI runs each scenario at a small scale; `python3 dev.py test -m slow -k faults` runs the full one
(2,000 pages with 10% faults; 20 random kills).
"""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cleaners.fingerprint import canonical_url
from tests import faultserver
from tests.conftest import ROOT, check_ledger, crawler_subprocess, query
from tests.faultserver import Running

TIMEOUT = 2.0  # DOWNLOAD_TIMEOUT of these crawls, seconds
MARGIN = 1.5  # how much longer than the timeout any one request may hold a connection
CRAWL = (
    "-s",
    f"DOWNLOAD_TIMEOUT={TIMEOUT}",
    "-s",
    f"DOWNLOAD_MAXSIZE={faultserver.BODY_MAX}",
    "-s",
    "RETRY_BACKOFF_BASE=0.05",
    "-s",
    "RETRY_BACKOFF_MAX=1",
)


def crawl_command(db: Path, sources_file: Path) -> list[str]:
    exe = Path(sys.executable).parent / "crawler"
    return [str(exe), "crawl", "faults", "--sources", str(sources_file), "--db", str(db), *CRAWL]


def check_oracle(db: Path, server: Running) -> dict[str, int]:
    """Every URL of the plan ends as the oracle says, nothing lost, nothing stored twice; returns
    counts for the report."""
    check_ledger(db)
    rows = query(db, "SELECT run_id, origin, state, reason FROM pages ORDER BY id")
    per_run: dict[tuple[object, str], int] = {}
    latest: dict[str, tuple[str, str | None]] = {}
    stored_rows: dict[str, int] = {}
    for run_id, origin, state, reason in rows:
        path = "/" + str(origin).split("/", 3)[3]
        per_run[(run_id, path)] = per_run.get((run_id, path), 0) + 1
        latest[path] = (str(state), None if reason is None else str(reason))
        if state == "stored":
            stored_rows[path] = stored_rows.get(path, 0) + 1
    assert max(per_run.values()) == 1  # one terminal state per input per run
    planned = {e.path for e in server.entries}
    assert set(latest) == planned  # every input recorded, nothing else
    wrong = {}
    for entry in server.entries:
        state, reason = latest[entry.path]
        if entry.expected[0] == "stored":
            ok = stored_rows.get(entry.path) == 1 and state in ("stored", "unchanged")
        else:
            ok = (state, reason) == entry.expected and entry.path not in stored_rows
        if not ok:
            wrong[entry.path] = (latest[entry.path], stored_rows.get(entry.path, 0))
    assert wrong == {}
    expected_urls = set()
    for e in server.entries:
        if e.expected[0] == "stored":
            n = int(e.path.split("/")[2])
            moved = e.fault in ("redirect_ok", "meta_refresh", "meta_refresh_utf16")
            target = f"/target/{n}" if moved else e.path
            expected_urls.add(canonical_url(server.base + target))
    urls = {str(u) for (u,) in query(db, "SELECT url FROM articles")}
    assert urls == expected_urls  # 0 lost, 0 extra (and check_ledger: 0 duplicated)
    assert server.canary_requests() == []
    return {"articles": len(urls), "inputs": len(planned)}


def longest_requests(server: Running) -> float:
    durations = [r["end"] - r["start"] for r in server.requests() if not r.get("canary")]
    return max(durations)


def run_with_faults(tmp_path: Path, pages: int) -> None:
    db = tmp_path / "faults.db"
    with faultserver.running(tmp_path, pages, 0.1) as server:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.monotonic()
        result = crawler_subprocess(
            "crawl",
            "faults",
            "--sources",
            str(faultserver.sources_file(tmp_path, server)),
            "--db",
            str(db),
            *CRAWL,
        )
        elapsed = time.monotonic() - started
        peak_mb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
        assert result.returncode == 3, result.stderr[-2000:]  # finished, with failures
        assert "Traceback" not in result.stderr  # failed fetches are outcomes, not errors
        counts = check_oracle(db, server)
        longest = longest_requests(server)
    assert longest <= TIMEOUT + MARGIN, longest  # hangs and drips are cut at the timeout
    failures = query(db, "SELECT count(*) FROM pages WHERE state != 'stored' AND reason IS NULL")
    assert failures == [(0,)]
    print(
        f"\n{pages} pages, 10% faults: {counts['articles']} stored, 0 lost, 0 duplicated, "
        f"{elapsed:.1f} s, longest request {longest:.2f} s, peak RSS {peak_mb:.0f} MB"
    )


@pytest.mark.timeout(150)
def test_every_fault_ends_as_the_oracle_says_300_pages(tmp_path: Path) -> None:
    run_with_faults(tmp_path, 300)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_fault_ends_as_the_oracle_says_2000_pages(tmp_path: Path) -> None:
    run_with_faults(tmp_path, 2000)


def kill_and_finish(tmp_path: Path, pages: int, kills: int, seed: int) -> None:
    """kill -9 the crawl (its whole process group: crawler and cleaning worker) at random
    moments, check the database after each, then let a crawl finish: the oracle must hold."""
    db = tmp_path / "kills.db"
    rng = random.Random(seed)
    started = time.monotonic()
    with faultserver.running(tmp_path, pages, 0.1) as server:
        command = crawl_command(db, faultserver.sources_file(tmp_path, server))
        for _ in range(kills):
            proc = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                proc.wait(rng.uniform(1.0, 6.0))  # start-up takes about 1.5 s
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            if db.exists():
                check_ledger(db)
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert result.returncode == 3, result.stderr[-2000:]
        counts = check_oracle(db, server)
    statuses = [str(s) for (s,) in query(db, "SELECT status FROM runs ORDER BY id")]
    assert statuses[-1] == "finished"
    assert "running" not in statuses
    elapsed = time.monotonic() - started
    print(f"\n{kills} kills of a {pages}-page crawl, then a finish, {elapsed:.0f} s: {counts}")


@pytest.mark.timeout(300)
def test_random_kills_of_a_crawl_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    kill_and_finish(tmp_path, 300, kills=6, seed=8)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_twenty_random_kills_of_a_2000_page_crawl(tmp_path: Path) -> None:
    kill_and_finish(tmp_path, 2000, kills=20, seed=20)
