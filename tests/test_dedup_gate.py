"""Evaluation gate for near-duplicate detection (issue 21): the labelled generator of
bench/dedup_pairs.py on the Korean seed documents (the repository's own real text; the benchmark
adds English, Chinese and Japanese from the shared corpora), scored through the decision path.
Recall and false merges must not fall below the issue's floors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cleaners.fingerprint import DedupConfig
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import dedup_pairs as gen


@pytest.fixture(scope="module")
def scored() -> tuple[list[gen.Pair], list[int], list[gen.Distinct]]:
    documents = gen.load_documents(None, None, ROOT / "seeds" / "documents")
    bases = gen.load_bases(documents, per_language=40)
    assert {b.lang for b in bases} == {"ko"} and len(bases) >= 15
    pairs = gen.make_pairs(bases, seed=3, repeats=1)
    ids, distinct = gen.score(bases, pairs, DedupConfig())
    return pairs, ids, distinct


def test_recall_by_band_and_edit_meets_the_floors(
    scored: tuple[list[gen.Pair], list[int], list[gen.Distinct]],
) -> None:
    pairs, ids, _distinct = scored
    threshold = DedupConfig().threshold
    by_edit = gen.recall_table(pairs, ids, threshold, lambda p: p.edit)
    assert set(by_edit) == set(gen.EDITS)  # every edit made copies
    for bands, floor in ((("0.80-0.85", "0.85-0.90"), 0.95), (("0.90-1.00",), 0.99)):
        for edit, row in by_edit.items():
            found = sum(row.get(b, (0, 0))[0] for b in bands)
            total = sum(row.get(b, (0, 0))[1] for b in bands)
            if total >= 10:
                assert found / total >= floor, (edit, bands, found, total)
    everything = gen.recall_table(pairs, ids, threshold, lambda p: "all")["all"]
    found, total = (sum(everything[b][i] for b in ("0.80-0.85", "0.85-0.90")) for i in (0, 1))
    assert total >= 50 and found / total >= 0.95
    assert not any(gen.merged_wrongly(p, ids[p.base], threshold) for p in pairs)


def test_no_distinct_article_is_merged(
    scored: tuple[list[gen.Pair], list[int], list[gen.Distinct]],
) -> None:
    pairs, ids, distinct = scored
    threshold = DedupConfig().threshold
    assert {d.kind for d in distinct} == {"topic", "shared_passage", "template", "template_short"}
    assert [d for d in distinct if d.best is not None and d.best >= threshold] == []
    # heavily edited copies (J <= 0.5) are matched only where the edit is word spacing, which
    # the normalisation folds (the text is the same once spaces between Hangul are dropped)
    low = [p for p in pairs if p.reference <= 0.5 and gen.found_at(p, ids[p.base], threshold)]
    assert {p.edit for p in low} <= {"spacing", "combined"}


def test_reference_jaccard_is_the_issues_measure() -> None:
    a = "Ｈｅｌｌｏ,  World!\nAgain"
    assert gen.reference_shingles(a) == gen.reference_shingles("hello, world! again")
    assert gen.reference_jaccard("abcdefgh", "abcdefgh") == 1.0
    assert gen.reference_shingles("ab, cd") != gen.reference_shingles("ab cd")  # punctuation counts
    assert Path(gen.__file__).parent == ROOT / "bench"
