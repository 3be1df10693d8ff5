"""End to end: `crawler load` of the development corpus replicated to N pages, against bare
trafilatura extracting the same pages, and `--workers` 1 against 2 (or more).

    .venv/bin/python bench/load.py ../shared/corpora/article-extraction-benchmark [--pages 10000]
        [--workers 1,2]

The corpus' pages are replicated to `--pages` files with their text varied, so that dedup does real
work: the first copy of each page is the original; of the later copies about 75% have a third of
their words replaced (distinct articles), 10% are an earlier copy with 2% of its words changed
(near-duplicates) and 15% are an earlier copy byte for byte under another name (exact duplicates).
The replicated folder is kept in the system's temp folder and reused.

Sides, in one run of this script:
- **trafilatura**: bare trafilatura (the corpus README's best configuration, text only) on every
  file, in this process, before and after every load.
- **load N=k**: `crawler load FOLDER --workers k` as a real process into a fresh database:
  decoding, extraction, our metadata and rules, fingerprints, exact and near dedup, storage with the
  search index, ledger. Its pages/s is wall time from start to exit; memory is the peak
  proportional set size of its process tree, sampled every 0.2 s, in all and anonymous only (the
  rest is the database file SQLite maps, which grows with the database).

Every N must give the same articles and the same duplicates; the script checks it.

The machine drifts over minutes, at times by a third, so bare trafilatura runs before and after
every load, and each load's ratio is to the mean of the two runs around it. Worker counts are
compared through those ratios (`--workers 2` / `--workers 1` is the ratio of their ratios to
trafilatura), so drift between the two loads cancels; raw pages/s are printed too. `--rounds R`
repeats the loads R times in alternating order; each figure is the median over rounds.
Each load also reports the CPU per page of the loading process (the writer) and of its cleaning
workers, and from them the most `--workers n` can give over `--workers 1` on n cores (one worker
cleans a page in its CPU time while the writer runs on a spare core; n workers and the writer share
the n cores).
`--scaling` ends with bare trafilatura split across as many processes as the largest worker count,
at once, against one process: how much this machine speeds up perfectly parallel work, which no
worker count can beat.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from crawl import _pss_mb  # noqa: E402
from extraction import BASELINE_OPTIONS  # noqa: E402
from trafilatura import bare_extraction  # noqa: E402

_WORD = re.compile(r"\b[^\W\d_]{4,}\b")
_TEXT = re.compile(r">([^<]{20,})<")
_CONSONANTS = "bcdfghjklmnprstvwz"


def _pseudo(rng: random.Random) -> str:
    return "".join(rng.choice(_CONSONANTS) + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))


def vary(html: str, rng: random.Random, share: float) -> str:
    """`html` with `share` of the words of its text nodes replaced by pseudo-words."""

    def words(match: re.Match[str]) -> str:
        return _pseudo(rng) if rng.random() < share else match.group(0)

    return _TEXT.sub(lambda m: ">" + _WORD.sub(words, m.group(1)) + "<", html)


def replicate(corpus: Path, pages: int) -> tuple[Path, dict[str, int]]:
    folder = Path(tempfile.gettempdir()) / f"bench-load-{pages}"
    done = folder / ".complete"  # holds the kinds' counts once every file is written
    if done.exists():
        return folder, json.loads(done.read_text())
    kinds = {"original": 0, "distinct": 0, "near": 0, "exact": 0}
    originals = sorted((corpus / "html").glob("*.html.gz"))
    texts = [gzip.decompress(p.read_bytes()).decode("utf-8", "replace") for p in originals]
    written: list[str] = []
    rng = random.Random(7)
    folder.mkdir(exist_ok=True)
    for k in range(pages):
        i = k % len(texts)
        if k < len(texts):
            kind, html = "original", texts[i]
        else:
            roll = rng.random()
            if roll < 0.15:
                kind, html = "exact", written[rng.randrange(len(written))]
            elif roll < 0.25:
                kind, html = "near", vary(written[rng.randrange(len(written))], rng, 0.02)
            else:
                kind, html = "distinct", vary(texts[i], rng, 0.33)
        kinds[kind] += 1
        written.append(html)
        (folder / f"p{k:05d}.html").write_text(html, "utf-8")
    done.write_text(json.dumps(kinds))
    return folder, kinds


def bare(folder: Path) -> float:
    files = sorted(folder.glob("*.html"))
    started = time.perf_counter()
    for path in files:
        bare_extraction(path.read_bytes().decode("utf-8", "replace"), **BASELINE_OPTIONS)
    return len(files) / (time.perf_counter() - started)


def _bare_slice(files: list[Path]) -> None:
    for path in files:
        bare_extraction(path.read_bytes().decode("utf-8", "replace"), **BASELINE_OPTIONS)


def bare_parallel(folder: Path, processes: int) -> float:
    """Pages/s of bare trafilatura on the same files split across `processes` processes running at
    once (wall time until the last one ends): what the machine gives perfectly parallel work."""
    import multiprocessing

    files = sorted(folder.glob("*.html"))
    context = multiprocessing.get_context("fork")  # the children start with trafilatura imported
    children = [
        context.Process(target=_bare_slice, args=(files[k::processes],)) for k in range(processes)
    ]
    started = time.perf_counter()
    for child in children:
        child.start()
    for child in children:
        child.join()
    return len(files) / (time.perf_counter() - started)


def _busy_jiffies() -> int:
    """CPU time every core has spent busy since boot (user, nice, system), in clock ticks."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[1]) + int(fields[2]) + int(fields[3])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time `pid` has used so far (0 when it has gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [
            int(c)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()
        ]
    except (OSError, ValueError):
        return []


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        children = _children(todo.pop())
        found += children
        todo += children
    return found


def _is_fork_server(pid: int) -> bool:
    """Whether `pid` runs multiprocessing's fork server (its workers, forked from it, show the
    same command line: only a direct child of the loading process is the server itself)."""
    try:
        return b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def load(
    folder: Path, db: Path, workers: int
) -> tuple[float, tuple[float, float], float, dict[str, float]]:
    """(pages/s, peak PSS MB of the process tree (all; anonymous only), ms of CPU per page over
    the whole machine, ms of CPU per page by role) of `crawler load` as a real process. The roles:
    the loading process ("writer": reading, storing, and the fingerprints when a core is left over
    for it) and the cleaning workers ("workers", every worker process summed), read from /proc
    every 0.2 s, so up to 0.2 s of each process's last CPU is missed."""
    exe = Path(sys.executable).parent / "crawler"
    count = len(list(folder.glob("*.html")))
    busy = _busy_jiffies()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(exe), "-q", "load", str(folder), "--db", str(db), "--workers", str(workers)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    peak = [0.0, 0.0]
    used: dict[int, float] = {}  # pid -> CPU seconds when last seen
    servers: set[int] = set()

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _pss_mb(proc.pid))
            peak[1] = max(peak[1], _pss_mb(proc.pid, "Pss_Anon"))
            servers.update(
                c for c in _children(proc.pid) if c not in servers and _is_fork_server(c)
            )
            for pid in [proc.pid, *_descendants(proc.pid)]:
                used[pid] = max(used.get(pid, 0.0), _cpu_seconds(pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _out, err = proc.communicate()
    elapsed = time.perf_counter() - started
    cpu_ms = (_busy_jiffies() - busy) * 1000 / os.sysconf("SC_CLK_TCK") / count
    sampler.join()
    if proc.returncode not in (0, 3):
        sys.exit(f"crawler load failed ({proc.returncode}): {err[-2000:]}")
    roles = {
        "writer": used.get(proc.pid, 0.0) * 1000 / count,
        "workers": sum(v for p, v in used.items() if p != proc.pid and p not in servers)
        * 1000
        / count,
    }
    return count / elapsed, (peak[0], peak[1]), cpu_ms, roles


def outcome(db: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """What a load decided, independent of timing: articles and duplicate rows, by file name."""
    conn = sqlite3.connect(db)
    try:
        articles = conn.execute(
            "SELECT substr(url, -11), content_hash FROM articles ORDER BY url"
        ).fetchall()
        duplicates = conn.execute(
            """SELECT substr(p.origin, -11), p.reason, substr(a.url, -11) FROM pages p
               JOIN articles a ON a.id = p.duplicate_of WHERE p.state = 'duplicate'
               ORDER BY p.origin"""
        ).fetchall()
    finally:
        conn.close()
    return articles, duplicates


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds of every side; ratios are their medians"
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="also measure bare trafilatura in as many processes at once as the largest worker "
        "count, against one process: the machine's own ceiling for parallel work",
    )
    args = parser.parse_args()
    folder, kinds = replicate(args.corpus, args.pages)
    counts = [int(n) for n in args.workers.split(",")]
    first = counts[0]
    print(f"{args.pages} pages ({', '.join(f'{k} {v}' for k, v in kinds.items())}) in {folder}")
    # The machine drifts over minutes (by a third, at times): bare trafilatura runs before and after
    # every load, each load is measured against the mean of the two runs around it, and rounds
    # alternate the order of the loads. Worker counts are compared through those ratios, so drift
    # between two loads cancels; the figure is the median over rounds.
    bares = [bare(folder)]
    rates: dict[int, list[float]] = {n: [] for n in counts}
    to_bare: dict[int, list[float]] = {n: [] for n in counts}
    cpu: dict[int, list[float]] = {n: [] for n in counts}  # ms of CPU per page, all cores
    writer: dict[int, list[float]] = {n: [] for n in counts}  # ms per page, the loading process
    cleaning: dict[int, list[float]] = {n: [] for n in counts}  # ms per page, all workers
    peaks: dict[int, list[float]] = {n: [0.0, 0.0] for n in counts}
    decided: dict[int, tuple[list[tuple[str, str]], list[tuple[str, str, str]]]] = {}
    same = True
    with tempfile.TemporaryDirectory(prefix="bench-load-db-") as tmp:
        for r in range(args.rounds):
            for n in counts if r % 2 == 0 else counts[::-1]:
                db = Path(tmp) / f"r{r}n{n}.db"
                rate, peak, cpu_ms, roles = load(folder, db, n)
                cpu[n].append(cpu_ms)
                writer[n].append(roles["writer"])
                cleaning[n].append(roles["workers"])
                bares.append(bare(folder))
                rates[n].append(rate)
                to_bare[n].append(rate / ((bares[-2] + bares[-1]) / 2))
                peaks[n] = [max(peaks[n][0], peak[0]), max(peaks[n][1], peak[1])]
                result = outcome(db)
                same = same and decided.setdefault(n, result) == result
                db.unlink()
                print(f"round {r + 1}: --workers {n} {rate:.1f} pages/s ({1000 / rate:.1f} ms a page, "
                      f"{cpu_ms:.1f} ms of CPU a page: writer {roles['writer']:.1f}, workers "
                      f"{roles['workers']:.1f}), bare {bares[-2]:.1f} "
                      f"before and {bares[-1]:.1f} after: {to_bare[n][-1]:.3f}x", flush=True)  # fmt: skip
    baselines = [(a + b) / 2 for a, b in itertools.pairwise(bares)]
    to_first = {n: [x / y for x, y in zip(to_bare[n], to_bare[first], strict=True)] for n in counts}
    print(
        f"trafilatura (bare, in-process): {_median(baselines):6.1f} pages/s "
        f"(median of the means around each load; runs {', '.join(f'{b:.1f}' for b in bares)})"
    )
    for n in counts:
        pss, anon = peaks[n]
        print(
            f"crawler load --workers {n}: {_median(rates[n]):6.1f} pages/s = "
            f"{_median(to_bare[n]):.3f}x trafilatura (rounds "
            f"{', '.join(f'{x:.3f}' for x in to_bare[n])}), {len(decided[n][0])} stored, "
            f"{len(decided[n][1])} duplicates, peak PSS {pss:.0f} MB (anonymous {anon:.0f} MB)"
        )
    same = same and all(decided[n] == decided[first] for n in counts)
    print(f"identical results for every worker count and round: {same}")
    summary = {
        "pages": args.pages,
        "rounds": args.rounds,
        "trafilatura_pages_s": round(_median(baselines), 1),
        "load": {
            str(n): {
                "pages_s": round(_median(rates[n]), 1),
                "ratio_to_trafilatura": round(_median(to_bare[n]), 3),
                "ratio_to_first": round(_median(to_first[n]), 3),
                "rounds_to_trafilatura": [round(x, 3) for x in to_bare[n]],
                "rounds_to_first": [round(x, 3) for x in to_first[n]],
                "cpu_ms_per_page": round(_median(cpu[n]), 1),
                "writer_cpu_ms_per_page": round(_median(writer[n]), 2),
                "workers_cpu_ms_per_page": round(_median(cleaning[n]), 2),
                "peak_pss_mb": round(peaks[n][0]),
                "peak_anon_mb": round(peaks[n][1]),
            }
            for n in counts
        },
        "identical": same,
    }
    for n in counts[1:]:
        print(
            f"--workers {n} / --workers {first}: {_median(to_first[n]):.2f}x (rounds "
            f"{', '.join(f'{x:.2f}' for x in to_first[n])}; raw pages/s "
            f"{_median(rates[n]) / _median(rates[first]):.2f}x)"
        )
        if first == 1:
            # One worker cleans a page in about its CPU time (the writer has its own core); n
            # workers and the writer share n cores, so a page costs at least their CPU / n.
            one, together = _median(cleaning[1]), _median(cleaning[n]) + _median(writer[n])
            bound = n * one / together if together else 0.0
            summary["load"][str(n)]["ceiling_to_first"] = round(bound, 2)
            print(
                f"  ceiling from CPU time: one worker {one:.1f} ms a page; {n} workers "
                f"{_median(cleaning[n]):.1f} + writer {_median(writer[n]):.1f} ms a page on {n} "
                f"cores: at most {bound:.2f}x"
            )
    if args.scaling and max(counts) > 1:
        # bare in one process around the parallel run, so that drift cancels as for the loads
        k = max(counts)
        together = bare_parallel(folder, k)
        bares.append(bare(folder))
        scaling = together / ((bares[-2] + bares[-1]) / 2)
        summary["machine_scaling"] = {"processes": k, "ratio": round(scaling, 3)}
        print(
            f"this machine: bare trafilatura in {k} processes at once {together:.1f} pages/s, "
            f"{scaling:.2f}x one process ({bares[-2]:.1f} before, {bares[-1]:.1f} after): the "
            f"ceiling for --workers {k} / --workers 1 before any writer's share"
        )
    print("RESULT " + json.dumps(summary))
    if not same:
        sys.exit("results differ between worker counts or rounds")


if __name__ == "__main__":
    main()
