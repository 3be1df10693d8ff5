""" "Why is this article missing?": the ledger's answer for one URL or input, with the article each
duplicate was matched to."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from cleaners.fingerprint import canonical_url

MAX_ROWS = 200


@dataclass
class ArticleRef:
    id: int
    url: str
    origin: str
    title: str | None
    run_id: int | None
    stored_at: str


@dataclass
class LedgerEntry:
    run_id: int
    recorded_at: str
    origin: str
    url: str | None
    state: str
    reason: str | None
    similarity: float | None
    detail: str | None
    article: ArticleRef | None  # the article this input stored, updated or left unchanged
    duplicate_of: ArticleRef | None  # the stored article it duplicates


def _names(target: str) -> tuple[list[str], list[str]]:
    """(origins, URLs) the target may be recorded under: the spelling given, its canonical URL, and
    for an existing file its `file:` URL."""
    origins = [target]
    urls = [target]
    if target.startswith(("http://", "https://")):
        urls.append(canonical_url(target))
    elif os.path.exists(target):
        urls.append(Path(target).resolve().as_uri())
    return origins, list(dict.fromkeys(urls))


def _article(db: Database, article_id: int | None) -> ArticleRef | None:
    if article_id is None:
        return None
    row = db.execute(
        "SELECT id, url, origin, title, run_id, stored_at FROM articles WHERE id = ?",
        [article_id],
    ).fetchone()
    return ArticleRef(*row) if row else None


def explain(db: Database, target: str) -> list[LedgerEntry]:
    """Every ledger row for `target` (an origin as given, a URL, or a file path), oldest first,
    split-listing entries (`PATH#n`, `URL#fragment`) included."""
    origins, urls = _names(target)
    clauses, params = [], []
    for origin in origins:
        clauses.append("origin = ? OR (origin > ? AND origin < ?)")
        params += [origin, origin + "#", origin + "$"]  # "$" sorts right after "#"
    for url in urls:
        clauses.append("url = ? OR (url > ? AND url < ?)")
        params += [url, url + "#", url + "$"]
    rows = db.execute(
        f"""SELECT run_id, recorded_at, origin, url, state, reason, similarity, detail,
                   article_id, duplicate_of
            FROM pages WHERE {" OR ".join(f"({c})" for c in clauses)}
            ORDER BY id LIMIT {MAX_ROWS}""",
        params,
    ).fetchall()
    return [
        LedgerEntry(
            run_id=row[0],
            recorded_at=row[1],
            origin=row[2],
            url=row[3],
            state=row[4],
            reason=row[5],
            similarity=row[6],
            detail=row[7],
            article=_article(db, row[8]),
            duplicate_of=_article(db, row[9]),
        )
        for row in rows
    ]


def as_json(entries: list[LedgerEntry]) -> list[dict[str, Any]]:
    return [asdict(e) for e in entries]


def render(target: str, entries: list[LedgerEntry]) -> str:
    lines = [f"{target}: {len(entries)} ledger row(s)"]
    for e in entries:
        what = e.state + (f" ({e.reason})" if e.reason else "")
        lines.append(f"  run {e.run_id} at {e.recorded_at}  {e.origin}")
        if e.duplicate_of is not None:
            d = e.duplicate_of
            similarity = f", similarity {e.similarity:.3f}" if e.similarity is not None else ""
            lines.append(f"    {what}{similarity} of article {d.id} stored by run {d.run_id}:")
            lines.append(f"      {d.origin}  <{d.url}>")
            if d.title:
                lines.append(f"      title: {d.title}")
        elif e.article is not None:
            lines.append(f"    {what}: article {e.article.id} <{e.article.url}>")
        else:
            lines.append(f"    {what}" + (f": {e.detail}" if e.detail else ""))
    return "\n".join(lines)
