"""A crawl as a library function: `run_crawl(target, db_path, settings) -> RunReport`.

`crawler crawl` parses its options and calls it; `scrapy crawl` (crawler/commands/crawl.py) ends
with the same `finished` call, so both print the same report and exit with the same status. The
crawl's state lives in the CrawlRun extension, read here when Scrapy is done.
"""

from __future__ import annotations

import logging
import os
import re
import signal
from collections.abc import Mapping
from typing import Any, TypeVar

from scrapy import signals
from scrapy.crawler import Crawler, CrawlerProcess, CrawlerProcessBase
from scrapy.settings import Settings
from scrapy.utils.ossignal import install_shutdown_handlers
from twisted.internet.defer import Deferred

from cleaners.worker import start_fork_server
from crawler import settings as project_settings
from crawler.archiving import WarcArchiver
from crawler.config import ADHOC_MAX_PAGES, ConfigError, Source, adhoc_source, load_sources
from crawler.extensions import CrawlRun
from crawler.report import EXIT_BUSY, EXIT_ERROR, EXIT_USAGE, RunReport
from db.vocabulary import SOURCE_BUSY

log = logging.getLogger(__name__)
_E = TypeVar("_E")


class CrawlError(Exception):
    """The crawl could not start, or stopped on an error. The message is one line for people;
    `code` is the exit status; `report` is the run's report when the run had started."""

    def __init__(self, message: str, code: int = EXIT_ERROR, report: RunReport | None = None):
        super().__init__(message)
        self.code = code
        self.report = report


def crawl_settings(
    db_path: str, sources_file: str | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """The project's Scrapy settings for a crawl into `db_path` (crawler/settings.py, or the module
    SCRAPY_SETTINGS_MODULE names, as Scrapy would), with `overrides` (as `-s NAME=VALUE` would give
    them) on top."""
    settings = Settings()
    module = os.environ.get("SCRAPY_SETTINGS_MODULE") or project_settings.__name__
    settings.setmodule(module, priority="project")
    settings.set("CRAWLER_DB", db_path, priority="cmdline")
    if sources_file is not None:
        settings.set("CRAWLER_SOURCES_FILE", sources_file, priority="cmdline")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    return settings


def resolve_target(
    target: str,
    sources_file: str,
    *,
    name: str | None = None,
    allow_private: list[str] | None = None,
    max_pages: int = ADHOC_MAX_PAGES,
) -> Source | str:
    """What `target` names: an ad hoc `site` source for an http(s) URL (named after its host and
    port unless `name` is given), or the name of a configured source or hand-written spider
    (`run_crawl` checks that the spider exists). Options that only a URL crawl takes are refused
    for a name. Raises CrawlError."""
    try:
        if re.match(r"(?i)https?://", target):
            return adhoc_source(
                target, name=name, allow_private=allow_private or [], max_pages=max_pages
            )
        load_sources(sources_file)  # a broken sources file fails here, before Scrapy starts
    except ConfigError as exc:
        raise CrawlError(
            str(exc), EXIT_USAGE if target.lower().startswith("http") else EXIT_ERROR
        ) from None
    if allow_private:
        raise CrawlError(
            f"--allow-private applies to a crawl of a URL; for source {target!r} set "
            f"allow_private in {sources_file}",
            EXIT_USAGE,
        )
    return target


def run_crawl(target: Source | str, db_path: str, settings: Settings | None = None) -> RunReport:
    """Crawl a source (an ad hoc `Source`, or the name of a configured source or spider) into the
    database at `db_path`; returns the closed run report. Raises CrawlError (busy source,
    unusable database, a database that failed during the crawl: then with the report)."""
    settings = settings if settings is not None else crawl_settings(db_path)
    settings.set("CRAWLER_DB", db_path, priority="cmdline")
    process = CrawlerProcess(settings)
    if isinstance(target, Source):
        from crawler.spiders.configured import spider_class

        crawler = process.create_crawler(spider_class(target))
    elif target not in process.spider_loader.list():
        path = settings.get("CRAWLER_SOURCES_FILE")
        web = sorted(n for n, s in load_sources(path).items() if s.web is not None)
        raise CrawlError(
            f"no web source or spider named {target!r} in {path} "
            f"(configured: {', '.join(web) or 'none'}; or give an http(s) URL)",
            EXIT_USAGE,
        )
    else:
        crawler = process.create_crawler(target)
    start(process, crawler)
    return finished(crawler, target.name if isinstance(target, Source) else target)


def start(process: CrawlerProcessBase, crawler: Crawler, **spider_args: Any) -> None:
    """Set up and run the crawl until it ends, stopped our way on SIGINT or SIGTERM: the first
    signal drops queued requests and lets the pages in flight finish and store; a second stops the
    event loop at once. Either way the run is closed `interrupted` (exit 130, or 143 for SIGTERM).
    A signal that comes while the crawl is set up is kept and acted on once the engine runs."""
    early: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        state = _state(crawler)
        if state is None:  # no extensions yet: Scrapy is still setting the crawl up
            early.append(signum)
        else:
            state.signalled(signum)

    def deliver_early() -> None:
        state = _state(crawler)
        if state is not None:
            for signum in early:
                state.signalled(signum)

    crawler.signals.connect(deliver_early, signal=signals.engine_started)
    kinds = (signal.SIGINT, signal.SIGTERM)
    previous = {kind: signal.getsignal(kind) for kind in kinds}
    install_shutdown_handlers(on_signal)
    try:
        try:
            start_fork_server()  # the cleaning workers' server warms up while Scrapy starts
            setup = process.crawl(crawler, **spider_args)
            if isinstance(setup, Deferred):  # read its failure, which Twisted calls "unhandled"
                setup.addErrback(lambda failure: log.error("the crawl failed: %s", failure.value))
            process.start(install_signal_handlers=False)
        finally:  # still under our handlers: a third Ctrl-C cannot leave the run open
            archiver = _extension(crawler, WarcArchiver)
            if archiver is not None:
                archiver.close()  # a no-op unless a second signal stopped the loop before it closed
            state = _state(crawler)
            if state is not None:
                state.abandon()  # a no-op unless a second signal left the run open
    finally:  # a program that calls run_crawl gets its own handlers back
        for kind, handler in previous.items():
            signal.signal(kind, handler)


def _extension(crawler: Crawler, kind: type[_E]) -> _E | None:
    """The crawl's extension of this kind; None before Scrapy has made the extensions, or when it
    is not enabled (the archiver without CRAWLER_ARCHIVE_DIR)."""
    try:
        return crawler.get_extension(kind)
    except RuntimeError:
        return None


def _state(crawler: Crawler) -> CrawlRun | None:
    return _extension(crawler, CrawlRun)


def finished(crawler: Crawler, name: str) -> RunReport:
    """The report of a crawl Scrapy has finished, or the CrawlError that ended it."""
    state = _state(crawler)
    if state is not None and state.refused is not None:
        reason, message = state.refused
        raise CrawlError(message, EXIT_BUSY if reason == SOURCE_BUSY else EXIT_ERROR)
    report = state.report if state is not None else None
    if report is None:
        raise CrawlError(f"crawl of {name} did not start (see the log with -v)")
    if state is not None and state.fatal:  # the database failed: what is stored stays stored
        raise CrawlError(state.fatal, EXIT_ERROR, report)
    return report
