"""The shared vocabulary: what an article is, what can happen to an input, and why.

Every layer above the cleaners speaks these words: the store writes them, the run report counts
them, the crawler and the loaders choose them. Each ledger reason is defined once, here or (for
the reasons the cleaners give) in cleaners/errors.py, and `REASONS` is the one table of all of
them that docs/schema.md is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cleaners import errors

if TYPE_CHECKING:
    import numpy as np

# Terminal states of an input (pages.state), in the order reports list them.
STATES = ("stored", "duplicate", "unchanged", "rejected", "failed")
# Metadata fields whose coverage the run report shows.
FIELDS = ("title", "author", "published_at", "language")


def utcnow_iso() -> str:
    """Current time as ISO 8601 with an explicit UTC offset (seconds precision)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


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
    fetched_at: str | None = None  # when its text was fetched (never a publication time)
    entry: int | None = None  # its place n in a split listing (its origin is then `input#n`)
    content_hash: str = ""
    # MinHash signature (hash values) or None when the text is too short for near-dup detection.
    signature: list[int] | None = None
    # The shingle-hash set the signature was computed from, when the fingerprint kept it: the
    # store verifies near-duplicate candidates with it instead of hashing the text again.
    shingles: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Outcome:
    """What happened to one input (or one split entry): one ledger row."""

    origin: str
    state: str
    reason: str | None = None
    article_id: int | None = None
    duplicate_of: int | None = None
    similarity: float | None = None
    url: str | None = None


# --- ledger reasons given outside the cleaners -------------------------------------------------
# files
NOT_REGULAR_FILE = "not_regular_file"
OUTSIDE_ROOT = "outside_root"
UNREADABLE = "unreadable"
UNSUPPORTED_TYPE = "unsupported_type"
# the address policy
BAD_SCHEME = "bad_scheme"
PRIVATE_ADDRESS = "private_address"
UNRESOLVABLE = "unresolvable"
# fetching
FETCH_ERROR = "fetch_error"
REDIRECT_LOOP = "redirect_loop"
TOO_MANY_REDIRECTS = "too_many_redirects"
ROBOTS_DISALLOWED = "robots_disallowed"
ROBOTS_UNREACHABLE = "robots_unreachable"
HTTP = "http_"  # + the status: http_404, http_503
# sitemaps and feeds
EMPTY_SITEMAP = "empty_sitemap"
EMPTY_FEED = "empty_feed"
BAD_SITEMAP = "bad_sitemap"
# web archives
REVISIT = "revisit"
BAD_ARCHIVE = "bad_archive"
# revisits
SAME_CONTENT = "same_content"
NOT_REFETCHED = "not_refetched"
NOT_MODIFIED = "not_modified"
# the core path
DROPPED = "dropped"
CLEAN_ERROR = "clean_error"
ORIGIN_CONFLICT = "origin_conflict"
UPDATED = "updated"
# duplicates: the kind of match
DUP_URL, DUP_CONTENT, DUP_NEAR = "url", "content", "near"

# Why a crawl stops early (Scrapy's close reason), not a ledger reason.
DATABASE_ERROR = "database_error"
SOURCE_BUSY = "source_busy"

# Every ledger reason: reason -> (the states it goes with, what it means). docs/schema.md has a
# row for each (a test checks both ways). `http_NNN` stands for every HTTP status.
REASONS: dict[str, tuple[tuple[str, ...], str]] = {
    DUP_URL: (("duplicate",), "the same text at the same URL, reached from another request"),
    DUP_CONTENT: (("duplicate",), "the same normalised text as a stored article"),
    DUP_NEAR: (("duplicate",), "a near-duplicate of a stored article (verified Jaccard)"),
    UPDATED: (("stored",), "new content replaced the article at the same URL"),
    SAME_CONTENT: (("unchanged",), "the same input again with the same text"),
    NOT_REFETCHED: (("unchanged",), "stored before and not due for a revisit; not requested"),
    NOT_MODIFIED: (("unchanged",), "a revisited page answered 304; not extracted again"),
    REVISIT: (("unchanged",), "a WARC revisit record: the archive saw the page unchanged"),
    BAD_ARCHIVE: (("failed",), "an archive record that cannot be read; the rest of its file"),
    errors.EMPTY: (("rejected",), "no bytes, or only whitespace"),
    errors.NOT_TEXT: (("rejected",), "binary content, or not parseable as HTML"),
    errors.BAD_ENCODING: (("rejected",), "no charset decodes it cleanly"),
    errors.TOO_LARGE: (("rejected",), "over the size cap"),
    errors.BAD_GZIP: (("rejected",), "a .gz file that does not decompress"),
    errors.NO_CONTENT: (("rejected",), "no main text found"),
    errors.TOO_SHORT: (("rejected",), "too little text for an article"),
    errors.EXTRACT_TIMEOUT: (("rejected",), "cleaning took longer than its deadline"),
    errors.TOO_DEEP: (("rejected",), "HTML nested deeper than the parser follows"),
    UNSUPPORTED_TYPE: (("rejected",), "a file named on the command line of another type"),
    NOT_REGULAR_FILE: (("rejected",), "a FIFO, device or socket"),
    OUTSIDE_ROOT: (("rejected",), "a file that leads out of the loaded folder"),
    UNREADABLE: (("failed",), "the file could not be read"),
    PRIVATE_ADDRESS: (("rejected",), "a request to a private address not allowed"),
    ROBOTS_DISALLOWED: (("rejected",), "robots.txt forbids the URL"),
    ROBOTS_UNREACHABLE: (("rejected",), "robots.txt answered 5xx or could not be fetched"),
    BAD_SCHEME: (("rejected",), "a request or redirect to a scheme other than http(s)"),
    UNRESOLVABLE: (("rejected",), "the host name does not resolve"),
    HTTP + "NNN": (("rejected", "failed"), "an HTTP error status (4xx rejected, 5xx/429 failed)"),
    REDIRECT_LOOP: (("rejected",), "a redirect back into its own chain"),
    TOO_MANY_REDIRECTS: (("rejected",), "a redirect chain past REDIRECT_MAX_TIMES"),
    FETCH_ERROR: (("failed",), "the fetch failed after retries"),
    EMPTY_SITEMAP: (("failed",), "a sitemap that lists no article"),
    EMPTY_FEED: (("failed",), "a feed that lists no article"),
    BAD_SITEMAP: (("failed",), "a sitemap that is not a sitemap"),
    DROPPED: (("failed",), "an article request that ended without a result"),
    CLEAN_ERROR: (("failed",), "the cleaner raised an unexpected error"),
    errors.CLEAN_CRASHED: (("failed",), "the cleaning worker died on this input"),
    ORIGIN_CONFLICT: (("failed",), "another input of the run holds this name"),
}
