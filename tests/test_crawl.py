"""Web sources end to end: the real `crawler crawl` process against the local test site."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, check_ledger, crawler_subprocess, query
from tests.site import ARTICLES, BOILERPLATE, Site, default_site, listing_html, serve

FAST_RETRIES = ("-s", "RETRY_BACKOFF_BASE=0.05")  # the backoff itself is tested on its own


def sources_file(tmp_path: Path, base: str, kind: str = "sitemap", extra: str = "") -> Path:
    path = tmp_path / "seeds" / "sources.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    start = f"{base}/sitemap.xml" if kind == "sitemap" else f"{base}/"
    path.write_text(
        f'[sources.testsite]\nkind = "{kind}"\nstart_urls = ["{start}"]\n'
        f'download_delay = 0\nconcurrency = 4\nallow_private = ["127.0.0.1"]\n{extra}',
        "utf-8",
    )
    return path


def test_sitemap_crawl_stores_each_article_once_and_obeys_robots(tmp_path: Path) -> None:
    db = tmp_path / "crawl.db"
    with serve() as site:
        sources = sources_file(tmp_path, site.base)
        contact = ("-s", "CRAWLER_CONTACT_URL=https://ops.example/about-our-crawler")
        result = crawler_subprocess(
            "crawl", "testsite", "--sources", str(sources), "--db", str(db), *contact
        )
        requested = list(site.requested)
    assert result.returncode in (0, 3), result.stderr
    (agent,) = site.agents  # robots.txt and pages alike name the crawler and its operator
    assert (
        agent.startswith("dedup-crawler/") and "(+https://ops.example/about-our-crawler)" in agent
    )
    assert "/robots.txt" in requested
    assert not any(p.startswith("/private/") for p in requested)
    stored = dict(query(db, "SELECT url, title FROM articles"))
    assert len(stored) == len(ARTICLES)  # each distinct text once
    assert stored[f"{site.base}/news/seoul-budget"] == "서울시 2025년 예산안 발표"
    assert stored[f"{site.base}/news/tokyo-libraries"] == "都立図書館、開館時間を延長へ"
    rows = query(db, "SELECT origin, state, reason FROM pages")
    ledger = {str(o).removeprefix(site.base): (s, r) for o, s, r in rows}
    # the same text at three URLs (one with tracking parameters): whichever arrived first is
    # stored, the others are duplicates (concurrent fetches finish in any order)
    copies = [
        ledger["/news/harbour-ferry"],
        ledger["/news/harbour-ferry?utm_source=newsletter&utm_medium=email"],
        ledger["/syndicated/harbour-ferry-copy"],
    ]
    assert sorted(state for state, _reason in copies) == ["duplicate", "duplicate", "stored"]
    assert ledger["/news/missing-page"] == ("rejected", "http_404")
    assert ledger["/private/draft"] == ("rejected", "robots_disallowed")  # recorded, not requested
    assert len(ledger) == len(ARTICLES) + 4  # every URL the crawl met has exactly one row
    for text, language in query(db, "SELECT text, language FROM articles"):
        lines = str(text).splitlines()
        assert not set(lines) & set(BOILERPLATE[str(language)]), (language, lines)
        assert "All rights reserved" not in str(text)
    check_ledger(db)


def test_feed_links_from_rss_and_atom_without_entity_expansion() -> None:
    from crawler.spiders.configured import feed_links

    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
      <item><title>A</title><link>https://news.example/a</link></item>
      <item><title>B</title><link> https://news.example/b </link></item></channel></rss>"""
    atom = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
      <entry><title>C</title><link rel="alternate" href="https://news.example/c"/></entry>
      <entry><title>D</title><link href="https://news.example/d"/></entry></feed>"""
    bomb = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">
      <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
      <!ENTITY ext SYSTEM "file:///etc/passwd">]>
      <rss><channel><item><link>https://news.example/&c;&ext;</link></item></channel></rss>"""
    assert feed_links(rss) == ["https://news.example/a", "https://news.example/b"]
    assert feed_links(atom) == ["https://news.example/c", "https://news.example/d"]
    links = feed_links(bomb)
    assert all("aaaa" not in link and "root:" not in link for link in links)
    assert feed_links(b"not xml at all") == []


def test_redirects_into_other_private_addresses_are_refused_and_recorded(tmp_path: Path) -> None:
    db = tmp_path / "ssrf.db"
    with serve(lambda canary: None, host="127.0.0.2") as canary, serve() as site:
        site.redirects["/news/moved"] = f"{canary.base}/admin"
        site.redirects["/news/to-file"] = "file:///etc/passwd"
        site.drops.add("/news/hangs-up")  # the connection closes before any answer
        site.sitemap(["/news/moved", "/news/to-file", "/news/library-hours", "/news/hangs-up"])
        sources = sources_file(tmp_path, site.base)
        result = crawler_subprocess(
            "crawl", "testsite", "--sources", str(sources), "--db", str(db), *FAST_RETRIES
        )
        assert canary.requested == []  # not one request reached 127.0.0.2
    assert result.returncode == 3, result.stderr  # finished, with a failed (retryable) fetch
    rows = query(db, "SELECT origin, url, state, reason FROM pages ORDER BY origin")
    ledger = {str(o).removeprefix(site.base): (str(u), s, r) for o, u, s, r in rows}
    assert ledger["/news/moved"] == (f"{canary.base}/admin", "rejected", "private_address")
    assert ledger["/news/library-hours"][1:] == ("stored", None)
    assert ledger["/news/to-file"][1] in ("rejected", "failed")
    assert ledger["/news/hangs-up"][1:] == ("failed", "fetch_error")  # after Scrapy's retries
    check_ledger(db)


def test_a_failing_robots_txt_disallows_the_whole_site(tmp_path: Path) -> None:
    def broken_robots(site: Site) -> None:
        default_site(site)
        site.pages["/robots.txt"] = (503, "text/plain", b"maintenance")

    db = tmp_path / "robots.db"
    with serve(broken_robots) as site:
        sources = sources_file(tmp_path, site.base)
        result = crawler_subprocess(
            "crawl", "testsite", "--sources", str(sources), "--db", str(db), *FAST_RETRIES
        )
        requested = set(site.requested)
    assert result.returncode == 4, result.stderr  # the source is unreachable, and says so
    assert "unreachable: robots_unreachable 1" in result.stdout
    assert requested == {"/robots.txt"}  # RFC 9309: 5xx means disallow everything
    # recorded as what happened, not as a rule the site wrote
    assert query(db, "SELECT origin, state, reason, detail FROM pages") == [
        (
            f"{site.base}/sitemap.xml",
            "rejected",
            "robots_unreachable",
            "robots.txt answered HTTP 503",
        )
    ]


@pytest.mark.timeout(120)
def test_a_robots_txt_that_times_out_is_recorded_unreachable_and_explained(
    tmp_path: Path,
) -> None:
    """The server accepts the connection but never answers robots.txt within DOWNLOAD_TIMEOUT:
    the site is disallowed (RFC 9309: unreachable means disallow), recorded `rejected` /
    `robots_unreachable` with the timeout as its cause, not as a rule the site wrote; and
    `crawler dedup explain` on the page tells that reason."""

    def silent_robots(site: Site) -> None:
        default_site(site)
        site.hangs.add("/robots.txt")

    db = tmp_path / "robots-timeout.db"
    with serve(silent_robots) as site:
        sources = sources_file(tmp_path, site.base)
        result = crawler_subprocess(
            "crawl", "testsite", "--sources", str(sources), "--db", str(db),
            "-s", "DOWNLOAD_TIMEOUT=1", *FAST_RETRIES,
        )  # fmt: skip
        requested = set(site.requested)
    assert result.returncode == 4, result.stderr  # the source is unreachable, and says so
    assert "unreachable: robots_unreachable 1" in result.stdout
    assert requested == {"/robots.txt"}  # nothing else was asked for
    assert "Traceback" not in result.stderr
    sitemap = f"{site.base}/sitemap.xml"
    rows = query(db, "SELECT origin, state, reason, detail FROM pages")
    ((origin, state, reason, detail),) = rows
    assert (origin, state, reason) == (sitemap, "rejected", "robots_unreachable")
    assert str(detail).startswith("robots.txt unreachable: ") and "TimeoutError" in str(detail)
    assert "forbidden by robots.txt" not in str(detail)
    explained = crawler_subprocess("dedup", "explain", sitemap, "--db", str(db))
    assert explained.returncode == 0, explained.stderr
    assert "robots_unreachable" in explained.stdout and "TimeoutError" in explained.stdout
    assert "robots_disallowed" not in explained.stdout
    as_json = crawler_subprocess("dedup", "explain", sitemap, "--db", str(db), "--json")
    (row,) = json.loads(as_json.stdout)
    assert (row["state"], row["reason"]) == ("rejected", "robots_unreachable")
    assert row["detail"] == detail


def _crawl(tmp_path: Path, base: str, db: Path, extra: str = "") -> tuple[int, str]:
    sources = sources_file(tmp_path, base, extra=extra)
    result = crawler_subprocess("crawl", "testsite", "--sources", str(sources), "--db", str(db))
    return result.returncode, result.stderr


def test_a_second_crawl_fetches_only_listings_and_a_new_article_is_stored_alone(
    tmp_path: Path,
) -> None:
    db = tmp_path / "incremental.db"
    with serve() as site:
        assert _crawl(tmp_path, site.base, db)[0] == 0
        site.requested.clear()
        code, err = _crawl(tmp_path, site.base, db)
        assert code == 0, err
        second = list(site.requested)
        lang, title, paragraphs = (
            "en",
            "Night trains return to the coast line",
            ["Overnight services will run again from May, the rail operator said on Friday. " * 3],
        )
        site.add_article("/news/night-trains", lang, title, paragraphs)
        site.sitemap([*ARTICLES, "/news/night-trains", "/syndicated/harbour-ferry-copy"])
        site.requested.clear()
        code, err = _crawl(tmp_path, site.base, db)
        assert code == 0, err
        third = list(site.requested)
    assert set(second) <= {"/robots.txt", "/sitemap.xml", "/news/missing-page"}
    run2 = dict(query(db, "SELECT state, count(*) FROM pages WHERE run_id = 2 GROUP BY state"))
    # every article and the two known copies of one
    assert run2.get("stored", 0) == 0 and run2["unchanged"] == len(ARTICLES) + 2
    assert set(third) <= {"/robots.txt", "/sitemap.xml", "/news/night-trains"}
    assert "/news/night-trains" in third
    assert query(db, "SELECT count(*) FROM pages WHERE run_id = 3 AND state = 'stored'") == [(1,)]
    check_ledger(db)


def test_a_due_revisit_asks_changed_since_and_a_304_costs_no_extraction(tmp_path: Path) -> None:
    db = tmp_path / "revisit.db"
    with serve() as site:
        assert _crawl(tmp_path, site.base, db, "revisit_days = 0.000001\n")[0] == 0
        site.conditional.clear()
        code, err = _crawl(tmp_path, site.base, db, "revisit_days = 0.000001\n")
        assert code == 0, err
        conditional = set(site.conditional)
    assert {"/news/seoul-budget", "/news/library-hours"} <= conditional
    reasons = dict(query(db, "SELECT reason, count(*) FROM pages WHERE run_id = 2 GROUP BY reason"))
    assert reasons.get("not_modified", 0) >= 3
    assert query(db, "SELECT count(*) FROM pages WHERE run_id = 2 AND state = 'stored'") == [(0,)]
    check_ledger(db)


def _crawl_url(site: Site, db: Path, *extra: str) -> tuple[int, str, list[str]]:
    site.requested.clear()
    result = crawler_subprocess(
        "crawl", f"{site.base}/", "--allow-private", "127.0.0.1", "--db", str(db), *extra
    )
    return result.returncode, result.stderr, list(site.requested)


def _stored_paths(db: Path, base: str) -> set[str]:
    return {str(u).removeprefix(base) for (u,) in query(db, "SELECT url FROM articles")}


def test_crawl_url_finds_the_sitemap_that_robots_txt_names(tmp_path: Path) -> None:
    db = tmp_path / "adhoc.db"
    with serve() as site:
        code, err, requested = _crawl_url(site, db)
    assert code == 0, err
    assert "/feed.xml" not in requested and "/news/" not in requested  # the sitemap was enough
    assert not any(p.startswith("/private/") for p in requested)
    assert len(_stored_paths(db, site.base)) == len(ARTICLES)
    # named after host and port: two local sites on different ports are two sources
    port = site.base.rsplit(":", 1)[1]
    assert query(db, "SELECT DISTINCT source FROM articles") == [(f"127.0.0.1:{port}",)]
    check_ledger(db)


def test_crawl_url_without_a_sitemap_reads_the_feed_the_home_page_declares(
    tmp_path: Path,
) -> None:
    def no_sitemap(site: Site) -> None:
        default_site(site)
        del site.pages["/sitemap.xml"]
        site.pages["/robots.txt"] = (200, "text/plain", b"User-agent: *\nDisallow: /private/\n")

    db = tmp_path / "adhoc.db"
    with serve(no_sitemap) as site:
        code, err, requested = _crawl_url(site, db)
    assert code == 0, err
    assert "/sitemap.xml" in requested and "/feed.xml" in requested  # guessed, then the feed
    assert _stored_paths(db, site.base) == set(ARTICLES)
    # the guessed /sitemap.xml (a 404) was a guess, not an input: nothing recorded for it
    assert query(db, "SELECT count(*) FROM pages WHERE url LIKE '%sitemap%'") == [(0,)]
    check_ledger(db)


def test_crawl_url_without_sitemap_or_feed_follows_listings_and_their_pages(
    tmp_path: Path,
) -> None:
    def links_only(site: Site) -> None:
        default_site(site)
        del site.pages["/sitemap.xml"], site.pages["/feed.xml"]
        site.html("/", listing_html("Test Times", ["/news/", "/private/draft"]))

    db = tmp_path / "adhoc.db"
    with serve(links_only) as site:
        code, err, requested = _crawl_url(site, db)
    assert code == 0, err
    assert "/news/page/2" in requested  # pagination followed
    assert _stored_paths(db, site.base) == set(ARTICLES)  # listings are not articles
    assert not any(p.startswith("/private/") for p in requested)
    rows = query(db, "SELECT origin, reason FROM pages WHERE state != 'stored' ORDER BY origin")
    assert [(str(o).removeprefix(site.base), r) for o, r in rows] == [
        ("/private/draft", "robots_disallowed"),
        ("/sitemap.xml", "http_404"),  # robots.txt names it; it is gone: recorded, then links
    ]
    check_ledger(db)


def test_links_source_follows_pagination_to_every_article(tmp_path: Path) -> None:
    db = tmp_path / "links.db"
    extra = "allow = ['/news/page/']\narticles = ['/news/(?!page/)[a-z-]+$']\n"
    with serve() as site:
        path = tmp_path / "links.toml"
        path.write_text(
            f'[sources.testsite]\nkind = "links"\nstart_urls = ["{site.base}/news/"]\n'
            f'download_delay = 0\nallow_private = ["127.0.0.1"]\n{extra}',
            "utf-8",
        )
        result = crawler_subprocess("crawl", "testsite", "--sources", str(path), "--db", str(db))
        requested = list(site.requested)
    assert result.returncode == 0, result.stderr
    assert "/news/page/2" in requested
    assert _stored_paths(db, site.base) == set(ARTICLES)
    check_ledger(db)


def test_a_sitemap_that_lists_nothing_or_fails_is_recorded_not_silently_empty(
    tmp_path: Path,
) -> None:
    def empty(site: Site) -> None:
        default_site(site)
        site.sitemap([])

    db = tmp_path / "empty.db"
    with serve(empty) as site:
        path = tmp_path / "empty.toml"
        path.write_text(
            f'[sources.testsite]\nkind = "sitemap"\nstart_urls = ["{site.base}/sitemap.xml", '
            f'"{site.base}/gone-sitemap.xml"]\ndownload_delay = 0\nallow_private = ["127.0.0.1"]\n',
            "utf-8",
        )
        result = crawler_subprocess("crawl", "testsite", "--sources", str(path), "--db", str(db))
    assert result.returncode == 3, result.stderr  # a failed input: the run says so
    rows = query(db, "SELECT origin, state, reason FROM pages ORDER BY origin")
    assert [(str(o).removeprefix(site.base), s, r) for o, s, r in rows] == [
        ("/gone-sitemap.xml", "rejected", "http_404"),
        ("/sitemap.xml", "failed", "empty_sitemap"),
    ]
    assert "empty_sitemap 1" in result.stdout


def test_the_example_spider_runs_with_scrapy_crawl_and_crawler_crawl(tmp_path: Path) -> None:
    """The hand-written example spider the README shows (the very file in crawler/spiders/, so it
    is linted and type-checked where it lives) against the local site: `scrapy crawl` (Scrapy's
    own command, from the repository root) and `crawler crawl` both run it, its start URL taken
    from a sources file entry of kind `custom`."""
    shipped = (ROOT / "crawler" / "spiders" / "example_listing.py").read_text("utf-8")
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("### A spider written by hand", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None and code.group(1) == shipped  # the README shows the file as it is
    assert len(shipped.strip().splitlines()) <= 30  # "one small file"
    with serve() as site:
        sources = tmp_path / "sources.toml"
        sources.write_text(
            f'[sources.example_listing]\nkind = "custom"\nstart_urls = ["{site.base}/news/"]\n'
            'download_delay = 0\nallow_private = ["127.0.0.1"]\n',
            "utf-8",
        )
        scrapy = [sys.executable, "-m", "scrapy"]
        settings = ["-s", f"CRAWLER_SOURCES_FILE={sources}", "-s", "LOG_LEVEL=WARNING"]
        listed = subprocess.run(
            [*scrapy, "list", *settings], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert "example_listing" in listed.stdout.split(), listed.stderr
        db = tmp_path / "scrapy.db"
        first = subprocess.run(
            [*scrapy, "crawl", "example_listing", *settings, "-s", f"CRAWLER_DB={db}"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert first.returncode == 0, first.stderr
        assert "run 1 [example_listing] finished" in first.stdout  # the report, as crawler prints
        assert _stored_paths(db, site.base) == set(ARTICLES)
        assert "/news/page/2" in site.requested
        second = crawler_subprocess(
            "crawl", "example_listing", "--db", str(db), "--sources", str(sources)
        )
        assert second.returncode == 0, second.stderr
        assert f"unchanged  {len(ARTICLES):>7}" in second.stdout  # known articles: not refetched
    check_ledger(db)


def test_backoff_doubles_and_respects_retry_after_within_its_cap() -> None:
    from crawler.middlewares import backoff_delay

    assert [backoff_delay(n, 2.0, 60.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff_delay(7, 2.0, 60.0) == 60.0
    assert backoff_delay(1, 2.0, 60.0, retry_after="30") == 30.0
    assert backoff_delay(1, 2.0, 60.0, retry_after="3600") == 60.0
    assert backoff_delay(3, 2.0, 60.0, retry_after="1") == 8.0  # never sooner than the backoff
    assert backoff_delay(1, 2.0, 60.0, retry_after="Wed, 21 Oct 2026 07:28:00 GMT") == 2.0


def test_retries_back_off_record_their_attempts_and_failures_are_retried_next_run(
    tmp_path: Path,
) -> None:
    db = tmp_path / "retry.db"
    with serve() as site:
        site.flaky["/news/library-hours"] = 2  # two 503s, then the page
        site.flaky["/news/seoul-budget"] = 3  # 503 on every attempt of this run
        sources = sources_file(tmp_path, site.base)
        crawl = ("crawl", "testsite", "--sources", str(sources), "--db", str(db))
        first = crawler_subprocess(*crawl, "-s", "RETRY_BACKOFF_BASE=0.4")
        times = site.times["/news/library-hours"]
        second = crawler_subprocess(*crawl, "-s", "RETRY_BACKOFF_BASE=0.4")  # the site is well
    assert first.returncode == 3, first.stderr  # a failed page: the exit status says so
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 3 and gaps[0] >= 0.35 and gaps[1] >= 0.75, gaps  # 0.4 s, then 0.8 s
    rows = query(db, "SELECT run_id, origin, state, reason, attempts FROM pages ORDER BY id")
    ledger = {(r, str(o).removeprefix(site.base)): (s, why, n) for r, o, s, why, n in rows}
    assert ledger[(1, "/news/library-hours")] == ("stored", None, 3)
    assert ledger[(1, "/news/seoul-budget")] == ("failed", "http_503", 3)
    assert second.returncode == 0, second.stderr
    assert ledger[(2, "/news/seoul-budget")] == ("stored", None, 1)  # retried by the next run
    assert ledger[(2, "/news/library-hours")] == ("unchanged", "not_refetched", 1)
    check_ledger(db)


def test_sigterm_stops_a_crawl_which_records_itself_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "stopped.db"
    with serve() as site:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "crawl", f"{site.base}/", "--allow-private",
             "127.0.0.1", "--db", str(db)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "/sitemap.xml" not in site.requested:
            time.sleep(0.1)
        time.sleep(0.5)  # one second between requests by default: the crawl is under way
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err  # 128 + SIGTERM
    assert "interrupted" in out.splitlines()[0]
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    check_ledger(db)


def test_scrapy_crawl_reports_and_exits_as_crawler_crawl_does(tmp_path: Path) -> None:
    """`scrapy crawl NAME` prints the same run report and ends with the same exit status as
    `crawler crawl NAME`: here a source whose site is down (exit 4, unreachable)."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{probe.getsockname()[1]}"
    sources = sources_file(tmp_path, base)
    scrapy = Path(sys.executable).parent / "scrapy"
    ours = crawler_subprocess(
        "crawl",
        "testsite",
        "--sources",
        str(sources),
        "--db",
        str(tmp_path / "a.db"),
        *FAST_RETRIES,
    )
    theirs = subprocess.run(
        [str(scrapy), "crawl", "testsite", "-s", f"CRAWLER_SOURCES_FILE={sources}",
         "-s", f"CRAWLER_DB={tmp_path / 'b.db'}", "-s", "LOG_LEVEL=ERROR", *FAST_RETRIES],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ours.returncode == theirs.returncode == 4, (ours.stderr, theirs.stderr)
    for result in (ours, theirs):
        assert "run 1 [testsite] finished" in result.stdout
        assert "warning: source testsite unreachable: robots_unreachable 1" in result.stdout


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_scrapy_feed_exports_list_the_stored_pages(tmp_path: Path, fmt: str) -> None:
    """`scrapy crawl NAME -o pages.jsonl` (or .csv), a Scrapy habit, writes one row per stored
    page, without the raw bytes that do not serialise."""
    with serve() as site:
        sources = sources_file(tmp_path, site.base)
        out = tmp_path / f"pages.{fmt}"
        result = subprocess.run(
            [sys.executable, "-m", "scrapy", "crawl", "testsite", "-o", str(out),
             "-s", f"CRAWLER_SOURCES_FILE={sources}", "-s", f"CRAWLER_DB={tmp_path / 'f.db'}",
             "-s", "LOG_LEVEL=WARNING"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "not JSON serializable" not in result.stderr and "Error" not in result.stderr
    text = out.read_text("utf-8")
    if fmt == "jsonl":
        rows = [json.loads(line) for line in text.splitlines()]
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    stored = {
        str(u)
        for (u,) in query(tmp_path / "f.db", "SELECT origin FROM pages WHERE state = 'stored'")
    }
    assert {r["origin"] for r in rows} == stored and len(rows) == len(stored) > 0
    assert all(r["source"] == "testsite" and "body" not in r for r in rows)


def test_a_page_that_cannot_hold_a_meta_refresh_is_told_from_its_bytes() -> None:
    """The shortcut around Scrapy's meta-refresh parsing never skips a page that has one where
    Scrapy looks (its first 4,096 characters), in any of the web's encodings."""
    from crawler.middlewares import may_refresh

    tag = '<meta http-equiv="REFRESH" content="0; url=/next">'
    for encoding in ("utf-8", "euc-kr", "shift_jis", "gb18030", "big5", "cp1252", "utf-16"):
        page = f"<html><head><title>뉴스 ニュース 新闻</title>{tag}</head></html>"
        body = page.encode(encoding, "replace")
        assert may_refresh(body), encoding
        assert may_refresh(("é" * 4000 + tag).encode(encoding, "replace")), encoding
    # ISO-2022-JP may switch sets inside the word, which Python's decoder joins again
    assert may_refresh(b'<meta http-equiv="ref\x1b(Bresh" content="0; url=/next">')
    assert not may_refresh(b"<html><head><title>News</title></head><body>x</body></html>")
    # past the first 4,096 characters Scrapy does not look either
    assert not may_refresh(b"<p>" + b"x" * 20_000 + tag.encode())
