"""Imported by the cleaning workers' fork server only: loads what every worker needs (the cleaners,
datasketch, and the language identifier's model, about 0.6 s to load) once, so every worker
forked from it starts warm, including after a recycle or a kill. The model is unpacked through a temporary file;
if that fails (a full disk), each worker tries again when it needs the model and the page records
the error."""

import contextlib

from cleaners import worker  # noqa: F401
from cleaners.fingerprint import _datasketch
from cleaners.scripts import _identifier

_datasketch()  # the workers fingerprint what they clean
with contextlib.suppress(Exception):
    _identifier()
