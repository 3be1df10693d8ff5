"""Listing split: only a real list of teasers is cut into articles, and never loses text."""

from __future__ import annotations

from cleaners.rules import default_rules
from cleaners.text import clean_text

PARAGRAPHS = [
    "The river rises in the northern hills and runs for about 300 kilometres to the sea, "
    "passing three market towns and a long stretch of protected wetland on the way.",
    "Its basin was settled early: field systems and burial mounds along the lower valley show "
    "farming on the terraces for at least four thousand years before the first written record.",
    "Mills were built on the tributaries in the eighteenth century, and the canal that joins the "
    "river to the port city was dug by hand over eleven years by crews from the whole region.",
    "Today the valley is known for its orchards, for a music festival held every summer on the "
    "meadows, and for the flood defences rebuilt after the great flood of the last decade.",
]
TEASERS = [
    "AI 테마의 일시적 조정인가, 붕괴의 시작인가. 11월 들어 AI 관련 주요 기업들의 주가가 급격한 조정을 받고 있다.",
    "2024년의 봄, 중국 AI 기업들은 절박했다. 오픈AI와 구글이 생성형 AI 시장을 장악하는 동안 그들은 기다렸다.",
    "반도체 수출이 석 달 연속 늘었다. 업계는 내년 상반기까지 메모리 가격 회복세가 이어질 것으로 본다.",
    "전기차 배터리 업체들이 북미 공장 가동 시점을 늦추고 있다. 보조금 정책이 바뀌면서 수요 전망도 흔들린다.",
]


def _text_of(entries: list) -> str:  # type: ignore[type-arg]
    return "\n".join(e.text for e in entries)


def test_reference_list_with_dated_entries_is_one_article_with_all_its_text() -> None:
    references = [
        "References",
        "Jane Smith 2019-04-01",
        "Kim Minsu 2020-02-03",
        "Retrieved 2002-09-25",
        "Peter Brown 2018-11-30",
        "Anna Berg 2017-06-12",
    ]
    text = "\n".join([*PARAGRAPHS, "", *references])
    result = clean_text(text, default_rules())
    (entry,) = result.entries
    for line in PARAGRAPHS + references:
        assert line in entry.text
    assert entry.published_at is None  # a reference's date is not the article's


def test_fact_page_with_date_stamped_lines_is_not_split() -> None:
    lines = []
    for n, paragraph in enumerate(PARAGRAPHS):
        lines += [f"Founded 19{70 + n}-03-02" if n % 2 else f"Updated 20{10 + n}-05-01", paragraph]
    (entry,) = clean_text("\n".join(lines[1:]), default_rules()).entries
    for paragraph in PARAGRAPHS:
        assert paragraph in entry.text


def test_timeline_and_forum_thread_are_not_split() -> None:
    # replies of any length, oldest first: a thread, not a listing of teasers
    thread = [
        "Alice Brown 2024-03-01 10:00", PARAGRAPHS[0] + " " + PARAGRAPHS[1],
        "Bob Stone 2024-03-01 11:30", "Same here, thanks.",
        "Carol White 2024-03-02 09:15", PARAGRAPHS[2],
    ]  # fmt: skip
    (entry,) = clean_text("\n".join(thread), default_rules()).entries
    assert "Same here, thanks." in entry.text and PARAGRAPHS[2] in entry.text
    # comparable replies, but oldest first: still a thread
    ordered = [
        "Alice Brown 2024-03-01 10:00", PARAGRAPHS[0],
        "Bob Stone 2024-03-01 11:30", PARAGRAPHS[1],
        "Carol White 2024-03-02 09:15", PARAGRAPHS[2],
    ]  # fmt: skip
    (entry,) = clean_text("\n".join(ordered), default_rules()).entries
    assert all(p in entry.text for p in PARAGRAPHS[:3])


def test_a_table_of_dated_rows_is_not_split() -> None:
    rows = ["Release | Date", "Version Two | 2021-04-01", "Version One | 2020-01-15"]
    text = "\n".join([PARAGRAPHS[0], *rows, PARAGRAPHS[1]])
    (entry,) = clean_text(text, default_rules()).entries
    assert all(r in entry.text for r in rows)


def test_newest_first_listing_with_closing_bylines_splits_and_keeps_all_text() -> None:
    stamps = ["2025.11.13 10:47 PDT", "2025.11.12 09:23 PDT", "2025.11.11 10:11 PDT", "2025.11.10 17:31 PDT"]  # fmt: skip
    lines = [
        x
        for teaser, when in zip(TEASERS, stamps, strict=True)
        for x in (teaser, f"크리스 정 {when}")
    ]
    entries = clean_text("\n".join(lines), default_rules()).entries
    assert [e.text for e in entries] == TEASERS
    assert {e.author for e in entries} == {"크리스 정"}
    assert entries[0].published_at == "2025-11-13T10:47:00-07:00"


def test_listing_preamble_stays_in_the_first_entry() -> None:
    lines = ["이번 주 소식", "크리스 정 2025.11.13 10:47 PDT", TEASERS[0], "박지은 2025.11.12 09:23 PDT", TEASERS[1]]  # fmt: skip
    result = clean_text("\n".join(lines), default_rules())
    assert [e.author for e in result.entries] == ["크리스 정", "박지은"]
    assert result.entries[0].text.startswith("이번 주 소식")
    assert result.fired["listing_preamble"] == 1


def test_an_article_with_one_byline_is_one_article() -> None:
    text = "\n".join([PARAGRAPHS[0], "Jane Smith 2025-01-02 08:00 UTC", *PARAGRAPHS[1:]])
    (entry,) = clean_text(text, default_rules()).entries
    assert entry.author == "Jane Smith"
    assert entry.published_at == "2025-01-02T08:00:00+00:00"
    assert entry.text.splitlines() == PARAGRAPHS
    # deep in the body, a dated line is text, and its date not the article's
    late = "\n".join([*PARAGRAPHS[:3], "Jane Smith 2025-01-02 08:00 UTC", PARAGRAPHS[3]])
    (entry,) = clean_text(late, default_rules()).entries
    assert entry.published_at is None
    assert "Jane Smith 2025-01-02 08:00 UTC" in entry.text
