"""The store: one unit of work (all articles of one input, their band keys and ledger rows) per
`BEGIN IMMEDIATE` transaction. The only writer of articles; exact and near dedup decide here, inside
the transaction, so two processes storing the same text cannot both win.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlite_utils import Database

from cleaners.fingerprint import DedupConfig, band_keys
from crawler import failpoints
from crawler.items import Article, utcnow_iso
from db.connect import write_transaction
from db.dedup import assert_config, find_near_duplicate, insert_keys

STATES = ("stored", "duplicate", "unchanged", "rejected", "failed")


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


def _ledger(
    db: Database,
    run_id: int,
    source: str,
    outcome: Outcome,
    detail: str | None = None,
    attempts: int = 1,
) -> None:
    db.execute(
        """INSERT INTO pages(run_id, origin, url, source, state, reason, article_id, duplicate_of,
                             similarity, attempts, detail, recorded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            run_id, outcome.origin, outcome.url, source, outcome.state, outcome.reason,
            outcome.article_id, outcome.duplicate_of, outcome.similarity, attempts, detail,
            utcnow_iso(),
        ],
    )  # fmt: skip


def already_recorded(db: Database, run_id: int, origin: str, url: str) -> bool:
    """True when this run has already recorded the input `origin` fetched from `url` (named twice
    in one run): as itself, or as a listing split into `origin#1`, `origin#2`... whose entry URLs
    are `url#...` (so a different file that happens to be named `origin#1` does not count)."""
    prefix = url + "#"
    row = db.execute(
        """SELECT 1 FROM pages WHERE run_id = ? AND (origin = ?
               OR (origin = ? AND substr(url, 1, ?) = ?))""",
        [run_id, origin, origin + "#1", len(prefix), prefix],
    ).fetchone()
    return row is not None


def record(
    db: Database,
    run_id: int,
    source: str,
    outcome: Outcome,
    detail: str | None = None,
    attempts: int = 1,
) -> Outcome:
    """Record an input that produced no article (rejected or failed) as its own unit of work."""
    with write_transaction(db):
        _ledger(db, run_id, source, outcome, detail, attempts)
    return outcome


def store_articles(
    db: Database,
    run_id: int,
    articles: list[Article],
    config: DedupConfig,
    *,
    near: bool = True,
    attempts: int = 1,
) -> list[Outcome]:
    """Store one input's articles atomically; returns one outcome per article, in order.
    `attempts`: fetches it took (recorded in the ledger)."""
    outcomes = []
    with write_transaction(db):
        assert_config(db, config)
        for article in articles:
            outcome = _store_one(db, run_id, article, config, near)
            _ledger(db, run_id, article.source, outcome, attempts=attempts)
            outcomes.append(outcome)
        failpoints.hit("before_commit")
    failpoints.hit("after_commit")
    return outcomes


def _store_one(db: Database, run_id: int, a: Article, config: DedupConfig, near: bool) -> Outcome:
    same_url = db.execute(
        "SELECT id, content_hash, origin FROM articles WHERE url = ?", [a.url]
    ).fetchone()
    if same_url is not None and same_url[1] == a.content_hash:
        article_id, _hash, stored_origin = same_url
        # The same input again: a file (however its path was spelled) or the same requested URL;
        # split entries may have moved within their listing (origin#n changes).
        if a.url.startswith("file:") or _base(stored_origin) == _base(a.origin):
            return Outcome(a.origin, "unchanged", "same_content", article_id=article_id, url=a.url)
        return Outcome(
            a.origin, "duplicate", "url", duplicate_of=article_id, similarity=1.0, url=a.url
        )
    keys = band_keys(a.signature, config) if a.signature is not None else []
    # New text, at a new URL or as a revision of a stored one: if it copies another article it is a
    # duplicate either way (a revised article then keeps its last stored text).
    duplicate = _duplicate(db, a, keys, config, near, exclude=same_url[0] if same_url else None)
    if duplicate is not None:
        return duplicate
    if same_url is not None:
        article_id = int(same_url[0])
        db.execute(
            """UPDATE articles SET origin = ?, source = ?, title = ?, author = ?, published_at = ?,
                   language = ?, text = ?, metadata = ?, content_hash = ?, run_id = ?, updated_at = ?
               WHERE id = ?""",
            [
                a.origin, a.source, a.title, a.author, a.published_at, a.language, a.text,
                _json(a), a.content_hash, run_id, utcnow_iso(), article_id,
            ],
        )  # fmt: skip
        db.execute("DELETE FROM dedup_bands WHERE article_id = ?", [article_id])
    else:
        cursor = db.execute(
            """INSERT INTO articles(url, origin, source, title, author, published_at, language, text,
                                    metadata, content_hash, run_id, stored_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                a.url, a.origin, a.source, a.title, a.author, a.published_at, a.language, a.text,
                _json(a), a.content_hash, run_id, utcnow_iso(),
            ],
        )  # fmt: skip
        article_id = int(cursor.lastrowid or 0)
    if keys:
        insert_keys(db, article_id, keys)
    return Outcome(
        a.origin, "stored", "updated" if same_url else None, article_id=article_id, url=a.url
    )


def _duplicate(
    db: Database, a: Article, keys: list[int], config: DedupConfig, near: bool, exclude: int | None
) -> Outcome | None:
    """Content (same normalised-text hash) or near (verified Jaccard) duplicate of a stored article."""
    same_text = db.execute(
        "SELECT id FROM articles WHERE content_hash = ?", [a.content_hash]
    ).fetchone()
    if same_text is not None:
        return Outcome(
            a.origin, "duplicate", "content", duplicate_of=same_text[0], similarity=1.0, url=a.url
        )
    if near and keys and (match := find_near_duplicate(db, keys, a.text, config, exclude=exclude)):
        return Outcome(
            a.origin, "duplicate", "near", duplicate_of=match.article_id,
            similarity=match.similarity, url=a.url,
        )  # fmt: skip
    return None


def _base(origin: str) -> str:
    return origin.split("#", 1)[0]


def _json(a: Article) -> str:
    return json.dumps(a.metadata, ensure_ascii=False, sort_keys=True)
