"""A local test site on 127.0.0.1 for crawl tests: articles in four languages with the boilerplate
their sites carry, a home page declaring a feed, listing pages with pagination, a sitemap named in
robots.txt, an RSS feed, a syndicated copy, a tracking-parameter URL, a robots-disallowed page.

Served by a thread of the test process; every request path is logged so tests can check what was
(and was not) requested. Never bound to anything but 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
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
    "/news/tokyo-libraries": (
        "ja",
        "都立図書館、開館時間を延長へ",
        [
            "東京都は来年度から、都内の公立図書館の開館時間を午後九時まで延長すると発表した。",
            "利用者への調査では、仕事帰りに立ち寄りたいという声が最も多かったという。",
            "都は夜間の職員を新たに採用し、半年後に効果を検証する方針だ。",
        ],
    ),
    "/news/shanghai-ferry": (
        "zh",
        "上海新轮渡码头明年启用",
        [
            "上海市交通委员会周一宣布，新的轮渡码头将于明年春季正式启用，比原计划推迟两年。",
            "官员对记者表示，建设成本比最初估算高出五分之一，主要原因是材料价格上涨。",
            "当地商家预计，大型船只能够在市中心停靠后，游客数量将明显增加。",
        ],
    ),
}

# What each language's sites leave inside the article block: widgets and no-redistribution lines.
BOILERPLATE = {
    "en": ["Share this article", "Like 12 · Share · Comment"],
    "ko": ["좋아요 0 북마크 공유하기", "<저작권자 ⓒ 테스트타임스, 무단 전재 및 재배포 금지>"],
    "ja": ["この記事をシェアする", "無断転載を禁じます。"],
    "zh": ["分享到微信", "版权所有，未经授权不得转载。"],
}


def article_html(lang: str, title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    noise = "".join(f"<p>{line}</p>" for line in BOILERPLATE[lang])
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title} | Test Times</title>'
        f'<meta property="og:title" content="{title}"></head><body><nav><a href="/">Home</a> '
        f'<a href="/news/">News</a></nav><article><h1>{title}</h1>{body}{noise}</article>'
        f"<footer>© 2025 Test Times. All rights reserved.</footer></body></html>"
    ).encode()


def listing_html(title: str, links: list[str], next_page: str | None = None) -> bytes:
    items = "".join(f'<li><a href="{escape(link)}">{escape(link)}</a></li>' for link in links)
    more = f'<a href="{next_page}" rel="next">Next page</a>' if next_page else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
        f'<body><nav><a href="/">Home</a></nav><h1>{title}</h1><ul>{items}</ul>{more}</body></html>'
    ).encode()


@dataclass
class Site:
    pages: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location
    conditional: list[str] = field(default_factory=list)  # paths requested with If-None-Match
    drops: set[str] = field(default_factory=set)  # paths answered by closing the connection
    hangs: set[str] = field(default_factory=set)  # paths never answered (until the site closes)
    closing: threading.Event = field(default_factory=threading.Event)
    flaky: dict[str, int] = field(default_factory=dict)  # path -> 503s still to answer first
    times: dict[str, list[float]] = field(default_factory=dict)  # path -> when it was requested
    requested: list[str] = field(default_factory=list)
    agents: set[str] = field(default_factory=set)  # User-Agent headers seen
    base: str = ""

    def add_article(self, path: str, lang: str, title: str, paragraphs: list[str]) -> None:
        self.pages[path] = (200, "text/html; charset=utf-8", article_html(lang, title, paragraphs))

    def html(self, path: str, body: bytes) -> None:
        self.pages[path] = (200, "text/html; charset=utf-8", body)

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
    robots = f"User-agent: *\nDisallow: /private/\n\nSitemap: {site.base}/sitemap.xml\n"
    site.pages["/robots.txt"] = (200, "text/plain", robots.encode())
    paths = list(ARTICLES)
    home = listing_html("Test Times", ["/news/"]).replace(
        b"</title>",
        b'</title><link rel="alternate" type="application/rss+xml" href="/feed.xml">',
    )
    site.html("/", home)
    site.html("/news/", listing_html("News", paths[:3], next_page="/news/page/2"))
    site.html("/news/page/2", listing_html("News, page 2", paths[3:]))
    items = "".join(
        f"<item><title>{escape(title)}</title><link>{site.base}{path}</link></item>"
        for path, (_lang, title, _paragraphs) in ARTICLES.items()
    )
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Test Times</title>{items}</channel></rss>'
    site.pages["/feed.xml"] = (200, "application/rss+xml", feed.encode())
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
            site.agents.add(self.headers.get("User-Agent", ""))
            site.times.setdefault(self.path, []).append(time.monotonic())
            if site.flaky.get(self.path, 0) > 0:
                site.flaky[self.path] -= 1
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path in site.hangs:  # the connection is accepted, the answer never comes
                site.closing.wait(120)
                self.close_connection = True
                return
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

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up
                super().handle_error(request, client_address)  # type: ignore[arg-type]

    server = Server((host, 0), Handler)
    site.base = f"http://{host}:{server.server_address[1]}"
    setup(site)  # type: ignore[operator]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.closing.set()
        server.shutdown()
        server.server_close()


if __name__ == "__main__":  # `python -m tests.site`: the test site, to try a source against
    with serve() as running:
        print(running.base, flush=True)
        print("serving until Ctrl-C; sitemap, feed and listings as in the crawl tests", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
