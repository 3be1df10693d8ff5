"""Cleaning in a worker process: deadlines, crashes, recycling, and pages nested too deep."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from pathlib import Path

import pytest
from click.testing import Result

from cleaners.clean import Cleaned, CleanOptions, clean
from cleaners.errors import EXTRACT_TIMEOUT, TOO_DEEP, Rejected
from cleaners.worker import (
    CLEAN_CRASHED,
    PIPE_BYTES,
    CleanerPool,
    CleanFailed,
    WorkerCleaner,
)
from tests.conftest import SEED_ARTICLE, check_ledger, query

# Real hostile input, no fault injection: trafilatura needs over ten seconds for this 800 kB page.
SLOW_PAGE = ("<html><body><article>" + "<p>word " * 100_000 + "</article></body></html>").encode()
PARAGRAPH = "<p>" + "A real paragraph of article text that the cleaner should keep. " * 5 + "</p>"


def nested(depth: int) -> bytes:
    body = "<article><h1>Deep</h1>" + PARAGRAPH + "</article>"
    return f"<html><body>{'<div>' * depth}{body}{'</div>' * depth}</body></html>".encode()


def _clean(cleaner: WorkerCleaner, body: bytes, timeout: float = 30.0) -> object:
    options = CleanOptions(extract_timeout=timeout)
    return cleaner.clean(body, kind=None, declared_encoding=None, url=None, options=options)


def test_a_slow_page_is_killed_at_its_deadline_and_the_run_goes_on(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-slow.html").write_bytes(SLOW_PAGE)
    (folder / "b-good.txt").write_bytes(SEED_ARTICLE.read_bytes())
    monkeypatch.setattr("crawler.settings.CRAWLER_EXTRACT_TIMEOUT", 1.0)
    started = time.monotonic()
    result = run_cli("load", str(folder))
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    rows = query(db_path, "SELECT origin, state, reason, detail FROM pages ORDER BY origin")
    assert [(Path(str(o)).name, s, r) for o, s, r, _d in rows] == [
        ("a-slow.html", "rejected", EXTRACT_TIMEOUT),
        ("b-good.txt", "stored", None),
    ]
    assert "within 1s" in str(rows[0][3])
    assert "extract_timeout 1" in result.output
    assert elapsed < 20  # the slow page alone would take several seconds more than its deadline
    check_ledger(db_path)


def test_the_deadline_comes_from_the_source(tmp_path: Path) -> None:
    from crawler.config import load_sources

    sources = tmp_path / "seeds" / "sources.toml"
    sources.parent.mkdir()
    sources.write_text('[sources.slowsite]\nkind = "files"\nextract_timeout = 2.5\n', "utf-8")
    assert load_sources(sources)["slowsite"].clean.extract_timeout == 2.5


def test_a_worker_that_dies_fails_the_input_and_a_new_one_takes_over() -> None:
    with WorkerCleaner() as cleaner:
        _clean(cleaner, SEED_ARTICLE.read_bytes())  # the worker is up
        pid = cleaner.pid
        assert pid is not None
        killer = threading.Timer(0.5, os.kill, (pid, signal.SIGKILL))
        killer.start()
        with pytest.raises(CleanFailed) as failed:
            _clean(cleaner, SLOW_PAGE)
        killer.join()
        assert failed.value.reason == CLEAN_CRASHED
        assert "exit code -9" in failed.value.detail
        cleaned = _clean(cleaner, SEED_ARTICLE.read_bytes())
        assert cleaner.restarts == 1
        assert cleaner.pid is not None and cleaner.pid != pid
    assert cleaned == clean(SEED_ARTICLE.read_bytes())


def test_a_timeout_in_the_worker_does_not_leave_it_running() -> None:
    with WorkerCleaner() as cleaner:
        with pytest.raises(Rejected) as rejected:
            _clean(cleaner, SLOW_PAGE, timeout=0.5)
        assert rejected.value.reason == EXTRACT_TIMEOUT
        assert cleaner.pid is None  # killed and reaped; the next input starts a fresh one
        assert _clean(cleaner, SEED_ARTICLE.read_bytes()) is not None


def test_workers_are_recycled_and_give_the_same_results() -> None:
    pages = [
        SEED_ARTICLE.read_bytes(),
        nested(5),
        SEED_ARTICLE.read_bytes().replace(b"2025", b"2026"),
    ]
    pids = set()
    with WorkerCleaner(max_pages=2) as cleaner:
        for body in pages * 2:
            assert _clean(cleaner, body) == clean(body)
            assert cleaner.pid is not None
            pids.add(cleaner.pid)
        assert cleaner.restarts == 2
    assert len(pids) == 3


def test_nesting_past_the_parser_limit_is_reparsed_and_reported() -> None:
    cleaned = clean(nested(300), kind="html")  # libxml2 stops at 255 levels by default
    assert cleaned.entries[0].text.startswith("A real paragraph")
    assert cleaned.fired["deep_tree_reparsed"] == 1
    assert "deep_tree_reparsed" not in clean(nested(100), kind="html").fired


def test_nesting_past_the_huge_tree_limit_is_rejected_too_deep() -> None:
    with pytest.raises(Rejected) as rejected:
        clean(nested(3000), kind="html")
    assert rejected.value.reason == TOO_DEEP


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_page_past_the_worker_memory_cap_ends_recorded_and_the_next_page_works() -> None:
    big = (
        "<html><body>" + "<div><p>some words here</p></div>" * 400_000 + "</body></html>"
    ).encode()
    probe = WorkerCleaner()
    _clean(probe, SEED_ARTICLE.read_bytes())
    assert probe.pid is not None
    status = Path(f"/proc/{probe.pid}/status").read_text()
    probe.close()
    vm_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmSize")))
    with WorkerCleaner(memory_limit=(vm_kb + 80_000) * 1024) as cleaner:
        with pytest.raises((Rejected, CleanFailed)):  # the parser cannot allocate a 13 MB tree
            _clean(cleaner, big)
        assert _clean(cleaner, SEED_ARTICLE.read_bytes()) == clean(SEED_ARTICLE.read_bytes())


def test_fingerprints_from_the_worker_equal_those_computed_here() -> None:
    """The worker fingerprints what it cleans (so the writer's core does not): the values must be
    the ones this process would compute, or dedup would differ between the two modes."""
    from cleaners.fingerprint import DedupConfig, fingerprint, text_shingles

    config = DedupConfig()
    body = SEED_ARTICLE.read_bytes()
    with WorkerCleaner() as cleaner:
        cleaned = cleaner.clean(
            body,
            kind=None,
            declared_encoding=None,
            url=None,
            options=CleanOptions(),
            fingerprint_with=config,
        )
    assert cleaned.fingerprints
    assert cleaned.fingerprints == [fingerprint(e.text, config) for e in cleaned.entries]
    assert all(f.signature is not None for f in cleaned.fingerprints)
    # the shingle set travels with the fingerprint, so the writer need not hash the text again
    for entry, print_ in zip(cleaned.entries, cleaned.fingerprints, strict=True):
        assert print_.shingles is not None
        assert (print_.shingles == text_shingles(entry.text, config)).all()


# About a second of trafilatura's time (unclosed paragraphs make it slow), well under any deadline.
SECOND_PAGE = ("<html><body><article>" + "<p>word " * 20_000 + "</article></body></html>").encode()


def _submit(pool: CleanerPool, body: bytes, timeout: float = 30.0) -> Future[Cleaned]:
    options = CleanOptions(extract_timeout=timeout)
    return pool.submit(body, kind=None, declared_encoding=None, url=None, options=options)


def test_a_busy_worker_gets_its_next_input_ahead_and_results_keep_their_inputs() -> None:
    bodies = [
        SEED_ARTICLE.read_bytes().replace(b"2025", str(year).encode()) for year in range(8)
    ] + [nested(k) for k in range(4)]
    with CleanerPool(2) as pool:
        futures = [_submit(pool, body) for body in bodies]
        results = [f.result(timeout=60) for f in futures]
        assert pool.sent_ahead >= 4  # sent while the worker was still on the input before
    assert results == [clean(body) for body in bodies]


def test_inputs_queued_behind_a_page_killed_at_its_deadline_go_to_a_fresh_worker() -> None:
    good = SEED_ARTICLE.read_bytes()
    with WorkerCleaner() as cleaner:
        slow = _submit(cleaner, SLOW_PAGE, timeout=1.0)
        after = [_submit(cleaner, good), _submit(cleaner, nested(3))]
        with pytest.raises(Rejected) as rejected:
            slow.result(timeout=30)
        assert rejected.value.reason == EXTRACT_TIMEOUT
        assert [f.result(timeout=30) for f in after] == [clean(good), clean(nested(3))]
        assert cleaner.sent_ahead >= 1  # the first of them was in the killed worker's pipe
        assert cleaner.restarts == 1


def test_inputs_queued_behind_a_crash_go_to_a_fresh_worker() -> None:
    good = SEED_ARTICLE.read_bytes()
    with WorkerCleaner() as cleaner:
        _clean(cleaner, good)
        pid = cleaner.pid
        assert pid is not None
        doomed = _submit(cleaner, SLOW_PAGE)
        after = _submit(cleaner, good)
        killer = threading.Timer(0.5, os.kill, (pid, signal.SIGKILL))
        killer.start()
        with pytest.raises(CleanFailed) as failed:
            doomed.result(timeout=30)
        killer.join()
        assert failed.value.reason == CLEAN_CRASHED
        assert after.result(timeout=30) == clean(good)
        assert cleaner.sent_ahead >= 1 and cleaner.restarts == 1


def test_a_deadline_runs_from_when_the_worker_starts_on_the_input() -> None:
    """A fast page queued behind a one-second page has its whole deadline once its turn comes:
    counted from when it was sent, it would be killed."""
    with WorkerCleaner() as cleaner:
        _clean(cleaner, SEED_ARTICLE.read_bytes())  # the worker is up and warm
        first = _submit(cleaner, SECOND_PAGE)
        queued = _submit(cleaner, SEED_ARTICLE.read_bytes(), timeout=0.5)
        started = time.monotonic()
        first.result(timeout=30)
        assert time.monotonic() - started > 0.5  # the queued page waited past its deadline
        assert queued.result(timeout=30) == clean(SEED_ARTICLE.read_bytes())
        assert cleaner.sent_ahead == 1 and cleaner.restarts == 0


def test_inputs_too_big_for_the_pipe_together_are_not_sent_ahead() -> None:
    """A send that could block would stop the driver from watching the deadline: two inputs
    that do not fit the pipe together go one at a time, and both are cleaned."""
    filler = "<p>" + "Plenty of ordinary article text in this paragraph. " * 20 + "</p>"
    big = ("<html><body><article>" + filler * 700 + "</article></body></html>").encode()
    assert len(big) > PIPE_BYTES // 2
    with WorkerCleaner() as cleaner:
        futures = [_submit(cleaner, big), _submit(cleaner, big.replace(b"Plenty", b"Lots"))]
        assert all(f.result(timeout=60).entries for f in futures)
        assert cleaner.sent_ahead == 0


def test_closing_on_an_error_cancels_what_is_left_at_once() -> None:
    pool = CleanerPool(1)
    futures = [_submit(pool, SLOW_PAGE)] + [_submit(pool, nested(k)) for k in range(5)]
    time.sleep(0.5)  # the slow page is being cleaned, the next one waits in the pipe
    started = time.monotonic()
    pool.close(cancel=True)
    assert time.monotonic() - started < 8
    assert all(f.done() for f in futures)
    for future in futures:
        with pytest.raises(CancelledError):
            future.result(timeout=0)
    assert pool.pids == []


def test_a_worker_that_cannot_start_fails_its_input_and_the_next_one_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with WorkerCleaner() as cleaner:
        real = cleaner.ctx.Process

        def no_fork(*args: object, **kwargs: object) -> object:
            monkeypatch.setattr(cleaner.ctx, "Process", real)  # the next start works
            raise OSError(11, "Resource temporarily unavailable")

        monkeypatch.setattr(cleaner.ctx, "Process", no_fork)
        with pytest.raises(CleanFailed) as failed:
            _clean(cleaner, SEED_ARTICLE.read_bytes())
        assert failed.value.reason == CLEAN_CRASHED
        assert "could not start" in failed.value.detail
        assert _clean(cleaner, SEED_ARTICLE.read_bytes()) == clean(SEED_ARTICLE.read_bytes())


def test_an_input_submitted_while_the_pool_closes_is_still_cleaned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = CleanerPool(1)
    _clean(pool, SEED_ARTICLE.read_bytes())  # the driver is up
    real_put = pool.jobs.put

    def slow_put(item: object, *args: object, **kwargs: object) -> None:
        if item is not None:  # an input, not close()'s stop marker
            time.sleep(0.3)  # close() is called meanwhile
        real_put(item, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pool.jobs, "put", slow_put)
    futures: list[Future[Cleaned]] = []
    submitter = threading.Thread(target=lambda: futures.append(_submit(pool, nested(2))))
    submitter.start()
    time.sleep(0.1)
    pool.close()
    submitter.join()
    assert futures[0].result(timeout=30) == clean(nested(2))


def test_an_input_that_cannot_be_sent_fails_alone() -> None:
    with WorkerCleaner() as cleaner:
        good = _submit(cleaner, SECOND_PAGE)
        options = CleanOptions(extract_timeout=30.0)
        bad = cleaner.submit(
            b"<p>x</p>",
            kind=None,
            declared_encoding=None,
            url=None,
            options=options,
            fingerprint_with=lambda: None,  # type: ignore[arg-type]  # cannot be pickled
        )
        after = _submit(cleaner, nested(1))
        with pytest.raises(CleanFailed) as failed:
            bad.result(timeout=30)
        assert failed.value.reason == "clean_error" and "cannot be sent" in failed.value.detail
        assert good.result(timeout=30).entries
        assert after.result(timeout=30) == clean(nested(1))
