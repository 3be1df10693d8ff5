"""Reading the database: search in every script, streaming export with filters and a cursor,
and readers that run while a load writes."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crawler.cli import cli
from tests.conftest import ROOT, check_ledger, query
from tests.gen import write_corpus

PAGES = ROOT / "tests" / "fixtures" / "pages"


@pytest.fixture
def loaded(run_cli: Callable[..., Result], db_path: Path) -> Path:
    result = run_cli("load", str(PAGES), "seeds/")
    assert result.exit_code == 0, result.output
    return db_path


def _cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _hits(db: Path, query_text: str, *extra: str) -> list[dict[str, object]]:
    result = _cli("search", query_text, "--db", str(db), "--json", *extra)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    ("query_text", "page"),
    [
        ("사물 도서관", "ko-news-translated.html"),  # two Korean words, each two syllables
        ("반도체 장비", "ko-news-economy.html"),
        ("Recipe Cards", "en-blog-recipe-cards.html"),  # an English phrase, any case
        ('"around three hundred recipe cards"', "en-blog-recipe-cards.html"),
        ("自宅サーバー", "ja-blog-homeserver.html"),
    ],
)
def test_search_finds_the_article_in_every_script(loaded: Path, query_text: str, page: str) -> None:
    hits = _hits(loaded, query_text)
    assert hits, query_text
    assert str(hits[0]["url"]).endswith(page)
    assert "[" in str(hits[0]["snippet"])  # the match is marked


def test_search_filters_and_misses(loaded: Path) -> None:
    assert _hits(loaded, "반도체", "--source", "nowhere") == []
    assert _hits(loaded, "반도체", "--since", "2099-01-01") == []
    assert _hits(loaded, "zzqxv nothing like this") == []
    table = _cli("search", "반도체", "--db", str(loaded))
    assert "반도체" in table.stdout and table.exit_code == 0


def test_every_stored_article_is_in_the_search_index(loaded: Path) -> None:
    articles = query(loaded, "SELECT count(*) FROM articles")
    assert query(loaded, "SELECT count(*) FROM articles_fts_docsize") == articles
    assert query(loaded, "INSERT INTO articles_fts(articles_fts) VALUES ('integrity-check')") == []


def test_export_streams_jsonl_and_csv_with_filters_and_a_cursor(loaded: Path) -> None:
    total = int(query(loaded, "SELECT count(*) FROM articles")[0][0])  # type: ignore[call-overload]
    everything = _cli("export", "--db", str(loaded))
    records = [json.loads(line) for line in everything.stdout.splitlines()]
    assert len(records) == total and [r["id"] for r in records] == sorted(r["id"] for r in records)
    assert isinstance(records[0]["metadata"], dict)
    assert f"exported {total} articles; next: --after-id {records[-1]['id']}" in everything.stderr
    korean = _cli("export", "--db", str(loaded), "--language", "ko")
    ko = [json.loads(line) for line in korean.stdout.splitlines()]
    assert ko and all(r["language"] == "ko" for r in ko)
    cut = records[len(records) // 2]["id"]
    rest = _cli("export", "--db", str(loaded), "--after-id", str(cut))
    assert [json.loads(line)["id"] for line in rest.stdout.splitlines()] == [
        r["id"] for r in records if r["id"] > cut
    ]
    assert _cli("export", "--db", str(loaded), "--since", "2099-01-01").stdout == ""
    as_csv = _cli("export", "--db", str(loaded), "--format", "csv", "--source", "local")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == sum(r["source"] == "local" for r in records) == total
    assert json.loads(rows[0]["metadata"]) is not None and rows[0]["text"]


READER = """
import sqlite3, sys, time, json
db, stop = sys.argv[1], time.monotonic() + float(sys.argv[2])
conn = sqlite3.connect(db, timeout=1.0, isolation_level=None)
conn.execute("PRAGMA busy_timeout = 1000")
checks, problems, locked, slow = 0, 0, 0, []
while time.monotonic() < stop:
    started = time.monotonic()
    try:
        conn.execute("BEGIN")
        articles = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        indexed = conn.execute("SELECT count(*) FROM articles_fts_docsize").fetchone()[0]
        unledgered = conn.execute(
            "SELECT count(*) FROM articles a WHERE NOT EXISTS "
            "(SELECT 1 FROM pages p WHERE p.article_id = a.id)").fetchone()[0]
        dangling = conn.execute(
            "SELECT count(*) FROM pages WHERE state = 'stored' AND article_id NOT IN "
            "(SELECT id FROM articles)").fetchone()[0]
        hits = conn.execute(
            "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH '\\"paragraph\\"'"
        ).fetchone()[0]
        conn.execute("COMMIT")
        checks += 1
        if articles != indexed or unledgered or dangling or hits > articles:
            problems += 1
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            locked += 1
        else:
            raise
        conn.execute("ROLLBACK") if conn.in_transaction else None
    slow.append(time.monotonic() - started)
slow.sort()
print(json.dumps({"checks": checks, "problems": problems, "locked": locked,
                  "p99_ms": round(slow[int(len(slow) * 0.99) - 1] * 1000, 2) if slow else None}))
"""


def readers_during_writes(tmp_path: Path, count: int, seconds: float) -> list[dict[str, float]]:
    corpus = write_corpus(tmp_path / "corpus", count)
    db = tmp_path / "busy.db"
    created = subprocess.run(
        [sys.executable, "-m", "crawler.cli", "stats", "--db", str(db)], cwd=ROOT,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip  # (fails: no database yet) the writer creates it; readers wait for it below
    assert created.returncode != 0
    writer = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "load", str(corpus), "--db", str(db)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if query(db, "SELECT count(*) FROM articles")[0][0]:
                break
        except sqlite3.OperationalError:
            pass
        time.sleep(0.1)
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(db), str(seconds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for reader in readers:
        out, err = reader.communicate(timeout=seconds + 60)
        assert reader.returncode == 0, err
        results.append(json.loads(out))
    _out, err = writer.communicate(timeout=600)
    assert writer.returncode == 0, err
    assert query(db, "SELECT count(*) FROM articles") == [(count,)]
    check_ledger(db)
    report = json.loads(str(query(db, "SELECT report FROM runs")[0][0]))
    writer_p99 = report["commit_ms"]["p99"]
    print(f"writer commit p99 {writer_p99} ms; readers {results}")
    assert writer_p99 < 1000  # readers never make the writer wait long
    return results


@pytest.mark.timeout(300)
def test_readers_during_a_load_see_only_complete_articles_and_are_never_locked_out(
    tmp_path: Path,
) -> None:
    for result in readers_during_writes(tmp_path, 400, 3.0):
        assert result["checks"] > 20
        assert result["problems"] == 0  # every article with its index entry and ledger row
        assert result["locked"] == 0


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_readers_during_a_load_of_10000_articles(tmp_path: Path) -> None:
    for result in readers_during_writes(tmp_path, 10_000, 60.0):
        assert result["checks"] > 100 and result["problems"] == 0 and result["locked"] == 0


def test_sqlite_utils_reads_the_database_and_the_datasette_metadata_covers_it(loaded: Path) -> None:
    exe = Path(sys.executable).parent / "sqlite-utils"
    tables = subprocess.run(
        [str(exe), "tables", str(loaded), "--counts"], capture_output=True, text=True, timeout=60
    )
    assert tables.returncode == 0, tables.stderr
    counts = {row["table"]: row["count"] for row in json.loads(tables.stdout)}
    assert counts["articles"] == query(loaded, "SELECT count(*) FROM articles")[0][0]
    metadata = json.loads((ROOT / "docs" / "datasette-metadata.json").read_text("utf-8"))
    described = metadata["databases"]["articles"]["tables"]
    conn = sqlite3.connect(loaded)
    names = [
        r[0]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        if not r[0].startswith("articles_fts_")
    ]
    for name in names:  # every table and view, every column, has a description
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info([{name}])")]
        assert described[name]["description"], name
        assert sorted(described[name]["columns"]) == sorted(columns), name
        for facet in described[name].get("facets", []):
            assert facet in columns, (name, facet)
    conn.close()


def test_datasette_opens_the_database_with_its_metadata(loaded: Path) -> None:
    datasette = pytest.importorskip("datasette.app")  # an optional extra, skipped without it
    metadata = json.loads((ROOT / "docs" / "datasette-metadata.json").read_text("utf-8"))
    app = datasette.Datasette([str(loaded)], metadata=metadata)
    assert app is not None
