"""Hostile sitemaps and feeds, and links into private address space, through the real crawl:
entity expansion, external entities, gzip bombs, bodies past the size limit, documents that are
not what they claim, zero URLs, 50,000 URLs; each bounded in time and memory and recorded."""

from __future__ import annotations

import gzip
import random
import resource
import time
from pathlib import Path

import pytest

from tests.conftest import check_ledger, crawler_subprocess, query
from tests.gen import sentence
from tests.site import ARTICLES, Site, article_html, serve

MAXSIZE = 1024 * 1024
LIMITS = ("-s", f"DOWNLOAD_MAXSIZE={MAXSIZE}", "-s", "RETRY_BACKOFF_BASE=0.05")
URLSET = '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</urlset>'
LAUGHS = """<!DOCTYPE r [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">]>"""


def external(canary: str) -> str:
    return (
        '<!DOCTYPE r [<!ENTITY file SYSTEM "file:///etc/passwd">'
        f'<!ENTITY net SYSTEM "{canary}/xxe"><!ENTITY % p SYSTEM "{canary}/dtd"> %p;]>'
    )


def canary_spellings(port: int) -> list[str]:
    """The canary (127.0.0.2) and loopback written the ways resolvers accept."""
    return [
        f"http://127.0.0.2:{port}/plain",
        f"http://2130706434:{port}/decimal",
        f"http://0177.0.0.2:{port}/octal",
        f"http://0x7f.0.0.2:{port}/hex",
        f"http://127.2:{port}/short",
        f"http://[::ffff:127.0.0.2]:{port}/mapped",
        f"http://[::1]:{port}/ipv6-loopback",
        f"http://[fe80::1]:{port}/link-local",
    ]


def hostile_site(site: Site, canary: str, port: int) -> None:
    lang, title, paragraphs = ARTICLES["/news/seoul-budget"]
    site.add_article("/news/seoul-budget", lang, title, paragraphs)
    site.pages["/robots.txt"] = (200, "text/plain", b"User-agent: *\nAllow: /\n")

    def xml(path: str, text: str, ctype: str = "application/xml") -> None:
        site.pages[path] = (200, ctype, text.encode())

    loc = "".join(f"<url><loc>{u}</loc></url>" for u in canary_spellings(port))
    good = f"<url><loc>{site.base}/news/seoul-budget</loc></url>"
    xml("/links.xml", URLSET.format(loc + good + "<url><loc>file:///etc/passwd</loc></url>"))
    xml(
        "/laughs.xml", '<?xml version="1.0"?>' + LAUGHS + URLSET.format("<url><loc>&f;</loc></url>")
    )
    xml(
        "/xxe.xml",
        '<?xml version="1.0"?>'
        + external(canary)
        + URLSET.format("<url><loc>&file;</loc></url><url><loc>&net;</loc></url>"),
    )
    xml("/empty.xml", URLSET.format(""))
    xml("/html.xml", "<html><body><p>Not a sitemap at all</p></body></html>", "text/html")
    bomb = gzip.compress(URLSET.format(" " * (64 * MAXSIZE)).encode(), 9)  # ~64 KB -> 64 MB
    site.pages["/bomb.xml.gz"] = (200, "application/x-gzip", bomb)
    huge = URLSET.format(f"<url><loc>{site.base}/x</loc></url>" * (MAXSIZE // 30))
    xml("/huge.xml", huge)
    # a sitemap index that lists itself and the others again: each fetched once
    index = "".join(
        f"<sitemap><loc>{site.base}{p}</loc></sitemap>" for p in ("/index.xml", "/links.xml")
    )
    xml(
        "/index.xml",
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + index
        + "</sitemapindex>",
    )
    # feeds: the same attacks, as RSS
    items = "".join(
        f"<item><title>x</title><link>{u}</link></item>" for u in canary_spellings(port)
    )
    rss = '<rss version="2.0"><channel><title>T</title>{}</channel></rss>'
    good_item = f"<item><title>S</title><link>{site.base}/news/seoul-budget</link></item>"
    xml("/links.rss", rss.format(items + good_item), "application/rss+xml")
    xml(
        "/laughs.rss",
        '<?xml version="1.0"?>' + LAUGHS + rss.format("<item><link>&f;</link></item>"),
    )
    xml(
        "/xxe.rss",
        '<?xml version="1.0"?>' + external(canary) + rss.format("<item><link>&file;</link></item>"),
    )
    xml("/empty.rss", rss.format(""))
    xml("/huge.rss", rss.format(f"<item><link>{site.base}/x</link></item>" * (MAXSIZE // 30)))


def sources(tmp_path: Path, base: str, kind: str, paths: list[str]) -> Path:
    path = tmp_path / f"{kind}.toml"
    urls = ", ".join(f'"{base}{p}"' for p in paths)
    path.write_text(
        f'[sources.hostile]\nkind = "{kind}"\nstart_urls = [{urls}]\n'
        'download_delay = 0\nconcurrency = 4\nallow_private = ["127.0.0.1"]\n',
        "utf-8",
    )
    return path


def crawl(tmp_path: Path, kind: str, paths: list[str]) -> tuple[dict[str, tuple[str, str]], str]:
    db = tmp_path / f"{kind}.db"
    with (
        serve(lambda canary: None, host="127.0.0.2") as canary,
        serve(
            lambda site: hostile_site(site, canary.base, int(canary.base.rsplit(":", 1)[1]))
        ) as site,
    ):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.monotonic()
        result = crawler_subprocess(
            "crawl",
            "hostile",
            "--sources",
            str(sources(tmp_path, site.base, kind, paths)),
            "--db",
            str(db),
            *LIMITS,
        )
        elapsed = time.monotonic() - started
        peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
        assert canary.requested == []  # no entity, link or redirect reached 127.0.0.2
        requested = list(site.requested)
    assert result.returncode == 3, result.stderr[-2000:]
    assert elapsed < 60 and peak < 600, (elapsed, peak)
    assert requested.count("/index.xml") <= 1 and requested.count("/links.xml") <= 1
    rows = query(db, "SELECT origin, state, reason FROM pages")
    assert not query(db, "SELECT 1 FROM pages WHERE detail LIKE '%root:%' OR url LIKE '%root:%'")
    check_ledger(db)
    return {str(o).replace(site.base, ""): (str(s), str(r)) for o, s, r in rows}, result.stdout


@pytest.mark.timeout(120)
def test_hostile_sitemaps_are_bounded_and_recorded(tmp_path: Path) -> None:
    paths = ["/links.xml", "/laughs.xml", "/xxe.xml", "/empty.xml", "/html.xml"]
    ledger, _out = crawl(tmp_path, "sitemap", [*paths, "/bomb.xml.gz", "/huge.xml", "/index.xml"])
    assert ledger.pop("/news/seoul-budget") == ("stored", "None")
    assert ledger.pop("/laughs.xml") == ("failed", "empty_sitemap")  # not expanded
    assert ledger.pop("/xxe.xml") == ("failed", "empty_sitemap")  # not resolved
    assert ledger.pop("/empty.xml") == ("failed", "empty_sitemap")
    assert ledger.pop("/html.xml") == ("failed", "bad_sitemap")
    assert ledger.pop("/bomb.xml.gz") == ("failed", "bad_sitemap")
    assert ledger.pop("/huge.xml") == ("rejected", "too_large")
    assert ledger.pop("file:///etc/passwd") == ("rejected", "bad_scheme")
    assert set(ledger.values()) == {("rejected", "private_address")}
    assert len(ledger) == 8  # every spelling of the canary and of loopback


@pytest.mark.timeout(120)
def test_hostile_feeds_are_bounded_and_recorded(tmp_path: Path) -> None:
    paths = ["/links.rss", "/laughs.rss", "/xxe.rss", "/empty.rss", "/huge.rss"]
    ledger, _out = crawl(tmp_path, "feed", paths)
    assert ledger.pop("/news/seoul-budget") == ("stored", "None")
    assert ledger.pop("/laughs.rss") == ("failed", "empty_feed")
    assert ledger.pop("/xxe.rss") == ("failed", "empty_feed")
    assert ledger.pop("/empty.rss") == ("failed", "empty_feed")
    assert ledger.pop("/huge.rss") == ("rejected", "too_large")
    assert set(ledger.values()) == {("rejected", "private_address")}
    assert len(ledger) == 8


@pytest.mark.timeout(120)
def test_a_sitemap_of_50000_urls_with_a_page_cap_stays_bounded(tmp_path: Path) -> None:
    """The protocol's largest sitemap: parsing and queueing it is bounded in time and memory,
    and `max_pages` stops the crawl early."""

    def many(site: Site) -> None:
        site.pages["/robots.txt"] = (200, "text/plain", b"User-agent: *\nAllow: /\n")
        rng = random.Random(5)
        vocabulary = [sentence(rng, False, 1).rstrip(".") for _ in range(3000)]
        for i in range(50_000):
            words = rng.choices(vocabulary, k=90)
            paragraphs = [" ".join(words[k : k + 30]) + "." for k in (0, 30, 60)]
            site.pages[f"/a/{i}"] = (
                200,
                "text/html; charset=utf-8",
                article_html("en", f"Notice {i}", paragraphs),
            )
        site.sitemap([f"/a/{i}" for i in range(50_000)])

    db = tmp_path / "many.db"
    with serve(many) as site:
        path = sources(tmp_path, site.base, "sitemap", ["/sitemap.xml"])
        path.write_text(path.read_text("utf-8") + "max_pages = 40\n", "utf-8")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.monotonic()
        result = crawler_subprocess("crawl", "hostile", "--sources", str(path), "--db", str(db))
        elapsed = time.monotonic() - started
        peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    assert result.returncode == 0, result.stderr[-2000:]
    (stored,) = query(db, "SELECT count(*) FROM articles")[0]
    assert 40 <= int(str(stored)) < 60  # the cap counts responses; those in flight finish
    print(f"\n50,000-URL sitemap, max_pages 40: {elapsed:.1f} s, peak RSS {peak:.0f} MB")
    assert elapsed < 60 and peak < 600, (elapsed, peak)
    check_ledger(db)
