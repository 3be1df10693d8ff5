"""The `crawler` console script's first module, light on purpose: a SIGINT or SIGTERM that comes
while the heavy modules are still importing ends the process with one line and 130 or 143 (not a
traceback, nor a silent death), and `crawler.cli` takes over the signals once it runs."""

from __future__ import annotations

import signal
import sys
from types import FrameType


class _Starting(BaseException):
    def __init__(self, signum: int) -> None:
        self.signum = signum


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise _Starting(signum)


def main() -> None:
    for each in (signal.SIGINT, signal.SIGTERM):
        signal.signal(each, _stop)
    try:
        from crawler import cli

        cli.main()  # which takes over the signals first thing
    except _Starting as exc:
        sys.stderr.write("crawler: error: interrupted while starting; nothing was done\n")
        sys.exit(128 + exc.signum)


if __name__ == "__main__":
    main()
