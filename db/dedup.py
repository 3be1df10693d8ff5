"""The persistent near-duplicate index: MinHash band keys in an indexed table.

Band keys are written in the same transaction as their article, so the index is never ahead of or
behind the articles. Lookups touch only the rows sharing a band key with the new text: no start-up
load, no pickled state. The configuration that produced the keys is pinned in `meta`.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from sqlite_utils import Database

from cleaners.fingerprint import (
    DedupConfig,
    band_keys,
    hashed_jaccard,
    signature,
    text_shingles,
)
from db.transaction import write_transaction

# At most this many candidates (most shared bands first) are verified for one new text.
MAX_CANDIDATES = 64


class ConfigMismatch(RuntimeError):
    """The database was indexed with other dedup parameters than this run's."""


def check_config(db: Database, config: DedupConfig, db_path: str | None = None) -> None:
    """Pin `config` in `meta` on first use; refuse a run whose configuration differs.

    Read and pin happen under the write lock, so two first runs with different settings cannot
    both pin their own.
    """
    wanted = config.pinned()
    with write_transaction(db):
        pinned = dict(db.execute("SELECT key, value FROM meta WHERE key LIKE 'dedup.%'").fetchall())
        if not pinned:
            db.conn.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?)", sorted(wanted.items())
            )
            return
    differs = sorted(k for k in wanted.keys() | pinned.keys() if wanted.get(k) != pinned.get(k))
    if differs:
        detail = ", ".join(f"{k[6:]}: db={pinned.get(k)} run={wanted.get(k)}" for k in differs)
        raise ConfigMismatch(
            f"dedup configuration differs from the one this database was indexed with ({detail}); "
            f"run `crawler dedup rebuild{f' --db {db_path}' if db_path else ''}` to re-index with the "
            "new configuration"
        )


def assert_config(db: Database, config: DedupConfig) -> None:
    """Inside a unit's transaction: the pinned fingerprint must still be this run's (a rebuild with
    other settings may have happened since the run started)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'dedup.fingerprint'").fetchone()
    if row is None or row[0] != config.fingerprint():
        raise ConfigMismatch(
            "the dedup configuration of this database changed while this run was writing "
            "(a `crawler dedup rebuild` with other settings?); stopped before storing more"
        )


@dataclass(frozen=True)
class NearMatch:
    article_id: int
    similarity: float


def find_near_duplicate(
    db: Database,
    keys: list[int],
    text: str,
    config: DedupConfig,
    exclude: int | None = None,
    shingles: np.ndarray | None = None,
) -> NearMatch | None:
    """The most similar stored article at or above the threshold, verified by exact Jaccard.

    `shingles`: the shingle-hash set of `text`, when the fingerprint kept it; else it is computed,
    only when the index returns candidates (rarely below J 0.5).
    """
    if not keys:
        return None
    values = ",".join("(?, ?)" for _ in keys)
    params: list[int] = [x for band, key in enumerate(keys) for x in (band, key)]
    rows = db.execute(
        f"""WITH q(band, key) AS (VALUES {values})
            SELECT d.article_id, a.content_hash, count(*) AS shared
            FROM q JOIN dedup_bands d ON d.band = q.band AND d.key = q.key
            JOIN articles a ON a.id = d.article_id
            WHERE d.article_id IS NOT ?
            GROUP BY d.article_id ORDER BY shared DESC, d.article_id LIMIT {MAX_CANDIDATES}""",
        [*params, exclude],
    ).fetchall()
    best: NearMatch | None = None
    if not rows:
        return None
    mine = shingles if shingles is not None else text_shingles(text, config)
    for article_id, content_hash, _shared in rows:
        score = hashed_jaccard(mine, _stored_shingles(db, article_id, content_hash, config))
        if score >= config.threshold and (
            best is None
            or score > best.similarity
            or (score == best.similarity and article_id < best.article_id)
        ):
            best = NearMatch(article_id, round(score, 4))
    return best


# Shingle sets of stored articles recently verified against, by content hash (an article's text
# is what its hash says, so an entry cannot go stale). Near-duplicates come in clusters (a wire
# story and its copies), so the same few stored articles are verified again and again; their
# shingles are computed once. Bounded: at most this many sets (about 30 KB each).
_SHINGLE_CACHE_SIZE = 512
_shingle_cache: OrderedDict[tuple[str, int, str], np.ndarray] = OrderedDict()


def _stored_shingles(
    db: Database, article_id: int, content_hash: str, config: DedupConfig
) -> np.ndarray:
    key = (content_hash, config.shingle_size, config.normalisation)
    cached = _shingle_cache.get(key)
    if cached is not None:
        _shingle_cache.move_to_end(key)
        return cached
    (text,) = db.conn.execute("SELECT text FROM articles WHERE id = ?", [article_id]).fetchone()
    shingles = text_shingles(text, config)
    _shingle_cache[key] = shingles
    if len(_shingle_cache) > _SHINGLE_CACHE_SIZE:
        _shingle_cache.popitem(last=False)
    return shingles


def _exact_only_flag(metadata: str | None, indexed: bool) -> str | None:
    """The article's metadata JSON with its `dedup` flag set or cleared, or None when unchanged."""
    values = json.loads(metadata or "{}")
    if indexed == (values.get("dedup") != "exact_only"):
        return None
    if indexed:
        del values["dedup"]
    else:
        values["dedup"] = "exact_only"
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


def exact_only_detail(text: str, config: DedupConfig) -> str:
    """The ledger detail of an article stored without band keys: why no near-duplicate of it (or
    by it) can be found, only an exact one."""
    count = len(text_shingles(text, config))
    return f"exact_only: {count} shingles < min_shingles {config.min_shingles}"


def insert_keys(db: Database, article_id: int, keys: list[int]) -> None:
    db.conn.executemany(
        "INSERT OR IGNORE INTO dedup_bands(band, key, article_id) VALUES (?, ?, ?)",
        [(band, key, article_id) for band, key in enumerate(keys)],
    )


def rebuild(db: Database, config: DedupConfig, batch: int = 500) -> int:
    """Recompute every article's band keys with `config` and pin it; returns articles indexed.
    This is also the migration of a database indexed with an older configuration (other
    parameters or normalisation): band keys come from the stored text alone.

    Runs as one transaction, so readers and a crash see either the old index or the new one.
    """
    count = 0
    with write_transaction(db):
        db.execute("DELETE FROM dedup_bands")
        db.execute("DELETE FROM meta WHERE key LIKE 'dedup.%'")  # fingerprint included
        cursor = db.conn.execute("SELECT id, text, metadata FROM articles ORDER BY id")
        flags: list[tuple[str, int]] = []
        while rows := cursor.fetchmany(batch):
            for article_id, text, metadata in rows:
                hashes = text_shingles(text, config)
                indexed = len(hashes) >= config.min_shingles
                if indexed:
                    insert_keys(db, article_id, band_keys(signature(hashes, config), config))
                    count += 1
                if (flagged := _exact_only_flag(metadata, indexed)) is not None:
                    flags.append((flagged, article_id))
        # an article's `dedup: exact_only` flag follows the new configuration (another
        # normalisation or min_shingles can move a text across the line)
        db.conn.executemany("UPDATE articles SET metadata = ? WHERE id = ?", flags)
        db.conn.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?)", sorted(config.pinned().items())
        )
    return count
