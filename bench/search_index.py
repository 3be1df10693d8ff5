"""What the search index costs each stored article, and what other FTS5 settings would cost.

    .venv/bin/python bench/search_index.py ../shared/corpora/article-extraction-benchmark
        [--docs 2000] [--batch 256] [--rounds 3]

The corpus' ground-truth article bodies are replicated to `--docs` texts (a fifth of the words of
each copy replaced, so that no two are alike) and inserted, `--batch` to a transaction, into fresh
databases with the same table and trigger shape as schema version 3 (db/migrations.py):

- **none**: the articles table alone, no index (the baseline);
- **trigram**: what the store writes: FTS5 with the trigram tokenizer over title and text, as an
  external-content index kept by an insert trigger;
- **trigram, automerge 8**: the same, merging index segments less eagerly (FTS5's default is 4);
- **trigram, detail=none**: the same without positions (smaller and cheaper, but no phrase
  queries, and with the trigram tokenizer every search longer than three characters is one).

Sides are interleaved over `--rounds` rounds; each reports the median CPU time per text (this
process does nothing else) and the database's size. The difference between a side and **none** is
what that index costs the writer per article.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from corpus import corpus_or_exit  # noqa: E402

SIDES: dict[str, str | None] = {
    "none": None,
    "trigram": "",
    "trigram, automerge 8": "automerge=8",
    "trigram, detail=none": ", detail=none",
}


def texts(corpus: Path, count: int) -> list[str]:
    truth = json.loads((corpus / "ground-truth.json").read_text("utf-8"))
    bases = [item["articleBody"] for item in truth.values() if len(item["articleBody"]) >= 800]
    rng = random.Random(3)
    out = []
    for k in range(count):
        words = bases[k % len(bases)].split(" ")
        for _ in range(len(words) // 5):
            words[rng.randrange(len(words))] = "".join(rng.choices("abcdefghij", k=5))
        out.append(" ".join(words))
    return out


def insert(folder: Path, side: str, docs: list[str], batch: int) -> tuple[float, int]:
    """(CPU seconds for the inserts, database bytes) for one side into a fresh database."""
    path = folder / f"{side.replace(' ', '_').replace(',', '').replace('=', '_')}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE articles(id INTEGER PRIMARY KEY, title TEXT, text TEXT NOT NULL)")
    setting = SIDES[side]
    if setting is not None:
        detail = setting if setting.startswith(",") else ""
        conn.execute(
            "CREATE VIRTUAL TABLE articles_fts USING fts5(title, text, content='articles', "
            f"content_rowid='id', tokenize='trigram'{detail})"
        )
        if setting.startswith("automerge="):
            value = int(setting.split("=")[1])
            conn.execute(
                "INSERT INTO articles_fts(articles_fts, rank) VALUES ('automerge', ?)", [value]
            )
        conn.execute(
            """CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN
                   INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
               END"""
        )
    started = time.process_time()
    for start in range(0, len(docs), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO articles(title, text) VALUES (?, ?)",
            [(f"Article {start + k}", text) for k, text in enumerate(docs[start : start + batch])],
        )
        conn.execute("COMMIT")
    spent = time.process_time() - started
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return spent, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "corpus", type=Path, nargs="?", help="the extraction corpus (bench/corpus.py)"
    )
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    docs = texts(corpus_or_exit(args.corpus), args.docs)
    print(
        f"{len(docs)} texts, {statistics.mean(map(len, docs)):.0f} characters on average, "
        f"batches of {args.batch}, SQLite {sqlite3.sqlite_version}"
    )
    ms: dict[str, list[float]] = {side: [] for side in SIDES}
    size: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-fts-") as tmp:
        for r in range(args.rounds):
            for side in list(SIDES)[r % len(SIDES) :] + list(SIDES)[: r % len(SIDES)]:
                spent, size[side] = insert(Path(tmp), side, docs, args.batch)
                ms[side].append(spent * 1000 / len(docs))
    base = statistics.median(ms["none"])
    summary = {}
    for side in SIDES:
        median = statistics.median(ms[side])
        summary[side] = {
            "ms_per_text": round(median, 3),
            "index_ms_per_text": round(median - base, 3),
            "db_mb": round(size[side] / 1e6, 1),
        }
        print(
            f"{side:22s} {median:6.3f} ms a text (rounds "
            f"{', '.join(f'{x:.3f}' for x in ms[side])}), index {median - base:6.3f} ms, "
            f"{size[side] / 1e6:5.1f} MB"
        )
    print("RESULT " + json.dumps(summary))


if __name__ == "__main__":
    main()
