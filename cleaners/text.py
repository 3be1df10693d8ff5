"""Plain text to articles: the same rules and metadata parsers for typed-in text and extracted HTML.

Steps: lines -> title (when the caller does not know it) -> boilerplate rules -> bylines. A page whose
entries are separated by byline lines (author + date) splits into one article per entry.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cleaners.dates import BYLINE_LABEL, DATETIME_TEXT, parse_byline
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
    removed_chars: Counter[str] = field(default_factory=Counter)  # per rule name
    removed: list[tuple[str, str]] = field(default_factory=list)  # (rule, line), see rules.Cleaned


def to_lines(text: str) -> list[str]:
    """Trimmed lines; runs of blank lines become one '' (a paragraph break)."""
    out: list[str] = []
    # none of the invisible characters is a line break: one pass over the whole text
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    for raw in text.split("\n"):
        line = " ".join(raw.split())  # any run of Unicode spaces -> " "
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


_Mark = tuple[str | None, str]  # (author or None, ISO date) of a byline line

# A listing's entries are teasers of comparable length: none longer than four times the median
# entry nor shorter than a twentieth of it (a one-line teaser on top of long ones is still one), and
# together they hold at least this share of the text.
_LISTING_LONGEST = 4.0
_LISTING_SHORTEST = 20.0
_LISTING_COVERAGE = 0.8
# A byline that leads the text may stand this many non-blank lines down (below a kicker or a lead).
_LEADING_BYLINE_WITHIN = 3


def _date_shape(line: str) -> str:
    """The written form of a byline's date and its label, with digits and zone names generalised:
    `크리스 정 2025.11.13 10:47 PDT` -> `9.9.9 9:9 Z`. Entries of one listing share it."""
    match = DATETIME_TEXT.search(line)
    when = match.group(0) if match else ""
    label = BYLINE_LABEL.search(line[: match.start()] if match else line)
    shape = re.sub(r"[A-Z]{1,4}T\b|UTC|GMT|[+-]\d{2}:?\d{2}", "Z", when)
    return (label.group(0).lower() if label else "") + re.sub(r"\d+", "9", shape)


def _split(lines: list[str], fired: Counter[str]) -> list[Entry]:
    """One entry per teaser when the text is a listing (see `_listing`), else one entry for the
    whole text with the byline that heads or closes it, if any. A dated line anywhere else (a
    reference, a timeline, a line about something else) is body text: it stays, and its date is
    not the article's."""
    marks = {i: b for i, line in enumerate(lines) if line and (b := parse_byline(line))}
    if not marks:
        return [Entry(text=_join(lines))]
    listing = _listing(lines, marks, fired)
    if listing is not None:
        return listing
    nonblank = [i for i, line in enumerate(lines) if line]
    head = [i for i in nonblank[:_LEADING_BYLINE_WITHIN] if i in marks]
    if head and head[0] == nonblank[0]:
        # Stacked bylines ("Published ..." then "Updated ...") head the text: the first date wins.
        stack = []
        for i in nonblank:
            if i not in marks:
                break
            stack.append(i)
        return [
            _entry([line for i, line in enumerate(lines) if i not in stack], _first(marks, stack))
        ]
    if len(marks) == 1:
        (i,) = marks
        # A lone byline below a lead paragraph, or closing the text, names the article's author.
        if marks[i][0] and (i in head or i == nonblank[-1]):
            return [_entry(lines[:i] + lines[i + 1 :], marks[i])]
    fired["byline_lines_kept"] += len(marks)
    return [Entry(text=_join(lines))]


def _first(marks: dict[int, _Mark], stack: list[int]) -> _Mark:
    """The first date of a stack of bylines, with the first author any of them names."""
    author = next((marks[i][0] for i in stack if marks[i][0]), None)
    return author, marks[stack[0]][1]


def _listing(lines: list[str], marks: dict[int, _Mark], fired: Counter[str]) -> list[Entry] | None:
    """Entries of a listing (a newsletter, a blog's front page), or None when the text is not one.

    A listing is several entries of comparable length, each closed (or each opened) by a byline
    of one shape with an author and a date, newest first (as front pages, newsletters and archives
    list), that together hold most of the text. An article with a dated reference list, a fact
    page with date-stamped lines, a timeline or a thread of replies (oldest first, of any length)
    fails one of these and is never cut. Every line that is not a byline ends up in
    an entry: text above the first opening byline goes into the first entry, never away.
    """
    authored = sorted(i for i, (author, _when) in marks.items() if author)
    if len(authored) < 2 or len({_date_shape(lines[i]) for i in authored}) != 1:
        return None
    dates = [marks[i][1][:16] for i in authored]
    if dates != sorted(dates, reverse=True):
        return None  # oldest first: a thread of replies or a timeline, not a listing
    nonblank = [i for i, line in enumerate(lines) if line]
    closes = nonblank[-1] == authored[-1]
    if closes:
        bounds = [(s + 1, e) for s, e in zip([-1, *authored[:-1]], authored, strict=True)]
        preamble: list[str] = []
    else:
        bounds = [(s + 1, e) for s, e in zip(authored, [*authored[1:], len(lines)], strict=True)]
        preamble = lines[: authored[0]]
    blocks = [lines[s:e] for s, e in bounds]
    sizes = [len(_join(block)) for block in blocks]
    if min(sizes) == 0:
        return None
    median = sorted(sizes)[len(sizes) // 2]
    if max(sizes) > _LISTING_LONGEST * median or min(sizes) * _LISTING_SHORTEST < median:
        return None
    if sum(sizes) < _LISTING_COVERAGE * (sum(sizes) + len(_join(preamble))):
        return None
    if _join(preamble):
        fired["listing_preamble"] += 1
        blocks[0] = preamble + blocks[0]
    fired["listing_split"] += 1
    return [_entry(block, marks[i]) for block, i in zip(blocks, authored, strict=True)]


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
    result = TextResult(
        entries=[],
        fired=cleaned.fired,
        metadata=cleaned.metadata,
        removed_chars=cleaned.removed_chars,
        removed=cleaned.removed,
    )
    entries = _split(cleaned.lines, cleaned.fired)
    if len(entries) == 1:
        entries[0].title = title
        entries[0].author = entries[0].author or cleaned.metadata.get("author")
    elif title:
        for entry in entries:
            entry.metadata["listing_title"] = title
    result.entries = [e for e in entries if e.text]
    return result
