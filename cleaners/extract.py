"""Main text and metadata from HTML: trafilatura for the body, our own reading of the page's metadata.

trafilatura is called per page with explicit options (never by mutating its module-level lists) and
with its `deduplicate` off: dedup is ours, across runs. Dates come only from structured metadata
(JSON-LD, OpenGraph/meta tags, `<time>`) or the URL, never from body text: trafilatura's date search
would invent one from a year mentioned in a sentence.
"""

from __future__ import annotations

import html
import json
import re
from collections import deque
from collections.abc import Iterable
from copy import copy
from dataclasses import dataclass, field
from functools import cache
from itertools import chain
from typing import Any

from lxml.etree import ParserError, XMLSyntaxError, XPath, _Element, strip_tags
from lxml.html import HTMLParser, fromstring
from trafilatura import __version__ as trafilatura_version
from trafilatura import bare_extraction
from trafilatura import utils as trafilatura_utils
from trafilatura.settings import Document, Extractor
from trafilatura.utils import load_html

try:  # trafilatura's inner steps (not its documented API): used only for the version checked
    from trafilatura.core import trafilatura_sequence
    from trafilatura.htmlprocessing import prune_unwanted_nodes
    from trafilatura.xml import xmltotxt

    _INNER_STEPS = True
except ImportError:  # another trafilatura: bare_extraction, as before
    _INNER_STEPS = False

from cleaners.bylines import Visible
from cleaners.dates import clean_author, date_from_url, parse_iso
from cleaners.errors import NO_CONTENT, NOT_TEXT, TOO_DEEP, Rejected

# trafilatura's own parser (its error log tells whether a parse hit the depth limit), and one with
# the same options that follows deeper nesting, for the pages that need it (input size is capped).
_TRAFILATURA_PARSER = getattr(trafilatura_utils, "HTML_PARSER", None)
_HUGE_PARSER = HTMLParser(
    collect_ids=False,
    default_doctype=False,
    encoding="utf-8",
    remove_comments=True,
    remove_pis=True,
    huge_tree=True,
)

# Above this many characters trafilatura runs in fast mode (no fallback extractors).
FAST_MODE_CHARS = 2_000_000

# Date meta tags in order of trust, compared spelled one way (see _spelled_one_way).
_DATE_META_NAMES = (
    "article:published_time", "datepublished", "published_time", "pubdate", "publishdate",
    "publish-date", "publication_date", "article.published", "parsely-pub-date", "sailthru.date",
    "dc.date.issued", "dcterms.issued", "dc.date", "dcterms.created", "date",
    "citation_publication_date", "citation_date", "release_date",
)  # fmt: skip
_DATE_META = tuple(re.sub(r"[^a-z]", "", name) for name in _DATE_META_NAMES)
_DATE_WORDS = re.compile(r"dat|time|pub|issued|created")  # in every name above
# The article's own author tags before the page-wide `author`, which sites often fill with the
# publisher's name.
_AUTHOR_META = (
    "article:author", "byl", "parsely-author", "sailthru.author", "dc.creator", "author",
    "citation_author",
)  # fmt: skip


@dataclass
class Extracted:
    text: str
    title: str | None = None
    author: str | None = None
    published_at: str | None = None
    language: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    deep_tree: str | None = None  # "reparsed" or "cut": see parse_html


def _cut_by_depth(parser: object) -> bool:
    """True when the last parse by `parser` stopped at libxml2's nesting limit (the tree is cut
    there and everything below is silently missing)."""
    log = getattr(parser, "error_log", None) or ()
    return any("Excessive depth" in entry.message for entry in log)


def parse_html(html: str) -> tuple[_Element, str | None]:
    """The tree trafilatura itself would build (its parser drops comments and processing
    instructions; a tree from another parser extracts measurably worse), and how deep nesting was
    handled: None (it was not), "reparsed" (cut at libxml2's depth limit of 255, so parsed again
    in huge-tree mode, which follows 2,048 levels) or "cut" (deeper even than that).
    Rejected(not_text) when the text is not HTML at all."""
    try:
        tree = load_html(html)
    except (ParserError, XMLSyntaxError, ValueError) as exc:
        raise Rejected(NOT_TEXT, f"unparsable HTML: {exc}") from None
    if tree is None:
        raise Rejected(NOT_TEXT, "unparsable HTML")
    if not _cut_by_depth(_TRAFILATURA_PARSER):
        return tree, None
    try:
        deep = fromstring(html.encode("utf-8", "surrogatepass"), parser=_HUGE_PARSER)
    except (ParserError, XMLSyntaxError, ValueError):
        return tree, "cut"
    return deep, "cut" if _cut_by_depth(_HUGE_PARSER) else "reparsed"


@dataclass
class _Markup:
    """The elements page metadata comes from, gathered in one pass over the tree."""

    jsonld: list[str] = field(default_factory=list)
    meta: list[_Element] = field(default_factory=list)
    h1: list[_Element] = field(default_factory=list)
    title: _Element | None = None
    times: list[str] = field(default_factory=list)
    canonical: str | None = None


def _markup(tree: _Element) -> _Markup:
    found = _Markup()
    for node in tree.iter("script", "meta", "h1", "title", "time", "link"):
        tag = node.tag
        if tag == "meta":
            found.meta.append(node)
        elif tag == "script":
            if (node.get("type") or "").strip().lower() == "application/ld+json" and node.text:
                found.jsonld.append(node.text)
        elif tag == "h1":
            found.h1.append(node)
        elif tag == "title":
            if found.title is None:
                found.title = node
        elif tag == "time":
            marked = _PUBLISHED_CLASS.search(node.get("class") or "") or node.get("pubdate")
            if marked is not None and (stamp := node.get("datetime") or _text_of(node)):
                found.times.append(stamp)
        elif found.canonical is None and (node.get("rel") or "").lower() == "canonical":
            found.canonical = node.get("href")
    return found


# A name that is an organisation's: a publisher filed as the author is not one.
_ORGANISATION = re.compile(
    r"(?i)(?:\b(?:inc|ltd|llc|gmbh|corp|plc|staff|newsroom|media group)\.?|編集部|编辑部|편집국|편집부)$"
)


# `<time class="entry-date published">`: a theme marking its publication time.
_PUBLISHED_CLASS = re.compile(r"(?i)\bpublished\b|\bpub-?date\b|\bentry-date\b")


_CDATA = re.compile(r"^\s*(?:/[/*]\s*)?<!\[CDATA\[(?:\s*\*/)?|(?:/[/*]\s*)?\]\]>(?:\s*\*/)?\s*$")


def _jsonld_objects(scripts: list[str]) -> list[dict[str, Any]]:
    """Every JSON-LD object of the page, however nested: under `@graph`, `mainEntity`, in arrays,
    inside `//<![CDATA[ ... ]]>` wrappers. Outer objects come before the ones nested in them."""
    found: list[dict[str, Any]] = []
    for script in scripts:
        try:
            data = json.loads(
                _CDATA.sub("", script) if "CDATA[" in script else script, strict=False
            )
        except (ValueError, RecursionError):
            continue
        queue: deque[tuple[Any, int]] = deque([(data, 0)])
        visited = 0
        while queue and len(found) < 50 and visited < _JSONLD_VISITS:
            item, depth = queue.popleft()
            visited += 1
            if depth > 6:
                continue
            if isinstance(item, list):
                queue.extend((v, depth + 1) for v in item)
            elif isinstance(item, dict):
                found.append(item)
                queue.extend(
                    (v, depth + 1)
                    for k, v in item.items()
                    if isinstance(v, dict | list) and k in _JSONLD_NESTING
                )
    return found


# Values looked at per script at most: a hostile page may list millions.
_JSONLD_VISITS = 5_000
# Keys under which an article's JSON-LD object sits inside another one.
_JSONLD_NESTING = frozenset(
    ("@graph", "mainEntity", "mainEntityOfPage", "hasPart", "itemListElement", "item")
)


def _jsonld_name(value: Any, *, people: bool = False) -> str | None:
    """The name(s) in a JSON-LD value. With `people`, an Organization is not a name: a publisher
    filed as the author is not one."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        if people and "Organization" in str(value.get("@type") or ""):
            return None
        return _jsonld_name(value.get("name"), people=people)
    if isinstance(value, list):
        names = [n for v in value if (n := _jsonld_name(v, people=people))]
        return ", ".join(dict.fromkeys(names)) or None
    return None


def _is_article(obj: dict[str, Any]) -> bool:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return any(
        isinstance(k, str) and ("Article" in k or k in ("BlogPosting", "Report", "LiveBlogPosting"))
        for k in kinds
    )


def _decoded(value: Any) -> Any:
    """Text with the entities a page left encoded (`R&uuml;ckbau`, `&quot;`, `&#8216;`) decoded,
    once: the tree has decoded the markup already, so what is left was escaped twice."""
    if isinstance(value, str):
        return " ".join(html.unescape(value).split()) or None
    return value


def _spelled_one_way(key: str) -> str:
    """A meta tag's name spelled one way: `article:published:time`, `article:published_time`,
    `og:article:published_time` and `Article.Published-Time` are one key."""
    return re.sub(r"[^a-z]", "", key.lower().removeprefix("og:"))


def page_metadata(tree: _Element, url: str | None) -> dict[str, Any]:
    """Title, author, published_at and language as the page's markup states them.

    Dates in order of trust: the article's own JSON-LD `datePublished`, then meta tags (an
    `article:published_time` may hold an update time), then `<time>`/`itemprop` in the page, then
    the dateline under the headline, then the URL path. Never body text. Authors: JSON-LD, meta
    tags, itemprop, then the visible byline (see cleaners.bylines)."""
    meta: dict[str, Any] = {}
    markup = _markup(tree)
    objects = _jsonld_objects(markup.jsonld)
    articles = [obj for obj in objects if _is_article(obj)]
    # a page's JSON-LD that names no article type (a WebPage) still dates the page, after them
    for obj in articles + [o for o in objects if not _is_article(o) and o.get("datePublished")]:
        published = obj.get("datePublished") or obj.get("dateCreated")
        if (
            "published_at" not in meta
            and isinstance(published, str)
            and (stamp := parse_iso(published))
        ):
            meta["published_at"] = stamp
        if obj not in articles:
            continue
        if "jsonld_author" not in meta and (name := _jsonld_name(obj.get("author"), people=True)):
            meta["jsonld_author"] = name
        if "headline" not in meta and isinstance(obj.get("headline"), str):
            meta["headline"] = obj["headline"].strip()
        if "sitename" not in meta and (name := _jsonld_name(obj.get("publisher"))):
            meta["sitename"] = name
        if "tags" not in meta and (keywords := obj.get("keywords")):
            meta["tags"] = keywords if isinstance(keywords, str) else _jsonld_name(keywords)
    tags: dict[str, str] = {}
    article_tags: list[str] = []
    for node in markup.meta:
        key = (node.get("property") or node.get("name") or node.get("itemprop") or "").lower()
        content = (node.get("content") or node.get("value") or "").strip()
        if key == "article:tag" and content:
            article_tags.append(content)
        if key and content and key not in tags:
            tags[key] = content
    meta["title"] = _title(markup, tags, meta.pop("headline", None))
    if "sitename" not in meta:
        meta["sitename"] = tags.get("og:site_name") or tags.get("application-name")
    if "tags" not in meta:
        meta["tags"] = ", ".join(article_tags) or tags.get("keywords") or tags.get("news_keywords")
    if "published_at" not in meta:
        spelled = {
            _spelled_one_way(k): v for k, v in reversed(tags.items()) if _DATE_WORDS.search(k)
        }
        for key in _DATE_META:
            if key in spelled and (stamp := parse_iso(spelled[key])):
                meta["published_at"] = stamp
                break
    if "published_at" not in meta:
        for value in markup.times:
            if stamp := parse_iso(value):
                meta["published_at"] = stamp
                break
    visible = Visible(tree, markup.h1[0] if markup.h1 else None)
    if "published_at" not in meta and (stamp := visible.date()):
        meta["published_at"] = stamp
    if "published_at" not in meta:
        for candidate in (url, markup.canonical, tags.get("og:url")):
            if candidate and (stamp := date_from_url(candidate)):
                meta["published_at"] = stamp
                break
    if "author" not in meta:
        candidates = [
            meta.pop("jsonld_author", None),
            *(tags[k] for k in _AUTHOR_META if k in tags),
        ]
        publishers = {meta.get("sitename"), tags.get("og:site_name"), tags.get("application-name")}
        meta["author"] = _person(
            chain(candidates, visible.authors()), {p.casefold() for p in publishers if p}
        )
    for key in ("title", "author", "sitename", "tags"):
        meta[key] = _decoded(meta.get(key))
    lang = tree.get("lang") or tags.get("og:locale") or tags.get("content-language")
    if lang:
        meta["declared_language"] = lang.replace("_", "-").split("-")[0].lower()
    return meta


def _person(names: Iterable[str | None], publishers: set[str]) -> str | None:
    """The first name that is a person's: not junk (see clean_author), not the site or its
    publisher, not an organisation. `names` is lazy: the costlier sources (the visible byline) are
    read only when the markup names nobody. Failing all, the first organisation named: a staff
    byline is better than none."""
    fallback = None
    for value in names:
        name = clean_author(_decoded(value)) if value else None
        if not name or name.startswith("http"):
            continue
        if name.casefold() in publishers or _ORGANISATION.search(name):
            fallback = fallback or name
            continue
        return name
    return fallback


_TITLE_SEPARATOR = re.compile(r"\s+(?:[|\-–—·:»]|::)\s+")


def _text_of(node: _Element) -> str:
    return " ".join("".join(node.itertext()).split())


def _title(markup: _Markup, tags: dict[str, str], headline: str | None) -> str | None:
    """The headline as the page states it. Candidates, in this order: the JSON-LD headline, the
    page's only `<h1>`, the OpenGraph/Twitter/DC/Parse.ly title. The first that the document's
    `<title>` holds wins: sites put their headline there, beside the site's name, and a JSON-LD
    "headline" that is a summary, or a `<h1>` that is the site's logo, is not in it. When none
    is, `<title>` (without the site name its separators set apart) speaks for itself unless its
    words are the first candidate's (a shortened headline): then that candidate."""
    h1s = [t for node in markup.h1 if (t := _text_of(node))]
    keys = ("og:title", "twitter:title", "dc.title", "parsely-title", "sailthru.title")
    stated = ([headline] if headline else []) + [tags[key] for key in keys if tags.get(key)]
    candidates = stated[:1] + (h1s if len(h1s) == 1 else []) + stated[1:]
    node = markup.title
    title = _text_of(node) if node is not None else ""
    own = _title_without_site(title, tags) if title else None
    held = _comparable(own or "")  # without the site's name: a logo <h1> is not a headline
    if held:
        for candidate in candidates:
            if _comparable(candidate) in held:
                return candidate
    if stated:  # what the markup states for the headline stands
        return candidates[0]
    if own is None:
        return h1s[0] if h1s else None
    if len(h1s) == 1 and _overlap(own, h1s[0]) >= 0.5:
        return h1s[0]  # <title> shortens the headline the page shows
    return own


def _overlap(short: str, long: str) -> float:
    """Share of the character pairs of `short` found in `long` (any script, no word splitting)."""
    a, b = _comparable(short), _comparable(long)
    pairs = {a[i : i + 2] for i in range(len(a) - 1)}
    return sum(p in b for p in pairs) / len(pairs) if pairs else 0.0


def _title_without_site(title: str, tags: dict[str, str]) -> str:
    parts = _TITLE_SEPARATOR.split(title)
    if len(parts) == 1:
        return title
    sitename = (tags.get("og:site_name") or "").casefold()
    kept = [p for p in parts if p.casefold() != sitename] if sitename else parts
    return max(kept or parts, key=len)


def _comparable(text: str) -> str:
    """Text as titles are compared: case, quotes, dashes and spacing set aside."""
    text = text.casefold().translate(_TITLE_FOLD)
    return " ".join(text.split())


_TITLE_FOLD = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


# The trafilatura whose `bare_extraction` body `_main_text` repeats (tests/test_html.py checks
# that both give the same text); any other version is called through `bare_extraction`.
_SEQUENCE_VERSION = "2.3.1"
_OWN_STEPS = _INNER_STEPS and trafilatura_version == _SEQUENCE_VERSION


@cache
def _compiled(xpaths: tuple[str, ...]) -> list[XPath]:
    """A source's prune_xpath expressions, compiled once, not once a page."""
    return [XPath(x) for x in xpaths]


@cache
def _extractor(*, fast: bool) -> Extractor:
    """trafilatura's options as `bare_extraction` builds them for ours (reading its configuration
    costs more than a copy: `_main_text` copies these and sets the page's URL)."""
    return Extractor(
        output_format="python",
        fast=fast,
        precision=True,
        comments=False,
        tables=True,
        dedup=False,
        with_metadata=False,
    )


def _main_text(
    tree: _Element, url: str | None, *, fast: bool, prune_xpath: list[str] | None
) -> str | None:
    """trafilatura's main text of `tree`, as `bare_extraction(tree, ...)` with our options gives
    it, or None when it finds none. `tree` is trafilatura's to change: the caller is done with it.

    `bare_extraction` copies a tree it is handed (the caller may still need it) before pruning it;
    ours is read by then, so for the trafilatura version we checked, its steps for our options
    run here on the tree itself: one whole copy of the page's tree less per page."""
    if not _OWN_STEPS:
        doc = bare_extraction(
            tree,
            url=url,
            fast=fast,
            favor_precision=True,
            include_comments=False,
            include_tables=True,
            deduplicate=False,
            with_metadata=False,  # ours, see page_metadata: cheaper, and no dates from body text
            prune_xpath=prune_xpath or None,
        )
        return doc.text if isinstance(doc, Document) else None
    options = copy(_extractor(fast=fast))
    options.url = url
    options.source = url and url.encode("utf-8", "replace").decode("utf-8")  # as Extractor sets it
    try:
        if prune_xpath:
            tree = prune_unwanted_nodes(tree, _compiled(tuple(prune_xpath)))
        body, text, _comments, comments = trafilatura_sequence(tree, options, options.url or None)
        if options.max_tree_size:  # not set in trafilatura's default configuration
            if len(body) > options.max_tree_size:
                strip_tags(body, "hi")
            if len(body) > options.max_tree_size:
                return None
        if len(text) < options.min_output_size and len(comments) < options.min_output_comm_size:
            return None
    except (TypeError, ValueError):
        return None
    return str(xmltotxt(body, options.formatting))


def extract_html(
    html: str, url: str | None = None, *, prune_xpath: list[str] | None = None
) -> Extracted:
    """Main text of an HTML page with its metadata. Raises Rejected when there is no main text."""
    tree, depth = parse_html(html)
    meta = page_metadata(tree, url)
    text = _main_text(tree, url, fast=len(html) > FAST_MODE_CHARS, prune_xpath=prune_xpath)
    if not text or not text.strip():
        if depth == "cut":
            raise Rejected(TOO_DEEP, "nested deeper than 2,048 elements: the parser stops there")
        raise Rejected(NO_CONTENT, "no main text found")
    extra = {k: meta[k] for k in ("sitename", "tags") if meta.get(k)}
    return Extracted(
        deep_tree=depth,
        text=text,
        title=meta.get("title") or None,
        author=meta.get("author"),
        published_at=meta.get("published_at"),
        language=meta.get("declared_language"),
        metadata=extra,
    )
