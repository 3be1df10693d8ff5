"""Downloader middleware: the address policy (crawler/netpolicy.py) applied to every request a web
source makes, redirect targets included (Scrapy sends each redirect through the middlewares again).

A refused request is never sent: it is recorded in the ledger (`rejected` / `private_address`,
`bad_scheme` or `unresolvable`) under the URL first requested, and dropped. Names are resolved in a
thread, so the crawl's event loop never waits on DNS. A fetch that fails for good (connection
refused or reset, timeout, DNS failure in the downloader) is recorded `failed` / `fetch_error`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware, RedirectMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response
from scrapy.utils.misc import build_from_crawler
from twisted.internet.defer import Deferred

from cleaners.errors import TOO_LARGE
from cleaners.fingerprint import canonical_url
from crawler.config import Web
from crawler.extensions import CrawlRun
from crawler.netpolicy import check_url, needs_resolver
from db.validators import last_fetch
from db.vocabulary import (
    BAD_SCHEME,
    FETCH_ERROR,
    NOT_REFETCHED,
    REDIRECT_LOOP,
    ROBOTS_DISALLOWED,
    ROBOTS_UNREACHABLE,
    TOO_MANY_REDIRECTS,
)

log = logging.getLogger(__name__)


def _web(spider: Spider | None) -> Web | None:
    return getattr(getattr(spider, "source", None), "web", None)


def settle_request(
    crawler: Crawler, request: Request, state: str, reason: str, detail: str = "", **kw: Any
) -> None:
    """Record a request that ends before any page is cleaned, under the URL first requested."""
    CrawlRun.of(crawler).settle_request(request, state, reason, detail, **kw)


class AddressPolicyMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressPolicyMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        web = _web(spider or self.crawler.spider)
        allowance = web.private_allowance if web is not None else False
        if needs_resolver(request.url, allowance):  # DNS in a thread, off the event loop
            refused = await asyncio.get_running_loop().run_in_executor(
                None, lambda: check_url(request.url, allow_private=allowance)
            )
        else:
            refused = check_url(request.url, allow_private=allowance)
        if refused is None:
            return None
        reason, detail = refused
        if not request.url.endswith("/robots.txt"):  # robots.txt is not an input
            settle_request(self.crawler, request, "rejected", reason, detail)
        raise IgnoreRequest(f"{reason}: {detail}")

    def process_exception(
        self, request: Request, exception: Exception, spider: Spider | None = None
    ) -> None:
        """A fetch that failed for good (Scrapy's retries are done by now): recorded `failed`
        with the error, so the next run retries it. Last in the chain: sees what nothing handled."""
        if isinstance(exception, IgnoreRequest) or request.meta.get("dont_obey_robotstxt"):
            return None
        name = type(exception).__name__
        if isinstance(exception, DownloadCancelledError):
            # Scrapy cancels a download only when its body passes DOWNLOAD_MAXSIZE
            limit = request.meta.get("download_maxsize") or self.crawler.settings.getint(
                "DOWNLOAD_MAXSIZE"
            )
            detail = f"body larger than DOWNLOAD_MAXSIZE ({limit} bytes)"
            settle_request(self.crawler, request, "rejected", TOO_LARGE, detail)
            return None
        settle_request(self.crawler, request, "failed", FETCH_ERROR, f"{name}: {exception}")
        return None


_DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"


class StrictRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware with RFC 9309's rule for failures: a robots.txt that answers
    5xx (or 429), or cannot be fetched at all, means "disallow everything" (Scrapy allows all).
    Requests that robots.txt forbids are recorded `rejected` / `robots_disallowed`, and those of a
    site whose robots.txt could not be read `rejected` / `robots_unreachable` with the cause; none
    is sent.

    Overrides `_parse_robots` and `_robots_error` of Scrapy 2.13+ (the names are checked by
    tests/test_dependencies.py, behind the version bound in pyproject.toml)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.unreachable: dict[str, str] = {}  # netloc -> why its robots.txt could not be read

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 500 or response.status == 429:
            log.warning(
                "robots.txt of %s answered %s: disallowing the site", netloc, response.status
            )
            self.unreachable[netloc] = f"robots.txt answered HTTP {response.status}"
            response = response.replace(body=_DISALLOW_ALL)
        await super()._parse_robots(response, netloc, request)

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        log.warning("robots.txt of %s unreachable (%s): disallowing the site", netloc, exc)
        self.unreachable[netloc] = f"robots.txt unreachable: {type(exc).__name__}: {exc}"[:300]
        rp = build_from_crawler(self._parserimpl, self.crawler, _DISALLOW_ALL)
        waiting = self._parsers[netloc]
        self._parsers[netloc] = rp
        if isinstance(waiting, Deferred):
            waiting.callback(rp)

    def process_request_2(self, rp: Any, request: Request) -> None:
        try:
            super().process_request_2(rp, request)
        except IgnoreRequest:
            cause = self.unreachable.get(urlsplit(request.url).netloc)
            if cause is not None:
                settle_request(self.crawler, request, "rejected", ROBOTS_UNREACHABLE, cause)
            else:
                detail = "forbidden by robots.txt"
                settle_request(self.crawler, request, "rejected", ROBOTS_DISALLOWED, detail)
            raise


class IncrementalMiddleware:
    """A URL already stored as an article is not fetched again until the source's `revisit_days`
    have passed (recorded `unchanged` / `not_refetched`); when it is, the request carries the
    server's validators, so an unchanged page answers 304 (recorded `unchanged` / `not_modified`,
    no extraction). Listing, feed and sitemap pages are never stored as articles, so they are
    always fetched: they are how new articles are found."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.state = CrawlRun.of(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IncrementalMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        run = self.state.run
        if run is None:
            return None
        web = _web(spider or self.crawler.spider)
        revisit_days = web.revisit_days if web is not None else 0.0
        if run.reader is None:  # a cluster worker's crawl: no database here, everything is fetched
            return None
        row = last_fetch(run.reader, canonical_url(request.url))
        if row is None:
            return None
        article_id, fetched, etag, last_modified = row
        age_days = (datetime.now(UTC) - datetime.fromisoformat(fetched)).total_seconds() / 86400
        if revisit_days <= 0 or age_days < revisit_days:
            settle_request(self.crawler, request, "unchanged", NOT_REFETCHED, article_id=article_id)
            raise IgnoreRequest(f"{NOT_REFETCHED}: stored {age_days:.1f} days ago")
        if etag:
            request.headers.setdefault("If-None-Match", etag)
        if last_modified:
            request.headers.setdefault("If-Modified-Since", last_modified)
        return None


def backoff_delay(retry: int, base: float, cap: float, retry_after: str | None = None) -> float:
    """Seconds to wait before retry number `retry` (1, 2, ...): base * 2**(retry - 1), or the
    server's Retry-After in seconds when it asks for longer; never more than `cap`."""
    delay = base * 2 ** (retry - 1)
    if retry_after and retry_after.strip().isdigit():
        delay = max(delay, float(retry_after.strip()))
    return max(0.0, min(delay, cap))


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries (same settings, same codes) with exponential backoff: a retried request
    waits `backoff_delay` before it is sent again, so a struggling server gets air. The wait holds
    no download slot: other requests go on meanwhile."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.base = settings.getfloat("RETRY_BACKOFF_BASE")
        self.cap = settings.getfloat("RETRY_BACKOFF_MAX")

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        result = super().process_response(request, response)
        if isinstance(result, Request):
            retry_after = response.headers.get("Retry-After")
            self._schedule(result, retry_after.decode("latin-1") if retry_after else None)
        return result

    def process_exception(
        self, request: Request, exception: Exception, spider: Spider | None = None
    ) -> Request | Response | None:
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            self._schedule(result, None)
        return result

    def _schedule(self, retry: Request, retry_after: str | None) -> None:
        number = int(retry.meta.get("retry_times", 1))
        retry.meta["retry_delay"] = backoff_delay(number, self.base, self.cap, retry_after)

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        """Wait out a retry's backoff, unless the crawl is stopping: then the retry is dropped
        (no row: the next run fetches the page again)."""
        delay = request.meta.pop("retry_delay", 0)
        if not delay:  # every request passes here; only a retry waits
            return
        state = CrawlRun.of(self.crawler)
        waited = 0.0
        while waited < delay and not state.stopping:
            step = min(0.2, delay - waited)
            await asyncio.sleep(step)
            waited += step
        if state.stopping:
            raise IgnoreRequest("stopping: retry not sent")


class _RecordedRedirects:
    """Redirect handling that records how a redirected input ends: a loop (a URL the chain has
    already visited) is `rejected` / `redirect_loop` at once, a chain past REDIRECT_MAX_TIMES
    `rejected` / `too_many_redirects`, and a redirect to another scheme (ftp:, file:, javascript:)
    `rejected` / `bad_scheme` (Scrapy would hand the 3xx on as if it were the page). A redirect to
    a URL this crawl already requested is fetched again, so the input that led there gets its own
    row (a duplicate of that article) instead of vanishing in the duplicate-request filter."""

    crawler: Crawler

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        try:
            result = super().process_response(request, response)  # type: ignore[misc]
        except IgnoreRequest as exc:
            settle_request(self.crawler, request, "rejected", TOO_MANY_REDIRECTS, str(exc))
            raise
        if isinstance(result, Request):
            chain = {canonical_url(u) for u in result.meta.get("redirect_urls", [])}
            if canonical_url(result.url) in chain:
                detail = f"{request.url} -> {result.url}, visited before in this chain"
                settle_request(self.crawler, request, "rejected", REDIRECT_LOOP, detail)
                raise IgnoreRequest(f"{REDIRECT_LOOP}: {detail}")
            result.dont_filter = True
        elif 300 <= result.status < 400 and result.headers.get("Location"):
            target = result.headers["Location"].decode("latin-1")
            if urlsplit(urljoin(request.url, target)).scheme not in ("http", "https"):
                detail = f"redirect to {target[:200]}"
                settle_request(self.crawler, request, "rejected", BAD_SCHEME, detail)
                raise IgnoreRequest(f"{BAD_SCHEME}: {detail}")
        return result


class RecordedRedirectMiddleware(_RecordedRedirects, RedirectMiddleware):
    """Scrapy's 3xx redirects, recorded (see _RecordedRedirects)."""


# Scrapy looks for <meta http-equiv="refresh"> in a page's first 4,096 characters, which are at
# most this many bytes in any encoding
_REFRESH_WINDOW = 4 * 4096


def may_refresh(body: bytes) -> bool:
    """False when a page's body cannot hold a `<meta http-equiv="refresh">` where Scrapy looks for
    one: its first 4,096 characters have no "refresh" in any letter case. Decided on the bytes, so
    a page that has none is never decoded for it: in UTF-8 and the web's legacy encodings (Latin,
    EUC, Shift_JIS, GBK, Big5, ...) ASCII letters are ASCII bytes. Where they may not be, the
    page may always hold one."""
    head = body[:_REFRESH_WINDOW]
    # NUL: UTF-16/32; ESC: ISO-2022 (an escape may split the word); "~{": HZ. Letters there are
    # not plain ASCII bytes, so Scrapy decides. (EBCDIC pages are not handled: none on the web.)
    return any(mark in head for mark in (b"\0", b"\x1b", b"~{")) or b"refresh" in head.lower()


class RecordedMetaRefreshMiddleware(_RecordedRedirects, MetaRefreshMiddleware):
    """Scrapy's <meta http-equiv="refresh"> redirects, recorded (see _RecordedRedirects). Scrapy
    decodes every whole page to look at its start; a page whose bytes show it cannot hold a meta
    refresh is passed on undecoded (a crawl spent about 2% of its event loop's time there)."""

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        if not may_refresh(response.body):
            return response
        return super().process_response(request, response)


class RecordedCompressionMiddleware(HttpCompressionMiddleware):
    """Scrapy's decompression, whose size guard (a gzip bomb past DOWNLOAD_MAXSIZE) is recorded
    `rejected` / `too_large` instead of dropping the input unseen."""

    def __init__(self, stats: Any = None, *, crawler: Crawler | None = None) -> None:
        super().__init__(stats, crawler=crawler)
        self.crawler = crawler

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        try:
            return super().process_response(request, response)
        except IgnoreRequest as exc:
            if self.crawler is not None:
                settle_request(self.crawler, request, "rejected", TOO_LARGE, str(exc)[:300])
            raise


def is_article_request(request: Request) -> bool:
    """True for a request whose page is an input: it goes to a spider's `parse_article`, or is
    marked `meta["article"] = True` (what the generated link-following rules do), False for
    robots.txt, sitemaps, feeds and listings."""
    return bool(request.meta.get("article")) or (
        getattr(request.callback, "__name__", "") == "parse_article"
    )


class LedgerNetMiddleware:
    """First on every request: remembers the origin of each article request, so that when the
    crawl finishes, an input that ended without a ledger row (dropped by some component without
    a recorded reason) is recorded `failed` / `dropped` rather than lost (see CrawlRun)."""

    def __init__(self, crawler: Crawler) -> None:
        self.origins = CrawlRun.of(crawler).article_origins  # origin -> URL

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LedgerNetMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        if is_article_request(request):
            origin = (request.meta.get("redirect_urls") or [request.url])[0]
            self.origins.setdefault(origin, request.url)
        return None
