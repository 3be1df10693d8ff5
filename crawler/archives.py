"""Web archives as input: WARC (and ARC, read as WARC) files, gzipped or not, and WET files of
extracted text, read record by record through warcio, so memory stays flat whatever the size of
the archive.

Each record becomes one of: a page for the core path (an HTML `response` with status 200, or a WET
`conversion`), a ledger row of its own (a `revisit`: `unchanged` / `revisit`; a record that cannot
be read: `failed` / `bad_archive`, after which the rest of that file cannot be trusted and is not
read), or a count in the run report by kind (`request`, `metadata`, `warcinfo`, a response that is
not HTML or not 200). A record's ledger name is `PATH#OFFSET`, its byte offset in the file; its
URL is its `WARC-Target-URI`, so archived pages take part in canonical-URL dedup with crawls.
`WARC-Date` is the fetch time, never the publication date.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord

from cleaners.clean import sniff_html
from cleaners.errors import EMPTY, TOO_LARGE
from crawler.items import RawPage
from db.vocabulary import BAD_ARCHIVE, REVISIT

# Set by our own crawls (crawler/archiving.py): "article" for an input, "index" for a response
# that only led to inputs (robots.txt, sitemap, feed, listing), which a re-clean skips.
ROLE_HEADER = "WARC-Crawler-Role"
_CHUNK = 1 << 16
ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz", ".wet", ".wet.gz")


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass
class FromArchive:
    """One record's fate: a page to clean, a ledger row without cleaning (`state`, `reason`,
    `detail`), or a kind to count as skipped."""

    origin: str
    url: str
    page: RawPage | None = None
    state: str | None = None
    reason: str | None = None
    detail: str = ""
    skipped: str | None = None


def _fetch_time(record: ArcWarcRecord) -> str | None:
    value = record.rec_headers.get_header("WARC-Date")
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def _charset(content_type: str) -> str | None:
    if "charset=" not in content_type:
        return None
    return content_type.split("charset=", 1)[1].split(";")[0].strip().strip("\"'") or None


def records(
    stream: BinaryIO,
    origin: str,
    source: str,
    max_bytes: int,
    done: set[int] | None = None,
    failed: set[int] | None = None,
) -> Iterator[FromArchive]:
    """The records of the archive open on `stream` (`origin`: its name in the ledger), in file
    order. Earlier runs are taken into account: reading starts at the first record that failed
    (retried), else at the last one done (records are committed in file order, so nothing before
    it is missing), and the records at offsets in `done` are counted `archive_done`, not read
    again. So a load killed midway goes on at the first record not done, and a scheduled load of
    an archive that has grown reads only what was added, whatever the size of the rest. A file
    that is not an archive (or is empty) is one ledger row at offset 0."""
    done, failed = done or set(), failed or set()
    kind = _format(stream, origin)
    if isinstance(kind, FromArchive):
        yield kind
        return
    start = min(failed) if failed else max(done, default=0)
    stream.seek(start)  # a record boundary: a gzip member, or a record of a plain WARC
    iterator = ArchiveIterator(stream, arc2warc=True)
    # One format for the whole file, from its first bytes: left to guess record by record,
    # warcio reads a line that is not a WARC header but has five fields as an ARC record.
    iterator.known_format = kind
    try:
        for record in iterator:
            # where this record starts in the file (warcio's offset of the record being read;
            # asking it for the record's offset would read the record to its end first)
            offset = iterator.offset
            if offset in done:
                yield FromArchive(f"{origin}#{offset}", "", skipped="archive_done")
                continue
            outcome = _one(record, f"{origin}#{offset}", source, max_bytes)
            if missing := _unread(record):
                # the file ends inside this record, or its gzip data stops decoding there
                # (warcio stops reading quietly in both cases): whatever was made of its start,
                # the record is broken, and it is retried next time
                detail = f"truncated or corrupt: {missing} bytes of the record missing"
                outcome = FromArchive(
                    outcome.origin, outcome.url, state="failed", reason=BAD_ARCHIVE, detail=detail
                )
            yield outcome
            if outcome.reason == BAD_ARCHIVE:
                return  # nothing after a broken record can be trusted
    except Exception as exc:  # whatever warcio or gzip makes of a broken record: never a crash
        # the record at this offset is broken: nothing after it can be trusted or read
        detail = f"{type(exc).__name__}: {exc}".strip()[:300]
        at = f"{origin}#{iterator.offset}"
        yield FromArchive(at, "", state="failed", reason=BAD_ARCHIVE, detail=detail)


def _format(stream: BinaryIO, origin: str) -> str | FromArchive:
    """The file's format from its first bytes, as warcio names it (`warc` or `arc`); or a row for
    a file that is empty, named .gz but not gzip, or not WARC/ARC at all (warcio would read any
    text as ARC records). Leaves `stream` at its start."""
    head = stream.read(64)
    stream.seek(0)
    at = f"{origin}#0"
    if not head:
        return FromArchive(at, "", state="rejected", reason=EMPTY, detail="an empty file")
    first = head
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=stream) as unzipped:
                first = unzipped.read(16)
        except (OSError, EOFError, zlib.error):
            first = b""
        stream.seek(0)
    elif origin.lower().endswith(".gz"):
        detail = "named .gz but not gzip"
        return FromArchive(at, "", state="failed", reason=BAD_ARCHIVE, detail=detail)
    if first.startswith(b"WARC/"):
        return "warc"
    if first.startswith(b"filedesc://"):
        return "arc"
    detail = f"not a WARC or ARC file (it starts {first[:16]!r})"
    return FromArchive(at, "", state="failed", reason=BAD_ARCHIVE, detail=detail)


def _unread(record: ArcWarcRecord) -> int:
    """Reads the rest of the record (as warcio would before the next one: skipped records and
    rejected bodies are read to their end either way) and returns how many bytes its
    Content-Length promised that the file does not hold."""
    while record.raw_stream.read(_CHUNK):
        pass
    return int(getattr(record.raw_stream, "limit", 0))


def _one(record: ArcWarcRecord, origin: str, source: str, max_bytes: int) -> FromArchive:
    kind = record.rec_type
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    if not kind:  # a blank line where a header should be (a gzip member of blank lines)
        detail = "a record without a header (no WARC-Type)"
        return FromArchive(origin, url, state="failed", reason=BAD_ARCHIVE, detail=detail)
    if kind == "revisit":
        return FromArchive(origin, url, state="unchanged", reason=REVISIT, detail="WARC revisit")
    if kind not in ("response", "conversion"):
        return FromArchive(origin, url, skipped=f"archive_{kind}")
    if record.rec_headers.get_header(ROLE_HEADER) == "index":
        return FromArchive(origin, url, skipped="archive_index")
    content_type, status = "", 200
    if kind == "response":
        http = record.http_headers
        if http is None:
            return FromArchive(origin, url, skipped="archive_response_without_http")
        status = int(http.get_statuscode() or 0)
        if status != 200:
            return FromArchive(origin, url, skipped=f"archive_status_{status}")
        content_type = (http.get_header("Content-Type") or "").lower()
    body = record.content_stream().read(max_bytes + 1)
    if len(body) > max_bytes:
        return FromArchive(
            origin, url, state="rejected", reason=TOO_LARGE, detail=f"more than {max_bytes} bytes"
        )
    if kind == "conversion":
        page_kind = "text"
    elif "html" in content_type or (not content_type and sniff_html(body)):
        page_kind = "html"
    else:
        return FromArchive(origin, url, skipped="archive_not_html")
    http = record.http_headers
    page = RawPage(
        origin=origin,
        url=url,
        source=source,
        body=body,
        content_type=page_kind,
        encoding=_charset(content_type),
        status=status,
        etag=http.get_header("ETag") if http is not None else None,
        last_modified=http.get_header("Last-Modified") if http is not None else None,
    )
    if fetched := _fetch_time(record):
        page.fetched_at = fetched
    return FromArchive(origin, url, page=page)
