"""Operating it unattended: `crawler run --due` on a controlled clock, one run per source at a time,
crashed runs taken over, reports and exit statuses that agree with the ledger, `crawler stats`."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.operate import is_due
from crawler.report import EXIT_BROKEN, EXIT_BUSY, EXIT_FAILURES, EXIT_UNREACHABLE, RunReport
from db.locks import source_lock
from tests.conftest import ROOT, check_ledger, query
from tests.gen import write_corpus


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_is_due_follows_the_cron_schedule_since_the_last_success() -> None:
    hourly = "0 * * * *"
    assert is_due(hourly, None, at("2026-11-30T09:30"))  # never ran: due
    assert not is_due(hourly, at("2026-11-30T09:10"), at("2026-11-30T09:59"))
    assert is_due(hourly, at("2026-11-30T09:10"), at("2026-11-30T10:00"))
    assert is_due(hourly, at("2026-11-30T06:10"), at("2026-11-30T09:30"))  # missed ones: once
    daily = "0 3 * * *"
    assert is_due(daily, at("2026-11-29T03:00"), at("2026-11-30T09:30"))
    assert not is_due(daily, at("2026-11-30T03:00"), at("2026-11-30T09:30"))


def _crawler(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crawler.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        **kw,  # type: ignore[call-overload]
    )


def _sources(tmp_path: Path, entries: dict[str, str | None]) -> Path:
    """A files source per entry (name -> cron schedule or None), each with two documents."""
    text = ""
    for i, (name, schedule) in enumerate(entries.items()):
        write_corpus(tmp_path / name, 2, start=10 * i)
        text += f'[sources.{name}]\nkind = "files"\npaths = ["{tmp_path / name}"]\n'
        text += f'schedule = "{schedule}"\n' if schedule else ""
    path = tmp_path / "sources.toml"
    path.write_text(text, "utf-8")
    return path


def _runs(db: Path) -> list[tuple[object, ...]]:
    return query(db, "SELECT source, status FROM runs ORDER BY id")


@pytest.mark.timeout(300)
def test_run_due_runs_each_source_exactly_when_its_schedule_comes_round(tmp_path: Path) -> None:
    sources = _sources(tmp_path, {"hourly": "0 * * * *", "nightly": "0 3 * * *", "manual": None})
    db = tmp_path / "ops.db"
    base = ("run", "--due", "--db", str(db), "--sources", str(sources))
    first = _crawler(*base, "--now", "2026-11-30T09:30:00")
    assert first.returncode == 0, first.stderr
    assert _runs(db) == [("hourly", "finished"), ("nightly", "finished")]  # never ran: due
    assert "manual" in first.stdout and "no schedule" in first.stdout
    # the runs happened "now" (real time); place them at the controlled clock's 09:30
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET started_at = '2026-11-30T09:30:00+00:00'")
    for now, expected in [
        ("2026-11-30T09:45:00", []),  # nothing has come round: nothing runs
        ("2026-11-30T09:59:59", []),
        ("2026-11-30T10:00:00", ["hourly"]),  # the hour: hourly only
    ]:
        before = len(_runs(db))
        result = _crawler(*base, "--now", now)
        assert result.returncode == 0, result.stderr
        assert [s for s, _status in _runs(db)[before:]] == expected, now
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE runs SET started_at = ? WHERE id > ?", [now + "+00:00", before])
    # the same window again: already ran in it, so not twice
    again = _crawler(*base, "--now", "2026-11-30T10:20:00")
    assert again.returncode == 0 and "not due" in again.stdout
    assert len(_runs(db)) == 3
    # an interrupted run is not a success: the source stays due
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET status = 'interrupted' WHERE id = 3")
    retry = _crawler(*base, "--now", "2026-11-30T10:20:00")
    assert retry.returncode == 0, retry.stderr
    assert _runs(db)[-1] == ("hourly", "finished")
    # the next night: nightly is due, and so is hourly (10:00 ... 03:00 came round)
    night = _crawler(*base, "--now", "2026-12-01T03:00:00")
    assert [s for s, _ in _runs(db)[-2:]] == ["hourly", "nightly"]
    assert night.returncode == 0
    check_ledger(db)


@pytest.mark.timeout(120)
def test_a_source_already_running_is_skipped_when_due_and_refused_by_name(tmp_path: Path) -> None:
    sources = _sources(tmp_path, {"busy": "* * * * *", "other": "* * * * *"})
    db = tmp_path / "busy.db"
    with source_lock(str(db), "busy"):  # another process would hold this during its run
        due = _crawler("run", "--due", "--db", str(db), "--sources", str(sources))
        named = _crawler("run", "busy", "--db", str(db), "--sources", str(sources))
        direct = _crawler(
            "load", str(tmp_path / "busy"), "--source", "busy", "--db", str(db),
            "--sources", str(sources),
        )  # fmt: skip
    assert due.returncode == 0, due.stderr  # from cron: the running one is simply not started
    assert "busy" in due.stdout and "already running" in due.stdout
    assert _runs(db) == [("other", "finished")]  # a different source runs in parallel
    assert named.returncode == EXIT_BUSY
    assert direct.returncode == EXIT_BUSY
    (line,) = direct.stderr.strip().splitlines()
    assert line.startswith("crawler: error: source 'busy' is already running (pid ")
    after = _crawler("run", "busy", "--db", str(db), "--sources", str(sources))
    assert after.returncode == 0, after.stderr  # the lock is free once its holder is done


@pytest.mark.timeout(300)
def test_kill_9_during_run_then_run_again_finishes_with_nothing_lost_or_duplicated(
    tmp_path: Path,
) -> None:
    write_corpus(tmp_path / "big", 1200)  # enough that the kill lands mid-run
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[sources.big]\nkind = "files"\npaths = ["{tmp_path / "big"}"]\n')
    db = tmp_path / "killed.db"
    args = [sys.executable, "-m", "crawler.cli", "run", "--db", str(db), "--sources", str(sources)]
    proc = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    recorded = 0
    while time.monotonic() < deadline and recorded < 40:
        time.sleep(0.2)
        try:
            recorded = int(query(db, "SELECT count(*) FROM pages")[0][0])  # type: ignore[call-overload]
        except sqlite3.OperationalError:
            continue
    os.killpg(proc.pid, signal.SIGKILL)  # the run and the load it started, at once
    proc.wait(timeout=30)
    assert 0 < int(query(db, "SELECT count(*) FROM articles")[0][0]) < 1200  # type: ignore[call-overload]
    again = _crawler("run", "--db", str(db), "--sources", str(sources))
    assert again.returncode == 0, again.stderr
    assert query(db, "SELECT count(*) FROM articles") == [(1200,)]
    runs = query(db, "SELECT status, stored FROM runs ORDER BY id")
    assert [status for status, _stored in runs] == ["interrupted", "finished"]
    assert int(runs[0][1]) > 0  # type: ignore[call-overload]  # the first run's report counts what it stored
    stored = query(db, "SELECT count(*) FROM pages WHERE state = 'stored'")
    assert stored == [(1200,)]  # each text stored once over both runs
    check_ledger(db)


def test_the_report_and_stats_agree_with_a_direct_count_in_the_database(tmp_path: Path) -> None:
    db = tmp_path / "report.db"
    loaded = _crawler("load", "seeds/", "--db", str(db))
    assert loaded.returncode == 0, loaded.stderr
    lines = {
        line.split()[0]: int(line.split()[1])
        for line in loaded.stdout.splitlines()[1:7]
        if len(line.split()) >= 2 and line.split()[1].isdigit()
    }
    counts = dict(query(db, "SELECT state, count(*) FROM pages GROUP BY state"))
    for state in ("stored", "duplicate", "unchanged", "rejected", "failed"):
        assert lines[state] == counts.get(state, 0), state
    assert lines["stored"] == query(db, "SELECT count(*) FROM articles")[0][0]
    stats = _crawler("stats", "--db", str(db), "--json")
    (run,) = [json.loads(line) for line in stats.stdout.splitlines()]
    assert run["stored"] == lines["stored"] and run["status"] == "finished"
    assert run["report"]["coverage"]["language"] == 1.0
    table = _crawler("stats", "--db", str(db))
    assert table.returncode == 0 and "seeds" in table.stdout.splitlines()[1]


def test_exit_status_comes_from_the_ledger_counts() -> None:
    def report(states: dict[str, int], reasons: dict[tuple[str, str], int], before: int | None):
        r = RunReport(source="news", inputs=sum(states.values()), found_before=before)
        r.states.update(states)
        r.reasons.update(reasons)
        r.close("finished")
        return r

    fine = report({"stored": 3, "unchanged": 2}, {}, 5)
    assert fine.exit_code() == 0 and fine.warnings() == []
    some = report({"stored": 3, "failed": 1}, {("failed", "http_503"): 1}, 5)
    assert some.exit_code() == EXIT_FAILURES
    down = report({"failed": 4}, {("failed", "fetch_error"): 3, ("failed", "http_503"): 1}, 5)
    assert down.exit_code() == EXIT_UNREACHABLE and "unreachable" in down.warnings()[0]
    refused = report({"rejected": 1}, {("rejected", "private_address"): 1}, None)
    assert refused.exit_code() == EXIT_UNREACHABLE
    assert "--allow-private" in refused.warnings()[0]
    broken = report({"rejected": 6}, {("rejected", "too_short"): 6}, 40)
    assert broken.exit_code() == EXIT_BROKEN
    assert "layout changed?" in broken.warnings()[0] and "layout changed?" in broken.render()
    new_source = report({"rejected": 6}, {("rejected", "too_short"): 6}, None)
    assert new_source.exit_code() == 0  # nothing to compare with yet


@pytest.mark.timeout(120)
def test_the_foreground_scheduler_runs_what_is_due_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    sources = _sources(tmp_path, {"minutely": "* * * * *", "manual": None})
    db = tmp_path / "scheduled.db"
    args = ["schedule", "--db", str(db), "--sources", str(sources)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", *args], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    # idle once the round's summary is printed: its source has run and its process has ended
    assert proc.stdout is not None
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")))
    reader.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(x.startswith("crawler run:") for x in seen):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    reader.join(timeout=10)
    assert proc.stderr is not None
    with proc.stdout, proc.stderr:
        out, err = "".join(seen), proc.stderr.read()
    assert proc.returncode == 0, err  # idle when stopped: nothing was interrupted
    assert _runs(db) == [("minutely", "finished")]  # due at once (never ran); manual never
    assert "minutely" in out and "scheduler stopped" in err


def test_runs_off_a_terminal_log_one_line_progress_to_stderr_and_the_log_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from crawler import report
    from crawler.cli import cli

    monkeypatch.setattr(report, "PROGRESS_LOG_SECONDS", 0.0)  # every outcome, for the test
    log_file = tmp_path / "crawler.log"
    corpus = write_corpus(tmp_path / "corpus", 3)
    result = CliRunner().invoke(
        cli,
        ["--log-file", str(log_file), "load", str(corpus), "--db", str(tmp_path / "p.db")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in log_file.read_text().splitlines() if "crawler.progress" in line]
    assert len(lines) == 3  # one per input here; every 30 s by default
    assert " INFO crawler.progress: run 1 [local] 3 inputs: stored 3, duplicate 0" in lines[-1]
    quiet = CliRunner().invoke(
        cli,
        ["--quiet", "--log-file", str(tmp_path / "q.log"), "load", str(corpus),
         "--db", str(tmp_path / "q.db")],
        catch_exceptions=False,
    )  # fmt: skip
    assert quiet.exit_code == 0
    assert "progress" not in (tmp_path / "q.log").read_text()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
        root.removeHandler(handler)  # the CLI adds them for its process; this is pytest's
        handler.close()


def test_store_timings_are_an_even_sample_of_every_transaction() -> None:
    """The report keeps a bounded sample of store-transaction times; with batches, a run has many
    more inputs than transactions, and the sample must still cover its last transactions as evenly
    as its first (reservoir sampling over transactions, not inputs)."""
    import random

    from crawler.report import COMMIT_SAMPLE, RunReport

    random.seed(7)
    report = RunReport(source="s")
    report.inputs = 100 * COMMIT_SAMPLE  # batched: a hundred inputs per transaction
    total = 4 * COMMIT_SAMPLE
    for k in range(total):  # the k-th transaction took about k ms
        report.timed_commit(time.perf_counter() - k / 1000)
    assert report.commits == total
    assert len(report.commit_ms) == COMMIT_SAMPLE
    late = sum(1 for ms in report.commit_ms if ms >= 3 * COMMIT_SAMPLE)
    assert 0.2 * COMMIT_SAMPLE < late < 0.3 * COMMIT_SAMPLE  # a quarter of them, as evenly
    assert report.as_dict()["commits"] == total
