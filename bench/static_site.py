"""A static site for the crawl benchmarks, served the way a real site's web server serves one.

    python bench/static_site.py FD FOLDER

Serves every file under FOLDER from memory on the listening socket FD (inherited from the
benchmark, which chose the port before writing the sitemap that names it): HTTP/1.1 with
keep-alive, one asyncio thread, in a process of its own. A crawl on loopback then waits on the
network and on its own work, not on the test server: Python's ThreadingHTTPServer in the benchmark's
own process (a thread per connection, all taking turns at one interpreter lock) answered 16
connections slowly enough to cost the crawl 6 to 10% of its pages/s (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

_TYPES = {".xml": b"application/xml", ".html": b"text/html; charset=utf-8", ".txt": b"text/plain"}
NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found"
)


def responses(folder: Path) -> dict[str, bytes]:
    """URL path -> the whole HTTP response for each file under `folder`."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file():
            body = path.read_bytes()
            kind = _TYPES.get(path.suffix, b"application/octet-stream")
            head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
                kind,
                len(body),
            )
            found["/" + path.relative_to(folder).as_posix()] = head + body
    return found


async def serve(listening: socket.socket, site: dict[str, bytes]) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: requests on one connection until the client closes it
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode("latin-1").split("?", 1)[0]
                writer.write(site.get(path, NOT_FOUND))
                await writer.drain()
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            IndexError,
        ):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, sock=listening)
    async with server:
        await server.serve_forever()


def main() -> None:
    fd, folder = int(sys.argv[1]), Path(sys.argv[2])
    listening = socket.socket(fileno=fd)
    asyncio.run(serve(listening, responses(folder)))


if __name__ == "__main__":
    main()
