"""How deep an HTML document nests, found by a scan of its tags before any parser runs.

libxml2 follows 255 levels, 2,048 in huge-tree mode; a document deeper than that cannot be parsed
whole, and parsing and extracting one takes seconds (a denial of service for a cleaning worker).
The scan costs milliseconds: it reads tag names only, counts void elements as leaves and stops as
soon as the limit is passed.
"""

from __future__ import annotations

import re

from cleaners.errors import TOO_DEEP, Rejected

MAX_DEPTH = 2048  # what lxml's huge-tree parser follows
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)")
_VOID = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param", "source", "track", "wbr"]
)


def depth_exceeds(html: str, limit: int = MAX_DEPTH) -> bool:
    """True when the tags of `html` nest deeper than `limit` (closing tags counted, unclosed ones
    kept open, as a parser would at worst)."""
    if html.count("<") <= limit:  # too few tags to be that deep
        return False
    depth = 0
    for match in _TAG.finditer(html):
        closing, name = match.groups()
        if closing:
            depth = max(0, depth - 1)
        elif name.lower() not in _VOID:
            depth += 1
            if depth > limit:
                return True
    return False


def check_depth(html: str, limit: int = MAX_DEPTH) -> None:
    """Rejected(too_deep) for a document deeper than the parser can follow."""
    if depth_exceeds(html, limit):
        raise Rejected(TOO_DEEP, f"nested deeper than {limit:,} elements: the parser stops there")
