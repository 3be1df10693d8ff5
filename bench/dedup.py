"""Near-duplicate detection: recall and false merges on labelled pairs, speed against naive
datasketch, and scale.

    .venv/bin/python bench/dedup.py PATH_TO_CORPUS [--variants N] [--per-language N]
        [--scale 10000,100000,1000000] [--readability PATH]

Accuracy (issue 21): `bench/dedup_pairs.py` makes copies of real article bodies (the corpus' ground
truth, the readability pages' Chinese and Japanese texts, the Korean seed documents) with the edits
republishers make, each alone and combined, at growing strength, in Korean, Chinese, Japanese and
English, plus distinct articles (other stories of the same language, chunks of one long article:
same topic; every story in one site template: same site, different story). Each pair is banded by
the issue's reference Jaccard (5-character shingles of the article body after NFKC, case folding and
whitespace collapsing, without chrome) and scored through the decision path (clean -> fingerprint
-> band keys -> candidates -> exact-Jaccard verification). Printed: recall by band and language, by
band and edit, the same per language and edit for the 0.8-0.9 and >= 0.9 bands, false merges of
distinct articles, and the curve of all of it against the verification threshold.

Speed: documents/s of our streaming path (chrome lines dropped, normalise, shingle, MinHash
signature, band keys, index lookup with verification, insert into SQLite, one transaction per
document) against naive per-document datasketch use (`MinHash()` with its defaults updated shingle
by shingle, and `MinHashLSH()` with its defaults, query then insert), on the same texts in the same
run.

Scale: per-document lookup+insert time when the index already holds 10k, 100k and 1M articles
(synthetic band keys), and the process' peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from datasketch import MinHash, MinHashLSH
from sqlite_utils import Database

from cleaners.fingerprint import (
    DedupConfig,
    band_keys,
    content_hash,
    normalise_text,
    shingle_hashes,
    shingles,
    signature,
    text_shingles,
)
from db.connect import connect, write_transaction
from db.dedup import check_config, find_near_duplicate, insert_keys

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import dedup_pairs as gen  # noqa: E402
from corpus import corpus_or_exit  # noqa: E402

SEEDS = ROOT / "seeds" / "documents"


def keys_of(text: str, config: DedupConfig) -> list[int]:
    """The band keys our path computes for a text (shingle text, shingle-hash, MinHash, band)."""
    return band_keys(signature(text_shingles(text, config), config), config)


def fresh_db(tmp: Path, name: str, config: DedupConfig) -> Database:
    db = connect(tmp / name)
    check_config(db, config)
    db.execute("INSERT INTO runs(source, command, started_at) VALUES ('bench', 'bench', 'now')")
    return db


def store(db: Database, run_id: int, url: str, text: str, keys: list[int]) -> int:
    cursor = db.execute(
        """INSERT INTO articles(url, origin, source, text, content_hash, run_id, stored_at)
           VALUES (?, ?, 'bench', ?, ?, ?, 'now')""",
        [url, url, text, content_hash(normalise_text(text)) + url, run_id],
    )
    article_id = int(cursor.lastrowid or 0)
    insert_keys(db, article_id, keys)
    return article_id


def ours_streaming(db: Database, config: DedupConfig) -> Callable[[str, str], int | None]:
    """One document through our path in one transaction: returns the duplicate's id or None."""

    def step(url: str, text: str) -> int | None:
        hashes = text_shingles(text, config)
        keys = band_keys(signature(hashes, config), config)
        with write_transaction(db):
            match = find_near_duplicate(db, keys, text, config, shingles=hashes)
            if match is not None:
                return match.article_id
            store(db, 1, url, text, keys)
        return None

    return step


def naive_datasketch() -> Callable[[str, str], str | None]:
    """What a first attempt looks like: defaults everywhere, one update per shingle."""
    lsh = MinHashLSH(threshold=0.8, num_perm=128)

    def step(url: str, text: str) -> str | None:
        mh = MinHash(num_perm=128)
        for s in shingles(normalise_text(text), 5):  # 5: the same shingles as ours
            mh.update(s.encode("utf-8"))
        found = lsh.query(mh)
        if found:
            return str(found[0])
        lsh.insert(url, mh)
        return None

    return step


def speed_texts(documents: list[gen.Base], count: int, seed: int) -> list[str]:
    """Whole documents and copies of them (a random edit at a random strength), as a load meets
    them: the speed test's input."""
    rng = random.Random(seed)
    texts = []
    while len(texts) < count:
        doc = documents[len(texts) % len(documents)]
        if len(texts) < len(documents):
            texts.append(doc.text())
            continue
        edit = rng.choice([e for e in gen.EDITS if e != "chrome_html"])
        copy = gen.make_copy(doc, edit, rng.choice(gen.STRENGTHS[:6]), rng, documents)
        texts.append(gen.page_of(copy, doc.lang)[0])
    return texts


def throughput(texts: list[str], config: DedupConfig) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = fresh_db(Path(tmp), "speed.db", config)
        sides = {"ours": ours_streaming(db, config), "naive": naive_datasketch()}
        elapsed = dict.fromkeys(sides, 0.0)
        for k, text in enumerate(texts):  # interleaved, so noise hits both alike
            for name, step in sides.items():
                start = time.perf_counter()
                step(f"doc:{k}", text)
                elapsed[name] += time.perf_counter() - start
        db.close()
    return {name: len(texts) / seconds for name, seconds in elapsed.items()}


def steps(texts: list[str], config: DedupConfig, rounds: int = 5) -> dict[str, float]:
    """Milliseconds per text of each step of a fingerprint, best of `rounds`: dropping chrome
    lines (`fingerprint_text`), normalising, folding variants (CJK spaces, spelling), shingle hashing (ours, which sorts to make the set unique), the same set made unique by
    `np.unique` instead (numpy 2.3+ takes a hash-table path there), and the MinHash signature."""
    import numpy as np

    from cleaners.dedup_text import fingerprint_text, fold_variants
    from cleaners.fingerprint import _sorted_unique

    articles = [fingerprint_text(t) for t in texts]
    plain = [normalise_text(t) for t in articles]
    normalised = [fold_variants(n) for n in plain]
    hashed = [shingle_hashes(n, config.shingle_size) for n in normalised]
    kept = [h for h in hashed if len(h) >= config.min_shingles]
    raw = [np.random.default_rng(k).permutation(h) for k, h in enumerate(hashed)]  # unsorted
    sides: dict[str, Callable[[], object]] = {
        "fingerprint_text": lambda: [fingerprint_text(t) for t in texts],
        "normalise": lambda: [normalise_text(t) for t in articles],
        "fold_variants": lambda: [fold_variants(n) for n in plain],
        "shingle_hashes": lambda: [shingle_hashes(n, config.shingle_size) for n in normalised],
        "sorted_unique": lambda: [_sorted_unique(h.copy()) for h in raw],  # the copy counts here
        "np_unique": lambda: [np.unique(h) for h in raw],
        "signature": lambda: [signature(h, config) for h in kept],
    }
    best = dict.fromkeys(sides, float("inf"))
    for _ in range(rounds):
        for name, run in sides.items():
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: seconds * 1000 / len(texts) for name, seconds in best.items()}


def scale(
    levels: list[int], texts: list[str], config: DedupConfig
) -> list[tuple[int, float, float]]:
    """(stored articles, median ms per lookup+insert, p95 ms) at each level."""
    rng = random.Random(7)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        db = fresh_db(Path(tmp), "scale.db", config)
        conn: sqlite3.Connection = db.conn
        stored = 0
        probe = [(t, keys_of(t, config)) for t in texts]
        for level in levels:
            with write_transaction(db):
                while stored < level:
                    batch = min(20_000, level - stored)
                    conn.executemany(
                        "INSERT INTO articles(id, url, origin, source, text, content_hash, run_id, stored_at) "
                        "VALUES (?, ?, ?, 'bench', 'synthetic', ?, 1, 'now')",
                        [
                            (stored + n + 1, f"s:{stored + n}", f"s:{stored + n}", f"h{stored + n}")
                            for n in range(batch)
                        ],
                    )
                    conn.executemany(
                        "INSERT INTO dedup_bands(band, key, article_id) VALUES (?, ?, ?)",
                        [
                            (band, rng.getrandbits(64) - 2**63, stored + n + 1)
                            for n in range(batch)
                            for band in range(config.bands)
                        ],
                    )
                    stored += batch
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            times = []
            for k, (text, keys) in enumerate(probe):
                start = time.perf_counter()
                with write_transaction(db):
                    if find_near_duplicate(db, keys, text, config) is None:
                        store(db, 1, f"probe:{level}:{k}", text, keys)
                times.append((time.perf_counter() - start) * 1000)
            with write_transaction(db):
                # the same probes are used at the next level: remove them, or they would find
                # themselves there and measure verification instead of lookup+insert
                conn.execute("DELETE FROM articles WHERE url LIKE 'probe:%'")
            times.sort()
            out.append((level, statistics.median(times), times[int(0.95 * (len(times) - 1))]))
            print(
                f"  {level:>9,} stored: lookup+insert median {out[-1][1]:.3f} ms, p95 {out[-1][2]:.3f} ms",
                flush=True,
            )
        db.close()
    return out


THRESHOLDS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85)


def _cell(hit: int, n: int) -> str:
    return f"{hit / n:.3f} ({n})" if n else "-"


def report_accuracy(
    bases: list[gen.Base], pairs: list[gen.Pair], config: DedupConfig
) -> dict[str, object]:
    """Score every pair and distinct article through our path; print the tables; return the
    summary figures at the configured threshold."""
    ids, distinct = gen.score(bases, pairs, config)
    t = config.threshold
    bands = [gen.band_of(low) for low, _high in gen.BANDS]
    print(f"recall at verification threshold {t} by reference-Jaccard band (pairs):")
    for by in ("lang", "edit"):
        table = gen.recall_table(pairs, ids, t, lambda p, by=by: str(getattr(p, by)))
        print(f"  {by:<15} " + " ".join(f"{b:>14}" for b in bands))
        for group, row in sorted(table.items()):
            cells = " ".join(f"{_cell(*row.get(b, (0, 0))):>14}" for b in bands)
            print(f"  {group:<15} {cells}")
    print("recall per language and edit, J 0.8-0.9 | J >= 0.9 (pairs):")
    per: dict[tuple[str, str], list[int]] = {}
    for p in pairs:
        if p.reference >= 0.8:
            cell = per.setdefault((p.lang, p.edit), [0, 0, 0, 0])
            hit = gen.found_at(p, ids[p.base], t)
            k = 0 if p.reference < 0.9 else 2
            cell[k] += hit
            cell[k + 1] += 1
    print(f"  {'edit':<15} " + " ".join(f"{lang:>25}" for lang in gen.LANGUAGES))
    worst = {"0.8-0.9": 1.0, ">=0.9": 1.0}
    for edit in gen.EDITS:
        cells = []
        for lang in gen.LANGUAGES:
            h1, n1, h2, n2 = per.get((lang, edit), [0, 0, 0, 0])
            cells.append(f"{_cell(h1, n1):>12} | {_cell(h2, n2):<10}")
            if n1:
                worst["0.8-0.9"] = min(worst["0.8-0.9"], h1 / n1)
            if n2:
                worst[">=0.9"] = min(worst[">=0.9"], h2 / n2)
        print(f"  {edit:<15} " + " ".join(f"{c:>25}" for c in cells))
    print(f"  lowest cell: {worst['0.8-0.9']:.3f} at 0.8-0.9, {worst['>=0.9']:.3f} at >= 0.9")
    low = [p for p in pairs if p.reference <= 0.5]
    wrong = sum(gen.merged_wrongly(p, ids[p.base], t) for p in pairs)
    print(
        f"copies at J <= 0.5 matched to their base: "
        f"{sum(gen.found_at(p, ids[p.base], t) for p in low)} of {len(low)} "
        f"(by edit: {_count_by(low, ids, t)}); copies matched to another article: {wrong}"
    )
    print("distinct articles (each looked up against all others of its language) merged:")
    merges: dict[str, list[int]] = {}
    for kind in ("topic", "shared_passage", "template", "template_short"):
        for lang in gen.LANGUAGES:
            ds = [d for d in distinct if d.kind == kind and d.lang == lang]
            merged = sum(d.best is not None and d.best >= t for d in ds)
            cand = max((d.best or 0.0) for d in ds) if ds else 0.0
            ref = max(d.reference for d in ds) if ds else 0.0
            merges.setdefault(kind, [0, 0])
            merges[kind][0] += merged
            merges[kind][1] += len(ds)
            print(
                f"  {kind:<15} {lang}: {merged} of {len(ds)}; highest verified score "
                f"{cand:.3f}, highest reference J {ref:.3f}"
            )
    shared = [d for d in distinct if d.kind == "shared_passage"]
    for low, high in ((0.0, 0.3), (0.3, 0.5), (0.5, 1.01)):
        ds = [d for d in shared if low <= d.reference < high]
        merged = sum(d.best is not None and d.best >= t for d in ds)
        print(
            f"  shared_passage at reference J {low:.1f}-{min(high, 1.0):.1f}: {merged} of {len(ds)}"
        )
    print("curve: recall by band (all languages and edits) and merges against the threshold:")
    print(f"  {'threshold':<10} " + " ".join(f"{b:>10}" for b in bands) + "  distinct merged")
    for th in THRESHOLDS:
        table = gen.recall_table(pairs, ids, th, lambda p: "all")["all"]
        cells = " ".join(
            f"{(table[b][0] / table[b][1] if table.get(b, (0, 0))[1] else float('nan')):10.4f}"
            for b in bands
        )
        merged = sum(d.best is not None and d.best >= th for d in distinct)
        print(f"  {th:<10} {cells}  {merged} of {len(distinct)}")
    by_lang = gen.recall_table(pairs, ids, t, lambda p: p.lang)
    return {
        "recall_at_0.8": {
            lang: round(
                sum(row[b][0] for b in row if b >= "0.80")
                / max(1, sum(row[b][1] for b in row if b >= "0.80")),
                4,
            )
            for lang, row in by_lang.items()
        },
        "lowest_cell_0.8_0.9": round(worst["0.8-0.9"], 4),
        "lowest_cell_0.9": round(worst[">=0.9"], 4),
        "distinct_merged": {k: v[0] for k, v in merges.items()},
        "distinct_lookups": {k: v[1] for k, v in merges.items()},
    }


def _count_by(pairs: list[gen.Pair], ids: list[int], t: float) -> str:
    counts: dict[str, int] = {}
    for p in pairs:
        if gen.found_at(p, ids[p.base], t):
            counts[f"{p.lang}/{p.edit}"] = counts.get(f"{p.lang}/{p.edit}", 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "corpus", type=Path, nargs="?", help="the article-extraction-benchmark folder"
    )
    parser.add_argument(
        "--readability",
        type=Path,
        default=None,
        help="readability test pages (default: CORPUS/../metadata-dev/readability/pages)",
    )
    parser.add_argument("--variants", type=int, default=2, help="draws of each edit per base")
    parser.add_argument("--per-language", type=int, default=40, help="base texts per language")
    parser.add_argument("--speed-docs", type=int, default=2000, help="documents for the speed test")
    parser.add_argument(
        "--scale", default="10000,100000,1000000", help="stored-article levels ('' to skip)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.corpus = corpus_or_exit(args.corpus)
    readability = args.readability or args.corpus.parent / "metadata-dev/readability/pages"
    config = DedupConfig()
    documents = gen.load_documents(args.corpus, readability, SEEDS)
    bases = gen.load_bases(documents, args.per_language)
    pairs = gen.make_pairs(bases, args.seed, args.variants)
    print(
        f"config: {config.num_perm} permutations, {config.bands} bands x {config.rows} rows, "
        f"{config.shingle_size}-character shingles of the {config.normalisation} text, "
        f"threshold {config.threshold} (exact Jaccard), min_shingles {config.min_shingles}"
    )
    print(
        "  P(candidate) at J = "
        + ", ".join(
            f"{j}: {config.candidate_probability(j):.4f}" for j in (0.9, 0.8, 0.7, 0.5, 0.3)
        )
    )
    counts = {lang: sum(b.lang == lang for b in bases) for lang in gen.LANGUAGES}
    print(f"bases: {counts}  pairs: {len(pairs)}")
    started = time.perf_counter()
    summary = report_accuracy(bases, pairs, config)
    print(f"(accuracy scored in {time.perf_counter() - started:.0f} s)")
    texts = speed_texts(documents, args.speed_docs, args.seed)
    speed = throughput(texts, config)
    print(
        f"speed ({len(texts)} documents): ours {speed['ours']:.0f} docs/s, naive datasketch "
        f"{speed['naive']:.0f} docs/s, ratio {speed['ours'] / speed['naive']:.2f}x"
    )
    step_ms = steps([b.text() for b in bases], config)
    print(
        "fingerprint steps, ms a text (best of 5): "
        + ", ".join(f"{k} {v:.3f}" for k, v in step_ms.items())
    )
    levels = [int(x) for x in args.scale.split(",") if x.strip()]
    if levels:
        print(
            "scale (synthetic band keys for the stored articles; 200 real whole documents as probes):"
        )
        rows = scale(levels, [d.text() for d in documents][:200], config)
        if len(rows) > 1:
            print(f"  largest/smallest median: {rows[-1][1] / rows[0][1]:.2f}x")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak_mb:.0f} MB")
    result = {
        "ours_docs_s": round(speed["ours"]),
        "naive_docs_s": round(speed["naive"]),
        "ratio_to_naive": round(speed["ours"] / speed["naive"], 2),
        "steps_ms": {k: round(v, 3) for k, v in step_ms.items()},
        **summary,
    }
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
