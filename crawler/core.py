"""The one core path both entry kinds share: RawPage -> clean -> fingerprint -> store -> ledger.

The Scrapy item pipeline and the file loader are thin adapters over `Ingest` (admit, submit,
prepared, commit).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field

from sqlite_utils import Database

from cleaners.clean import Cleaned, CleanOptions
from cleaners.errors import Rejected
from cleaners.fingerprint import DedupConfig, canonical_url, fingerprint
from cleaners.worker import CleanerPool, CleanFailed
from crawler.items import Article, RawPage
from crawler.report import RunReport
from db.store import Outcome, Unit, already_recorded, record, store_units

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
                content_hash=digest,
                signature=sig,
                shingles=print_.shingles,
            )
        )
    return articles


@dataclass
class Prepared:
    """A page cleaned (and fingerprinted, when the cleaning did it), not yet stored: its articles,
    or why it has none. `cleaned` waits for `Ingest.commit` to fingerprint it there instead."""

    articles: list[Article] = field(default_factory=list)
    fired: Counter[str] = field(default_factory=Counter)
    failure: tuple[str, str, str] | None = None  # (state, reason, detail)
    cleaned: Cleaned | None = None


class Ingest:
    """Processes raw pages for one run, recording every input's terminal state and counting
    outcomes.

    Callers (the crawl's pipeline, the file loader's pipeline) call `admit` and `commit` /
    `commit_many` on the database's thread and `submit` and `prepared` on any thread;
    `commit_many` stores a batch of inputs in one transaction, in the order given.
    """

    def __init__(
        self,
        db: Database,
        report: RunReport,
        config: DedupConfig,
        *,
        near: bool = True,
    ) -> None:
        self.db = db
        self.report = report
        self.config = config
        self.near = near
        self._pending: set[str] = set()  # origins admitted and not yet committed

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
        started = time.perf_counter()
        record(self.db, self.report.run_id, page.source, outcome, detail or None, page.attempts)
        self.report.timed_commit(started)
        self.report.add([outcome])
        self.report.tick()
        return [outcome]

    def _conflict(self, page: RawPage) -> list[Outcome]:
        try:
            return self._record(page, "failed", "origin_conflict", "name taken in this run")
        except sqlite3.IntegrityError:
            self.report.skipped["origin_conflict"] += 1
            log.warning("not recorded, its name is taken in this run: %s", page.origin)
            return []

    def repeated(self, origin: str, url: str) -> bool:
        """True (and counted as skipped) when this run already recorded `origin` fetched from `url`,
        or is cleaning it right now: an input named twice, or a URL requested twice. Its first
        terminal state stands."""
        if origin in self._pending or already_recorded(
            self.db, self.report.run_id, origin, canonical_url(url)
        ):
            self.report.skipped["repeated_input"] += 1
            return True
        return False

    def admit(self, page: RawPage) -> bool:
        """Accept `page` for cleaning (False for a repeated input). An admitted page must reach
        `commit`, which records its terminal state."""
        if self.repeated(page.origin, page.url):
            return False
        self.report.inputs += 1
        self._pending.add(page.origin)
        return True

    def submit(
        self,
        page: RawPage,
        options: CleanOptions,
        pool: CleanerPool,
        *,
        fingerprint_here: bool = False,
    ) -> Future[Cleaned]:
        """Queue `page` for cleaning (and fingerprinting) in `pool`; `prepared` turns the future
        into what `commit` stores. `fingerprint_here`: leave fingerprints to `commit` (on the
        writer's thread) instead of the cleaning worker."""
        return pool.submit(
            page.body,
            kind=page.content_type,
            declared_encoding=page.encoding,
            url=page.url,
            options=options,
            fingerprint_with=None if fingerprint_here else self.config,
        )

    def prepared(self, page: RawPage, cleaning: Future[Cleaned]) -> Prepared:
        """Wait for `page`'s cleaning: no database access, so it may run off the writer's
        thread. Anything wrong with the input becomes a recorded failure."""
        try:
            cleaned = cleaning.result()
            if not cleaned.fingerprints:  # left to commit (or nothing to fingerprint)
                return Prepared(fired=cleaned.fired, cleaned=cleaned)
            return Prepared(build_articles(page, cleaned, self.config), cleaned.fired)
        except Rejected as exc:
            return Prepared(failure=("rejected", exc.reason, exc.detail))
        except CleanFailed as exc:
            return Prepared(failure=("failed", exc.reason, exc.detail))
        except (KeyboardInterrupt, MemoryError, CancelledError):
            raise
        except Exception as exc:  # a cleaner bug or a library failure on hostile input
            log.exception("cleaning failed for %s", page.origin)
            return Prepared(failure=("failed", "clean_error", f"{type(exc).__name__}: {exc}"))

    def commit(self, page: RawPage, prepared: Prepared) -> list[Outcome]:
        """Store an admitted page's articles (or its failure) as one unit of work."""
        return self.commit_many([(page, prepared)])[0]

    def commit_many(self, batch: list[tuple[RawPage, Prepared]]) -> list[list[Outcome]]:
        """Store admitted pages (their articles or their failures) in one transaction, in the
        order given, each page a whole unit; returns each page's outcomes. Database errors
        propagate: the run must stop."""
        units = []
        for page, prepared in batch:
            if prepared.failure is not None:
                state, reason, detail = prepared.failure
                outcome = Outcome(page.origin, state, reason, url=page.url)
                unit = Unit(outcome=outcome, source=page.source, detail=detail or None)
            else:
                articles = prepared.articles
                if prepared.cleaned is not None:
                    articles = build_articles(page, prepared.cleaned, self.config)
                    prepared.articles, prepared.cleaned = articles, None
                unit = Unit(articles=articles)
            unit.attempts = page.attempts
            units.append(unit)
        started = time.perf_counter()
        try:
            results = store_units(self.db, self.report.run_id, units, self.config, near=self.near)
        finally:
            for page, _prepared in batch:
                self._pending.discard(page.origin)
        self.report.timed_commit(started)
        for n, ((page, prepared), unit) in enumerate(zip(batch, units, strict=True)):
            if unit.conflict:
                # an input whose name collides with another's in this run (a file literally
                # named `listing.html#1`): recorded on its own, if even that name is free
                results[n] = self._conflict(page)
                continue
            self.report.fired.update(prepared.fired)
            self.report.exact_only += sum(1 for a in unit.articles if a.signature is None)
            self.report.add(results[n])
            self.report.tick()
        return results
