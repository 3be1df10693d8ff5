"""Dates in the spellings pages use, with their offset; authors that are not people rejected."""

from __future__ import annotations

import pytest

from cleaners.dates import clean_author, parse_byline, parse_iso


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Fri Apr 28 19:20:36 CEST 2023", "2023-04-28T19:20:36+02:00"),
        ("Fri, 28 Apr 2023 19:20:36 +0200", "2023-04-28T19:20:36+02:00"),
        ("Thu, 01 Dec 2016 12:00:00 GMT", "2016-12-01T12:00:00+00:00"),
        ("2005年05月07日 10:20", "2005-05-07T10:20:00"),
        ("2025.11.13 10:47", "2025-11-13T10:47:00"),
        ("2023年4月28日", "2023-04-28"),
        ("2025년 11월 13일 오후 3:05 KST", "2025-11-13T15:05:00+09:00"),
        ("2016-12-09T09:13:00.000Z", "2016-12-09T09:13:00+00:00"),
        ("2023-04-28 19:20:36+0200", "2023-04-28T19:20:36+02:00"),
        ("April 28, 2023", "2023-04-28"),
        ("28 April 2023 7:20 PM", "2023-04-28T19:20:00"),
        ("Apr. 3, 2019 at 10:00 am EDT", "2019-04-03T10:00:00-04:00"),
        ("2025-11-13", "2025-11-13"),
    ],
)
def test_metadata_date_spellings(value: str, expected: str) -> None:
    assert parse_iso(value) == expected


def test_nonsense_is_no_date() -> None:
    assert parse_iso("yesterday") is None
    assert parse_iso("2025-13-45") is None


@pytest.mark.parametrize(
    "line",
    [
        "Retrieved 2002-09-25",
        "collected on 2002-09-25",
        "Founded 1998-03-02",
        "Accessed March 3, 2021",
        "설립 1998.03.02",
        "检索 2020-01-02",
    ],
)
def test_a_line_dating_something_else_is_not_a_byline(line: str) -> None:
    assert parse_byline(line) is None


def test_words_that_are_no_name_give_no_author() -> None:
    assert parse_byline("Last update 2025-01-02") == (None, "2025-01-02")
    assert parse_byline("By Jane Doe April 28, 2023") == ("Jane Doe", "2023-04-28")


@pytest.mark.parametrize(
    "junk",
    [
        "jane.doe@example.com",
        "https://example.com/author/jane",
        "www.example.com",
        "12345",
        "来源：新华社",
        "출처: 연합뉴스",
        "Source: Reuters",
        "Example Daily",  # the site's own name
        "EXAMPLE DAILY",
    ],
)
def test_author_junk_is_rejected(junk: str) -> None:
    assert clean_author(junk, sitename="Example Daily") is None


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("박지은 기자 jieun@example.co.kr", "박지은"),
        ("By Jane Doe", "Jane Doe"),
        ("M&uuml;ller &amp; Schmidt", "Müller & Schmidt"),
        ("記者 山田太郎", "山田太郎"),
        ("文/李明", "李明"),
        ("記者：王小明", "王小明"),
        ("글 김민수 기자", "김민수"),
    ],
)
def test_author_names_are_kept_without_their_trimmings(raw: str, name: str) -> None:
    assert clean_author(raw, sitename="Example Daily") == name
