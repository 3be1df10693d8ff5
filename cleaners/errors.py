"""Why an input was turned away. The reason strings are part of the ledger's public vocabulary."""

from __future__ import annotations

# Reasons an input can be rejected by the cleaners (pages.state = 'rejected').
EMPTY = "empty"
NOT_TEXT = "not_text"
BAD_ENCODING = "bad_encoding"
TOO_LARGE = "too_large"
NO_CONTENT = "no_content"  # extraction found no main text
TOO_SHORT = "too_short"  # less text than an article needs
BAD_GZIP = "bad_gzip"
EXTRACT_TIMEOUT = "extract_timeout"  # cleaning took longer than its deadline; the worker was killed
TOO_DEEP = "too_deep"  # nested deeper than the HTML parser can follow, even in huge-tree mode
# Reasons an input can fail in cleaning (pages.state = 'failed').
CLEAN_CRASHED = "clean_crashed"  # the worker process died on this input


class Rejected(Exception):
    """Raised by a cleaner when an input cannot become an article; carries the ledger reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
