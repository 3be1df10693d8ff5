"""Every benchmark against its baseline, in one command; writes the results into docs/benchmarks.md.

    .venv/bin/python bench/run_all.py [CORPUS] [--quick] [--no-write] [--load-rounds R]

CORPUS defaults to ../shared/corpora/article-extraction-benchmark (bench/corpus.py says where to
get it). Each benchmark runs as its own
process, one after the other (never two at once: they would slow each other), and runs our path
and its baseline inside that process; its last `RESULT {json}` line is read. The table of ratios,
targets and the machine they ran on replaces the section between the `run_all` markers in
docs/benchmarks.md (the prose around it is kept). `--quick` runs every benchmark at a small scale
(a few minutes, for checking the scripts); the figures to publish come from a full run (about 30
minutes on 2 cores).

| benchmark | ours | baseline |
|---|---|---|
| extraction | `cleaners.clean` in-process and in the worker | bare trafilatura, best configuration |
| dedup | our fingerprints (vectorised shingles + datasketch MinHash) | naive datasketch (a Python loop of `MinHash.update`) |
| store | `db.store.store_units` in batches: dedup decisions, ledger, band keys, search index | plain sqlite3 `executemany` of the same rows into the same schema |
| crawl | `crawler crawl` of a local site | `crawler load` of the same pages |
| load | `crawler load --workers 1` (and 2) end to end | bare trafilatura on the same pages; `--workers 1` |
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

from corpus import corpus_or_exit  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench/run_all.py: begin (generated; edit the script, not this section) -->"
END = "<!-- bench/run_all.py: end -->"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.1f} GB memory"
    except (OSError, ValueError, IndexError):
        pass
    packages = ", ".join(
        f"{name} {version(name)}"
        for name in ("trafilatura", "scrapy", "datasketch", "sqlite-utils")
    )
    return (
        f"{cpu}, {cores} cores{memory}; {platform.system()} {platform.release()}; Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}; {packages}"
    )


def run(name: str, args: list[str]) -> tuple[dict, float, str]:
    """Run one benchmark script; (its RESULT, seconds, its output)."""
    print(f"== {name}: {' '.join(args)}", flush=True)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(BENCH / args[0]), *args[1:]],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.exit(f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    results = [line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if not results:
        sys.exit(f"{name} printed no RESULT line")
    return json.loads(results[-1]), elapsed, proc.stdout


def met(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return "yes" if value >= target else "**no**"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "corpus",
        type=Path,
        nargs="?",
        default=None,
        help="the extraction corpus (default and where to get it: bench/corpus.py)",
    )
    parser.add_argument("--quick", action="store_true", help="small scales, to check the scripts")
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    parser.add_argument(
        "--load-rounds",
        type=int,
        default=1,
        help="rounds of the end-to-end load (each about 14 minutes at full scale); ratios are medians",
    )
    args = parser.parse_args()
    corpus = str(corpus_or_exit(args.corpus))
    quick = args.quick
    plan = {
        "extraction": ["extraction.py", corpus, "--rounds", "2" if quick else "5"],
        "dedup": ["dedup.py", corpus, "--variants", "1" if quick else "2", "--scale", "" if quick else "10000,100000"],
        "store": ["store.py", "--articles", "2000" if quick else "5000"],
        "crawl": ["crawl.py", "--pages", "300" if quick else "2000", "--rounds", "1" if quick else "3"],
        "load": ["load.py", corpus, "--pages", "1000" if quick else "10000", "--workers", "1,2", "--rounds", str(args.load_rounds), "--scaling"],
    }  # fmt: skip
    started = datetime.datetime.now(datetime.UTC)
    results = {name: run(name, argv) for name, argv in plan.items()}
    ex, dd, st, cr, ld = (results[k][0] for k in plan)
    one, two = ld["load"]["1"], ld["load"].get("2")
    rows = [
        ("extraction: ours in-process, pages/s", ex["sides"]["ours"]["pages_s"],
         ex["sides"]["trafilatura"]["pages_s"], ex["sides"]["ours"]["ratio_to_trafilatura"], None,
         f"F1 {ex['sides']['ours']['f1']:.3f} vs {ex['sides']['trafilatura']['f1']:.3f}"),
        ("extraction: ours in the worker, pages/s", ex["sides"]["ours+worker"]["pages_s"],
         ex["sides"]["trafilatura"]["pages_s"], ex["sides"]["ours+worker"]["ratio_to_trafilatura"], None, ""),
        ("dedup: fingerprints, docs/s", dd["ours_docs_s"], dd["naive_docs_s"], dd["ratio_to_naive"], None,
         "recall@0.8 " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(dd["recall_at_0.8"].items()))),
        (f"store: batches of {st['batch']}, rows/s", st["ours_rows_s"], st["plain_rows_s"],
         st["ratio_to_executemany"], 0.80, "baseline: plain executemany"),
        ("crawl: pages/s", cr["crawl_pages_s"], cr["load_pages_s"], cr["ratio_crawl_to_load"], None,
         "baseline: `crawler load` of the same pages"),
        (f"load --workers 1, {ld['pages']} pages, pages/s", one["pages_s"], ld["trafilatura_pages_s"],
         one["ratio_to_trafilatura"], 0.85, f"median of {ld['rounds']} interleaved round(s); peak PSS {one['peak_pss_mb']} MB, anonymous {one['peak_anon_mb']} MB"),
    ]  # fmt: skip
    if two:
        note = (
            f"baseline: --workers 1, interleaved; median of {ld['rounds']} round(s); peak PSS {two['peak_pss_mb']} MB, "
            f"anonymous {two['peak_anon_mb']} MB"
        )
        if "ceiling_to_first" in two:  # the most the writer's share leaves (bench/load.py)
            note += f"; ceiling from CPU time {two['ceiling_to_first']:.2f}x"
        if scaling := ld.get("machine_scaling"):  # what the machine gives perfectly parallel work
            note += (
                f"; bare trafilatura in {scaling['processes']} processes at once: "
                f"{scaling['ratio']:.2f}x one, so --workers 2 gets "
                f"{two['ratio_to_first'] / scaling['ratio']:.2f} of what the machine gives"
            )
        rows.append(
            (f"load --workers 2, {ld['pages']} pages, pages/s", two["pages_s"], one["pages_s"],
             two["ratio_to_first"], 1.7, note)
        )  # fmt: skip
    lines = [
        BEGIN,
        "",
        f"Latest `bench/run_all.py{' --quick' if quick else ''}"
        f"{f' --load-rounds {args.load_rounds}' if args.load_rounds != 1 else ''}`: "
        f"{started:%Y-%m-%d %H:%M} UTC, "
        f"{sum(r[1] for r in results.values()) / 60:.0f} minutes.",
        "",
        f"Machine: {machine()}.",
        "",
        "| benchmark | ours | baseline | ratio | target | met | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, ours, base, ratio, target, note in rows:
        lines.append(
            f"| {label} | {ours:g} | {base:g} | {ratio:.2f}x | "
            f"{'' if target is None else f'>= {target:.2f}x'} | {met(ratio, target)} | {note} |"
        )
    lines += [
        "",
        f"Identical results for `--workers 1` and `--workers 2`: {'yes' if ld['identical'] else '**no**'}.",
        "",
        END,
    ]
    section = "\n".join(lines)
    print("\n" + section)
    if args.no_write:
        return
    text = DOC.read_text("utf-8")
    if BEGIN in text and END in text:
        text = re.sub(
            re.escape(BEGIN) + ".*?" + re.escape(END), lambda _m: section, text, flags=re.S
        )
    else:
        head, _sep, rest = text.partition("\n## ")
        text = f"{head.rstrip()}\n\n{section}\n\n## {rest}" if rest else f"{text}\n\n{section}\n"
    DOC.write_text(text, "utf-8")
    print(f"\nwrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
