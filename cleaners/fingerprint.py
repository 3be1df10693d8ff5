"""Fingerprints for deduplication: canonical URL, normalised-text hash, MinHash signature.

Everything here is deterministic across processes and machines: no Python `hash()`, a fixed seed,
vectorised 64-bit shingle hashing of UTF-32-LE code points (see `shingle_hashes`), datasketch's
MinHash permutations, and little-endian bytes for band keys.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from functools import cache, lru_cache
from importlib.metadata import version
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from w3lib.url import canonicalize_url

from cleaners.dedup_text import fingerprint_text, fold_variants

if TYPE_CHECKING:
    from collections.abc import Callable

    from datasketch import MinHash

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

# What near-duplicate shingles are taken of (`shingle_text`), pinned as `DedupConfig.normalisation`.
PLAIN = "plain"
ARTICLE_V1 = "article-v1"
NORMALISATIONS = (PLAIN, ARTICLE_V1)


@dataclass(frozen=True)
class DedupConfig:
    """Near-duplicate parameters; pinned in the database's `meta` table (see db.dedup)."""

    num_perm: int = 128
    seed: int = 1
    shingle_size: int = 5  # characters: works for Korean, Chinese and Japanese
    bands: int = 20
    rows: int = 5
    threshold: float = 0.7  # on the exact Jaccard of shingle sets, verified per candidate
    min_shingles: int = 50  # below this, near-dup detection is skipped (exact-only), and recorded
    # What the shingles are taken of (`shingle_text`): "article-v1" (the article without chrome
    # lines, CJK spacing and British spelling folded; issue 21) or "plain" (the stored text).
    normalisation: str = "article-v1"
    hash_scheme: str = "fnv64-splitmix64-utf32le-low32+affine32+blake2b64-le"
    datasketch_version: str = version("datasketch")

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_perm:
            raise ValueError("bands x rows must not exceed num_perm")
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(
                f"unknown dedup normalisation {self.normalisation!r}; "
                f"known: {', '.join(NORMALISATIONS)}"
            )

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


@lru_cache(maxsize=4096)
def canonical_url(url: str) -> str:
    """w3lib canonical form without tracking parameters or fragment. `file:` URLs pass through.
    Cached: a crawl asks for the same URL's form several times (the incremental check, the
    repeated-input check, the article, the store)."""
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


def shingle_text(text: str, normalisation: str = ARTICLE_V1) -> str:
    """The string whose character shingles near-duplicate detection compares (its signature and
    the exact Jaccard that verifies a candidate), from an article's stored text.

    "article-v1": the article a reader would call it (`cleaners.dedup_text.fingerprint_text`: no
    byline, original-headline, widget or copyright lines), normalised, then with spaces between CJK
    characters dropped and British spelling folded (`fold_variants`). "plain": `normalise_text`.
    The content hash is not affected: it stays the hash of the stored text's `normalise_text`.
    """
    return _shingle_text(text, normalisation)[1]


def _shingle_text(text: str, normalisation: str) -> tuple[str, str]:
    """(`normalise_text(text)`, `shingle_text(text)`), normalising once when no line is dropped."""
    normalised = normalise_text(text)
    if normalisation == PLAIN:
        return normalised, normalised
    if normalisation == ARTICLE_V1:
        article = fingerprint_text(text)
        return normalised, fold_variants(normalised if article is text else normalise_text(article))
    raise ValueError(f"unknown dedup normalisation {normalisation!r}")


def text_shingles(text: str, config: DedupConfig) -> np.ndarray:
    """The shingle-hash set of an article's stored text under `config` (see `shingle_text`)."""
    return shingle_hashes(shingle_text(text, config.normalisation), config.shingle_size)


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


_FNV_PRIME = np.uint64(0x100000001B3)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_MAX_HASH = np.uint64((1 << 32) - 1)


def shingle_hashes(normalised: str, size: int) -> np.ndarray:
    """The set of character n-grams of the normalised text as sorted unique 64-bit hashes.

    Vectorised: a polynomial hash of each window of code points, finished with the splitmix64
    mixer. Code points come from UTF-32-LE bytes, so the result is the same on every machine.
    """
    codes = np.frombuffer(normalised.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    n = len(codes)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    width = min(size, n)
    count = n - width + 1
    h = np.zeros(count, dtype=np.uint64)
    for k in range(width):
        h = h * _FNV_PRIME + codes[k : k + count]  # wraps modulo 2**64, as intended
    h ^= h >> np.uint64(30)
    h *= _MIX1
    h ^= h >> np.uint64(27)
    h *= _MIX2
    h ^= h >> np.uint64(31)
    return _sorted_unique(h)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """`np.unique(values)` for a 1-D array, by sorting in place and dropping repeats: numpy 2.3+
    takes a hash-table path for integers that is about 20 times slower on arrays of this size."""
    values.sort()
    keep = np.empty(len(values), dtype=bool)
    keep[:1] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def hashed_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard of two shingle-hash sets (sorted unique arrays)."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


MINHASH_SCHEME = "affine32"  # datasketch's permutation scheme, named so an upgrade cannot change it


def _identity(value: int) -> int:
    return value


@cache
def _datasketch() -> tuple[type[MinHash], Callable[[np.ndarray, int], np.ndarray] | None]:
    """datasketch's MinHash and the pre-mix it applies to every hash value (None in a release
    without it), imported on first use: datasketch's package imports SciPy (about 0.45 s), which a
    process that never fingerprints (the writer, when the workers fingerprint) need not pay. The
    cleaning workers' fork server imports it once for all of them (cleaners/warm.py)."""
    from datasketch import MinHash

    try:
        from datasketch.minhash import _fmix
    except ImportError:  # pragma: no cover - a datasketch release without it
        _fmix = None
    return MinHash, _fmix


@cache
def _template(num_perm: int, seed: int) -> MinHash:
    """A MinHash whose permutations are reused (they depend only on num_perm and seed)."""
    minhash = _datasketch()[0]
    return minhash(num_perm=num_perm, seed=seed, hashfunc=_identity, scheme=MINHASH_SCHEME)


# Shingles per step of the vectorised MinHash: a (1024 x num_perm) block fits in cache.
_CHUNK = 1024


def signature(hashes: np.ndarray, config: DedupConfig) -> list[int]:
    """datasketch MinHash values of a shingle-hash set, fed the low 32 bits of each hash (the
    hashing is ours and vectorised; the permutations and their arithmetic are datasketch's).

    `MinHash.update_batch` wants a Python list it converts back to an array; this applies the same
    steps (its pre-mix `_fmix`, its permutations, the minimum per permutation) to the array
    directly, which saves about a third of the time. tests/test_fingerprint.py checks the result
    against datasketch's own `update`; should a datasketch release move `_fmix`, `update_batch`
    is used."""
    minhash, _fmix = _datasketch()
    template = _template(config.num_perm, config.seed)
    low = hashes & _MAX_HASH
    if _fmix is None or template.scheme != MINHASH_SCHEME:
        mh = minhash(
            num_perm=config.num_perm,
            seed=config.seed,
            hashfunc=_identity,
            permutations=template.permutations,
            scheme=template.scheme,
        )
        if len(hashes):
            mh.update_batch(low.tolist())
        return [int(v) for v in mh.hashvalues]
    a, b = template.permutations
    values = template.hashvalues.copy()
    mixed = _fmix(low.astype(values.dtype).reshape(-1, 1), 32)
    for start in range(0, len(mixed), _CHUNK):
        np.minimum(values, (mixed[start : start + _CHUNK] * a + b).min(axis=0), out=values)
    return values.tolist()


# Shingle sets up to this size travel with a fingerprint (8 bytes a shingle: 512 KiB); a larger
# text's set is computed again where it is needed, so a huge page cannot bloat the worker's reply.
MAX_SHIPPED_SHINGLES = 65536


@dataclass(frozen=True)
class Fingerprint:
    """What dedup needs of one article's text: its content hash and MinHash signature, and the
    shingle-hash set behind the signature (`shingle_hashes`) so that verifying a near-duplicate
    candidate does not hash the text again (None: not kept, compute it when needed)."""

    content_hash: str
    signature: list[int] | None  # None: too few shingles for near-duplicate detection
    shingles: np.ndarray | None = field(default=None, compare=False, repr=False)


def fingerprint(text: str, config: DedupConfig) -> Fingerprint:
    """Content hash of the stored text (exact dedup: the same text, as normalised), signature of
    its `shingle_text` (near dedup: the same article, whatever chrome or spelling it carries)."""
    normalised, shingled = _shingle_text(text, config.normalisation)
    digest = content_hash(normalised)
    hashes = shingle_hashes(shingled, config.shingle_size)
    if len(hashes) < config.min_shingles:
        return Fingerprint(digest, None)
    kept = hashes if len(hashes) <= MAX_SHIPPED_SHINGLES else None
    return Fingerprint(digest, signature(hashes, config), kept)


def band_keys(sig: list[int], config: DedupConfig) -> list[int]:
    """One signed 64-bit key per band: BLAKE2b of the band's rows as little-endian uint64."""
    values = np.asarray(sig, dtype="<u8")
    keys = []
    for band in range(config.bands):
        chunk = values[band * config.rows : (band + 1) * config.rows].tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8, person=band.to_bytes(2, "little")).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys
