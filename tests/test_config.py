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


def _web(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(f'[sources.site]\nkind = "links"\n{body}', "utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ("", 1, "start_urls: a web source needs at least one URL"),
        ('start_urls = ["ftp://x.example/"]', 3, "is not an http(s) URL"),
        ('start_urls = ["https://x.example/"]\narticles = ["/news/("]', 4, "articles: bad pattern"),
        (
            'start_urls = ["https://x.example/"]\npaths = ["a"]',
            4,
            "paths: unknown key for kind 'links'",
        ),
        ('start_urls = ["https://x.example/"]\nschedule = "daily"', 4, "schedule: must be a cron"),
        ('start_urls = ["https://x.example/"]\nallow_private = "yes"', 4, "allow_private: must be"),
    ],
)
def test_bad_web_sources_are_refused_with_file_line_and_problem(
    tmp_path: Path, body: str, line: int, problem: str
) -> None:
    path = _web(tmp_path, body)
    with pytest.raises(ConfigError) as refused:
        load_sources(path)
    assert str(refused.value).startswith(f"{path}:{line}: source 'site': ")
    assert problem in str(refused.value)


def test_configured_web_sources_are_scrapy_spiders(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "sources.toml"
    path.write_text(
        '[sources.news_sitemap]\nkind = "sitemap"\nstart_urls = ["https://news.example/sitemap.xml"]\n'
        '[sources.news_feed]\nkind = "feed"\nstart_urls = ["https://news.example/rss"]\n'
        '[sources.news_links]\nkind = "links"\nstart_urls = ["https://news.example/"]\n'
        'articles = ["/\\\\d{4}/"]\nschedule = "*/30 * * * *"\n'
        '[sources.news_site]\nkind = "site"\nstart_urls = ["https://news.example/"]\n'
        '[sources.by_hand]\nkind = "custom"\nconcurrency = 1\n',  # no generated spider
        "utf-8",
    )
    scrapy = Path(sys.executable).parent / "scrapy"
    # the sources file is a setting: `-s` on the command line, as scrapyd's `-d setting=...`
    listed = subprocess.run(
        [str(scrapy), "list", "-s", f"CRAWLER_SOURCES_FILE={path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # the generated spiders, beside the example spider written by hand in crawler/spiders/
    assert listed.stdout.split() == [
        "example_listing",
        "news_feed",
        "news_links",
        "news_site",
        "news_sitemap",
    ]
    # and nothing is read at import: without the setting, the project's own file is listed
    default = subprocess.run(
        [str(scrapy), "list"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert "news_feed" not in default.stdout.split()
    custom = load_sources(path)["by_hand"]
    assert custom.web is not None and custom.web.start_urls == [] and custom.web.concurrency == 1


def test_the_commented_examples_in_the_seed_sources_file_validate(tmp_path: Path) -> None:
    """seeds/sources.toml shows a realistic example of each kind, commented out: uncommented, each
    one is a valid source of that kind."""
    text = (ROOT / "seeds" / "sources.toml").read_text("utf-8")
    examples = text.split("# --- Examples", 1)[1]
    lines = [line[2:] for line in examples.splitlines() if line.startswith("# ")]
    start = next(i for i, line in enumerate(lines) if line.startswith("[sources."))
    path = tmp_path / "examples.toml"
    path.write_text("\n".join(lines[start:]) + "\n", "utf-8")
    sources = load_sources(path)
    kinds = {s.kind for s in sources.values()}
    assert kinds == {"sitemap", "feed", "links", "files", "warc", "custom"}, kinds
    assert sources["city_sections"].web is not None
    assert sources["city_sections"].web.articles == [r"/news/\d{4}/\d{2}/"]
