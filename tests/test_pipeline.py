"""The Scrapy item pipeline is a thin adapter: RawPage items go through the same core path."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy import Spider
from scrapy.utils.test import get_crawler

from crawler.extensions import CrawlRun
from crawler.items import RawPage
from crawler.pipelines import Duplicate, RejectedPage, Repeated, StorePipeline, Unchanged
from tests.conftest import check_ledger, query

BODY = "".join(
    f"<p>{p}</p>"
    for p in [
        "The harbour authority announced on Monday that the new ferry terminal will open next spring.",
        "Construction costs rose by a fifth over the original estimate, officials told reporters.",
        "Local businesses expect more visitors once the larger ships can dock in the town centre.",
    ]
)
HTML = f"<html><head><title>Ferry terminal</title></head><body><article><h1>Ferry terminal</h1>{BODY}<p>Share</p></article></body></html>"


def page(url: str, body: str = HTML) -> RawPage:
    return RawPage(
        origin=url, url=url, source="harbour", body=body.encode(), content_type="text/html"
    )


def _pipeline(
    db: Path, tmp_path: Path, workers: int = 0, batch: int = 256, linger: float = 0.1
) -> StorePipeline:
    crawler = get_crawler(
        Spider,
        {
            "CRAWLER_DB": str(db),
            "CRAWLER_SOURCES_FILE": str(tmp_path / "none.toml"),
            "CRAWLER_WORKERS": workers,
            "CRAWLER_STORE_BATCH": batch,
            "CRAWLER_STORE_LINGER": linger,
            "EXTENSIONS": {"crawler.extensions.CrawlRun": 0},
        },
    )
    crawler.spider = Spider(name="harbour")
    CrawlRun.of(crawler).spider_opened(crawler.spider)  # what Scrapy signals when it opens
    return StorePipeline.from_crawler(crawler)


def _close(pipeline: StorePipeline) -> None:
    """What Scrapy signals at the end of a crawl."""
    pipeline.state.spider_closed(pipeline.crawler.spider, "finished")


def _writer(pipeline: StorePipeline) -> Any:
    assert pipeline.state.run is not None
    return pipeline.state.run.writer


def run(pipeline: StorePipeline, item: Any) -> Any:
    return asyncio.run(pipeline.process_item(item))


def test_pipeline_stores_and_drops_by_reason(tmp_path: Path) -> None:
    db = tmp_path / "web.db"
    url = "https://news.example/harbour/ferry"
    first = _pipeline(db, tmp_path)
    assert run(first, page(url)) is not None
    with pytest.raises(Repeated):
        run(first, page(url))
    with pytest.raises(Duplicate, match="url"):
        run(first, page(url + "?utm_source=feed&utm_medium=rss"))
    with pytest.raises(Duplicate, match="content"):
        run(first, page("https://mirror.example/copy"))
    with pytest.raises(RejectedPage, match="empty"):
        run(first, page("https://news.example/empty", ""))
    assert run(first, {"not": "a page"}) == {"not": "a page"}
    _close(first)
    second = _pipeline(db, tmp_path)
    with pytest.raises(Unchanged):
        run(second, page(url))
    _close(second)

    rows = query(db, "SELECT run_id, state, reason FROM pages ORDER BY id")
    assert rows == [
        (1, "stored", None),
        (1, "duplicate", "url"),
        (1, "duplicate", "content"),
        (1, "rejected", "empty"),
        (2, "unchanged", "same_content"),
    ]
    (text,) = query(db, "SELECT text FROM articles")[0]
    assert "ferry terminal will open" in str(text) and "Share" not in str(text).splitlines()
    assert query(db, "SELECT source, status, stored, duplicates FROM runs") == [
        ("harbour", "finished", 1, 2),
        ("harbour", "finished", 0, 0),
    ]
    check_ledger(db)


@pytest.mark.timeout(60)
def test_pages_in_flight_together_are_stored_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cleaning runs off the event loop, so the same URL (or the same text) can be in flight twice
    at once: one is stored, the other is a repeat (or a duplicate), never stored twice. With one
    worker the first admitted wins; with several, the first whose cleaning finishes (a crawl's
    order is the order its responses arrive in anyway)."""
    db = tmp_path / "web.db"
    # the copies are stored in one group commit: its order must be the order of their cleaning
    pipeline = _pipeline(db, tmp_path, workers=1, linger=1.0)
    url = "https://news.example/harbour/ferry"

    async def together() -> list[Any]:
        items = [page(url), page(url), page("https://mirror.example/copy")]
        return await asyncio.gather(
            *(pipeline.process_item(i) for i in items), return_exceptions=True
        )

    results = asyncio.run(together())
    _close(pipeline)
    assert isinstance(results[0], RawPage)
    assert isinstance(results[1], Repeated) and isinstance(results[2], Duplicate)
    assert query(db, "SELECT origin, state, reason FROM pages ORDER BY id") == [
        (url, "stored", None),
        ("https://mirror.example/copy", "duplicate", "content"),
    ]
    check_ledger(db)


def test_an_article_request_that_ends_without_a_row_is_recorded_dropped(tmp_path: Path) -> None:
    """The safety net: LedgerNetMiddleware remembers every article request; when the crawl
    finishes, one that no component recorded is `failed` / `dropped` (retried next run), and
    those that were recorded (here: stored, and a page split under origin#1) are left alone."""
    from scrapy import Request

    from crawler.middlewares import LedgerNetMiddleware, is_article_request

    db = tmp_path / "web.db"
    pipeline = _pipeline(db, tmp_path)
    net = LedgerNetMiddleware.from_crawler(pipeline.crawler)
    spider = pipeline.crawler.spider
    stored = "https://news.example/harbour/ferry"
    lost = "https://news.example/harbour/lost"

    class Articles(Spider):
        name = "harbour"

        def parse_article(self, response: Any) -> None:
            pass

    articles = Articles()
    for url in (stored, lost):
        request = Request(url, callback=articles.parse_article)
        assert is_article_request(request)
        net.process_request(request, spider)
    listing = Request("https://news.example/harbour/", callback=articles.parse)
    assert not is_article_request(listing)
    net.process_request(listing, spider)
    assert run(pipeline, page(stored)) is not None
    _close(pipeline)
    rows = query(db, "SELECT origin, state, reason FROM pages ORDER BY id")
    assert rows == [(stored, "stored", None), (lost, "failed", "dropped")]
    check_ledger(db)


def test_with_several_workers_copies_in_flight_are_still_stored_once(tmp_path: Path) -> None:
    db = tmp_path / "web.db"
    pipeline = _pipeline(db, tmp_path, workers=3)
    urls = [f"https://mirror{i}.example/copy" for i in range(6)]

    async def together() -> list[Any]:
        return await asyncio.gather(
            *(pipeline.process_item(page(u)) for u in urls), return_exceptions=True
        )

    results = asyncio.run(together())
    _close(pipeline)
    assert sum(isinstance(r, RawPage) for r in results) == 1
    assert sum(isinstance(r, Duplicate) for r in results) == 5
    assert query(db, "SELECT count(*) FROM articles") == [(1,)]
    check_ledger(db)


def _distinct(n: int) -> list[RawPage]:
    """n pages with texts far apart (no near-duplicates)."""
    words = ["harbour", "ferry", "council", "budget", "school", "rail", "market", "storm"]
    pages = []
    for i in range(n):
        text = " ".join(
            f"{words[(i + k) % 8]}{(k * 7919 + i * 104729) % 100003}" for k in range(60)
        )
        body = f"<html><body><article><h1>Story {i}</h1><p>{text}.</p></article></body></html>"
        pages.append(page(f"https://news.example/story/{i}", body))
    return pages


@pytest.mark.timeout(60)
@pytest.mark.parametrize("batch", [256, 2, 1])
def test_pages_cleaned_together_are_stored_by_group_commit(
    tmp_path: Path, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages whose cleaning ends together share a store transaction (at most CRAWLER_STORE_BATCH
    of them); each item still gets its own outcome, and the ledger is whole."""
    db = tmp_path / "web.db"
    # a wide window, so that a slow machine cannot finish the pages too far apart to group; with a
    # small batch, flushes come from its size alone
    linger = 1.0 if batch == 256 else 30.0
    pipeline = _pipeline(db, tmp_path, workers=2, batch=batch, linger=linger)
    transactions: list[int] = []
    writer = _writer(pipeline)
    commit_group = writer.commit_group

    def counted(group: list[Any]) -> list[Any]:
        transactions.append(len(group))
        return commit_group(group)  # type: ignore[no-any-return]

    monkeypatch.setattr(writer, "commit_group", counted)
    items = [replace(i, etag=f'"v{n}"') for n, i in enumerate(_distinct(6))]

    async def together() -> list[Any]:
        return await asyncio.gather(*(pipeline.process_item(i) for i in items))

    results = asyncio.run(together())
    _close(pipeline)
    assert results == items  # every page stored, each item passed on
    assert sum(transactions) == 6 and max(transactions) <= batch
    assert len(transactions) == {1: 6, 2: 3}.get(batch, len(transactions))
    if batch == 256:
        assert len(transactions) < 6  # pages shared a transaction
    assert query(db, "SELECT count(*) FROM articles") == [(6,)]
    # the validators for the next revisit, kept for every stored page, one transaction per group
    assert query(db, "SELECT count(*) FROM http_validators") == [(6,)]
    check_ledger(db)


@pytest.mark.timeout(60)
def test_a_failed_group_commit_fails_every_page_in_it_and_stops_the_crawl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from crawler.pipelines import FailedPage

    db = tmp_path / "web.db"
    pipeline = _pipeline(db, tmp_path, workers=2)

    def full(group: list[Any]) -> list[Any]:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(_writer(pipeline), "commit_group", full)
    # this harness runs no engine: one with no open spider, so there is nothing to close
    pipeline.crawler.engine = SimpleNamespace(spider=None)  # type: ignore[assignment]
    items = _distinct(3)

    async def together() -> list[Any]:
        return await asyncio.gather(
            *(pipeline.process_item(i) for i in items), return_exceptions=True
        )

    results = asyncio.run(together())
    assert all(isinstance(r, FailedPage) for r in results), results
    assert pipeline.state.fatal  # the crawl stops, and says why
    monkeypatch.undo()
    _close(pipeline)
    assert query(db, "SELECT count(*) FROM articles") == [(0,)]
    assert query(db, "SELECT status FROM runs") == [("failed",)]


@pytest.mark.timeout(60)
def test_validators_that_cannot_be_kept_stop_the_crawl_but_leave_the_pages_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ETag / Last-Modified cache is written after the group's transaction: if that write
    fails, the pages are still stored (and reported so), and the crawl stops on the error."""
    import sqlite3

    db = tmp_path / "web.db"
    pipeline = _pipeline(db, tmp_path, workers=2)

    def full(*_args: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr("crawler.writer.remember_validators", full)
    # this harness runs no engine: one with no open spider, so there is nothing to close
    pipeline.crawler.engine = SimpleNamespace(spider=None)  # type: ignore[assignment]
    items = [replace(i, etag=f'"v{n}"') for n, i in enumerate(_distinct(3))]

    async def together() -> list[Any]:
        return await asyncio.gather(*(pipeline.process_item(i) for i in items))

    assert asyncio.run(together()) == items
    _close(pipeline)
    assert pipeline.state.fatal
    assert query(db, "SELECT count(*) FROM articles") == [(3,)]
    assert query(db, "SELECT status FROM runs") == [("failed",)]
    check_ledger(db)
