"""Spiders generated from the web sources in sources.toml: one class per source, so `scrapy list`
shows every configured source and `scrapy crawl NAME` / `crawler crawl NAME` run it.

Each kind is built on Scrapy's own machinery: `SitemapSpider` for sitemaps, `CrawlSpider` rules with
`LinkExtractor` for link-following sources, and a small feed spider (RSS and Atom parsed by lxml with
entity expansion and network access off). Every article response becomes a `RawPage` item; the item
pipeline runs it through the same core path as file loading.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from lxml import etree
from scrapy import Request, Spider
from scrapy.http import Response
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule, SitemapSpider

from crawler import settings
from crawler.config import ConfigError, Source, load_sources
from crawler.items import RawPage

log = logging.getLogger(__name__)

_SAFE_XML = etree.XMLParser(
    resolve_entities=False, no_network=True, recover=True, remove_comments=True, huge_tree=False
)
_ATOM = "{http://www.w3.org/2005/Atom}"


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
    )


class SourceSpider(Spider):
    """What every configured spider shares. A spider written by hand for a site that needs code
    subclasses this (or a kind below), sets `name`, and yields `self.article(response)`."""

    source: ClassVar[Source]

    def article(self, response: Response) -> RawPage:
        return page_from(response, self.name)

    def parse_article(self, response: Response, **_kwargs: Any) -> Iterator[RawPage]:
        yield self.article(response)


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


def _settings_for(source: Source) -> dict[str, Any]:
    web = source.web
    assert web is not None
    return {
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
        return type(f"{source.name}_spider", (SourceSpider, SitemapSpider), attrs)
    if source.kind == "feed":

        def parse(self: SourceSpider, response: Response, **_kw: Any) -> Iterator[Request]:
            links = feed_links(response.body)
            if not links:
                self.logger.warning("feed %s lists no article links", response.url)
            for link in links:
                yield Request(link, callback=self.parse_article)

        attrs["start_urls"] = web.start_urls
        attrs["parse"] = parse
        return type(f"{source.name}_spider", (SourceSpider,), attrs)
    articles = LinkExtractor(allow=web.articles or (), deny=web.deny or ())
    follow = LinkExtractor(allow=web.allow or (), deny=web.deny or ())
    attrs["start_urls"] = web.start_urls
    attrs["rules"] = (
        Rule(articles, callback="parse_article", follow=False),
        Rule(follow, follow=True),
    )
    return type(f"{source.name}_spider", (SourceSpider, CrawlSpider), attrs)


def _configured() -> dict[str, type[Spider]]:
    path = os.environ.get("CRAWLER_SOURCES_FILE") or settings.CRAWLER_SOURCES_FILE
    try:
        sources = load_sources(path)
    except ConfigError as exc:  # `scrapy list` still works; `crawler crawl` reports the error
        log.error("%s", exc)
        return {}
    return {s.name: spider_class(s) for s in sources.values() if s.web is not None}


globals().update({cls.__name__: cls for cls in _configured().values()})
