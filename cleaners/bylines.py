"""The visible byline and dateline of an HTML page, for pages whose markup does not state them.

Many pages name the author only in the visible byline (`By ...`, `글 ... 기자`, `記者 ...`, `文/...`)
and date the article only in a dateline under the headline (the common case on Chinese and Japanese
news pages). Both are short elements: a date is taken only from a short element right after the
headline, never from a paragraph of body text, so a year mentioned in the lead is not a date.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cached_property
from itertools import islice

from lxml.etree import XPath, _Element

from cleaners.dates import DATETIME_TEXT, _from_match, clean_author, looks_like_name, parse_iso

# Elements a theme marks as the author's name (trafilatura's own markers, fewer of them).
# (The predicates that test an attribute's presence only skip, cheaply, the many elements that
# cannot match the ones after them.)
_AUTHOR_ELEMENTS = XPath(
    "descendant::*[@rel or @class or @id]"
    "[@rel='author' or contains(@class, 'author') or contains(@class, 'byline')"
    " or contains(@id, 'author') or contains(@class, 'writer')]"
    "[self::a or self::span or self::div or self::p or self::address or self::strong]"
    " | descendant::a[@href][contains(@href, '/author/') or contains(@href, '/authors/')"
    " or contains(@href, '/people/') or contains(@href, '/by/')]"
)
# Containers whose author names are not the article's: comments, related lists, sidebars.
_OTHER_PLACES = re.compile(r"(?i)comment|sidebar|related|recommend|footer|share|reply|review")
# The label or title around a name in a visible byline.
_LABELLED = re.compile(
    r"(?:^|\s)(?:by|von|par|por)\s+(?P<a>[^\W\d_][\w.’'-]*(?:\s+[^\W\d_][\w.’'-]*){0,3})"
    r"|(?:記者|记者|文|作者|撰文|編集|编辑|著者|筆者|글)\s*[:：/／]?\s*(?P<b>[^\s\d:：/|,，、]{2,12})"
    r"|(?P<c>[가-힣]{2,4})\s?(?:기자|특파원|선임기자|객원기자)"
    r"|(?P<d>[\u4e00-\u9fff]{2,4})\s?(?:記者|记者)",
    re.I,
)
_SHORT = 120  # a byline or dateline element holds at most this many characters
_LOOK_AHEAD = 12  # elements after the headline that may hold them
_MAX_CANDIDATES = 40  # marked byline elements read at most (a hostile page may mark thousands)


def _text(node: _Element, limit: int = 4 * _SHORT) -> str:
    """The element's text, read only up to about `limit` characters: a byline candidate that
    wraps the whole page is not read whole (nested candidates would make that quadratic)."""
    parts: list[str] = []
    size = 0
    for part in node.itertext():
        parts.append(part)
        size += len(part)
        if size > limit:
            break
    return " ".join("".join(parts).split())


def _in_other_place(node: _Element) -> bool:
    """True inside comments, related lists, sidebars or footers (the page body's own classes
    describe the whole page, not a region, and are not read)."""
    for parent in node.iterancestors():
        if parent.tag in ("body", "html"):
            break
        marker = f"{parent.get('class') or ''} {parent.get('id') or ''}"
        if marker.strip() and _OTHER_PLACES.search(marker):
            return True
    return False


def name_in(text: str) -> str | None:
    """The author a visible byline names (`By Jane Doe`, `글 김민수 기자`, `記者 山田太郎`), or None."""
    match = _LABELLED.search(text)
    if not match:
        return None
    name = next(g for g in match.groups() if g)
    if match.group("a"):  # "by Michael Larabel in Valve": the name ends at the first small word
        words = name.split()
        cut = next((i for i, w in enumerate(words) if w[0].islower() and i), len(words))
        name = " ".join(words[:cut])
    name = clean_author(name)
    return name if name and looks_like_name(name) else None


def headline_region(tree: _Element, headline: _Element | None) -> _Element:
    """The part of the page where the byline sits: the `<article>` or `<main>` around the
    headline, or the few levels above it; without a headline, the first `<article>`. Searching
    there, not the whole page, is cheaper and skips bylines of other articles listed beside it."""
    if headline is None:
        return next(tree.iter("article"), tree)
    node = headline
    for _ in range(_REGION_LEVELS):
        parent = node.getparent()
        if parent is None or parent.tag in ("body", "html"):
            break
        node = parent
        if node.tag in ("article", "main"):
            break
    return node


_REGION_LEVELS = 6


def _marked(region: _Element) -> tuple[str | None, str | None]:
    """(author, ISO date) from the elements the page marks as its author or byline, and from
    its `<time datetime>` that is not an update time, outside comments and related lists."""
    author = when = None
    for node in islice(_AUTHOR_ELEMENTS(region), _MAX_CANDIDATES):
        text = _text(node)
        if not text or len(text) > _SHORT or _in_other_place(node):
            continue
        match = DATETIME_TEXT.search(text) if when is None else None
        if match and not _UPDATED.search(text[: match.start()][-24:]):
            when = _from_match(match)
        name = name_in(text) or clean_author(DATETIME_TEXT.sub("", text))
        if author is None and name and looks_like_name(name):
            author = name
        if author and when:
            break
    if when is None:
        for node in region.iter("time"):
            stamp = node.get("datetime")
            marker = f"{node.get('class') or ''} {_text(node)[:24]}"
            if stamp and not _UPDATED.search(marker) and not _in_other_place(node):
                when = parse_iso(stamp)
                if when:
                    break
    return author, when


_UPDATED = re.compile(r"(?i)updat|modif|수정|更新|変更")


def _itemprops(region: _Element) -> tuple[list[str], list[str]]:
    """Publication dates and author names the page marks with microdata (`itemprop`) outside
    its meta tags."""
    times: list[str] = []
    authors: list[str] = []
    for node in _ITEMPROPS(region):
        if node.get("itemprop") == "author":
            named = node.find(".//*[@itemprop='name']")
            name = node.get("content") or _text(node if named is None else named)
            if name and len(name) <= 80:
                authors.append(name)
        elif (stamp := node.get("datetime") or node.get("content")) and node.tag != "meta":
            times.append(stamp)
    return times, authors


_ITEMPROPS = XPath("descendant::*[@itemprop][@itemprop='datePublished' or @itemprop='author']")


class Visible:
    """What the page shows around its headline: microdata, marked byline elements, the dateline.
    Each is a scan of part of the tree, made only when asked (when the head of the page left the
    date or the author open)."""

    def __init__(self, tree: _Element, headline: _Element | None) -> None:
        self.tree = tree
        self.headline = headline

    @cached_property
    def region(self) -> _Element:
        return headline_region(self.tree, self.headline)

    @cached_property
    def itemprops(self) -> tuple[list[str], list[str]]:
        return _itemprops(self.region)

    @cached_property
    def marked(self) -> tuple[str | None, str | None]:
        return _marked(self.region)

    @cached_property
    def dateline(self) -> tuple[str | None, str | None]:
        return dateline(self.headline)

    def date(self) -> str | None:
        """Microdata first, then the dateline under the headline, then the byline elements."""
        for value in self.itemprops[0]:
            if stamp := parse_iso(value):
                return stamp
        return self.dateline[1] or self.marked[1]

    def authors(self) -> Iterator[str | None]:
        """Names in order of trust, each source scanned only when the ones before gave none."""
        yield from self.itemprops[1]
        yield self.marked[0]
        yield self.dateline[0]


def _after(headline: _Element) -> list[_Element]:
    """Elements that follow the headline in document order, nearest first."""
    found: list[_Element] = []
    node: _Element | None = headline
    while node is not None and len(found) < _LOOK_AHEAD:
        for sibling in node.itersiblings():
            wanted = _LOOK_AHEAD - len(found)
            found.extend(islice((e for e in sibling.iter() if isinstance(e.tag, str)), wanted))
            if len(found) >= _LOOK_AHEAD:
                break
        node = node.getparent()
    return found[:_LOOK_AHEAD]


def dateline(headline: _Element | None) -> tuple[str | None, str | None]:
    """(author, ISO date) from the short elements right after the headline."""
    if headline is None:
        return None, None
    author = when = None
    for node in _after(headline):
        text = " ".join((node.text or "").split()) if len(node) else _text(node)
        if node.tag == "time" and when is None and (stamp := node.get("datetime")):
            when = parse_iso(stamp)
        if not text or len(text) > _SHORT:
            continue
        if when is None and (match := DATETIME_TEXT.search(text)):
            when = _from_match(match)
        author = author or name_in(text)
        if author and when:
            break
    return author, when
