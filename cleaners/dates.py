"""Publication dates from the places that state them: bylines, page metadata and URLs.

Never from body text. A time zone is kept only when the page states it (an abbreviation such as PDT
or KST, or a numeric offset); a date without one is returned without an offset rather than guessed.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

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
DATETIME_TEXT = re.compile(
    rf"(?:{_DATE_NUMERIC}|{_DATE_CJK.replace('?P<y>', '?P<y2>').replace('?P<m>', '?P<m2>').replace('?P<d>', '?P<d2>')})"
    rf"(?:\s*(?:\([^)]{{1,3}}\))?\s*{_TIME})?(?:\s*{_TZ})?"
)

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
    r"^(?:(?:by|von|par|por)\s*[:：]?\s+|(?:글|작성자|文|作者|本报记者|本報記者|记者|記者)\s*[:：]?\s*)"
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
    y = g.get("y") or g.get("y2")
    m = g.get("m") or g.get("m2")
    d = g.get("d") or g.get("d2")
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
    """(author or None, ISO date) when the whole line is a byline such as `크리스 정 2025.11.13 10:47 PDT`."""
    if len(line) > 90:
        return None
    match = BYLINE.fullmatch(line.strip())
    if not match:
        return None
    when = _from_match(match)
    if when is None:
        return None
    author = _NAME_AFFIXES.sub("", (match.group("author") or "").strip(" \t|·,-–—:")).strip()
    if author.lower() in _NOT_NAMES or len(author.split()) > 4 or _SENTENCE.search(author):
        author = ""
    return (author or None), when


def clean_author(name: str | None) -> str | None:
    """A person's name without the job title or "By" that sites glue to it (`김민수 기자` -> `김민수`)."""
    if not name:
        return None
    name = name.strip()
    cleaned = _NAME_AFFIXES.sub("", name).strip(" \t|·,-–—:")
    # "김기자" is a name with its title glued on, but too little would be left to be a name
    return (cleaned if len(cleaned) >= 2 else name) or None


def parse_iso(value: str) -> str | None:
    """Normalise an ISO-8601-like metadata value (`2025-11-13T10:47:00+09:00`, `...Z`, a bare date)."""
    value = value.strip()
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return parse_datetime_text(value)
    if len(value) <= 10:
        return stamp.date().isoformat()
    return stamp.isoformat()


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
