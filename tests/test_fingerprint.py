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
from cleaners.fingerprint import DedupConfig, band_keys, normalise_text, shingles, signature
text = open(sys.argv[1], encoding="utf-8").read()
config = DedupConfig()
sig = signature(shingles(normalise_text(text), config.shingle_size), config)
print(json.dumps({"sig": sig, "keys": band_keys(sig, config)}))
"""


def test_signatures_are_identical_across_processes() -> None:
    text = SEED_ARTICLE.read_text("utf-8")
    sig = signature(shingles(normalise_text(text), CONFIG.shingle_size), CONFIG)
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
