"""Named fail points for crash tests: `CRAWLER_FAILPOINT=NAME[:N]` makes the process kill itself
(SIGKILL, as a crash or `kill -9` would) the N-th time (default 1st) it reaches point NAME.

Points: `after_fetch` (an input's bytes are in memory), `after_extract` (cleaned and
fingerprinted, nothing stored), `before_commit` (inside the store transaction, all rows written,
not committed), `after_commit` (the transaction committed, nothing else done yet). Without the
variable, `hit` is one comparison: the mode is read once, at import.
"""

from __future__ import annotations

import os
import signal

POINTS = ("after_fetch", "after_extract", "before_commit", "after_commit")
_NAME, _, _COUNT = (os.environ.get("CRAWLER_FAILPOINT") or "").partition(":")
_AT = int(_COUNT or 1) if _NAME else 0
_seen = 0
if _NAME and _NAME not in POINTS:
    raise SystemExit(f"CRAWLER_FAILPOINT: unknown point {_NAME!r} (known: {', '.join(POINTS)})")


def hit(name: str) -> None:
    global _seen
    if name != _NAME:
        return
    _seen += 1
    if _seen == _AT:
        os.kill(os.getpid(), signal.SIGKILL)
