"""The run report: what happened to every input, by state and reason, and which rules fired."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from db.store import STATES, Outcome


@dataclass
class RunReport:
    source: str
    run_id: int = 0
    status: str = "running"
    inputs: int = (
        0  # accepted inputs (files or fetched URLs); split entries are counted in `states`
    )
    states: Counter[str] = field(default_factory=Counter)
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    fired: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # seen but not accepted, by reason
    exact_only: int = 0  # articles too short for near-duplicate detection
    started: float = field(default_factory=time.monotonic)
    duration: float = 0.0

    def add(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.states[outcome.state] += 1
            if outcome.reason:
                self.reasons[(outcome.state, outcome.reason)] += 1

    def close(self, status: str) -> None:
        self.status = status
        self.duration = time.monotonic() - self.started

    def as_dict(self) -> dict[str, Any]:
        by_reason: dict[str, dict[str, int]] = {}
        for (state, reason), n in sorted(self.reasons.items()):
            by_reason.setdefault(state, {})[reason] = n
        return {
            "source": self.source,
            "run_id": self.run_id,
            "status": self.status,
            "inputs": self.inputs,
            "items": dict(sorted(self.states.items())),
            "reasons": by_reason,
            "rules_fired": dict(sorted(self.fired.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "exact_only": self.exact_only,
            "duration_s": round(self.duration, 3),
            "inputs_per_s": round(self.inputs / self.duration, 2) if self.duration else None,
        }

    def render(self) -> str:
        d = self.as_dict()
        rate = f", {d['inputs_per_s']} inputs/s" if d["inputs_per_s"] else ""
        lines = [
            f"run {self.run_id} [{self.source}] {self.status} in {self.duration:.1f}s: "
            f"{self.inputs} inputs -> {sum(self.states.values())} items{rate}"
        ]
        for state in STATES:
            n = self.states.get(state, 0)
            detail = d["reasons"].get(state, {})
            extra = f"  ({', '.join(f'{k} {v}' for k, v in detail.items())})" if detail else ""
            lines.append(f"  {state:<10} {n:>7}{extra}")
        if self.skipped:
            lines.append(
                f"  {'skipped':<10} {sum(self.skipped.values()):>7}  ({_pairs(self.skipped)})"
            )
        if self.exact_only:
            lines.append(f"  exact-only dedup (text too short for MinHash): {self.exact_only}")
        lines.append(f"  rules fired: {_pairs(self.fired) if self.fired else 'none'}")
        return "\n".join(lines)


def _pairs(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))
