"""The cleaners' default limits: one place, read by the cleaners and by crawler/settings.py (which
makes them settings), light to import."""

# An article needs at least this many non-space characters (a sentence in any script).
MIN_TEXT_CHARS = 20
# Inputs larger than this (bytes, after decompression) are rejected `too_large`.
MAX_INPUT_BYTES = 20 * 1024 * 1024
# Seconds one input may take to clean (in a worker process) before it is rejected `extract_timeout`.
EXTRACT_TIMEOUT_SECONDS = 30.0
