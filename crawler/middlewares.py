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
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.misc import build_from_crawler
from twisted.internet.defer import Deferred

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
