"""The one core path every kind of input shares: RawPage -> clean -> fingerprint -> writer.

The Scrapy item pipeline and the file loader are thin adapters over `Ingest` (admit, submit,
prepared, store); the run's writer (crawler/writer.py) does every write.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field

from cleaners.clean import Cleaned, CleanOptions
from cleaners.errors import Rejected
from cleaners.fingerprint import DedupConfig, canonical_url, fingerprint
from cleaners.worker import CleanerPool, CleanFailed
from crawler.items import RawPage
from crawler.run import Run
from crawler.writer import Work
from db.store import Unit, already_recorded
from db.vocabulary import CLEAN_ERROR, Article, Outcome

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
    # Fingerprints come with the cleaning (computed in the worker) when it was asked for them.
    prints = cleaned.fingerprints or [fingerprint(e.text, config) for e in cleaned.entries]
    for n, (entry, print_) in enumerate(zip(cleaned.entries, prints, strict=True), start=1):
        digest, sig = print_.content_hash, print_.signature
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
                fetched_at=page.fetched_at,
                entry=n if split else None,
                content_hash=digest,
                signature=sig,
                shingles=print_.shingles,
            )
        )
    return articles


@dataclass
class Prepared:
    """A page cleaned (and fingerprinted, when the cleaning did it), not yet stored: its articles,
    or why it has none. `cleaned` waits for the writer to fingerprint it there instead."""

    articles: list[Article] = field(default_factory=list)
    fired: Counter[str] = field(default_factory=Counter)
    removed: Counter[str] = field(default_factory=Counter)  # characters each rule removed
    failure: tuple[str, str, str] | None = None  # (state, reason, detail)
    cleaned: Cleaned | None = None


class Ingest:
    """Processes the raw pages of one run, so that every input admitted ends in exactly one ledger
    row. `admit` and `settle` run on the producer's thread, `submit` and `prepared` on any; the
    run's writer stores, in the order `store` and `settle` were called."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.report = run.report
        self.config = run.config

    def repeated(self, origin: str, url: str) -> bool:
        """True (and counted as skipped) when this run already recorded `origin` fetched from `url`,
        or has it in flight: an input named twice, or a URL requested twice. Its first terminal
        state stands. (The name is checked among those in flight first: a name leaves them only
        once its row is committed, where the reader sees it.)"""
        writer, reader = self.run.writer, self.run.reader
        if writer.reserved(origin) or (
            reader is not None
            and already_recorded(reader, self.report.run_id, origin, canonical_url(url))
        ):
            self.report.skipped["repeated_input"] += 1
            return True
        return False

    def admit(self, page: RawPage) -> bool:
        """Accept `page` for cleaning (False for a repeated input). An admitted page must reach
        `store`, which records its terminal state."""
        if self.repeated(page.origin, page.url) or not self.run.writer.reserve(page.origin):
            return False
        self.report.inputs += 1
        return True

    def settle(
        self,
        page: RawPage,
        state: str,
        reason: str,
        detail: str = "",
        *,
        article_id: int | None = None,
        revalidated: str | None = None,
    ) -> Future[list[Outcome]] | None:
        """One input that ends without cleaning (refused, unreadable, an HTTP error, known
        unchanged): counted and recorded with its reason, unless this run already recorded it
        (then None)."""
        if not self.admit(page):
            return None
        outcome = Outcome(page.origin, state, reason, article_id=article_id, url=page.url)
        unit = Unit(outcome=outcome, source=page.source, detail=detail or None)
        unit.attempts = page.attempts
        work = Work(page.origin, page.url, page.source, lambda: unit, revalidated=revalidated)
        return self.run.writer.submit(work)

    def submit(
        self,
        page: RawPage,
        options: CleanOptions,
        pool: CleanerPool,
        *,
        fingerprint_here: bool = False,
    ) -> Future[Cleaned]:
        """Queue `page` for cleaning (and fingerprinting) in `pool`; `prepared` turns the future
        into what `store` stores. `fingerprint_here`: leave fingerprints to the writer's thread
        instead of the cleaning worker."""
        return pool.submit(
            page.body,
            kind=page.content_type,
            declared_encoding=page.encoding,
            url=page.url,
            options=options,
            fingerprint_with=None if fingerprint_here else self.config,
        )

    def prepared(self, page: RawPage, cleaning: Future[Cleaned]) -> Prepared:
        """Wait for `page`'s cleaning: no database access, so it may run on any thread. Anything
        wrong with the input becomes a recorded failure."""
        try:
            cleaned = cleaning.result()
            if not cleaned.fingerprints:  # left to the writer (or nothing to fingerprint)
                return Prepared(fired=cleaned.fired, removed=cleaned.removed_chars, cleaned=cleaned)
            articles = build_articles(page, cleaned, self.config)
            return Prepared(articles, cleaned.fired, removed=cleaned.removed_chars)
        except Rejected as exc:
            return Prepared(failure=("rejected", exc.reason, exc.detail))
        except CleanFailed as exc:
            return Prepared(failure=("failed", exc.reason, exc.detail))
        except (KeyboardInterrupt, MemoryError, CancelledError):
            raise
        except Exception as exc:  # a cleaner bug or a library failure on hostile input
            log.exception("cleaning failed for %s", page.origin)
            return Prepared(failure=("failed", CLEAN_ERROR, f"{type(exc).__name__}: {exc}"))

    def abandon(self, page: RawPage) -> None:
        """An admitted page that will not be stored (its crawl item was cancelled): its name is
        free again, and the next run fetches it."""
        self.run.writer.release(page.origin)

    def store(self, page: RawPage, prepared: Prepared) -> Future[list[Outcome]]:
        """Hand an admitted page's articles (or its failure) to the writer as one unit of work."""
        config = self.config

        def make() -> Unit:
            if prepared.failure is not None:
                state, reason, detail = prepared.failure
                outcome = Outcome(page.origin, state, reason, url=page.url)
                unit = Unit(outcome=outcome, source=page.source, detail=detail or None)
            else:
                articles = prepared.articles
                if prepared.cleaned is not None:
                    articles = build_articles(page, prepared.cleaned, config)
                unit = Unit(articles=articles)
            unit.attempts = page.attempts
            return unit

        validators = None
        if page.etag or page.last_modified:
            validators = (canonical_url(page.url), page.etag, page.last_modified)
        work = Work(
            page.origin,
            page.url,
            page.source,
            make,
            fired=prepared.fired,
            removed=prepared.removed,
            validators=validators,
        )
        return self.run.writer.submit(work)
