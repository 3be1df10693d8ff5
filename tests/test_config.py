"""A malformed sources file is refused at start with the file, line and problem named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from crawler.config import ConfigError, load_sources
from tests.conftest import ROOT, SEED_ARTICLE

BAD = {
    "syntax": ('[sources.a]\nkind = "files"\npaths = [\n', 4, "sources.toml:4:"),
    "kind": ('[sources.a]\nkind = "sitemapz"\n', 2, "kind must be one of"),
    "unknown_key": ('[sources.a]\nkind = "files"\n\nwat = 1\n', 4, "wat: unknown key"),
    "xpath": ('[sources.a]\nkind = "files"\nprune_xpath = ["//div[@"]\n', 3, "bad XPath"),
    "rule_pattern": (
        '[sources.a]\nkind = "files"\n[sources.a.rules]\nadd = [\n  { name = "ok", pattern = "a" },\n'
        '  { name = "broken", pattern = "(" },\n]\n',
        6,
        "rule 'broken': bad pattern",
    ),
    "disable_unknown": (
        '[sources.a]\nkind = "files"\n[sources.a.rules]\ndisable = ["nope"]\n',
        4,
        "nope",
    ),
    "paths": ('[sources.a]\nkind = "files"\npaths = "x"\n', 3, "paths must be a list"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_sources_name_file_line_and_problem(case: str, tmp_path: Path) -> None:
    text, line, problem = BAD[case]
    path = tmp_path / "sources.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as info:
        load_sources(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert problem in message
    assert "\n" not in message


def test_the_cli_refuses_a_bad_or_missing_sources_file(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD["xpath"][0], "utf-8")
    result = run_cli("load", str(SEED_ARTICLE), "--sources", str(bad))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"crawler: error: {bad}:3: source 'a': prune_xpath: bad XPath '//div[@': Invalid expression"
    ]
    missing = run_cli("load", str(SEED_ARTICLE), "--sources", str(tmp_path / "none.toml"))
    assert missing.exit_code == 2
    assert (
        missing.output.strip()
        == f"crawler: error: sources file not found: {tmp_path / 'none.toml'}"
    )
    assert not db_path.exists()


def test_the_shipped_sources_file_is_valid() -> None:
    sources = load_sources(ROOT / "seeds" / "sources.toml")
    assert sources["seeds"].paths == [str(ROOT / "seeds" / "documents")]
