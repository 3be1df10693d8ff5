"""Writing-system helpers: which script a text is mostly written in, and its language.

Scripts settle what a statistical detector gets wrong on short CJK strings: Hangul means Korean, any
kana means Japanese, Han alone means Chinese. Everything else goes to py3langid.
"""

from __future__ import annotations

import re
from functools import cache

_SAMPLE = 4000
_STRIDE_TARGET = 600  # longer samples are read every k-th character: shares stay the same
# py3langid costs time linear in length: a short sample first, a paragraph when that is unsure.
_LANGID_SAMPLE = 200
_LANGID_RETRY_SAMPLE = 1000
_LANGID_SURE = 0.95


_PATTERNS = {
    "hangul": re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]"),
    "kana": re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9d]"),
    "han": re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]"),
    "latin": re.compile(r"[a-zA-Z\u00c0-\u024f\u1e00-\u1eff]"),
}
_NOT_LETTER = re.compile(r"[\W\d_]+")
_ASCII_NOT_LETTERS = bytes(b for b in range(128) if not chr(b).isalpha())  # what _NOT_LETTER takes


def script_counts(text: str) -> dict[str, int]:
    """Letters per script in the first few thousand characters ('other' for the rest), read at a
    stride of k characters when that sample is long (counts are then about 1/k of the letters)."""
    sample = text[:_SAMPLE]
    if len(sample) > _STRIDE_TARGET:
        sample = sample[:: len(sample) // _STRIDE_TARGET]
    if sample.isascii():  # the common case, counted on bytes: every letter is a Latin one
        letters = len(sample.encode("ascii").translate(None, _ASCII_NOT_LETTERS))
        return {"latin": letters} if letters else {}
    rest = _NOT_LETTER.sub("", sample)
    letters = len(rest)
    if rest.isascii():  # only the punctuation or digits were not ASCII
        return {"latin": letters} if letters else {}
    counts = {}
    for name, pattern in _PATTERNS.items():
        rest, counts[name] = pattern.subn("", rest) if rest else (rest, 0)
    counts["other"] = letters - sum(counts.values())
    return {k: v for k, v in counts.items() if v}


def dominant_script(text: str) -> str:
    """'hangul', 'kana', 'han', 'latin' or 'other' (also for text with no letters)."""
    counts = script_counts(text)
    if not counts:
        return "other"
    # Japanese mixes kana and Han: any real share of kana makes the text Japanese.
    if counts.get("kana", 0) >= 0.1 * sum(counts.values()):
        return "kana"
    return max(counts, key=lambda k: counts[k])


@cache
def _identifier() -> object:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, or None when the text gives too little to tell."""
    counts = script_counts(text)
    letters = sum(counts.values())
    if letters < 2:
        return None
    if counts.get("hangul", 0) >= 0.3 * letters:
        return "ko"
    if counts.get("kana", 0) >= 0.05 * letters:
        return "ja"
    if counts.get("han", 0) >= 0.5 * letters:
        return "zh"
    if letters < 12:
        return None
    identifier = _identifier()
    lang, prob = identifier.classify(text[:_LANGID_SAMPLE])  # type: ignore[attr-defined]
    if prob < _LANGID_SURE and len(text) > _LANGID_SAMPLE:
        lang, prob = identifier.classify(text[:_LANGID_RETRY_SAMPLE])  # type: ignore[attr-defined]
    return str(lang) if prob >= 0.5 else None
