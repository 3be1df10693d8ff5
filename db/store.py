"""The store: units of work (all articles of one input, their band keys and ledger rows, or the
ledger row of an input that has no article), a group of them in one `BEGIN IMMEDIATE`
transaction, in input order. Called by the run's writer (crawler/writer.py), the only code that
writes articles; exact and near dedup decide here, inside the transaction, so two processes
storing the same text cannot both win, and a unit is stored whole or not at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlite_utils import Database

from cleaners.fingerprint import DedupConfig, band_keys
from db import failpoints
from db.dedup import assert_config, exact_only_detail, find_near_duplicate, insert_keys
from db.transaction import write_transaction
from db.vocabulary import Article, Outcome, utcnow_iso

_LEDGER_INSERT = """INSERT INTO pages(run_id, origin, url, source, state, reason, article_id,
    duplicate_of, similarity, attempts, detail, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def _ledger_row(
    run_id: int,
    source: str,
    outcome: Outcome,
    detail: str | None = None,
    attempts: int = 1,
) -> tuple[object, ...]:
    return (
        run_id, outcome.origin, outcome.url, source, outcome.state, outcome.reason,
        outcome.article_id, outcome.duplicate_of, outcome.similarity, attempts, detail,
        utcnow_iso(),
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


@dataclass
class Unit:
    """One input's unit of work: its articles, or (`outcome`) the ledger row of an input that has
    none. `conflict` is filled by `store_units` when the input's name is taken in this run."""

    articles: list[Article] = field(default_factory=list)
    attempts: int = 1
    outcome: Outcome | None = None  # an input without articles: rejected, failed, ...
    source: str = ""
    detail: str | None = None
    conflict: bool = False
    run_id: int | None = None  # the run it belongs to, when not the group's (cluster jobs)
    # Delivered at least once (a broker's result): skipped, with no outcome and `repeat` set, when
    # its run already recorded its name (checked in the transaction that would store it).
    once: bool = False
    repeat: bool = False


def store_units(
    db: Database, run_id: int, units: list[Unit], config: DedupConfig, *, near: bool = True
) -> list[list[Outcome]]:
    """Store `units` in one transaction, in order (an earlier unit's articles are seen by the dedup
    of later ones, so the result is the one of storing them one by one). A unit whose ledger name
    is taken in this run (`UNIQUE(run_id, origin)`) writes nothing and is marked `conflict`, with no
    outcome. The ledger rows are written together at the end of the transaction (nothing in it
    reads them). Returns each unit's outcomes."""
    results: list[list[Outcome]] = []
    rows: list[tuple[object, ...]] = []
    named: set[tuple[int, str]] = set()  # ledger names (run, origin) this batch writes
    with write_transaction(db):
        assert_config(db, config)
        for unit in units:
            run = unit.run_id or run_id
            if unit.once and _delivered_before(db, run, unit, named):
                unit.repeat = True
                results.append([])
                continue
            if _name_taken(db, run, unit, named):
                unit.conflict = True
                results.append([])
                continue
            results.append(_store_unit(db, run, unit, config, near, rows))
            named.update((run, o.origin) for o in results[-1])
            if unit.articles:  # an input that was cleaned (a ledger-only row is not counted)
                failpoints.hit("before_commit")
        db.conn.executemany(_LEDGER_INSERT, rows)
    failpoints.hit("after_commit")
    return results


def _name_taken(db: Database, run_id: int, unit: Unit, named: set[tuple[int, str]]) -> bool:
    """True when a ledger row this unit would write is already in this run (or in this batch):
    checked before writing anything (a savepoint per unit would do it too, but makes the search
    index flush its pending terms at each one, which costs a third of the store's speed)."""
    origins = [unit.outcome.origin] if unit.outcome else [a.origin for a in unit.articles]
    if not any("#" in o for o in origins):
        # Ingest.admit lets no input be recorded twice in a run; only a split listing's
        # `origin#n` can meet an input literally named so
        return False
    if named.intersection((run_id, o) for o in origins):
        return True
    marks = ", ".join("?" * len(origins))
    row = db.execute(
        f"SELECT 1 FROM pages WHERE run_id = ? AND origin IN ({marks}) LIMIT 1", [run_id, *origins]
    ).fetchone()
    return row is not None


def _delivered_before(db: Database, run_id: int, unit: Unit, named: set[tuple[int, str]]) -> bool:
    """A unit delivered again: its run (or this batch) has a ledger row of its first name."""
    first = (
        unit.outcome.origin if unit.outcome else unit.articles[0].origin if unit.articles else ""
    )
    if (run_id, first) in named:
        return True
    row = db.execute(
        "SELECT 1 FROM pages WHERE run_id = ? AND origin = ?", [run_id, first]
    ).fetchone()
    return row is not None


def _store_unit(
    db: Database,
    run_id: int,
    unit: Unit,
    config: DedupConfig,
    near: bool,
    rows: list[tuple[object, ...]],
) -> list[Outcome]:
    if unit.outcome is not None:
        rows.append(_ledger_row(run_id, unit.source, unit.outcome, unit.detail, unit.attempts))
        return [unit.outcome]
    outcomes = []
    for article in unit.articles:
        outcome = _store_one(db, run_id, article, config, near)
        detail = _exact_only(article, config, outcome)
        rows.append(_ledger_row(run_id, article.source, outcome, detail, unit.attempts))
        outcomes.append(outcome)
    return outcomes


def _store_one(db: Database, run_id: int, a: Article, config: DedupConfig, near: bool) -> Outcome:
    same_url = db.conn.execute(
        "SELECT id, content_hash, origin FROM articles WHERE url = ?", [a.url]
    ).fetchone()
    if same_url is not None and same_url[1] == a.content_hash:
        article_id, _hash, stored_origin = same_url
        # The same input again: a file (however its path was spelled) or the same requested URL;
        # split entries may have moved within their listing (origin#n changes).
        if a.url.startswith("file:") or _same_input(stored_origin, a):
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
                   language = ?, text = ?, metadata = ?, content_hash = ?, run_id = ?, updated_at = ?,
                   fetched_at = ?
               WHERE id = ?""",
            [
                a.origin, a.source, a.title, a.author, a.published_at, a.language, a.text,
                _json(a), a.content_hash, run_id, utcnow_iso(), a.fetched_at, article_id,
            ],
        )  # fmt: skip
        db.execute("DELETE FROM dedup_bands WHERE article_id = ?", [article_id])
    else:
        cursor = db.conn.execute(
            """INSERT INTO articles(url, origin, source, title, author, published_at, language, text,
                                    metadata, content_hash, run_id, stored_at, fetched_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                a.url, a.origin, a.source, a.title, a.author, a.published_at, a.language, a.text,
                _json(a), a.content_hash, run_id, utcnow_iso(), a.fetched_at,
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
    same_text = db.conn.execute(
        "SELECT id FROM articles WHERE content_hash = ?", [a.content_hash]
    ).fetchone()
    if same_text is not None:
        return Outcome(
            a.origin, "duplicate", "content", duplicate_of=same_text[0], similarity=1.0, url=a.url
        )
    if not (near and keys):
        return None
    match = find_near_duplicate(db, keys, a.text, config, exclude=exclude, shingles=a.shingles)
    if match is not None:
        return Outcome(
            a.origin, "duplicate", "near", duplicate_of=match.article_id,
            similarity=match.similarity, url=a.url,
        )  # fmt: skip
    return None


def _exact_only(a: Article, config: DedupConfig, outcome: Outcome) -> str | None:
    """The ledger detail of a stored article too short for near-duplicate detection (issue 21)."""
    if outcome.state != "stored" or a.signature is not None:
        return None
    return exact_only_detail(a.text, config)


def _same_input(stored_origin: str, a: Article) -> bool:
    """Whether the article stored from `stored_origin` came from the input `a` comes from: the
    same requested URL, or the same listing (its entry `input#n`, n may have moved). Records of one
    web archive (`PATH#OFFSET`) are each an input of their own."""
    name = a.origin.removesuffix(f"#{a.entry}") if a.entry is not None else a.origin
    if stored_origin == name:
        return True
    head, _, n = stored_origin.rpartition("#")
    return head == name and n.isdigit()


def _json(a: Article) -> str:
    return json.dumps(a.metadata, ensure_ascii=False, sort_keys=True)
