"""The command line for people: one-line errors, exit codes, no accidental files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.conftest import SEED_ARTICLE, crawler_subprocess, query


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    for args, message in [
        (["load", "x.txt", "--frobnicate"], "crawler: error: No such option '--frobnicate'."),
        (["load"], "crawler: error: Missing argument 'PATHS...'."),
        (["nope"], "crawler: error: No such command 'nope'."),
    ]:
        proc = (
            crawler_subprocess(*args, "--db", str(tmp_path / "x.db"))
            if args[0] == "load"
            else crawler_subprocess(*args)
        )
        assert proc.returncode == 2, proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith(message), line
    assert not (tmp_path / "x.db").exists()


def test_verbose_works_after_the_command(tmp_path: Path) -> None:
    proc = crawler_subprocess("load", str(SEED_ARTICLE), "--db", str(tmp_path / "v.db"), "-v")
    assert proc.returncode == 0, proc.stderr
    assert "stored           1" in proc.stdout


def test_rebuild_does_not_create_a_missing_database(
    run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    missing = tmp_path / "typo.db"
    result = run_cli("dedup", "rebuild", db=missing)
    assert result.exit_code == 1
    assert result.output.strip() == f"crawler: error: database not found: {missing}"
    assert not missing.exists()


def test_named_file_of_another_type_is_recorded_unsupported(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    pdf = tmp_path / "doc.pdf"
    pdf.write_text("%PDF-1.4 plain ascii content that is long enough to look like text %%EOF")
    bare = tmp_path / "README"
    bare.write_text(
        "A plain text file without an extension is sniffed and loaded like any text file."
    )
    result = run_cli("load", str(pdf), str(bare))
    assert result.exit_code == 0, result.output
    rows = query(db_path, "SELECT origin, state, reason FROM pages ORDER BY id")
    assert rows == [(str(pdf), "rejected", "unsupported_type"), (str(bare), "stored", None)]
