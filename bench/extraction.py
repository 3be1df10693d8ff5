"""Extraction quality and speed: our cleaners against bare trafilatura, same pages, same run.

    .venv/bin/python bench/extraction.py PATH_TO_CORPUS [--rounds N]

PATH_TO_CORPUS is a folder laid out like the article-extraction-benchmark: `html/<id>.html.gz` and
`ground-truth.json` ({id: {"articleBody": ..., "url": ...}}). The metric is the corpus' own: `\\w+`
tokens, lower-cased, multisets of 4-token shingles, per-page precision and recall averaged over pages,
F1 the harmonic mean of the two averages.

Sides: bare trafilatura in the README's best configuration (text only); ours (`cleaners.clean.clean`
in this process); ours as `crawler load` runs it (in the worker process, under a deadline); and bare
trafilatura with its metadata extraction on, for reference. Speed is pages/s of extraction only
(decompression and the ground truth are prepared before timing). Each page is extracted by every
side back to back, N rounds, and each page's fastest time is kept, so machine noise hits all sides
alike and mostly drops out.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from trafilatura import bare_extraction

from cleaners.clean import CleanOptions, clean
from cleaners.errors import Rejected
from cleaners.worker import WorkerCleaner

_TOKEN = re.compile(r"\w+")
# The configuration that measures best on the development corpus (its README's table); text only,
# as the README measured it. With metadata as well (title, author, date...) it is slower; that
# variant is printed for reference.
BASELINE_OPTIONS = {"favor_precision": True, "include_comments": False, "with_metadata": False}


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = [t.lower() for t in _TOKEN.findall(text)]
    return Counter(tuple(tokens[i : i + n]) for i in range(max(0, len(tokens) - n + 1)))


def score(pred: str, truth: str) -> tuple[float, float]:
    p, t = shingles(pred), shingles(truth)
    if not p and not t:
        return 1.0, 1.0
    if not p or not t:
        return 0.0, 0.0
    common = sum((p & t).values())
    return common / sum(p.values()), common / sum(t.values())


def baseline(body: bytes, url: str) -> str:
    doc = bare_extraction(body.decode("utf-8", "replace"), url=url, **BASELINE_OPTIONS)
    return (getattr(doc, "text", None) or "") if doc is not None else ""


def baseline_with_metadata(body: bytes, url: str) -> str:
    options = {**BASELINE_OPTIONS, "with_metadata": True}
    doc = bare_extraction(body.decode("utf-8", "replace"), url=url, **options)
    return (getattr(doc, "text", None) or "") if doc is not None else ""


def ours(body: bytes, url: str) -> str:
    try:
        cleaned = clean(body, kind="html", url=url)
    except Rejected:
        return ""
    return "\n".join(entry.text for entry in cleaned.entries)


_WORKER: WorkerCleaner | None = None
_OPTIONS = CleanOptions()


def ours_in_worker(body: bytes, url: str) -> str:
    """The same cleaning as `crawler load` runs it: in the worker process, under a deadline."""
    global _WORKER
    _WORKER = _WORKER or WorkerCleaner(max_pages=10**9)
    try:
        cleaned = _WORKER.clean(
            body, kind="html", declared_encoding=None, url=url, options=_OPTIONS
        )
    except Rejected:
        return ""
    return "\n".join(entry.text for entry in cleaned.entries)


SIDES: tuple[tuple[str, Callable[[bytes, str], str]], ...] = (
    ("trafilatura", baseline),
    ("ours", ours),
    ("ours+worker", ours_in_worker),
    ("traf.+meta", baseline_with_metadata),
)


def quality(outputs: dict[str, str], pages: list[tuple[str, bytes, str, str]]) -> dict[str, float]:
    precisions, recalls = zip(
        *(score(outputs[i], truth) for i, _b, _u, truth in pages), strict=True
    )
    p = sum(precisions) / len(precisions)
    r = sum(recalls) / len(recalls)
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"f1": f1, "precision": p, "recall": r}


def run(
    pages: list[tuple[str, bytes, str, str]], rounds: int
) -> tuple[dict[str, dict[str, str]], dict[str, float]]:
    """Outputs per side, and per side the sum over pages of each page's fastest time.

    Every page is extracted by every side back to back (the order rotating each round), so a burst
    of machine noise lands on both sides alike; a page's fastest round filters the rest out.
    """
    outputs: dict[str, dict[str, str]] = {name: {} for name, _fn in SIDES}
    fastest: dict[str, list[float]] = {name: [float("inf")] * len(pages) for name, _fn in SIDES}
    for round_no in range(rounds):
        order = SIDES[round_no % len(SIDES) :] + SIDES[: round_no % len(SIDES)]
        for k, (page_id, body, url, _truth) in enumerate(pages):
            for name, fn in order:
                start = time.perf_counter()
                outputs[name][page_id] = fn(body, url)
                elapsed = time.perf_counter() - start
                fastest[name][k] = min(fastest[name][k], elapsed)
    return outputs, {name: sum(times) for name, times in fastest.items()}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path)
    parser.add_argument(
        "--rounds", type=int, default=5, help="timing rounds; each page's fastest is kept"
    )
    parser.add_argument(
        "--lost",
        action="store_true",
        help="also list the pages where our recall is lower than trafilatura's, with the lines lost",
    )
    args = parser.parse_args()
    truth = json.loads((args.corpus / "ground-truth.json").read_text("utf-8"))
    pages = []
    for page_id in sorted(truth):
        path = args.corpus / "html" / f"{page_id}.html.gz"
        if path.exists():
            pages.append(
                (
                    page_id,
                    gzip.decompress(path.read_bytes()),
                    truth[page_id].get("url") or "",
                    truth[page_id]["articleBody"],
                )
            )
    if not pages:
        print(f"no pages found under {args.corpus}", file=sys.stderr)
        return 2
    outputs, best = run(pages, args.rounds)
    results = {name: quality(outputs[name], pages) for name, _fn in SIDES}
    print(
        f"pages: {len(pages)}  rounds: {args.rounds}  "
        "(extraction time only; per page the fastest round)"
    )
    print(f"{'':<12} {'F1':>6} {'prec':>6} {'recall':>6} {'pages/s':>8}")
    for name, _fn in SIDES:
        m = results[name]
        print(
            f"{name:<12} {m['f1']:6.3f} {m['precision']:6.3f} {m['recall']:6.3f} {len(pages) / best[name]:8.1f}"
        )
    print(
        f"ratio ours/trafilatura: F1 {results['ours']['f1'] - results['trafilatura']['f1']:+.4f}, "
        f"recall {results['ours']['recall'] - results['trafilatura']['recall']:+.4f}, "
        f"speed {best['trafilatura'] / best['ours']:.3f}x "
        f"(in the worker process: {best['trafilatura'] / best['ours+worker']:.3f}x)"
    )
    summary = {
        name: {
            "f1": round(results[name]["f1"], 4),
            "pages_s": round(len(pages) / best[name], 1),
            "ratio_to_trafilatura": round(best["trafilatura"] / best[name], 3),
        }
        for name, _fn in SIDES
    }
    print("RESULT " + json.dumps({"pages": len(pages), "sides": summary}))
    if args.lost:
        print_lost(outputs, pages)
    return 0


def print_lost(
    outputs: dict[str, dict[str, str]], pages: list[tuple[str, bytes, str, str]]
) -> None:
    """Pages where our recall is below trafilatura's, and the lines it kept that we did not."""
    for page_id, _body, url, truth in pages:
        ours_r = score(outputs["ours"][page_id], truth)[1]
        theirs_r = score(outputs["trafilatura"][page_id], truth)[1]
        if ours_r >= theirs_r - 0.005:
            continue
        print(f"lost recall {theirs_r - ours_r:.3f} on {page_id[:12]} {url}")
        kept = " ".join(outputs["ours"][page_id].split())
        for line in outputs["trafilatura"][page_id].splitlines():
            line = " ".join(line.split())
            if line and line not in kept:
                print(f"    {line[:120]}")


if __name__ == "__main__":
    sys.exit(main())
