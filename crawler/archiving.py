"""A crawl that keeps its raw responses: every fetched response (status, headers, body) goes into
rotating WARC files, one gzip member per record, each file opening with a `warcinfo` record that
names the crawler and its version. `crawler load DIR` of those files re-cleans the crawl without
fetching anything again, and gives the articles the crawl gave.

On when `CRAWLER_ARCHIVE_DIR` is set (`crawler crawl --archive DIR`, or `archive = "DIR"` in a
source's entry). Responses that are not inputs (robots.txt, sitemaps, feeds, listing pages) are
archived too, marked `WARC-Crawler-Role: index`, so a re-clean skips them as the crawl did.

Records are written by a thread of their own (compression, digests and the disk off Scrapy's
thread); a response waits for it only when 256 are already waiting to be written.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
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
        self.failed = False  # the disk failed: archiving stopped, the crawl goes on
        self.closed = False
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=256)
        self._thread: threading.Thread | None = None
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

    def _open(self, name: str | None) -> WARCWriter:
        """The current file's writer; a new file (with its warcinfo) once the last one is full."""
        if (
            self._writer is not None
            and self._file is not None
            and self._file.tell() < self.max_bytes
        ):
            return self._writer
        self._close_file()
        name = name or "crawl"
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
        """Queue the response for the writing thread (started with the first one)."""
        if self.failed or self.closed:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._write_all, name="warc", daemon=True)
            self._thread.start()
        headers = [
            (key.decode("latin-1"), value.decode("latin-1"))
            for key, values in response.headers.items()
            if key.lower() not in _WIRE_HEADERS
            for value in values
        ]
        role = "article" if is_article_request(request) else "index"
        name = getattr(spider or self.crawler.spider, "name", None)
        fetched = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._queue.put(
            (name, response.url, response.status, headers, response.body, role, fetched)
        )

    def _write_all(self) -> None:
        """The writing thread: every queued response, until `close` says there are no more. It
        never ends before that, so a response is never left waiting for room in the queue."""
        while (item := self._queue.get()) is not None:
            if self.failed:
                continue
            try:
                self._write(*item)
            except Exception as exc:  # a full disk, or a library bug on odd input: archiving
                # stops, the crawl goes on
                if isinstance(exc, OSError):
                    log.error("cannot archive %s: %s; archiving stops", item[1], exc)
                else:
                    log.exception("cannot archive %s; archiving stops", item[1])
                self.failed = True
                self._close_file()

    def _write(
        self,
        name: str | None,
        url: str,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        role: str,
        fetched: str,
    ) -> None:
        writer = self._open(name)
        http = StatusAndHeaders(f"{status} {_reason(status)}", headers, protocol="HTTP/1.1")
        record = writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=http,
            warc_headers_dict={"WARC-Date": fetched, ROLE_HEADER: role},
        )
        writer.write_record(record)
        self.records += 1

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._writer = None, None

    def spider_closed(self, spider: Spider, reason: str) -> None:
        self.close()

    def close(self) -> None:
        """Write what is queued, then close the file. Idempotent; also called when a second
        signal stopped the event loop before the spider could close."""
        self.closed = True
        if self._thread is not None:
            if self._thread.is_alive():  # it reads the queue until this
                self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._close_file()


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
