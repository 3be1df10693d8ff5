"""A crawl that keeps its raw responses: every fetched response (status, headers, body) goes into
rotating WARC files, one gzip member per record, each file opening with a `warcinfo` record that
names the crawler and its version. `crawler load DIR` of those files re-cleans the crawl without
fetching anything again, and gives the articles the crawl gave.

On when `CRAWLER_ARCHIVE_DIR` is set (`crawler crawl --archive DIR`, or `archive = "DIR"` in a
source's entry). Responses that are not inputs (robots.txt, sitemaps, feeds, listing pages) are
archived too, marked `WARC-Crawler-Role: index`, so a re-clean skips them as the crawl did.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.archives import ROLE_HEADER
from crawler.middlewares import is_article_request

log = logging.getLogger(__name__)
# Headers that described the bytes on the wire, not the (decompressed) body kept here.
_WIRE_HEADERS = {b"content-length", b"content-encoding", b"transfer-encoding"}


def _software() -> str:
    try:
        return f"dedup-crawler/{version('dedup-crawler')}"
    except PackageNotFoundError:
        return "dedup-crawler/dev"


class WarcArchiver:
    def __init__(self, crawler: Crawler, folder: Path, max_bytes: int) -> None:
        self.crawler, self.folder, self.max_bytes = crawler, folder, max_bytes
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = None
        self._writer: WARCWriter | None = None
        self._serial = 0
        self._stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        self.records = 0
        crawler.signals.connect(self.response_received, signal=signals.response_received)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcArchiver:
        folder = crawler.settings.get("CRAWLER_ARCHIVE_DIR")
        if not folder:
            raise NotConfigured  # off, silently (a message would be logged as a warning)
        # a float, so that a file can be smaller than a megabyte (tests rotate after a few KB)
        megabytes = crawler.settings.getfloat("CRAWLER_ARCHIVE_FILE_MB", 1024)
        return cls(crawler, Path(folder), int(megabytes * 1024 * 1024))

    def _open(self, spider: Spider | None) -> WARCWriter:
        """The current file's writer; a new file (with its warcinfo) once the last one is full."""
        if (
            self._writer is not None
            and self._file is not None
            and self._file.tell() < self.max_bytes
        ):
            return self._writer
        self._close_file()
        name = spider.name if spider is not None else "crawl"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        while True:  # another crawl of this source into this folder may have started this second
            self._serial += 1
            path = self.folder / f"{safe}-{self._stamp}-{self._serial:05d}.warc.gz"
            try:
                self._file = open(path, "xb")  # noqa: SIM115 - kept open across records
                break
            except FileExistsError:
                continue
        self._writer = WARCWriter(self._file, gzip=True)
        info = {"software": _software(), "format": "WARC File Format 1.1", "isPartOf": name}
        self._writer.write_record(self._writer.create_warcinfo_record(path.name, info))
        log.info("archiving responses to %s", path)
        return self._writer

    def response_received(
        self, response: Response, request: Request, spider: Spider | None = None
    ) -> None:
        try:
            writer = self._open(spider or self.crawler.spider)
            headers = [
                (key.decode("latin-1"), value.decode("latin-1"))
                for key, values in response.headers.items()
                if key.lower() not in _WIRE_HEADERS
                for value in values
            ]
            status = f"{response.status} {_reason(response.status)}"
            http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
            role = "article" if is_article_request(request) else "index"
            warc_headers: dict[str, Any] = {
                "WARC-Date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                ROLE_HEADER: role,
            }
            record = writer.create_warc_record(
                response.url,
                "response",
                payload=io.BytesIO(response.body),
                length=len(response.body),
                http_headers=http,
                warc_headers_dict=warc_headers,
            )
            writer.write_record(record)
            self.records += 1
        except OSError as exc:  # a full disk stops the archive, not the crawl
            log.error("cannot archive %s: %s; archiving stops", response.url, exc)
            self._close_file()
            self.crawler.signals.disconnect(
                self.response_received, signal=signals.response_received
            )

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._writer = None, None

    def spider_closed(self, spider: Spider, reason: str) -> None:
        self._close_file()


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
