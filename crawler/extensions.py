"""The crawl's run, as a Scrapy extension: found by every component with
`crawler.get_extension(CrawlRun)`, never hung on the Crawler object.

It opens the run when the spider opens (the source's lock, the database, the writer, the cleaning
pool) and closes it when the spider closes, with Scrapy's reason (`shutdown`: Ctrl-C or SIGTERM,
the run is `interrupted`). A run that cannot start (its source is busy, its database cannot be
used) closes the spider at once with nothing recorded, and says why in `refused`. A database that
fails during the crawl stops it: `fatal` holds the one line for people; what was committed stays.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from typing import Any, cast

from scrapy import Request, Spider, signals
from scrapy.core.engine import ExecutionEngine
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, IgnoreRequest
from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings
from scrapy.utils.defer import deferred_from_coro

from cleaners.clean import CleanOptions
from cleaners.worker import CleanerPool, default_workers
from crawler import settings as defaults
from crawler.config import dedup_config, default_options, load_sources, worker_memory_limit
from crawler.core import Ingest
from crawler.items import RawPage
from crawler.report import RunReport
from crawler.run import Run
from db.connect import DatabaseError, describe_error
from db.dedup import ConfigMismatch
from db.locks import SourceBusy
from db.runs import recorded
from db.vocabulary import DATABASE_ERROR, DROPPED, SOURCE_BUSY

log = logging.getLogger(__name__)


def cleaning_options(settings: BaseSettings, options: CleanOptions) -> CleanOptions:
    """The source's cleaning options, with the size cap and deadline given on the command line
    (`-s CRAWLER_MAX_INPUT_BYTES=...`, `-s CRAWLER_EXTRACT_TIMEOUT=...`) taking precedence."""
    cmdline = SETTINGS_PRIORITIES["cmdline"]
    if (settings.getpriority("CRAWLER_MAX_INPUT_BYTES") or 0) >= cmdline:
        options = replace(options, max_bytes=settings.getint("CRAWLER_MAX_INPUT_BYTES"))
    if (settings.getpriority("CRAWLER_EXTRACT_TIMEOUT") or 0) >= cmdline:
        options = replace(options, extract_timeout=settings.getfloat("CRAWLER_EXTRACT_TIMEOUT"))
    return options


class CrawlRun:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.run: Run | None = None
        self.ingest: Ingest | None = None
        self.pool: CleanerPool | None = None
        self.options: CleanOptions = default_options()
        self.refused: tuple[str, str] | None = (
            None  # (close reason, message): the run did not start
        )
        self.fatal: str | None = None  # the database failed: the crawl stopped on this line
        # every article request's origin -> URL: an input that ends without a ledger row is
        # recorded `failed` / `dropped` at the end rather than lost (LedgerNetMiddleware)
        self.article_origins: dict[str, str] = {}
        self.signals: list[int] = []  # SIGINT / SIGTERM received, in order
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlRun:
        return cls(crawler)

    @staticmethod
    def of(crawler: Crawler) -> CrawlRun:
        """The crawl's run extension (it is in the project's EXTENSIONS)."""
        found = crawler.get_extension(CrawlRun)  # RuntimeError before the extensions exist
        if found is None:
            raise RuntimeError("crawler.extensions.CrawlRun is not enabled in EXTENSIONS")
        return found

    def _engine(self) -> ExecutionEngine | None:
        """Scrapy's engine, or None while the crawl is still being set up (Scrapy 2.13+ raises
        RuntimeError when `crawler.engine` is read before it is set; older ones gave None)."""
        try:
            return self.crawler.engine
        except RuntimeError:
            return None

    @property
    def report(self) -> RunReport | None:
        return self.run.report if self.run is not None else None

    @property
    def db_path(self) -> str:
        return str(self.crawler.settings.get("CRAWLER_DB", defaults.CRAWLER_DB))

    # --- opening -------------------------------------------------------------------------------
    def spider_opened(self, spider: Spider) -> None:
        settings = self.crawler.settings
        name = spider.name
        source = getattr(spider, "source", None) or load_sources(
            settings.get("CRAWLER_SOURCES_FILE")
        ).get(name)
        if source is not None:
            self.options = source.clean
        self.options = cleaning_options(settings, self.options)
        run = self._remote_run(name) or Run(
            self.db_path,
            name,
            f"crawl {name}",
            dedup_config(settings),
            near=settings.getbool("DEDUP_ENABLED", defaults.DEDUP_ENABLED),
            batch=settings.getint("CRAWLER_STORE_BATCH", defaults.CRAWLER_STORE_BATCH),
            linger=settings.getfloat("CRAWLER_STORE_LINGER", defaults.CRAWLER_STORE_LINGER),
        )
        try:
            run.open()
        except SourceBusy as exc:
            self._refuse(SOURCE_BUSY, str(exc))
        except OSError as exc:  # the lock folder beside the database cannot be written
            self._refuse(DATABASE_ERROR, f"cannot take the run lock beside {self.db_path}: {exc}")
        except (DatabaseError, ConfigMismatch) as exc:
            self._refuse(DATABASE_ERROR, str(exc))
        try:  # the run is open: whatever fails from here closes it `failed`, and the crawl
            workers = settings.getint("CRAWLER_WORKERS") or default_workers()
            memory = worker_memory_limit(settings.getint("CRAWLER_WORKER_MEMORY_MB"))
            self.pool = CleanerPool(workers, memory_limit=memory)
            self.ingest = Ingest(run)
        except Exception as exc:
            run.close("failed")
            self._refuse(DATABASE_ERROR, f"the crawl could not start: {type(exc).__name__}: {exc}")
        self.run = run
        if self.stopping:  # a signal came while the crawl was starting
            raise CloseSpider("shutdown")
        contact = settings.get("CRAWLER_CONTACT_URL")
        if not contact or "example.invalid" in contact:  # once a run, once it holds its lock
            log.warning("CRAWLER_CONTACT_URL is not set: sites cannot tell who crawls them")

    def _refuse(self, reason: str, message: str) -> None:
        """The run cannot start: nothing is recorded, the spider closes at once, and `crawler
        crawl` prints `message` as its error."""
        self.refused = (reason, message)
        raise CloseSpider(reason)

    # --- during the crawl ----------------------------------------------------------------------
    def failed(self, exc: BaseException) -> None:
        """The database cannot be written (disk full, read-only, I/O error, another process
        rebuilt the index): nothing more can be recorded, so the crawl stops at once, once.
        Every unit of work committed before stays as it is. Called on the reactor's thread by the
        first component that sees the writer's error (an item awaiting its store, a request being
        recorded)."""
        if self.fatal:
            return
        self.fatal = describe_error(exc, self.db_path)
        log.error("%s: stopping the crawl", self.fatal)
        engine = self._engine()
        if engine is not None and engine.spider is not None:
            deferred_from_coro(engine.close_spider_async(reason=DATABASE_ERROR))

    def settle(self, page: RawPage, state: str, reason: str, detail: str = "", **kw: Any) -> None:
        """Record an input that ends before any page is cleaned (refused, failed to fetch)."""
        if self.run is not None and self.run.error is not None:
            self.failed(self.run.error)  # the writer stopped: the crawl stops too
        if self.fatal or self.refused:
            return  # the run could not start or its database failed: nothing can be recorded
        if self.ingest is None:
            log.warning("%s %s (%s): %s", state, page.url, reason, detail)
            return
        self.ingest.settle(page, state, reason, detail, **kw)

    def settle_request(
        self, request: Request, state: str, reason: str, detail: str = "", **kw: Any
    ) -> None:
        """Record a request that ends before any page is cleaned, under the URL first requested."""
        origin = (request.meta.get("redirect_urls") or [request.url])[0]
        spider = self.crawler.spider
        name = spider.name if spider is not None else "web"
        attempts = int(request.meta.get("retry_times", 0)) + 1
        page = RawPage(origin=origin, url=request.url, source=name, body=b"", attempts=attempts)
        self.settle(page, state, reason, detail, **kw)

    # --- stopping ------------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return bool(self.signals)

    def in_flight(self) -> int:
        """Pages being downloaded (not those waiting for their turn), cleaned or stored."""
        engine = self._engine()
        slots = engine.downloader.slots.values() if engine is not None else []
        downloading = sum(len(slot.transferring) for slot in slots)
        return downloading + (self.run.writer.in_flight() if self.run is not None else 0)

    def signalled(self, signum: int) -> None:
        """SIGINT or SIGTERM (in the signal handler): the first stops the crawl gracefully, the
        second at once. One line on stderr at once, whatever the event loop is doing."""
        from twisted.internet import reactor

        self.signals.append(signum)
        if len(self.signals) == 1:
            sys.stderr.write(
                f"stopping: finishing {self.in_flight()} pages in flight; "
                "Ctrl-C again to stop now\n"
            )
            sys.stderr.flush()
            reactor.callFromThread(self._stop)
        elif len(self.signals) == 2:
            sys.stderr.write("stopping now: pages in flight are left for the next run\n")
            sys.stderr.flush()
            reactor.callFromThread(self._stop_now)

    def _stop(self) -> None:
        """Queued requests are dropped (the next run fetches them), the pages in flight finish
        and are stored, then the spider closes as `shutdown`: the run is `interrupted`. (Before
        the spider is open, `spider_opened` closes it at once.)"""
        engine = self._engine()
        if engine is None or engine.spider is None or self.run is None:
            return
        for slot in list(engine.downloader.slots.values()):  # waiting for their politeness delay
            while slot.queue:
                _request, waiting = slot.queue.popleft()
                waiting.errback(IgnoreRequest("stopping: not requested"))
        deferred_from_coro(engine.close_spider_async(reason="shutdown"))

    @staticmethod
    def _stop_now() -> None:
        from twisted.internet import reactor
        from twisted.internet.interfaces import IReactorCore

        core = cast(IReactorCore, reactor)
        if core.running:
            core.stop()  # type: ignore[misc]  # zope's interface methods confuse mypy

    def abandon(self) -> None:
        """After the event loop was stopped at once (a second signal): close the run
        `interrupted` with what is stored; pages still cleaning are left for the next run."""
        if self.pool is not None:
            self.pool.close(cancel=True)
        if self.run is not None and not self.run.closed:
            if self.signals:
                self.run.report.signal = self.signals[0]
            self.run.close("interrupted" if self.signals else "failed")

    # --- closing -------------------------------------------------------------------------------
    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.pool is not None:
            self.pool.close()
        run = self.run
        if run is None or run.closed:
            return
        status = "interrupted" if reason == "shutdown" or self.stopping else "finished"
        if self.signals:
            run.report.signal = self.signals[0]
        if self.fatal:
            status = "failed"
        elif status == "finished" and self.ingest is not None:
            self._settle_dropped(run, self.ingest)
        stats = self.crawler.stats
        if stats is not None:
            run.report.fetched = int(stats.get_value("response_received_count", 0) or 0)
        run.close(status)
        if run.error is not None and not self.fatal:
            self.fatal = describe_error(run.error, self.db_path)
            log.error("%s", self.fatal)

    def _remote_run(self, name: str) -> Run | None:
        """A cluster worker's crawl (CRAWLER_JOB set by `crawler crawl-job`): its pages go to the
        job's results stream, not into a database (crawler/cluster.py)."""
        settings = self.crawler.settings
        job = settings.get("CRAWLER_JOB")
        if not job:
            return None
        from crawler import broker
        from crawler.remote import RemoteRun

        client = broker.connect(settings.get("CRAWLER_BROKER"))
        return RemoteRun(client, job, name, dedup_config(settings))

    def _settle_dropped(self, run: Run, ingest: Ingest) -> None:
        """Article requests that ended without any ledger row (see LedgerNetMiddleware)."""
        name = run.report.source
        for origin, url in self.article_origins.items():
            if run.writer.reserved(origin) or (
                run.reader is not None and recorded(run.reader, run.report.run_id, origin)
            ):
                continue
            page = RawPage(origin=origin, url=url, source=name, body=b"")
            if ingest.settle(page, "failed", DROPPED, "the request ended without a result"):
                log.warning("no result for %s: recorded failed / %s", origin, DROPPED)
