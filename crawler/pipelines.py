"""Scrapy item pipeline: a thin adapter from spiders' RawPage items to the core path.

Spiders yield `RawPage` items; this pipeline runs them through `crawler.core.Ingest`, the same code
the file loader uses, and drops (with a per-reason DropItem subclass, so Scrapy counts drops by
reason) whatever did not become a new article.

A page is queued for the cleaning workers and awaited through its future, then handed to the run's
writer (its own thread: crawler/writer.py) and awaited again, so Scrapy's thread only fetches and
schedules while pages are cleaned and stored.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from cleaners.fingerprint import canonical_url
from crawler.core import Ingest
from crawler.extensions import CrawlRun
from crawler.items import RawPage
from crawler.writer import SENT
from db import failpoints
from db.validators import article_at
from db.vocabulary import HTTP, NOT_MODIFIED, Outcome


class Duplicate(DropItem):
    """The page's article was already stored (same URL, same text or a near-duplicate)."""


class Unchanged(DropItem):
    """The page was stored before and has not changed."""


class RejectedPage(DropItem):
    """The page cannot become an article (see the ledger's reason)."""


class FailedPage(DropItem):
    """Cleaning failed on this page; the ledger says why."""


class Repeated(DropItem):
    """The same URL was already recorded in this run."""


_DROPS = {
    "duplicate": Duplicate,
    "unchanged": Unchanged,
    "rejected": RejectedPage,
    "failed": FailedPage,
}


async def _outcomes(future: Future[list[Outcome]] | None) -> list[Outcome]:
    """Wait, without blocking the event loop, for the writer to commit an input."""
    return [] if future is None else await asyncio.wrap_future(future)


class StorePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.state = CrawlRun.of(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        state, ingest = self.state, self.state.ingest
        if not isinstance(item, RawPage) or ingest is None:
            return item
        if state.run is not None and state.run.error is not None:
            state.failed(state.run.error)
        if state.fatal:
            raise Repeated(f"not recorded, the database failed: {item.origin}")
        try:
            outcomes = await self._ingest(ingest, item)
        except Exception as exc:  # the writer stopped: the database failed
            state.failed(exc)
            raise FailedPage(f"not recorded, the database failed: {item.origin}") from None
        if not outcomes:
            raise Repeated(f"already recorded in this run: {item.origin}")
        if any(o.state in ("stored", SENT) for o in outcomes):
            return item
        first = outcomes[0]
        raise _DROPS[first.state](f"{first.state}: {first.reason or ''} {item.origin}".strip())

    async def _ingest(self, ingest: Ingest, item: RawPage) -> list[Outcome]:
        if item.status is not None and (
            item.status >= 400 or (300 <= item.status < 400 and item.status != 304)
        ):
            return await _outcomes(self._http_error(ingest, item))
        if item.status == 304:
            return await _outcomes(self._not_modified(ingest, item))
        if not ingest.admit(item):
            return []
        failpoints.hit("after_fetch")
        # Queued for cleaning here, in the order pages are admitted; the pool's drivers resolve
        # each worker's results in that order, and the loop resumes the waiting pages in the order
        # they were resolved, so with one worker the first admitted copy is stored first.
        pool = self.state.pool
        assert pool is not None  # open with the ingest
        try:
            cleaning = ingest.submit(item, self.state.options, pool)
            waiting = asyncio.wrap_future(cleaning)
            await asyncio.wait([waiting])
            if not waiting.cancelled():
                waiting.exception()  # read here (asyncio logs unread ones); `prepared` maps it
            prepared = ingest.prepared(item, cleaning)  # the worker computed the fingerprints
        except BaseException:  # cancelled with the crawl: no row, the next run fetches it
            ingest.abandon(item)
            raise
        failpoints.hit("after_extract")
        return await _outcomes(ingest.store(item, prepared))

    def _not_modified(self, ingest: Ingest, item: RawPage) -> Future[list[Outcome]] | None:
        """A 304 to our validators: unchanged, not cleaned; the revisit clock restarts."""
        url = canonical_url(item.url)
        reader = ingest.run.reader
        article_id = article_at(reader, url) if reader is not None else None
        return ingest.settle(
            item, "unchanged", NOT_MODIFIED, article_id=article_id, revalidated=url
        )

    def _http_error(self, ingest: Ingest, item: RawPage) -> Future[list[Outcome]] | None:
        """4xx: the page is not there (rejected); 5xx and 429: the site failed (retried next run);
        a 3xx that reached us is a redirect that could not be followed (no Location)."""
        status = item.status or 0
        state = "failed" if status >= 500 or status == 429 else "rejected"
        detail = f"HTTP {status} from {item.url}"
        if status < 400:
            detail += ": a redirect without a usable Location"
        return ingest.settle(item, state, f"{HTTP}{status}", detail)
