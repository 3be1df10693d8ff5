"""The items a spider yields: `RawPage`, one fetched input (a plain dataclass, which Scrapy's item
pipelines and feed exports accept as it is). `Article`, what the cleaners make of it, belongs to the
shared vocabulary (db/vocabulary.py) and is re-exported here for spiders that build their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from db.vocabulary import Article, utcnow_iso

__all__ = ["Article", "RawPage", "utcnow_iso"]


@dataclass
class RawPage:
    """One input as it arrived: a fetched URL or a file read from disk.

    `origin` is what was asked for (the URL as requested, or the file path as given); `url` is where
    the bytes really came from (the final URL after redirects, or a `file://` URL).
    """

    origin: str
    url: str
    source: str
    body: bytes = field(repr=False)  # not in logs (Scrapy logs items it scrapes or drops)
    content_type: str | None = None  # "text/html", "text/plain"; None = sniff
    encoding: str | None = None  # charset from the HTTP header, if any
    fetched_at: str = field(default_factory=utcnow_iso)
    status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    attempts: int = 1  # fetches it took (Scrapy's retries + 1); 1 for a file
