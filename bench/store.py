"""Storage throughput: our store (dedup decisions, ledger rows, band keys, search index, in batched
transactions) against plain sqlite3 `executemany` of the same rows into the same schema.

    .venv/bin/python bench/store.py [--articles 5000] [--batch 256] [--rounds 5]

Both sides write the same articles (varied English and Korean text, fingerprints computed before
timing) into fresh databases made by our migrations, so both pay for the same indexes and the same
full-text triggers. The baseline inserts the article rows, their band keys and their ledger rows
with three `executemany` calls in one transaction and decides nothing; ours looks up each article's
URL, content hash and near-duplicate candidates before storing it, as `crawler load` does. Prints
rows/s for each side and the ratio (median over the rounds, sides alternating); `--batch 1` shows the
cost of one transaction per input.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cleaners.fingerprint import band_keys, fingerprint  # noqa: E402
from crawler.config import dedup_config  # noqa: E402
from crawler.items import Article, utcnow_iso  # noqa: E402
from crawler.settings import CRAWLER_STORE_BATCH as STORE_BATCH  # noqa: E402
from db.connect import connect  # noqa: E402
from db.dedup import check_config  # noqa: E402
from db.runs import start_run  # noqa: E402
from db.store import Unit, store_units  # noqa: E402

_CONSONANTS = "bcdfghjklmnprstvwz"


def word(rng: random.Random, korean: bool) -> str:
    if korean:
        return "".join(chr(0xAC00 + rng.randrange(11172)) for _ in range(rng.randint(1, 4)))
    return "".join(rng.choice(_CONSONANTS) + rng.choice("aeiou") for _ in range(rng.randint(1, 4)))


def articles(count: int) -> list[Article]:
    config = dedup_config()
    made = []
    for i in range(count):
        rng = random.Random(i)
        korean = i % 2 == 1
        text = "\n\n".join(" ".join(word(rng, korean) for _ in range(60)) + "." for _ in range(5))
        printed = fingerprint(text, config)
        made.append(
            Article(
                url=f"https://bench.example/story/{i}",
                origin=f"https://bench.example/story/{i}",
                source="bench",
                text=text,
                title=f"Story {i}",
                language="ko" if korean else "en",
                metadata={"sitename": "Bench Times"},
                content_hash=printed.content_hash,
                signature=printed.signature,
            )
        )
    return made


def fresh(folder: Path, name: str) -> tuple[object, int]:
    db = connect(folder / name)
    check_config(db, dedup_config())
    return db, start_run(db, "bench", "bench")


def baseline(folder: Path, items: list[Article]) -> float:
    db, run_id = fresh(folder, f"plain-{time.monotonic_ns()}.db")
    config = dedup_config()
    now = utcnow_iso()
    started = time.perf_counter()
    conn = db.conn  # type: ignore[attr-defined]
    conn.execute("BEGIN IMMEDIATE")
    first = (conn.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]) + 1
    conn.executemany(
        """INSERT INTO articles(url, origin, source, title, author, published_at, language, text,
                                metadata, content_hash, run_id, stored_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            (a.url, a.origin, a.source, a.title, a.author, a.published_at, a.language, a.text,
             json.dumps(a.metadata, ensure_ascii=False, sort_keys=True), a.content_hash, run_id,
             now)
            for a in items
        ],
    )  # fmt: skip
    conn.executemany(
        "INSERT OR IGNORE INTO dedup_bands(band, key, article_id) VALUES (?, ?, ?)",
        [
            (band, key, first + n)
            for n, a in enumerate(items)
            for band, key in enumerate(band_keys(a.signature or [], config))
        ],
    )
    conn.executemany(
        """INSERT INTO pages(run_id, origin, url, source, state, reason, article_id, duplicate_of,
                             similarity, attempts, detail, recorded_at)
           VALUES (?, ?, ?, ?, 'stored', NULL, ?, NULL, NULL, 1, NULL, ?)""",
        [(run_id, a.origin, a.url, a.source, first + n, now) for n, a in enumerate(items)],
    )
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(items) / elapsed


def ours(folder: Path, items: list[Article], batch: int) -> float:
    db, run_id = fresh(folder, f"ours-{time.monotonic_ns()}.db")
    config = dedup_config()
    units = [Unit(articles=[a]) for a in items]
    started = time.perf_counter()
    for k in range(0, len(units), batch):
        store_units(db, run_id, units[k : k + batch], config)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    stored = db.execute("SELECT count(*) FROM articles").fetchone()[0]  # type: ignore[attr-defined]
    assert stored == len(items), stored
    db.conn.close()  # type: ignore[attr-defined]
    return len(items) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=STORE_BATCH, help="the load's default")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    items = articles(args.articles)
    plain_rates, our_rates = [], []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        for r in range(args.rounds):
            sides = [("plain", baseline), ("ours", ours)]
            for name, _fn in sides if r % 2 == 0 else sides[::-1]:
                if name == "plain":
                    plain_rates.append(baseline(Path(tmp), items))
                else:
                    our_rates.append(ours(Path(tmp), items, args.batch))
    ratios = [o / p for o, p in zip(our_rates, plain_rates, strict=True)]
    print(f"{args.articles} articles, batches of {args.batch}, {args.rounds} rounds")
    print(f"plain executemany: {statistics.median(plain_rates):8.0f} rows/s")
    print(f"ours (store):      {statistics.median(our_rates):8.0f} rows/s")
    print(
        f"ratio: {statistics.median(ratios):.2f}x  (rounds: {', '.join(f'{x:.2f}' for x in ratios)})"
    )
    summary = {
        "articles": args.articles,
        "batch": args.batch,
        "plain_rows_s": round(statistics.median(plain_rates)),
        "ours_rows_s": round(statistics.median(our_rates)),
        "ratio_to_executemany": round(statistics.median(ratios), 2),
    }
    print("RESULT " + json.dumps(summary))


if __name__ == "__main__":
    main()
