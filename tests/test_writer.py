"""The run's one writer: what goes wrong with one input stays with that input, a signal during
the close waits for the run to be closed, and a producer that waits is never made to wait for
the writer's linger on top."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler.config import dedup_config
from crawler.run import Run
from crawler.writer import Work
from db.store import Unit
from db.vocabulary import Article, Outcome
from tests.conftest import ROOT, check_ledger, query
from tests.gen import write_corpus


def _article(key: str) -> Unit:
    text = f"Article {key}: " + " ".join(f"w{hash((key, k)) % 100003}" for k in range(60))
    article = Article(
        url=f"https://x.example/{key}", origin=key, source="t", text=text,
        content_hash=f"hash-{key}", metadata={"dedup": "exact_only"},  # no signature here
    )  # fmt: skip
    return Unit(articles=[article])


def test_an_input_whose_unit_cannot_be_built_fails_alone(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    run = Run(str(db), "t", "test", dedup_config(), linger=0.5).open()

    def broken() -> Unit:
        raise ValueError("a fingerprint that cannot be computed")

    futures = []
    for key in ("a", "b", "c"):
        run.writer.reserve(key)
        make = broken if key == "b" else (lambda k=key: _article(k))
        futures.append(run.writer.submit(Work(key, f"https://x.example/{key}", "t", make)))
    outcomes = [f.result(timeout=30) for f in futures]
    run.close("finished")
    assert [o[0].state for o in outcomes] == ["stored", "failed", "stored"]
    assert outcomes[1][0].reason == "clean_error"
    assert query(db, "SELECT status FROM runs") == [("finished",)]
    check_ledger(db)


def test_a_unit_delivered_twice_is_stored_once_in_its_jobs_run(tmp_path: Path) -> None:
    """A cluster result may be delivered again (at-least-once): in the same group or a later one,
    it is recognised by its name in its job's run and skipped, with no outcome; the same name in
    another job's run is another input."""
    from crawler.report import RunReport
    from db.connect import connect
    from db.runs import job_run

    db = tmp_path / "j.db"
    run = Run(str(db), "cluster", "test", dedup_config(), linger=0.2).open()
    other = connect(str(db), migrate=False)
    jobs = [RunReport(source="t", run_id=job_run(other, j, "t", "job")) for j in "AB"]
    other.close()
    deliveries = [(jobs[0], "a"), (jobs[0], "a"), (jobs[0], "b"), (jobs[1], "a")]
    futures = [
        run.writer.submit(Work(k, None, "t", lambda k=k: _article(k), report=r, once=True))
        for r, k in deliveries
    ]
    first = [f.result(timeout=30) for f in futures]
    again = run.writer.submit(
        Work("b", None, "t", lambda: _article("b"), report=jobs[0], once=True)
    ).result(timeout=30)
    run.close("finished")
    assert [len(o) for o in first] == [1, 0, 1, 1] and again == []
    assert [o[0].state for o in first if o] == ["stored", "stored", "unchanged"]
    rows = query(db, "SELECT run_id, origin FROM pages ORDER BY run_id, origin")
    a, b = jobs[0].run_id, jobs[1].run_id
    assert rows == [(a, "a"), (a, "b"), (b, "a")]
    check_ledger(db)


def close_with_a_signal(db: str) -> None:
    """In a fresh process (tests/test_writer.py runs it): a SIGINT comes while the run's close
    waits for the writer's last group; the close finishes first, then Python's own handler runs.
    Prints what happened, for the test to read. No timing is assumed: the writer's group sends the
    signal once the close has taken the signals over, and only then commits."""
    # Python's own handler, whatever this process inherited: a shell that starts a job in the
    # background starts it with SIGINT ignored, and Python then leaves it ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    python_handler = signal.getsignal(signal.SIGINT)
    run = Run(db, "t", "test", dedup_config(), linger=0.0).open()
    real = run.writer.commit_group

    def slow(units: list[Unit]) -> list[list[Outcome]]:
        deadline = time.monotonic() + 30
        while signal.getsignal(signal.SIGINT) is python_handler:  # until the close defers it
            assert time.monotonic() < deadline, "the close never took the signals over"
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # the close is waiting for this group when the signal comes
        return real(units)

    run.writer.commit_group = slow  # type: ignore[method-assign]
    run.writer.reserve("a")
    run.writer.submit(Work("a", "https://x.example/a", "t", lambda: _article("a")))
    try:
        run.close("finished")
    except KeyboardInterrupt:
        print("KeyboardInterrupt after the close", flush=True)
        return
    print("no KeyboardInterrupt", flush=True)


@pytest.mark.timeout(60)
def test_a_signal_during_the_close_waits_until_the_run_is_closed(tmp_path: Path) -> None:
    """Run in its own process, so that no handler another test installed in this one is met."""
    db = tmp_path / "s.db"
    code = f"from tests.test_writer import close_with_a_signal; close_with_a_signal({str(db)!r})"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=50
    )
    assert done.stdout.strip() == "KeyboardInterrupt after the close", done.stderr
    assert query(db, "SELECT status FROM runs") == [("finished",)]
    assert query(db, "SELECT count(*) FROM articles") == [(1,)]
    check_ledger(db)


@pytest.mark.timeout(120)
def test_a_load_does_not_wait_for_the_linger_when_it_waits_for_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loader waits for its oldest input's transaction when its window is full: the writer
    stores at once then, instead of lingering for inputs that cannot come. Measured against the
    same load with no linger, in the same test."""
    from crawler import loaders, settings

    corpus = write_corpus(tmp_path / "corpus", 40)

    def timed(linger: float, name: str) -> float:
        monkeypatch.setattr(settings, "CRAWLER_STORE_LINGER", linger)
        monkeypatch.setattr("crawler.run.settings.CRAWLER_STORE_LINGER", linger)
        started = time.monotonic()
        report = loaders.load([str(corpus)], db_path=str(tmp_path / f"{name}.db"), workers=1)
        assert report.inputs == 40
        return time.monotonic() - started

    baseline = timed(0.0, "none")
    lingering = timed(3.0, "long")  # 40 inputs, windows of 12: three stalls of 3 s before
    assert lingering < baseline + 3.0, (baseline, lingering)
