"""Crawl throughput: `crawler crawl` of a local site against `crawler load` of the same pages.

    .venv/bin/python bench/crawl.py [--pages 2000]

Generates N article pages (varied text in English and Korean, with site chrome), writes them to a
folder, serves that folder on 127.0.0.1 with a sitemap, then runs, as real processes, `crawler load`
of the folder and `crawler crawl` of the site into two fresh databases. Prints pages/s for both, the
ratio, and each process' peak memory (max RSS). Load and crawl alternate over the rounds.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_CONSONANTS = "bcdfghjklmnprstvwz"


def word(rng: random.Random, korean: bool) -> str:
    if korean:
        return "".join(chr(0xAC00 + rng.randrange(11172)) for _ in range(rng.randint(1, 4)))
    return "".join(rng.choice(_CONSONANTS) + rng.choice("aeiou") for _ in range(rng.randint(1, 4)))


def page(i: int) -> str:
    rng = random.Random(i)
    korean = i % 2 == 1
    paragraphs = "".join(
        "<p>" + " ".join(word(rng, korean) for _ in range(60)) + ".</p>" for _ in range(5)
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Story {i} | Bench Times</title>'
        f'<meta property="og:title" content="Story {i}"></head><body><nav><a href="/">Home</a>'
        f"</nav><article><h1>Story {i}</h1>{paragraphs}<p>Share this article</p></article>"
        f"<footer>© 2025 Bench Times. All rights reserved.</footer></body></html>"
    )


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:
        pass


def crawler(*args: str) -> tuple[float, int]:
    """(seconds, peak RSS in MB of the largest process so far) for one `crawler` run."""
    exe = Path(sys.executable).parent / "crawler"
    start = time.perf_counter()
    subprocess.run([str(exe), *args], cwd=ROOT, check=True, capture_output=True, timeout=3600)
    elapsed = time.perf_counter() - start
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        site = tmp / "site"
        (site / "news").mkdir(parents=True)
        for i in range(args.pages):
            (site / "news" / f"story-{i:05d}.html").write_text(page(i), "utf-8")
        handler = partial(QuietHandler, directory=str(site))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        urls = "".join(
            f"<url><loc>{base}/news/story-{i:05d}.html</loc></url>" for i in range(args.pages)
        )
        (site / "sitemap.xml").write_text(
            f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
            "utf-8",
        )
        sources = tmp / "sources.toml"
        sources.write_text(
            f'[sources.bench]\nkind = "sitemap"\nstart_urls = ["{base}/sitemap.xml"]\n'
            f'download_delay = 0\nconcurrency = {args.concurrency}\nallow_private = ["127.0.0.1"]\n',
            "utf-8",
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            load_s, load_rss = crawler("load", str(site / "news"), "--db", str(tmp / "load.db"))
            crawl_s, crawl_rss = crawler(
                "crawl", "bench", "--sources", str(sources), "--db", str(tmp / "crawl.db")
            )
        finally:
            server.shutdown()
    n = args.pages
    print(f"pages: {n}, crawl concurrency {args.concurrency}, one machine, 127.0.0.1")
    print(f"crawler load : {n / load_s:7.1f} pages/s  ({load_s:.1f} s)")
    print(f"crawler crawl: {n / crawl_s:7.1f} pages/s  ({crawl_s:.1f} s)")
    print(f"ratio crawl/load: {load_s / crawl_s:.2f}x")
    print(f"peak RSS of any process: after load {load_rss} MB, after crawl {crawl_rss} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
