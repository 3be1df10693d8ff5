"""The `http_validators` table: what a web server said about each stored URL (ETag, Last-Modified)
and when it was last fetched, so the next crawl can skip it or ask "changed since?"."""

from __future__ import annotations

from sqlite_utils import Database

from db.transaction import write_transaction
from db.vocabulary import utcnow_iso


def remember(
    db: Database, seen: list[tuple[str, str | None, str | None]], revalidated: list[str]
) -> None:
    """Keep the validators of pages just stored (canonical URL, ETag, Last-Modified), and restart
    the revisit clock of URLs that answered 304: one transaction for all."""
    if not seen and not revalidated:
        return
    now = utcnow_iso()
    with write_transaction(db):
        db.conn.executemany(
            """INSERT INTO http_validators(url, etag, last_modified, fetched_at) VALUES (?, ?, ?, ?)
               ON CONFLICT(url) DO UPDATE SET etag = excluded.etag,
                   last_modified = excluded.last_modified, fetched_at = excluded.fetched_at""",
            [(url, etag, modified, now) for url, etag, modified in seen],
        )
        db.conn.executemany(
            "UPDATE http_validators SET fetched_at = ? WHERE url = ?",
            [(now, url) for url in revalidated],
        )


def last_fetch(db: Database, url: str) -> tuple[int, str, str | None, str | None] | None:
    """For a canonical URL stored as an article, or recorded as a copy of one: (article id, when
    it was last fetched or stored, ETag, Last-Modified); None for a URL never stored."""
    row = db.execute(
        """SELECT a.id, coalesce(v.fetched_at, a.updated_at, a.stored_at), v.etag, v.last_modified
           FROM articles a LEFT JOIN http_validators v ON v.url = a.url WHERE a.url = ?""",
        [url],
    ).fetchone()
    if row is None:
        # a copy of a stored article seen before (syndicated, tracking URL): same rule
        row = db.execute(
            """SELECT duplicate_of, recorded_at, NULL, NULL FROM pages
               WHERE url = ? AND state = 'duplicate' ORDER BY id DESC LIMIT 1""",
            [url],
        ).fetchone()
    return None if row is None else (int(row[0]), row[1], row[2], row[3])


def article_at(db: Database, url: str) -> int | None:
    """The id of the article stored at a canonical URL, if any."""
    row = db.execute("SELECT id FROM articles WHERE url = ?", [url]).fetchone()
    return None if row is None else int(row[0])
