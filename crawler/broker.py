"""The cluster's broker: Redis, and what the cluster keeps in it.

Keys (all under `crawler:` in the Redis database the broker URL names):

- `crawler:jobs`: a stream of job ids, read by the workers through the consumer group `workers`
  (at-least-once delivery: an entry stays pending until the worker that took it acknowledges it;
  a worker that stops renewing its lease loses it to another, `XAUTOCLAIM`).
- `crawler:job:ID`: a hash per job: what to do (`kind`, `spec`), `state` (queued, running, done,
  failed), `node`, `progress`, `heartbeat`, `reason`, and once done its run's `report`.
- `crawler:results:ID`: a stream per job of its cleaned, fingerprinted inputs and, last, the
  `end` of the job, read by the writer through the consumer group `writer`. A job's results are
  stored only once the job it comes `after` is closed: a load's shards are stored in walk order,
  so the outcome is the one of `crawler load`, whatever the number of workers.
- `crawler:open`: the jobs the writer has not closed yet; `crawler:all`: every job by submission.
- `crawler:source:NAME`: held by the worker crawling that source (one at a time in the cluster).
- `crawler:writer`: held by the one writer of this broker.

Results carry no raw page: each is one input's unit of work (its articles with their content
hash and MinHash signature, or its ledger row), as JSON.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any, TypeVar

import redis

from db.store import Unit
from db.vocabulary import Article, Outcome

log = logging.getLogger(__name__)

PREFIX = "crawler"
JOBS = f"{PREFIX}:jobs"
OPEN = f"{PREFIX}:open"
ALL = f"{PREFIX}:all"
WRITER = f"{PREFIX}:writer"
WORKERS_GROUP = "workers"
WRITER_GROUP = "writer"
TERMINAL = ("done", "failed")

T = TypeVar("T")
# A redis.Redis client. Its stubs type every reply as possibly awaitable (the asyncio client
# shares them), which would make each call here need a cast: the cluster's code treats it as Any.
Client = Any


class BrokerError(Exception):
    """A broker URL that cannot be used (not redis://, a Redis too old): one line for people."""


def job_key(job: str) -> str:
    return f"{PREFIX}:job:{job}"


def results_key(job: str) -> str:
    return f"{PREFIX}:results:{job}"


def source_key(source: str) -> str:
    return f"{PREFIX}:source:{source}"


def connect(url: str) -> Client:
    """A client for the broker at `url` (redis://HOST:PORT/N, rediss://, unix://). It connects on
    first use; every call may raise redis.ConnectionError while the broker is down."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise BrokerError(f"not a Redis URL: {url!r} (redis://HOST:PORT/N)")
    return redis.Redis.from_url(
        url, socket_timeout=30, socket_connect_timeout=5, health_check_interval=15
    )


def check_version(client: Client, url: str) -> None:
    """Streams with XAUTOCLAIM need Redis 6.2 or newer."""
    info = retrying(client.info, "server", what=url)
    version = tuple(int(p) for p in str(info.get("redis_version", "0")).split(".")[:2])
    if version < (6, 2):
        raise BrokerError(f"Redis at {url} is {info.get('redis_version')}: 6.2 or newer is needed")


class Backoff:
    """Waits between tries while the broker is down: 0.5 s doubling to 30 s; one line when it
    goes away, one when it is back."""

    def __init__(self, what: str) -> None:
        self.what, self.delay, self.down_since = what, 0.5, 0.0

    def failed(self, exc: Exception, stop: Callable[[], bool] | None = None) -> None:
        if not self.down_since:
            self.down_since = time.monotonic()
            log.warning(
                "broker %s unreachable (%s): retrying with backoff", self.what, _one_line(exc)
            )
        deadline = time.monotonic() + self.delay
        while time.monotonic() < deadline and not (stop and stop()):
            time.sleep(min(0.1, self.delay))
        self.delay = min(self.delay * 2, 30.0)

    def ok(self) -> None:
        if self.down_since:
            log.warning(
                "broker %s back after %.0f s", self.what, time.monotonic() - self.down_since
            )
        self.down_since, self.delay = 0.0, 0.5


def retrying(
    call: Callable[..., T], *args: Any, what: str, stop: Callable[[], bool] | None = None
) -> T:
    """`call(*args)`, tried again with backoff for as long as the broker is unreachable (until
    `stop()` says so: then the last error is raised)."""
    backoff = Backoff(what)
    while True:
        try:
            result = call(*args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if stop is not None and stop():
                raise
            backoff.failed(exc, stop)
            continue
        except redis.ResponseError as exc:
            if "LOADING" not in str(exc):  # Redis restarting, reading its AOF
                raise
            backoff.failed(exc, stop)
            continue
        backoff.ok()
        return result


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def ensure_group(client: Client, stream: str, group: str) -> None:
    """Create the consumer group (and the stream); an existing group is kept."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def job_fields(client: Client, job: str) -> dict[str, str]:
    raw = client.hgetall(job_key(job))
    return {text(k): text(v) for k, v in raw.items()}


# --- results: units of work as JSON ----------------------------------------------------------
_ARTICLE_FIELDS = [f.name for f in fields(Article) if f.name != "shingles"]


def encode_result(
    job: str,
    key: str,
    url: str | None,
    source: str,
    unit: Unit,
    fired: Counter[str],
    removed: Counter[str],
    validators: tuple[str, str | None, str | None] | None,
    revalidated: str | None,
) -> dict[str, bytes]:
    """One input's unit as a results-stream entry (no raw page: articles with fingerprints)."""
    body = {
        "job": job,
        "key": key,
        "url": url,
        "source": source,
        "attempts": unit.attempts,
        "detail": unit.detail,
        "unit_source": unit.source,
        "outcome": asdict(unit.outcome) if unit.outcome is not None else None,
        "articles": [{n: getattr(a, n) for n in _ARTICLE_FIELDS} for a in unit.articles],
        "fired": dict(fired),
        "removed": dict(removed),
        "validators": list(validators) if validators else None,
        "revalidated": revalidated,
    }
    return {"type": b"unit", "body": json.dumps(body, ensure_ascii=False).encode()}


def decode_result(body: bytes) -> dict[str, Any]:
    """The entry's fields, with `unit` rebuilt (articles, outcome)."""
    data: dict[str, Any] = json.loads(body)
    outcome = Outcome(**data["outcome"]) if data["outcome"] else None
    unit = Unit(
        articles=[Article(**a) for a in data["articles"]],
        attempts=int(data["attempts"]),
        outcome=outcome,
        source=data["unit_source"],
        detail=data["detail"],
    )
    data["unit"] = unit
    data["validators"] = tuple(data["validators"]) if data["validators"] else None
    return data


def encode_end(
    job: str, status: str, summary: dict[str, Any], reason: str = ""
) -> dict[str, bytes]:
    """The last entry of a job's results: how the worker's part ended and what only it counted
    (inputs, skipped, responses received, rules fired)."""
    body = {"job": job, "status": status, "reason": reason, "summary": summary}
    return {"type": b"end", "body": json.dumps(body, ensure_ascii=False).encode()}
