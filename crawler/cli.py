"""The `crawler` command: a thin click layer over documented library functions.

Errors for people are one line on stderr and a non-zero exit. Exit codes:
0 every accepted input reached a terminal state; 1 the run could not start or stopped on an error
(database, configuration); 2 usage error (bad option, missing path); 3 finished, but some inputs
ended `failed` (retryable: see the report); 130 interrupted (Ctrl-C / SIGTERM).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sqlite3
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, ClassVar, NoReturn

import click

from crawler import settings
from crawler.config import (
    ADHOC_MAX_PAGES,
    ConfigError,
    dedup_config,
    load_sources,
)
from crawler.loaders import InputError, count_inputs, load
from crawler.report import (
    EXIT_BUSY,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROGRESS,
    Interrupted,
)
from db.connect import DatabaseError, connect, describe_error
from db.dedup import ConfigMismatch, rebuild
from db.locks import SourceBusy


def _db(help_text: str) -> Callable[[Any], Any]:
    return click.option(
        "--db", "db_path", default=settings.CRAWLER_DB, show_default=True, help=help_text
    )


db_option = _db("SQLite database file (created if missing).")
read_db_option = _db("SQLite database file (must exist).")


def _set_verbose(_ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        logging.getLogger().setLevel(logging.DEBUG)
        logging.getLogger("crawler").setLevel(logging.DEBUG)
        LIBRARIES.level = logging.DEBUG
        LOGGING["args"] = ["-v", *LOGGING["args"]]


workers_option = click.option(
    "-w",
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default="0: one per core",
    help="Cleaning worker processes (pages cleaned at once). The result does not depend on it.",
)
verbose_option = click.option(
    "-v",
    "--verbose",
    is_flag=True,
    expose_value=False,
    callback=_set_verbose,
    help="Log debug detail to stderr.",
)


class Moment(click.ParamType):
    """A point in time for --since/--until: an ISO date (`2025-06-01`, midnight UTC), an ISO time
    (`2025-06-01T08:00`, UTC unless it gives an offset), or a span back from now: `90m`, `12h`,
    `7d`, `2w`. Given to the queries as ISO 8601 in UTC, comparable with the stored times."""

    name = "time"
    _SPAN: ClassVar[re.Pattern[str]] = re.compile(r"(\d+)\s*([mhdw])")
    _UNITS: ClassVar[dict[str, str]] = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from datetime import UTC, datetime, timedelta

        text = str(value).strip()
        if span := self._SPAN.fullmatch(text):
            moment = datetime.now(UTC) - timedelta(**{self._UNITS[span[2]]: int(span[1])})
        else:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                self.fail(
                    f"{value!r} is not an ISO date or time (2025-06-01, 2025-06-01T08:00+09:00) "
                    "nor a span back from now (12h, 7d, 2w)",
                    param,
                    ctx,
                )
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.echo(f"crawler: error: {message}", err=True)
    sys.exit(code)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class OneLine(logging.Formatter):
    """Every record on stderr is one line (without -v): a traceback is summed up by its last line
    (the exception), and stays whole in the log file (--log-file). Under cron, one line per error."""

    def format(self, record: logging.LogRecord) -> str:
        line = logging.Formatter.format(self, _without_traceback(record))
        first = line.split("\n", 1)[0]
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            why = f"{type(exc).__name__}: {exc}".split("\n", 1)[0]
            if why not in first:
                first += f" ({why})"
        return first


def _without_traceback(record: logging.LogRecord) -> logging.LogRecord:
    copy = logging.makeLogRecord(record.__dict__)
    copy.exc_info, copy.exc_text, copy.stack_info = None, None, None
    return copy


LOGGING: dict[str, list[str]] = {"args": []}


class _Libraries(logging.Filter):
    """Scrapy sets its loggers to DEBUG whatever we say: their records reach our handlers only at
    WARNING and above, unless -v."""

    level = logging.WARNING
    # A page whose fetch failed for good is an outcome, recorded in the ledger with its reason
    # and counted in the report, not an error of the crawler: Scrapy's "Error downloading"
    # (with a traceback) and "Gave up retrying" are shown only with -v.
    OUTCOMES = (
        ("scrapy.core.scraper", "Error downloading"),
        ("scrapy.downloadermiddlewares.retry", "Gave up retrying"),
        # a robots.txt that cannot be fetched: recorded robots_unreachable; our one-line warning
        # says so
        ("scrapy.downloadermiddlewares.robotstxt", "Error downloading"),
    )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(("scrapy", "twisted", "py.warnings", "asyncio")):
            if self.level > logging.DEBUG and any(
                record.name == name and str(record.msg).startswith(text)
                for name, text in self.OUTCOMES
            ):
                return False
            return record.levelno >= self.level
        return True


LIBRARIES = _Libraries()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress.")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also append the log to this file.",
)
def cli(verbose: bool, quiet: bool, log_file: str | None) -> None:
    """Turn web pages and local files into a clean, deduplicated SQLite database of articles.

    Logs go to stderr, one plain line per record (time, level, component, message). Runs show
    progress: a status line on a terminal, a one-line summary every 30 s in logs otherwise.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format=LOG_FORMAT, stream=sys.stderr
    )
    if not verbose:
        for each in logging.getLogger().handlers:
            if isinstance(each, logging.StreamHandler) and each.stream is sys.stderr:
                each.setFormatter(OneLine(LOG_FORMAT))
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger().addHandler(handler)
    LIBRARIES.level = logging.DEBUG if verbose else logging.WARNING
    for each in logging.getLogger().handlers:
        if LIBRARIES not in each.filters:
            each.addFilter(LIBRARIES)
    if not verbose:
        logging.getLogger("crawler").setLevel(logging.WARNING if quiet else logging.INFO)
    PROGRESS["mode"] = "off" if quiet else ("line" if sys.stderr.isatty() else "log")
    # what `crawler run` and `crawler schedule` pass on to the processes they start
    LOGGING["args"] = [
        *(["-v"] if verbose else ["-q"] if quiet else []),
        *(["--log-file", os.path.abspath(log_file)] if log_file else []),
    ]


@cli.command("load")
@click.argument("paths", nargs=-1, required=True)
@db_option
@verbose_option
@click.option(
    "--source",
    help="Source name recorded for these inputs (default: the configured "
    "files source holding the paths, else 'local').",
)
@click.option(
    "--no-dedup",
    is_flag=True,
    help="Skip near-duplicate detection (exact URL and "
    "content-hash dedup always apply; the index is still written).",
)
@click.option(
    "--sources",
    "sources_file",
    default=None,
    help=f"Sources file with per-source cleaning rules; must exist when given "
    f"[default: {settings.CRAWLER_SOURCES_FILE} in the current folder, if present].",
)
@workers_option
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=settings.CRAWLER_STORE_BATCH,
    show_default=True,
    help="Inputs stored per transaction at most (a finished input waits at most "
    f"{settings.CRAWLER_STORE_LINGER:g} s for others to join its transaction); 1 stores each "
    "input on its own.",
)
def load_cmd(
    paths: tuple[str, ...],
    db_path: str,
    source: str | None,
    no_dedup: bool,
    sources_file: str | None,
    workers: int,
    batch: int,
) -> None:
    """Load files and folders (.txt, .html, .htm, and .gz of each) into the database.

    Example: crawler load seeds/ --db data/articles.db
    """
    path_list = list(paths)
    bar = None
    progress: Callable[[int], None] | None = None
    try:
        if PROGRESS["mode"] == "line":  # a terminal, not --quiet
            bar = click.progressbar(
                length=count_inputs(path_list),
                label="loading",
                file=sys.stderr,
                show_pos=True,
                show_eta=True,
            )
            bar.__enter__()
            progress = bar.update
            PROGRESS["mode"] = "off"  # the bar shows it
        report = load(
            path_list,
            db_path=db_path,
            source=source,
            near=not no_dedup,
            sources_file=sources_file,
            progress=progress,
            workers=workers,
            batch=batch,
        )
    except InputError as exc:
        fail(str(exc), EXIT_USAGE)
    except SourceBusy as exc:
        fail(str(exc), EXIT_BUSY)
    except (ConfigError, ConfigMismatch, DatabaseError) as exc:
        fail(str(exc))
    except KeyboardInterrupt as exc:
        code = exc.exit_code if isinstance(exc, Interrupted) else EXIT_INTERRUPTED
        fail("interrupted; finished inputs are stored, rerun to continue", code)
    except sqlite3.Error as exc:
        fail(describe_error(exc, db_path))
    except OSError as exc:  # disk full, read-only database directory, ...
        fail(f"{type(exc).__name__}: {exc}")
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(report.render())
    sys.exit(report.exit_code())


@cli.command("crawl")
@click.argument("target")
@db_option
@click.option(
    "--sources",
    "sources_file",
    default=None,
    help=f"Sources file [default: {settings.CRAWLER_SOURCES_FILE} in the current folder].",
)
@click.option(
    "--max-pages",
    type=click.IntRange(min=1),
    default=ADHOC_MAX_PAGES,
    show_default=True,
    help="Crawl of a URL: stop after this many responses.",
)
@click.option(
    "--allow-private",
    "allow_private",
    multiple=True,
    metavar="ADDRESS",
    help="Crawl of a URL: a private address or network it may reach (repeatable).",
)
@click.option("--source", "source_name", default=None, help="Crawl of a URL: the source name.")
@click.option(
    "--archive",
    "archive",
    default=None,
    metavar="DIR",
    help="Keep every fetched response in WARC files in DIR (crawler load DIR re-cleans them).",
)
@click.option(
    "-s",
    "--set",
    "overrides",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a Scrapy or crawler setting, as with scrapy crawl -s (repeatable).",
)
@workers_option
@verbose_option
def crawl_cmd(
    target: str,
    db_path: str,
    sources_file: str | None,
    max_pages: int,
    allow_private: tuple[str, ...],
    source_name: str | None,
    archive: str | None,
    overrides: tuple[str, ...],
    workers: int,
) -> None:
    """Crawl a configured web source, or a site by URL, into the database.

    TARGET is a source name from the sources file, or an http(s) URL: then the site's sitemap
    (named in robots.txt, or /sitemap.xml) or feed is found and crawled, else same-site links
    from the URL are followed.

    \b
    Examples: crawler crawl example_news --db data/articles.db
              crawler crawl https://news.example/ --max-pages 100
    """
    from cleaners.worker import start_fork_server

    path = sources_file or settings.CRAWLER_SOURCES_FILE
    if sources_file is not None and not os.path.exists(sources_file):
        fail(f"sources file not found: {sources_file}", EXIT_USAGE)
    values: dict[str, Any] = {}
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key.strip():
            fail(f"-s takes NAME=VALUE, got {override!r}", EXIT_USAGE)
        values[key.strip()] = value
    # The cleaning workers' server loads the cleaners (two seconds or so) in its own process
    # while this one imports and sets up Scrapy, so the first fetched pages do not wait for it
    start_fork_server()
    from crawler.crawl import CrawlError, crawl_settings, resolve_target, run_crawl

    values.setdefault(
        "LOG_LEVEL", "DEBUG" if logging.getLogger().level <= logging.DEBUG else "WARNING"
    )
    values.setdefault("LOG_INSTALL_ROOT_HANDLER", False)
    if workers:
        values["CRAWLER_WORKERS"] = workers
    if archive:
        values["CRAWLER_ARCHIVE_DIR"] = archive
    scrapy_settings = crawl_settings(db_path, path, values)
    try:
        target_source = resolve_target(
            target,
            path,
            name=source_name,
            allow_private=list(allow_private),
            max_pages=max_pages,
        )
        report = run_crawl(target_source, db_path, scrapy_settings)
    except CrawlError as exc:
        if exc.report is not None:
            click.echo(exc.report.render())
        fail(str(exc), exc.code)
    click.echo(report.render())
    sys.exit(report.exit_code())


@cli.command("run")
@click.argument("names", nargs=-1)
@db_option
@click.option(
    "--sources",
    "sources_file",
    default=settings.CRAWLER_SOURCES_FILE,
    show_default=True,
    help="Sources file.",
)
@click.option("--due", is_flag=True, help="Only sources whose cron schedule is due.")
@click.option(
    "--now",
    default=None,
    hidden=True,
    help="Pretend it is this ISO time (UTC if no offset) when deciding what is due.",
)
@verbose_option
def run_cmd(
    names: tuple[str, ...], db_path: str, sources_file: str, due: bool, now: str | None
) -> None:
    """Run configured sources: all of them, those named, or (--due) those whose schedule is due.

    Each source runs as its own `crawler load` or `crawler crawl` process and prints its report;
    a summary follows. For cron: `*/5 * * * * cd /srv/crawler && .venv/bin/crawler run --due`.
    """
    from datetime import UTC, datetime

    from crawler import operate

    if not os.path.exists(sources_file):
        fail(f"sources file not found: {sources_file}", EXIT_USAGE)
    try:
        sources = load_sources(sources_file)
    except ConfigError as exc:
        fail(str(exc))
    unknown = [n for n in names if n not in sources]
    if unknown:
        fail(f"no source named {unknown[0]!r} in {sources_file}", EXIT_USAGE)
    chosen = [sources[n] for n in names] if names else list(sources.values())
    try:
        moment = datetime.fromisoformat(now) if now else datetime.now(UTC)
    except ValueError:
        fail(f"--now: not an ISO time: {now!r}", EXIT_USAGE)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        db = connect(db_path)
        planned = operate.plan(db, db_path, chosen, due_only=due, now=moment)
        db.close()
        operate.execute(planned, db_path, sources_file, LOGGING["args"])
    except KeyboardInterrupt as exc:
        click.echo(operate.summary(planned))
        code = exc.exit_code if isinstance(exc, Interrupted) else EXIT_INTERRUPTED
        fail("interrupted; rerun to continue", code)
    except (DatabaseError, sqlite3.Error) as exc:
        fail(describe_error(exc, db_path))
    click.echo(operate.summary(planned))
    sys.exit(operate.overall_exit(planned, due_only=due))


@cli.command("schedule")
@db_option
@click.option(
    "--sources",
    "sources_file",
    default=settings.CRAWLER_SOURCES_FILE,
    show_default=True,
    help="Sources file (read again every minute, so edits apply without a restart).",
)
@verbose_option
def schedule_cmd(db_path: str, sources_file: str) -> None:
    """Run sources when their cron schedules are due, in the foreground, for hosts without cron.

    Checks every minute, as `crawler run --due` would. Ctrl-C or SIGTERM stops it: a run in
    progress is stopped the same way (its finished inputs are stored; it is recorded as
    interrupted and is due again at the next start).
    """
    import time
    from datetime import UTC, datetime

    from crawler import operate

    if not os.path.exists(sources_file):
        fail(f"sources file not found: {sources_file}", EXIT_USAGE)
    log = logging.getLogger("crawler.schedule")
    log.info("scheduler started: %s, database %s", sources_file, db_path)
    planned: list[operate.Planned] = []
    try:
        while True:
            try:
                sources = list(load_sources(sources_file).values())
            except ConfigError as exc:  # an edit broke the file: say so, keep the last schedule
                log.error("%s", exc)
                sources = [p.source for p in planned]
            db = connect(db_path)
            planned = operate.plan(db, db_path, sources, due_only=True, now=datetime.now(UTC))
            db.close()
            if any(p.action == "run" for p in planned):
                operate.execute(planned, db_path, sources_file, LOGGING["args"])
                click.echo(operate.summary(planned), nl=True)
            time.sleep(60 - time.time() % 60 + 0.5)  # just after the next minute starts
    except KeyboardInterrupt as exc:
        interrupted = isinstance(exc, operate.ChildInterrupted)
        log.warning("scheduler stopped%s", "; a run was interrupted" if interrupted else "")
        sys.exit(exc.exit_code if isinstance(exc, operate.ChildInterrupted) else EXIT_OK)
    except (DatabaseError, sqlite3.Error) as exc:
        fail(describe_error(exc, db_path))


def _reader(db_path: str) -> Any:
    if not os.path.exists(db_path):
        fail(f"no database at {db_path}", EXIT_USAGE)
    try:
        return connect(db_path)
    except (DatabaseError, sqlite3.Error) as exc:
        fail(describe_error(exc, db_path))


@cli.command("search")
@click.argument("query")
@read_db_option
@click.option("--source", default=None, help="Only this source's articles.")
@click.option(
    "--since", type=Moment(), default=None, help="Stored on or after this time (ISO, or 7d)."
)
@click.option(
    "--published-since",
    type=Moment(),
    default=None,
    help="Published on or after this time (articles without a date: by their stored time).",
)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines, one hit per line.")
def search_cmd(
    query: str,
    db_path: str,
    source: str | None,
    since: str | None,
    published_since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Full-text search over titles and texts, in any language; best matches first.

    Every word must occur ("quoted phrases" as written). Words of three characters or more use the
    index; shorter ones (a two-syllable Korean word) are matched by scanning.

    Example: crawler search "ferry terminal" --published-since 2025-01-01
    """
    from db.queries import search

    db = _reader(db_path)
    try:
        hits = search(
            db, query, source=source, since=since, published_since=published_since, limit=limit
        )
    except sqlite3.Error as exc:
        fail(f"search failed: {exc}")
    for hit in hits:
        if as_json:
            click.echo(json.dumps(hit.__dict__, ensure_ascii=False))
            continue
        bold = sys.stdout.isatty()
        title = hit.title or "(no title)"
        click.echo(click.style(f"{hit.id:>6}  {title}", bold=bold) + f"  [{hit.source}]")
        click.echo(f"        {hit.url}  {hit.published_at or ''}".rstrip())
        click.echo(f"        {hit.snippet}")
    if not as_json:
        click.echo(f"{len(hits)} article{'s' if len(hits) != 1 else ''}", err=True)


@cli.command("export")
@read_db_option
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), default="-", help="File; - = stdout."
)
@click.option("--source", default=None, help="Only this source.")
@click.option("--language", default=None, help="Only this language (ISO 639-1, e.g. ko).")
@click.option(
    "--since", type=Moment(), default=None, help="Stored on or after this time (ISO, or 7d)."
)
@click.option("--until", type=Moment(), default=None, help="Stored before this time (ISO, or 1d).")
@click.option(
    "--after-id",
    type=int,
    default=None,
    help="Only articles with a larger id: the cursor the previous export printed.",
)
def export_cmd(
    db_path: str,
    fmt: str,
    output: str,
    source: str | None,
    language: str | None,
    since: str | None,
    until: str | None,
    after_id: int | None,
) -> None:
    """Stream articles as JSON Lines or CSV, in id order, one at a time (any database size).

    For pipelines that poll: each export ends by printing the cursor for the next one to stderr.

    Example: crawler export --since 2025-06-01 --language ko -o ko.jsonl
    """
    from db.queries import export_rows, write_export

    db = _reader(db_path)
    rows = export_rows(
        db, source=source, since=since, until=until, language=language, after_id=after_id
    )
    try:
        if output == "-":
            count, last = write_export(rows, sys.stdout, fmt)
        else:
            with open(output, "w", encoding="utf-8", newline="") as out:
                count, last = write_export(rows, out, fmt)
    except BrokenPipeError:  # the reader stopped early (`| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_OK)
    except (sqlite3.Error, OSError) as exc:
        fail(f"export failed: {exc}")
    cursor = last if last is not None else after_id
    next_hint = f"; next: --after-id {cursor}" if cursor is not None else ""
    click.echo(f"exported {count} articles{next_hint}", err=True)


@cli.command("stats")
@read_db_option
@click.option("--source", default=None, help="Only this source's runs.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines, one run per line, newest first.")
def stats_cmd(db_path: str, source: str | None, limit: int, as_json: bool) -> None:
    """Recent runs: what each stored, skipped and failed, how long it took."""
    if not os.path.exists(db_path):
        fail(f"no database at {db_path}", EXIT_USAGE)
    from db.runs import recent_runs, run_sources

    try:
        db = connect(db_path)
        rows = recent_runs(db, source, limit)
        known = run_sources(db) if source and not rows else []
    except (DatabaseError, sqlite3.Error) as exc:
        fail(describe_error(exc, db_path))
    if source and not rows:
        fail(
            f"no source {source!r} has run in {db_path} (sources: {', '.join(known) or 'none'})",
            EXIT_USAGE,
        )
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False, sort_keys=True))
        return
    header = f"{'run':>5} {'source':<16} {'status':<11} {'started (UTC)':<20} {'secs':>7} "
    header += (
        f"{'inputs':>7} {'stored':>7} {'dup':>6} {'unchgd':>7} {'rej':>5} {'failed':>6} {'in/s':>7}"
    )
    click.echo(header)
    for row in rows:
        report = row["report"]
        secs = report.get("duration_s")
        rate = report.get("inputs_per_s")
        click.echo(
            f"{row['id']:>5} {row['source'][:16]:<16} {row['status']:<11} "
            f"{(row['started_at'] or '')[:19]:<20} {f'{secs:.1f}' if secs is not None else '-':>7} "
            f"{row['inputs']:>7} {row['stored']:>7} {row['duplicates']:>6} {row['unchanged']:>7} "
            f"{row['rejected']:>5} {row['failed']:>6} {rate if rate is not None else '-':>7}"
        )


@cli.group("dedup")
def dedup_group() -> None:
    """Maintain the near-duplicate index."""


@dedup_group.command("rebuild")
@db_option
@verbose_option
def dedup_rebuild(db_path: str) -> None:
    """Recompute every stored article's MinHash band keys with the current configuration."""
    try:
        db = connect(db_path, must_exist=True)
        try:
            n = rebuild(db, dedup_config())
        finally:
            db.close()
    except DatabaseError as exc:
        fail(str(exc))
    except sqlite3.Error as exc:
        fail(describe_error(exc, db_path))
    click.echo(f"re-indexed {n} articles with the current dedup configuration")


@dedup_group.command("explain")
@click.argument("target")
@read_db_option
@click.option("--json", "as_json", is_flag=True, help="Print the ledger rows as JSON.")
@verbose_option
def dedup_explain(target: str, db_path: str, as_json: bool) -> None:
    """Why an input is (or is not) stored: its ledger rows, with the article each duplicate matched.

    TARGET is a path as given to `crawler load`, a file path, or a URL. Example:
    crawler dedup explain seeds/documents/004_34bd77d5f75da4ac.txt
    """
    from db import explain as ledger

    try:
        db = connect(db_path, must_exist=True)
        try:
            entries = ledger.explain(db, target)
        finally:
            db.close()
    except DatabaseError as exc:
        fail(str(exc))
    if not entries:
        fail(f"no ledger row for {target} in {db_path}")
    if as_json:
        click.echo(json.dumps(ledger.as_json(entries), ensure_ascii=False, indent=2))
    else:
        click.echo(ledger.render(target, entries))


# --- the cluster (crawler/cluster.py, docs/cluster.md) ---------------------------------------
broker_option = click.option(
    "--broker",
    "broker_url",
    envvar="CRAWLER_BROKER",
    required=True,
    help="The cluster's Redis, redis://HOST:PORT/N (or CRAWLER_BROKER).",
)


def _service_signals() -> tuple[Any, list[int]]:
    """The first SIGINT/SIGTERM asks a writer or worker to stop after what it has in hand; a
    second stops it at once. Both exit 128 + the signal."""
    import threading

    stop, received = threading.Event(), []

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if stop.is_set():
            raise Interrupted(signum)
        stop.set()
        click.echo("stopping: finishing what is in hand; again to stop now", err=True)

    for each in (signal.SIGINT, signal.SIGTERM):
        signal.signal(each, handler)
    return stop, received


def _broker_errors(call: Callable[[], int]) -> int:
    import redis

    from crawler.broker import BrokerError
    from crawler.cluster import WriterBusy

    try:
        return call()
    except BrokerError as exc:
        fail(str(exc), EXIT_USAGE)
    except redis.RedisError as exc:
        fail(f"broker: {' '.join(str(exc).split())}")
    except WriterBusy as exc:
        fail(str(exc), EXIT_BUSY)
    except (DatabaseError, ConfigMismatch) as exc:
        fail(str(exc))


@cli.command("writer")
@db_option
@broker_option
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=settings.CRAWLER_STORE_BATCH,
    show_default=True,
    help="Results stored per transaction at most.",
)
@click.option("--no-dedup", is_flag=True, help="Skip near-duplicate detection.")
@click.option(
    "--exit-when-idle",
    type=click.FloatRange(min=0),
    default=None,
    help="Stop after this many seconds with nothing to store (batch use); default: run until "
    "stopped.",
)
@verbose_option
def writer_cmd(
    db_path: str, broker_url: str, batch: int, no_dedup: bool, exit_when_idle: float | None
) -> None:
    """Store the cluster's results into the database: the only process that writes it.

    Reads cleaned, fingerprinted results from the broker, decides every duplicate, and
    acknowledges a result only once it is committed. Stop it with Ctrl-C or SIGTERM."""
    from crawler.cluster import ClusterWriter

    stop, received = _service_signals()
    writer = ClusterWriter(
        db_path, broker_url, near=not no_dedup, batch=batch, stop=stop, idle_exit=exit_when_idle
    )
    _broker_errors(writer.serve)
    sys.exit(128 + received[0] if received else EXIT_OK)


@cli.command("worker")
@broker_option
@click.option(
    "-w",
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes on this machine; each runs one job at a time.",
)
@click.option(
    "--cleaners",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Cleaning processes of each worker.",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=1),
    default=settings.CRAWLER_CLUSTER_LEASE,
    show_default=True,
    help="Seconds after which a job whose worker stopped renewing it goes to another worker.",
)
@click.option(
    "--exit-when-idle",
    type=click.FloatRange(min=0),
    default=None,
    help="Stop after this many seconds without a job (batch use); default: run until stopped.",
)
@verbose_option
def worker_cmd(
    broker_url: str, workers: int, cleaners: int, lease: float, exit_when_idle: float | None
) -> None:
    """Take jobs from the cluster's broker: fetch, clean and fingerprint, send the results.

    Paths in load jobs must be readable here as on the machine that submitted them (shared
    storage). Ctrl-C or SIGTERM puts the job in hand back in the queue and stops."""
    from crawler.cluster import Worker

    if workers > 1:
        sys.exit(_spawn_workers(broker_url, workers, cleaners, lease, exit_when_idle))
    stop, received = _service_signals()
    worker = Worker(broker_url, lease=lease, cleaners=cleaners, idle_exit=exit_when_idle, stop=stop)
    worker.logging_args = LOGGING["args"]
    _broker_errors(worker.serve)
    sys.exit(128 + received[0] if received else EXIT_OK)


def _spawn_workers(url: str, workers: int, cleaners: int, lease: float, idle: float | None) -> int:
    """`--workers N`: N worker processes, signals passed on, ended together."""
    import subprocess

    command = [sys.executable, "-m", "crawler.entry", *LOGGING["args"], "worker",
               "--broker", url, "--cleaners", str(cleaners), "--lease", str(lease)]  # fmt: skip
    if idle is not None:
        command += ["--exit-when-idle", str(idle)]
    children = [subprocess.Popen(command) for _ in range(workers)]
    received: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for each in (signal.SIGINT, signal.SIGTERM):
        signal.signal(each, forward)
    codes = [child.wait() for child in children]
    if received:
        return 128 + received[0]
    return max(codes)


wait_option = click.option(
    "--wait",
    is_flag=True,
    help="Follow the jobs to their end; print the combined report; exit as a run would.",
)


@cli.group("submit")
@broker_option
@click.pass_context
def submit_group(ctx: click.Context, broker_url: str) -> None:
    """Give the cluster work: prints one job id per line (see `crawler jobs`)."""
    ctx.obj = broker_url


def _submitted(broker_url: str, jobs: list[Any], wait: bool, chained: bool = False) -> None:
    from crawler import broker, cluster

    client = broker.connect(broker_url)
    ids = cluster.enqueue(client, jobs, chained=chained)
    for job in jobs:
        click.echo(f"{job.id}\t{job.kind}\t{job.source}\t{job.title}")
    if not wait:
        sys.exit(EXIT_OK)
    tty = sys.stderr.isatty()
    show_log = logging.getLogger("crawler.progress").info

    def show(line: str) -> None:
        if tty:
            click.echo(f"\r\033[K{line}", err=True, nl=False)
        else:
            show_log("%s", line)

    try:
        rows = cluster.wait(client, ids, show=show, every=1.0 if tty else 30.0)
    except KeyboardInterrupt as exc:
        code = exc.exit_code if isinstance(exc, Interrupted) else EXIT_INTERRUPTED
        fail("stopped waiting; the jobs go on (see crawler jobs)", code)
    if tty:
        click.echo("\r\033[K", err=True, nl=False)
    click.echo(cluster.combined_report(rows))
    sys.exit(cluster.combined_exit(rows))


@submit_group.command("load")
@click.argument("paths", nargs=-1, required=True)
@click.option("--source", help="Source name recorded for these inputs (as for `crawler load`).")
@click.option("--sources", "sources_file", default=None, help="Sources file.")
@click.option(
    "--shard",
    type=click.IntRange(min=1),
    default=settings.CRAWLER_CLUSTER_SHARD,
    show_default=True,
    help="Files per job (each archive file is a job of its own).",
)
@wait_option
@click.pass_obj
def submit_load_cmd(
    broker_url: str,
    paths: tuple[str, ...],
    source: str | None,
    sources_file: str | None,
    shard: int,
    wait: bool,
) -> None:
    """Files, folders and web archives, as jobs stored in walk order (as `crawler load` would)."""
    from crawler.cluster import plan_load_jobs

    try:
        jobs = plan_load_jobs(list(paths), source, sources_file, shard)
    except InputError as exc:
        fail(str(exc), EXIT_USAGE)
    except ConfigError as exc:
        fail(str(exc))
    _submitted(broker_url, jobs, wait, chained=True)


@submit_group.command("crawl")
@click.argument("targets", nargs=-1, required=True)
@click.option("--sources", "sources_file", default=settings.CRAWLER_SOURCES_FILE, show_default=True)
@click.option(
    "--allow-private",
    multiple=True,
    metavar="ADDR",
    help="As for `crawler crawl URL`: a private address or network a URL crawl may fetch.",
)
@wait_option
@click.pass_obj
def submit_crawl_cmd(
    broker_url: str,
    targets: tuple[str, ...],
    sources_file: str,
    allow_private: tuple[str, ...],
    wait: bool,
) -> None:
    """Configured web sources or URLs, one job each (one worker crawls a source at a time)."""
    from crawler.cluster import plan_crawl_jobs
    from crawler.crawl import CrawlError

    try:
        jobs = plan_crawl_jobs(list(targets), sources_file, list(allow_private))
    except CrawlError as exc:
        fail(str(exc), exc.code)
    _submitted(broker_url, jobs, wait)


def _without_open_jobs(broker_url: str, chosen: list[Any]) -> list[Any]:
    """The due sources without a job still open in the cluster: from cron, one whose last job is
    queued or running is not enqueued again (as `crawler run --due` skips a source running)."""
    from crawler import broker, cluster

    pending: dict[str, str] = {}

    def read() -> int:
        pending.update(cluster.open_jobs_of_sources(broker.connect(broker_url)))
        return EXIT_OK

    _broker_errors(read)  # a broker that is not Redis: one line and exit 2, as for the others
    for source in chosen:
        if source.name in pending:
            click.echo(
                f"{source.name}: not submitted, its job {pending[source.name]} is still open"
            )
    return [source for source in chosen if source.name not in pending]


@submit_group.command("run")
@click.argument("names", nargs=-1)
@click.option("--sources", "sources_file", default=settings.CRAWLER_SOURCES_FILE, show_default=True)
@click.option("--due", is_flag=True, help="Only sources whose schedule is due (reads --db).")
@db_option
@wait_option
@click.pass_obj
def submit_run_cmd(
    broker_url: str,
    names: tuple[str, ...],
    sources_file: str,
    due: bool,
    db_path: str,
    wait: bool,
) -> None:
    """Configured sources (all, those named, or --due): a crawl job per web source, load jobs
    for the others."""
    from datetime import UTC, datetime

    from crawler import operate
    from crawler.cluster import plan_crawl_jobs, plan_load_jobs

    if not os.path.exists(sources_file):
        fail(f"sources file not found: {sources_file}", EXIT_USAGE)
    try:
        sources = load_sources(sources_file)
    except ConfigError as exc:
        fail(str(exc))
    unknown = [n for n in names if n not in sources]
    if unknown:
        fail(f"no source named {unknown[0]!r} in {sources_file}", EXIT_USAGE)
    chosen = [sources[n] for n in names] if names else list(sources.values())
    if due:
        try:
            db = connect(db_path)
            planned = operate.plan(db, db_path, chosen, due_only=True, now=datetime.now(UTC))
            db.close()
        except (DatabaseError, sqlite3.Error) as exc:
            fail(describe_error(exc, db_path))
        chosen = [p.source for p in planned if p.action == "run"]
        chosen = _without_open_jobs(broker_url, chosen)
    jobs: list[Any] = []
    try:
        for source in chosen:
            if source.web is not None:
                jobs += plan_crawl_jobs([source.name], sources_file)
            else:
                jobs += plan_load_jobs(list(source.paths), source.name, sources_file)
    except InputError as exc:
        fail(str(exc), EXIT_USAGE)
    if not jobs:
        click.echo("nothing to submit")
        sys.exit(EXIT_OK)
    _submitted(broker_url, jobs, wait)


@cli.command("jobs")
@broker_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def jobs_cmd(broker_url: str, as_json: bool, limit: int) -> None:
    """The cluster's jobs, oldest first: queued, running (where, how far), done, failed (why)."""
    from crawler import broker, cluster

    def show() -> int:
        rows = cluster.recent_jobs(broker.connect(broker_url), limit, patience=10.0)
        for row in rows:
            if as_json:
                row = {**row, "spec": json.loads(row.get("spec") or "{}")}
                row["report"] = json.loads(row.get("report") or "{}")
                click.echo(json.dumps(row, ensure_ascii=False))
            else:
                click.echo(cluster.describe(row))
        if not rows and not as_json:
            click.echo("no jobs")
        return EXIT_OK

    sys.exit(_broker_errors(show))


@cli.command("crawl-job", hidden=True)
@broker_option
@click.argument("job")
def crawl_job_cmd(broker_url: str, job: str) -> None:
    """What a worker starts for a crawl job."""
    from crawler.cluster import crawl_job

    sys.exit(crawl_job(broker_url, job))


def main() -> None:
    """Console-script entry point: every error, usage errors included, is one line on stderr."""
    for each in (signal.SIGINT, signal.SIGTERM):  # stop like Ctrl-C: the run is closed
        signal.signal(each, _interrupt)
    try:
        code = cli.main(prog_name="crawler", standalone_mode=False)
    except Interrupted as exc:
        fail("interrupted; finished inputs are stored, rerun to continue", exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "crawler"
        fail(f"{exc.format_message()} (see '{command} --help')", EXIT_USAGE)
    except click.Abort as exc:  # click's word for a KeyboardInterrupt
        cause = exc.__cause__
        fail("interrupted", cause.exit_code if isinstance(cause, Interrupted) else EXIT_INTERRUPTED)
    except click.ClickException as exc:
        fail(exc.format_message())
    except sqlite3.Error as exc:
        fail(f"database error: {exc}")  # no command caught it: which database is unknown here
    except OSError as exc:  # disk full, permissions, ... outside any one input
        fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
    except Exception as exc:  # a bug: still one line, the traceback in the log with -v
        logging.getLogger("crawler").debug("internal error", exc_info=True)
        fail(f"internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)")
    sys.exit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":
    main()
