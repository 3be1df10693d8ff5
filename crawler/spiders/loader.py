"""Scrapy's spider loader, plus one spider for every web source of the sources file.

Set as SPIDER_LOADER_CLASS, it reads the file named by the `CRAWLER_SOURCES_FILE` setting, so
`scrapy list -s CRAWLER_SOURCES_FILE=...`, `scrapy crawl NAME -s CRAWLER_SOURCES_FILE=...` and
scrapyd's `-d setting=CRAWLER_SOURCES_FILE=...` all see the same sources. Spiders written by hand
in SPIDER_MODULES are found as Scrapy finds them, and win over a configured source of the same name.
Nothing happens at import.
"""

from __future__ import annotations

import builtins
import logging
from typing import Any

from scrapy import Request, Spider
from scrapy.settings import BaseSettings
from scrapy.spiderloader import SpiderLoader

from crawler.config import ConfigError
from crawler.spiders.configured import configured_spiders

log = logging.getLogger(__name__)


class SourceSpiderLoader(SpiderLoader):
    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self._by_hand = set(super().list())
        path = settings.get("CRAWLER_SOURCES_FILE")
        try:
            generated = configured_spiders(path)
        except ConfigError as exc:  # `scrapy list` still works; `crawler crawl` reports the error
            log.error("%s", exc)
            generated = {}
        for name in sorted(self._by_hand & set(generated)):
            log.warning(
                "spider %r is written by hand; the source of that name in %s is not used",
                name,
                path,
            )
        self._generated = {n: c for n, c in generated.items() if n not in self._by_hand}

    def load(self, spider_name: str) -> type[Spider]:
        if spider_name in self._generated:
            return self._generated[spider_name]
        return super().load(spider_name)

    def list(self) -> list[str]:
        return sorted(self._by_hand | set(self._generated))

    def find_by_request(self, request: Request) -> builtins.list[str]:
        found = super().find_by_request(request)
        found += [n for n, c in self._generated.items() if _handles(c, request)]
        return found


def _handles(cls: Any, request: Request) -> bool:
    handles = getattr(cls, "handles_request", None)
    return bool(handles(request)) if handles is not None else False
