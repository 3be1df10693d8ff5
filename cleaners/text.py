"""Plain text to articles: the same rules and metadata parsers for typed-in text and extracted HTML.

Steps: lines -> title (when the caller does not know it) -> boilerplate rules -> bylines. A page whose
entries are separated by byline lines (author + date) splits into one article per entry.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cleaners.dates import parse_byline
from cleaners.rules import RuleSet, apply_rules

_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")


@dataclass
class Entry:
    """One article's worth of cleaned text and what the page says about it."""

    text: str
    title: str | None = None
    author: str | None = None
    published_at: str | None = None
    language: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class TextResult:
    entries: list[Entry]
    fired: Counter[str] = field(default_factory=Counter)
    metadata: dict[str, Any] = field(default_factory=dict)  # page-level captures (translator, ...)


def to_lines(text: str) -> list[str]:
    """Trimmed lines; runs of blank lines become one '' (a paragraph break)."""
    out: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = " ".join(_INVISIBLE.sub("", raw).split())  # any run of Unicode spaces -> " "
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


def _take_title(lines: list[str], rules: RuleSet) -> tuple[str | None, list[str]]:
    """A plain-text title: a short first line set apart by a blank line or repeated just below."""
    if not lines:
        return None, lines
    first = lines[0]
    if len(first) > 200 or parse_byline(first) or any(r.match(first) for r in rules.at("leading")):
        return None, lines
    nonblank = [i for i, line in enumerate(lines[1:8], start=1) if line]
    repeats = [i for i in nonblank[:3] if lines[i] == first]
    if not repeats and not (len(lines) > 1 and lines[1] == ""):
        return None, lines
    rest = [line for i, line in enumerate(lines) if i != 0 and i not in repeats]
    return first, rest


def _join(lines: list[str]) -> str:
    return "\n".join(line for line in lines if line)


def _split(lines: list[str], fired: Counter[str]) -> list[Entry]:
    """One entry per byline-delimited block, or one entry for the whole text."""
    marks = {i: b for i, line in enumerate(lines) if line and (b := parse_byline(line))}
    if not marks:
        return [Entry(text=_join(lines))]
    nonblank = [i for i, line in enumerate(lines) if line]
    closes = nonblank[-1] in marks  # bylines follow their entry (a newsletter listing)
    blocks: list[tuple[list[str], tuple[str | None, str]]] = []
    if closes:
        start = 0
        for i in sorted(marks):
            blocks.append((lines[start:i], marks[i]))
            start = i + 1
    else:
        order = sorted(marks)
        if _join(lines[: order[0]]) and len(order) > 1:
            fired["listing_preamble"] += 1
        elif _join(lines[: order[0]]):
            # A single byline below a lead paragraph: the whole text is one article.
            i = order[0]
            return [_entry(lines[:i] + lines[i + 1 :], marks[i])]
        pending: tuple[str | None, str] | None = None
        for n, i in enumerate(order):
            end = order[n + 1] if n + 1 < len(order) else len(lines)
            mark = pending or marks[i]
            # Stacked bylines ("Published ..." then "Updated ...") head one entry: the first wins.
            pending = mark if not _join(lines[i + 1 : end]) else None
            blocks.append((lines[i + 1 : end], mark))
    entries = [_entry(block, mark) for block, mark in blocks if _join(block)]
    if len(blocks) - len(entries):
        fired["listing_empty_entry"] += len(blocks) - len(entries)
    return entries


def _entry(block: list[str], mark: tuple[str | None, str]) -> Entry:
    author, when = mark
    return Entry(text=_join(block), author=author, published_at=when)


def clean_text(text: str, rules: RuleSet, *, title: str | None = None) -> TextResult:
    """Clean `text` (typed-in or extracted). `title` is the page's known title, if any."""
    lines = to_lines(text)
    if title is None:
        title, lines = _take_title(lines, rules)
    else:
        head = [i for i, line in enumerate(lines[:4]) if line == title]
        lines = [line for i, line in enumerate(lines) if i not in head]
    cleaned = apply_rules(lines, rules)
    result = TextResult(entries=[], fired=cleaned.fired, metadata=cleaned.metadata)
    entries = _split(cleaned.lines, cleaned.fired)
    if len(entries) == 1:
        entries[0].title = title
        entries[0].author = entries[0].author or cleaned.metadata.get("author")
    elif title:
        for entry in entries:
            entry.metadata["listing_title"] = title
    result.entries = [e for e in entries if e.text]
    return result
