"""Bytes to text, with decisions we control rather than the extractor's guesses.

Order: byte-order mark, strict UTF-8 (or UTF-8 with a few bad bytes, read with U+FFFD for them), the
declared charset (HTTP header, then `<meta charset>`), then charset-normalizer. Labels are mapped to
the superset browsers really use (EUC-KR is read as CP949); a label whose decoding is nonsense is
overruled. UTF-16 without a byte-order mark is read only when the HTTP header labels it. Text that is
mostly replacement characters or control bytes is rejected, never stored as garbage.
"""

from __future__ import annotations

import codecs
import re
from typing import NamedTuple

from charset_normalizer import from_bytes
from charset_normalizer.md import mess_ratio

from cleaners.errors import BAD_ENCODING, EMPTY, NOT_TEXT, Rejected

# Labels whose real-world content is written in a superset encoding (WHATWG Encoding Standard).
_SUPERSETS = {
    "euc_kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "latin_1": "cp1252",
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
}
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]{2,40})""", re.I
)
# Control bytes that never occur in text (tab, LF, FF, CR and ESC excluded).
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))
_CONTROL_TABLE = bytes.maketrans(b"", b"")
_SAMPLE = 16384
_STRAY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")
_NON_SPACE = re.compile(rb"\S")
_NON_SPACE_TEXT = re.compile(r"\S")

# Mojibake: a UTF-8 lead byte then its continuation bytes, each shown as its Windows-1252 (or
# Latin-1) character. Real text in any language almost never has these pairs.
_CP1252_BYTE = {ch: b for b in range(0x80, 0xA0) if (ch := bytes([b]).decode("cp1252", "ignore"))}
_CONT = "[\u0080-\u00bf" + "".join(_CP1252_BYTE) + "]"
_MOJIBAKE = re.compile(
    f"[\u00c2-\u00df]{_CONT}|[\u00e0-\u00ef]{_CONT}{{2}}|[\u00f0-\u00f4]{_CONT}{{3}}"
)
_MOJIBAKE_SAMPLE = 4000
_MOJIBAKE_LIMIT = 0.05  # share of visible characters; a few broken quotes are left alone
_HIGH_LATIN = re.compile(r"[\u0080-\u00ff]")
_LETTER = re.compile(r"[^\W\d_]")
_LATIN_CODECS = {"cp1252", "latin_1", "iso8859-15", "cp1250", "iso8859-2", "mac-roman"}
_LATIN_LIMIT = 0.4
_NOT_ASCII_COMPATIBLE = {
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-32-le",
    "utf-32-be",
    "utf-7",
    "cp037",
    "cp500",
    "cp1140",
    "cp875",
    "cp1026",
    "cp273",
    "cp424",
}


def normalise_label(label: str | None) -> str | None:
    """Map a charset label to a Python codec name, preferring the superset browsers use."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    return _SUPERSETS.get(name, name)


def meta_charset(body: bytes) -> str | None:
    """The charset declared in the first bytes of an HTML document, if any."""
    match = _META_CHARSET.search(body[:4096])
    return match.group(1).decode("ascii", "replace") if match else None


def _control_bytes(body: bytes) -> int:
    """Control bytes in the sample (text has next to none; images and archives many)."""
    sample = body[:_SAMPLE]
    return len(sample) - len(sample.translate(_CONTROL_TABLE, _CONTROL))


def _garbled(text: str, bad: int | None = None) -> bool:
    """True when decoded text is mostly replacement characters or stray control characters.

    `bad`: those already counted on the bytes (several times faster than on the text), when the
    text was strictly decoded by an ASCII-compatible codec."""
    sample = text[:_SAMPLE]
    if bad is None:
        bad = sample.count("\ufffd") + len(_STRAY_CONTROL.findall(sample))
    if bad == 0:
        return False
    visible = len("".join(sample.split()))
    return visible > 0 and bad / visible > 0.05


def _mojibake_share(text: str) -> float:
    """Share of the sample's characters that are UTF-8 bytes shown as Windows-1252/Latin-1 (`Ã©`,
    `â€™`, `ì„œ`): text that was decoded with the wrong codec somewhere upstream."""
    sample = text[:_MOJIBAKE_SAMPLE]
    if sample.isascii():
        return 0.0
    covered = sum(len(m) for m in _MOJIBAKE.findall(sample))
    visible = len("".join(sample.split()))
    return covered / visible if visible else 0.0


def _unmojibake(text: str) -> str | None:
    """The text with one layer of UTF-8-read-as-Windows-1252 undone, or None if it is not that."""
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if code < 256:
            out.append(code)
        elif (byte := _CP1252_BYTE.get(ch)) is not None:
            out.append(byte)
        else:
            return None
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _latin_share(text: str) -> float:
    """Share of letters in U+0080-U+00FF: a few percent in real Western European text, most of it
    when CJK or Cyrillic bytes were decoded as a Latin single-byte charset."""
    sample = text[:_MOJIBAKE_SAMPLE]
    if sample.isascii():
        return 0.0
    letters = len(_LETTER.findall(sample))
    return len(_HIGH_LATIN.findall(sample)) / letters if letters else 0.0


def _implausible(codec: str, text: str) -> bool:
    """A Latin single-byte codec that turned the bytes into mostly accented letters."""
    return codec in _LATIN_CODECS and _latin_share(text) > _LATIN_LIMIT


def _ascii_compatible(codec: str) -> bool:
    return codecs.lookup(codec).name not in _NOT_ASCII_COMPATIBLE


# A label whose decoding reads as this much "mess" (charset-normalizer's chaos measure, whose own
# acceptance limit this is) is wrong: Big5 bytes labelled GB2312 decode without an error into
# nonsense. Text decoded with its right codec measures under 0.05.
_MESS_LIMIT = 0.2


def _messy(text: str) -> bool:
    return mess_ratio(text[:_SAMPLE], _MESS_LIMIT) >= _MESS_LIMIT


# UTF-8 with a few bad bytes (a stray byte, a character cut off at the end of a truncated
# download): at least this many well-formed multi-byte characters, and at most this share of
# bad sequences per well-formed one. Legacy CJK and Latin bytes are far from both.
_NEARLY_UTF8_MIN = 8
_NEARLY_UTF8_BAD = 0.02


def _nearly_utf8(body: bytes) -> str | None:
    """The body as UTF-8 with U+FFFD for its few bad sequences, or None when it is not UTF-8."""
    text = body.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - body.count(b"\xef\xbf\xbd")
    multibyte = len(text) - len(text.encode("ascii", "ignore")) - bad
    if multibyte < _NEARLY_UTF8_MIN or bad > _NEARLY_UTF8_BAD * multibyte:
        return None
    return text


_WIDE = {"utf-16": "utf-16-le", "utf-32": "utf-32-le"}  # no BOM: little-endian, as browsers read it


def _labelled_wide(body: bytes, declared: str | None) -> tuple[str, str] | None:
    """UTF-16/32 without a byte-order mark, as the HTTP header labels it (its zero bytes would
    otherwise make it look binary), or None when there is no such label or it does not decode."""
    codec = normalise_label(declared)
    if codec is None or not codec.startswith(("utf-16", "utf-32")):
        return None
    codec = _WIDE.get(codec, codec)
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        return None
    return _checked(text, codec)


def decode(body: bytes, declared: str | None = None, *, html: bool = False) -> tuple[str, str]:
    """Decode `body`; return (text, codec used). Raises `Rejected` for empty, binary or garbled
    input. Text double-encoded upstream (UTF-8 shown as Windows-1252) is repaired when it is
    consistently so ("utf-8+mojibake-repaired"), else rejected `bad_encoding`. UTF-8 with a few
    bad bytes keeps its text, with U+FFFD for them ("utf-8+replaced")."""
    if not _NON_SPACE.search(body):
        raise Rejected(EMPTY)
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return _checked(body.decode(codec, errors="replace"), codec)
    controls = _control_bytes(body)  # UTF-16/32 returned above: their zero bytes are not controls
    if controls > 0.05 * min(len(body), _SAMPLE):
        if wide := _labelled_wide(body, declared):
            return wide
        raise Rejected(NOT_TEXT, "binary content")
    facts = _ByteFacts(body[:_SAMPLE].count(b"\xef\xbf\xbd") + controls, b"\x00" in body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        if (nearly := _nearly_utf8(body)) is not None:
            return _checked(nearly, "utf-8+replaced")
    else:
        if _mojibake_share(text) > _MOJIBAKE_LIMIT:
            repaired = _unmojibake(text)
            if repaired is None:
                raise Rejected(
                    BAD_ENCODING, "mojibake: UTF-8 text decoded as Windows-1252 upstream"
                )
            return _checked(repaired, "utf-8+mojibake-repaired")
        return _checked(text, "utf-8", facts)
    labels = [declared, meta_charset(body) if html else None]
    for label in labels:
        declared_codec = normalise_label(label)
        if declared_codec:
            try:
                text = body.decode(declared_codec)
            except (UnicodeDecodeError, LookupError):
                continue
            if _implausible(declared_codec, text) or _messy(text):
                continue  # a wrong label: CJK or Cyrillic bytes read as Latin-1, Big5 as GB2312
            return _checked(
                text, declared_codec, facts if _ascii_compatible(declared_codec) else None
            )
    best = from_bytes(body[: 4 * _SAMPLE]).best()
    if best is None or not best.encoding:
        raise Rejected(BAD_ENCODING, "no charset decodes this text")
    codec = normalise_label(best.encoding) or str(best.encoding)
    text = body.decode(codec, errors="replace")
    if _implausible(codec, text):
        raise Rejected(BAD_ENCODING, f"no plausible charset (as {codec} it is mojibake)")
    return _checked(text, codec)  # decoded with errors="replace": count U+FFFD in the text


class _ByteFacts(NamedTuple):
    """Counted on the bytes, which is many times faster than on the text, and right for text a
    codec decoded strictly and ASCII-compatibly: replacement plus stray control characters in the
    sample, and whether there is any NUL."""

    bad: int
    nul: bool


def _checked(text: str, codec: str, facts: _ByteFacts | None = None) -> tuple[str, str]:
    if _garbled(text, facts.bad if facts else None):
        raise Rejected(BAD_ENCODING, f"mostly undecodable as {codec}")
    if facts.nul if facts else "\x00" in text:
        text = text.replace("\x00", "")
    if not _NON_SPACE_TEXT.search(text):
        raise Rejected(EMPTY)
    return text, codec
