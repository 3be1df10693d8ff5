"""Sources are data: `seeds/sources.toml`, validated at start with the file, line and problem named."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from croniter import croniter
from lxml.etree import XPath, XPathSyntaxError

from cleaners.clean import CleanOptions
from cleaners.fingerprint import DedupConfig
from cleaners.rules import RuleError, default_rules
from crawler import settings

KINDS = ("files", "warc", "sitemap", "feed", "links", "site", "custom")
# site: find the sitemap or feed, else follow links; custom: a spider written by hand (same name)
WEB_KINDS = ("sitemap", "feed", "links", "site", "custom")
_COMMON_KEYS = {"kind", "description", "rules", "prune_xpath", "extract_timeout", "schedule"}
_FILES_KEYS = _COMMON_KEYS | {"paths"}
_WEB_KEYS = _COMMON_KEYS | {
    "start_urls", "allow", "deny", "articles", "max_pages", "revisit_days",
    "allow_private", "download_delay", "concurrency", "archive",
}  # fmt: skip
_SOURCE_KEYS = _FILES_KEYS | _WEB_KEYS
_RULE_KEYS = {"add", "disable"}


class ConfigError(ValueError):
    """The sources file is malformed; the message names the file, the line and the problem."""


@dataclass
class Web:
    """What a web source crawls and how (kinds sitemap, feed, links)."""

    start_urls: list[str]
    allow: list[str] = field(default_factory=list)  # URL regexes to follow (links) / keep
    deny: list[str] = field(default_factory=list)  # URL regexes never requested
    articles: list[str] = field(default_factory=list)  # URL regexes of article pages (links)
    max_pages: int = 0  # 0 = no cap
    revisit_days: float = 0  # 0 = a stored article is never refetched
    allow_private: bool | list[str] = False  # or only these addresses/networks
    download_delay: float = settings.DOWNLOAD_DELAY
    concurrency: int = settings.CONCURRENT_REQUESTS_PER_DOMAIN
    archive: str | None = None  # a folder: keep every fetched response there as WARC

    @cached_property
    def private_allowance(self) -> bool | tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """`allow_private` as crawler.netpolicy.check_url takes it (networks parsed once)."""
        if isinstance(self.allow_private, bool):
            return self.allow_private
        return tuple(ipaddress.ip_network(a, strict=False) for a in self.allow_private)


@dataclass
class Source:
    name: str
    kind: str
    paths: list[str] = field(default_factory=list)
    description: str = ""
    clean: CleanOptions = field(default_factory=CleanOptions)
    web: Web | None = None
    schedule: str | None = None  # cron expression, read in UTC (`crawler run --due`)


def dedup_config(overrides: Mapping[str, Any] | None = None) -> DedupConfig:
    """The near-duplicate configuration from crawler/settings.py, or from `overrides` (a crawl's
    Scrapy settings, `-s DEDUP_...=` included) where they name a value."""

    def value(name: str) -> Any:
        default = getattr(settings, name)
        return type(default)(overrides.get(name, default) if overrides is not None else default)

    return DedupConfig(
        num_perm=value("DEDUP_NUM_PERM"),
        seed=value("DEDUP_SEED"),
        shingle_size=value("DEDUP_SHINGLE_SIZE"),
        bands=value("DEDUP_BANDS"),
        rows=value("DEDUP_ROWS"),
        threshold=value("DEDUP_THRESHOLD"),
        min_shingles=value("DEDUP_MIN_SHINGLES"),
        normalisation=value("DEDUP_NORMALISATION"),
    )


def default_options() -> CleanOptions:
    """Cleaning options for inputs of no configured source: default rules, settings' size cap."""
    return CleanOptions(
        max_bytes=settings.CRAWLER_MAX_INPUT_BYTES, extract_timeout=settings.CRAWLER_EXTRACT_TIMEOUT
    )


def worker_memory_limit(megabytes: int | None = None) -> int | None:
    """A cleaning worker's address-space cap in bytes (`megabytes`, else the settings'), or None."""
    mb = int(settings.CRAWLER_WORKER_MEMORY_MB if megabytes is None else megabytes)
    return mb * 1024 * 1024 if mb > 0 else None


def _line_of(text: str, name: str, needle: str | None = None) -> int:
    """Line of source `name`'s table header, or of the first line after it that holds `needle`."""
    pattern = re.compile(rf"^\s*\[\s*sources\s*\.\s*\"?{re.escape(name)}\"?\s*[\].]", re.M)
    match = pattern.search(text)
    start = match.start() if match else 0
    if needle:
        at = text.find(needle, start)
        if at >= 0:
            start = at
    return text.count("\n", 0, start) + 1


def _needle(message: str) -> str | None:
    """What to look for to place an error: a rule's name, or a key named in the message."""
    if rule := re.search(r"rule\(?s?\)?:? '?\"?([\w.-]+)", message):
        return rule.group(1)
    if key := re.match(r"(\w+)[: ]", message):
        return key.group(1)
    return None


def load_sources(path: str | Path) -> dict[str, Source]:
    """Parse and validate a sources file; a missing file means no configured sources."""
    path = Path(path)
    if not path.exists():
        return {}
    text = path.read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+)", str(exc))
        raise ConfigError(
            f"{path}:{at.group(1) if at else text.count(chr(10)) + 1}: {exc}"
        ) from None
    unknown_top = set(data) - {"sources"}
    if unknown_top:
        raise ConfigError(f"{path}:1: unknown top-level key(s): {', '.join(sorted(unknown_top))}")
    sources: dict[str, Source] = {}
    for name, raw in (data.get("sources") or {}).items():
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}:{_line_of(text, name)}: source {name!r} must be a table")
        try:
            sources[name] = _source(name, raw, path.parent.parent)
        except (ConfigError, RuleError, TypeError, ValueError) as exc:
            line = _line_of(text, name, _needle(str(exc)))
            raise ConfigError(f"{path}:{line}: source {name!r}: {exc}") from None
    return sources


def _source(name: str, raw: dict[str, Any], root: Path) -> Source:
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {KINDS}, got {kind!r}")
    allowed = _WEB_KEYS if kind in WEB_KINDS else _FILES_KEYS
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(
            f"{unknown[0]}: unknown key for kind {kind!r} (allowed: {', '.join(sorted(allowed))})"
        )
    paths = raw.get("paths", [])
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ConfigError("paths must be a list of strings")
    rules_raw = raw.get("rules", {})
    unknown = sorted(set(rules_raw) - _RULE_KEYS)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key in rules (allowed: add, disable)")
    rules = default_rules().customised(rules_raw.get("add", []), rules_raw.get("disable", []))
    prune = raw.get("prune_xpath", [])
    prune = [prune] if isinstance(prune, str) else list(prune)
    for expression in prune:
        try:
            XPath(expression)
        except XPathSyntaxError as exc:
            raise ConfigError(f"prune_xpath: bad XPath {expression!r}: {exc}") from None
    timeout = raw.get("extract_timeout", settings.CRAWLER_EXTRACT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
        raise ConfigError(f"extract_timeout: must be a number of seconds >= 0, got {timeout!r}")
    schedule = raw.get("schedule")
    if schedule is not None and (
        not isinstance(schedule, str)
        or len(schedule.split()) != 5
        or not croniter.is_valid(schedule)
    ):
        raise ConfigError(f"schedule: must be a cron expression of 5 fields, got {schedule!r}")
    return Source(
        schedule=schedule,
        web=_web(raw, needs_urls=kind != "custom") if kind in WEB_KINDS else None,
        name=name,
        kind=kind,
        paths=[str((root / p).resolve()) for p in paths],
        description=str(raw.get("description", "")),
        clean=CleanOptions(
            rules=rules,
            prune_xpath=prune,
            max_bytes=settings.CRAWLER_MAX_INPUT_BYTES,
            extract_timeout=float(timeout),
        ),
    )


def _strings(raw: dict[str, Any], key: str) -> list[str]:
    value = raw.get(key, [])
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: must be a list of strings")
    return list(value)


def _number(raw: dict[str, Any], key: str, default: float, minimum: float = 0) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"{key}: must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def _web(raw: dict[str, Any], *, needs_urls: bool = True) -> Web:
    start_urls = _strings(raw, "start_urls")
    if not start_urls and needs_urls:
        raise ConfigError("start_urls: a web source needs at least one URL")
    for url in start_urls:
        if not re.match(r"https?://[^/\s]+", url):
            raise ConfigError(f"start_urls: {url!r} is not an http(s) URL")
    patterns = {key: _strings(raw, key) for key in ("allow", "deny", "articles")}
    for key, values in patterns.items():
        for pattern in values:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"{key}: bad pattern {pattern!r}: {exc}") from None
    allow_private = raw.get("allow_private", False)
    if isinstance(allow_private, list):
        for address in allow_private:
            try:
                ipaddress.ip_network(str(address), strict=False)
            except ValueError:
                raise ConfigError(
                    f"allow_private: {address!r} is not an address or network"
                ) from None
    elif not isinstance(allow_private, bool):
        raise ConfigError("allow_private: must be true, false or a list of addresses/networks")
    return Web(
        start_urls=start_urls,
        allow=patterns["allow"],
        deny=patterns["deny"],
        articles=patterns["articles"],
        max_pages=int(_number(raw, "max_pages", 0)),
        revisit_days=_number(raw, "revisit_days", 0),
        allow_private=allow_private,
        download_delay=_number(raw, "download_delay", settings.DOWNLOAD_DELAY),
        concurrency=int(
            _number(raw, "concurrency", settings.CONCURRENT_REQUESTS_PER_DOMAIN, minimum=1)
        ),
        archive=_archive(raw),
    )


def _archive(raw: dict[str, Any]) -> str | None:
    value = raw.get("archive")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("archive: a folder for the crawl's WARC files, as a string")
    return value


ADHOC_MAX_PAGES = settings.CRAWLER_ADHOC_MAX_PAGES


def adhoc_source(
    url: str,
    *,
    name: str | None = None,
    allow_private: bool | list[str] = False,
    max_pages: int = ADHOC_MAX_PAGES,
) -> Source:
    """A `site` source for one URL that no sources file names (`crawler crawl URL`), with the
    default politeness; named after its host (and its port, when the URL names one) unless
    `name` is given."""
    raw: dict[str, Any] = {"start_urls": [url], "allow_private": allow_private}
    raw["max_pages"] = max_pages
    try:
        web = _web(raw)
    except ConfigError as exc:
        raise ConfigError(f"crawl {url}: {exc}") from None
    parts = urlsplit(url)
    host = parts.hostname or "site"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return Source(name=name or host, kind="site", description=f"ad hoc crawl of {url}", web=web)


def source_for_paths(sources: dict[str, Source], paths: list[str]) -> Source | None:
    """The configured files source whose folders contain (or lie inside) every given path, if
    exactly one does."""
    resolved = [Path(p).resolve() for p in paths]
    matches = []
    for source in sources.values():
        roots = [Path(p) for p in source.paths]
        if all(
            any(r == root or root in r.parents or r in root.parents for root in roots)
            for r in resolved
        ):
            matches.append(source)
    return matches[0] if len(matches) == 1 else None
