"""Scrapy item pipeline: a thin adapter from spiders' RawPage items to the core path.

Spiders yield `RawPage` items; this pipeline runs them through `crawler.core.Ingest`, the same code
the file loader uses, and drops (with a per-reason DropItem subclass, so Scrapy counts drops by
reason) whatever did not become a new article.

A page is queued for the cleaning workers and awaited through its future, so the event loop goes
on downloading while it is cleaned; admitting a page and storing it happen on the event loop's
thread, the one thread that touches the database. Pages are stored by group commit: the pages whose
cleaning ends within GATHER_SECONDS of a first one share its transaction (at most
CRAWLER_STORE_BATCH of them), so a fast crawl writes in batches while a slow one still stores each
page as soon as it is cleaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from dataclasses import replace
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings
from scrapy.utils.defer import _schedule_coro
from sqlite_utils import Database

from cleaners.clean import CleanOptions
from cleaners.fingerprint import canonical_url
from cleaners.worker import CleanerPool, default_workers
from crawler import failpoints
from crawler import settings as project_settings
from crawler.config import dedup_config, default_options, load_sources, worker_memory_limit
from crawler.core import Ingest, Prepared
from crawler.items import RawPage, utcnow_iso
from crawler.middlewares import DATABASE_ERROR, database_failed
from crawler.report import RunReport
from db.connect import DatabaseError, connect, describe_error, write_transaction
from db.dedup import ConfigMismatch, check_config
from db.locks import SourceBusy, source_lock
from db.runs import close_report, start_run
from db.store import Outcome

log = logging.getLogger(__name__)
DROPPED = "dropped"
# How long the first cleaned page of a transaction waits for others to join it. Short: a page's
# response is held (and counts against Scrapy's scraper memory) until its item is stored.
GATHER_SECONDS = 0.05


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


def remember_validators(db: Database, pages: list[RawPage]) -> None:
    """Keep the pages' ETag / Last-Modified for the next crawl's conditional requests (one
    transaction for all)."""
    if not pages:
        return
    now = utcnow_iso()
    with write_transaction(db):
        db.conn.executemany(
            """INSERT INTO http_validators(url, etag, last_modified, fetched_at) VALUES (?, ?, ?, ?)
               ON CONFLICT(url) DO UPDATE SET etag = excluded.etag,
                   last_modified = excluded.last_modified, fetched_at = excluded.fetched_at""",
            [(canonical_url(p.url), p.etag, p.last_modified, now) for p in pages],
        )


def cleaning_options(settings: BaseSettings, options: CleanOptions) -> CleanOptions:
    """The source's cleaning options, with the size cap and deadline given on the command line
    (`-s CRAWLER_MAX_INPUT_BYTES=...`, `-s CRAWLER_EXTRACT_TIMEOUT=...`) taking precedence."""
    cmdline = SETTINGS_PRIORITIES["cmdline"]
    if (settings.getpriority("CRAWLER_MAX_INPUT_BYTES") or 0) >= cmdline:
        options = replace(options, max_bytes=settings.getint("CRAWLER_MAX_INPUT_BYTES"))
    if (settings.getpriority("CRAWLER_EXTRACT_TIMEOUT") or 0) >= cmdline:
        options = replace(options, extract_timeout=settings.getfloat("CRAWLER_EXTRACT_TIMEOUT"))
    return options


class StorePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.db_path = settings.get("CRAWLER_DB")
        self.sources_file = settings.get("CRAWLER_SOURCES_FILE")
        self.near = settings.getbool("DEDUP_ENABLED", True)
        self.ingest: Ingest | None = None
        self.options: CleanOptions = default_options()
        self.workers = settings.getint("CRAWLER_WORKERS") or default_workers()
        self.pool: CleanerPool | None = None
        self.lock = contextlib.ExitStack()  # the source's run lock, held from open to close
        self.batch_size = max(
            1, settings.getint("CRAWLER_STORE_BATCH", project_settings.CRAWLER_STORE_BATCH)
        )
        # cleaned pages waiting for their transaction, each with the future its item awaits
        self.batch: list[tuple[RawPage, Prepared, asyncio.Future[list[Outcome]]]] = []
        self.flush_timer: asyncio.TimerHandle | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        pipeline = cls(crawler)
        # the run is closed when the spider is, with Scrapy's reason ("shutdown" = Ctrl-C/SIGTERM)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        spider = self.crawler.spider
        name = spider.name if spider is not None else "web"
        source = getattr(spider, "source", None) or load_sources(self.sources_file).get(name)
        if source is not None:
            self.options = source.clean
        self.options = cleaning_options(self.crawler.settings, self.options)
        config = dedup_config(self.crawler.settings)
        try:
            self.lock.enter_context(source_lock(self.db_path, name))
        except SourceBusy as exc:
            return self._refuse("busy", str(exc))
        except OSError as exc:  # the lock folder beside the database cannot be written
            return self._refuse("fatal", f"cannot take the run lock beside {self.db_path}: {exc}")
        try:
            db = connect(self.db_path)
            check_config(db, config, self.db_path)
            report = RunReport(source=name)
            report.run_id = start_run(db, name, f"crawl {name}")
        except (DatabaseError, ConfigMismatch) as exc:
            return self._refuse("fatal", str(exc))
        except sqlite3.Error as exc:
            return self._refuse("fatal", describe_error(exc, self.db_path))
        self.crawler.run_report = report  # type: ignore[attr-defined]  # read by `crawler crawl`
        megabytes = self.crawler.settings.getint("CRAWLER_WORKER_MEMORY_MB")
        self.pool = CleanerPool(self.workers, memory_limit=worker_memory_limit(megabytes))
        self.ingest = Ingest(db, report, config, near=self.near)
        self.crawler.ingest = self.ingest  # type: ignore[attr-defined]  # the address policy records refusals

    def _refuse(self, attribute: str, message: str) -> None:
        """The run cannot start (its source is busy, its database cannot be written): nothing is
        recorded, the crawl closes at once, and `crawler crawl` prints `message` as its error."""
        setattr(self.crawler, attribute, message)
        reason = "source_busy" if attribute == "busy" else DATABASE_ERROR
        if self.crawler.engine is not None:
            _schedule_coro(self.crawler.engine.close_spider_async(reason=reason))

    async def process_item(self, item: Any) -> Any:
        ingest = self.ingest
        if not isinstance(item, RawPage) or ingest is None:
            return item
        if getattr(self.crawler, "fatal", None):
            raise Repeated(f"not recorded, the database failed: {item.origin}")
        try:
            outcomes = await self._ingest(ingest, item)
        except sqlite3.Error as exc:
            database_failed(self.crawler, exc)
            raise FailedPage(f"not recorded, the database failed: {item.origin}") from None
        if not outcomes:
            raise Repeated(f"already recorded in this run: {item.origin}")
        if any(o.state == "stored" for o in outcomes):
            return item
        first = outcomes[0]
        raise _DROPS[first.state](f"{first.state}: {first.reason or ''} {item.origin}".strip())

    async def _ingest(self, ingest: Ingest, item: RawPage) -> list[Outcome]:
        if item.status is not None and (
            item.status >= 400 or (300 <= item.status < 400 and item.status != 304)
        ):
            return self._http_error(item)
        if item.status == 304:
            return self._not_modified(item)
        if not ingest.admit(item):
            return []
        failpoints.hit("after_fetch")
        # Queued for cleaning here, in the order pages are admitted; the pool's drivers resolve
        # each worker's results in that order, and the loop resumes the waiting pages in the order
        # they were resolved, so with one worker the first admitted copy is stored first.
        assert self.pool is not None  # open with the ingest
        cleaning = ingest.submit(item, self.options, self.pool)
        waiting = asyncio.wrap_future(cleaning)
        await asyncio.wait([waiting])
        if not waiting.cancelled():
            waiting.exception()  # read here (asyncio logs unread ones); `prepared` maps it
        prepared = ingest.prepared(item, cleaning)  # the worker computed the fingerprints
        failpoints.hit("after_extract")
        return await self._commit(item, prepared)

    async def _commit(self, item: RawPage, prepared: Prepared) -> list[Outcome]:
        """Store the cleaned page in the next group commit and wait for its outcomes. The group's
        order is the order its pages finished cleaning, as when each was stored on its own."""
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[list[Outcome]] = loop.create_future()
        self.batch.append((item, prepared, stored))
        if len(self.batch) >= self.batch_size:
            self._flush()
        elif self.flush_timer is None:
            self.flush_timer = loop.call_later(GATHER_SECONDS, self._flush)
        return await stored

    def _flush(self) -> Exception | None:
        """Store the waiting pages in one transaction and hand each its outcomes, or the error
        when the transaction failed (then none of them is stored; the error is also returned).
        The HTTP validators of the stored pages follow in one more transaction: a cache for the
        next revisit, whose failure stops the crawl but leaves the pages stored."""
        if self.flush_timer is not None:
            self.flush_timer.cancel()
            self.flush_timer = None
        batch, self.batch = self.batch, []
        if not batch or self.ingest is None:
            return None
        try:
            results = self.ingest.commit_many([(page, prepared) for page, prepared, _ in batch])
        except Exception as exc:
            for _page, _prepared, stored in batch:
                if not stored.done():  # done: its item was cancelled meanwhile
                    stored.set_exception(exc)
            return exc
        log.debug("stored %d page(s) in one transaction", len(batch))
        for (_page, _prepared, stored), outcomes in zip(batch, results, strict=True):
            if not stored.done():
                stored.set_result(outcomes)
        revisit = [
            page
            for (page, _prepared, _stored), outcomes in zip(batch, results, strict=True)
            if (page.etag or page.last_modified) and any(o.article_id is not None for o in outcomes)
        ]
        try:
            remember_validators(self.ingest.db, revisit)
        except sqlite3.Error as exc:
            database_failed(self.crawler, exc)
            return exc
        return None

    def _not_modified(self, item: RawPage) -> list[Outcome]:
        """A 304 to our validators: unchanged, not cleaned; the revisit clock restarts."""
        assert self.ingest is not None
        url = canonical_url(item.url)
        with write_transaction(self.ingest.db):
            self.ingest.db.execute(
                "UPDATE http_validators SET fetched_at = ? WHERE url = ?", [utcnow_iso(), url]
            )
        row = self.ingest.db.execute("SELECT id FROM articles WHERE url = ?", [url]).fetchone()
        return self.ingest.settle(
            item, "unchanged", "not_modified", article_id=row[0] if row else None
        )

    def _http_error(self, item: RawPage) -> list[Outcome]:
        """4xx: the page is not there (rejected); 5xx and 429: the site failed (retried next run);
        a 3xx that reached us is a redirect that could not be followed (no Location)."""
        assert self.ingest is not None
        status = item.status or 0
        state = "failed" if status >= 500 or status == 429 else "rejected"
        detail = f"HTTP {status} from {item.url}"
        if status < 400:
            detail += ": a redirect without a usable Location"
        return self.ingest.settle(item, state, f"http_{status}", detail)

    def _settle_dropped(self, ingest: Ingest) -> None:
        """Article requests that ended without any ledger row (see LedgerNetMiddleware)."""
        origins: dict[str, str] = getattr(self.crawler, "article_origins", {})
        name = ingest.report.source
        for origin, url in origins.items():
            if ingest.db.execute(
                "SELECT 1 FROM pages WHERE run_id = ? AND origin IN (?, ?)",
                [ingest.report.run_id, origin, origin + "#1"],  # #1: a page split into entries
            ).fetchone():
                continue
            page = RawPage(origin=origin, url=url, source=name, body=b"")
            if ingest.settle(page, "failed", DROPPED, "the request ended without a result"):
                log.warning("no result for %s: recorded failed / %s", origin, DROPPED)

    def close_spider(self) -> None:
        """Every page has been through `process_item`: the cleaning workers can stop."""
        if self.pool is not None:
            self.pool.close()

    def spider_closed(self, spider: Any, reason: str) -> None:
        status = "interrupted" if reason == "shutdown" else "finished"
        if getattr(self.crawler, "fatal", None):
            status = "failed"
        with self.lock:
            if self.ingest is None:
                return
            if self.pool is not None:
                self.pool.close()
            failed = self._flush()  # normally nothing waits by now: every item has been stored
            if isinstance(failed, sqlite3.Error):
                if not getattr(self.crawler, "fatal", None):  # `crawler crawl` prints it
                    self.crawler.fatal = describe_error(failed, self.db_path)  # type: ignore[attr-defined]
                    log.error("%s", self.crawler.fatal)  # type: ignore[attr-defined]
                status = "failed"
            report = self.ingest.report
            stats = self.crawler.stats
            if stats is not None:
                report.fetched = int(stats.get_value("response_received_count", 0) or 0)
            try:
                if status == "finished":
                    self._settle_dropped(self.ingest)
                close_report(self.ingest.db, report, status)
            except sqlite3.Error as exc:
                database_failed(self.crawler, exc)
                with contextlib.suppress(sqlite3.Error):  # perhaps the space is back by now
                    close_report(self.ingest.db, report, "failed")
            finally:
                self.ingest.db.close()
