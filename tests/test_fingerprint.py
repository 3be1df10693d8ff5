"""Fingerprints: canonical URLs, normalised text, signatures stable across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cleaners.fingerprint import (
    DedupConfig,
    band_keys,
    canonical_url,
    content_hash,
    jaccard,
    normalise_text,
    shingle_hashes,
    shingle_text,
    shingles,
    signature,
    text_shingles,
)
from tests.conftest import SEED_ARTICLE

CONFIG = DedupConfig()


def test_canonical_url_drops_tracking_and_fragment() -> None:
    a = canonical_url("https://News.Example.com/a/b?utm_source=x&id=7&fbclid=abc&gclid=1#top")
    b = canonical_url("https://news.example.com/a/b?id=7")
    assert a == b == "https://news.example.com/a/b?id=7"
    assert canonical_url("https://x.example/p?b=2&a=1") == canonical_url(
        "https://x.example/p?a=1&b=2"
    )
    assert canonical_url("file:///tmp/a.txt") == "file:///tmp/a.txt"


def test_normalisation_ignores_case_width_punctuation_and_spacing() -> None:
    assert normalise_text("Ｈｅｌｌｏ,  World!!\n\tAgain") == normalise_text("hello world again")
    assert content_hash(normalise_text("가나다, 라마!")) == content_hash(
        normalise_text("가나다 라마")
    )
    assert content_hash(normalise_text("a b")) != content_hash(normalise_text("ab"))


def test_character_shingles_work_for_cjk() -> None:
    a = shingles(normalise_text("미국 예외주의의 전면적 퇴조와 달러의 미래"), 5)
    b = shingles(normalise_text("미국 예외주의의 전면적 퇴조와 엔화의 미래"), 5)
    assert 0.5 < jaccard(a, b) < 1.0


def test_lsh_parameters_favour_recall_at_the_threshold() -> None:
    assert CONFIG.candidate_probability(0.8) > 0.99
    assert CONFIG.candidate_probability(0.3) < 0.05


_CHILD = """
import json, sys
from cleaners.fingerprint import DedupConfig, band_keys, fingerprint
text = open(sys.argv[1], encoding="utf-8").read()
config = DedupConfig()
sig = fingerprint(text, config).signature
print(json.dumps({"sig": sig, "keys": band_keys(sig, config)}))
"""


def test_signatures_are_identical_across_processes() -> None:
    text = SEED_ARTICLE.read_text("utf-8")
    sig = signature(text_shingles(text, CONFIG), CONFIG)
    expected = {"sig": sig, "keys": band_keys(sig, CONFIG)}
    for seed in ("0", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(SEED_ARTICLE)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert json.loads(out.stdout) == expected
    assert len(expected["keys"]) == CONFIG.bands


def test_hashed_shingles_are_the_shingle_set() -> None:
    from cleaners.fingerprint import hashed_jaccard

    a_text = normalise_text(SEED_ARTICLE.read_text("utf-8"))
    b_text = a_text.replace("달러", "엔화")
    a, b = shingles(a_text, 5), shingles(b_text, 5)
    ha, hb = shingle_hashes(a_text, 5), shingle_hashes(b_text, 5)
    assert (len(ha), len(hb)) == (len(a), len(b))  # no collisions on real text
    assert hashed_jaccard(ha, hb) == jaccard(a, b)
    assert len(shingle_hashes("abc", 5)) == 1 and len(shingle_hashes("", 5)) == 0


def test_signature_is_datasketchs_minhash_of_the_same_hashes() -> None:
    from datasketch import MinHash

    hashes = shingle_hashes(normalise_text(SEED_ARTICLE.read_text("utf-8")), 5)
    reference = MinHash(
        num_perm=CONFIG.num_perm, seed=CONFIG.seed, hashfunc=lambda h: h, scheme="affine32"
    )
    for h in hashes:  # one by one, fresh permutations: the reused ones must change nothing
        reference.update(int(h) & 0xFFFFFFFF)
    assert signature(hashes, CONFIG) == [int(v) for v in reference.hashvalues]


def test_signatures_are_pinned_across_releases_and_machines() -> None:
    # Golden values: a change here silently breaks every stored index. If the scheme must change,
    # change DedupConfig.hash_scheme too, so databases refuse to mix schemes until rebuilt.

    hashes = shingle_hashes(normalise_text("Hello, world! 안녕하세요 세계. 你好，世界。"), 5)
    sig = signature(hashes, CONFIG)
    assert len(hashes) == 22
    assert sig[:4] == [2488804, 243157687, 5035187, 145295844]
    assert band_keys(sig, CONFIG)[:2] == [-7395611537548648571, 7895913909990882956]  # 5 rows
    # The article-v1 shingle text: a change here needs a new DedupConfig.normalisation name.
    text = "Hello, colourful world! 안녕하세요 세계. 你好，世界。\n좋아요 12"
    assert shingle_text(text) == "hello colorful world 안녕하세요세계你好世界"
    assert signature(text_shingles(text, CONFIG), CONFIG)[:2] == [2488804, 39388642]


def test_shingle_sets_are_sorted_and_unique_like_numpys() -> None:
    from cleaners.fingerprint import _sorted_unique

    rng = np.random.default_rng(5)
    for values in [
        np.empty(0, dtype=np.uint64),
        np.array([7], dtype=np.uint64),
        np.full(50, 3, dtype=np.uint64),
        rng.integers(0, 40, 1000, dtype=np.uint64),  # many repeats
        rng.integers(0, 2**64 - 1, 5000, dtype=np.uint64, endpoint=True),
    ]:
        assert np.array_equal(_sorted_unique(values.copy()), np.unique(values))
    text = normalise_text("a rose is a rose is a rose " * 40)  # a text that repeats its shingles
    assert np.array_equal(shingle_hashes(text, 5), np.unique(shingle_hashes(text, 5)))
    assert len(shingle_hashes(text, 5)) == len(shingles(text, 5))


def test_a_fingerprint_keeps_its_shingle_set_unless_it_is_huge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cleaners import fingerprint as fp

    text = SEED_ARTICLE.read_text("utf-8")
    kept = fp.fingerprint(text, CONFIG)
    assert kept.shingles is not None
    assert np.array_equal(kept.shingles, text_shingles(text, CONFIG))
    assert fp.fingerprint("too short", CONFIG).shingles is None  # no signature, no lookup
    monkeypatch.setattr(fp, "MAX_SHIPPED_SHINGLES", len(kept.shingles) - 1)
    huge = fp.fingerprint(text, CONFIG)
    assert huge.shingles is None and huge == kept  # the same fingerprint, without the set


def test_near_duplicate_lookup_uses_the_kept_shingles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verification with the shingle set the fingerprint kept gives the answer hashing the text
    again gives, without hashing it: the writer's core is what a run on every core waits for."""
    from cleaners.fingerprint import fingerprint
    from db import dedup
    from db.connect import connect

    original = SEED_ARTICLE.read_text("utf-8")
    copy = original.replace("달러", "엔화")
    db = connect(str(tmp_path / "t.db"))
    sig = fingerprint(original, CONFIG).signature
    assert sig is not None
    db.execute(
        "INSERT INTO articles(url, origin, source, text, content_hash, stored_at)"
        " VALUES ('u', 'o', 's', ?, 'h', 't')",
        [original],
    )
    dedup.insert_keys(db, 1, band_keys(sig, CONFIG))
    probe = fingerprint(copy, CONFIG)
    assert probe.signature is not None
    keys = band_keys(probe.signature, CONFIG)
    recomputed = dedup.find_near_duplicate(db, keys, copy, CONFIG)
    assert recomputed is not None and recomputed.similarity >= CONFIG.threshold
    dedup._shingle_cache.clear()
    dedup.find_near_duplicate(db, keys, copy, CONFIG, shingles=probe.shingles)  # warm the cache

    def refuse(*_args: object) -> np.ndarray:
        raise AssertionError("the new text was hashed again")

    monkeypatch.setattr(dedup, "text_shingles", refuse)
    assert dedup.find_near_duplicate(db, keys, copy, CONFIG, shingles=probe.shingles) == recomputed
    db.close()
