"""The cluster on Redis against one machine, on the same pages, in one run of this script.

    .venv/bin/python bench/cluster.py [CORPUS] [--pages 10000] [--rounds 2] [--shard 100]

The pages are bench/load.py's: the development corpus replicated to `--pages` files with their text
varied (distinct articles, near and exact duplicates), kept in the system's temp folder.

Sides, alternating in every round (the first side changes every other round):
- **load**: `crawler load FOLDER --workers 2` as a real process into a fresh database, clocked from
  its start to its exit.
- **cluster**: a redis-server of the script's own (AOF, appendfsync always, as docs/cluster.md
  asks), `crawler writer` and two single-process workers (`crawler worker --cleaners 1`, each one
  job at a time), started and ready before the clock; clocked from `crawler submit load FOLDER
  --wait` to its exit (every job stored and closed).
- **writer alone** (b): the workers fill the results streams with no writer running; then the
  writer is started and clocked until it has stored and closed every job: articles (inputs) per
  second it commits, fed precomputed results through Redis. With the workers' pages/s per core from
  the same round, it gives how many worker cores one writer keeps busy.

Both sides must store the same articles (by content hash) and the same number of duplicates; the
script checks it. Figures go to docs/benchmarks.md and docs/cluster.md.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from corpus import corpus_or_exit  # noqa: E402
from load import replicate  # noqa: E402

from tests.redisserver import EXE, RedisServer  # noqa: E402

CRAWLER = [sys.executable, "-m", "crawler.entry", "-q"]


def outcome(db: Path) -> tuple[list[str], int]:
    conn = sqlite3.connect(db)
    try:
        hashes = [r[0] for r in conn.execute("SELECT content_hash FROM articles ORDER BY 1")]
        dups = conn.execute("SELECT count(*) FROM pages WHERE state = 'duplicate'").fetchone()[0]
        return hashes, int(dups)
    finally:
        conn.close()


def load_side(folder: Path, db: Path) -> float:
    started = time.perf_counter()
    run = subprocess.run([*CRAWLER, "load", str(folder), "--db", str(db), "--workers", "2"],
                         cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        sys.exit(f"bench/cluster.py: crawler load failed: {run.stderr.strip()[-300:]}")
    return elapsed


class Cluster:
    def __init__(self, tmp: Path, name: str) -> None:
        self.tmp = tmp / name
        self.server = RedisServer(self.tmp / "redis")
        self.db = self.tmp / "cluster.db"
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Cluster:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.server.stop()

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"proc-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([*CRAWLER, *args], cwd=ROOT, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def writer(self) -> subprocess.Popen[bytes]:
        return self.start("writer", "--db", str(self.db), "--broker", self.server.url)

    def workers(self, n: int = 2) -> list[subprocess.Popen[bytes]]:
        return [
            self.start("worker", "--broker", self.server.url, "--cleaners", "1") for _ in range(n)
        ]

    def submit(self, folder: Path, shard: int, wait: bool) -> subprocess.CompletedProcess[str]:
        args = ["submit", "--broker", self.server.url, "load", str(folder), "--shard", str(shard)]
        run = subprocess.run([*CRAWLER, *args, *(["--wait"] if wait else [])],
                             cwd=ROOT, capture_output=True, text=True)  # fmt: skip
        if run.returncode != 0:
            sys.exit(f"bench/cluster.py: submit failed ({run.returncode}): {run.stderr[-300:]}")
        return run

    def states(self) -> dict[str, int]:
        import redis

        from crawler.cluster import recent_jobs

        with redis.Redis.from_url(self.server.url) as client:
            rows = recent_jobs(client, 100_000)
        counts: dict[str, int] = {}
        for row in rows:
            state = "sent" if row.get("sent_at") and row.get("state") == "running" else row["state"]
            counts[state] = counts.get(state, 0) + 1
        return counts


def ready(seconds: float = 3.0) -> None:
    """Let the processes import and connect before a clock starts."""
    time.sleep(seconds)


def cluster_side(folder: Path, tmp: Path, name: str, shard: int) -> tuple[float, Path]:
    with Cluster(tmp, name) as c:
        c.writer()
        c.workers(2)
        ready()
        started = time.perf_counter()
        c.submit(folder, shard, wait=True)
        return time.perf_counter() - started, c.db


def writer_alone(folder: Path, tmp: Path, name: str, shard: int, pages: int) -> dict[str, float]:
    """Workers fill the streams (no writer), then the writer alone stores it all."""
    with Cluster(tmp, name) as c:
        workers = c.workers(2)
        ready()
        started = time.perf_counter()
        c.submit(folder, shard, wait=False)
        jobs = -(-pages // shard)
        while c.states().get("sent", 0) < jobs:
            time.sleep(0.2)
        cleaning = time.perf_counter() - started
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait(30)
        writer_start = time.perf_counter()
        c.writer()
        while c.states().get("done", 0) + c.states().get("failed", 0) < jobs:
            time.sleep(0.1)
        storing = time.perf_counter() - writer_start
    return {
        "worker_pages_per_s_per_core": pages / cleaning / 2,
        "writer_pages_per_s": pages / storing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, nargs="?")
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--shard", type=int, default=100)
    parser.add_argument(
        "--writer-rounds", type=int, default=1, help="rounds that also measure the writer alone"
    )
    parser.add_argument(
        "--writer-only", action="store_true", help="only the writer alone (--rounds times)"
    )
    args = parser.parse_args()
    if EXE is None:
        sys.exit("bench/cluster.py: redis-server is not installed (apt install redis-server)")
    args.corpus = corpus_or_exit(args.corpus)
    folder, kinds = replicate(args.corpus, args.pages)
    pages = len(list(folder.glob("*.html")))
    print(f"{pages} pages ({', '.join(f'{k} {v}' for k, v in kinds.items())}) in {folder}")
    ratios: list[float] = []
    writer: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as name:
        tmp = Path(name)
        for r in range(args.rounds):
            order = ["load", "cluster"] if r % 2 == 0 else ["cluster", "load"]
            if args.writer_only:
                order = []
            times: dict[str, float] = {}
            dbs: dict[str, Path] = {}
            for side in order:
                if side == "load":
                    dbs[side] = tmp / f"load{r}.db"
                    times[side] = load_side(folder, dbs[side])
                else:
                    times[side], dbs[side] = cluster_side(folder, tmp, f"c{r}", args.shard)
                print(f"round {r + 1} {side}: {times[side]:.1f} s, {pages / times[side]:.1f} pages/s",
                      flush=True)  # fmt: skip
            if order:
                if outcome(dbs["load"]) != outcome(dbs["cluster"]):
                    sys.exit("bench/cluster.py: the cluster stored other articles than load")
                ratios.append(times["load"] / times["cluster"])
                print(f"round {r + 1}: cluster / load {ratios[-1]:.3f}x (same articles, same "
                      f"duplicates: {outcome(dbs['load'])[1]})", flush=True)  # fmt: skip
            if r < args.writer_rounds or args.writer_only:
                w = writer_alone(folder, tmp, f"w{r}", args.shard, pages)
                writer.append(w)
                print(f"round {r + 1} writer alone: {w['writer_pages_per_s']:.0f} pages/s; a "
                      f"worker core cleans {w['worker_pages_per_s_per_core']:.1f} pages/s",
                      flush=True)  # fmt: skip
            for each in tmp.glob("*.db*"):
                if each.is_file():
                    each.unlink()
    result: dict[str, object] = {"pages": pages, "rounds": args.rounds}
    if ratios:
        result["cluster_to_load"] = round(statistics.median(ratios), 3)
        result["ratios"] = [round(x, 3) for x in ratios]
        print(f"cluster (1 writer + 2 workers) / crawler load --workers 2: "
              f"{result['cluster_to_load']:.3f}x (median of {args.rounds}; target >= 0.9x)")  # fmt: skip
    if writer:
        rate = statistics.median(w["writer_pages_per_s"] for w in writer)
        per_core = statistics.median(w["worker_pages_per_s_per_core"] for w in writer)
        result |= {
            "writer_pages_per_s": round(rate, 1),
            "worker_pages_per_s_per_core": round(per_core, 2),
            "cores_one_writer_keeps_busy": round(rate / per_core, 1),
        }
        print(f"writer alone: {rate:.0f} pages/s = {result['cores_one_writer_keeps_busy']} worker "
              f"cores at {per_core:.1f} pages/s each")  # fmt: skip
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
