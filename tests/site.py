"""A local test site on 127.0.0.1 for crawl tests: articles, listings, a sitemap, a feed, robots.txt.

Served by a thread of the test process; every request path is logged so tests can check what was
(and was not) requested. Never bound to anything but 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARTICLES = {
    "/news/harbour-ferry": (
        "en",
        "Harbour ferry terminal to open next spring",
        [
            "The harbour authority announced on Monday that the new ferry terminal will open next spring, two years later than planned.",
            "Construction costs rose by a fifth over the original estimate, officials told reporters at the quay.",
            "Local businesses expect more visitors once the larger ships can dock in the town centre instead of the industrial port.",
        ],
    ),
    "/news/seoul-budget": (
        "ko",
        "서울시 2025년 예산안 발표",
        [
            "서울시는 2025년 예산안을 발표하며 대중교통 확충에 가장 많은 재원을 배정했다고 밝혔다.",
            "시 관계자는 지하철 노선 연장과 버스 배차 간격 단축이 핵심 과제라고 설명했다.",
            "시민단체는 증가 폭이 작다며 추가 편성을 요구하는 성명을 내고 시의회 심의를 지켜보겠다고 했다.",
        ],
    ),
    "/news/library-hours": (
        "en",
        "City libraries extend weekend opening hours",
        [
            "All branches of the city library will stay open until eight in the evening on Saturdays and Sundays from next month.",
            "The change follows a survey in which most readers asked for later hours rather than earlier ones.",
            "Staff will be hired on part-time contracts, and the pilot will be reviewed after six months.",
        ],
    ),
}


def article_html(lang: str, title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title} | Test Times</title>'
        f'<meta property="og:title" content="{title}"></head><body><nav><a href="/">Home</a></nav>'
        f"<article><h1>{title}</h1>{body}<p>Share this article</p></article>"
        f"<footer>© 2025 Test Times. All rights reserved.</footer></body></html>"
    ).encode()


@dataclass
class Site:
    pages: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location
    conditional: list[str] = field(default_factory=list)  # paths requested with If-None-Match
    drops: set[str] = field(default_factory=set)  # paths answered by closing the connection
    requested: list[str] = field(default_factory=list)
    base: str = ""

    def add_article(self, path: str, lang: str, title: str, paragraphs: list[str]) -> None:
        self.pages[path] = (200, "text/html; charset=utf-8", article_html(lang, title, paragraphs))

    def sitemap(self, paths: list[str]) -> None:
        urls = "".join(
            f"<url><loc>{escape(p if '://' in p else self.base + p)}</loc></url>" for p in paths
        )
        body = f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        self.pages["/sitemap.xml"] = (200, "application/xml", body.encode())


def default_site(site: Site) -> None:
    for path, (lang, title, paragraphs) in ARTICLES.items():
        site.add_article(path, lang, title, paragraphs)
    lang, title, paragraphs = ARTICLES["/news/harbour-ferry"]
    site.add_article("/syndicated/harbour-ferry-copy", lang, title, paragraphs)  # same text
    site.add_article("/private/draft", "en", "Unpublished draft", ["Not for crawlers. " * 10])
    site.pages["/robots.txt"] = (200, "text/plain", b"User-agent: *\nDisallow: /private/\n")
    site.sitemap(
        [
            *ARTICLES,
            "/news/harbour-ferry?utm_source=newsletter&utm_medium=email",
            "/syndicated/harbour-ferry-copy",
            "/private/draft",
            "/news/missing-page",
        ]
    )


@contextmanager
def serve(setup: object = default_site, host: str = "127.0.0.1") -> Iterator[Site]:
    site = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.requested.append(self.path)
            if self.path in site.drops:
                self.close_connection = True  # no status line: the client sees a reset
                return
            if self.path in site.redirects:
                self.send_response(302)
                self.send_header("Location", site.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, ctype, body = site.pages.get(
                self.path.split("?")[0], (404, "text/plain", b"not found")
            )
            etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
            if self.headers.get("If-None-Match"):
                site.conditional.append(self.path)
            if status == 200 and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(status)
            self.send_header("ETag", etag)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    site.base = f"http://{host}:{server.server_address[1]}"
    setup(site)  # type: ignore[operator]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
