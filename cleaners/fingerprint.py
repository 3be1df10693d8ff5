"""Fingerprints for deduplication: canonical URL, normalised-text hash, MinHash signature.

Everything here is deterministic across processes and machines: no Python `hash()`, a fixed seed,
SHA-1-based shingle hashing (datasketch's default) and little-endian bytes for band keys.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass
from importlib.metadata import version
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from datasketch import MinHash
from w3lib.url import canonicalize_url

_TRACKING = re.compile(
    r"^(?:utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|mc_cid|mc_eid|_ga|_gl|igshid|"
    r"ref_src|ref_url|cmpid|ncid|spm|share|from|smid|mkt_tok|oly_enc_id|oly_anon_id|vero_id|"
    r"_hsenc|_hsmi|hsctatracking)$",
    re.I,
)
_WS = re.compile(r"\s+")
# Not a letter, digit or combining mark: punctuation, symbols, controls, the underscore.
_NOT_WORD = re.compile(
    r"[^\w\s\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    r"\u06d6-\u06ed\u0900-\u0dff\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff"
    r"\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]|_"
)


@dataclass(frozen=True)
class DedupConfig:
    """Near-duplicate parameters; pinned in the database's `meta` table (see db.dedup)."""

    num_perm: int = 128
    seed: int = 1
    shingle_size: int = 5  # characters: works for Korean, Chinese and Japanese
    bands: int = 20
    rows: int = 6
    threshold: float = 0.8  # on the exact Jaccard of shingle sets, verified per candidate
    min_shingles: int = 50  # below this, near-dup detection is skipped (exact-only), and recorded
    hash_scheme: str = "sha1_32+blake2b64-le"
    datasketch_version: str = version("datasketch")

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_perm:
            raise ValueError("bands x rows must not exceed num_perm")
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")

    def pinned(self) -> dict[str, str]:
        """The values that must match between runs for stored band keys to stay comparable, and
        `dedup.fingerprint`, one hash of them all (checked cheaply inside every write)."""
        values = {f"dedup.{k}": str(v) for k, v in asdict(self).items()}
        values["dedup.fingerprint"] = self.fingerprint()
        return values

    def fingerprint(self) -> str:
        text = ";".join(f"{k}={v}" for k, v in sorted(asdict(self).items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def candidate_probability(self, jaccard: float) -> float:
        """Probability that a pair with this Jaccard shares at least one band (LSH S-curve)."""
        return float(1 - (1 - jaccard**self.rows) ** self.bands)


def canonical_url(url: str) -> str:
    """w3lib canonical form without tracking parameters or fragment. `file:` URLs pass through."""
    if url.startswith("file:"):
        return url
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)
    ]
    cleaned = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))
    return canonicalize_url(cleaned, keep_fragments=False)


def normalise_text(text: str) -> str:
    """NFKC, case-folded, punctuation and symbols dropped, whitespace collapsed to single spaces.

    Letters, digits and combining marks (Indic, Thai, Hebrew and Arabic vowel signs) are kept.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    return _WS.sub(" ", _NOT_WORD.sub(" ", text)).strip()


def content_hash(normalised: str) -> str:
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def shingles(normalised: str, size: int) -> set[str]:
    """Character n-grams of the normalised text (the whole text when shorter than n)."""
    if len(normalised) <= size:
        return {normalised} if normalised else set()
    return {normalised[i : i + size] for i in range(len(normalised) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def signature(shingle_set: set[str], config: DedupConfig) -> list[int]:
    """MinHash hash values over the shingles (a minimum: independent of set iteration order)."""
    mh = MinHash(num_perm=config.num_perm, seed=config.seed)
    mh.update_batch([s.encode("utf-8") for s in shingle_set])
    return [int(v) for v in mh.hashvalues]


def band_keys(sig: list[int], config: DedupConfig) -> list[int]:
    """One signed 64-bit key per band: BLAKE2b of the band's rows as little-endian uint64."""
    values = np.asarray(sig, dtype="<u8")
    keys = []
    for band in range(config.bands):
        chunk = values[band * config.rows : (band + 1) * config.rows].tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8, person=band.to_bytes(2, "little")).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys
