"""Page metadata from the markup: JSON-LD however nested, meta tags however spelled, entities decoded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cleaners.extract import page_metadata, parse_html


def meta_of(head: str, body: str = "<p>Body.</p>", url: str | None = None) -> dict:  # type: ignore[type-arg]
    tree, _depth = parse_html(f"<html><head>{head}</head><body>{body}</body></html>")
    return page_metadata(tree, url)


def ld(data: object, *, cdata: bool = False) -> str:
    text = json.dumps(data)
    if cdata:
        text = f"//<![CDATA[\n{text}\n//]]>"
    return f'<script type="application/ld+json">{text}</script>'


ARTICLE = {"@type": "NewsArticle", "datePublished": "2023-04-28T19:20:36+02:00", "headline": "H"}


@pytest.mark.parametrize(
    "script",
    [
        ld({"@context": "https://schema.org", "@graph": [{"@type": "WebSite"}, ARTICLE]}),
        ld({"@type": "WebPage", "mainEntity": ARTICLE}),
        ld([{"@type": "Organization", "name": "X"}, [ARTICLE]]),
        ld(ARTICLE, cdata=True),
    ],
)
def test_jsonld_dates_however_nested_or_wrapped(script: str) -> None:
    assert meta_of(script)["published_at"] == "2023-04-28T19:20:36+02:00"


@pytest.mark.parametrize(
    ("head", "body"),
    [
        ('<meta property="article:published:time" content="2023-04-28T19:20:36+02:00">', ""),
        ('<meta itemprop="datePublished" content="2023-04-28T19:20:36+02:00">', ""),
        ('<meta name="pubdate" content="Fri, 28 Apr 2023 19:20:36 +0200">', ""),
        (
            "",
            '<time class="entry-date published" datetime="2023-04-28T19:20:36+02:00">28.4.</time>',
        ),
        ("", '<span itemprop="datePublished" content="2023-04-28T19:20:36+02:00">Apr 28</span>'),
    ],
)
def test_date_meta_spellings(head: str, body: str) -> None:
    assert meta_of(head, body)["published_at"] == "2023-04-28T19:20:36+02:00"


def test_the_articles_own_date_wins_over_a_meta_update_time() -> None:
    head = '<meta property="article:published_time" content="2024-01-09T08:00:00Z">' + ld(
        {"@type": "Article", "datePublished": "2023-12-01T10:00:00Z"}
    )
    assert meta_of(head)["published_at"] == "2023-12-01T10:00:00+00:00"


def test_entities_left_encoded_are_decoded_once() -> None:
    head = (
        '<meta property="og:title" content="R&amp;uuml;ckbau &amp;quot;Nord&amp;quot; &amp;#8216;1&amp;#8217;">'
        '<meta name="author" content="J&amp;uuml;rgen M&amp;uuml;ller">'
    )
    meta = meta_of(head)
    assert meta["title"] == 'Rückbau "Nord" ‘1’'
    assert meta["author"] == "Jürgen Müller"


def test_an_organization_is_not_the_author() -> None:
    head = ld({"@type": "Article", "author": {"@type": "Organization", "name": "Example Daily"}})
    assert "author" not in meta_of(head) or meta_of(head)["author"] is None
    person = ld({"@type": "Article", "author": [{"@type": "Person", "name": "Jane Doe"}]})
    assert meta_of(person)["author"] == "Jane Doe"


BODY = "".join(
    f"<p>{p}</p>"
    for p in [
        "今年的粮食产量再创新高，专家认为这与新品种的推广和田间管理的改进有关，2019年的数据也印证了这一点。",
        "农业部门表示，明年将继续扩大试点范围，并在更多省份推广节水灌溉技术，以应对持续的干旱。",
        "多位农民在接受采访时说，新品种的产量和抗病能力都明显好于过去种植的品种，收入也随之增加。",
    ]
)


@pytest.mark.parametrize(
    ("byline", "author", "when"),
    [
        (
            '<div class="info"><span>2005年05月07日 10:20</span> <span>来源：新华社</span></div>',
            None,
            "2005-05-07T10:20:00",
        ),
        ('<div class="info">2023年4月28日 記者：王小明</div>', "王小明", "2023-04-28"),
        ('<p class="meta">文/李明 2025.11.13 10:47</p>', "李明", "2025-11-13T10:47:00"),
        ("<div>글 김민수 기자 · 2025.11.13 10:47 KST</div>", "김민수", "2025-11-13T10:47:00+09:00"),
        (
            '<div><span>By Jane Doe</span> <time datetime="2023-04-28T19:20:36+02:00">Apr 28</time></div>',
            "Jane Doe",
            "2023-04-28T19:20:36+02:00",
        ),
    ],
)
def test_visible_dateline_and_byline_under_the_headline(
    byline: str, author: str | None, when: str
) -> None:
    meta = meta_of("<title>粮食产量再创新高</title>", f"<h1>粮食产量再创新高</h1>{byline}{BODY}")
    assert meta["published_at"] == when
    assert meta.get("author") == author


def test_no_date_from_a_year_in_the_body() -> None:
    meta = meta_of("<title>粮食</title>", f"<h1>粮食</h1>{BODY}")
    assert "published_at" not in meta


FIXTURES = Path(__file__).parent / "fixtures" / "metadata" / "pages"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir()))
def test_korean_chinese_japanese_bylines_and_datelines(name: str) -> None:
    """Pages of our own in the shape of the metadata development set (readability's layout):
    datelines and bylines as Korean, Chinese and Japanese news pages write them."""
    from cleaners.clean import clean

    folder = FIXTURES / name
    expected = json.loads((folder / "expected-metadata.json").read_text("utf-8"))
    (entry,) = clean((folder / "source.html").read_bytes(), kind="html").entries
    assert entry.title == expected["title"]
    assert entry.author == expected["byline"]
    assert entry.published_at == expected["publishedTime"]


def test_hostile_markup_is_read_in_bounded_time() -> None:
    """Thousands of nested byline candidates and a JSON-LD list of 200,000 values: the metadata
    reader looks at a bounded number of each (well under a second here; 10 s allowed)."""
    import time

    nested = '<div class="author">x ' * 1500 + "</div>" * 1500
    items = json.dumps({"@type": "ItemList", "itemListElement": list(range(200_000))})
    head = f'<script type="application/ld+json">{items}</script>'
    started = time.monotonic()
    meta = meta_of(head, f"<h1>Title</h1>{nested}")
    assert time.monotonic() - started < 10
    assert meta["title"] == "Title"
