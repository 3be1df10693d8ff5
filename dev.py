#!/usr/bin/env python3
"""Set-up and tasks on a machine that has only Python 3.11+.

    python3 dev.py run    create .venv if needed, install, load seeds/ into data/articles.db, print the report
    python3 dev.py test   create .venv if needed, install, run ruff, mypy and the whole test suite

Extra arguments go to the underlying tool (`python3 dev.py test -k seeds`, `python3 dev.py run --db x.db`).
The virtual environment is reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".dev-stamp"


def sh(*args: str | Path) -> int:
    return subprocess.call([str(a) for a in args], cwd=ROOT)


def ensure_env() -> Path:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be started by any python3
        sys.exit("dev.py: Python 3.11 or newer is required")
    python = BIN / "python"
    if not python.exists():
        print("dev.py: creating .venv", file=sys.stderr)
        venv.create(VENV, with_pip=True)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print("dev.py: installing the project and its test tools into .venv", file=sys.stderr)
        quiet = ["-q", "--disable-pip-version-check"]
        if sh(python, "-m", "pip", "install", *quiet, "-e", ".[test]") != 0:
            sys.exit("dev.py: pip install failed")
        STAMP.write_text(wanted)
    return python


def run(args: list[str]) -> int:
    ensure_env()
    return sh(BIN / "crawler", "load", "seeds/", *args)


def test(args: list[str]) -> int:
    python = ensure_env()
    steps = [
        [python, "-m", "ruff", "check", "."],
        [python, "-m", "ruff", "format", "--check", "."],
        [python, "-m", "mypy"],
    ]
    for step in steps:
        if sh(*step) != 0:
            print(f"dev.py: failed: {' '.join(map(str, step[1:]))}", file=sys.stderr)
            return 1
    code = sh(python, "-m", "pytest", *args)
    if code == 5:
        print("dev.py: pytest collected no tests: that is a failure", file=sys.stderr)
        return 1
    return code


def main() -> int:
    tasks = {"run": run, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in tasks:
        print(__doc__, file=sys.stderr)
        return 2
    return tasks[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
