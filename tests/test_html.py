"""HTML through trafilatura plus our metadata and rules; dates never come from body text."""

from __future__ import annotations

from copy import copy

import pytest

from cleaners.clean import clean
from cleaners.dates import date_from_url, parse_byline, parse_datetime_text, parse_iso

PARAGRAPHS_KO = [
    "서울시는 2025년 예산안을 발표하며 대중교통 확충에 가장 많은 재원을 배정했다고 밝혔다.",
    "시 관계자는 지하철 노선 연장과 버스 배차 간격 단축이 핵심 과제라고 설명했다.",
    "시민단체는 2024년 대비 증가 폭이 작다며 추가 편성을 요구하는 성명을 냈다.",
]
PARAGRAPHS_EN = [
    "The city council approved the new transit budget after a long debate on Tuesday evening.",
    "Officials said that in 2019 ridership had peaked, and that recovery has been slow since then.",
    "Residents who spoke at the meeting asked for more frequent buses on the eastern routes.",
]


def page(
    body: str, head: str = "", lang: str = "en", title: str = "Budget news", h1: str = ""
) -> bytes:
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>{head}</head>'
        f"<body><header><nav><a href='/'>Home</a> <a href='/news'>News</a></nav></header>"
        f"<main><article><h1>{h1 or title}</h1>{body}</article></main>"
        f"<footer>About us · Contact · Terms</footer></body></html>"
    ).encode()


def test_korean_page_with_jsonld_date_and_widgets() -> None:
    body = (
        "".join(f"<p>{p}</p>" for p in PARAGRAPHS_KO) + "<p>좋아요</p><p>공유하기</p><p>댓글 0</p>"
    )
    head = (
        '<script type="application/ld+json">{"@context":"https://schema.org","@type":"NewsArticle",'
        '"headline":"서울시 2025년 예산안 발표","datePublished":"2025-11-13T10:47:00+09:00",'
        '"author":{"@type":"Person","name":"김기자"}}</script>'
    )
    # the <h1> is the section's name; the JSON-LD headline is the one <title> holds
    title = "서울시 2025년 예산안 발표 | 예시일보"
    doc = page(body, head, "ko", title, h1="Budget news")
    result = clean(doc, kind="html", url="https://news.example/a/1")
    (entry,) = result.entries
    assert entry.title == "서울시 2025년 예산안 발표"
    assert entry.author == "김기자"
    assert entry.published_at == "2025-11-13T10:47:00+09:00"
    assert entry.language == "ko"
    for p in PARAGRAPHS_KO:
        assert p in entry.text
    for widget in ("좋아요", "공유하기", "댓글 0"):
        assert widget not in entry.text.splitlines()
    assert "Home" not in entry.text


def test_no_date_is_invented_from_body_text() -> None:
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS_EN)
    (entry,) = clean(page(body), kind="html", url="https://blog.example/posts/transit").entries
    assert entry.published_at is None
    assert entry.language == "en"


def test_meta_tag_and_url_dates() -> None:
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS_EN)
    head = '<meta property="article:published_time" content="2024-03-05T08:15:00Z">'
    (entry,) = clean(page(body, head), kind="html", url="https://x.example/p").entries
    assert entry.published_at == "2024-03-05T08:15:00+00:00"
    (entry,) = clean(page(body), kind="html", url="https://x.example/2023/07/09/transit").entries
    assert entry.published_at == "2023-07-09"
    canonical = '<link rel="canonical" href="https://x.example/2024/05/17/harbor-dredging-begins">'
    (entry,) = clean(page(body, canonical), kind="html", url=None).entries
    assert entry.published_at == "2024-05-17"


def test_html_declared_in_euc_kr_meta() -> None:
    html = page("".join(f"<p>{p}</p>" for p in PARAGRAPHS_KO), lang="ko").replace(
        b"utf-8", b"euc-kr"
    )
    body = html.decode("utf-8").encode("cp949")
    result = clean(body, kind="html")
    assert result.encoding == "cp949"
    assert PARAGRAPHS_KO[0] in result.entries[0].text


def test_sniffing_without_extension() -> None:
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS_EN)
    assert clean(page(body)).kind == "html"
    assert clean("\n\n".join(PARAGRAPHS_EN).encode()).kind == "text"


def test_date_parsers() -> None:
    assert parse_byline("크리스 정 2025.11.13 10:47 PDT") == (
        "크리스 정",
        "2025-11-13T10:47:00-07:00",
    )
    assert parse_byline("홍길동 기자 2025년 11월 13일 오후 3:05 KST") == (
        "홍길동",
        "2025-11-13T15:05:00+09:00",
    )
    assert parse_byline("By Jane Doe 2025/1/2 3:04 PM EST") == (
        "Jane Doe",
        "2025-01-02T15:04:00-05:00",
    )
    # an ambiguous zone abbreviation is not guessed: local time without an offset
    assert parse_byline("Li Wei 2025-01-02 09:00 CST") == ("Li Wei", "2025-01-02T09:00:00")
    assert (
        parse_byline("The meeting was held on 2025-01-02 and lasted three hours in total.") is None
    )
    assert parse_byline("2025.13.45 10:00") is None
    assert parse_iso("2025-11-13T10:47:00Z") == "2025-11-13T10:47:00+00:00"
    assert parse_iso("2025-11-13") == "2025-11-13"
    assert parse_datetime_text("Published 2025-11-13 09:00 +0530") == "2025-11-13T09:00:00+05:30"
    assert date_from_url("https://x.example/2025/02/30/x") is None


def test_extraction_keeps_what_trafilatura_keeps_on_the_same_page() -> None:
    """Regression: a tree from another HTML parser made trafilatura drop half of some pages."""
    from trafilatura import bare_extraction

    # server-rendered pages leave empty comments inside sentences, ad slots between paragraphs
    ads = "<div class='ad-container dfp'></div><div class='ad-unit ad-mobile'><div>Advertisement</div></div>"
    paragraphs = "".join(f"<p>{p[:25]}<!-- -->{p[25:]}</p>{ads}" for p in PARAGRAPHS_EN * 3)
    html = page(f"<div class='js_expandable-container'>{paragraphs}</div>").decode()
    reference = bare_extraction(
        html, favor_precision=True, include_comments=False, with_metadata=True
    )
    assert reference is not None
    (entry,) = clean(html.encode(), kind="html").entries
    for line in str(getattr(reference, "text", "")).splitlines():
        if line.strip() != entry.title:  # the headline moves to `title`
            assert line.strip() in entry.text


@pytest.mark.parametrize("prune_xpath", [None, ["//div[@class='promo']"]])
@pytest.mark.parametrize("fast", [False, True])
def test_main_text_is_what_bare_extraction_gives(prune_xpath: list[str] | None, fast: bool) -> None:
    """`_main_text` runs trafilatura's steps on the tree without `bare_extraction`'s copy of it:
    the text must be the same, for the pages of these tests and for none found."""
    from trafilatura import bare_extraction

    from cleaners.extract import _main_text, parse_html

    promo = (
        "<div class='promo'><p>Subscribe today and get three months of the paper free.</p></div>"
    )
    bodies = [
        "".join(f"<p>{p}</p>" for p in PARAGRAPHS_EN) + promo,
        "<table><tr><td>" + "</td><td>".join(PARAGRAPHS_EN) + "</td></tr></table>",
        "<div><ul>"
        + "".join(f"<li><a href='/x'>{p[:30]}</a></li>" for p in PARAGRAPHS_EN)
        + "</ul></div>",
        "<div></div>",
    ]
    for body in bodies:
        html = page(body).decode()
        reference = bare_extraction(
            parse_html(html)[0],
            url="https://news.example/a/1",
            fast=fast,
            favor_precision=True,
            include_comments=False,
            include_tables=True,
            deduplicate=False,
            with_metadata=False,
            prune_xpath=prune_xpath,
        )
        expected = reference.text if reference is not None else None  # type: ignore[union-attr]
        text = _main_text(
            parse_html(html)[0], "https://news.example/a/1", fast=fast, prune_xpath=prune_xpath
        )
        assert text == expected


def test_per_source_prune_xpath_leaves_trafilatura_untouched() -> None:
    import trafilatura.htmlprocessing
    import trafilatura.xpaths

    from cleaners.clean import CleanOptions

    snapshot = {
        name: copy(getattr(module, name))  # shallow: no entries added or removed
        for module in (trafilatura.xpaths, trafilatura.htmlprocessing)
        for name in dir(module)
        if name.isupper() and isinstance(getattr(module, name), list | set | dict | tuple)
    }
    promo = "<div class='promo'><p>Subscribe today and get three months of the paper for free, plus our weekly puzzle.</p></div>"
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS_EN) + promo
    pruned = clean(
        page(body), kind="html", options=CleanOptions(prune_xpath=["//div[@class='promo']"])
    )
    assert "Subscribe today" not in pruned.entries[0].text
    assert PARAGRAPHS_EN[-1] in pruned.entries[0].text
    assert "Subscribe today" in clean(page(body), kind="html").entries[0].text  # others unaffected
    for module in (trafilatura.xpaths, trafilatura.htmlprocessing):
        for name in dir(module):
            if name in snapshot:
                assert getattr(module, name) == snapshot[name], name


def test_titles_come_from_markup_without_the_site_name() -> None:
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS_EN)
    og = '<meta property="og:title" content="Council approves transit budget">'
    # the page's only <h1> is its headline (measured closer than og:title: bench/metadata.py)
    assert clean(page(body, og), kind="html").entries[0].title == "Budget news"
    two_h1 = page(body, og).replace(b"<h1>Budget news</h1>", b"<h1>Budget news</h1><h1>More</h1>")
    assert clean(two_h1, kind="html").entries[0].title == "Council approves transit budget"
    titled = page(body).replace(
        b"<title>Budget news</title>", b"<title>Transit budget passes | City Herald</title>"
    )
    titled = titled.replace(
        b"<h1>Budget news</h1>", b"<h1>Transit budget passes</h1><h1>Related</h1>"
    )
    site = b'<meta property="og:site_name" content="City Herald">'
    entry = clean(titled.replace(b"</head>", site + b"</head>"), kind="html").entries[0]
    assert entry.title == "Transit budget passes"
    assert entry.metadata["sitename"] == "City Herald"


def test_very_large_pages_use_trafilaturas_fast_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    import cleaners.extract

    seen: list[bool] = []
    real = cleaners.extract._main_text

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(bool(kwargs["fast"]))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cleaners.extract, "_main_text", spy)
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS_EN)
    clean(page(body), kind="html")
    filler = "<div hidden>" + "padding " * 300_000 + "</div>"  # 2.4 million characters
    clean(page(body + filler), kind="html")
    assert seen == [False, True]


@pytest.mark.parametrize(
    ("head", "h1", "title", "expected"),
    [
        # a JSON-LD "headline" that is a summary loses to the <h1> that <title> holds
        (
            '<script type="application/ld+json">{"@type":"Article","headline":'
            '"constitutional monarchy in Oceania"}</script>',
            "New Zealand",
            "New Zealand - Wikipedia",
            "New Zealand",
        ),
        # a logo <h1> is no headline: <title> without the site's name is
        (
            "",
            "POLITICO",
            "Insiders: Trump will sink Pence in VP debate | POLITICO",
            "Insiders: Trump will sink Pence in VP debate",
        ),
        # a <title> that shortens the headline the page shows: the <h1>
        ("", "前三季度粮食产量再创新高", "粮食产量再创新高 - 新闻中心", "前三季度粮食产量再创新高"),
    ],
)
def test_the_title_is_the_headline_the_document_title_holds(
    head: str, h1: str, title: str, expected: str
) -> None:
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS_EN)
    (entry,) = clean(page(body, head, title=title, h1=h1), kind="html").entries
    assert entry.title == expected
