"""The text near-duplicate detection compares: the article a reader sees, with variants folded.

Two pure steps, used by the fingerprint (in the cleaning workers and the writer alike), by the
verification of candidates and by `crawler dedup rebuild`, so all three see the same text:

- `fingerprint_text`: the stored text minus lines the cleaning rules or the byline parser recognise
  as chrome (a byline, an original headline, widget labels, a copyright line), wherever they stand.
  The store keeps what the cleaning keeps; a plain-text copy often keeps such a line (the rules fire
  only in the leading and trailing blocks, and a title line above them stops the leading block), so
  one copy would otherwise differ from another by its chrome.
- `fold_variants`: after `normalise_text` (NFKC, case-folded, punctuation dropped, whitespace
  collapsed), what is not a real difference between copies either: spaces between CJK characters
  (Korean word spacing, lines wrapped inside Chinese or Japanese text) and British against American
  spelling.

`cleaners.fingerprint.shingle_text` chains them under a scheme name pinned in the dedup
configuration (`DedupConfig.normalisation`): changing what these functions do changes stored band
keys, so it needs a new scheme name (and `crawler dedup rebuild`).
"""

from __future__ import annotations

import re

from cleaners.dates import parse_byline
from cleaners.rules import default_rules

# An original headline put above a translated or republished article.
_ORIGINAL_TITLE = re.compile(
    r"(?i)[\[(（【<〈《]?\s*(?:원제(?:목)?|원문\s?제목|원\s?기사\s?제목|original\s(?:title|headline)|"
    r"原題|原标题|原標題|原文(?:标题|標題)|originaltitel|titre\soriginal|título\soriginal)\s*"
    r"[:：\]）)】>〉》]\s*.{0,240}"
)
_MAX_ORIGINAL_TITLE = 300
# A chrome line is short; a longer line is body text whatever it mentions.
_MAX_CHROME_LINE = 400
# Never take more than this share of the text away: chrome is a few lines around a body, and a
# text that is mostly "chrome" (an article about copyright notices) keeps its own lines.
_MAX_DROPPED_SHARE = 0.5

_CJK = (
    r"\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
)
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}]) (?=[{_CJK}])")

# British spellings to American (after case folding), on Latin words only. Both sides of a pair
# are folded alike, so a fold that also changes an unrelated word ("four" -> "for") costs nothing.
# One pass finds the foldable endings; each match is a (stem, suffix) pair of groups.
_FOLDABLE = re.compile(
    r"(?<=[a-z])(?:(is)(ations?|e[sdr]?|ing|ers)|(ys)(e[sd]?|ing)"
    r"|(our)(s|ed|ing|ites?|ful|able|ers?)?|(tre)([sd]?)|(ll)(ed|ing|ers?)|(ence)()|(ogue)(s?)"
    r"|(mme)(s?))\b"
)
_AMERICAN = {"is": "iz", "ys": "yz", "our": "or", "tre": "ter", "ll": "l", "ence": "ense"}
_AMERICAN |= {"ogue": "og", "mme": "m"}
# The same endings as plain strings: `str.endswith` picks the few words worth the regex.
_ENDINGS = tuple(
    f"{stem}{suffix}"
    for stem, suffixes in (
        ("is", ("ation", "ations", "e", "es", "ed", "er", "ing", "ers")),
        ("ys", ("e", "es", "ed", "ing")),
        ("our", ("", "s", "ed", "ing", "ite", "ites", "ful", "able", "er", "ers")),
        ("tre", ("", "s", "d")),
        ("ll", ("ed", "ing", "er", "ers")),
        ("ence", ("",)),
        ("ogue", ("", "s")),
        ("mme", ("", "s")),
    )
    for suffix in suffixes
)
# Chrome stands around the body: only this many lines at each end are looked at (the cleaning has
# already removed the widget lines it recognises inside the body), which bounds the cost.
_EDGE_LINES = 6


def is_chrome_line(line: str) -> bool:
    """True when the whole line is a byline, an original headline, or what any default cleaning
    rule removes (widget labels, copyright, newsletter prompts...), in any position."""
    if len(line) > _MAX_CHROME_LINE:
        return False
    if parse_byline(line) is not None:
        return True
    if len(line) <= _MAX_ORIGINAL_TITLE and _ORIGINAL_TITLE.fullmatch(line):
        return True
    return any(rule.match(line) for rule in default_rules().rules)


def fingerprint_text(text: str) -> str:
    """The article a reader would call it: `text` (as stored) without the chrome lines among its
    first and last `_EDGE_LINES` lines. Returns `text` itself when there is nothing to drop."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    edges = set(range(min(_EDGE_LINES, len(lines))))
    edges.update(range(max(0, len(lines) - _EDGE_LINES), len(lines)))
    dropped = {i for i in edges if (line := lines[i].strip()) and is_chrome_line(line)}
    if not dropped:
        return text
    body = "\n".join(line for i, line in enumerate(lines) if i not in dropped)
    if len(body.strip()) < (1 - _MAX_DROPPED_SHARE) * len(text.strip()):
        return text
    return body


def _fold_ending(match: re.Match[str]) -> str:
    groups = match.groups()
    for i in range(0, len(groups), 2):
        if groups[i] is not None:
            return _AMERICAN[groups[i]] + (groups[i + 1] or "")
    return match.group()  # pragma: no cover - one alternative always matches


def fold_variants(normalised: str) -> str:
    """Fold what copies vary without changing the article: spaces between CJK characters and
    British spelling. `normalised` is `normalise_text` output."""
    folded = _CJK_SPACE.sub("", normalised)
    return " ".join(
        [_FOLDABLE.sub(_fold_ending, w) if w.endswith(_ENDINGS) else w for w in folded.split(" ")]
    )
