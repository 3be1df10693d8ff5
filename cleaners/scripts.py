"""Writing-system helpers: which script a text is mostly written in, and its language.

Scripts settle what a statistical detector gets wrong on short CJK strings: Hangul means Korean, any
kana means Japanese, Han alone means Chinese. Everything else goes to py3langid.
"""

from __future__ import annotations

import unicodedata
from functools import cache

_SAMPLE = 4000


def _script_of(ch: str) -> str:
    code = ord(ch)
    if 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "hangul"
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9D:
        return "kana"
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF:
        return "han"
    if ch.isalpha():
        name = unicodedata.name(ch, "")
        return "latin" if name.startswith("LATIN") else "other"
    return ""


def script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text[:_SAMPLE]:
        script = _script_of(ch)
        if script:
            counts[script] = counts.get(script, 0) + 1
    return counts


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
    sample = text[:_SAMPLE]
    counts = script_counts(sample)
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
    lang, prob = _identifier().classify(sample)  # type: ignore[attr-defined]
    return str(lang) if prob >= 0.5 else None
