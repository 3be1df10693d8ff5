"""Too-deep documents are turned away by a scan of their tags before any parser runs: fast (a
fraction of what parsing the same bytes costs, measured here), so a hostile page cannot keep a
cleaning worker busy for seconds, and a page of ordinary depth passes untouched."""

from __future__ import annotations

import contextlib
import time

import pytest

from cleaners.clean import clean
from cleaners.depth import MAX_DEPTH, depth_exceeds
from cleaners.errors import Rejected
from cleaners.extract import extract_html

PARAGRAPH = "<p>" + "The harbour authority announced the new ferry terminal. " * 6 + "</p>"


def nested(depth: int) -> str:
    return "<html><body>" + "<div>" * depth + PARAGRAPH + "</div>" * depth + "</body></html>"


DEEP = {
    "nested 3,000": nested(3000),
    "unclosed 100,000": "<html><body>" + "<div>" * 100_000 + "<p>lost</p></body></html>",
    "inline 50,000": "<html><body><p>" + "<b><i>" * 25_000 + "x" + "</i></b>" * 25_000 + "</p>",
}


@pytest.mark.parametrize("name", DEEP)
def test_a_too_deep_document_is_rejected_before_any_parser(name: str) -> None:
    with pytest.raises(Rejected) as rejected:
        clean(DEEP[name].encode(), kind="html")
    assert rejected.value.reason == "too_deep"


def test_the_scan_costs_a_small_fraction_of_the_extraction_it_spares() -> None:
    """Measured against the extraction of the same page in the same test (about 3 s here, on an
    idle machine, for 3,000 levels), so the bound holds on a slower or busier one."""
    html = DEEP["nested 3,000"]
    started = time.perf_counter()
    for _ in range(10):
        assert depth_exceeds(html)
    scan = (time.perf_counter() - started) / 10
    started = time.perf_counter()
    with contextlib.suppress(Rejected):
        extract_html(html, None)  # what the page cost before the scan
    extraction = time.perf_counter() - started
    assert scan < extraction / 20, (scan, extraction)


def test_ordinary_depth_passes_and_void_and_closed_tags_do_not_count() -> None:
    assert not depth_exceeds(nested(300))
    assert not depth_exceeds(nested(MAX_DEPTH - 10))
    assert depth_exceeds(nested(MAX_DEPTH + 10))
    flat = "<html><body>" + "<br><img src=x><p>a</p><hr>" * 5000 + "</body></html>"
    assert not depth_exceeds(flat)
    # end tags a parser implies: siblings, not levels
    assert not depth_exceeds("<html><body><article>" + "<p>word " * 100_000 + "</article>")
    assert not depth_exceeds("<ul>" + "<li>item" * 10_000 + "</ul>")
    assert not depth_exceeds("<table>" + "<tr><td>a<td>b" * 5_000 + "</table>")
    cleaned = clean(nested(300).encode(), kind="html")
    assert "ferry terminal" in cleaned.entries[0].text
