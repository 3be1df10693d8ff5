"""Publication dates from the places that state them: bylines, page metadata and URLs.

Never from body text. A time zone is kept only when the page states it (an abbreviation such as PDT
or KST, or a numeric offset); a date without one is returned without an offset rather than guessed.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

# Abbreviations with one meaning. CST, IST and BST are left out: each names several zones.
TZ_OFFSETS = {
    "UTC": 0, "GMT": 0, "Z": 0,
    "PDT": -7, "PST": -8, "MDT": -6, "MST": -7, "EDT": -4, "EST": -5, "CDT": -5,
    "AKDT": -8, "AKST": -9, "HST": -10,
    "KST": 9, "JST": 9, "HKT": 8, "SGT": 8, "AEST": 10, "AEDT": 11,
    "CET": 1, "CEST": 2, "EET": 2, "EEST": 3, "WET": 0, "WEST": 1,
}  # fmt: skip

_TZ = r"(?P<tz>[A-Z]{1,4}T|UTC|GMT|Z|[+-]\d{2}:?\d{2})"
_TIME = r"(?:(?P<ampm>오전|오후|AM|PM|am|pm)\s*)?(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?(?:\s*(?P<ampm2>AM|PM|am|pm))?"
_DATE_NUMERIC = r"(?P<y>(?:19|20)\d{2})\s*[./-]\s*(?P<m>\d{1,2})\s*[./-]\s*(?P<d>\d{1,2})\.?"
_DATE_CJK = r"(?P<y>(?:19|20)\d{2})\s*[년年]\s*(?P<m>\d{1,2})\s*[월月]\s*(?P<d>\d{1,2})\s*[일日]"
_MONTHS = {
    m: n
    for n, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for m in names
}  # fmt: skip
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_WEEKDAY = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]{0,6}\.?,?\s+)?"
_DATE_MONTH_FIRST = (
    rf"{_WEEKDAY}(?P<mn3>{_MONTH})\s+(?P<d3>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y3>(?:19|20)\d{{2}})"
)
_DATE_DAY_FIRST = rf"{_WEEKDAY}(?P<d4>\d{{1,2}})\.?\s+(?P<mn4>{_MONTH})\s+(?P<y4>(?:19|20)\d{{2}})"
_DATES = (
    _DATE_NUMERIC,
    _DATE_CJK.replace("?P<y>", "?P<y2>").replace("?P<m>", "?P<m2>").replace("?P<d>", "?P<d2>"),
    _DATE_MONTH_FIRST,
    _DATE_DAY_FIRST,
)
DATETIME_TEXT = re.compile(
    rf"(?i:{'|'.join(_DATES)})"
    rf"(?:,?\s*(?:\([^)]{{1,3}}\)|at|um|à|-|\|)?\s*{_TIME})?(?:\s*{_TZ})?"
)
# `Fri Apr 28 19:20:36 CEST 2023`: the time sits between the day and the year (Unix `date`).
_CTIME = re.compile(
    rf"(?i:{_WEEKDAY})(?P<mn>{_MONTH})\s+(?P<d>\d{{1,2}})\s+(?P<H>\d{{1,2}}):(?P<M>\d{{2}})"
    rf"(?::(?P<S>\d{{2}}))?(?:\s+{_TZ})?\s+(?P<y>(?:19|20)\d{{2}})",
    re.I,
)

# Words that label a byline's date rather than name its author.
BYLINE_LABEL = re.compile(r"입력|수정|등록|발행|posted|published|updated", re.I)
# A byline is a whole short line: an optional name (no digits), then a date, optional time and zone.
BYLINE = re.compile(
    rf"(?P<author>[^\d\n]{{1,40}}?)?\s*(?:(?:입력|수정|등록|발행|posted|published|updated)\s*[:：]?\s*)?"
    rf"(?P<when>{DATETIME_TEXT.pattern})",
    re.I,
)
_NOT_NAMES = {
    "입력", "수정", "등록", "발행", "기사입력", "최종수정", "posted", "published", "updated",
    "date", "on", "am", "pm", "게시", "작성", "작성일",
}  # fmt: skip
_NAME_AFFIXES = re.compile(
    r"^(?:(?:by|von|par|por)\s*[:：]?\s+|(?:글|작성자|文|作者|本报记者|本報記者|记者|記者)\s*[:：/／]?\s*)"
    r"|\s*(?:기자|특파원|객원기자|선임기자|記者|记者|通讯员)$",
    re.I,
)
_SENTENCE = re.compile(r"[,.!?;。，！？]")
_URL_DATE = re.compile(r"/((?:19|20)\d{2})[/-](\d{1,2})[/-](\d{1,2})(?:/|$|[^\d])")


def _offset(tz: str | None) -> timezone | None:
    if not tz:
        return None
    tz = tz.upper()
    if tz in TZ_OFFSETS:
        return timezone(timedelta(hours=TZ_OFFSETS[tz]))
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", tz)
    if match:
        sign = 1 if match.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    return None


def parse_datetime_text(text: str) -> str | None:
    """ISO 8601 for the first date (with time and zone if given) in a short metadata string."""
    match = DATETIME_TEXT.search(text)
    return _from_match(match) if match else None


def _from_match(match: re.Match[str]) -> str | None:
    g = match.groupdict()
    y = g.get("y") or g.get("y2") or g.get("y3") or g.get("y4")
    month_name = g.get("mn") or g.get("mn3") or g.get("mn4")
    m = (
        g.get("m")
        or g.get("m2")
        or (_MONTHS.get(month_name.lower().rstrip(".")) if month_name else None)
    )
    d = g.get("d") or g.get("d2") or g.get("d3") or g.get("d4")
    try:
        if g.get("H") is None:
            return datetime(int(y or 0), int(m or 0), int(d or 0)).date().isoformat()
        hour = int(g["H"])
        ampm = (g.get("ampm") or g.get("ampm2") or "").lower()
        if ampm in ("오후", "pm") and hour < 12:
            hour += 12
        elif ampm in ("오전", "am") and hour == 12:
            hour = 0
        stamp = datetime(
            int(y or 0), int(m or 0), int(d or 0), hour, int(g["M"]), int(g.get("S") or 0)
        )
    except ValueError:
        return None
    tz = _offset(g.get("tz"))
    return stamp.replace(tzinfo=tz).isoformat() if tz else stamp.isoformat()


def parse_byline(line: str) -> tuple[str | None, str] | None:
    """(author or None, ISO date) when the whole line is a byline such as `크리스 정 2025.11.13 10:47 PDT`.

    A line that dates something else (`Retrieved 2002-09-25`, `collected on ...`, `설립 1998.03.02`)
    is not a byline: None. Words before the date that do not look like a name give no author."""
    if len(line) > 90 or not _YEAR.search(line):
        return None  # the year test is cheap and rules out most lines before the long pattern
    match = BYLINE.fullmatch(line.strip())
    if not match:
        return None
    words = (match.group("author") or "").strip(" \t|·,-–—:")
    if _OTHER_EVENT.search(words) or _DANGLING.search(words):
        return None
    when = _from_match(match)
    if when is None:
        return None
    author = _NAME_AFFIXES.sub("", words).strip()
    return (author if looks_like_name(author) else None), when


_YEAR = re.compile(r"(?:19|20)\d\d")
# Words that date an event other than the article's publication: such a line is never a byline.
_OTHER_EVENT = re.compile(
    r"(?i)\b(?:retrieved|accessed|archived|collected|visited|checked|founded|born|died|"
    r"established|opened|released|filed|submitted|received|accepted|expires?|valid|deadline|"
    r"last\s+modified|as\s+of)\b|검색|접속|확인|수집|설립|창립|출생|사망|마감|기준|取得|访问|訪問|"
    r"检索|檢索|閲覧|閲覧日|成立|創立|出生|逝世|截止|採取|采集|採集"
)
# A sentence fragment ending in a preposition ("held on", "as of") is not a name.
_DANGLING = re.compile(r"(?i)\b(?:on|at|in|of|since|until|from|to|by|before|after|am|um|le|el)$")
_NAME_PARTICLES = {
    "de",
    "da",
    "di",
    "du",
    "van",
    "von",
    "der",
    "den",
    "la",
    "le",
    "del",
    "bin",
    "al",
}
_LABELS_ALONE = {
    "by",
    "von",
    "par",
    "por",
    "author",
    "authors",
    "writer",
    "글",
    "기자",
    "记者",
    "記者",
    "作者",
}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SOURCE_LABEL = re.compile(
    r"(?i)^\s*(?:来源|來源|出处|出處|出典|출처|source|quelle|fuente)\s*[:：]"
)


def looks_like_name(text: str) -> bool:
    """True when `text` could be a person's name or a short list of names: no digits, no sentence
    punctuation, at most four words; in Latin script, capitalised words (particles such as "van"
    aside). Dates then stay dates, and "Founded" or "Last updated" never become authors."""
    if not text or len(text) > 40 or _SENTENCE.search(text) or any(c.isdigit() for c in text):
        return False
    words = text.split()
    if len(words) > 4 or text.lower() in _NOT_NAMES:
        return False
    latin = [w for w in words if w[0].isascii() or "\u00c0" <= w[0] <= "\u024f"]
    if latin and len(latin) == len(words):
        return all(w[0].isupper() or w.lower() in _NAME_PARTICLES for w in words)
    return True


def clean_author(name: str | None, *, sitename: str | None = None) -> str | None:
    """A person's name without the job title or "By" that sites glue to it (`김민수 기자` -> `김민수`).

    None for what is not a person: an address, a URL, a numeric id, a source credit (`来源：新华社`)
    or the site's own name. Entities left encoded by the page (`M&uuml;ller`) are decoded here."""
    if not name:
        return None
    name = " ".join(html.unescape(name).split())
    if _SOURCE_LABEL.match(name) or "://" in name or name.lower().startswith("www."):
        return None
    name = _EMAIL.sub("", name).strip(" \t|·,-–—:()<>[]")
    if not name or not any(c.isalpha() for c in name) or name.casefold() in _LABELS_ALONE:
        return None  # an id such as "12345", only an address, or a label without its name
    cleaned = _NAME_AFFIXES.sub("", name).strip(" \t|·,-–—:")
    # "김기자" is a name with its title glued on, but too little would be left to be a name
    cleaned = cleaned if len(cleaned) >= 2 else name
    if sitename and cleaned.casefold() == " ".join(html.unescape(sitename).split()).casefold():
        return None
    return cleaned or None


def parse_iso(value: str) -> str | None:
    """Normalise a metadata date: ISO 8601 (`2025-11-13T10:47:00+09:00`, `...Z`, a bare date),
    RFC 2822 (`Fri, 28 Apr 2023 19:20:36 +0200`), Unix `date` output (`Fri Apr 28 19:20:36 CEST
    2023`) or a written date (`2005年05月07日 10:20`, `2025.11.13 10:47`, `April 28, 2023`).
    The offset is kept when the value states one, never guessed."""
    value = value.strip()
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        return stamp.date().isoformat() if len(value) <= 10 else stamp.isoformat()
    if _RFC2822.match(value):
        try:
            return parsedate_to_datetime(value).isoformat()
        except (ValueError, TypeError, IndexError):
            pass
    ctime = _CTIME.search(value)
    if ctime:
        return _from_match(ctime)
    return parse_datetime_text(value)


_RFC2822 = re.compile(
    r"(?i)^(?:[a-z]{3},\s*)?\d{1,2}\s+[a-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?\s+(?:[+-]\d{4}|[a-z]{1,4})$"
)


def date_from_url(url: str) -> str | None:
    """A date written in the URL path (`/2025/11/13/`), as a bare date."""
    match = _URL_DATE.search(url)
    if not match:
        return None
    try:
        year, month, day = (int(x) for x in match.groups())
        return datetime(year, month, day).date().isoformat()
    except ValueError:
        return None
