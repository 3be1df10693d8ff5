"""Stopping a crawl: the first SIGINT or SIGTERM says so at once, drops the queued requests, lets
the pages in flight finish and store, and ends with the run `interrupted` (exit 130, or 143 for
SIGTERM); a second signal stops at once, with the run closed `interrupted` too. Nothing stored is
lost, and the next run goes on where this one stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import faultserver
from tests.conftest import ROOT, check_ledger, query

PAGES = 60


def _sources(tmp_path: Path, server: faultserver.Running) -> Path:
    """Polite: one request at a time, 0.3 s apart, so the whole crawl would take 20 s or more."""
    path = tmp_path / "sources.toml"
    path.write_text(
        f'[sources.faults]\nkind = "sitemap"\nstart_urls = ["{server.base}/sitemap.xml"]\n'
        'download_delay = 0.3\nconcurrency = 1\nallow_private = ["127.0.0.1"]\n',
        "utf-8",
    )
    return path


def _start(tmp_path: Path, server: faultserver.Running, db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "crawl", "faults", "--sources",
         str(_sources(tmp_path, server)), "--db", str(db), "-s", "AUTOTHROTTLE_ENABLED=False"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _scheduler(
    tmp_path: Path, server: faultserver.Running, db: Path, command: str = "schedule"
) -> subprocess.Popen[str]:
    """`crawler schedule` (or `crawler run`) of the fault site, due every minute: it starts
    crawling at once (the source never ran)."""
    sources = _sources(tmp_path, server)
    sources.write_text(sources.read_text("utf-8") + 'schedule = "* * * * *"\n', "utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", command, "--sources", str(sources), "--db", str(db)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _articles_requested(server: faultserver.Running) -> int:
    return sum(1 for r in server.requests() if str(r.get("path", "")).startswith("/p/"))


def _wait_for_articles(server: faultserver.Running, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while _articles_requested(server) < n:
        assert proc.poll() is None and time.monotonic() < deadline, "the crawl did not get going"
        time.sleep(0.05)


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_one_signal_finishes_the_pages_in_flight_and_drops_the_queue(
    tmp_path: Path, signum: int, code: int
) -> None:
    db = tmp_path / "stop.db"
    with faultserver.running(tmp_path, PAGES, 0.0) as server:
        proc = _start(tmp_path, server, db)
        _wait_for_articles(server, 3, proc)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
        requested = _articles_requested(server)
        assert proc.returncode == code, err
        assert "stopping: finishing" in err and "Ctrl-C again to stop now" in err
        # the queued requests were dropped: a handful more at most, not the whole site
        assert requested < PAGES // 2, requested
        assert "interrupted" in out.splitlines()[0]
        assert query(db, "SELECT status FROM runs") == [("interrupted",)]
        stored = query(db, "SELECT count(*) FROM articles")[0][0]
        assert stored >= 3  # what was fetched was cleaned and stored
        check_ledger(db)
        # the next run goes on where this one stopped: the rest of the site, nothing twice
        rerun = subprocess.run(
            [sys.executable, "-m", "crawler.cli", "crawl", "faults", "--sources",
             str(faultserver.sources_file(tmp_path, server)), "--db", str(db)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert query(db, "SELECT count(*) FROM articles") == [(PAGES,)]
    assert query(db, "SELECT status FROM runs ORDER BY id") == [("interrupted",), ("finished",)]
    check_ledger(db)


@pytest.mark.timeout(180)
def test_a_second_signal_stops_at_once_and_still_closes_the_run(tmp_path: Path) -> None:
    db = tmp_path / "now.db"
    with faultserver.running(tmp_path, PAGES, 0.0) as server:
        proc = _start(tmp_path, server, db)
        _wait_for_articles(server, 3, proc)
        # two different signals (two of a kind could merge into one), before the pages in
        # flight can finish
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGTERM)
        second = time.monotonic()
        out, err = proc.communicate(timeout=120)
        took = time.monotonic() - second
    # 130 or 143: signals that arrive together may reach Python's handlers in either order (a
    # handler can run inside the other's), and the exit says which one came first to us
    assert proc.returncode in (130, 143), err
    assert "stopping now" in err
    assert "interrupted" in out.splitlines()[0]  # the report, as after one signal
    assert "Traceback" not in err and "Unhandled error" not in err
    assert took < 10, took  # 2 s on an idle machine; bounded generously for a loaded one
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    check_ledger(db)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("delay", [0.5, 1.0, 1.5, 3.0])
def test_a_crawl_stopped_at_any_moment_of_its_start_ends_in_one_line(
    tmp_path: Path, delay: float
) -> None:
    """While modules import, while Scrapy sets up, while the spider opens: SIGTERM always ends
    the process with 143 and a line or two, never a traceback or Twisted's "Unhandled error"."""
    crawler = Path(sys.executable).parent / "crawler"
    with faultserver.running(tmp_path, PAGES, 0.0) as server:
        proc = subprocess.Popen(
            [str(crawler), "crawl", "faults", "--sources", str(_sources(tmp_path, server)),
             "--db", str(tmp_path / "start.db")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=90)
    if proc.returncode == -signal.SIGTERM:  # before Python ran a line of ours (a loaded machine)
        assert not err
        return
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "Unhandled error" not in err, err
    lines = [x for x in err.splitlines() if x.strip() and "CRAWLER_CONTACT_URL" not in x]
    assert 1 <= len(lines) <= 2, err


@pytest.mark.timeout(180)
def test_crawler_run_passes_the_signal_on_and_reports_the_child(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with faultserver.running(tmp_path, PAGES, 0.0) as server:
        sources = _sources(tmp_path, server)
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler.entry", "run", "faults", "--sources", str(sources),
             "--db", str(db)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while _articles_requested(server) < 2:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "== faults: stopped, exit 143" in out
    assert "stopping: finishing" in err  # the child said so, once
    assert "Traceback" not in err and "Unhandled error" not in err
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    check_ledger(db)


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_crawler_schedule_passes_the_signal_to_a_running_child_and_reports_its_end(
    tmp_path: Path, signum: int, code: int
) -> None:
    """The scheduler stopped while its source is crawling (not idle): the child is stopped as a
    crawl stops, its run closed `interrupted`; the scheduler says so and exits 130/143."""
    db = tmp_path / "scheduled.db"
    with faultserver.running(tmp_path, PAGES, 0.0) as server:
        proc = _scheduler(tmp_path, server, db)
        _wait_for_articles(server, 2, proc)  # due at once (never ran): the child is crawling
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
        requested = _articles_requested(server)
    assert proc.returncode == code, err
    assert f"== faults: stopped, exit {code}" in out
    assert "stopping: finishing" in err  # the child said so, once
    assert err.count("stopping: finishing") == 1
    assert "scheduler stopped; a run was interrupted" in err
    assert "Traceback" not in err and "Unhandled error" not in err, err
    assert requested < PAGES // 2, requested  # the child dropped its queue
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    check_ledger(db)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("command", ["schedule", "run"])
def test_a_child_stopped_as_it_starts_is_reported_with_a_shell_exit_status(
    tmp_path: Path, command: str
) -> None:
    """SIGTERM the moment `crawler schedule` (or `crawler run`) has announced its source: the
    child is stopped before it could set up its own handlers (killed by the signal) or just
    after; either way its end is reported as the shell would, `exit 143`, never Python's `-15`,
    and the parent exits 143 with no traceback."""
    db = tmp_path / "starting.db"
    with faultserver.running(tmp_path, PAGES, 0.0) as server:
        proc = _scheduler(tmp_path, server, db, command)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # "== faults": the child is being started now
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=90)
    out = first + rest
    assert first == "== faults\n", (out, err)
    assert proc.returncode == 143, (out, err)
    assert "== faults: stopped, exit 143" in out, out
    assert "exit -" not in out
    assert "Traceback" not in err and "Unhandled error" not in err, err
    if db.exists():  # the child got as far as opening its run: it is closed, not left running
        assert query(db, "SELECT status FROM runs WHERE status = 'running'") == []


@pytest.mark.timeout(180)
def test_a_second_signal_to_crawler_schedule_stops_its_child_at_once(tmp_path: Path) -> None:
    """Both signals reach the running child (each passed on): it stops now, closes its run
    `interrupted`, and the scheduler reports it and exits with the first signal's status."""
    db = tmp_path / "scheduled-now.db"
    with faultserver.running(tmp_path, PAGES, 0.0) as server:
        proc = _scheduler(tmp_path, server, db)
        _wait_for_articles(server, 3, proc)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "stopping now" in err and "== faults: stopped, exit 130" in out
    assert "scheduler stopped; a run was interrupted" in err
    assert "Traceback" not in err and "Unhandled error" not in err, err
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    check_ledger(db)
