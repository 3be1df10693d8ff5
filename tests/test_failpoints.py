"""Crashes at named moments (db/failpoints.py): after fetch, after extraction, inside the store
transaction before its commit, right after the commit. Each kills the real process with SIGKILL;
the rerun must finish the work with nothing lost and nothing stored twice. Also: hostile metadata
cannot change the schema."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from db.connect import connect
from db.failpoints import POINTS
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


# articles committed, at most, when the 10th input reaches the point; exactly, for the store's
# points with one input per transaction (inputs read ahead of the store may be fewer)
COMMITTED_AT_10 = {"after_fetch": 9, "after_extract": 9, "before_commit": 9, "after_commit": 10}
EXACT = ("before_commit", "after_commit")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("batched", [False, True], ids=["one-per-transaction", "batched"])
@pytest.mark.parametrize("point", POINTS)
def test_a_load_killed_at_each_fail_point_loses_and_duplicates_nothing(
    tmp_path: Path, point: str, batched: bool
) -> None:
    """One input per transaction (`--batch 1`, one worker): killed in the store, exactly the
    inputs before the crash are stored. Batched with two workers: the batch in flight is lost
    whole, never in part. Either way the rerun stores every input once."""
    corpus = write_corpus(tmp_path / "corpus", 30)
    db = tmp_path / "crash.db"
    how = ("--workers", "2") if batched else ("--batch", "1", "--workers", "1")
    # `after_commit` is reached once per transaction: batched, kill after the first one
    nth = 1 if batched and point == "after_commit" else 10
    killed = _run("load", str(corpus), "--db", str(db), *how, failpoint=f"{point}:{nth}")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (committed,) = query(db, "SELECT count(*) FROM articles")[0]
    if nth == 1:
        assert 1 <= int(str(committed)) <= 30  # the committed batch stays
    elif batched or point not in EXACT:
        assert 0 <= int(str(committed)) <= COMMITTED_AT_10[point]
    else:
        assert committed == COMMITTED_AT_10[point]
    check_ledger(db)  # a crash inside the transaction left no partial unit
    rerun = _run("load", str(corpus), "--db", str(db), *how)
    assert rerun.returncode == 0, rerun.stderr
    assert query(db, "SELECT count(*) FROM articles") == [(30,)]
    assert query(db, "SELECT count(*) FROM pages WHERE state = 'stored'") == [(30,)]
    assert query(db, "SELECT status FROM runs ORDER BY id") == [("interrupted",), ("finished",)]
    check_ledger(db)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("batched", [False, True], ids=["one-per-transaction", "group-commit"])
def test_a_crawl_killed_inside_a_store_transaction_is_finished_by_the_next_crawl(
    tmp_path: Path, batched: bool
) -> None:
    """One page per transaction (`-s CRAWLER_STORE_BATCH=1`): killed in the second transaction,
    the first page stays stored. By group commit, the kill comes after the second page written in
    a transaction (the first group's second page, or the second group's first): the transaction in
    flight is lost whole, never in part. Either way the rerun stores every article once."""
    db = tmp_path / "crawl-crash.db"
    with serve() as site:
        crawl = ("crawl", f"{site.base}/", "--allow-private", "127.0.0.1", "--db", str(db))
        how = () if batched else ("-s", "CRAWLER_STORE_BATCH=1")
        killed = _run(*crawl, *how, failpoint="before_commit:2")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        (committed,) = query(db, "SELECT count(*) FROM articles")[0]
        if batched:
            assert 0 <= int(str(committed)) <= 1
        else:
            assert committed == 1
        check_ledger(db)
        rerun = _run(*crawl, *how)
    assert rerun.returncode == 0, rerun.stderr
    assert query(db, "SELECT count(*) FROM articles") == [(len(ARTICLES),)]
    assert query(db, "SELECT status FROM runs ORDER BY id") == [("interrupted",), ("finished",)]
    check_ledger(db)


def test_hostile_metadata_keys_and_values_cannot_change_the_schema(tmp_path: Path) -> None:
    """Metadata lands in fixed columns and one JSON column, bound as parameters: names and values
    that look like SQL or column names change nothing but their own row."""
    hostile = "x'); DROP TABLE articles; --"
    jsonld = (
        '{"@type": "NewsArticle", "headline": "' + hostile + '", "author": {"name": "'
        + hostile + '"}, "datePublished": "2025-01-02T03:04:05Z", "id); DROP TABLE pages; --": 1,'
        ' "articleSection": "\\" , \\"metadata\\": \\"pwned"}'
    )  # fmt: skip
    page = (
        "<html><head><title>" + hostile + "</title>"
        '<meta name="author" content="' + hostile.replace("'", "&#39;") + '">'
        '<meta property="article:section" content="); ALTER TABLE articles ADD COLUMN pwned;">'
        '<script type="application/ld+json">' + jsonld + "</script></head><body><article>"
        + "<p>A paragraph of real article text that is long enough to be kept by the cleaner.</p>" * 4
        + "</article></body></html>"
    )  # fmt: skip
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "hostile.html").write_text(page, "utf-8")
    db = tmp_path / "hostile.db"
    before = _schema(tmp_path / "empty.db")
    result = _run("load", str(folder), "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert _schema(db) == before  # no table, column, index or trigger added, changed or dropped
    assert query(db, "SELECT count(*) FROM articles") == [(1,)]
    title, author = query(db, "SELECT title, author FROM articles")[0]
    assert "DROP TABLE" in str(title) or "DROP TABLE" in str(author)  # kept as plain data
    check_ledger(db)


def _schema(db: Path) -> list[tuple[object, ...]]:
    """The whole schema; a new database is created the way every command creates one."""
    if not db.exists():
        connect(db).close()
    return query(db, "SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
