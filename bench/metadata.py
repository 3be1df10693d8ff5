"""Metadata quality: title, author and date from our cleaners against trafilatura, same pages, one run.

    .venv/bin/python bench/metadata.py [PATH_TO_METADATA_DEV] [--write] [--show wrong|missing]

PATH_TO_METADATA_DEV is the folder laid out like `shared/corpora/metadata-dev` (`readability/pages/
<name>/source.html.gz` + `expected-metadata.json`, `postlight/fixtures/*.html.gz` + `expected.json`);
by default `../shared/corpora/metadata-dev` next to the repository, else `/work/shared/corpora/...`.

Sides: ours (`cleaners.clean.clean` on the page: the first entry's title, author, published_at),
trafilatura 2.x `bare_extraction(with_metadata=True)` (its title, author and date, with its own date
search as users get it), and for dates only htmldate in its fast mode (`extensive_search=False`),
the extra source the issue asked to measure before trusting it.

Each field is scored only on pages whose truth has it: `found` (right), `wrong` (a value that is not
the truth: worse than none), `missing` (no value). Title: equal after decoding entities, NFKC,
case-folding and collapsing spaces and punctuation, or one holds the other and is at least 60% of its
length (a site name left on or cut off). Author: the names share at least half of their words (in
either direction), after dropping "By". Date: the same calendar day, give or take one (a stated
UTC time on one side and a local one on the other may fall on neighbouring days); more than a day
off is wrong. The truth sets are other extractors' test expectations, not a gold standard: read
disagreements (`--show wrong`) before fixing toward them. `--write` replaces the metadata section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import re
import sys
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from htmldate import find_date
from trafilatura import bare_extraction

from cleaners.clean import clean
from cleaners.errors import Rejected

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPORA = (
    ROOT.parent / "shared" / "corpora" / "metadata-dev",
    Path("/work/shared/corpora/metadata-dev"),
)
DOC = ROOT / "docs" / "benchmarks.md"
# Korean, Chinese and Japanese datelines and bylines of our own, in readability's layout (the
# development set has none): scored apart, since we wrote them.
OWN_FIXTURES = ROOT / "tests" / "fixtures" / "metadata" / "pages"
BEGIN = "<!-- bench/metadata.py: begin (generated; edit the script, not this section) -->"
END = "<!-- bench/metadata.py: end -->"
FIELDS = ("title", "author", "date")

Page = dict[str, Any]  # id, body, url, title, author, date (truth; None when not given)
Found = dict[str, str | None]
Table = dict[str, dict[str, dict[str, int]]]  # side -> field -> pages/found/wrong/missing


def load_readability_layout(folder: Path, prefix: str) -> list[Page]:
    """Pages laid out like readability's: `<name>/source.html[.gz]` + `expected-metadata.json`."""
    pages: list[Page] = []
    for page in sorted(folder.glob("*")):
        truth_file = page / "expected-metadata.json"
        source = next(
            (f for f in (page / "source.html.gz", page / "source.html") if f.exists()), None
        )
        if source is None or not truth_file.exists():
            continue
        truth = json.loads(truth_file.read_text("utf-8"))
        body = source.read_bytes()
        pages.append(
            {
                "id": f"{prefix}/{page.name}",
                "body": gzip.decompress(body) if source.suffix == ".gz" else body,
                "url": None,
                "title": truth.get("title"),
                "author": truth.get("byline"),
                "date": truth.get("publishedTime"),
            }
        )
    return pages


def load_pages(corpus: Path) -> list[Page]:
    pages = load_readability_layout(corpus / "readability" / "pages", "readability")
    expected = corpus / "postlight" / "expected.json"
    if expected.exists():
        for item in json.loads(expected.read_text("utf-8")):
            path = corpus / "postlight" / "fixtures" / f"{item['fixture']}.gz"
            if not path.exists():
                continue
            pages.append(
                {
                    "id": f"postlight/{item['fixture']}",
                    "body": gzip.decompress(path.read_bytes()),
                    "url": item.get("url"),
                    "title": item.get("title"),
                    "author": item.get("author"),
                    "date": item.get("date_published"),
                }
            )
    return pages


def ours(page: Page) -> Found:
    try:
        cleaned = clean(page["body"], kind="html", url=page["url"])
    except Rejected:
        return {"title": None, "author": None, "date": None}
    entry = cleaned.entries[0]
    title = entry.title or entry.metadata.get("listing_title")
    return {"title": title, "author": entry.author, "date": entry.published_at}


def trafilatura(page: Page) -> Found:
    doc = bare_extraction(
        page["body"].decode("utf-8", "replace"),
        url=page["url"],
        with_metadata=True,
        favor_precision=True,
        include_comments=False,
    )
    if doc is None:
        return {"title": None, "author": None, "date": None}
    return {
        "title": getattr(doc, "title", None),
        "author": getattr(doc, "author", None),
        "date": getattr(doc, "date", None),
    }


def htmldate_fast(page: Page) -> Found:
    try:
        found = find_date(
            page["body"].decode("utf-8", "replace"),
            url=page["url"],
            extensive_search=False,
            original_date=True,
        )
    except Exception:  # a third-party parser on hostile pages: no date
        found = None
    return {"title": None, "author": None, "date": found}


SIDES: tuple[tuple[str, Callable[[Page], Found], tuple[str, ...]], ...] = (
    ("ours", ours, FIELDS),
    ("trafilatura", trafilatura, FIELDS),
    ("htmldate fast", htmldate_fast, ("date",)),
)


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", html.unescape(html.unescape(text))).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def _day(value: str) -> date | None:
    match = re.search(r"(\d{4})-(\d{2})-(\d{2})", value)
    if not match:
        return None
    try:
        return date(*(int(x) for x in match.groups()))
    except ValueError:
        return None


def same(field: str, ours_value: str, truth: str) -> bool:
    if field == "date":
        a, b = _day(ours_value), _day(truth)
        return a is not None and b is not None and abs((a - b).days) <= 1
    a, b = _norm(ours_value), _norm(truth)
    if field == "author":
        a, b = re.sub(r"^by ", "", a), re.sub(r"^by ", "", b)
        wa, wb = set(a.split()), set(b.split())
        if not wa or not wb:
            return False
        shared = len(wa & wb)
        return shared >= 0.5 * len(wa) or shared >= 0.5 * len(wb)
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return bool(short) and short in long and len(short) >= 0.6 * len(long)


def score(results: dict[str, list[Found]], pages: list[Page]) -> Table:
    table: Table = {}
    for name, fields in ((n, f) for n, _fn, f in SIDES):
        table[name] = {}
        for field in fields:
            counts = {"pages": 0, "found": 0, "wrong": 0, "missing": 0}
            for page, got in zip(pages, results[name], strict=True):
                truth = page[field]
                if not truth or (field == "date" and _day(truth) is None):
                    continue
                counts["pages"] += 1
                value = got.get(field)
                if not value:
                    counts["missing"] += 1
                elif same(field, value, truth):
                    counts["found"] += 1
                else:
                    counts["wrong"] += 1
            table[name][field] = counts
    return table


def print_table(heading: str, table: Table) -> None:
    print(heading)
    print(f"{'':<14} {'field':<7} {'truth':>5} {'found':>6} {'wrong':>6} {'missing':>7}")
    for name, _fn, fields in SIDES:
        for field in fields:
            c = table[name][field]
            print(
                f"{name:<14} {field:<7} {c['pages']:>5} {c['found']:>6} {c['wrong']:>6} {c['missing']:>7}"
            )


def _rows(table: Table) -> list[str]:
    rows = []
    for field in FIELDS:
        o, t = table["ours"][field], table["trafilatura"][field]
        rows.append(
            f"| {field} | {o['pages']} | {o['found']} | {o['wrong']} | {o['missing']} "
            f"| {t['found']} | {t['wrong']} | {t['missing']} |"
        )
    return rows


def render(table: Table, pages: int, corpus: str, own: Table, own_pages: int) -> str:
    lines = [
        f"Latest `bench/metadata.py`: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC, {pages} pages"
        f" of `{corpus}`.",
        "",
        "| field | pages with truth | ours found | ours wrong | ours missing "
        "| trafilatura found | trafilatura wrong | trafilatura missing |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += _rows(table)
    h = table["htmldate fast"]["date"]
    lines += [
        "",
        f"htmldate in fast mode (`extensive_search=False`), dates only: found {h['found']}, wrong "
        f"{h['wrong']}, missing {h['missing']}.",
        "",
        f"Our own Korean, Chinese and Japanese pages (`tests/fixtures/metadata/`, {own_pages} pages,"
        " written for these cases, so ours are expected to pass; trafilatura for comparison):",
        "",
        "| field | pages with truth | ours found | ours wrong | ours missing "
        "| trafilatura found | trafilatura wrong | trafilatura missing |",
        "|---|---|---|---|---|---|---|---|",
        *_rows(own),
    ]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    text = DOC.read_text("utf-8")
    block = f"{BEGIN}\n\n{section}\n\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Metadata (`bench/metadata.py`)\n\n" + block + "\n"
    DOC.write_text(text, "utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path, nargs="?")
    parser.add_argument("--write", action="store_true", help="write the table into the docs")
    parser.add_argument(
        "--show", choices=("wrong", "missing"), help="list ours that are wrong/missing"
    )
    args = parser.parse_args()
    candidates = [args.corpus] if args.corpus else list(DEFAULT_CORPORA)
    corpus = next((c for c in candidates if c.is_dir()), None)
    if corpus is None:
        print(f"metadata corpus not found: {' or '.join(map(str, candidates))}", file=sys.stderr)
        return 2
    pages = load_pages(corpus)
    if not pages:
        print(f"no pages found under {corpus}", file=sys.stderr)
        return 2
    results: dict[str, list[Found]] = {}
    seconds: dict[str, float] = {}
    for name, fn, _fields in SIDES:
        start = time.perf_counter()
        results[name] = [fn(page) for page in pages]
        seconds[name] = time.perf_counter() - start
    table = score(results, pages)
    print_table(f"pages: {len(pages)}  ({corpus})", table)
    print("seconds: " + ", ".join(f"{n} {s:.1f}" for n, s in seconds.items()))
    own = load_readability_layout(OWN_FIXTURES, "own")
    own_table = score({name: [fn(page) for page in own] for name, fn, _f in SIDES}, own)
    print_table(f"our own Korean, Chinese and Japanese fixtures: {len(own)} pages", own_table)
    print("RESULT " + json.dumps({"pages": len(pages), "sides": table, "own": own_table}))
    if args.show:
        for field in FIELDS:
            for page, got, theirs in zip(
                pages, results["ours"], results["trafilatura"], strict=True
            ):
                truth, value = page[field], got.get(field)
                if not truth or (field == "date" and _day(truth) is None):
                    continue
                bad = (
                    (not value)
                    if args.show == "missing"
                    else bool(value) and not same(field, value, truth)
                )
                if bad:
                    print(
                        f"{field:<6} {page['id'][:40]:<40} ours={value!r:.60} truth={truth!r:.60} traf={theirs.get(field)!r:.50}"
                    )
    if args.write:
        write_doc(render(table, len(pages), "metadata-dev", own_table, len(own)))
        print(f"wrote the table into {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
