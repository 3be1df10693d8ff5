"""Documentation that cannot drift: schema, ledger reasons, CLI commands, configured sources."""

from __future__ import annotations

import re
from pathlib import Path

import click

from cleaners import errors
from crawler import loaders
from crawler.cli import cli
from crawler.config import load_sources
from db.connect import connect
from db.vocabulary import REASONS, STATES
from tests.conftest import ROOT

SCHEMA = (ROOT / "docs" / "schema.md").read_text("utf-8")
README = (ROOT / "README.md").read_text("utf-8")


def documented_tables() -> dict[str, list[tuple[str, str, bool]]]:
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    for section in re.split(r"^### ", SCHEMA, flags=re.M)[1:]:
        name = section.split("\n", 1)[0].strip()
        rows = re.findall(r"^\| (\w+) \| (\w+) \| (yes|no) \|", section, flags=re.M)
        tables[name] = [(col, typ, null == "yes") for col, typ, null in rows]
    return tables


def test_schema_document_matches_the_live_schema(tmp_path: Path) -> None:
    """Every table and view, every column with its type and nullability. FTS5's own shadow tables
    (articles_fts_data, ...) are internal and not listed; a view's or FTS column's type is
    checked when SQLite declares one."""
    db = connect(tmp_path / "s.db")
    live: dict[str, list[tuple[str, str, bool]]] = {}
    names = [t for t in db.table_names() if not t.startswith("articles_fts_")] + db.view_names()
    for table in names:
        info = db.execute(f"PRAGMA table_info([{table}])").fetchall()
        live[table] = [(r[1], r[2], not (r[3] or r[5])) for r in info]
    db.close()
    documented = documented_tables()
    assert sorted(documented) == sorted(live)
    for table, columns in live.items():
        doc = documented[table]
        assert [c[0] for c in doc] == [c[0] for c in columns], table
        for (name, typ, null), (_n, doc_type, doc_null) in zip(columns, doc, strict=True):
            assert null == doc_null, (table, name)
            assert not typ or typ == doc_type, (table, name)


def test_every_ledger_reason_is_in_the_one_table_and_documented_both_ways() -> None:
    """db/vocabulary.REASONS is the one table of ledger reasons; docs/schema.md lists exactly
    those (with their states), and every reason the cleaners define is in it."""
    cleaners_reasons = {v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str)}
    assert cleaners_reasons <= set(REASONS), cleaners_reasons - set(REASONS)
    section = SCHEMA.split("Reasons used so far:", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\| (\w+) \| `(\w+)` \|", section, flags=re.M)
    documented: dict[str, set[str]] = {}
    for state, reason in rows:
        assert state in STATES, state
        documented.setdefault(reason, set()).add(state)
    documented |= _duplicate_kinds_and_updates()
    assert set(documented) == set(REASONS), set(documented) ^ set(REASONS)
    for reason, (states, _meaning) in REASONS.items():
        assert documented[reason] == set(states), reason


def _duplicate_kinds_and_updates() -> dict[str, set[str]]:
    """Reasons documented in the `reason` column's own line of the pages table."""
    line = next(row for row in SCHEMA.splitlines() if row.startswith("| reason | TEXT |"))
    kinds = {"url", "content", "near"}
    assert all(f"`{k}`" in line for k in kinds) and "`updated`" in line
    return {**{k: {"duplicate"} for k in kinds}, "updated": {"stored"}}


def _commands(group: click.Group, prefix: str = "crawler") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if command.hidden:  # internal (what a cluster worker starts for a crawl job)
            continue
        full = f"{prefix} {name}"
        if isinstance(command, click.Group):
            names += _commands(command, full)
        else:
            names.append(full)
    return names


def test_every_cli_command_is_documented_in_the_readme() -> None:
    commands = _commands(cli)
    assert "crawler load" in commands
    for command in commands:
        assert f"`{command}" in README, command


def test_every_configured_source_has_sample_documents() -> None:
    sources = load_sources(ROOT / "seeds" / "sources.toml")
    assert sources, "seeds/sources.toml declares no source"
    for source in sources.values():
        files = [
            p
            for folder in source.paths
            for p in Path(folder).rglob("*")
            if loaders.kind_of(p.name)[0]
        ]
        assert files, f"source {source.name} has no sample documents under {source.paths}"
