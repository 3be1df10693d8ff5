"""Running configured sources unattended: which are due, one process per source, one summary.

`crawler run` runs every configured source (or those named); `--due` only those whose cron
schedule has come round since their last successful run. Each source runs as its own `crawler load`
or `crawler crawl` process, so a crash in one cannot take the others down, and each takes its
source's lock (db/locks.py): a source that is still running from an earlier invocation is skipped
under `--due` (the next invocation will find it due if its run failed) and refused otherwise.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import croniter
from sqlite_utils import Database

from crawler.config import Source
from crawler.report import (
    EXIT_BROKEN,
    EXIT_BUSY,
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    Interrupted,
)
from db import runs
from db.locks import is_locked

log = logging.getLogger(__name__)


def is_due(schedule: str, last_success: datetime | None, now: datetime) -> bool:
    """True when the cron `schedule` (read in UTC) has fired after `last_success` and by `now`.
    A source that never ran successfully is due."""
    if last_success is None:
        return True
    fired: datetime = croniter(schedule, last_success.astimezone(UTC)).get_next(datetime)
    return fired <= now.astimezone(UTC)


def next_due(schedule: str, last_success: datetime | None, now: datetime) -> datetime:
    base = last_success if last_success is not None else now
    fired: datetime = croniter(schedule, base.astimezone(UTC)).get_next(datetime)
    return fired


def last_success(db: Database, source: str) -> datetime | None:
    """When the source's last finished run started (interrupted and failed runs do not count)."""
    started = runs.last_success(db, source)
    return datetime.fromisoformat(started) if started else None


@dataclass
class Planned:
    source: Source
    action: str  # "run", "not due", "no schedule", "busy"
    detail: str = ""
    exit_code: int | None = None


def plan(
    db: Database, db_path: str, sources: list[Source], *, due_only: bool, now: datetime
) -> list[Planned]:
    """What `crawler run` will do with each source, in the order given."""
    planned = []
    for source in sources:
        if due_only and source.schedule is None:
            planned.append(Planned(source, "no schedule", "run it by name"))
            continue
        if due_only and source.schedule is not None:
            last = last_success(db, source.name)
            if not is_due(source.schedule, last, now):
                when = next_due(source.schedule, last, now).isoformat()
                planned.append(Planned(source, "not due", f"next at {when}"))
                continue
        if is_locked(db_path, source.name):
            planned.append(Planned(source, "busy", "already running in another process"))
            continue
        planned.append(Planned(source, "run"))
    return planned


def command_for(
    source: Source,
    db_path: str,
    sources_file: str,
    logging_args: list[str] = (),  # type: ignore[assignment]
) -> list[str]:
    base = [sys.executable, "-m", "crawler.entry", *logging_args]
    if source.web is None:
        return [*base, "load", *source.paths, "--source", source.name,
                "--db", db_path, "--sources", sources_file]  # fmt: skip
    return [*base, "crawl", source.name, "--db", db_path, "--sources", sources_file]


def execute(
    planned: list[Planned], db_path: str, sources_file: str, logging_args: list[str] | None = None
) -> None:
    """Run the planned sources one after another, each in its own process whose report goes to
    this process's output. SIGINT or SIGTERM is passed on to the running child (in a process
    group of its own, so a terminal's Ctrl-C reaches it once, through here): it stops as a crawl
    or a load stops, and records itself interrupted. When it has ended, its end is reported and
    ChildInterrupted is raised: the rest are not started."""
    for item in planned:
        if item.action != "run":
            continue
        command = command_for(item.source, db_path, sources_file, logging_args or [])
        item.exit_code, received = _run_forwarding(command, f"== {item.source.name}")
        if received:
            print(f"== {item.source.name}: stopped, exit {item.exit_code}", flush=True)
            raise ChildInterrupted(received[0])
        if item.exit_code == EXIT_BUSY:  # took the lock between plan and start
            item.action, item.detail = "busy", "already running in another process"


def _die_with_parent() -> None:
    """In the child, before it runs: the kernel kills it when this process dies (kill -9 of
    `crawler run` takes its source with it, as when they shared a process group). Linux only."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the child outlives a killed parent
        pass


class ChildInterrupted(Interrupted):
    """The source running under `crawler run`/`schedule` was stopped by a passed-on signal."""


def _run_forwarding(command: list[str], announce: str) -> tuple[int, list[int]]:
    """Print `announce`, then run `command` in a process group of its own, passing on every SIGINT
    or SIGTERM this process receives from the announcement on (one that comes before the child
    exists is passed on as soon as it does): (its exit status as a shell gives it, 128 + N when
    signal N killed it, the signals received). The announcement comes after the handlers are set,
    so a signal sent on seeing it is always passed on, never taken for a stop between runs."""
    received: list[int] = []
    children: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if children and children[0].poll() is None:
            children[0].send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(announce, flush=True)
        children.append(
            subprocess.Popen(command, start_new_session=True, preexec_fn=_die_with_parent)
        )
        if received:
            children[0].send_signal(received[0])
        code = children[0].wait()
        # a child killed by signal N (before its handlers were set, or by SIGKILL): Popen says -N,
        # a shell and our own exits say 128 + N; and sys.exit(-N) would exit 256 - N
        return (128 - code if code < 0 else code), received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def summary(planned: list[Planned]) -> str:
    lines = [
        f"crawler run: {sum(p.action == 'run' for p in planned)} of {len(planned)} sources run"
    ]
    for p in planned:
        status = f"exit {p.exit_code}" if p.exit_code is not None else p.detail
        lines.append(f"  {p.source.name:<24} {p.action:<12} {status}")
    return "\n".join(lines)


def overall_exit(planned: list[Planned], *, due_only: bool) -> int:
    """The worst child status; a busy source is an error only when it was asked for by name."""
    codes = [p.exit_code for p in planned if p.exit_code is not None and p.exit_code != EXIT_BUSY]
    if not due_only and any(p.action == "busy" for p in planned):
        codes.append(EXIT_BUSY)
    for code in _SEVERITY:
        if code in codes:
            return code
    failing = [c for c in codes if c != EXIT_OK]  # anything else a child returned
    return failing[0] if failing else EXIT_OK


# Most severe first: interrupted, an error, a broken or unreachable source, busy, some failures.
_SEVERITY = (EXIT_INTERRUPTED, 1, EXIT_BROKEN, EXIT_UNREACHABLE, EXIT_BUSY, EXIT_FAILURES, 2)
