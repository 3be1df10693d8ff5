"""The run report: what happened to every input, by state and reason, and which rules fired."""

from __future__ import annotations

import logging
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from db.vocabulary import STATES, Outcome

# Exit statuses of load, crawl and run (documented in docs/operating.md).
EXIT_OK = 0
EXIT_ERROR = 1  # not run, or stopped on an error (database, configuration)
EXIT_USAGE = 2  # a bad option, a missing path
EXIT_FAILURES = 3  # finished; some inputs failed (retried by the next run)
EXIT_UNREACHABLE = 4  # finished; the source could not be reached (every fetch failed)
EXIT_BROKEN = 5  # finished; the source yielded no article although its last good run did
EXIT_BUSY = 75  # not run: another process is running this source (EX_TEMPFAIL)
EXIT_INTERRUPTED = 130  # 128 + SIGINT; a run stopped by SIGTERM exits 143 (128 + SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Stopped by a signal (SIGINT, SIGTERM): the exit status is 128 + its number."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_NETWORK = ("fetch_error", "http_5", "http_429")
# Refusals by our own rules: a source whose every request is refused is unreachable too.
_REFUSED = (
    "private_address",
    "bad_scheme",
    "unresolvable",
    "robots_disallowed",
    "robots_unreachable",
)
log = logging.getLogger("crawler.progress")

# How runs show progress: "line" rewrites one status line on the terminal (stderr), "log" writes
# a one-line INFO record every PROGRESS_LOG_SECONDS (for cron and systemd logs), "off" neither
# (a progress bar is shown instead, or --quiet). The CLI chooses.
PROGRESS = {"mode": "off"}
PROGRESS_LOG_SECONDS = 30.0
COMMIT_SAMPLE = 10_000  # store timings kept per run for the percentiles in the report


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
    removed: Counter[str] = field(default_factory=Counter)  # characters each rule removed
    skipped: Counter[str] = field(default_factory=Counter)  # seen but not accepted, by reason
    exact_only: int = 0  # articles too short for near-duplicate detection
    fetched: int | None = None  # crawls: HTTP responses received (robots.txt, sitemaps included)
    coverage: dict[str, float] = field(default_factory=dict)  # share of stored articles with it
    found_before: int | None = None  # articles found by this source's last finished run
    commits: int = 0  # store transactions
    commit_ms: list[float] = field(default_factory=list)  # their durations (a sample)
    _shown: float = field(default_factory=time.monotonic)  # when progress was last shown
    _on_screen: bool = False  # a status line is on the terminal
    started: float = field(default_factory=time.monotonic)
    signal: int | None = None  # the signal that interrupted the run (SIGINT, SIGTERM)
    duration: float = 0.0

    def add(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.states[outcome.state] += 1
            if outcome.reason:
                self.reasons[(outcome.state, outcome.reason)] += 1

    def close(self, status: str) -> None:
        if self._on_screen:
            self._on_screen = False
            sys.stderr.write("\r\033[K")  # the status line gives way to the report
            sys.stderr.flush()
        self.status = status
        self.duration = time.monotonic() - self.started

    def progress_line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.inputs / elapsed if elapsed > 0 else 0.0
        counts = ", ".join(f"{s} {self.states.get(s, 0)}" for s in STATES)
        return (
            f"run {self.run_id} [{self.source}] {self.inputs} inputs: {counts}; {rate:.1f} inputs/s"
        )

    def tick(self) -> None:
        """Show progress if it is time (called after every recorded outcome)."""
        mode = PROGRESS["mode"]
        if mode == "off":
            return
        now = time.monotonic()
        if now - self._shown < (1.0 if mode == "line" else PROGRESS_LOG_SECONDS):
            return
        self._shown = now
        if mode == "line":
            self._on_screen = True
            sys.stderr.write("\r\033[K" + self.progress_line())
            sys.stderr.flush()
        else:
            log.info("%s", self.progress_line())

    def timed_commit(self, started: float) -> None:
        """Record how long one unit of work took to store (kept: a bounded, even sample)."""
        elapsed = (time.perf_counter() - started) * 1000
        self.commits += 1
        if len(self.commit_ms) < COMMIT_SAMPLE:
            self.commit_ms.append(elapsed)
        else:  # reservoir sampling keeps an even sample of any number of commits
            slot = random.randrange(self.commits)
            if slot < COMMIT_SAMPLE:
                self.commit_ms[slot] = elapsed

    def commit_percentiles(self) -> dict[str, float]:
        if not self.commit_ms:
            return {}
        ordered = sorted(self.commit_ms)
        pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)  # noqa: E731
        return {"p50": pick(0.5), "p99": pick(0.99), "max": round(ordered[-1], 2)}

    def found(self) -> int:
        """Articles this run found: stored, unchanged or duplicates of stored ones (and archive
        records an earlier run already recorded)."""
        found = sum(self.states.get(s, 0) for s in ("stored", "unchanged", "duplicate"))
        return found + self.skipped.get("archive_done", 0)

    def unreachable(self) -> bool:
        """Nothing found, and every input failed on the network or was refused by the address
        policy or robots.txt: the source could not be reached at all."""
        if self.found() or not self.reasons:
            return False
        return all(
            (state == "failed" and reason.startswith(_NETWORK))
            or (state == "rejected" and reason in _REFUSED)
            for state, reason in self.reasons
        )

    def warnings(self) -> list[str]:
        notes = []
        if self.unreachable():
            why = ", ".join(f"{r} {n}" for (_s, r), n in sorted(self.reasons.items()))
            hint = (
                " (a private address: see allow_private / --allow-private)"
                if any(r == "private_address" for _s, r in self.reasons)
                else ""
            )
            notes.append(f"source {self.source} unreachable: {why}{hint}")
        elif self.found() == 0 and (self.found_before or 0) > 0:
            notes.append(
                f"source {self.source} yielded no article (its last good run found "
                f"{self.found_before}): layout changed?"
            )
        return notes

    def exit_code(self) -> int:
        """The run's exit status, from its ledger counts: see EXIT_* above."""
        if self.status == "interrupted":
            return 128 + self.signal if self.signal else EXIT_INTERRUPTED
        if self.unreachable():
            return EXIT_UNREACHABLE
        if self.found() == 0 and (self.found_before or 0) > 0:
            return EXIT_BROKEN
        return EXIT_FAILURES if self.states.get("failed") else EXIT_OK

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
            "rules_removed_chars": dict(sorted(self.removed.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "exact_only": self.exact_only,
            "fetched": self.fetched,
            "commits": self.commits,
            "commit_ms": self.commit_percentiles(),
            "coverage": self.coverage,
            "warnings": self.warnings(),
            "exit_code": self.exit_code(),
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
        if self.removed:  # so that a rule that takes too much shows
            lines.append(f"  characters removed by rule: {_pairs(self.removed)}")
        if self.fetched is not None:
            lines.append(f"  responses received: {self.fetched}")
        if timing := self.commit_percentiles():
            lines.append(
                f"  store transactions: {self.commits}, p50 {timing['p50']} ms, "
                f"p99 {timing['p99']} ms, "
                f"max {timing['max']} ms"
            )
        if self.coverage:
            shares = ", ".join(f"{k} {v:.0%}" for k, v in self.coverage.items())
            lines.append(f"  field coverage of stored articles: {shares}")
        lines += [f"  warning: {w}" for w in self.warnings()]
        return "\n".join(lines)


def _pairs(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))
