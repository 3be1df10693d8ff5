"""Schema, only ever changed through these migrations (sqlite-utils `Migrations`, applied in order).

Downstream tools rely on these names; docs/schema.md documents every table and column and a test
checks that the document and the live schema agree. Never edit an applied migration: add a new one.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

from db.transaction import write_transaction

SCHEMA_VERSION = 5
migrations = Migrations("crawler")


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            command TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
            pid INTEGER,
            host TEXT,
            inputs INTEGER NOT NULL DEFAULT 0,
            stored INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            report TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            origin TEXT NOT NULL,
            source TEXT NOT NULL,
            title TEXT,
            author TEXT,
            published_at TEXT,
            language TEXT,
            text TEXT NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            content_hash TEXT NOT NULL UNIQUE,
            run_id INTEGER REFERENCES runs(id),
            stored_at TEXT NOT NULL,
            updated_at TEXT
        );
        CREATE INDEX articles_source_id ON articles(source, id);
        CREATE TABLE pages (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            origin TEXT NOT NULL,
            url TEXT,
            source TEXT NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('stored', 'duplicate', 'unchanged', 'rejected', 'failed')),
            reason TEXT,
            article_id INTEGER REFERENCES articles(id),
            duplicate_of INTEGER REFERENCES articles(id),
            similarity REAL,
            attempts INTEGER NOT NULL DEFAULT 1,
            detail TEXT,
            recorded_at TEXT NOT NULL,
            UNIQUE (run_id, origin)
        );
        CREATE INDEX pages_origin ON pages(origin);
        CREATE INDEX pages_url ON pages(url);
        CREATE INDEX pages_state_reason ON pages(state, reason);
        CREATE TABLE dedup_bands (
            band INTEGER NOT NULL,
            key INTEGER NOT NULL,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            PRIMARY KEY (band, key, article_id)
        ) WITHOUT ROWID;
        CREATE INDEX dedup_bands_article ON dedup_bands(article_id);
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """
    )
    db.execute("INSERT INTO meta(key, value) VALUES ('schema_version', '1')")


@migrations()
def m002_http_validators(db: Database) -> None:
    """What a web server said about each stored URL, so the next crawl can ask "changed since?"."""
    db.executescript(
        """
        CREATE TABLE http_validators (
            url TEXT PRIMARY KEY,
            etag TEXT,
            last_modified TEXT,
            fetched_at TEXT NOT NULL
        );
        """
    )
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


@migrations()
def m003_search_and_views(db: Database) -> None:
    """Full-text search over title and text in every script (FTS5's trigram tokenizer: substrings
    of three or more characters, so Korean, Chinese and Japanese need no word segmentation), kept in
    step by triggers inside the same transaction as the article; views for common reads."""
    for statement in [
        """CREATE VIRTUAL TABLE articles_fts USING fts5(
               title, text, content='articles', content_rowid='id', tokenize='trigram')""",
        """CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN
               INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
           END""",
        """CREATE TRIGGER articles_ad AFTER DELETE ON articles BEGIN
               INSERT INTO articles_fts(articles_fts, rowid, title, text)
               VALUES ('delete', old.id, old.title, old.text);
           END""",
        """CREATE TRIGGER articles_au AFTER UPDATE OF title, text ON articles BEGIN
               INSERT INTO articles_fts(articles_fts, rowid, title, text)
               VALUES ('delete', old.id, old.title, old.text);
               INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
           END""",
        "INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')",  # articles stored before
        """CREATE VIEW latest_articles AS
               SELECT row_number() OVER (PARTITION BY source ORDER BY id DESC) AS recency,
                      id, source, url, title, author, published_at, language, stored_at
               FROM articles""",
        """CREATE VIEW duplicates AS
               SELECT p.id AS page_id, p.run_id, p.source, p.origin, p.url, p.reason AS kind,
                      p.similarity, p.recorded_at, a.id AS original_id, a.url AS original_url,
                      a.title AS original_title
               FROM pages p JOIN articles a ON a.id = p.duplicate_of
               WHERE p.state = 'duplicate'""",
        """CREATE VIEW failures AS
               SELECT source, state, reason, count(*) AS inputs, max(recorded_at) AS last_seen
               FROM pages WHERE state IN ('rejected', 'failed')
               GROUP BY source, state, reason""",
        "UPDATE meta SET value = '3' WHERE key = 'schema_version'",
    ]:
        db.execute(statement)


@migrations()
def m004_fetch_time(db: Database) -> None:
    """When the stored text was fetched: a crawl's response, a web archive record's WARC-Date, a
    file's load. Kept apart from `published_at`, which is never a fetch time."""
    db.execute("ALTER TABLE articles ADD COLUMN fetched_at TEXT")
    db.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")


@migrations()
def m005_cluster_jobs(db: Database) -> None:
    """The cluster job a run stores (`crawler writer`): a result delivered twice is known by its
    job's run and its input's ledger name, and a restarted writer reopens the run of a job it had
    not finished."""
    db.execute("ALTER TABLE runs ADD COLUMN job TEXT")
    db.execute("CREATE UNIQUE INDEX runs_job ON runs(job) WHERE job IS NOT NULL")
    db.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")


def migrate(db: Database) -> None:
    """Apply pending migrations; a no-op (one read) on an up-to-date database.

    Pending migrations are applied under the write lock (`BEGIN IMMEDIATE`) and re-checked inside it,
    so two processes opening a new database at once apply them exactly once: the second waits, then
    finds nothing pending. sqlite-utils runs each migration in a savepoint inside that transaction.
    """
    if not migrations.pending(db):
        return
    with write_transaction(db):
        if migrations.pending(db):
            migrations.apply(db)
