"""A labelled generator of copies and distinct articles, scored through the real dedup decision.

Copies are made from real article bodies with the edits republishers make (issue 21), each alone and
combined, in Korean, Chinese, Japanese and English:

    chrome          a byline line above, widget labels and a copyright line below (plain text)
    chrome_html     the same chrome as paragraphs of an HTML page (through trafilatura)
    original_title  an "original headline" line on top (`원제:`, `Original headline:`, `原标题：`, `原題：`)
    numbers         numbers changed
    insert          sentences from another article of the language inserted
    drop            sentences dropped
    spacing         Korean: two words run together; Chinese, Japanese: a space inside the text;
                    English: British against American spelling
    swap            neighbouring paragraphs (or sentences) swapped
    punct           full-width commas and stops, NBSP and ideographic spaces, lines wrapped, CRLF
    combined        two or three of the above with chrome or an original headline

Each copy is made at growing strength (1, 2, 3, 4, 5, 6, 8... edits) until it falls below the bands of
interest, so every edit yields pairs across the Jaccard range. A pair's band is the issue's reference
Jaccard: 5-character shingles of the article body (NFKC, case-folded, whitespace collapsed; no
chrome, title or byline), computed from the generator's own record of what the article is, never
from our fingerprint.

Distinct articles: every base against all others of its language (chunks of one long article are
separate bases: the same topic, vocabulary and names); another story of the language quoting a
passage of a base (20 to 65% of its sentences in one run: reference Jaccard mostly 0.1 to 0.5); and
every base wrapped in one site template per language (same header, byline format, an "about us"
paragraph no rule knows, widgets and copyright line; bodies also cut short so the template weighs
more): same site, different story.

Scoring uses the decision path: page -> `cleaners.clean.clean` (what the store keeps) ->
`fingerprint` (content hash; signature of the shingle text) -> band keys -> stored candidates ->
verification by exact Jaccard (`db.dedup.find_near_duplicate`), against a database holding the base
articles stored the same way. The best verified candidate is kept with its score, so recall and
false merges at any verification threshold come from the same lookups (the lookup at threshold t
returns exactly the best candidate when its score is >= t).
"""

from __future__ import annotations

import html
import json
import random
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from cleaners.clean import clean
from cleaners.errors import Rejected
from cleaners.fingerprint import DedupConfig, band_keys, fingerprint
from cleaners.scripts import detect_language
from db.connect import connect, write_transaction
from db.dedup import check_config, find_near_duplicate, insert_keys

LANGUAGES = ("ko", "zh", "ja", "en")
EDITS = (
    "chrome", "chrome_html", "original_title", "numbers", "insert", "drop", "spacing", "swap",
    "punct", "combined",
)  # fmt: skip
BANDS = ((0.0, 0.5), (0.5, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 1.01))
STRENGTHS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 18, 22, 27, 33, 40, 50, 60)
# Scores below this are not kept: the sweep of thresholds starts here.
SWEEP_FLOOR = 0.5

Article = list[list[str]]  # paragraphs of sentences

_SENT = {
    "cjk": re.compile(r"(?<=[。！？!?])\s*"),
    "other": re.compile(r"(?<=[.!?。！？])\s+"),
}

CHROME = {
    "ko": (["김민수 기자 2025.11.13 10:47", "입력 2025.11.13 10:47 | 수정 2025.11.13 11:02"],
           ["좋아요 12", "공유하기", "댓글 3", "저작권자 ⓒ 한빛일보, 무단전재 및 재배포 금지"]),
    "zh": (["记者 王晓明 2025-11-13 10:47", "来源：新华网 2025年11月13日"],
           ["点赞 12", "分享到微信", "评论 3", "版权所有 © 光明日报社，未经授权禁止转载"]),
    "ja": (["山田太郎 2025/11/13 10:47", "2025年11月13日 10時47分"],
           ["いいね！ 12", "シェアする", "コメント 3", "Copyright © 2025 Example Shimbun. 無断転載禁止"]),
    "en": (["By John Smith", "Nov 13, 2025 10:47 AM"],
           ["Like 12", "Share this article", "Comments (3)", "© 2025 Example Media. All rights reserved."]),
}  # fmt: skip
ORIGINAL_TITLE = {"ko": "원제: ", "zh": "原标题：", "ja": "原題：", "en": "Original headline: "}
TEMPLATE = {
    "ko": (["한빛일보 | 경제", "김민수 기자 2025.11.13 10:47"],
           "한빛일보는 1988년 창간한 종합 일간지로 정치, 경제, 사회, 문화 전반의 소식을 독자 여러분께 "
           "가장 빠르고 정확하게 전달합니다. 제보와 구독 문의는 대표 전화로 연락해 주시기 바랍니다.",
           ["좋아요 0", "공유하기", "저작권자 ⓒ 한빛일보, 무단전재 및 재배포 금지"]),
    "zh": (["光明网 | 财经", "记者 王晓明 2025-11-13 10:47"],
           "光明网是由光明日报社主办的中央重点新闻网站，致力于为读者提供及时、准确、权威的新闻资讯。"
           "欢迎广大读者通过热线电话和电子邮件提供新闻线索。",
           ["点赞 0", "分享到微信", "版权所有 © 光明日报社，未经授权禁止转载"]),
    "ja": (["エグザンプル新聞 | 経済", "山田太郎 2025/11/13 10:47"],
           "エグザンプル新聞は1950年創刊の総合日刊紙です。政治、経済、社会、文化のニュースを"
           "速く正確にお届けします。情報提供や購読のお問い合わせは代表電話までご連絡ください。",
           ["いいね！ 0", "シェアする", "Copyright © 2025 Example Shimbun. 無断転載禁止"]),
    "en": (["Example Media | Business", "By John Smith"],
           "Example Media is an independent newsroom founded in 1988 that covers politics, business, "
           "science and culture for readers around the world. Send tips and subscription questions "
           "to our newsroom by phone or email.",
           ["Like 0", "Share this article", "© 2025 Example Media. All rights reserved."]),
}  # fmt: skip
BRITISH = {
    "color": "colour", "colors": "colours", "favor": "favour", "favorite": "favourite",
    "honor": "honour", "labor": "labour", "neighbor": "neighbour", "behavior": "behaviour",
    "center": "centre", "centers": "centres", "theater": "theatre", "meter": "metre",
    "defense": "defence", "license": "licence", "offense": "offence", "catalog": "catalogue",
    "traveled": "travelled", "canceled": "cancelled", "modeled": "modelled", "labeled": "labelled",
    "program": "programme", "analyze": "analyse", "analyzed": "analysed",
}  # fmt: skip
_IZE = re.compile(r"\b([A-Za-z]{3,})iz(e|es|ed|ing|ation|ations)\b")
_ISE = re.compile(r"\b([A-Za-z]{3,})is(e|es|ed|ing|ation|ations)\b")
_WORD = re.compile(r"\b[A-Za-z]+\b")
_NUMBER = re.compile(r"\d+")
_WS = re.compile(r"\s+")
_HANGUL_GAP = re.compile(r"(?<=[\uac00-\ud7a3]) (?=[\uac00-\ud7a3])")


@dataclass
class Base:
    lang: str
    article: Article
    group: str  # the document it came from (chunks of one document share it)

    def text(self) -> str:
        return render(self.article, self.lang)


@dataclass
class Pair:
    base: int  # index into bases
    lang: str
    edit: str
    strength: int
    page: str  # what is stored: plain text, or HTML for chrome_html
    kind: str  # "text" or "html"
    reference: float  # the Jaccard of the article bodies
    found: list[tuple[int, float]] = field(default_factory=list)  # (stored id, score) per entry


# --- reading the corpora -------------------------------------------------------------------------


def _is_cjk(lang: str) -> bool:
    return lang in ("zh", "ja")


def split_sentences(paragraph: str, lang: str) -> list[str]:
    pattern = _SENT["cjk" if _is_cjk(lang) else "other"]
    return [s.strip() for s in pattern.split(paragraph) if s.strip()]


def render(article: Article, lang: str) -> str:
    joiner = "" if _is_cjk(lang) else " "
    return "\n".join(joiner.join(p) for p in article if p)


def to_article(text: str, lang: str) -> Article:
    paragraphs = [p.strip() for p in re.split(r"\n+", text) if p.strip()]
    return [s for p in paragraphs if (s := split_sentences(p, lang))]


def _chunks(article: Article, lang: str, size: int) -> list[Article]:
    """A long article cut into pieces of about `size` characters at paragraph (or sentence)
    boundaries: separate bases that share the topic."""
    units = article if len(article) > 3 else [[s] for p in article for s in p]
    out: list[Article] = []
    current: Article = []
    for unit in units:
        current.append(unit)
        if len(render(current, lang)) >= size:
            out.append(current)
            current = []
    if current and len(render(current, lang)) >= size / 2:
        out.append(current)
    elif current and out:
        out[-1].extend(current)
    return out or [article]


def _html_text(path: Path) -> str:
    raw = path.read_text("utf-8", errors="replace")
    raw = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", raw)
    raw = re.sub(r"(?i)</(p|div|h\d|li|blockquote|section|article)>|<br\s*/?>", "\n", raw)
    return html.unescape(re.sub(r"<[^>]+>", " ", raw))


def load_documents(corpus: Path | None, readability: Path | None, seeds: Path) -> list[Base]:
    """Real article bodies by language, whole: the extraction corpus' ground truth, the readability
    pages' expected texts (Chinese and Japanese) and the Korean seed documents."""
    texts: list[tuple[str, str]] = []
    if corpus is not None:
        truth = json.loads((corpus / "ground-truth.json").read_text("utf-8"))
        for key, item in sorted(truth.items()):
            texts.append((f"gt:{key[:12]}", item["articleBody"]))
    if readability is not None and readability.exists():
        for page in sorted(readability.iterdir()):
            expected = page / "expected.html"
            if expected.exists():
                texts.append((f"rd:{page.name}", _html_text(expected)))
    for path in sorted(seeds.glob("*.txt")):
        for n, entry in enumerate(clean(path.read_bytes(), kind="text").entries):
            texts.append((f"seed:{path.name}#{n}", entry.text))
    documents = []
    for group, text in texts:
        text = "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
        lang = detect_language(text)
        if lang in LANGUAGES and len(text) >= 300:
            documents.append(Base(lang, to_article(text, lang), group))
    return documents


def load_bases(documents: list[Base], per_language: int) -> list[Base]:
    """Base articles: long documents cut into chunks (about 1,500 characters of English, 500 of
    Korean, Chinese or Japanese; chunks of one document are distinct articles on one topic), then
    up to `per_language` of each language, drawn with a fixed seed."""
    bases: list[Base] = []
    for doc in documents:
        size = 1500 if doc.lang == "en" else 500
        pieces = (
            _chunks(doc.article, doc.lang, size) if len(doc.text()) > 2 * size else [doc.article]
        )
        bases += [Base(doc.lang, p, doc.group) for p in pieces if len(render(p, doc.lang)) >= 300]
    rng = random.Random(11)
    chosen: list[Base] = []
    for lang in LANGUAGES:
        mine = [b for b in bases if b.lang == lang]
        chosen += sorted(rng.sample(mine, min(per_language, len(mine))), key=bases.index)
    return chosen


# --- the reference Jaccard -----------------------------------------------------------------------


def reference_shingles(text: str, size: int = 5) -> set[str]:
    """The issue's measure: NFKC, case-folded, whitespace collapsed, 5-character shingles."""
    norm = _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    if len(norm) <= size:
        return {norm} if norm else set()
    return {norm[i : i + size] for i in range(len(norm) - size + 1)}


def reference_jaccard(a: str, b: str) -> float:
    x, y = reference_shingles(a), reference_shingles(b)
    return len(x & y) / len(x | y) if x | y else 1.0


# --- edits ---------------------------------------------------------------------------------------


@dataclass
class Copy:
    article: Article
    top: list[str] = field(default_factory=list)
    bottom: list[str] = field(default_factory=list)
    transform: Callable[[str], str] | None = None  # on the rendered page (punct)
    html: bool = False


def _positions(article: Article) -> list[tuple[int, int]]:
    return [(p, s) for p, para in enumerate(article) for s in range(len(para))]


def _edit_chrome(c: Copy, lang: str, k: int, rng: random.Random, ctx: Context) -> None:
    top, bottom = CHROME[lang]
    c.top = top[: 1 + (k > 1)]
    c.bottom = bottom[: min(len(bottom), 1 + k)]


def _edit_original_title(c: Copy, lang: str, k: int, rng: random.Random, ctx: Context) -> None:
    others = [b for b in ctx.bases if b.lang != lang]
    if others:
        headline = rng.choice(others).article[0][0][:80]
    else:
        headline = "美国例外论的终结" if lang == "en" else "The End of American Exceptionalism"
    c.top = [ORIGINAL_TITLE[lang] + headline]


def _edit_numbers(c: Copy, lang: str, k: int, rng: random.Random, ctx: Context) -> None:
    spots = [(p, s) for p, s in _positions(c.article) if _NUMBER.search(c.article[p][s])]
    for _ in range(k):
        if not spots:
            return
        p, s = rng.choice(spots)
        found = list(_NUMBER.finditer(c.article[p][s]))
        m = rng.choice(found)
        new = str(int(m.group()) + rng.randint(1, 97)) if len(m.group()) < 12 else "7"
        c.article[p][s] = c.article[p][s][: m.start()] + new + c.article[p][s][m.end() :]


def _edit_insert(c: Copy, lang: str, k: int, rng: random.Random, ctx: Context) -> None:
    donors = [b for b in ctx.bases if b.lang == lang and b.article is not ctx.current.article]
    for _ in range(k):
        donor = rng.choice(donors).article
        sentence = rng.choice(rng.choice(donor))
        p = rng.randrange(len(c.article))
        c.article[p].insert(rng.randrange(len(c.article[p]) + 1), sentence)


def _edit_drop(c: Copy, lang: str, k: int, rng: random.Random, ctx: Context) -> None:
    for _ in range(k):
        spots = _positions(c.article)
        if len(spots) <= 2:
            return
        p, s = rng.choice(spots)
        del c.article[p][s]
        if not c.article[p]:
            del c.article[p]


def _to_british(word: str) -> str | None:
    lower = word.lower()
    if lower in BRITISH:
        new = BRITISH[lower]
    elif m := _IZE.fullmatch(lower):
        new = f"{m.group(1)}is{m.group(2)}"
    elif lower in BRITISH.values():
        new = next(a for a, b in BRITISH.items() if b == lower)
    elif m := _ISE.fullmatch(lower):
        new = f"{m.group(1)}iz{m.group(2)}"
    else:
        return None
    return new.capitalize() if word[:1].isupper() else new


def _edit_spacing(c: Copy, lang: str, k: int, rng: random.Random, ctx: Context) -> None:
    spots = _positions(c.article)
    for _ in range(k * 3):  # tries: not every sentence has a place for the edit
        if k <= 0:
            return
        p, s = rng.choice(spots)
        sentence = c.article[p][s]
        if lang == "ko":
            gaps = list(_HANGUL_GAP.finditer(sentence))
            if gaps:
                g = rng.choice(gaps)
                c.article[p][s] = sentence[: g.start()] + sentence[g.end() :]
                k -= 1
        elif lang == "en":
            words = [m for m in _WORD.finditer(sentence) if _to_british(m.group())]
            if words:
                m = rng.choice(words)
                new = _to_british(m.group()) or m.group()
                c.article[p][s] = sentence[: m.start()] + new + sentence[m.end() :]
                k -= 1
        elif len(sentence) > 4:
            i = rng.randrange(1, len(sentence) - 1)
            c.article[p][s] = sentence[:i] + " " + sentence[i:]
            k -= 1


def _edit_swap(c: Copy, lang: str, k: int, rng: random.Random, ctx: Context) -> None:
    for _ in range(k):
        if len(c.article) > 2:
            i = rng.randrange(len(c.article) - 1)
            c.article[i], c.article[i + 1] = c.article[i + 1], c.article[i]
        else:
            para = max(c.article, key=len)
            if len(para) > 1:
                i = rng.randrange(len(para) - 1)
                para[i], para[i + 1] = para[i + 1], para[i]


_PUNCT_SWAPS = {",": "，", ".": "．", ":": "：", "(": "（", ")": "）", "!": "！", "?": "？"}


def _edit_punct(c: Copy, lang: str, k: int, rng: random.Random, ctx: Context) -> None:
    steps = rng.sample(["width", "space", "wrap", "crlf"], k=min(4, 1 + k // 3))
    count = k * 2

    def transform(page: str) -> str:
        chars = list(page)
        if "width" in steps:
            spots = [i for i, ch in enumerate(chars) if ch in _PUNCT_SWAPS]
            for i in rng.sample(spots, min(count, len(spots))):
                chars[i] = _PUNCT_SWAPS[chars[i]]
        if "space" in steps:
            spots = [i for i, ch in enumerate(chars) if ch == " "]
            for i in rng.sample(spots, min(count, len(spots))):
                chars[i] = rng.choice(["\u00a0", "\u3000", "  "])
        out = "".join(chars)
        if "wrap" in steps:
            width = rng.choice([40, 60, 72]) if lang == "en" else rng.choice([20, 30, 40])
            lines = []
            for line in out.split("\n"):
                while len(line) > width:
                    cut = line.rfind(" ", 0, width) if lang in ("en", "ko") else width
                    cut = cut if cut > 0 else width
                    lines.append(line[:cut])
                    line = line[cut:].lstrip(" ") if lang in ("en", "ko") else line[cut:]
                lines.append(line)
            out = "\n".join(lines)
        if "crlf" in steps:
            out = out.replace("\n", "\r\n")
        return out

    c.transform = transform


EDIT_FUNCS: dict[str, Callable[[Copy, str, int, random.Random, Context], None]] = {
    "chrome": _edit_chrome, "chrome_html": _edit_chrome, "original_title": _edit_original_title,
    "numbers": _edit_numbers, "insert": _edit_insert, "drop": _edit_drop,
    "spacing": _edit_spacing, "swap": _edit_swap, "punct": _edit_punct,
}  # fmt: skip
_CONTENT_EDITS = ("numbers", "insert", "drop", "spacing", "swap", "punct")


@dataclass
class Context:
    bases: list[Base]
    current: Base


def make_copy(base: Base, edit: str, k: int, rng: random.Random, bases: list[Base]) -> Copy:
    c = Copy([list(p) for p in base.article], html=edit == "chrome_html")
    ctx = Context(bases, base)
    if edit == "combined":
        picked = rng.sample(_CONTENT_EDITS, rng.randint(2, 3))
        share = max(1, k // len(picked))
        for name in picked:
            EDIT_FUNCS[name](c, base.lang, share, rng, ctx)
        extra = rng.choice(["chrome", "original_title"])
        EDIT_FUNCS[extra](c, base.lang, share, rng, ctx)
    else:
        EDIT_FUNCS[edit](c, base.lang, k, rng, ctx)
    return c


def page_of(c: Copy, lang: str) -> tuple[str, str]:
    """(page, kind): what a loader would read."""
    body = render(c.article, lang)
    if c.html:
        paras = [*c.top, *body.split("\n"), *c.bottom]
        inner = "\n".join(f"<p>{html.escape(p)}</p>" for p in paras)
        return (
            f"<!doctype html><html><head><title>t</title></head><body><article>{inner}"
            "</article></body></html>"
        ), "html"
    page = "\n".join([*c.top, body, *c.bottom])
    return (c.transform(page) if c.transform else page), "text"


def make_pairs(bases: list[Base], seed: int, repeats: int, floor: float = 0.4) -> list[Pair]:
    """Copies of every base by every edit, at growing strength until the reference Jaccard falls
    below `floor` (or the edit has nothing left to change), `repeats` draws of each (more for a
    language with fewer bases)."""
    rng = random.Random(seed)
    pairs = []
    counts = {lang: sum(b.lang == lang for b in bases) for lang in LANGUAGES}
    most = max(counts.values())
    for i, base in enumerate(bases):
        original = base.text()
        # a language with fewer bases gets more draws of each, so every language has as many pairs
        draws = repeats * max(1, round(most / counts[base.lang]))
        for edit in EDITS:
            for _ in range(draws):
                last = None
                for k in STRENGTHS:
                    c = make_copy(base, edit, k, rng, bases)
                    page, kind = page_of(c, base.lang)
                    ref = reference_jaccard(original, render(c.article, base.lang))
                    if page == last:
                        break  # stronger edits change nothing more
                    last = page
                    pairs.append(Pair(i, base.lang, edit, k, page, kind, ref))
                    if ref < floor or edit in ("chrome", "chrome_html", "original_title"):
                        break
    return pairs


# --- scoring through the decision path -----------------------------------------------------------


def _entries(page: str, kind: str) -> list[str]:
    try:
        return [e.text for e in clean(page.encode("utf-8"), kind=kind).entries]
    except Rejected:  # a copy the cleaning rejects is simply not found
        return []


class Index:
    """A database of stored articles and the lookup the store makes for a new one."""

    def __init__(self, directory: Path, name: str, config: DedupConfig) -> None:
        self.config = config
        self.sweep = replace(config, threshold=SWEEP_FLOOR)
        self.db = connect(directory / name)
        check_config(self.db, config)
        self.db.execute("INSERT INTO runs(source, command, started_at) VALUES ('b', 'b', 'now')")
        self.hashes: dict[str, int] = {}

    def add(self, text: str, key: str) -> int:
        fp = fingerprint(text, self.config)
        with write_transaction(self.db):
            cursor = self.db.execute(
                """INSERT INTO articles(url, origin, source, text, content_hash, run_id, stored_at)
                   VALUES (?, ?, 'bench', ?, ?, 1, 'now')""",
                [key, key, text, fp.content_hash + key],
            )
            article_id = int(cursor.lastrowid or 0)
            if fp.signature is not None:
                insert_keys(self.db, article_id, band_keys(fp.signature, self.config))
        self.hashes.setdefault(fp.content_hash, article_id)
        return article_id

    def lookup(self, text: str, exclude: int | None = None) -> tuple[int, float] | None:
        """The stored article this text duplicates (exact first, then near) with its score, down
        to SWEEP_FLOOR."""
        fp = fingerprint(text, self.config)
        same = self.hashes.get(fp.content_hash)
        if same is not None and same != exclude:
            return same, 1.0
        if fp.signature is None:
            return None
        keys = band_keys(fp.signature, self.config)
        match = find_near_duplicate(
            self.db, keys, text, self.sweep, exclude=exclude, shingles=fp.shingles
        )
        return (match.article_id, match.similarity) if match else None


@dataclass
class Distinct:
    lang: str
    kind: str  # "topic", "shared_passage", "template" or "template_short"
    best: float | None  # the best verified score against any other article (None: no candidate)
    reference: float  # reference Jaccard: to the quoted base, or the highest to any other


def score(
    bases: list[Base], pairs: list[Pair], config: DedupConfig
) -> tuple[list[int], list[Distinct]]:
    """Fill each pair's `found`; return the bases' stored ids and the distinct-article lookups."""
    distinct: list[Distinct] = []
    with tempfile.TemporaryDirectory() as tmp:
        index = Index(Path(tmp), "bases.db", config)
        stored: list[list[int]] = []
        for i, base in enumerate(bases):
            texts = _entries(base.text(), "text")
            stored.append([index.add(t, f"base:{i}:{n}") for n, t in enumerate(texts)])
        ids = [s[0] if s else -1 for s in stored]
        for pair in pairs:
            for text in _entries(pair.page, pair.kind):
                hit = index.lookup(text)
                if hit is not None:
                    pair.found.append(hit)
        refs = _reference_max(bases, lambda b: b.text())
        for i, base in enumerate(bases):
            for article_id in stored[i]:
                (text,) = index.db.execute(
                    "SELECT text FROM articles WHERE id = ?", [article_id]
                ).fetchone()
                hit = _lookup_excluding(index, text, set(stored[i]))
                distinct.append(Distinct(base.lang, "topic", hit, refs[i]))
        distinct += _shared_passages(bases, stored, index)
        index.db.close()
        for kind, cut in (("template", None), ("template_short", 400)):
            tindex = Index(Path(tmp), f"{kind}.db", config)
            pages = [templated(b, cut) for b in bases]
            tstored = [
                [tindex.add(t, f"t:{i}:{n}") for n, t in enumerate(_entries(p, "text"))]
                for i, p in enumerate(pages)
            ]
            trefs = _reference_max(bases, lambda b, cut=cut: _cut(b.text(), cut))  # type: ignore[misc]
            for i, base in enumerate(bases):
                for article_id in tstored[i]:
                    (text,) = tindex.db.execute(
                        "SELECT text FROM articles WHERE id = ?", [article_id]
                    ).fetchone()
                    hit = _lookup_excluding(tindex, text, set(tstored[i]))
                    distinct.append(Distinct(base.lang, kind, hit, trefs[i]))
            tindex.db.close()
    return ids, distinct


SHARES = (0.2, 0.35, 0.5, 0.65)


def _shared_passages(bases: list[Base], stored: list[list[int]], index: Index) -> list[Distinct]:
    """Another story of the language that quotes a passage of a base (a contiguous run of a share
    of its sentences): looked up with the other story itself excluded, a match to the base whose
    passage it quotes is a false merge. Its reference Jaccard to that base is mostly under 0.5."""
    rng = random.Random(17)
    out = []
    for i, base in enumerate(bases):
        others = [
            j
            for j, b in enumerate(bases)
            if b.lang == base.lang and b.group != base.group and len(stored[j]) == 1
        ]
        if not others or not stored[i]:
            continue
        sentences = [s for p in base.article for s in p]
        for share in SHARES:
            j = rng.choice(others)
            run = max(1, round(share * len(sentences)))
            start = rng.randrange(len(sentences) - run + 1)
            story = [list(p) for p in bases[j].article]
            story.insert(rng.randrange(len(story) + 1), sentences[start : start + run])
            text = render(story, base.lang)
            best = None
            for entry in _entries(text, "text"):
                hit = index.lookup(entry, exclude=stored[j][0])
                if hit is not None and hit[0] in stored[i]:
                    best = max(best or 0.0, hit[1])
            reference = reference_jaccard(base.text(), text)
            out.append(Distinct(base.lang, "shared_passage", best, reference))
    return out


def _lookup_excluding(index: Index, text: str, own: set[int]) -> float | None:
    """The best score against any stored article but the text's own entries."""
    exclude = min(own) if own else None
    hit = index.lookup(text, exclude=exclude)
    if hit is not None and hit[0] in own:
        return None  # another entry of the same page: not a distinct article
    return hit[1] if hit else None


def _cut(text: str, cut: int | None) -> str:
    return text if cut is None else text[:cut]


def templated(base: Base, cut: int | None) -> str:
    top, about, bottom = TEMPLATE[base.lang]
    return "\n".join([*top, _cut(base.text(), cut), about, *bottom])


def _reference_max(bases: list[Base], text_of: Callable[[Base], str]) -> list[float]:
    sets = [reference_shingles(text_of(b)) for b in bases]
    out = []
    for i, mine in enumerate(sets):
        best = 0.0
        for j, other in enumerate(sets):
            if i != j and bases[i].lang == bases[j].lang:
                union = len(mine | other)
                best = max(best, len(mine & other) / union if union else 1.0)
        out.append(best)
    return out


# --- reports -------------------------------------------------------------------------------------


def band_of(value: float) -> str:
    for low, high in BANDS:
        if low <= value < high:
            return f"{low:.2f}-{min(high, 1.0):.2f}"
    return "?"


def found_at(pair: Pair, base_id: int, threshold: float) -> bool:
    return any(i == base_id and s >= threshold for i, s in pair.found)


def merged_wrongly(pair: Pair, base_id: int, threshold: float) -> bool:
    """A copy matched to another article than its own base."""
    return any(i != base_id and s >= threshold for i, s in pair.found)


def recall_table(
    pairs: Iterable[Pair], ids: list[int], threshold: float, by: Callable[[Pair], str]
) -> dict[str, dict[str, tuple[int, int]]]:
    """{group: {band: (found, pairs)}}."""
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for pair in pairs:
        row = table.setdefault(by(pair), {})
        band = band_of(pair.reference)
        hit, n = row.get(band, (0, 0))
        row[band] = (hit + found_at(pair, ids[pair.base], threshold), n + 1)
    return table
