"""End to end: `crawler load` of the development corpus replicated to N pages, against bare
trafilatura extracting the same pages, and `--workers` 1 against 2 (or more).

    .venv/bin/python bench/load.py ../shared/corpora/article-extraction-benchmark [--pages 10000]
        [--workers 1,2]

The corpus' pages are replicated to `--pages` files with their text varied, so that dedup does real
work: the first copy of each page is the original; of the later copies about 75% have a third of
their words replaced (distinct articles), 10% are an earlier copy with 2% of its words changed
(near-duplicates) and 15% are an earlier copy byte for byte under another name (exact duplicates).
The replicated folder is kept in the system's temp folder and reused.

Sides, in every round of this script:
- **trafilatura**: bare trafilatura (the corpus README's best configuration, text only) on every
  file, in a process of its own (its clock starts once it has imported trafilatura).
- **load N=k**: `crawler load FOLDER --workers k` as a real process into a fresh database:
  decoding, extraction, our metadata and rules, fingerprints, exact and near dedup, storage with the
  search index, ledger. Its clock runs from its start to its exit; memory is the peak proportional
  set size of its process tree, sampled every 0.2 s, in all and anonymous only (the rest is the
  database file SQLite maps, which grows with the database).
- with `--scaling`, **trafilatura xk**: bare trafilatura on the same files split across as many
  processes as the largest worker count, at once: how much this machine speeds up perfectly
  parallel work, which no worker count can beat; and **arithmetic x1 / xk**, a pure-Python loop
  in one process and split across k, which touches no shared memory: whether the cores themselves
  give k times one (the host's steal time over the round is read from /proc/stat too).
- with `--without-index`, **load N=k, no search index**: the largest worker count into a database
  whose search-index trigger is dropped (the same results are checked): what the index costs.

Every N must give the same articles and the same duplicates; the script checks it.

The machine drifts, by a quarter within a minute at times (the same load of 2,000 files took 38 s
and then 30 s). So the sides of a round run interleaved: each runs for `--slice` seconds (2) while
the others are stopped (SIGSTOP of its process group: the load, its fork server and its workers),
in turns, until every side has ended; a side's pages/s is pages over the time it was let run.
Drift slower than a few turns hits every side alike and cancels from the ratios, which are taken
within a round: to bare trafilatura, and `--workers k` to `--workers 1`. `--rounds R` repeats the
round (with the turns in reverse order every other round); each figure is the median over rounds.
The time a load spends stopped counts towards its pages' extraction deadline (30 s), so the script
checks that no page timed out.

Each load also reports the CPU per page of the loading process (the writer) and of its cleaning
workers, and from them the most `--workers n` can give over `--workers 1` on n cores (one worker
cleans a page in its CPU time while the writer runs on a spare core; n workers and the writer share
the n cores).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import random
import re
import signal
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

from corpus import corpus_or_exit  # noqa: E402
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


def bare_run(folder: Path, processes: int) -> None:
    """The bare trafilatura side, as its own process: imports done, it prints "ready" and waits for
    a line on stdin before it starts, so its clock (the harness's) leaves the imports out; then it
    extracts every file, handed out to `processes` processes running at once."""
    import multiprocessing

    files = sorted(folder.glob("*.html"))
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":  # the harness ended before this side's turn
        return
    if processes == 1:
        for path in files:
            _bare_one(path)
        return
    # files handed out one at a time, so no process idles at the end while another finishes its
    # share; the children are forked with trafilatura imported
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for _ in pool.imap_unordered(_bare_one, files):
            pass


# Iterations of the arithmetic side: about 4 s of one core on the project machine.
ARITHMETIC = 50_000_000


def arithmetic_run(processes: int) -> None:
    """The arithmetic side (gated like the bare one): ARITHMETIC iterations of a pure-Python loop
    that touches no memory to speak of, split across `processes` forked processes running at once.
    Its scaling tells whether the machine's cores are real, apart from what they share."""
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            _spin(ARITHMETIC // processes)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)


def _spin(n: int) -> int:
    x = 0
    for i in range(n):
        x += i * i
    return x


def _steal_share() -> tuple[int, int]:
    """(steal, all) CPU ticks of the machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields[:8])


def _bare_one(path: Path) -> None:
    bare_extraction(path.read_bytes().decode("utf-8", "replace"), **BASELINE_OPTIONS)


class Side:
    """One side of a round: a process group (the process, its fork server and its workers) that the
    harness runs in time slices, stopped (SIGSTOP) between them. `active` is the wall time it was
    let run, from its start (or, for a gated side, from its "go") to its exit."""

    def __init__(self, name: str, argv: list[str], tmp: Path, *, gated: bool = False) -> None:
        self.name, self.argv, self.gated = name, argv, gated
        self.proc: subprocess.Popen[str] | None = None
        self.active = 0.0
        self.slices = 0
        self.log = tmp / f"{name.replace(' ', '-')}.log"
        self.running = threading.Event()  # set during the side's turns

    def prepare(self) -> None:
        """A gated side starts now, imports, and waits (using no CPU) for its first slice."""
        if self.gated:
            self.proc = self._popen(stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            assert self.proc.stdout is not None
            if self.proc.stdout.readline().strip() != "ready":
                sys.exit(f"{self.name} did not start: {self.log.read_text()[-2000:]}")

    def _popen(self, **pipes: object) -> subprocess.Popen[str]:
        # A process group of its own, in the harness's session: should the harness die without
        # its cleanup, the kernel wakes and hangs up a stopped group that is left orphaned.
        with self.log.open("w") as log:
            return subprocess.Popen(  # type: ignore[call-overload]
                self.argv, cwd=ROOT, text=True, process_group=0, stderr=log,
                **{"stdout": log, **pipes},
            )  # fmt: skip

    def run_slice(self, seconds: float) -> bool:
        """Let the side run for `seconds` (less if it ends); True once it has ended."""
        started = time.perf_counter()
        self.running.set()
        if self.proc is None:
            self.proc = self._popen()
            self.started()
        elif self.gated and self.slices == 0:
            assert self.proc.stdin is not None
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        else:
            os.killpg(self.proc.pid, signal.SIGCONT)
        self.slices += 1
        end = started + seconds
        while time.perf_counter() < end and self.proc.poll() is None:
            time.sleep(0.005)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGSTOP)
        self.active += time.perf_counter() - started
        self.running.clear()
        if self.proc.poll() is None:
            return False
        if self.proc.returncode not in (0, 3):
            sys.exit(f"{self.name} failed ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
        return True

    def started(self) -> None:
        """Called once the side's process has started (a hook)."""

    def kill(self) -> None:
        """Whatever is left of the group (also what a stop caught as its process exited)."""
        if self.proc is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def interleave(sides: list[Side], seconds: float) -> None:
    """Run every side to its end, in turns of `seconds`, one at a time: drift of the machine over
    more than a few turns hits every side alike."""
    live = list(sides)
    try:
        for side in sides:
            side.prepare()
        while live:
            for side in list(live):
                if side.run_slice(seconds):
                    live.remove(side)
    finally:
        for side in sides:
            side.kill()


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


class Load(Side):
    """`crawler load FOLDER --workers n` as a side, into a fresh database. While it runs, the peak
    proportional set size of its process tree (all; anonymous only) and the CPU time of each of its
    processes are read from /proc every 0.2 s (so up to 0.2 s of a process's last CPU is missed)."""

    def __init__(self, folder: Path, db: Path, workers: int, tmp: Path) -> None:
        exe = Path(sys.executable).parent / "crawler"
        argv = [str(exe), "-q", "load", str(folder), "--db", str(db), "--workers", str(workers)]
        super().__init__(f"load --workers {workers}", argv, tmp)
        self.db = db
        self.peak = [0.0, 0.0]
        self.used: dict[int, float] = {}  # pid -> CPU seconds when last seen
        self.servers: set[int] = set()

    def started(self) -> None:
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        proc = self.proc
        assert proc is not None
        while proc.poll() is None:
            if not self.running.wait(0.2):  # not while stopped: its CPU would be another side's
                continue
            self.peak[0] = max(self.peak[0], _pss_mb(proc.pid))
            self.peak[1] = max(self.peak[1], _pss_mb(proc.pid, "Pss_Anon"))
            self.servers.update(
                c for c in _children(proc.pid) if c not in self.servers and _is_fork_server(c)
            )
            for pid in [proc.pid, *_descendants(proc.pid)]:
                self.used[pid] = max(self.used.get(pid, 0.0), _cpu_seconds(pid))
            time.sleep(0.2)

    def roles(self, count: int) -> dict[str, float]:
        """ms of CPU per page: the loading process ("writer": reading, storing, and the
        fingerprints when a core is left over for it) and the cleaning workers ("workers", every
        worker process summed)."""
        assert self.proc is not None
        writer = self.used.get(self.proc.pid, 0.0)
        workers = sum(
            v for p, v in self.used.items() if p != self.proc.pid and p not in self.servers
        )
        return {"writer": writer * 1000 / count, "workers": workers * 1000 / count}


Decided = tuple[list[tuple[str, str]], list[tuple[str, str, str]], list[str]]


def outcome(db: Path) -> Decided:
    """What a load decided, independent of timing: articles and duplicate rows, by file name, and
    the pages that ran past the extraction deadline (none are expected)."""
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
        timeouts = [
            origin
            for (origin,) in conn.execute(
                "SELECT origin FROM pages WHERE reason = 'extract_timeout' ORDER BY origin"
            )
        ]
    finally:
        conn.close()
    return articles, duplicates, timeouts


def _unindexed(db: Path) -> Path:
    """A new database at `db` whose articles are not put in the search index (its insert trigger
    dropped), for the --without-index side."""
    from db.connect import connect

    connect(db).close()
    conn = sqlite3.connect(db)
    try:
        conn.execute("DROP TRIGGER articles_ai")
        conn.commit()
    finally:
        conn.close()
    return db


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    if sys.argv[1:2] == ["--bare-run"]:  # a bare trafilatura side (see bare_run)
        bare_run(Path(sys.argv[2]), int(sys.argv[3]))
        return
    if sys.argv[1:2] == ["--arithmetic-run"]:  # see arithmetic_run
        arithmetic_run(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "corpus", type=Path, nargs="?", help="the extraction corpus (bench/corpus.py)"
    )
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds of every side; ratios are their medians"
    )
    parser.add_argument(
        "--slice", type=float, default=2.0, help="seconds each side runs before the next one's turn"
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="also measure bare trafilatura in as many processes at once as the largest worker "
        "count, against one process: the machine's own ceiling for parallel work",
    )
    parser.add_argument(
        "--without-index",
        action="store_true",
        help="also load with the largest worker count into a database whose search-index trigger "
        "is dropped: what the index costs the writer",
    )
    args = parser.parse_args()
    args.corpus = corpus_or_exit(args.corpus)
    folder, kinds = replicate(args.corpus, args.pages)
    count = len(list(folder.glob("*.html")))
    counts = [int(n) for n in args.workers.split(",")]
    first = counts[0]
    wide = max(counts)
    print(f"{args.pages} pages ({', '.join(f'{k} {v}' for k, v in kinds.items())}) in {folder}")
    print(f"every side of a round runs in turns of {args.slice:g} s, one side at a time")
    bare_rates: list[float] = []
    scaling: list[float] = []
    arithmetic: list[float] = []  # the arithmetic side's speed-up in `wide` processes
    steal: list[float] = []  # share of the machine's CPU time stolen by the host, per round
    unindexed: dict[str, list[float]] = {"ratio": [], "writer": [], "indexed_writer": []}
    rates: dict[int, list[float]] = {n: [] for n in counts}
    to_bare: dict[int, list[float]] = {n: [] for n in counts}
    to_first: dict[int, list[float]] = {n: [] for n in counts}
    writer: dict[int, list[float]] = {n: [] for n in counts}  # ms per page, the loading process
    cleaning: dict[int, list[float]] = {n: [] for n in counts}  # ms per page, all workers
    peaks: dict[int, list[float]] = {n: [0.0, 0.0] for n in counts}
    decided: dict[int, Decided] = {}
    same = True
    me = [sys.executable, str(Path(__file__).resolve())]
    runner = [*me, "--bare-run", str(folder)]
    with tempfile.TemporaryDirectory(prefix="bench-load-db-") as name:
        tmp = Path(name)
        for r in range(args.rounds):
            loads = {n: Load(folder, tmp / f"r{r}n{n}.db", n, tmp) for n in counts}
            bare = Side("trafilatura", [*runner, "1"], tmp, gated=True)
            sides: list[Side] = [bare, *(loads[n] for n in counts)]
            wide_bare = spin = spin_wide = plain = None
            if args.scaling and wide > 1:
                wide_bare = Side(f"trafilatura x{wide}", [*runner, str(wide)], tmp, gated=True)
                spin = Side("arithmetic", [*me, "--arithmetic-run", "1"], tmp, gated=True)
                spin_wide = Side(
                    f"arithmetic x{wide}", [*me, "--arithmetic-run", str(wide)], tmp, gated=True
                )
                sides += [wide_bare, spin, spin_wide]
            if args.without_index:
                plain = Load(folder, _unindexed(tmp / f"r{r}plain.db"), wide, tmp)
                sides.append(plain)
            stolen, ticks = _steal_share()
            interleave(sides if r % 2 == 0 else sides[::-1], args.slice)
            stolen_now, ticks_now = _steal_share()
            steal.append((stolen_now - stolen) / max(1, ticks_now - ticks))
            bare_rates.append(count / bare.active)
            line = [f"round {r + 1}: trafilatura {bare_rates[-1]:.1f} pages/s"]
            if wide_bare is not None and spin is not None and spin_wide is not None:
                scaling.append(count / wide_bare.active / bare_rates[-1])
                arithmetic.append(spin.active / spin_wide.active)
                line.append(
                    f"in {wide} processes at once {scaling[-1]:.2f}x one (pure arithmetic "
                    f"{arithmetic[-1]:.2f}x; CPU time stolen by the host {steal[-1]:.1%})"
                )
            for n in counts:
                side = loads[n]
                rates[n].append(count / side.active)
                to_bare[n].append(rates[n][-1] / bare_rates[-1])
                to_first[n].append(rates[n][-1] / rates[first][-1])
                roles = side.roles(count)
                writer[n].append(roles["writer"])
                cleaning[n].append(roles["workers"])
                peaks[n] = [max(peaks[n][0], side.peak[0]), max(peaks[n][1], side.peak[1])]
                result = outcome(side.db)
                same = same and decided.setdefault(n, result) == result
                side.db.unlink()
                line.append(
                    f"--workers {n} {rates[n][-1]:.1f} pages/s = {to_bare[n][-1]:.3f}x trafilatura, "
                    f"{to_first[n][-1]:.3f}x --workers {first} (CPU a page: writer "
                    f"{roles['writer']:.1f} ms, workers {roles['workers']:.1f} ms)"
                )
            if plain is not None:
                same = same and outcome(plain.db) == decided[wide]
                without = plain.roles(count)["writer"]
                unindexed["ratio"].append(loads[wide].active / plain.active)
                unindexed["writer"].append(without)
                unindexed["indexed_writer"].append(writer[wide][-1])
                plain.db.unlink()
                line.append(
                    f"--workers {wide} without the search index {count / plain.active:.1f} "
                    f"pages/s = {unindexed['ratio'][-1]:.3f}x with it (writer {without:.1f} ms a "
                    "page)"
                )
            print("; ".join(line), flush=True)
    print(
        f"trafilatura (bare): {_median(bare_rates):6.1f} pages/s "
        f"(median of rounds {', '.join(f'{b:.1f}' for b in bare_rates)})"
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
    timeouts = sum(len(decided[n][2]) for n in counts)
    print(f"identical results for every worker count and round: {same}")
    summary: dict[str, object] = {
        "pages": args.pages,
        "rounds": args.rounds,
        "method": f"interleaved, turns of {args.slice:g} s",
        "trafilatura_pages_s": round(_median(bare_rates), 1),
        "load": {
            str(n): {
                "pages_s": round(_median(rates[n]), 1),
                "ratio_to_trafilatura": round(_median(to_bare[n]), 3),
                "ratio_to_first": round(_median(to_first[n]), 3),
                "rounds_to_trafilatura": [round(x, 3) for x in to_bare[n]],
                "rounds_to_first": [round(x, 3) for x in to_first[n]],
                "cpu_ms_per_page": round(_median(writer[n]) + _median(cleaning[n]), 1),
                "writer_cpu_ms_per_page": round(_median(writer[n]), 2),
                "workers_cpu_ms_per_page": round(_median(cleaning[n]), 2),
                "peak_pss_mb": round(peaks[n][0]),
                "peak_anon_mb": round(peaks[n][1]),
            }
            for n in counts
        },
        "identical": same,
    }
    loads_summary = summary["load"]
    assert isinstance(loads_summary, dict)
    for n in counts[1:]:
        print(
            f"--workers {n} / --workers {first}: {_median(to_first[n]):.2f}x (rounds "
            f"{', '.join(f'{x:.2f}' for x in to_first[n])})"
        )
        if first == 1:
            # One worker cleans a page in about its CPU time (the writer has its own core); n
            # workers and the writer share n cores, so a page costs at least their CPU / n.
            one, together = _median(cleaning[1]), _median(cleaning[n]) + _median(writer[n])
            bound = n * one / together if together else 0.0
            loads_summary[str(n)]["ceiling_to_first"] = round(bound, 2)
            print(
                f"  ceiling from CPU time: one worker {one:.1f} ms a page; {n} workers "
                f"{_median(cleaning[n]):.1f} + writer {_median(writer[n]):.1f} ms a page on {n} "
                f"cores: at most {bound:.2f}x"
            )
    if unindexed["ratio"]:
        with_index, without = _median(unindexed["indexed_writer"]), _median(unindexed["writer"])
        summary["without_index"] = {
            "workers": wide,
            "speed_ratio": round(_median(unindexed["ratio"]), 3),
            "writer_cpu_ms_per_page": round(without, 2),
            "index_writer_cpu_ms_per_page": round(with_index - without, 2),
        }
        print(
            f"the search index costs the writer {with_index - without:.1f} ms of CPU a page "
            f"(writer {with_index:.1f} ms with it, {without:.1f} without, --workers {wide}); "
            f"without it the load runs {_median(unindexed['ratio']):.2f}x as fast"
        )
    if scaling:
        summary["machine_scaling"] = {
            "processes": wide,
            "ratio": round(_median(scaling), 3),
            "rounds": [round(x, 3) for x in scaling],
            "arithmetic": round(_median(arithmetic), 3),
            "steal": round(max(steal), 4),
        }
        print(
            f"this machine: bare trafilatura in {wide} processes at once {_median(scaling):.2f}x "
            f"one process (rounds {', '.join(f'{x:.2f}' for x in scaling)}): the ceiling for "
            f"--workers {wide} / --workers 1 before any writer's share; pure arithmetic "
            f"{_median(arithmetic):.2f}x, CPU time stolen by the host at most {max(steal):.1%} "
            "of a round"
        )
    print("RESULT " + json.dumps(summary))
    if not same:
        sys.exit("results differ between worker counts or rounds")
    if timeouts:
        sys.exit(f"{timeouts} pages timed out: the turns must not push a page past its deadline")


if __name__ == "__main__":
    main()
