"""One raw input to clean articles: decode, extract (HTML) or read (text), rules, metadata, split.

The single entry point both the Scrapy pipeline and the file loader call. Raises `Rejected` with a
ledger reason when the input cannot become an article.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cleaners.dates import clean_author
from cleaners.decode import decode
from cleaners.depth import check_depth
from cleaners.errors import EMPTY, NO_CONTENT, TOO_LARGE, TOO_SHORT, Rejected
from cleaners.extract import extract_html
from cleaners.fingerprint import DedupConfig, Fingerprint, fingerprint
from cleaners.limits import EXTRACT_TIMEOUT_SECONDS, MAX_INPUT_BYTES, MIN_TEXT_CHARS
from cleaners.rules import RuleSet, default_rules
from cleaners.scripts import detect_language
from cleaners.text import Entry, clean_text

_HTML_SNIFF = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|meta|title)\b", re.I | re.S
)


@dataclass
class CleanOptions:
    """Per-source cleaning settings (from sources.toml)."""

    rules: RuleSet = field(default_factory=default_rules)
    prune_xpath: list[str] = field(default_factory=list)
    max_bytes: int = MAX_INPUT_BYTES
    min_chars: int = MIN_TEXT_CHARS
    extract_timeout: float = EXTRACT_TIMEOUT_SECONDS  # 0: clean in-process, no deadline


@dataclass
class Cleaned:
    entries: list[Entry]
    fired: Counter[str]
    kind: str  # "html" or "text"
    encoding: str
    fingerprints: list[Fingerprint] = field(default_factory=list)  # one per entry, when asked
    # Characters each rule removed (rule name -> count), beside `fired`: a rule that removes far
    # more than its firings suggest is over-reaching. Entries dropped as too short count too.
    removed_chars: Counter[str] = field(default_factory=Counter)


def sniff_html(body: bytes) -> bool:
    return bool(_HTML_SNIFF.match(body[:2048]))


def clean(
    body: bytes,
    *,
    kind: str | None = None,
    declared_encoding: str | None = None,
    url: str | None = None,
    options: CleanOptions | None = None,
    fingerprint_with: DedupConfig | None = None,
) -> Cleaned:
    """Clean one input. `kind` is "html", "text" or None to sniff the bytes. With
    `fingerprint_with`, each entry's dedup fingerprint is computed too (where the cleaning runs:
    in a worker process, that is off the writer's core)."""
    options = options or CleanOptions()
    if len(body) > options.max_bytes:
        raise Rejected(TOO_LARGE, f"{len(body)} bytes > {options.max_bytes}")
    if not body or body.isspace():  # as `not body.strip()`, without copying the body
        raise Rejected(EMPTY)
    if kind is None:
        kind = "html" if sniff_html(body) else "text"
    text, encoding = decode(body, declared_encoding, html=kind == "html")
    page: dict[str, Any] = {}
    title = None
    deep_tree = None
    if kind == "html":
        check_depth(text)  # before any parser: milliseconds instead of seconds
        extracted = extract_html(text, url, prune_xpath=options.prune_xpath)
        text, title = extracted.text, extracted.title
        deep_tree = extracted.deep_tree
        page = {
            "author": extracted.author,
            "published_at": extracted.published_at,
            "declared_language": extracted.language,
            **extracted.metadata,
        }
    result = clean_text(text, options.rules, title=title)
    if deep_tree:  # reported in the run report, never silent
        result.fired[f"deep_tree_{deep_tree}"] += 1
    if not result.entries:
        raise Rejected(NO_CONTENT, "nothing left after boilerplate removal")
    long_enough = [e for e in result.entries if _long_enough(e.text, options.min_chars)]
    if not long_enough:
        raise Rejected(TOO_SHORT, f"fewer than {options.min_chars} characters of text")
    if len(long_enough) < len(result.entries):
        result.fired["short_entry_dropped"] += len(result.entries) - len(long_enough)
        result.removed_chars["short_entry_dropped"] += sum(
            len(e.text) for e in result.entries if e not in long_enough
        )
        result.entries = long_enough
    single = len(result.entries) == 1
    for entry in result.entries:
        _finish(entry, page, result.metadata if single else {})
    prints = (
        [fingerprint(e.text, fingerprint_with) for e in result.entries] if fingerprint_with else []
    )
    return Cleaned(result.entries, result.fired, kind, encoding, prints, result.removed_chars)


def _long_enough(text: str, min_chars: int) -> bool:
    """At least `min_chars` non-space characters. Cleaned text never has two spaces in a row, so
    text twice that long qualifies without counting."""
    return len(text) >= 2 * min_chars or len("".join(text.split())) >= min_chars


def _finish(entry: Entry, page: dict[str, Any], captured: dict[str, Any]) -> None:
    """Merge page metadata, rule captures and byline data; page markup wins over text heuristics."""
    site = page.get("sitename")
    entry.author = clean_author(page.get("author"), sitename=site) or clean_author(
        entry.author, sitename=site
    )
    entry.published_at = page.get("published_at") or entry.published_at
    entry.language = detect_language(entry.text) or page.get("declared_language")
    meta = entry.metadata
    for key, value in captured.items():
        if key != "author" and value:
            meta.setdefault(key, value)
    for key in ("sitename", "tags"):
        if page.get(key):
            meta.setdefault(key, page[key])
    if isinstance(meta.get("tags"), str):
        meta["tags"] = [t.strip() for t in re.split(r"[,;|#·]", meta["tags"]) if t.strip()]
    if meta.get("original_title"):
        meta["original_language"] = detect_language(meta["original_title"])
        meta["translated"] = True
    if meta.get("translator"):
        meta["translated"] = True
    entry.metadata = {k: v for k, v in meta.items() if v not in (None, "", [])}
