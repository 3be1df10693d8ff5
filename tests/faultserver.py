"""A fault server for the reliability battery: a deterministic corpus in which every URL has a
known fault, served over raw sockets so that it can misbehave the way real servers do (reset
before the headers or mid-body, short bodies, broken chunking, hangs, slow drips, endless bodies,
gzip bombs, redirect loops and chains, redirects to other schemes and to a canary address).

Run as its own process (`python -m tests.faultserver --pages N --fault-rate R --seed S --log F`):
it listens on 127.0.0.1 (the site) and 127.0.0.2 (the canary, which no crawl may ever reach),
prints `SITE_PORT CANARY_PORT` on its first line and logs every request as a JSON line:
when it arrived, when the connection ended, what was sent. `plan()` and `EXPECTED` are the
oracle: the terminal ledger state every URL must end in.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from tests.gen import sentence

# fault -> the (state, reason) the ledger must hold for it at the end of a crawl
EXPECTED: dict[str, tuple[str, str | None]] = {
    "ok": ("stored", None),
    "transient_503": ("stored", None),  # 503 once, then the page
    "transient_429": ("stored", None),  # 429 with Retry-After once, then the page
    "transient_reset": ("stored", None),  # connection reset once, then the page
    "permanent_500": ("failed", "http_500"),
    "gone_410": ("rejected", "http_410"),
    "reset_before_headers": ("failed", "fetch_error"),
    "reset_mid_body": ("failed", "fetch_error"),
    "short_body": ("failed", "fetch_error"),
    "bad_chunked": ("failed", "fetch_error"),
    "hang_after_headers": ("failed", "fetch_error"),
    "slow_drip": ("failed", "fetch_error"),
    "endless_body": ("rejected", "too_large"),
    "gzip_bomb": ("rejected", "too_large"),
    "redirect_ok": ("stored", None),
    "redirect_loop": ("rejected", "redirect_loop"),
    "long_chain": ("rejected", "too_many_redirects"),
    "redirect_ftp": ("rejected", "bad_scheme"),
    "redirect_file": ("rejected", "bad_scheme"),
    "redirect_canary": ("rejected", "private_address"),
    "redirect_canary_decimal": ("rejected", "private_address"),
    "redirect_canary_octal": ("rejected", "private_address"),
    "redirect_ipv6_loopback": ("rejected", "private_address"),
    "redirect_ipv6_mapped": ("rejected", "private_address"),
    "meta_refresh": ("stored", None),  # <meta http-equiv="refresh"> to the article
    "meta_refresh_utf16": ("stored", None),  # the same in a UTF-16 page
    "meta_refresh_loop": ("rejected", "redirect_loop"),  # a refresh to itself
    "html_as_png": ("stored", None),
    "binary_as_html": ("rejected", "not_text"),
    "json_as_html": ("rejected", "not_text"),
}
FAULTS = [f for f in EXPECTED if f != "ok"]
CHAIN = 25  # hops of a long redirect chain (Scrapy's REDIRECT_MAX_TIMES is 20)
BODY_MAX = 1024 * 1024  # tests run the crawl with DOWNLOAD_MAXSIZE this size


@dataclass(frozen=True)
class Entry:
    path: str
    fault: str

    @property
    def expected(self) -> tuple[str, str | None]:
        return EXPECTED[self.fault]


def plan(pages: int, fault_rate: float, seed: int = 1) -> list[Entry]:
    """The corpus: `pages` URLs, a `fault_rate` share of them faulty, every fault kind present
    at least once when there is room, in a shuffled (seeded) order."""
    rng = random.Random(seed)
    faulty = round(pages * fault_rate)
    kinds = [FAULTS[i % len(FAULTS)] for i in range(faulty)]
    kinds += ["ok"] * (pages - faulty)
    rng.shuffle(kinds)
    return [Entry(f"/p/{i:05d}/{kind}", kind) for i, kind in enumerate(kinds)]


def article(n: int) -> bytes:
    rng = random.Random(n * 7919 + 17)
    title = f"Report {n}: " + sentence(rng, False, 5).rstrip(".")
    paras = "".join(
        f"<p>{' '.join(sentence(rng, False, 14) for _ in range(3))}</p>" for _ in range(4)
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title></head><body><nav><a href='/'>Home</a></nav><article><h1>{escape(title)}</h1>"
        f"{paras}</article><footer>Contact us</footer></body></html>"
    ).encode()


def _gzip_bomb() -> bytes:
    # 64 MiB of spaces inside an HTML page: ~65 KB on the wire
    return gzip.compress(b"<html><body><p>" + b" " * (64 * 1024 * 1024) + b"</p></body></html>", 9)


class Server:
    def __init__(self, entries: list[Entry], log: Any, canary_port: int = 0) -> None:
        self.entries = {e.path: e for e in entries}
        self.log = log
        self.hits: dict[str, int] = {}
        self.site = ""
        self.canary_port = canary_port
        self.bomb = _gzip_bomb()

    def record(self, **fields: Any) -> None:
        self.log.write(json.dumps(fields) + "\n")
        self.log.flush()

    async def canary(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.read(4096)
        self.record(canary=True, request=head.decode("latin-1", "replace")[:200], at=time.time())
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno")
        await writer.drain()
        writer.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = time.time()
        path, sent, outcome = "?", 0, "answered"
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            path = head.split(b" ", 2)[1].decode("latin-1")
            sent = await self.respond(path, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError) as exc:
            outcome = type(exc).__name__
        finally:
            self.record(path=path, start=started, end=time.time(), sent=sent, outcome=outcome)
            writer.close()

    async def respond(
        self, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> int:
        hits = self.hits[path] = self.hits.get(path, 0) + 1
        if path == "/robots.txt":
            return await self.send(writer, 200, "text/plain", b"User-agent: *\nAllow: /\n")
        if path == "/sitemap.xml":
            urls = "".join(f"<url><loc>{self.site}{p}</loc></url>" for p in self.entries)
            body = f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
            return await self.send(writer, 200, "application/xml", body.encode())
        base, _, query = path.partition("?")
        if base.startswith("/target/"):  # where redirect_ok leads
            return await self.send(writer, 200, "text/html", article(100_000 + int(base[8:])))
        entry = self.entries.get(base)
        if entry is None:
            return await self.send(writer, 404, "text/plain", b"not found")
        n = int(base.split("/")[2])
        fault = entry.fault
        page = article(n)
        canary = f"127.0.0.2:{self.canary_port}"
        redirects = {
            "redirect_ok": f"/target/{n}",
            "redirect_loop": f"{base}?loop=1" if not query else base,
            "long_chain": f"{base}?hop={int(query.split('=')[1]) + 1 if query else 1}",
            "redirect_ftp": f"ftp://{self.site.split('//')[1]}/file",
            "redirect_file": "file:///etc/passwd",
            "redirect_canary": f"http://{canary}/admin",
            "redirect_canary_decimal": f"http://2130706434:{self.canary_port}/admin",
            "redirect_canary_octal": f"http://0177.0.0.2:{self.canary_port}/admin",
            "redirect_ipv6_loopback": f"http://[::1]:{self.canary_port}/admin",
            "redirect_ipv6_mapped": f"http://[::ffff:127.0.0.2]:{self.canary_port}/admin",
        }
        if fault == "long_chain" and query and int(query.split("=")[1]) >= CHAIN:
            return await self.send(writer, 200, "text/html", page)
        if fault in redirects:
            return await self.send(writer, 302, "text/plain", b"", location=redirects[fault])
        if fault == "ok":
            return await self.send(writer, 200, "text/html; charset=utf-8", page)
        if fault.startswith("meta_refresh"):
            to = base if fault == "meta_refresh_loop" else f"/target/{n}"
            moved = f'<html><head><meta http-equiv="Refresh" content="0; url={to}"></head><body>Moved</body></html>'
            if fault == "meta_refresh_utf16":
                return await self.send(writer, 200, "text/html", moved.encode("utf-16"))
            return await self.send(writer, 200, "text/html", moved.encode())
        if fault.startswith("transient_") and hits > 1:
            return await self.send(writer, 200, "text/html; charset=utf-8", page)
        if fault == "transient_503":
            return await self.send(writer, 503, "text/plain", b"busy")
        if fault == "transient_429":
            return await self.send(writer, 429, "text/plain", b"slow down", retry_after="1")
        if fault in ("transient_reset", "reset_before_headers"):
            self.reset(writer)
            return 0
        if fault == "permanent_500":
            return await self.send(writer, 500, "text/plain", b"broken")
        if fault == "gone_410":
            return await self.send(writer, 410, "text/plain", b"gone")
        if fault in ("reset_mid_body", "short_body"):
            head = self.head(200, "text/html", len(page))
            writer.write(head + page[: len(page) // 3])
            await writer.drain()
            await asyncio.sleep(0.05)
            if fault == "reset_mid_body":
                self.reset(writer)
            return len(page) // 3
        if fault == "bad_chunked":
            writer.write(self.head(200, "text/html", None) + b"10\r\n<html><body><p>x\r\nzz\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
            return 40
        if fault == "hang_after_headers":
            writer.write(self.head(200, "text/html", len(page)))
            await writer.drain()
            await reader.read(1)  # until the client gives up and closes
            return 0
        if fault == "slow_drip":
            writer.write(self.head(200, "text/html", len(page)))
            sent = 0
            for byte in page:
                writer.write(bytes([byte]))
                await writer.drain()
                sent += 1
                await asyncio.sleep(0.2)
            return sent
        if fault == "endless_body":
            writer.write(self.head(200, "text/html", None))
            chunk = b"<p>" + b"more " * 2000 + b"</p>"
            frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            sent = 0
            while sent < 50 * BODY_MAX:  # far past any limit: the client must stop first
                writer.write(frame)
                await writer.drain()
                sent += len(chunk)
            return sent
        if fault == "gzip_bomb":
            return await self.send(writer, 200, "text/html", self.bomb, encoding="gzip")
        if fault == "html_as_png":
            return await self.send(writer, 200, "image/png", page)
        if fault == "binary_as_html":
            noise = bytes(random.Random(n).randrange(256) for _ in range(20_000))
            return await self.send(writer, 200, "text/html", b"\x89PNG\r\n\x1a\n" + noise)
        if fault == "json_as_html":
            return await self.send(writer, 200, "text/html", b'{"items": [1, 2, 3], "next": null}')
        raise AssertionError(fault)

    @staticmethod
    def head(status: int, ctype: str, length: int | None, **extra: str) -> bytes:
        lines = [f"HTTP/1.1 {status} X", f"Content-Type: {ctype}", "Connection: close"]
        lines.append(
            f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
        )
        lines += [f"{k.replace('_', '-').title()}: {v}" for k, v in extra.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def send(
        self, writer: asyncio.StreamWriter, status: int, ctype: str, body: bytes, **extra: str
    ) -> int:
        headers = {("content_encoding" if k == "encoding" else k): v for k, v in extra.items()}
        writer.write(self.head(status, ctype, len(body), **headers) + body)
        await writer.drain()
        return len(body)

    @staticmethod
    def reset(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()


async def main(args: argparse.Namespace) -> None:
    entries = plan(args.pages, args.fault_rate, args.seed)
    with open(args.log, "a", encoding="utf-8") as log:
        server = Server(entries, log)
        canary = await asyncio.start_server(server.canary, "127.0.0.2", 0)
        server.canary_port = canary.sockets[0].getsockname()[1]
        site = await asyncio.start_server(server.handle, "127.0.0.1", 0, backlog=512)
        port = site.sockets[0].getsockname()[1]
        server.site = f"http://127.0.0.1:{port}"
        print(port, server.canary_port, flush=True)
        async with site, canary:
            await asyncio.gather(site.serve_forever(), canary.serve_forever())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log", required=True)
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)


@dataclass
class Running:
    """A started fault server: where it listens, its plan and its request log."""

    base: str
    canary_port: int
    entries: list[Entry]
    log: Path  # the JSON-lines request log

    def requests(self) -> list[dict[str, Any]]:
        lines = self.log.read_text("utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def canary_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r.get("canary")]


def start(
    log: Path, pages: int, fault_rate: float, seed: int = 1
) -> tuple[subprocess.Popen[str], Running]:
    """Start the server as a subprocess (the caller terminates it): (process, Running)."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "tests.faultserver", "--pages", str(pages)),
            *("--fault-rate", str(fault_rate), "--seed", str(seed), "--log", str(log)),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.stdout is not None
    site_port, canary_port = map(int, proc.stdout.readline().split())
    running = Running(
        f"http://127.0.0.1:{site_port}", canary_port, plan(pages, fault_rate, seed), log
    )
    return proc, running


@contextmanager
def running(tmp_path: Path, pages: int, fault_rate: float) -> Iterator[Running]:
    """The server as a subprocess for the length of a `with` block; its log in `tmp_path`."""
    proc, server = start(tmp_path / "requests.jsonl", pages, fault_rate)
    try:
        yield server
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def sources_file(tmp_path: Path, server: Running) -> Path:
    """A sources file with one sitemap source, `faults`, for the server's corpus."""
    path = tmp_path / "sources.toml"
    path.write_text(
        f'[sources.faults]\nkind = "sitemap"\nstart_urls = ["{server.base}/sitemap.xml"]\n'
        'download_delay = 0\nconcurrency = 8\nallow_private = ["127.0.0.1"]\n',
        "utf-8",
    )
    return path
