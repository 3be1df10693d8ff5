"""Bytes to text, with decisions we control rather than the extractor's guesses.

Order: byte-order mark, strict UTF-8, the declared charset (HTTP header, then `<meta charset>`), then
charset-normalizer. Labels are mapped to the superset browsers really use (EUC-KR is read as CP949).
Text that is mostly replacement characters or control bytes is rejected, never stored as garbage.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

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
_SPACE = re.compile(r"\s")
_STRAY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")


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


def looks_binary(body: bytes) -> bool:
    """True when the sample holds many control bytes: an image, archive or executable, not text."""
    sample = body[:_SAMPLE]
    if not sample:
        return False
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    controls = len(sample) - len(sample.translate(_CONTROL_TABLE, _CONTROL))
    return controls / len(sample) > 0.05


def _garbled(text: str) -> bool:
    """True when decoded text is mostly replacement characters or stray control characters."""
    sample = text[:_SAMPLE]
    visible = len(sample) - len(_SPACE.findall(sample))
    if visible == 0:
        return False
    bad = sample.count("\ufffd") + len(_STRAY_CONTROL.findall(sample))
    return bad / visible > 0.05


def decode(body: bytes, declared: str | None = None, *, html: bool = False) -> tuple[str, str]:
    """Decode `body`; return (text, codec used). Raises `Rejected` for empty, binary or garbled input."""
    if not body.strip():
        raise Rejected(EMPTY)
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return _checked(body.decode(codec, errors="replace"), codec)
    if looks_binary(body):
        raise Rejected(NOT_TEXT, "binary content")
    try:
        return _checked(body.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    labels = [declared, meta_charset(body) if html else None]
    for label in labels:
        declared_codec = normalise_label(label)
        if declared_codec:
            try:
                return _checked(body.decode(declared_codec), declared_codec)
            except (UnicodeDecodeError, LookupError):
                continue
    best = from_bytes(body[: 4 * _SAMPLE]).best()
    if best is None or not best.encoding:
        raise Rejected(BAD_ENCODING, "no charset decodes this text")
    codec = normalise_label(best.encoding) or str(best.encoding)
    return _checked(body.decode(codec, errors="replace"), codec)


def _checked(text: str, codec: str) -> tuple[str, str]:
    if _garbled(text):
        raise Rejected(BAD_ENCODING, f"mostly undecodable as {codec}")
    text = text.replace("\x00", "")
    if not text.strip():
        raise Rejected(EMPTY)
    return text, codec
