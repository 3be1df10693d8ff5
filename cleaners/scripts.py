"""Writing-system helpers: which script a text is mostly written in, and its language.

Scripts settle what a statistical detector gets wrong on short CJK strings: Hangul means Korean, any
kana means Japanese, Han alone means Chinese. Everything else goes to py3langid.
"""

from __future__ import annotations

import re
from functools import cache

_SAMPLE = 4000
_LANGID_SAMPLE = 600  # py3langid costs time linear in length; a paragraph decides reliably


_PATTERNS = {
    "hangul": re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]"),
    "kana": re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9d]"),
    "han": re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]"),
    "latin": re.compile(r"[a-zA-Z\u00c0-\u024f\u1e00-\u1eff]"),
}
_LETTER = re.compile(r"[^\W\d_]")


def script_counts(text: str) -> dict[str, int]:
    """Letters per script in the first few thousand characters ('other' for the rest)."""
    sample = text[:_SAMPLE]
    counts = {name: len(p.findall(sample)) for name, p in _PATTERNS.items()}
    counts["other"] = max(0, len(_LETTER.findall(sample)) - sum(counts.values()))
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
    lang, prob = _identifier().classify(sample[:_LANGID_SAMPLE])  # type: ignore[attr-defined]
    return str(lang) if prob >= 0.5 else None
