"""Downloader middleware: the address policy (crawler/netpolicy.py) applied to every request a web
source makes, redirect targets included (Scrapy sends each redirect through the middlewares again).

A refused request is never sent: it is recorded in the ledger (`rejected` / `private_address`,
`bad_scheme` or `unresolvable`) under the URL first requested, and dropped. Names are resolved in a
thread, so the crawl's event loop never waits on DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from datetime import UTC, datetime
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.misc import build_from_crawler
from twisted.internet.defer import Deferred

from cleaners.fingerprint import canonical_url
from crawler.items import RawPage
from crawler.netpolicy import check_url, system_resolver

log = logging.getLogger(__name__)


def _allowance(spider: Spider | None) -> tuple[bool, list[Any]]:
    """(allow every private address?, the private addresses/networks allowed one by one)."""
    source = getattr(spider, "source", None)
    web = getattr(source, "web", None)
    setting = getattr(web, "allow_private", False)
    if setting is True:
        return True, []
    if isinstance(setting, list):
        return False, [ipaddress.ip_network(a, strict=False) for a in setting]
    return False, []


class AddressPolicyMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressPolicyMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider
        allow_all, allowed = _allowance(spider)

        def resolve(host: str) -> list[str]:
            addresses = system_resolver(host)
            # addresses the source allows explicitly are not judged by the policy
            return [a for a in addresses if not any(ipaddress.ip_address(a) in n for n in allowed)]

        def judge() -> tuple[str, str] | None:
            if allowed:
                from crawler.netpolicy import literal_address

                host = request.url.split("//", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
                literal = literal_address(host)
                if literal is not None and any(literal in n for n in allowed):
                    return None
            return check_url(request.url, allow_private=allow_all, resolve=resolve)

        refused = await asyncio.get_running_loop().run_in_executor(None, judge)
        if refused is None:
            return None
        reason, detail = refused
        self._record(request, spider, reason, detail)
        raise IgnoreRequest(f"{reason}: {detail}")

    def _record(self, request: Request, spider: Spider | None, reason: str, detail: str) -> None:
        ingest = getattr(self.crawler, "ingest", None)
        if ingest is None or request.url.endswith("/robots.txt"):
            log.warning("refused %s: %s", request.url, detail)
            return
        origin = (request.meta.get("redirect_urls") or [request.url])[0]
        name = getattr(spider, "name", "web")
        page = RawPage(origin=origin, url=request.url, source=name, body=b"")
        if not ingest.repeated(origin, request.url):
            ingest.report.inputs += 1
            ingest.reject(page, "rejected", reason, detail)


_DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"
ROBOTS_DISALLOWED = "robots_disallowed"


class StrictRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware with RFC 9309's rule for failures: a robots.txt that answers
    5xx (or 429), or cannot be fetched at all, means "disallow everything" (Scrapy allows all).
    Requests that robots.txt forbids are recorded `rejected` / `robots_disallowed`, never sent.

    Overrides `_parse_robots` and `_robots_error` of Scrapy 2.13+; tests pin the behaviour."""

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 500 or response.status == 429:
            log.warning(
                "robots.txt of %s answered %s: disallowing the site", netloc, response.status
            )
            response = response.replace(body=_DISALLOW_ALL)
        await super()._parse_robots(response, netloc, request)

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        log.warning("robots.txt of %s unreachable (%s): disallowing the site", netloc, exc)
        rp = build_from_crawler(self._parserimpl, self.crawler, _DISALLOW_ALL)
        waiting = self._parsers[netloc]
        self._parsers[netloc] = rp
        if isinstance(waiting, Deferred):
            waiting.callback(rp)

    def process_request_2(self, rp: Any, request: Request) -> None:
        try:
            super().process_request_2(rp, request)
        except IgnoreRequest:
            ingest = getattr(self.crawler, "ingest", None)
            if ingest is not None:
                origin = (request.meta.get("redirect_urls") or [request.url])[0]
                name = getattr(self.crawler.spider, "name", "web")
                if not ingest.repeated(origin, request.url):
                    ingest.report.inputs += 1
                    page = RawPage(origin=origin, url=request.url, source=name, body=b"")
                    ingest.reject(page, "rejected", ROBOTS_DISALLOWED, "forbidden by robots.txt")
            raise


NOT_REFETCHED = "not_refetched"


class IncrementalMiddleware:
    """A URL already stored as an article is not fetched again until the source's `revisit_days`
    have passed (recorded `unchanged` / `not_refetched`); when it is, the request carries the
    server's validators, so an unchanged page answers 304 (recorded `unchanged` / `not_modified`,
    no extraction). Listing, feed and sitemap pages are never stored as articles, so they are
    always fetched: they are how new articles are found."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IncrementalMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        ingest = getattr(self.crawler, "ingest", None)
        if ingest is None or request.meta.get("dont_obey_robotstxt"):
            return None
        spider = spider or self.crawler.spider
        web = getattr(getattr(spider, "source", None), "web", None)
        revisit_days = float(getattr(web, "revisit_days", 0) or 0)
        url = canonical_url(request.url)
        row = ingest.db.execute(
            """SELECT a.id, coalesce(v.fetched_at, a.updated_at, a.stored_at), v.etag, v.last_modified
               FROM articles a LEFT JOIN http_validators v ON v.url = a.url WHERE a.url = ?""",
            [url],
        ).fetchone()
        if row is None:
            # a copy of a stored article seen before (syndicated, tracking URL): same rule
            row = ingest.db.execute(
                """SELECT duplicate_of, recorded_at, NULL, NULL FROM pages
                   WHERE url = ? AND state = 'duplicate' ORDER BY id DESC LIMIT 1""",
                [url],
            ).fetchone()
        if row is None:
            return None
        article_id, last_fetch, etag, last_modified = row
        age_days = (datetime.now(UTC) - datetime.fromisoformat(last_fetch)).total_seconds() / 86400
        if revisit_days <= 0 or age_days < revisit_days:
            origin = (request.meta.get("redirect_urls") or [request.url])[0]
            if not ingest.repeated(origin, url):
                ingest.report.inputs += 1
                name = getattr(spider, "name", "web")
                page = RawPage(origin=origin, url=url, source=name, body=b"")
                ingest.unchanged(page, NOT_REFETCHED, article_id)
            raise IgnoreRequest(f"{NOT_REFETCHED}: stored {age_days:.1f} days ago")
        if etag:
            request.headers.setdefault("If-None-Match", etag)
        if last_modified:
            request.headers.setdefault("If-Modified-Since", last_modified)
        return None
