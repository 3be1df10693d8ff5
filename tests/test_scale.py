"""A load of 1,000 generated documents: memory flat (no per-document growth), progress shown."""

from __future__ import annotations

import gc
import os
import pty
import select
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from crawler.loaders import load
from tests.conftest import ROOT, check_ledger, query
from tests.gen import write_corpus


def _heap_without_bounded_caches() -> int:
    """Traced Python heap after emptying the libraries' bounded LRU caches and collecting garbage:
    what is left growing between two samples is per-document growth, not a cache filling up."""
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "")
        if name.startswith(("trafilatura", "htmldate", "justext", "courlan")):
            for attr in list(vars(module).values()):
                if callable(getattr(attr, "cache_clear", None)):
                    attr.cache_clear()
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


@pytest.mark.timeout(300)
def test_memory_is_flat_over_1000_documents(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 1000)
    samples: dict[int, int] = {}
    done = {"n": 0}

    def progress(step: int) -> None:  # called per stored batch
        done["n"] += step
        if done["n"] >= 100 and not tracemalloc.is_tracing():  # warmed up: models loaded
            tracemalloc.start()
        for mark in (200, 1000):
            if done["n"] >= mark and mark not in samples:
                samples[mark] = _heap_without_bounded_caches()

    try:
        # small transactions, so that progress comes in small steps to sample at
        report = load([str(corpus)], db_path=str(tmp_path / "m.db"), progress=progress, batch=20)
    finally:
        tracemalloc.stop()
    assert report.states == {"stored": 1000}
    growth = samples[1000] - samples[200]
    # 800 more documents of ~1.5 KB text each: keeping any per-document object (text, article,
    # outcome, ledger entry) would add far more than 64 KB.
    assert growth < 64_000, f"Python heap grew {growth} bytes between document 200 and 1000"
    assert query(tmp_path / "m.db", "SELECT count(*) FROM articles") == [(1000,)]
    check_ledger(tmp_path / "m.db")


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 30)
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "load", str(corpus), "--db", str(tmp_path / "p.db")],
        cwd=ROOT,
        stdin=child,
        stdout=child,
        stderr=child,
        close_fds=True,
    )
    os.close(child)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                data = os.read(main, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(main)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, screen
    assert "loading" in screen and "30/30" in screen
    assert "stored          30" in screen


def test_no_progress_bar_when_not_a_terminal(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 5)
    proc = subprocess.run(
        [sys.executable, "-m", "crawler.cli", "load", str(corpus), "--db", str(tmp_path / "q.db")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "stored           5" in proc.stdout
