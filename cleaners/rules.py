"""The boilerplate rule engine: named, data-driven rules applied by position.

trafilatura finds the main block; what it leaves inside (widget labels, disclaimers, copyright lines,
machine-translation notices) is removed here. A rule may match only where it is allowed to: in the
leading block (lines before the body starts), the trailing block (lines after it ends) or as a whole
short line anywhere. Whole-line matching plus a length cap is what keeps a body sentence that merely
mentions "comment" or "disclaimer" safe.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from typing import Any

from cleaners.scripts import dominant_script

POSITIONS = ("leading", "trailing", "line")


class RuleError(ValueError):
    """A rule definition is malformed (bad pattern, unknown position, missing name)."""


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    where: frozenset[str]
    max_len: int = 40
    field: str | None = None
    flag: str | None = None
    next_field: str | None = None
    languages: tuple[str, ...] = ()
    cut: bool = False  # the pattern finds a notice inside a line: cut its sentences, keep the rest
    # a notice that may run on over a few short lines ("Disclaimer: ..." then "Updated at
    # 10:00."): in the trailing block, those lines go with it
    block: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """Build a rule from its TOML form; raise RuleError naming the rule and the problem."""
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise RuleError("a rule needs a non-empty 'name'")
        where = data.get("where", ["line"])
        where = [where] if isinstance(where, str) else list(where)
        unknown = set(where) - set(POSITIONS)
        if unknown or not where:
            raise RuleError(f"rule {name!r}: 'where' must be among {POSITIONS}, got {where}")
        try:
            pattern = re.compile(str(data["pattern"]))
        except KeyError:
            raise RuleError(f"rule {name!r}: missing 'pattern'") from None
        except re.error as exc:
            raise RuleError(f"rule {name!r}: bad pattern: {exc}") from None
        return cls(
            name=name,
            pattern=pattern,
            where=frozenset(where),
            max_len=int(data.get("max_len", 40)),
            field=data.get("field"),
            flag=data.get("flag"),
            next_field=data.get("next_field"),
            languages=tuple(data.get("languages", ())),
            cut=bool(data.get("cut", False)),
            block=bool(data.get("block", False)),
        )

    def match(self, line: str) -> re.Match[str] | None:
        if len(line) > self.max_len:
            return None
        if self.cut:
            return self.pattern.search(line)
        return self.pattern.fullmatch(line)

    def cut_from(self, line: str, *, trailing: bool) -> str:
        """`line` without the notice this rule found in it: the sentences that carry it, what
        little stands between two of them, and in the trailing block the short remark that ends
        it ("Please don't republish ..."); in a sentence too long to be a notice, only the
        notice's own words. A notice glued to a body paragraph goes, the paragraph stays."""
        sentences = _SENTENCES.split(line)
        hits = [i for i, sentence in enumerate(sentences) if self.pattern.search(sentence)]
        if not hits:
            return line
        first, last = hits[0], hits[-1]
        if len(" ".join(sentences[first : last + 1])) > _NOTICE_SENTENCE_MAX * len(hits):
            first, last = -1, -1  # notices far apart: each goes alone
        after = " ".join(sentences[last + 1 :])
        if trailing and last >= 0 and len(after) <= _NOTICE_REMARK_MAX:
            last = len(sentences) - 1
        kept = []
        for i, sentence in enumerate(sentences):
            if first <= i <= last and first >= 0:
                continue
            if i not in hits:
                kept.append(sentence)
            elif len(sentence) > _NOTICE_SENTENCE_MAX:
                kept.append(self.pattern.sub("", sentence))
        rest = " ".join(" ".join(kept).split())
        return rest if any(c.isalnum() for c in rest) else ""


# Sentence ends: after . ! ? and their full-width forms, after Korean "다." glued to the next
# sentence, and before a bracketed notice (`<저작권자 ⓒ ...>`, `[Copyright ...]`).
_SENTENCES = re.compile(
    r"(?<=[.!?])\s+|(?<=[。！？])\s*|(?<=다\.)(?=\S)|\s*(?=[<\[(（〈《【][^>\])）〉》】]{0,80}(?:ⓒ|©|Ⓒ|저작권|copyright))",
    re.I,
)
# A sentence longer than this that mentions a notice is body text: only the notice's words go.
_NOTICE_SENTENCE_MAX = 300
# After a notice at the end of the text, a remark this short belongs to it.
_NOTICE_REMARK_MAX = 120


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]

    def at(self, position: str) -> tuple[Rule, ...]:
        """Rules that may fire at `position`; whole-line rules also fire inside the end blocks."""
        return self._by_position[position]

    @cached_property
    def _by_position(self) -> dict[str, tuple[Rule, ...]]:
        return {
            p: tuple(r for r in self.rules if p in r.where or "line" in r.where) for p in POSITIONS
        }

    def customised(
        self, add: Iterable[Mapping[str, Any]] = (), disable: Iterable[str] = ()
    ) -> RuleSet:
        """A copy with rules disabled by name and extra rules appended (per-source overrides)."""
        disabled = set(disable)
        unknown = disabled - {r.name for r in self.rules}
        if unknown:
            raise RuleError(f"cannot disable unknown rule(s): {', '.join(sorted(unknown))}")
        kept = [r for r in self.rules if r.name not in disabled]
        extra = [Rule.from_dict(d) for d in add]
        names = [r.name for r in kept + extra]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise RuleError(f"duplicate rule name(s): {', '.join(sorted(dupes))}")
        return RuleSet(tuple(kept + extra))


@cache
def default_rules() -> RuleSet:
    """The shipped multilingual rule set (cleaners/default_rules.toml), parsed once per process."""
    text = resources.files("cleaners").joinpath("default_rules.toml").read_text("utf-8")
    return RuleSet(tuple(Rule.from_dict(d) for d in tomllib.loads(text)["rule"]))


@dataclass
class Cleaned:
    """Lines left after the rules, what the rules captured, and how often each fired."""

    lines: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    fired: Counter[str] = field(default_factory=Counter)
    removed_chars: Counter[str] = field(default_factory=Counter)  # per rule, so over-reach shows
    removed: list[tuple[str, str]] = field(default_factory=list)  # (rule, line it cut), to explain

    def fire(self, rule: Rule, line: str, rest: str = "") -> None:
        self.fired[rule.name] += 1
        self.removed_chars[rule.name] += len(line) - len(rest)
        self.removed.append((rule.name, line))


def _capture(rule: Rule, match: re.Match[str], line: str, cleaned: Cleaned) -> None:
    if rule.flag:
        cleaned.metadata[rule.flag] = True
    if rule.field:
        groups = {k: v for k, v in match.groupdict().items() if k.startswith("value") and v}
        value = next(iter(groups.values()), None) if groups else None
        if value is None and not match.groupdict():
            value = line
        if value and rule.field not in cleaned.metadata:
            cleaned.metadata[rule.field] = value.strip()


def _next_is_foreign(lines: Sequence[str], i: int, body_script: str) -> bool:
    """True when line i exists, is short, and is written in another script than the body."""
    if i >= len(lines) or not lines[i] or len(lines[i]) > 200:
        return False
    script = dominant_script(lines[i])
    return script not in (body_script, "other")


BLOCK_LINES = 2  # short lines a block notice may run on over
BLOCK_LINE_CHARS = 80


def _block_opened_above(
    lines: Sequence[str], start: int, end: int, trailing: Sequence[Rule]
) -> tuple[int, str] | None:
    """When the last lines before `end` are a few short lines right under a line that opens a
    block notice (a trailing `block` rule): the index of the first of those short lines, and the
    rule's name."""
    k, short = end, 0
    while k > start:
        line = lines[k - 1]
        if not line:
            k -= 1
            continue
        opener = next((r for r in trailing if r.block and r.match(line)), None)
        if opener is not None:
            return (k, opener.name) if short else None
        if len(line) > BLOCK_LINE_CHARS or short == BLOCK_LINES:
            return None
        short += 1
        k -= 1
    return None


def apply_rules(lines: Sequence[str], rules: RuleSet) -> Cleaned:
    """Strip boilerplate lines from `lines` (already trimmed; '' marks a paragraph break)."""
    cleaned = Cleaned(lines=[])
    body_script = dominant_script("\n".join(lines[:80]))
    n = len(lines)

    # Leading block: consume from the top while every non-blank line matches a leading rule.
    start, leading = 0, rules.at("leading")
    head: list[str] = []  # what is left of a line a rule cut a notice from
    tail: list[str] = []
    while start < n:
        line = lines[start]
        if not line:
            start += 1
            continue
        hit = next(((r, m) for r in leading if (m := r.match(line))), None)
        if hit is None:
            break
        rule, match = hit
        rest = rule.cut_from(line, trailing=False) if rule.cut else ""
        cleaned.fire(rule, line, rest)
        _capture(rule, match, line, cleaned)
        if rest:  # a notice cut from the body's first line: the body starts here
            head = [rest]
            start += 1
            break
        start += 1
        if rule.next_field and _next_is_foreign(lines, start, body_script):
            cleaned.metadata.setdefault(rule.next_field, lines[start])
            cleaned.removed_chars[rule.name] += len(lines[start])
            cleaned.removed.append((rule.name, lines[start]))
            start += 1

    # Trailing block: consume from the bottom the same way.
    end, trailing = n, rules.at("trailing")
    while end > start:
        line = lines[end - 1]
        if not line:
            end -= 1
            continue
        hit = next(((r, m) for r in trailing if (m := r.match(line))), None)
        if hit is None:
            opened = _block_opened_above(lines, start, end, trailing)
            if opened is None:
                break
            first, name = opened
            for k in range(first, end):  # the notice's short closing lines go with it
                if lines[k]:
                    cleaned.removed_chars[name] += len(lines[k])
                    cleaned.removed.append((name, lines[k]))
            end = first
            continue
        rule, match = hit
        rest = rule.cut_from(line, trailing=True) if rule.cut else ""
        cleaned.fire(rule, line, rest)
        _capture(rule, match, line, cleaned)
        end -= 1
        if rest:  # a notice cut from the body's last line: the body ends here
            tail = [rest]
            break

    # Whole short lines anywhere in the body.
    anywhere = [r for r in rules.at("line") if not r.cut]
    for line in [*head, *lines[start:end], *tail]:
        if line and len(line) <= 200:
            rule_hit = next((r for r in anywhere if r.match(line)), None)
            if rule_hit is not None:
                cleaned.fire(rule_hit, line)
                continue
        cleaned.lines.append(line)
    return cleaned
