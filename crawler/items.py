"""The two documents that flow through the system.

Plain dataclasses, no Scrapy import: `cleaners/` and `db/` use them without Twisted, and Scrapy's
item pipelines accept dataclass items as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def utcnow_iso() -> str:
    """Current time as ISO 8601 with an explicit UTC offset (seconds precision)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


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


@dataclass
class Article:
    """One clean article, ready for fingerprinting and storage.

    `published_at` is ISO 8601 and carries an offset whenever the page states its time zone; it is
    None when the page gives no date. It is never guessed from body text.
    """

    url: str
    origin: str
    source: str
    text: str
    title: str | None = None
    author: str | None = None
    published_at: str | None = None
    language: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""
    # MinHash signature (hash values) or None when the text is too short for near-dup detection.
    signature: list[int] | None = None
    # The shingle-hash set the signature was computed from, when the fingerprint kept it: the
    # store verifies near-duplicate candidates with it instead of hashing the text again.
    shingles: np.ndarray | None = field(default=None, repr=False, compare=False)
