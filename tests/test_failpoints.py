"""Crashes at named moments (crawler/failpoints.py): after fetch, after extraction, inside the store
transaction before its commit, right after the commit. Each kills the real process with SIGKILL;
the rerun must finish the work with nothing lost and nothing stored twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.failpoints import POINTS
from tests.conftest import ROOT, check_ledger, query
from tests.gen import write_corpus
from tests.site import ARTICLES, serve


def _run(*args: str, failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CRAWLER_FAILPOINT"}
    if failpoint:
        env["CRAWLER_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, "-m", "crawler.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


# articles committed when the 10th input reaches the point
COMMITTED_AT_10 = {"after_fetch": 9, "after_extract": 9, "before_commit": 9, "after_commit": 10}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("point", POINTS)
def test_a_load_killed_at_each_fail_point_loses_and_duplicates_nothing(
    tmp_path: Path, point: str
) -> None:
    corpus = write_corpus(tmp_path / "corpus", 30)
    db = tmp_path / "crash.db"
    killed = _run("load", str(corpus), "--db", str(db), failpoint=f"{point}:10")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert query(db, "SELECT count(*) FROM articles") == [(COMMITTED_AT_10[point],)]
    check_ledger(db)  # a crash inside the transaction left no partial unit
    rerun = _run("load", str(corpus), "--db", str(db))
    assert rerun.returncode == 0, rerun.stderr
    assert query(db, "SELECT count(*) FROM articles") == [(30,)]
    assert query(db, "SELECT count(*) FROM pages WHERE state = 'stored'") == [(30,)]
    assert query(db, "SELECT status FROM runs ORDER BY id") == [("interrupted",), ("finished",)]
    check_ledger(db)


@pytest.mark.timeout(240)
def test_a_crawl_killed_inside_a_store_transaction_is_finished_by_the_next_crawl(
    tmp_path: Path,
) -> None:
    db = tmp_path / "crawl-crash.db"
    with serve() as site:
        crawl = ("crawl", f"{site.base}/", "--allow-private", "127.0.0.1", "--db", str(db))
        killed = _run(*crawl, failpoint="before_commit:2")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert query(db, "SELECT count(*) FROM articles") == [(1,)]
        check_ledger(db)
        rerun = _run(*crawl)
    assert rerun.returncode == 0, rerun.stderr
    assert query(db, "SELECT count(*) FROM articles") == [(len(ARTICLES),)]
    assert query(db, "SELECT status FROM runs ORDER BY id") == [("interrupted",), ("finished",)]
    check_ledger(db)
