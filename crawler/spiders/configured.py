"""Spiders generated from the web sources in sources.toml: one class per source, so `scrapy list`
shows every configured source and `scrapy crawl NAME` / `crawler crawl NAME` run it.

Each kind is built on Scrapy's own machinery: `SitemapSpider` for sitemaps, `CrawlSpider` rules with
`LinkExtractor` for link-following sources, and a small feed spider (RSS and Atom parsed by lxml with
entity expansion and network access off). Kind `site` (also what `crawler crawl URL` uses) finds a
site's own index: the sitemaps its robots.txt names, else `/sitemap.xml`, else a feed its start page
links to, else same-site links. Every article response becomes a `RawPage` item; the item pipeline
runs it through the same core path as file loading.

A sitemap, feed or listing page that answers an HTTP error, or a sitemap or feed that lists no
article, is recorded in the ledger (`empty_sitemap`, `empty_feed`, `http_NNN`), never silently empty.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

from courlan import is_navigation_page
from lxml import etree
from scrapy import Request, Spider
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.settings import BaseSettings
from scrapy.spiders import CrawlSpider, Rule, SitemapSpider
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots
from twisted.python.failure import Failure

from crawler.config import Source, Web, load_sources
from crawler.items import RawPage
from crawler.middlewares import settle_request
from db.vocabulary import BAD_SITEMAP, EMPTY_FEED, EMPTY_SITEMAP, HTTP

log = logging.getLogger(__name__)

_SAFE_XML = etree.XMLParser(
    resolve_entities=False, no_network=True, recover=True, remove_comments=True, huge_tree=False
)
_ATOM = "{http://www.w3.org/2005/Atom}"
SITE_DEPTH = 3  # kind `site`, following links: listing pages this far from the start page
# Query keys that make a URL a listing (page 2 of a section, a category, a tag).
_LISTING_QUERY = re.compile(
    r"(?:^|&)(?:page|paged|p|pg|offset|start|cat|category|tag|section|list|sort)=", re.I
)


def page_from(response: Response, source: str) -> RawPage:
    """The item for one fetched page: origin is the URL as requested (before redirects)."""
    requested = (response.meta.get("redirect_urls") or [response.url])[0]
    header = (response.headers.get("Content-Type") or b"").decode("latin-1").lower()
    kind = "html" if "html" in header else "text" if header.startswith("text/plain") else None
    charset = header.split("charset=", 1)[1].split(";")[0].strip() if "charset=" in header else None

    def text(name: str) -> str | None:
        value = response.headers.get(name)
        return value.decode("latin-1") if value else None

    return RawPage(
        origin=requested,
        url=response.url,
        source=source,
        body=response.body,
        content_type=kind,
        encoding=charset,
        status=response.status,
        etag=text("ETag"),
        last_modified=text("Last-Modified"),
        attempts=int(response.meta.get("retry_times", 0)) + 1,
    )


def user_agent(contact: str | None) -> str:
    """The User-Agent naming the crawler, its version and the operator's contact URL."""
    try:
        release = version("dedup-crawler")
    except PackageNotFoundError:
        release = "dev"
    return f"dedup-crawler/{release} (+{contact or 'no contact given'})"


class SourceSpider(Spider):
    """What every configured spider shares. A spider written by hand for a site that needs code
    subclasses this, sets `name`, and yields `self.article(response)` for each article page (or
    follows to `self.parse_article`). Its politeness, address policy, revisit and cleaning
    settings come from the sources file entry of the same name (`kind = "custom"`), if any, else
    the defaults."""

    source: ClassVar[Source]

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        if "source" not in vars(cls) and not any("source" in vars(b) for b in cls.__mro__[1:-1]):
            found = load_sources(settings.get("CRAWLER_SOURCES_FILE")).get(cls.name)
            if found is None or found.web is None:
                found = Source(cls.name, "custom", web=Web(list(getattr(cls, "start_urls", []))))
            cls.source = found
            cls.custom_settings = {**_settings_for(found), **(cls.custom_settings or {})}
        super().update_settings(settings)
        if not settings.get("USER_AGENT"):
            settings.set("USER_AGENT", user_agent(settings.get("CRAWLER_CONTACT_URL")), "spider")

    def article(self, response: Response) -> RawPage:
        return page_from(response, self.name)

    def parse_article(self, response: Response, **_kwargs: Any) -> Iterator[RawPage]:
        yield self.article(response)

    def index_failed(self, response: Response) -> bool:
        """True (and recorded) when a sitemap, feed or listing page answered an HTTP error."""
        status = response.status
        if status < 400:
            return False
        state = "failed" if status >= 500 or status == 429 else "rejected"
        request = response.request or Request(response.url)
        settle_request(self.crawler, request, state, f"{HTTP}{status}", response.url)
        return True

    def parse_feed(self, response: Response, **_kwargs: Any) -> Iterator[Request]:
        """An RSS/Atom feed: its article links, or a recorded failure when it lists none."""
        if self.index_failed(response):
            return
        links = feed_links(response.body)
        self.index_empty(response, EMPTY_FEED, len(links))
        for link in links:
            yield Request(link, callback=self.parse_article)

    def index_empty(self, response: Response, reason: str, found: int) -> None:
        """Record a sitemap or feed that lists no article: reported, never silently empty."""
        if found == 0:
            self.logger.warning("%s lists no article URLs: %s", response.url, reason)
            request = response.request or Request(response.url)
            settle_request(self.crawler, request, "failed", reason, "no article URLs found in it")


class ReportedSitemapSpider(SourceSpider, SitemapSpider):
    """Scrapy's SitemapSpider whose sitemaps end in the ledger when they fail or list nothing."""

    def _parse_sitemap(self, response: Response) -> Iterable[Request]:
        if self.index_failed(response):
            return []
        requests = list(super()._parse_sitemap(response))
        if not requests and not response.url.endswith("/robots.txt"):
            body = self._get_sitemap_body(response)
            if not body or Sitemap(body).type not in ("urlset", "sitemapindex"):
                detail = "not a sitemap, or larger than DOWNLOAD_MAXSIZE once decompressed"
                self.logger.warning("%s: %s", response.url, detail)
                request = response.request or Request(response.url)
                settle_request(self.crawler, request, "failed", BAD_SITEMAP, detail)
                return []
        self.index_empty(response, EMPTY_SITEMAP, len(requests))
        return requests


def feed_links(body: bytes) -> list[str]:
    """Article links of an RSS or Atom document, parsed without entity expansion."""
    try:
        root = etree.fromstring(body, parser=_SAFE_XML)
    except etree.XMLSyntaxError:
        return []
    if root is None:
        return []
    links = [(node.text or "").strip() for node in root.iter("link") if node.text]
    for entry in root.iter(f"{_ATOM}entry"):
        for node in entry.iter(f"{_ATOM}link"):
            if node.get("rel") in (None, "alternate") and node.get("href"):
                links.append(node.get("href").strip())
                break
    return [link for link in links if link.startswith(("http://", "https://"))]


def looks_like_listing(url: str) -> bool:
    """A URL that names a listing rather than an article: the site or a section root (a path
    ending in /), a pagination, category or tag page (courlan's rules, and such query keys)."""
    parts = urlsplit(url)
    return (
        parts.path.endswith("/")
        or not parts.path
        or is_navigation_page(url)
        or bool(_LISTING_QUERY.search(parts.query))
    )


class SiteSpider(ReportedSitemapSpider):
    """Kind `site`: crawl a site from its own index. The sitemaps that its robots.txt names, else
    `/sitemap.xml`, else the RSS/Atom feeds its start page declares, else the links of the start
    page: listing pages are followed (up to SITE_DEPTH), other same-site pages are articles."""

    sitemap_rules = (("", "parse_article"),)

    async def start(self) -> AsyncIterator[Any]:
        for url in self.source.web.start_urls if self.source.web else []:
            yield Request(
                urljoin(url, "/robots.txt"),
                callback=self._from_robots,
                errback=self._without_robots,
                cb_kwargs={"start": url},
                dont_filter=True,
            )

    def _from_robots(self, response: Response, start: str) -> Iterator[Request]:
        sitemaps = []
        if response.status == 200:
            sitemaps = list(sitemap_urls_from_robots(response.body, base_url=response.url))
        for url in sitemaps:
            yield Request(url, callback=self._named_sitemap, cb_kwargs={"start": start})
        if not sitemaps:
            yield Request(
                urljoin(start, "/sitemap.xml"),
                callback=self._guessed_sitemap,
                errback=self._without_robots,
                cb_kwargs={"start": start},
            )

    def _named_sitemap(self, response: Response, start: str) -> Iterable[Any]:
        """A sitemap robots.txt names: when it fails or lists nothing (recorded), the crawl goes
        on from the start page (requested once, however many named sitemaps fail)."""
        requests = list(self._parse_sitemap(response))
        return requests or [Request(start, callback=self._from_start_page)]

    def _without_robots(self, failure: Failure) -> Iterator[Request]:
        """robots.txt (or the guessed sitemap) could not be fetched: go on from the start page.
        (When robots.txt is unreachable the robots rule refuses it too, and records why.)"""
        start = failure.request.cb_kwargs["start"]  # type: ignore[attr-defined]
        yield Request(start, callback=self._from_start_page, dont_filter=True)

    def _guessed_sitemap(self, response: Response, start: str) -> Iterable[Any]:
        """`/sitemap.xml` was only a guess: when it is not a sitemap, nothing is recorded."""
        if response.status == 200 and self._get_sitemap_body(response):
            requests = list(SitemapSpider._parse_sitemap(self, response))
            if requests:
                return requests
        return [Request(start, callback=self._from_start_page, dont_filter=True)]

    def _from_start_page(self, response: Response) -> Iterator[Any]:
        if response.status >= 400 or not isinstance(response, TextResponse):
            yield self.article(response)  # the pipeline records the error or the content type
            return
        feeds = response.xpath(
            '//link[@rel="alternate"][contains(@type, "rss") or contains(@type, "atom")]/@href'
        ).getall()
        for href in feeds[:3]:
            yield Request(response.urljoin(href.strip()), callback=self.parse_feed)
        if feeds:
            return
        yield from self._follow_links(response)
        if not looks_like_listing(response.url):
            yield self.article(response)  # the start page is itself an article

    def _follow_links(self, response: Response, hops: int = 0) -> Iterator[Request]:
        """Same-site links: listings are followed up to SITE_DEPTH hops from the start page (hops
        counted here: Scrapy's DEPTH_LIMIT would also count robots.txt and the sitemap guess)."""
        if self.index_failed(response) or not isinstance(response, TextResponse):
            return
        web = self.source.web
        assert web is not None
        host = (urlsplit(response.url).hostname or "").removeprefix("www.")
        extractor = LinkExtractor(allow=web.allow or (), deny=web.deny or ())
        for link in extractor.extract_links(response):
            other = (urlsplit(link.url).hostname or "").removeprefix("www.")
            if other != host and not other.endswith("." + host):
                continue  # another site (LinkExtractor's allow_domains compares host:port)
            if looks_like_listing(link.url):
                if hops < SITE_DEPTH:
                    yield Request(
                        link.url, callback=self._follow_links, cb_kwargs={"hops": hops + 1}
                    )
            else:
                yield Request(link.url, callback=self.parse_article)


def _settings_for(source: Source) -> dict[str, Any]:
    web = source.web
    assert web is not None
    archive = {"CRAWLER_ARCHIVE_DIR": web.archive} if web.archive else {}
    return {
        **archive,
        "DOWNLOAD_DELAY": web.download_delay,
        "AUTOTHROTTLE_START_DELAY": web.download_delay,
        "HTTPERROR_ALLOW_ALL": True,  # error pages reach the pipeline and are recorded
        "CONCURRENT_REQUESTS_PER_DOMAIN": web.concurrency,
        # AutoThrottle aims at this many requests in flight (its default, 1, would halve a
        # source that asks for 2): the same number as the hard limit above.
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(web.concurrency),
        "CLOSESPIDER_PAGECOUNT": web.max_pages,
    }


def spider_class(source: Source) -> type[Spider]:
    """A Scrapy spider class for one configured web source."""
    web = source.web
    assert web is not None
    attrs: dict[str, Any] = {
        "name": source.name,
        "source": source,
        "custom_settings": _settings_for(source),
        "__module__": __name__,
        "__doc__": source.description or f"{source.kind} source {source.name}",
    }
    if source.kind == "sitemap":
        attrs["sitemap_urls"] = web.start_urls
        attrs["sitemap_rules"] = [(p, "parse_article") for p in web.allow] or [
            ("", "parse_article")
        ]
        if web.deny:
            deny = [re.compile(p) for p in web.deny]

            def sitemap_filter(self: Spider, entries: Any) -> Iterator[dict[str, Any]]:
                for entry in entries:
                    if not any(d.search(entry.get("loc", "")) for d in deny):
                        yield entry

            attrs["sitemap_filter"] = sitemap_filter
        return type(f"{source.name}_spider", (ReportedSitemapSpider,), attrs)
    if source.kind == "site":
        host = (urlsplit(web.start_urls[0]).hostname or "").removeprefix("www.")
        attrs["allowed_domains"] = [host]  # the site and its subdomains (www.)
        return type(f"{source.name}_spider", (SiteSpider,), attrs)
    if source.kind == "feed":
        attrs["start_urls"] = web.start_urls
        attrs["parse"] = SourceSpider.parse_feed
        return type(f"{source.name}_spider", (SourceSpider,), attrs)
    articles = LinkExtractor(allow=web.articles or (), deny=web.deny or ())
    follow = LinkExtractor(allow=web.allow or (), deny=web.deny or ())
    attrs["start_urls"] = web.start_urls
    attrs["rules"] = (
        Rule(articles, callback="parse_article", follow=False, process_request=_article),
        Rule(follow, follow=True),
    )
    return type(f"{source.name}_spider", (SourceSpider, CrawlSpider), attrs)


def _article(request: Request, _response: Response) -> Request:
    """Marks a request that a link-following rule sends to `parse_article` as an input (the
    ledger's safety net must know which requests are articles)."""
    request.meta["article"] = True
    return request


def configured_spiders(sources_file: str) -> dict[str, type[Spider]]:
    """A spider class for every web source of the sources file (kind `custom` excepted: its
    hand-written class is the spider). Raises ConfigError for a bad file."""
    return {
        s.name: spider_class(s)
        for s in load_sources(sources_file).values()
        if s.web is not None and s.kind != "custom"
    }
