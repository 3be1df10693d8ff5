"""Bad input never crashes a run and never vanishes: each ends in a recorded state with a reason."""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import SEED_ARTICLE, check_ledger, crawler_subprocess, query

KOREAN = (
    "서울의 아침은 분주하다. 지하철역마다 출근하는 사람들이 길게 줄을 섰고, 상인들은 가게 문을 열었다. "
    * 4
)


def ledger(db: Path) -> dict[str, tuple[str, str | None]]:
    rows = query(db, "SELECT origin, state, reason FROM pages")
    return {Path(str(o)).name: (str(s), None if r is None else str(r)) for o, s, r in rows}


def test_bad_inputs_each_get_a_state_and_the_run_continues(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-empty.txt").write_bytes(b"")
    (folder / "b-blank.txt").write_bytes(b"  \n\n \t\n")
    (folder / "c-binary.txt").write_bytes(bytes(range(256)) * 40)
    (folder / "d-euckr.txt").write_bytes(KOREAN.encode("euc-kr"))
    (folder / "e-cp949.txt").write_bytes(
        "똠방각하 펲시콜라 뷁. 완전히 다른 이야기를 담은 두 번째 글입니다.".encode("cp949")
    )
    (folder / "f-unreadable.txt").write_text("this file cannot be read " * 10)
    (folder / "g-badgzip.txt.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    (folder / "h-good.txt.gz").write_bytes(gzip.compress(SEED_ARTICLE.read_bytes()))
    (folder / "i-nul.txt").write_bytes(b"\x00" * 5000)
    (folder / "j-page.html").write_text(
        "<html><head><title>T</title></head><body><nav>menu</nav></body></html>", "utf-8"
    )
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4")  # not a supported type: skipped, counted

    real_open = open

    def guarded_open(file: object, *args: object, **kwargs: object) -> object:
        if str(file).endswith("f-unreadable.txt"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", guarded_open)
    result = run_cli("load", str(folder))
    monkeypatch.undo()

    assert result.exit_code == 3, result.output  # finished, with a failed (retryable) input
    states = ledger(db_path)
    assert states == {
        "a-empty.txt": ("rejected", "empty"),
        "b-blank.txt": ("rejected", "empty"),
        "c-binary.txt": ("rejected", "not_text"),
        "d-euckr.txt": ("stored", None),
        "e-cp949.txt": ("stored", None),
        "f-unreadable.txt": ("failed", "unreadable"),
        "g-badgzip.txt.gz": ("rejected", "bad_gzip"),
        "h-good.txt.gz": ("stored", None),
        "i-nul.txt": ("rejected", "not_text"),
        "j-page.html": ("rejected", "too_short"),
    }
    texts = dict(query(db_path, "SELECT origin, text FROM articles"))
    assert "서울의 아침은 분주하다" in str(texts[str(folder / "d-euckr.txt")])
    assert str(texts[str(folder / "e-cp949.txt")]).startswith("똠방각하 펲시콜라")
    assert "skipped          1  (unsupported_type 1)" in result.output
    assert "unreadable 1" in result.output
    check_ledger(db_path)


def test_missing_path_is_one_line_and_nonzero(
    run_cli: Callable[..., Result], db_path: Path
) -> None:
    result = run_cli("load", "/nonexistent/nowhere.txt")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "crawler: error: path not found: /nonexistent/nowhere.txt"
    ]
    assert not db_path.exists()  # nothing was started


def test_missing_path_real_process(tmp_path: Path) -> None:
    proc = crawler_subprocess("load", str(tmp_path / "missing"), "--db", str(tmp_path / "x.db"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"crawler: error: path not found: {tmp_path / 'missing'}"
    ]
    assert proc.stdout == ""


def test_too_large_and_gzip_bomb_are_bounded(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("crawler.config.settings.CRAWLER_MAX_INPUT_BYTES", 1_000_000)
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 300_000)
    bomb = tmp_path / "bomb.txt.gz"
    bomb.write_bytes(gzip.compress(b"a" * 50_000_000))
    result = run_cli("load", str(big), str(bomb))
    assert result.exit_code == 0, result.output
    assert ledger(db_path) == {
        "big.txt": ("rejected", "too_large"),
        "bomb.txt.gz": ("rejected", "too_large"),
    }


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_and_escaping_symlink_are_refused(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the loaded folder " * 20)
    (root / "link.txt").symlink_to(secret)
    os.mkfifo(root / "pipe.txt")
    result = run_cli("load", str(root))
    assert result.exit_code == 0, result.output
    assert ledger(db_path) == {
        "link.txt": ("rejected", "outside_root"),
        "pipe.txt": ("rejected", "not_regular_file"),
    }
    assert query(db_path, "SELECT count(*) FROM articles") == [(0,)]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_by_permissions(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    locked = tmp_path / "locked.txt"
    locked.write_text("a file nobody may read, with enough words to be an article " * 3)
    locked.chmod(0)
    result = run_cli("load", str(locked))
    assert result.exit_code == 3
    assert ledger(db_path) == {"locked.txt": ("failed", "unreadable")}


def test_file_names_that_are_not_utf8_are_loaded_and_named_with_escapes(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "latin1"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/caf\xe9.txt"  # a Latin-1 name on a UTF-8 system
    with open(raw, "wb") as handle:
        handle.write(KOREAN.encode("utf-8"))
    result = run_cli("load", str(folder))
    assert result.exit_code == 0, result.output
    assert query(db_path, "SELECT origin, state FROM pages") == [
        (f"{folder}/caf\\xe9.txt", "stored")
    ]
    # named directly (the name arrives as a surrogate-escaped str, as from a shell)
    again = run_cli("load", os.fsdecode(raw))
    assert again.exit_code == 0, again.output
    assert query(db_path, "SELECT state, reason FROM pages WHERE run_id = 2") == [
        ("unchanged", "same_content")
    ]
    check_ledger(db_path)


KOREAN_2 = (
    "부산의 저녁은 조용하다. 바닷가를 따라 걷는 사람들이 천천히 지나가고, 어선들이 항구로 돌아왔다. "
    * 4
)
JAPANESE = "東京の朝は忙しい。駅には通勤する人々が長い列を作り、店主たちは店の扉を開けた。" * 4
FRENCH = "Le café est très apprécié à Paris, où les habitants se retrouvent après le travail. " * 4


def test_wrong_charsets_and_mojibake_are_decoded_right_or_rejected(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "enc"
    folder.mkdir()
    page = '<html><head><meta charset="{}"><title>T</title></head><body><article><p>{}</p></article></body></html>'
    # labelled Latin-1, really CP949: the label is overruled
    (folder / "a-cp949-labelled-latin1.html").write_bytes(
        page.format("iso-8859-1", KOREAN).encode("cp949")
    )
    # labelled UTF-8, really Shift_JIS: strict UTF-8 fails, the label fails, detection decides
    (folder / "b-sjis-labelled-utf8.html").write_bytes(
        page.format("utf-8", JAPANESE).encode("shift_jis")
    )
    # UTF-8 shown as Latin-1 and saved as UTF-8 again (double-encoded): one layer is undone
    (folder / "c-double-encoded.txt").write_bytes(
        KOREAN_2.encode("utf-8").decode("latin-1").encode("utf-8")
    )
    (folder / "d-double-encoded-fr.txt").write_bytes(
        FRENCH.encode("utf-8").decode("cp1252").encode("utf-8")
    )
    # double-encoded through a lossy step (undefined bytes became U+FFFD): cannot be undone
    (folder / "e-lossy-mojibake.txt").write_bytes(
        KOREAN.encode("utf-8").decode("cp1252", errors="replace").encode("utf-8")
    )
    # mostly replacement characters
    (folder / "f-replacement.txt").write_bytes(("\ufffd" * 30 + " ok ").encode("utf-8") * 20)
    result = run_cli("load", str(folder))
    assert result.exit_code == 0, result.output
    assert ledger(db_path) == {
        "a-cp949-labelled-latin1.html": ("stored", None),
        "b-sjis-labelled-utf8.html": ("stored", None),
        "c-double-encoded.txt": ("stored", None),
        "d-double-encoded-fr.txt": ("stored", None),
        "e-lossy-mojibake.txt": ("rejected", "bad_encoding"),
        "f-replacement.txt": ("rejected", "bad_encoding"),
    }
    texts = {
        Path(str(o)).name: str(t) for o, t in query(db_path, "SELECT origin, text FROM articles")
    }
    assert texts["a-cp949-labelled-latin1.html"].startswith("서울의 아침은 분주하다")
    assert texts["b-sjis-labelled-utf8.html"].startswith("東京の朝は忙しい")
    assert texts["c-double-encoded.txt"].startswith("부산의 저녁은 조용하다")
    assert texts["d-double-encoded-fr.txt"].startswith("Le café est très apprécié")
    detail = query(db_path, "SELECT detail FROM pages WHERE origin LIKE '%e-lossy-mojibake.txt'")
    assert "mojibake" in str(detail[0][0])
    check_ledger(db_path)


def test_hostile_html_ends_recorded_within_its_deadline(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_worker import SLOW_PAGE, nested

    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "a-binary.html").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 200)
    (folder / "b-deep.html").write_bytes(nested(3000))
    (folder / "c-deep-but-readable.html").write_bytes(nested(300))
    (folder / "d-nul.html").write_bytes(
        b"<html><body><article><p>"
        + b"Null bytes\x00 inside a page must not reach the database. " * 5
        + b"</p></article></body></html>"
    )
    (folder / "e-30mb.html").write_bytes(b"<html><body>" + b"<p>x</p>" * 3_800_000)
    (folder / "f-slow.html").write_bytes(SLOW_PAGE)
    (folder / "g-empty.html").write_bytes(b"")
    monkeypatch.setattr("crawler.settings.CRAWLER_EXTRACT_TIMEOUT", 5.0)
    started = time.monotonic()
    result = run_cli("load", str(folder))
    assert time.monotonic() - started < 30
    assert result.exit_code == 0, result.output
    assert ledger(db_path) == {
        "a-binary.html": ("rejected", "not_text"),
        "b-deep.html": ("rejected", "too_deep"),
        "c-deep-but-readable.html": ("stored", None),
        "d-nul.html": ("stored", None),
        "e-30mb.html": ("rejected", "too_large"),
        "f-slow.html": ("rejected", "extract_timeout"),
        "g-empty.html": ("rejected", "empty"),
    }
    assert query(db_path, "SELECT count(*) FROM articles WHERE instr(text, char(0)) > 0") == [(0,)]
    assert "deep_tree_reparsed 1" in result.output
    check_ledger(db_path)
