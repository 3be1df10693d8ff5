"""The evaluation gate: saved pages in several languages, each with what must and must not survive.

The pages in tests/fixtures/pages/ were written to look like real sites (chrome, widgets, copyright
lines, disclaimers, machine-translation notices) and were not tuned against the rules. Each entry of
expectations.toml names the page's language, title, author, published date (or "none": never
invented from body text), snippets that must be in the stored text and boilerplate that must not.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from cleaners.clean import clean

PAGES = Path(__file__).parent / "fixtures" / "pages"
EXPECTATIONS: list[dict[str, Any]] = tomllib.loads(
    (PAGES / "expectations.toml").read_text("utf-8")
)["page"]


def test_the_gate_covers_korean_chinese_japanese_and_english() -> None:
    languages = {page["language"] for page in EXPECTATIONS}
    assert {"ko", "zh", "ja", "en"} <= languages
    assert len(EXPECTATIONS) >= 8


@pytest.mark.parametrize("expected", EXPECTATIONS, ids=[p["file"] for p in EXPECTATIONS])
def test_page(expected: dict[str, Any]) -> None:
    cleaned = clean((PAGES / expected["file"]).read_bytes(), kind="html")
    (entry,) = cleaned.entries
    text = entry.text
    flat = " ".join(text.split())
    missing = [s for s in expected["must_contain"] if s not in flat]
    assert not missing, f"body text lost: {missing}"
    kept = [s for s in expected["must_not_contain"] if s in flat]
    assert not kept, f"boilerplate kept: {kept}"
    assert entry.language == expected["language"]
    assert entry.title == expected["title"]
    if "author" in expected:
        assert entry.author == expected["author"]
    wanted_date = None if expected["published_at"] == "none" else expected["published_at"]
    assert entry.published_at == wanted_date
