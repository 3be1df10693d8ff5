"""Fingerprints: canonical URLs, normalised text, signatures stable across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cleaners.fingerprint import (
    DedupConfig,
    band_keys,
    canonical_url,
    content_hash,
    jaccard,
    normalise_text,
    shingle_hashes,
    shingles,
    signature,
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
from cleaners.fingerprint import DedupConfig, band_keys, normalise_text, shingle_hashes, signature
text = open(sys.argv[1], encoding="utf-8").read()
config = DedupConfig()
sig = signature(shingle_hashes(normalise_text(text), config.shingle_size), config)
print(json.dumps({"sig": sig, "keys": band_keys(sig, config)}))
"""


def test_signatures_are_identical_across_processes() -> None:
    text = SEED_ARTICLE.read_text("utf-8")
    sig = signature(shingle_hashes(normalise_text(text), CONFIG.shingle_size), CONFIG)
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
    assert band_keys(sig, CONFIG)[:2] == [-6548471792502480801, -2896339847408004071]
