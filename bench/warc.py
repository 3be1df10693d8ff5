"""Web archives against files: `crawler load` of N pages packed in one WARC against the same pages
as files, as real processes, alternating over the rounds; the ratio is taken within each round.

    .venv/bin/python bench/warc.py [--pages 2000] [--rounds 3]

The pages are generated (bench/crawl.py's pages: English and Korean text with site chrome), so no
corpus is needed. Checks that both loads stored the same articles (the same texts; the URLs differ:
a WARC record has its own).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from crawl import crawler, page  # noqa: E402
from warcio.statusandheaders import StatusAndHeaders  # noqa: E402
from warcio.warcwriter import WARCWriter  # noqa: E402


def write_warc(path: Path, pages: int) -> None:
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for i in range(pages):
            body = page(i).encode()
            headers = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            record = writer.create_warc_record(
                f"https://bench.example/news/story-{i:05d}.html",
                "response",
                payload=io.BytesIO(body),
                length=len(body),
                http_headers=headers,
            )
            writer.write_record(record)


def write_big(path: Path, megabytes: int) -> None:
    """An archive of `megabytes` MB: 1 MB image responses (read through, counted, not kept)
    with an HTML page every 50 records, as a crawl's archive holds."""
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for i in range(megabytes):
            image = b"\x89PNG\r\n\x1a\n" + os.urandom(1024 * 1024)  # as large on disk
            body, ctype = (page(i).encode(), "text/html") if i % 50 == 0 else (image, "image/png")
            headers = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            record = writer.create_warc_record(
                f"https://bench.example/r/{i}", "response", payload=io.BytesIO(body),
                length=len(body), http_headers=headers,
            )  # fmt: skip
            writer.write_record(record)


def memory(sizes: list[int]) -> None:
    """Peak memory (PSS of the loading process and its workers) of `crawler load` of archives of
    these sizes (MB): flat means the same for all."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for megabytes in sizes:
            archive = tmp / f"big-{megabytes}.warc.gz"
            write_big(archive, megabytes)
            ran = crawler("-q", "load", str(archive), "--db", str(tmp / f"{megabytes}.db"))
            seconds, samples = ran.seconds, ran.memory
            size = archive.stat().st_size / 1e6
            print(
                f"archive {megabytes} MB ({size:.0f} MB on disk): loaded in {seconds:.1f} s, "
                f"peak memory {max(samples, default=0):.0f} MB",
                flush=True,
            )
            archive.unlink()


def hashes(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {h for (h,) in conn.execute("SELECT content_hash FROM articles")}
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--memory",
        default="",
        metavar="MB,MB",
        help="instead: peak memory of loading archives of these sizes (e.g. 20,2000)",
    )
    args = parser.parse_args()
    if args.memory:
        memory([int(m) for m in args.memory.split(",")])
        return 0
    ratios, files_s, warc_s = [], [], []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        folder = tmp / "files"
        folder.mkdir()
        for i in range(args.pages):
            (folder / f"story-{i:05d}.html").write_text(page(i), "utf-8")
        warc = tmp / "pages.warc.gz"
        write_warc(warc, args.pages)
        for r in range(args.rounds):
            for db in tmp.glob("*.db*"):
                if db.is_file():
                    db.unlink()
            started = time.perf_counter()
            crawler("-q", "load", str(folder), "--db", str(tmp / "f.db"))
            file_time = time.perf_counter() - started
            started = time.perf_counter()
            crawler("-q", "load", str(warc), "--db", str(tmp / "w.db"))
            warc_time = time.perf_counter() - started
            same = hashes(tmp / "f.db") == hashes(tmp / "w.db")
            ratios.append(file_time / warc_time)
            files_s.append(file_time)
            warc_s.append(warc_time)
            n = args.pages
            print(
                f"round {r + 1}: files {n / file_time:6.1f} pages/s, WARC {n / warc_time:6.1f} "
                f"pages/s, ratio {file_time / warc_time:.2f}x; same articles: {same}",
                flush=True,
            )
            if not same:
                raise SystemExit("the WARC load stored other articles than the file load")
    n = args.pages
    summary = {
        "pages": n,
        "files_pages_s": round(n / statistics.median(files_s), 1),
        "warc_pages_s": round(n / statistics.median(warc_s), 1),
        "ratio_warc_to_files": round(statistics.median(ratios), 2),
    }
    print(
        f"ratio WARC/files: {summary['ratio_warc_to_files']:.2f}x (median of {len(ratios)} rounds)"
    )
    print("RESULT " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
