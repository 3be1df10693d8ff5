"""How deep an HTML document nests, found by a scan of its tags before any parser runs.

libxml2 follows 255 levels, 2,048 in huge-tree mode; a document deeper than that cannot be parsed
whole, and parsing and extracting one takes seconds (a denial of service for a cleaning worker).
The scan costs milliseconds: it reads tag names only, counts void elements as leaves and stops as
soon as the limit is passed.
"""

from __future__ import annotations

import re

import numpy as np

from cleaners.errors import TOO_DEEP, Rejected

MAX_DEPTH = 2048  # what lxml's huge-tree parser follows
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)")
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "keygen",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
# Elements whose end tag may be left out: the next one of the same kind closes them (a page of
# 100,000 `<p>` without `</p>` is 100,000 siblings, not 100,000 levels).
_SIBLINGS = frozenset(
    [
        "p",
        "li",
        "dt",
        "dd",
        "option",
        "optgroup",
        "tr",
        "td",
        "th",
        "rt",
        "rp",
        "thead",
        "tbody",
        "tfoot",
    ]
)
# Block elements that close an open paragraph, as the HTML parser does.
_CLOSE_P = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "details",
        "div",
        "dl",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "main",
        "menu",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "ul",
    ]
)
_REACH = 64  # how far down the open elements an end tag looks for its start


_OPEN_OR_CLOSE = re.compile(r"<(/?)[A-Za-z]")


def _depth_bound(html: str) -> int:
    """An upper bound of the nesting depth, computed without a Python loop over the tags: every
    start tag opens a level (void elements and implied end tags included, so it overestimates),
    every end tag closes one; the deepest point of that running sum."""
    marks = _OPEN_OR_CLOSE.findall(html)  # "" for a start tag, "/" for an end tag
    if not marks:
        return 0
    steps = 1 - 2 * np.fromiter(map(len, marks), dtype=np.int8, count=len(marks))
    return int(np.cumsum(steps, dtype=np.int32).max())


def depth_exceeds(html: str, limit: int = MAX_DEPTH) -> bool:
    """True when the elements of `html` nest deeper than `limit`, as an HTML parser would nest
    them: void elements are leaves, an end tag closes its element (and what is open inside it),
    a paragraph or list item closes the previous one, unclosed elements stay open."""
    if html.count("<") <= limit:  # too few tags to be that deep
        return False
    if _depth_bound(html) <= limit:  # most pages end here, in a fraction of a millisecond
        return False
    stack: list[str] = []
    for match in _TAG.finditer(html):
        closing, name = match.groups()
        name = name.lower()
        if closing:
            for k in range(len(stack) - 1, max(-1, len(stack) - 1 - _REACH), -1):
                if stack[k] == name:
                    del stack[k:]
                    break
            continue
        if name in _VOID:
            continue
        if name in _SIBLINGS:  # closes the previous one, and the optional ones open inside it
            k = len(stack) - 1
            while k >= 0 and stack[k] in _SIBLINGS and stack[k] != name:
                k -= 1
            if k >= 0 and stack[k] == name:
                del stack[k:]
        if name in _CLOSE_P and stack and stack[-1] == "p":
            stack.pop()
        stack.append(name)
        if len(stack) > limit:
            return True
    return False


def check_depth(html: str, limit: int = MAX_DEPTH) -> None:
    """Rejected(too_deep) for a document deeper than the parser can follow."""
    if depth_exceeds(html, limit):
        raise Rejected(TOO_DEEP, f"nested deeper than {limit:,} elements: the parser stops there")
