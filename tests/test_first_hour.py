"""What operators meet in their first hour: options that say no to nonsense, one meaning for
--since, sources that name themselves apart, warnings said once and where they belong."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from db.locks import source_lock
from tests.conftest import SEED_ARTICLE, crawler_subprocess, query
from tests.site import serve


@pytest.mark.parametrize("value", ["yesterday", "2025-13-45", "7 days", "2025/06/01"])
@pytest.mark.parametrize("command", ["search", "export"])
def test_since_refuses_what_it_cannot_read(
    run_cli: Callable[..., Result], db_path: Path, command: str, value: str
) -> None:
    assert run_cli("load", str(SEED_ARTICLE)).exit_code == 0
    args = ["search", "translation"] if command == "search" else ["export"]
    result = run_cli(*args, "--since", value)
    assert result.exit_code == 2, result.output
    assert "is not an ISO date or time" in result.output


def test_since_means_stored_time_in_search_and_export_alike(
    run_cli: Callable[..., Result], db_path: Path
) -> None:
    """The seed article was published years before it was stored: --since counts from when it
    was stored, in both commands; --published-since from its publication."""
    assert run_cli("load", str(SEED_ARTICLE)).exit_code == 0
    (published,) = query(db_path, "SELECT published_at FROM articles")[0]
    word = "버핏"
    for since, found in [("1d", 1), ("2000-01-01", 1), ("2099-01-01", 0)]:
        exported = run_cli("export", "--since", since)
        assert exported.exit_code == 0 and exported.output.count('"url"') == found, since
        searched = run_cli("search", word, "--since", since, "--json")
        assert searched.exit_code == 0 and searched.output.count('"url"') == found, since
    if published:  # bounded by publication, not by storage
        after = str(published)[:4] + "-12-31T23:59:59+14:00"
        searched = run_cli("search", word, "--published-since", after, "--json")
        assert searched.exit_code == 0 and searched.output.count('"url"') == 0


def test_stats_of_a_source_that_never_ran_says_so(
    run_cli: Callable[..., Result], db_path: Path
) -> None:
    assert run_cli("load", str(SEED_ARTICLE), "--source", "seeds").exit_code == 0
    result = run_cli("stats", "--source", "NOSUCH")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"crawler: error: no source 'NOSUCH' has run in {db_path} (sources: seeds)"
    )
    assert run_cli("stats", "--source", "seeds").exit_code == 0


def test_allow_private_is_refused_for_a_named_source(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text('[sources.news]\nkind = "sitemap"\nstart_urls = ["https://x.example/s"]\n')
    db = tmp_path / "a.db"
    result = crawler_subprocess(
        "crawl", "news", "--allow-private", "127.0.0.1", "--sources", str(sources), "--db", str(db)
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("crawler: error: --allow-private applies to a crawl of a URL")
    assert not db.exists()


def test_the_contact_warning_comes_once_and_only_from_a_run_that_starts(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with serve() as site:
        port = site.base.rsplit(":", 1)[1]
        name = f"127.0.0.1:{port}"
        args = ("crawl", f"{site.base}/", "--allow-private", "127.0.0.1", "--db", str(db))
        with source_lock(str(db), name):  # another process runs this source
            busy = crawler_subprocess(*args)
        ran = crawler_subprocess(*args)
    assert busy.returncode == 75, busy.stderr
    assert "CRAWLER_CONTACT_URL" not in busy.stderr
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.count("CRAWLER_CONTACT_URL is not set") == 1


def test_two_local_sites_on_different_ports_are_two_sources(tmp_path: Path) -> None:
    db = tmp_path / "two.db"
    with serve() as first, serve() as second:
        for site in (first, second):
            result = crawler_subprocess(
                "crawl", f"{site.base}/", "--allow-private", "127.0.0.1", "--db", str(db)
            )
            assert result.returncode == 0, result.stderr
        names = {f"127.0.0.1:{s.base.rsplit(':', 1)[1]}" for s in (first, second)}
    assert {r[0] for r in query(db, "SELECT source FROM runs")} == names
    assert not any(os.sep in n for n in names)


def test_a_site_that_is_down_logs_one_line_per_record_without_v(tmp_path: Path) -> None:
    """Under cron, every error and warning is one line on stderr; the tracebacks Scrapy logs go to
    the log file (or to stderr with -v)."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    log_file = tmp_path / "crawl.log"
    result = crawler_subprocess(
        "--log-file", str(log_file), "crawl", url, "--allow-private", "127.0.0.1",
        "--db", str(tmp_path / "down.db"), "-s", "RETRY_TIMES=0",
    )  # fmt: skip
    assert result.returncode == 4, result.stderr  # unreachable
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and "Traceback" not in result.stderr
    for line in lines:  # each a log record of its own, or the final one-line error
        assert line[:4].isdigit() or line.startswith("crawler: "), line
    assert "Traceback" in log_file.read_text("utf-8") or len(lines) <= 3


def test_a_crawl_that_cannot_set_up_its_cleaners_fails_in_one_line_and_closes_its_run(
    tmp_path: Path,
) -> None:
    db = tmp_path / "bad.db"
    with serve() as site:
        result = crawler_subprocess(
            "crawl", f"{site.base}/", "--allow-private", "127.0.0.1", "--db", str(db),
            "-s", "CRAWLER_WORKERS=two",
        )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "crawler: error: the crawl could not start: ValueError" in result.stderr
    assert query(db, "SELECT status FROM runs") == [
        ("failed",)
    ]  # not left running, not interrupted
    assert query(db, "SELECT count(*) FROM pages") == [(0,)]


def test_the_run_report_counts_the_characters_each_rule_removed(
    run_cli: Callable[..., Result], db_path: Path
) -> None:
    """So that a rule that takes too much shows: per rule, the characters it removed."""
    result = run_cli("load", str(SEED_ARTICLE))
    assert result.exit_code == 0, result.output
    assert "characters removed by rule: " in result.output
    import json

    (report,) = query(db_path, "SELECT report FROM runs")[0]
    removed = json.loads(str(report))["rules_removed_chars"]
    assert removed["disclaimer"] > 50 and removed["machine_translation_notice"] > 0
