"""Crawl throughput: `crawler crawl` of a local site against `crawler load` of the same pages.

    .venv/bin/python bench/crawl.py [--pages 2000]

Generates N article pages (varied text in English and Korean, with site chrome), writes them to a
folder, serves that folder on 127.0.0.1 with a sitemap, then runs, as real processes, `crawler load`
of the folder and `crawler crawl` of the site into two fresh databases. The site is served by
bench/static_site.py in a process of its own (`--server threading`: Python's ThreadingHTTPServer in
this process, as before 2026-12-03). Prints pages/s for both, the
ratio, and the memory of the crawling process sampled while it runs (proportional set size of the process
and its cleaning workers), so growth over the pages shows. Load and crawl alternate over the rounds;
the ratio reported is the median of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

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
    # Keep-alive, as real sites serve: with HTTP/1.0 every page costs a new connection, and
    # Scrapy's pooled connections, closed by the server after each response, fail and are retried
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def serve(folder: Path, kind: str, prepare: Callable[[str], None]) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 and yield its base URL; `prepare(base)` writes what names the
    URL (the sitemap) before the server reads the folder."""
    if kind == "threading":
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(folder)))
        prepare(f"http://127.0.0.1:{server.server_address[1]}")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
        return
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(512)
    base = f"http://127.0.0.1:{listening.getsockname()[1]}"
    prepare(base)
    script = Path(__file__).with_name("static_site.py")
    fd = listening.fileno()
    with subprocess.Popen(
        [sys.executable, str(script), str(fd), str(folder)], pass_fds=[fd]
    ) as server:
        listening.close()
        try:
            yield base
        finally:
            server.kill()


def _pss_mb(pid: int, field: str = "Pss") -> float:
    """Memory of `pid` and its descendants, in MB (0 when it has gone): the sum of their
    proportional set sizes, so pages the fork server shares with its workers count once.
    `field="Pss_Anon"`: only anonymous memory (heaps), without the database file that SQLite maps
    and the page cache, which grow with the database, not with the process."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/smaps_rollup").read_text()
            total += int(status.split(f"\n{field}:")[1].split()[0])
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total / 1024


class Ran(NamedTuple):
    seconds: float
    memory: list[float]  # MB, sampled every 0.2 s
    cpu: float  # seconds of CPU of the crawler process (not of its cleaning workers, which its
    # fork server starts and the kernel does not count as its children)
    first: float | None = None  # seconds from the start to the first ledger row in its database


_FIELDS = "content_hash, title, author, published_at, language, text"


def articles(db: Path) -> list[tuple[object, ...]]:
    """What a run stored, field by field, in a fixed order: two runs gave the same articles when
    these are equal."""
    conn = sqlite3.connect(db)
    try:
        return sorted(conn.execute(f"SELECT {_FIELDS} FROM articles").fetchall(), key=repr)
    finally:
        conn.close()


def crawler(*args: str, ok: tuple[int, ...] = (0,)) -> Ran:
    """One `crawler` run: how long it took, its memory, its process's CPU, and when the first
    input was recorded in its `--db`. An exit status not in `ok` stops the bench."""
    exe = Path(sys.executable).parent / "crawler"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    samples = []
    db = Path(args[args.index("--db") + 1]) if "--db" in args else None
    first = None
    with subprocess.Popen(
        [str(exe), *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as process:
        assert process.stderr is not None
        err = threading.Thread(target=process.stderr.read, daemon=True)  # drain the log
        err.start()
        while process.poll() is None:
            samples.append(_pss_mb(process.pid))
            if first is None and db is not None and _recorded(db) > 0:
                first = time.perf_counter() - start
            time.sleep(0.2)
    elapsed = time.perf_counter() - start
    if process.returncode not in ok:
        raise SystemExit(f"crawler {' '.join(args)} exited {process.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Ran(elapsed, [s for s in samples if s > 0], cpu, first)


def _commits(db: Path) -> int:
    """Store transactions of the database's last run (from its report)."""
    conn = sqlite3.connect(db)
    try:
        (report,) = conn.execute("SELECT report FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    return int(json.loads(report)["commits"])


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _recorded(db: Path) -> int:
    """Ledger rows in the database so far (read-only; 0 while it is being made)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
        try:
            return int(conn.execute("SELECT count(*) FROM pages").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _remove_databases(folder: Path, pattern: str) -> None:
    """Databases (and their WAL files and lock folders) matching `pattern`: each run starts fresh."""
    for path in folder.glob(pattern):
        if path.is_dir():  # the run locks beside each database
            shutil.rmtree(path)
        else:
            path.unlink()


def second_signal(sources: Path, db: Path) -> tuple[float, int]:
    """A crawl stopped as an impatient operator does: SIGINT, then SIGTERM at once, once 50
    pages are recorded. Seconds from the second signal to the process' end, and its exit status
    (130 or 143; a shell's 128 + N if the signal itself ended it)."""
    _remove_databases(db.parent, db.name + "*")
    exe = Path(sys.executable).parent / "crawler"
    command = [str(exe), "crawl", "bench", "--sources", str(sources), "--db", str(db)]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as process:
        deadline = time.monotonic() + 120
        while _recorded(db) < 50:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench: the crawl to stop ended or stalled before 50 pages")
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGTERM)
        sent = time.perf_counter()
        code = process.wait(120)
    took = time.perf_counter() - sent
    return took, 128 - code if code < 0 else code


def quarters(samples: list[float]) -> str:
    """Peak memory in each quarter of the run: flat means the last is not above the second."""
    n = len(samples)
    if n < 4:
        return "too short to sample"
    cuts = [samples[k * n // 4 : (k + 1) * n // 4] for k in range(4)]
    return " / ".join(f"{max(c):.0f}" for c in cuts) + " MB"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--server",
        choices=("process", "threading"),
        default="process",
        help="what serves the site: bench/static_site.py in its own process (default), or "
        "Python's ThreadingHTTPServer in this one (the figures before 2026-12-03)",
    )
    parser.add_argument(
        "--store-batch",
        type=int,
        default=0,
        help="pages per store transaction of the crawl, at most (CRAWLER_STORE_BATCH; 0: default)",
    )
    parser.add_argument(
        "--archive",
        action="store_true",
        help="also crawl with --archive (every response kept as WARC) and print what it costs",
    )
    parser.add_argument(
        "--stop",
        type=int,
        default=0,
        metavar="N",
        help="also stop N crawls of the site with two signals (SIGINT, then SIGTERM) once 50 "
        "pages are recorded, and print how long each took to exit after the second",
    )
    parser.add_argument(
        "--scrapy-alone",
        action="store_true",
        help="also crawl with no item pipeline (fetch only): the CPU that Scrapy itself costs",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        site = tmp / "site"
        (site / "news").mkdir(parents=True)
        for i in range(args.pages):
            (site / "news" / f"story-{i:05d}.html").write_text(page(i), "utf-8")

        def prepare(base: str) -> None:
            urls = "".join(
                f"<url><loc>{base}/news/story-{i:05d}.html</loc></url>" for i in range(args.pages)
            )
            (site / "sitemap.xml").write_text(
                f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
                "utf-8",
            )

        serving = ExitStack()  # the server runs until the last round is done
        base = serving.enter_context(serve(site, args.server, prepare))
        sources = tmp / "sources.toml"
        sources.write_text(
            f'[sources.bench]\nkind = "sitemap"\nstart_urls = ["{base}/sitemap.xml"]\n'
            f'download_delay = 0\nconcurrency = {args.concurrency}\nallow_private = ["127.0.0.1"]\n',
            "utf-8",
        )
        ratios, loads, crawls, transactions, archived = [], [], [], [], []
        identical: list[bool] = []
        stops: list[tuple[float, int]] = []
        batch = ("-s", f"CRAWLER_STORE_BATCH={args.store_batch}") if args.store_batch else ()
        try:
            for r in range(args.rounds):
                _remove_databases(tmp, "*.db*")
                n = args.pages
                load = crawler("load", str(site / "news"), "--db", str(tmp / "l.db"))
                crawl = crawler(
                    "crawl", "bench", "--sources", str(sources), "--db", str(tmp / "c.db"), *batch
                )
                load_s, crawl_s = load.seconds, crawl.seconds
                transactions.append(_commits(tmp / "c.db"))
                same = articles(tmp / "c.db") == articles(tmp / "l.db")
                identical.append(same)
                print(
                    f"round {r + 1}: CPU a page of the crawler process (its cleaning workers not "
                    f"counted): load {load.cpu / n * 1000:.1f} ms, crawl "
                    f"{crawl.cpu / n * 1000:.1f} ms; first input recorded after load "
                    f"{_seconds(load.first)}, crawl {_seconds(crawl.first)}; the crawl stored the "
                    f"load's articles ({_FIELDS}): {'yes' if same else 'NO'}",
                    flush=True,
                )
                if args.scrapy_alone:
                    alone = crawler(
                        "crawl", "bench", "--sources", str(sources), "--db", str(tmp / "s.db"),
                        "-s", "ITEM_PIPELINES={}",
                        ok=(3,),  # its pages end failed / dropped: nothing stores them
                    )  # fmt: skip
                    print(
                        f"round {r + 1}: crawl with no item pipeline (Scrapy alone): "
                        f"{alone.cpu / n * 1000:.1f} ms of CPU a page",
                        flush=True,
                    )
                if args.archive:
                    shutil.rmtree(tmp / "warc", ignore_errors=True)
                    archive_s = crawler(
                        "crawl", "bench", "--sources", str(sources), "--db", str(tmp / "a.db"),
                        "--archive", str(tmp / "warc"), *batch,
                    ).seconds  # fmt: skip
                    crawler("load", str(tmp / "warc"), "--db", str(tmp / "r.db"))  # re-clean
                    kept = articles(tmp / "a.db") == articles(tmp / "c.db")
                    reloaded = articles(tmp / "r.db") == articles(tmp / "c.db")
                    identical += [kept, reloaded]
                    archived.append(crawl_s / archive_s)
                    print(
                        f"round {r + 1}: crawl with --archive {args.pages / archive_s:6.1f} "
                        f"pages/s, {crawl_s / archive_s:.2f}x of the crawl without; same articles "
                        f"as the crawl: {'yes' if kept else 'NO'}, and `crawler load` of its "
                        f"archive: {'yes' if reloaded else 'NO'}",
                        flush=True,
                    )
                ratios.append(load_s / crawl_s)
                loads.append(load_s)
                crawls.append(crawl_s)
                print(
                    f"round {r + 1}: load {n / load_s:6.1f} pages/s, crawl {n / crawl_s:6.1f} "
                    f"pages/s, ratio {load_s / crawl_s:.2f}x; crawl memory (PSS) by quarter "
                    f"{quarters(crawl.memory)}, load peak {max(load.memory, default=0):.0f} MB; crawl "
                    f"store transactions {transactions[-1]} ({n / transactions[-1]:.1f} pages each)",
                    flush=True,
                )
            for _ in range(args.stop):
                stops.append(second_signal(sources, tmp / "stop.db"))
                print(
                    f"stop: exit {stops[-1][1]} {stops[-1][0]:.2f} s after the second signal",
                    flush=True,
                )
        finally:
            serving.close()
    n = args.pages
    print(f"pages: {n}, crawl concurrency {args.concurrency}, one machine, 127.0.0.1")
    print(f"crawler load : {n / statistics.median(loads):7.1f} pages/s (median)")
    print(f"crawler crawl: {n / statistics.median(crawls):7.1f} pages/s (median)")
    print(f"ratio crawl/load: {statistics.median(ratios):.2f}x (median of {len(ratios)} rounds)")
    summary = {
        "pages": n,
        "load_pages_s": round(n / statistics.median(loads), 1),
        "crawl_pages_s": round(n / statistics.median(crawls), 1),
        "ratio_crawl_to_load": round(statistics.median(ratios), 2),
        "crawl_store_transactions": transactions,
    }
    summary["identical_articles"] = all(identical)
    print(f"identical articles in every comparison: {'yes' if all(identical) else 'NO'}")
    if stops:
        summary["second_signal_exit_s"] = [round(t, 2) for t, _code in stops]
        summary["second_signal_codes"] = [code for _t, code in stops]
    if archived:
        summary["archive_speed_share"] = round(statistics.median(archived), 2)
        print(f"crawl --archive / crawl: {statistics.median(archived):.2f}x (median)")
    print("RESULT " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
