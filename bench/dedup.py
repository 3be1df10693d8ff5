"""Near-duplicate detection: accuracy on labelled pairs, speed against naive datasketch, and scale.

    .venv/bin/python bench/dedup.py PATH_TO_CORPUS [--variants N] [--scale 10000,100000,1000000]

Pairs are generated from real text: the development corpus' ground-truth article bodies (mostly
English, a few Korean and Japanese) and the Korean seed documents (the listing split into its
entries, and the translated article). Each base text gets variants made with the edits real copies
show: sentences inserted from other documents, sentences deleted, neighbouring sentences swapped, and
a new header and footer of site boilerplate, at graded strengths. Each pair is labelled with the exact
Jaccard of its 5-character shingle sets (after our text normalisation), the quantity the threshold is
defined on.

Accuracy: every base text is stored in an empty database through our path, then every variant is
looked up. A pair with J >= 0.8 is found when the lookup returns its base; a pair with J <= 0.5 is a
false positive when the lookup returns any match. Recall at J >= 0.8 and J >= 0.9 and the
false-positive rate at J <= 0.5 are printed per language.

Speed: documents/s of our streaming path (normalise, shingle, MinHash signature, band keys, index
lookup with verification, insert into SQLite, one transaction per document) against naive
per-document datasketch use (`MinHash()` with its defaults updated shingle by shingle, and
`MinHashLSH()` with its defaults, query then insert), on the same texts in the same run.

Scale: per-document lookup+insert time when the index already holds 10k, 100k and 1M articles
(synthetic band keys), and the process' peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import re
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
    jaccard,
    normalise_text,
    shingle_hashes,
    shingles,
    signature,
)
from cleaners.scripts import detect_language
from db.connect import connect, write_transaction
from db.dedup import check_config, find_near_duplicate, insert_keys

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds" / "documents"
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n+")
BOILERPLATE = {
    "en": [
        "Sign up for our newsletter", "Share this article", "Advertisement",
        "© 2025 Example Media. All rights reserved.", "Read more: Markets in brief",
        "Follow us on social media for the latest updates.", "Comments (12)",
    ],
    "ko": [
        "뉴스레터 구독하기", "공유하기", "좋아요 12", "댓글 3", "저작권자 ⓒ 한빛일보, 무단전재 및 재배포 금지",
        "관련기사: 오늘의 경제 뉴스", "기자 이메일로 제보하기",
    ],
}  # fmt: skip


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def base_texts(corpus: Path) -> list[tuple[str, str]]:
    """(language, text) of every usable base document."""
    from cleaners.clean import clean

    texts = []
    truth = json.loads((corpus / "ground-truth.json").read_text("utf-8"))
    for item in truth.values():
        body = item["articleBody"]
        if len(body) >= 800:
            texts.append(body)
    for path in sorted(SEEDS.glob("*.txt")):
        texts += [e.text for e in clean(path.read_bytes()).entries if len(e.text) >= 300]
    return [(detect_language(t) or "other", t) for t in texts]


def variant(base: str, donors: list[str], strength: float, rng: random.Random, lang: str) -> str:
    """A copy of `base` edited the way republished copies are, more with higher `strength`."""
    parts = sentences(base)
    n = len(parts)
    k = max(1, round(strength * n))
    for _ in range(k):
        op = rng.random()
        if op < 0.3 and len(parts) > 3:
            del parts[rng.randrange(len(parts))]
        elif op < 0.6:
            donor = sentences(rng.choice(donors))
            if donor:
                parts.insert(rng.randrange(len(parts) + 1), rng.choice(donor))
        elif op < 0.8 and len(parts) > 1:
            i = rng.randrange(len(parts) - 1)
            parts[i], parts[i + 1] = parts[i + 1], parts[i]
        else:
            i = rng.randrange(len(parts))
            words = parts[i].split()
            if words:
                words[rng.randrange(len(words))] = rng.choice(
                    sentences(rng.choice(donors)) or ["x"]
                )[:12]
                parts[i] = " ".join(words)
    pool = BOILERPLATE["ko" if lang == "ko" else "en"]
    header = rng.sample(pool, min(len(pool), rng.randint(0, 2) + round(strength * 3)))
    footer = rng.sample(pool, min(len(pool), rng.randint(0, 2) + round(strength * 3)))
    return "\n".join([*header, *parts, *footer])


def make_pairs(
    bases: list[tuple[str, str]], per_base: int, seed: int, config: DedupConfig
) -> list[tuple[int, str, str, float]]:
    """(base index, language, variant text, exact Jaccard to the base)."""
    rng = random.Random(seed)
    donors = [t for _l, t in bases]
    pairs = []
    for i, (lang, text) in enumerate(bases):
        mine = shingles(normalise_text(text), config.shingle_size)
        count = per_base * (6 if lang == "ko" else 1)  # few Korean bases: more variants each
        for j in range(count):
            strength = (j + 1) / count * 1.2  # from light edits to rewrites of most sentences
            copy = variant(text, donors, strength, rng, lang)
            j_value = jaccard(mine, shingles(normalise_text(copy), config.shingle_size))
            pairs.append((i, lang, copy, j_value))
    return pairs


def keys_of(text: str, config: DedupConfig) -> list[int]:
    """The band keys our path computes for a text (normalise, shingle-hash, MinHash, band)."""
    return band_keys(
        signature(shingle_hashes(normalise_text(text), config.shingle_size), config), config
    )


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
        keys = keys_of(text, config)
        with write_transaction(db):
            match = find_near_duplicate(db, keys, text, config)
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


def accuracy(
    bases: list[tuple[str, str]], pairs: list[tuple[int, str, str, float]], config: DedupConfig
) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        db = fresh_db(Path(tmp), "acc.db", config)
        ids = []
        for i, (_lang, text) in enumerate(bases):
            keys = keys_of(text, config)
            with write_transaction(db):
                ids.append(store(db, 1, f"base:{i}", text, keys))
        stats: dict[str, dict[str, list[bool]]] = {}
        for i, lang, copy, j_value in pairs:
            keys = keys_of(copy, config)
            match = find_near_duplicate(db, keys, copy, config)
            group = stats.setdefault(
                "ko" if lang == "ko" else "en" if lang == "en" else "other", {}
            )
            if j_value >= 0.8:
                group.setdefault("r80", []).append(match is not None and match.article_id == ids[i])
            if j_value >= 0.9:
                group.setdefault("r90", []).append(match is not None and match.article_id == ids[i])
            if j_value <= 0.5:
                group.setdefault("fp50", []).append(match is not None)
        db.close()
    return {
        lang: {k: (sum(v) / len(v) if v else float("nan")) for k, v in g.items()}
        | {f"n_{k}": float(len(v)) for k, v in g.items()}
        for lang, g in stats.items()
    }


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
    """Milliseconds per text of each step of a fingerprint, best of `rounds`: normalising,
    shingle hashing (ours, which sorts to make the set unique), the same set made unique by
    `np.unique` instead (numpy 2.3+ takes a hash-table path there), and the MinHash signature."""
    import numpy as np

    from cleaners.fingerprint import _sorted_unique

    normalised = [normalise_text(t) for t in texts]
    hashed = [shingle_hashes(n, config.shingle_size) for n in normalised]
    kept = [h for h in hashed if len(h) >= config.min_shingles]
    raw = [np.random.default_rng(k).permutation(h) for k, h in enumerate(hashed)]  # unsorted
    sides: dict[str, Callable[[], object]] = {
        "normalise": lambda: [normalise_text(t) for t in texts],
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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--variants", type=int, default=12, help="variants per base text")
    parser.add_argument(
        "--scale", default="10000,100000,1000000", help="stored-article levels ('' to skip)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not (args.corpus / "ground-truth.json").exists():
        print(f"no ground-truth.json under {args.corpus}", file=sys.stderr)
        return 2
    config = DedupConfig()
    bases = base_texts(args.corpus)
    pairs = make_pairs(bases, args.variants, args.seed, config)
    print(
        f"config: {config.num_perm} permutations, {config.bands} bands x {config.rows} rows, "
        f"{config.shingle_size}-character shingles, threshold {config.threshold} (exact Jaccard)"
    )
    print(
        f"  P(candidate) at J=0.8: {config.candidate_probability(0.8):.4f}, at J=0.9: "
        f"{config.candidate_probability(0.9):.4f}, at J=0.5: {config.candidate_probability(0.5):.4f}"
    )
    print(f"bases: {len(bases)}  pairs: {len(pairs)}")
    print(
        f"{'language':<8} {'recall@0.8':>10} {'(n)':>6} {'recall@0.9':>10} {'(n)':>6} {'FPR@<=0.5':>10} {'(n)':>6}"
    )
    measured = accuracy(bases, pairs, config)
    for lang, m in sorted(measured.items()):
        print(
            f"{lang:<8} {m.get('r80', float('nan')):10.4f} {int(m.get('n_r80', 0)):6d} "
            f"{m.get('r90', float('nan')):10.4f} {int(m.get('n_r90', 0)):6d} "
            f"{m.get('fp50', float('nan')):10.4f} {int(m.get('n_fp50', 0)):6d}"
        )
    texts = [copy for _i, _l, copy, _j in pairs]
    speed = throughput(texts, config)
    print(
        f"speed ({len(texts)} documents): ours {speed['ours']:.0f} docs/s, naive datasketch "
        f"{speed['naive']:.0f} docs/s, ratio {speed['ours'] / speed['naive']:.2f}x"
    )
    step_ms = steps([t for _l, t in bases], config)
    print(
        "fingerprint steps, ms a text (best of 5): "
        + ", ".join(f"{k} {v:.3f}" for k, v in step_ms.items())
    )
    levels = [int(x) for x in args.scale.split(",") if x.strip()]
    if levels:
        print("scale (synthetic band keys for the stored articles; 200 real probe documents):")
        rows = scale(levels, [t for _l, t in bases][:200], config)
        if len(rows) > 1:
            print(f"  largest/smallest median: {rows[-1][1] / rows[0][1]:.2f}x")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak_mb:.0f} MB")
    summary = {
        "ours_docs_s": round(speed["ours"]),
        "naive_docs_s": round(speed["naive"]),
        "ratio_to_naive": round(speed["ours"] / speed["naive"], 2),
        "steps_ms": {k: round(v, 3) for k, v in step_ms.items()},
        "recall_at_0.8": {k: round(v.get("r80", float("nan")), 4) for k, v in measured.items()},
        "fpr_at_0.5": {k: round(v.get("fp50", float("nan")), 4) for k, v in measured.items()},
    }
    print("RESULT " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
