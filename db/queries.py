"""Reading the database: full-text search and streaming export (`crawler search`, `crawler export`).

Both only read, through their own connection, so they never block a crawl that is writing (WAL):
they see the articles committed when their query started, each with its index entry and ledger row.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from sqlite_utils import Database

MIN_INDEXED = 3  # the trigram tokenizer indexes substrings of three characters or more
EXPORT_COLUMNS = (
    "id", "url", "source", "title", "author", "published_at", "language", "text", "metadata",
    "content_hash", "stored_at", "updated_at", "fetched_at",
)  # fmt: skip


def terms_of(query: str) -> list[str]:
    """Search terms: words, or "quoted phrases" kept whole."""
    try:
        parts = shlex.split(query)
    except ValueError:  # an unbalanced quote: take the words as they are
        parts = query.replace('"', " ").split()
    return [p.strip() for p in parts if p.strip()]


@dataclass
class Hit:
    id: int
    source: str
    url: str
    title: str | None
    published_at: str | None
    snippet: str


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _snippet(text: str, terms: list[str], width: int = 60) -> str:
    """The text around the first term found, terms marked [like this]."""
    lower = text.lower()
    found = [i for i in (lower.find(t.lower()) for t in terms) if i >= 0]
    at = min(found, default=0)
    start = max(0, at - width)
    piece = text[start : at + width * 2].replace("\n", " ")
    for term in sorted(terms, key=len, reverse=True):
        piece = re.sub(re.escape(term), lambda m: f"[{m.group(0)}]", piece, flags=re.I)
    return ("…" if start else "") + piece + ("…" if at + width * 2 < len(text) else "")


def search(
    db: Database,
    query: str,
    *,
    source: str | None = None,
    since: str | None = None,
    published_since: str | None = None,
    limit: int = 20,
) -> list[Hit]:
    """Articles containing every term of `query` in their title or text, best first (BM25 over the
    terms the index can match: three characters or more; shorter ones are matched by LIKE).
    `since` bounds the stored time, `published_since` the publication time (an article without
    one by its stored time); both ISO 8601 in UTC."""
    terms = terms_of(query)
    if not terms:
        return []
    indexed = [t for t in terms if len(t) >= MIN_INDEXED]
    short = [t for t in terms if len(t) < MIN_INDEXED]
    where, params = [], []
    for term in short:
        where.append("(a.title LIKE ? ESCAPE '\\' OR a.text LIKE ? ESCAPE '\\')")
        params += [_like(term), _like(term)]
    if source:
        where.append("a.source = ?")
        params.append(source)
    if since:
        where.append("a.stored_at >= ?")
        params.append(since)
    if published_since:
        # published times keep their own offsets: compared as instants, not as strings
        where.append("julianday(coalesce(a.published_at, a.stored_at)) >= julianday(?)")
        params.append(published_since)
    if indexed:
        match = " AND ".join('"' + t.replace('"', '""') + '"' for t in indexed)
        sql = f"""SELECT a.id, a.source, a.url, a.title, a.published_at, a.text
                  FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
                  WHERE articles_fts MATCH ? {"AND " + " AND ".join(where) if where else ""}
                  ORDER BY bm25(articles_fts, 5.0, 1.0) LIMIT ?"""
        rows = db.execute(sql, [match, *params, limit]).fetchall()
    else:
        sql = f"""SELECT a.id, a.source, a.url, a.title, a.published_at, a.text FROM articles a
                  WHERE {" AND ".join(where)} ORDER BY a.id DESC LIMIT ?"""
        rows = db.execute(sql, [*params, limit]).fetchall()
    return [Hit(r[0], r[1], r[2], r[3], r[4], _snippet(r[5], terms)) for r in rows]


def export_rows(
    db: Database,
    *,
    source: str | None = None,
    since: str | None = None,
    until: str | None = None,
    language: str | None = None,
    after_id: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Articles in id order, one at a time from the cursor (memory does not grow with the
    database). `since`/`until` bound `stored_at` (ISO, UTC); `after_id` resumes after a cursor."""
    where, params = [], []
    for clause, value in [
        ("source = ?", source),
        ("stored_at >= ?", since),
        ("stored_at < ?", until),
        ("language = ?", language),
        ("id > ?", after_id),
    ]:
        if value is not None:
            where.append(clause)
            params.append(value)
    sql = f"SELECT {', '.join(EXPORT_COLUMNS)} FROM articles"
    if where:
        sql += " WHERE " + " AND ".join(where)
    cursor = db.conn.execute(sql + " ORDER BY id", params)
    for row in cursor:
        record = dict(zip(EXPORT_COLUMNS, row, strict=True))
        record["metadata"] = json.loads(record["metadata"] or "{}")
        yield record


def write_export(rows: Iterator[dict[str, Any]], out: IO[str], fmt: str) -> tuple[int, int | None]:
    """Write rows as JSON Lines or CSV; returns (count, last id) for the next cursor."""
    count, last = 0, None
    writer = None
    for record in rows:
        if fmt == "csv":
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(EXPORT_COLUMNS))
                writer.writeheader()
            writer.writerow(
                {**record, "metadata": json.dumps(record["metadata"], ensure_ascii=False)}
            )
        else:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count, last = count + 1, record["id"]
    if fmt == "csv" and writer is None:
        csv.writer(out).writerow(EXPORT_COLUMNS)
    return count, last
