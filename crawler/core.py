"""The one core path both entry kinds share: RawPage -> clean -> fingerprint -> store -> ledger.

The Scrapy item pipeline and the file loader are thin adapters over `Ingest.process`.
"""

from __future__ import annotations

import logging
import sqlite3

from sqlite_utils import Database

from cleaners.clean import Cleaned, CleanOptions
from cleaners.errors import Rejected
from cleaners.fingerprint import (
    DedupConfig,
    canonical_url,
    content_hash,
    normalise_text,
    shingle_hashes,
    signature,
)
from cleaners.worker import CleanFailed, WorkerCleaner
from crawler.items import Article, RawPage
from crawler.report import RunReport
from db.store import Outcome, already_recorded, record, store_articles

log = logging.getLogger(__name__)


def _fragment(published_at: str | None, digest: str, taken: set[str]) -> str:
    """A split entry's identity within its page: its byline time (stable when new entries are added
    above it), else its text hash; `-2`, `-3`... when two entries share a byline time."""
    base = published_at or f"entry-{digest[:12]}"
    fragment, k = base, 1
    while fragment in taken:
        k += 1
        fragment = f"{base}-{k}"
    taken.add(fragment)
    return fragment


def build_articles(page: RawPage, cleaned: Cleaned, config: DedupConfig) -> list[Article]:
    """Articles with canonical URL, content hash and MinHash signature, ready for the store.

    Split entries get `origin#n` (n from 1, the position in this fetch) and a URL fragment that
    names the entry itself, so adding an entry at the top of a listing leaves the others unchanged.
    """
    split = len(cleaned.entries) > 1
    base_url = canonical_url(page.url)
    articles = []
    fragments: set[str] = set()
    for n, entry in enumerate(cleaned.entries, start=1):
        normalised = normalise_text(entry.text)
        digest = content_hash(normalised)
        hashes = shingle_hashes(normalised, config.shingle_size)
        sig = signature(hashes, config) if len(hashes) >= config.min_shingles else None
        metadata = dict(entry.metadata)
        if sig is None:
            metadata["dedup"] = "exact_only"
        articles.append(
            Article(
                url=f"{base_url}#{_fragment(entry.published_at, digest, fragments)}"
                if split
                else base_url,
                origin=f"{page.origin}#{n}" if split else page.origin,
                source=page.source,
                text=entry.text,
                title=entry.title,
                author=entry.author,
                published_at=entry.published_at,
                language=entry.language,
                metadata=metadata,
                content_hash=digest,
                signature=sig,
            )
        )
    return articles


class Ingest:
    """Processes raw pages for one run, writing one transaction per input and counting outcomes."""

    def __init__(
        self,
        db: Database,
        report: RunReport,
        config: DedupConfig,
        *,
        cleaner: WorkerCleaner,
        near: bool = True,
    ) -> None:
        self.db = db
        self.report = report
        self.config = config
        self.near = near
        self.cleaner = cleaner  # the caller closes it

    def settle(
        self,
        page: RawPage,
        state: str,
        reason: str,
        detail: str = "",
        *,
        article_id: int | None = None,
    ) -> list[Outcome]:
        """One input that ends without cleaning (refused, unreadable, an HTTP error, known
        unchanged): counted and recorded with its reason, unless this run already recorded it."""
        if self.repeated(page.origin, page.url):
            return []
        self.report.inputs += 1
        return self._record(page, state, reason, detail, article_id)

    def _record(
        self,
        page: RawPage,
        state: str,
        reason: str,
        detail: str = "",
        article_id: int | None = None,
    ) -> list[Outcome]:
        outcome = Outcome(page.origin, state, reason, article_id=article_id, url=page.url)
        record(self.db, self.report.run_id, page.source, outcome, detail or None)
        self.report.add([outcome])
        return [outcome]

    def _conflict(self, page: RawPage) -> list[Outcome]:
        try:
            return self._record(page, "failed", "origin_conflict", "name taken in this run")
        except sqlite3.IntegrityError:
            self.report.skipped["origin_conflict"] += 1
            log.warning("not recorded, its name is taken in this run: %s", page.origin)
            return []

    def repeated(self, origin: str, url: str) -> bool:
        """True (and counted as skipped) when this run already recorded `origin` fetched from `url`:
        an input named twice, or a URL requested twice. Its first terminal state stands."""
        if already_recorded(self.db, self.report.run_id, origin, canonical_url(url)):
            self.report.skipped["repeated_input"] += 1
            return True
        return False

    def process(self, page: RawPage, options: CleanOptions) -> list[Outcome]:
        """Clean, fingerprint and store one input; [] for a repeated input. Database errors
        propagate (the run must stop); anything else wrong with the input ends in a recorded state."""
        if self.repeated(page.origin, page.url):
            return []
        self.report.inputs += 1
        try:
            cleaned = self.cleaner.clean(
                page.body,
                kind=page.content_type,
                declared_encoding=page.encoding,
                url=page.url,
                options=options,
            )
            articles = build_articles(page, cleaned, self.config)
        except Rejected as exc:
            return self._record(page, "rejected", exc.reason, exc.detail)
        except CleanFailed as exc:
            return self._record(page, "failed", exc.reason, exc.detail)
        except (sqlite3.Error, KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:  # a cleaner bug or a library failure on hostile input
            log.exception("cleaning failed for %s", page.origin)
            return self._record(page, "failed", "clean_error", f"{type(exc).__name__}: {exc}")
        try:
            outcomes = store_articles(
                self.db, self.report.run_id, articles, self.config, near=self.near
            )
        except sqlite3.IntegrityError as exc:
            # Only the ledger's UNIQUE(run_id, origin) can fail here: an input whose name collides
            # with another's in this run (a file literally named `listing.html#1`). Rolled back.
            if "pages.run_id, pages.origin" not in str(exc):
                raise
            return self._conflict(page)
        self.report.fired.update(cleaned.fired)
        self.report.exact_only += sum(1 for a in articles if a.signature is None)
        self.report.add(outcomes)
        return outcomes
