"""Web archives as input: `crawler load` of WARC (gzipped or not) and WET files, record by record.
The archives are built here with warcio's own writer; nothing binary is kept in the repository."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.conftest import check_ledger, query

PARAGRAPHS = [
    "The harbour authority announced on Monday that the new ferry terminal will open next spring.",
    "Construction costs rose by a fifth over the original estimate, officials told reporters.",
    "Local businesses expect more visitors once the larger ships can dock in the town centre.",
]
TIDES = [
    "The tide tables for the next month were published by the port office today.",
    "Fishermen said the spring tides would bring the boats in earlier than usual.",
    "The harbour master asked yacht owners to check their moorings before the weekend.",
]
KOREAN = [
    "서울시는 2025년 예산안을 발표하며 대중교통 확충에 가장 많은 재원을 배정했다고 밝혔다.",
    "시 관계자는 지하철 노선 연장과 버스 배차 간격 단축이 핵심 과제라고 설명했다.",
    "시민단체는 증가 폭이 작다며 추가 편성을 요구하는 성명을 내고 시의회 심의를 지켜보겠다고 했다.",
]


def html(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}</article></body></html>"


def response_record(
    writer: WARCWriter, url: str, body: bytes, ctype: str | None, status: str = "200 OK"
) -> None:
    """A response record; `ctype` None: an HTTP block without a Content-Type header."""
    fields = [("Content-Type", ctype)] if ctype is not None else []
    headers = StatusAndHeaders(status, fields, protocol="HTTP/1.1")
    record = writer.create_warc_record(
        url,
        "response",
        payload=io.BytesIO(body),
        length=len(body),
        http_headers=headers,
        warc_headers_dict={"WARC-Date": "2024-05-06T07:08:09Z"},
    )
    writer.write_record(record)


def build(path: Path, gz: bool = True) -> None:
    """A small archive of every kind of record a crawl's WARC holds."""
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gz)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        response_record(writer, "https://news.example/ferry", html("Ferry", PARAGRAPHS).encode(),
                  "text/html; charset=utf-8")  # fmt: skip
        korean = html("예산", KOREAN).encode("euc-kr")
        response_record(writer, "https://news.example/budget", korean, "text/html; charset=euc-kr")
        response_record(
            writer, "https://news.example/logo.png", b"\x89PNG\r\n" + bytes(200), "image/png"
        )
        response_record(
            writer, "https://news.example/gone", b"not found", "text/html", "404 Not Found"
        )
        request = writer.create_warc_record(
            "https://news.example/ferry",
            "request",
            payload=io.BytesIO(b"GET /ferry HTTP/1.1\r\n\r\n"),
            length=23,
        )
        writer.write_record(request)
        metadata = writer.create_warc_record(
            "https://news.example/ferry", "metadata",
            payload=io.BytesIO(b"fetchTimeMs: 12\r\n"), length=17,
        )  # fmt: skip
        writer.write_record(metadata)
        revisit = writer.create_revisit_record(
            "https://news.example/ferry-again", digest="sha1:AAAA",
            refers_to_uri="https://news.example/ferry", refers_to_date="2024-05-06T07:08:09Z",
        )  # fmt: skip
        writer.write_record(revisit)


def test_a_warc_loads_its_html_responses_and_counts_the_rest_by_kind(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "crawl.warc.gz"
    build(archive)
    result = run_cli("load", str(archive))
    assert result.exit_code == 0, result.output
    rows = query(db_path, "SELECT origin, url, state, reason FROM pages ORDER BY id")
    by_url = {url: (str(origin), state, reason) for origin, url, state, reason in rows}
    # the ledger names each record by its byte offset in the file
    assert all(origin.startswith(f"{archive}#") for origin, _s, _r in by_url.values())
    assert by_url["https://news.example/ferry"][1:] == ("stored", None)
    assert by_url["https://news.example/budget"][1:] == ("stored", None)
    assert by_url["https://news.example/ferry-again"][1:] == ("unchanged", "revisit")
    assert len(rows) == 3  # the image, the 404, request, metadata, warcinfo: counted, not stored
    for kind in ("archive_warcinfo", "archive_request", "archive_metadata", "archive_not_html",
                 "archive_status_404"):  # fmt: skip
        assert f"{kind} 1" in result.output, kind
    # WARC-Date is kept as the fetch time, never as the publication date
    assert query(db_path, "SELECT DISTINCT fetched_at FROM articles") == [
        ("2024-05-06T07:08:09+00:00",)
    ]
    assert query(db_path, "SELECT count(*) FROM articles WHERE published_at IS NOT NULL") == [(0,)]
    texts = dict(query(db_path, "SELECT url, text FROM articles"))
    assert "ferry terminal will open" in str(texts["https://news.example/ferry"])
    assert str(texts["https://news.example/budget"]).startswith("서울시는")  # the HTTP charset
    check_ledger(db_path)


def test_an_archived_url_is_deduplicated_with_the_same_url_from_elsewhere(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    """Another archive with the same URLs behaves like a recrawl of them: same URL, same text,
    unchanged; the same archive loaded again goes on after the records already done."""
    first, copy = tmp_path / "crawl.warc", tmp_path / "recrawl.warc"
    build(first, gz=False)
    build(copy, gz=False)
    assert run_cli("load", str(first)).exit_code == 0
    again = run_cli("load", str(first))
    assert again.exit_code == 0, again.output
    # only the last record done is read again (to find what follows it): nothing is recorded
    assert "archive_done 1" in again.output
    assert query(db_path, "SELECT count(*) FROM pages WHERE run_id = 2") == [(0,)]
    other = run_cli("load", str(copy))
    assert other.exit_code == 0, other.output
    states = query(
        db_path, "SELECT state, reason, count(*) FROM pages WHERE run_id = 3 GROUP BY 1, 2"
    )
    assert states == [("duplicate", "url", 2), ("unchanged", "revisit", 1)]
    assert query(db_path, "SELECT count(*) FROM articles") == [(2,)]
    check_ledger(db_path)


def test_two_records_of_one_archive_are_two_inputs(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    """A crawl that fetched a page under two URLs of one canonical form (a tracking parameter)
    archives two records: reloaded, the second is a URL duplicate of the first, as in the crawl,
    never `unchanged` (records of one file are not one input), in one batch or in two."""
    archive = tmp_path / "crawl.warc"
    page = html("Ferry", PARAGRAPHS).encode()
    with open(archive, "wb") as out:
        writer = WARCWriter(out, gzip=False)
        response_record(writer, "https://news.example/ferry?utm_source=mail", page, "text/html")
        response_record(writer, "https://news.example/ferry", page, "text/html")
    for batch in ("1", "256"):
        db = tmp_path / f"batch-{batch}.db"
        result = run_cli("load", str(archive), "--batch", batch, db=db)
        assert result.exit_code == 0, result.output
        rows = query(db, "SELECT url, state, reason FROM pages ORDER BY id")
        assert rows == [
            ("https://news.example/ferry", "stored", None),
            ("https://news.example/ferry", "duplicate", "url"),
        ], batch
        check_ledger(db)


def test_a_load_killed_midway_goes_on_at_the_first_record_not_done(tmp_path: Path) -> None:
    """kill -9 in the middle of an archive, then load it again: the records stored before are not
    read again, the rest are; nothing is lost or stored twice."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    archive = tmp_path / "big.warc.gz"
    with open(archive, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for i in range(120):
            words = " ".join(f"w{(i * 7919 + k * 104729) % 100003}" for k in range(80))
            page = html(f"Story {i}", [f"Story {i} begins. {words}."]).encode()
            response_record(writer, f"https://news.example/s/{i}", page, "text/html")
    db = tmp_path / "resume.db"
    env = {**os.environ, "CRAWLER_FAILPOINT": "after_commit:20"}  # SIGKILL after 20 commits
    cmd = [sys.executable, "-m", "crawler.entry", "load", str(archive), "--db", str(db),
           "--batch", "1", "--workers", "1"]  # fmt: skip
    killed = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (before,) = query(db, "SELECT count(*) FROM articles")[0]
    assert 0 < int(str(before)) < 120
    rerun = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert "archive_done 1" in rerun.stdout  # reading starts at the last record done
    assert query(db, "SELECT count(*) FROM articles") == [(120,)]
    assert query(db, "SELECT count(*) FROM pages WHERE run_id = 2") == [(120 - int(str(before)),)]
    check_ledger(db)


def test_a_truncated_archive_keeps_what_came_before_and_records_where_it_broke(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole.warc.gz"
    build(whole)
    data = whole.read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) * 2 // 5])  # inside a later gzip member
    not_gzip = tmp_path / "plain-text.warc.gz"
    not_gzip.write_text("this is not an archive at all\n" * 20)
    empty = tmp_path / "empty.warc"
    empty.write_bytes(b"")
    result = run_cli("load", str(cut), str(not_gzip), str(empty))
    assert result.exit_code == 3, result.output  # failed inputs: the exit status says so
    rows = query(db_path, "SELECT origin, state, reason, detail FROM pages ORDER BY id")
    cut_rows = [r for r in rows if str(r[0]).startswith(str(cut))]
    assert cut_rows[0][1:3] == ("stored", None)  # the first page, before the break
    assert cut_rows[-1][1:3] == ("failed", "bad_archive")
    broken_at = int(str(cut_rows[-1][0]).rsplit("#", 1)[1])
    assert 0 < broken_at < len(data) * 2 // 5
    (bad,) = [r for r in rows if str(r[0]).startswith(str(not_gzip))]
    assert bad[1:3] == ("failed", "bad_archive")
    (nothing,) = [r for r in rows if str(r[0]).startswith(str(empty))]
    assert nothing[1:3] == ("rejected", "empty")
    check_ledger(db_path)


def test_wet_conversion_records_go_through_the_text_path(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    wet = tmp_path / "segment.warc.wet.gz"
    with open(wet, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        text = "\n\n".join(PARAGRAPHS).encode()
        record = writer.create_warc_record(
            "https://news.example/ferry", "conversion", payload=io.BytesIO(text),
            length=len(text), warc_headers_dict={"Content-Type": "text/plain"},
        )  # fmt: skip
        writer.write_record(record)
    result = run_cli("load", str(wet))
    assert result.exit_code == 0, result.output
    assert query(db_path, "SELECT url FROM articles") == [("https://news.example/ferry",)]
    assert gzip.decompress(wet.read_bytes())  # a real gzip file, written by warcio
    check_ledger(db_path)


def test_a_crawl_keeps_its_responses_and_loading_them_gives_the_same_articles(
    tmp_path: Path,
) -> None:
    """`crawler crawl --archive DIR` writes every response into WARC files (a warcinfo naming the
    crawler first); `crawler load DIR` re-cleans them without fetching anything: the same
    articles as the crawl stored."""
    from tests.conftest import crawler_subprocess
    from tests.site import serve
    from tests.test_crawl import sources_file

    archive, crawled, reloaded = tmp_path / "warc", tmp_path / "crawl.db", tmp_path / "again.db"
    with serve() as site:
        sources = sources_file(tmp_path, site.base)
        crawl = crawler_subprocess(
            "crawl", "testsite", "--sources", str(sources), "--db", str(crawled),
            "--archive", str(archive),
        )  # fmt: skip
        requested = len(site.requested)
    assert crawl.returncode == 0, crawl.stderr
    files = sorted(archive.glob("testsite-*.warc.gz"))
    assert files, list(archive.iterdir())
    from warcio.archiveiterator import ArchiveIterator

    with open(files[0], "rb") as stream:
        first = next(iter(ArchiveIterator(stream)))
        assert first.rec_type == "warcinfo"
        assert b"dedup-crawler/" in first.content_stream().read()
    assert_reloads_as_crawled(archive, crawled, reloaded)
    assert requested > 0


def assert_reloads_as_crawled(archive: Path, crawled: Path, reloaded: Path) -> None:
    """`crawler load ARCHIVE` into `reloaded` gives the articles the crawl stored in `crawled`."""
    from tests.conftest import crawler_subprocess

    load = crawler_subprocess("load", str(archive), "--db", str(reloaded))
    assert load.returncode == 0, load.stderr
    assert "archive_index" in load.stdout  # robots.txt, the sitemap: kept, skipped on re-clean
    # Which of two identical pages a concurrent crawl stores first depends on timing (a load's
    # winner is the first in the archive), so compare each article's text with every URL that
    # reached it, stored or as its duplicate.
    sql = """SELECT a.content_hash, p.url FROM pages p JOIN articles a
             ON a.id = coalesce(p.article_id, p.duplicate_of)
             WHERE p.state IN ('stored', 'duplicate') ORDER BY 1, 2"""
    assert query(reloaded, sql) == query(crawled, sql)
    counts = "SELECT count(*) FROM articles"
    assert query(reloaded, counts) == query(crawled, counts)
    assert query(crawled, counts) != [(0,)]
    check_ledger(reloaded)


def test_archive_files_rotate_at_the_size_set_each_opening_with_a_warcinfo(
    tmp_path: Path,
) -> None:
    """`-s CRAWLER_ARCHIVE_DIR=DIR` alone turns archiving on; `CRAWLER_ARCHIVE_FILE_MB` takes a
    fraction, so a crawl of the test site fills several files of 2 KB. Every file opens with
    its own warcinfo, and loading them all gives the crawl's articles."""
    from warcio.archiveiterator import ArchiveIterator

    from tests.conftest import crawler_subprocess
    from tests.site import serve
    from tests.test_crawl import sources_file

    archive, crawled = tmp_path / "warc", tmp_path / "crawl.db"
    with serve() as site:
        sources = sources_file(tmp_path, site.base)
        crawl = crawler_subprocess(
            "crawl", "testsite", "--sources", str(sources), "--db", str(crawled),
            "-s", f"CRAWLER_ARCHIVE_DIR={archive}", "-s", "CRAWLER_ARCHIVE_FILE_MB=0.002",
        )  # fmt: skip
        requested = len(site.requested)
    assert crawl.returncode == 0, crawl.stderr
    files = sorted(archive.glob("testsite-*.warc.gz"))
    assert len(files) > 1, files
    assert [f.name[-13:] for f in files] == [f"{n:05d}.warc.gz" for n in range(1, len(files) + 1)]
    responses = 0
    for path in files:
        with open(path, "rb") as stream:
            kinds = [record.rec_type for record in ArchiveIterator(stream)]
        assert kinds[0] == "warcinfo" and "warcinfo" not in kinds[1:], path.name
        assert len(kinds) > 1, path.name  # a file is opened for a response, never empty
        responses += len(kinds) - 1
    # a new file is started once the last one holds 2 KB: each but the last holds that much
    assert all(f.stat().st_size >= 2048 for f in files[:-1])
    assert responses == requested  # every response the site sent, once
    assert_reloads_as_crawled(archive, crawled, tmp_path / "again.db")


def test_a_source_with_an_archive_key_keeps_its_responses(tmp_path: Path) -> None:
    """`archive = "DIR"` in a source's entry of sources.toml archives its crawls, without
    `--archive` on the command line."""
    from tests.conftest import crawler_subprocess
    from tests.site import serve
    from tests.test_crawl import sources_file

    archive, crawled = tmp_path / "kept", tmp_path / "crawl.db"
    with serve() as site:
        sources = sources_file(tmp_path, site.base, extra=f'archive = "{archive}"\n')
        crawl = crawler_subprocess(
            "crawl", "testsite", "--sources", str(sources), "--db", str(crawled)
        )
    assert crawl.returncode == 0, crawl.stderr
    assert len(list(archive.glob("testsite-*.warc.gz"))) == 1
    assert_reloads_as_crawled(archive, crawled, tmp_path / "again.db")


def test_a_grown_archive_is_read_from_where_the_last_load_stopped(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    """A crawler still writing its archive: the next load reads only the records added since."""
    archive = tmp_path / "growing.warc.gz"
    build(archive)
    assert run_cli("load", str(archive)).exit_code == 0
    with open(archive, "ab") as out:  # gzip members append as whole records
        writer = WARCWriter(out, gzip=True)
        late = [
            "The city council voted on Thursday to extend the night bus network to the suburbs.",
            "Six new routes will run every twenty minutes between midnight and five in the morning.",
            "Drivers' unions welcomed the plan but asked for more staff before it starts in March.",
        ]
        response_record(writer, "https://news.example/late", html("Late", late).encode(),
                  "text/html; charset=utf-8")  # fmt: skip
    grown = run_cli("load", str(archive))
    assert grown.exit_code == 0, grown.output
    rows = query(db_path, "SELECT url, state FROM pages WHERE run_id = 2")
    assert rows == [("https://news.example/late", "stored")]
    assert "archive_done 1" in grown.output and "archive_warcinfo" not in grown.output
    check_ledger(db_path)


def test_a_warc_source_loads_the_archives_its_pattern_matches_then_only_what_is_new(
    tmp_path: Path,
) -> None:
    """kind = "warc" in sources.toml, with a glob: `crawler run` loads the archives it matches;
    the next run reads only the records added since (here: none, then a new archive)."""
    import sys

    from tests.conftest import ROOT

    folder = tmp_path / "archives"
    folder.mkdir()
    build(folder / "a.warc.gz")
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f'[sources.archived]\nkind = "warc"\npaths = ["{folder}/*.warc.gz"]\n', "utf-8"
    )
    db = tmp_path / "warc.db"
    import subprocess

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "crawler.entry", "run", "archived", "--db", str(db),
             "--sources", str(sources)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    first = run()
    assert first.returncode == 0, first.stderr + first.stdout
    assert query(db, "SELECT count(*) FROM articles") == [(2,)]
    second = run()  # nothing new: the last record done is read, nothing recorded
    assert second.returncode == 0, second.stderr + second.stdout
    assert query(db, "SELECT count(*) FROM pages WHERE run_id = 2") == [(0,)]
    with open(folder / "b.warc.gz", "wb") as out:
        writer = WARCWriter(out, gzip=True)
        text = ["A new archive arrived with one page of its own, about the harbour tides.",
                "The tide tables for the next month were published by the port office today.",
                "Fishermen said the spring tides would bring the boats in earlier than usual."]  # fmt: skip
        response_record(
            writer, "https://news.example/tides", html("Tides", text).encode(), "text/html"
        )
    third = run()
    assert third.returncode == 0, third.stderr + third.stdout
    assert query(db, "SELECT url FROM pages WHERE run_id = 3") == [("https://news.example/tides",)]
    assert query(db, "SELECT DISTINCT source FROM runs") == [("archived",)]
    check_ledger(db)


def test_hostile_archives_end_recorded_and_bounded(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    """A wrong Content-Length, an HTTP block that does not parse, a decompression bomb (a small
    gzip member holding 60 MB): each ends in the ledger with its reason, in bounded memory, and
    the run goes on (100,000 tiny records: the test below)."""
    good = io.BytesIO()
    response_record(WARCWriter(good, gzip=False), "https://x.example/a", html("A", PARAGRAPHS).encode(),
              "text/html")  # fmt: skip
    wrong = good.getvalue().replace(b"Content-Length: ", b"Content-Length: 9", 1)
    (tmp_path / "wrong-length.warc").write_bytes(wrong)
    block = b"NOT HTTP AT ALL\r\n\r\n<html>x</html>"
    head = (
        b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://x.example/b\r\n"
        b"WARC-Date: 2024-05-06T07:08:09Z\r\n"
        b"WARC-Record-ID: <urn:uuid:12345678-1234-1234-1234-123456789012>\r\n"
        b"Content-Type: application/http; msgtype=response\r\n"
        b"Content-Length: " + str(len(block)).encode() + b"\r\n\r\n"
    )
    (tmp_path / "bad-http.warc").write_bytes(head + block + b"\r\n\r\n")
    with open(tmp_path / "bomb.warc.gz", "wb") as out:
        body = b"<html><body><p>" + b" " * (60 * 1024 * 1024) + b"</p></body></html>"
        response_record(WARCWriter(out, gzip=True), "https://x.example/bomb", body, "text/html")
    assert (tmp_path / "bomb.warc.gz").stat().st_size < 200_000
    result = run_cli("load", str(tmp_path))
    assert result.exit_code == 3, result.output  # failed records: the status says so
    rows = {
        Path(str(o).split("#")[0]).name: (s, r)
        for o, s, r in query(db_path, "SELECT origin, state, reason FROM pages")
    }
    assert rows["wrong-length.warc"] == ("failed", "bad_archive")
    assert rows["bad-http.warc"] == ("failed", "bad_archive")
    assert rows["bomb.warc.gz"] == ("rejected", "too_large")  # read no further than the cap
    check_ledger(db_path)


def _arc(records: list[tuple[str, str, bytes]], gz: bool) -> tuple[bytes, list[int]]:
    """An ARC (version 1) file, built by hand: warcio reads ARC but cannot write it. Each record
    is (URL, 14-digit date, HTTP block); returns the file and the byte offset of each record
    (the file's `filedesc` header first)."""
    spec = b"1 0 Test Archive\nURL IP-address Archive-date Content-type Archive-length\n"
    parts = [b"filedesc://test.arc 0.0.0.0 20240506070809 text/plain %d\n%s\n" % (len(spec), spec)]
    for url, date, block in records:
        head = f"{url} 192.0.2.1 {date} application/http {len(block)}\n".encode()
        parts.append(head + block + b"\n")
    if gz:  # as .arc.gz files are: one gzip member per record
        parts = [gzip.compress(part) for part in parts]
    offsets, at = [], 0
    for part in parts:
        offsets.append(at)
        at += len(part)
    return b"".join(parts), offsets


@pytest.mark.parametrize("name", ["old.arc", "old.arc.gz"])
def test_an_arc_file_loads_like_a_warc(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path, name: str
) -> None:
    """The old ARC format (.arc, .arc.gz): HTML responses become pages with their URL, HTTP
    charset and ARC date as the fetch time; the filedesc header and non-HTML are counted."""
    page = html("예산", KOREAN).encode("euc-kr")
    records = [
        ("http://news.example/budget", "20240506070809",
         b"HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=euc-kr\r\n\r\n" + page),
        ("http://news.example/logo.png", "20240506070810",
         b"HTTP/1.0 200 OK\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n" + bytes(100)),
        ("http://news.example/gone", "20240506070811",
         b"HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\n\r\nnot here"),
    ]  # fmt: skip
    data, offsets = _arc(records, gz=name.endswith(".gz"))
    archive = tmp_path / name
    archive.write_bytes(data)
    result = run_cli("load", str(archive))
    assert result.exit_code == 0, result.output
    assert query(db_path, "SELECT origin, url, state FROM pages") == [
        (f"{archive}#{offsets[1]}", "http://news.example/budget", "stored")
    ]
    for kind in ("archive_warcinfo 1", "archive_not_html 1", "archive_status_404 1"):
        assert kind in result.output, kind
    ((text, fetched, published),) = query(
        db_path, "SELECT text, fetched_at, published_at FROM articles"
    )
    assert str(text).startswith("서울시는")  # decoded with the HTTP charset
    assert (fetched, published) == ("2024-05-06T07:08:09+00:00", None)
    check_ledger(db_path)


def test_a_record_header_that_is_not_warc_ends_that_file_in_the_ledger_at_its_offset(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    """Where the next record's header should be, something else: an HTTP response (one whose
    status line has five fields, which warcio would read as an ARC record if it were left to
    guess the format record by record), a gzip member of garbage, one that starts with blank
    lines (warcio reads a record without a type there). The records before it are
    stored, the break is one `failed` / `bad_archive` row at its byte offset, nothing after it is
    read (it cannot be trusted), and the other files of the run load."""
    late = html("Late", ["A record after the break is never read, whatever it holds."]).encode()
    broken: dict[str, tuple[int, str]] = {}
    for name, gz, page, garbage, starts in [
        ("plain.warc", False, html("Ferry", PARAGRAPHS),
         b"HTTP/1.1 200 OK (from cache)\r\nContent-Type: text/html\r\n\r\n<html>x</html>\r\n\r\n",
         "HTTP/1.1 200 OK (from cache)"),
        ("members.warc.gz", True, html("예산", KOREAN),
         gzip.compress(b"GARBAGE/1.0\r\nWARC-Type: response\r\n\r\n"), "GARBAGE/1.0"),
        ("blank.warc.gz", True, html("Tides", TIDES),
         gzip.compress(b"\r\n\r\nGET /x HTTP/1.1 a 12\r\n"), "no WARC-Type"),
    ]:  # fmt: skip
        out = io.BytesIO()
        writer = WARCWriter(out, gzip=gz)
        response_record(writer, f"https://news.example/{name}/first", page.encode(), "text/html")
        at = out.tell()
        out.write(garbage)
        response_record(writer, f"https://news.example/{name}/late", late, "text/html")
        (tmp_path / name).write_bytes(out.getvalue())
        broken[name] = (at, starts)
    fine = tmp_path / "zz-fine.warc.gz"  # walked after the broken ones
    with open(fine, "wb") as out:
        bus = [
            "The city council voted on Thursday to extend the night bus network to the suburbs.",
            "Six new routes will run every twenty minutes between midnight and five in the morning.",
            "Drivers' unions welcomed the plan but asked for more staff before it starts in March.",
        ]
        response_record(WARCWriter(out, gzip=True), "https://news.example/bus",
                  html("Night buses", bus).encode(), "text/html")  # fmt: skip
    result = run_cli("load", str(tmp_path))
    assert result.exit_code == 3, result.output  # failed inputs: the exit status says so
    rows = query(db_path, "SELECT origin, url, state, reason, detail FROM pages ORDER BY id")
    for name, (at, starts) in broken.items():
        path = str(tmp_path / name)
        mine = [r for r in rows if str(r[0]).startswith(path + "#")]
        assert [r[1:4] for r in mine] == [
            (f"https://news.example/{name}/first", "stored", None),
            (f"{(tmp_path / name).as_uri()}", "failed", "bad_archive"),
        ], name
        assert mine[0][0] == f"{path}#0"
        assert mine[1][0] == f"{path}#{at}", name  # the offset of the header that is not WARC
        assert starts in str(mine[1][4]), mine[1][4]
    assert [r[1:3] for r in rows if str(r[0]).startswith(str(fine))] == [
        ("https://news.example/bus", "stored")
    ]
    assert len(rows) == 7
    check_ledger(db_path)


def test_html_without_a_content_type_is_sniffed(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    """A response whose HTTP block has no Content-Type: an HTML body becomes a page and is
    stored; a body that is not HTML (text, an image) is counted as not HTML, not stored."""
    archive = tmp_path / "untyped.warc.gz"
    with open(archive, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        response_record(
            writer, "https://news.example/ferry", html("Ferry", PARAGRAPHS).encode(), None
        )
        response_record(
            writer, "https://news.example/notes.txt", " ".join(PARAGRAPHS).encode(), None
        )
        response_record(writer, "https://news.example/logo.png", b"\x89PNG\r\n" + bytes(200), None)
    result = run_cli("load", str(archive))
    assert result.exit_code == 0, result.output
    assert query(db_path, "SELECT url, state FROM pages") == [
        ("https://news.example/ferry", "stored")
    ]
    assert "archive_not_html 2" in result.output
    (text,) = query(db_path, "SELECT text FROM articles")[0]
    assert "ferry terminal will open" in str(text)
    check_ledger(db_path)


@pytest.mark.timeout(120)
def test_a_warc_of_100000_tiny_records_is_read_to_its_end(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    """100,000 one-byte metadata records, then a page: each record is counted, none is stored,
    and the page after them is stored at its exact byte offset. One record is written by
    warcio's writer and repeated (a gzip member per record, as crawls write them): writing
    100,000 records one by one would take longer than reading them."""
    one = io.BytesIO()
    writer = WARCWriter(one, gzip=True)
    tiny = writer.create_warc_record(
        "https://x.example/m", "metadata", payload=io.BytesIO(b"x"), length=1
    )
    writer.write_record(tiny)
    member = one.getvalue()
    archive = tmp_path / "tiny.warc.gz"
    with open(archive, "wb") as out:
        out.write(member * 100_000)
        response_record(WARCWriter(out, gzip=True), "https://x.example/after",
                  html("Ferry", PARAGRAPHS).encode(), "text/html")  # fmt: skip
    result = run_cli("load", str(archive))
    assert result.exit_code == 0, result.output
    assert "archive_metadata 100000" in result.output
    assert query(db_path, "SELECT origin, url, state FROM pages") == [
        (f"{archive}#{len(member) * 100_000}", "https://x.example/after", "stored")
    ]
    check_ledger(db_path)


def test_a_break_inside_a_record_that_is_only_counted_is_recorded_at_its_offset(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    """A record that is counted, not read (here a 404 and a metadata record), is still read to its
    end: a file cut inside it, or a gzip member corrupted inside it, is a `failed` /
    `bad_archive` row at that record's offset (warcio stops quietly at the cut, and reported the
    corruption only on the way to the next record, under the offset of a row already kept)."""
    import random

    noise = random.Random(22).randbytes(200_000).hex().encode()  # does not compress
    broken: dict[str, int] = {}
    for name, page in [("cut.warc.gz", html("Ferry", PARAGRAPHS)),
                       ("corrupt.warc.gz", html("Tides", TIDES))]:  # fmt: skip
        out = io.BytesIO()
        writer = WARCWriter(out, gzip=True)
        response_record(writer, f"https://news.example/{name}", page.encode(), "text/html")
        at = out.tell()
        if name == "cut.warc.gz":
            response_record(
                writer, "https://news.example/gone", noise, "text/html", "404 Not Found"
            )
            data = out.getvalue()[: at + (out.tell() - at) // 2]
        else:
            record = writer.create_warc_record(
                "https://news.example/m", "metadata", payload=io.BytesIO(noise), length=len(noise)
            )
            writer.write_record(record)
            data = bytearray(out.getvalue())
            middle = at + (len(data) - at) // 2
            data[middle : middle + 64] = bytes(64)  # the deflate stream no longer decodes
        (tmp_path / name).write_bytes(bytes(data))
        broken[name] = at
    result = run_cli("load", str(tmp_path))
    assert result.exit_code == 3, result.output
    rows = query(db_path, "SELECT origin, state, reason, detail FROM pages ORDER BY id")
    for name, at in broken.items():
        path = str(tmp_path / name)
        mine = [r for r in rows if str(r[0]).startswith(path + "#")]
        assert [r[:3] for r in mine] == [
            (f"{path}#0", "stored", None),
            (f"{path}#{at}", "failed", "bad_archive"),
        ], (name, mine)
    assert "archive_status_404" not in result.output  # a broken record is not counted as well
    check_ledger(db_path)


def test_two_crawls_of_one_source_in_one_second_archive_into_files_of_their_own(
    tmp_path: Path,
) -> None:
    """Archive files are named NAME-SECOND-SERIAL: a second crawl of the same source into the same
    folder started within the same second takes the next free serial, instead of failing to
    create its file (which stopped its archiving with only a log line)."""
    from scrapy import Request, Spider
    from scrapy.http import HtmlResponse
    from scrapy.utils.test import get_crawler
    from warcio.archiveiterator import ArchiveIterator

    from crawler.archiving import WarcArchiver

    folder = tmp_path / "warc"
    archivers = []
    for n in range(2):
        crawler = get_crawler(Spider, settings_dict={"CRAWLER_ARCHIVE_DIR": str(folder)})
        archiver = WarcArchiver.from_crawler(crawler)
        archiver._stamp = "20240506070809"  # the same second for both
        url = f"https://news.example/{n}"
        page = HtmlResponse(url, body=html(f"Story {n}", PARAGRAPHS).encode(), encoding="utf-8")
        archiver.response_received(page, Request(url), Spider(name="harbour"))
        archiver.spider_closed(Spider(name="harbour"), "finished")  # its record is written
        archivers.append(archiver)
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["harbour-20240506070809-00001.warc.gz", "harbour-20240506070809-00002.warc.gz"]
    assert [a.records for a in archivers] == [1, 1]
    for n, name in enumerate(files):
        with open(folder / name, "rb") as stream:
            kinds = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI")) for r in
                     ArchiveIterator(stream)]  # fmt: skip
        assert kinds == [("warcinfo", None), ("response", f"https://news.example/{n}")]


def test_an_archive_that_cannot_be_written_stops_archiving_not_the_crawl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk (here: every open fails with ENOSPC) ends the archive with one error line; the
    responses keep coming and the close does not wait for, or raise from, the writing thread."""
    import builtins
    import errno

    from scrapy import Request, Spider
    from scrapy.http import HtmlResponse
    from scrapy.utils.test import get_crawler

    from crawler import archiving

    def full(*_args: object, **_kwargs: object) -> object:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(builtins, "open", full)
    crawler = get_crawler(Spider, settings_dict={"CRAWLER_ARCHIVE_DIR": str(tmp_path / "warc")})
    archiver = archiving.WarcArchiver.from_crawler(crawler)
    for n in range(3):
        url = f"https://news.example/{n}"
        page = HtmlResponse(url, body=html(f"Story {n}", PARAGRAPHS).encode(), encoding="utf-8")
        archiver.response_received(page, Request(url), Spider(name="harbour"))
    archiver.spider_closed(Spider(name="harbour"), "finished")
    assert archiver.failed and archiver.records == 0
