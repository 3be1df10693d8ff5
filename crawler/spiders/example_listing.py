"""A spider written by hand: article links are in the listing's <ul>, the next page is rel=next.

Copy this file to start one of your own. Its start URL comes from the sources file entry of the
same name, if that gives one (see seeds/sources.toml), else `start_url` below.
"""

from collections.abc import AsyncIterator, Iterator
from typing import Any

from scrapy import Request
from scrapy.http import Response

from crawler.spiders.configured import SourceSpider


class ExampleListingSpider(SourceSpider):
    name = "example_listing"
    start_url = "https://news.example/news/"

    async def start(self) -> AsyncIterator[Request]:
        for url in (self.source.web and self.source.web.start_urls) or [self.start_url]:
            yield Request(url, callback=self.parse)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Request]:
        for href in response.css("ul li a::attr(href)").getall():
            yield response.follow(href, callback=self.parse_article)
        next_page = response.css("a[rel=next]::attr(href)").get()
        if next_page:
            yield response.follow(next_page, callback=self.parse)
