"""What near-duplicate detection compares (issue 21): the article without its chrome, with width,
punctuation, spacing and spelling variants folded; pinned, migrated by rebuild, explained in the
ledger when a text is too short."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest
from click.testing import Result

from cleaners.clean import clean
from cleaners.dedup_text import fingerprint_text, fold_variants, is_chrome_line
from cleaners.fingerprint import (
    DedupConfig,
    fingerprint,
    hashed_jaccard,
    normalise_text,
    shingle_text,
    text_shingles,
)
from tests.conftest import SEED_ARTICLE, check_ledger, query

CONFIG = DedupConfig()


def _body() -> str:
    (entry,) = clean(SEED_ARTICLE.read_bytes(), kind="text").entries
    return entry.text


KO_TOP = ["원제: The End of American Exceptionalism", "김민수 기자 2025.11.13 10:47"]
KO_BOTTOM = ["좋아요 12", "공유하기", "댓글 3", "저작권자 ⓒ 한빛일보, 무단전재 및 재배포 금지"]
EN_BODY = "\n".join(
    [
        "The central bank held its benchmark rate on Thursday, citing a labour market that has "
        "cooled faster than its forecasters expected over the summer.",
        "Officials said inflation had eased for a third month, but warned that energy prices and "
        "the weaker currency could push it back above the target before the end of the year.",
        "Markets had priced in a cut, and the decision sent bond yields higher in early trading.",
    ]
)


def test_chrome_lines_around_the_body_are_not_the_article() -> None:
    body = _body()
    page = "\n".join([*KO_TOP, body, *KO_BOTTOM])
    assert fingerprint_text(page) == body
    en = "\n".join(
        ["Original headline: Rates on hold", "By John Smith", EN_BODY, "Share this article"]
    )
    assert fingerprint_text(en + "\n© 2025 Example Media. All rights reserved.") == EN_BODY
    assert fingerprint_text(body) is body  # nothing to drop: the text itself, not a copy
    for line in [*KO_TOP, *KO_BOTTOM, "原标题：美国例外论的终结", "原題：アメリカ例外主義の終わり"]:
        assert is_chrome_line(line), line


def test_body_lines_are_kept_and_chrome_never_takes_most_of_a_text() -> None:
    # a body line that mentions a widget word is longer than any widget label
    line = "공유하기 버튼을 누르는 독자가 늘었다는 조사 결과가 나왔다고 연구진은 밝혔다."
    assert not is_chrome_line(line)
    short = "\n".join(["좋아요 12", "짧은 본문입니다.", "공유하기", "댓글 3"])
    assert fingerprint_text(short) == short  # most of it would go: it stays whole


def test_width_punctuation_and_spacing_variants_shingle_alike() -> None:
    base = "미국 예외주의의 전면적 퇴조, 그리고 달러의 미래.\n연준은 금리를 동결했다."
    variants = [
        "미국 예외주의의전면적 퇴조，그리고 달러의 미래．\r\n연준은 금리를 동결했다.",  # run together
        "미국\u00a0예외주의의 전면적\u3000퇴조, 그리고\n달러의 미래.\n연준은 금리를 동결했다.",
        "미국 예외 주의의 전면적 퇴조, 그리고 달러의 미래. 연준은 금리를 동결했다.",
    ]
    for variant in variants:
        assert shingle_text(variant) == shingle_text(base)
    assert shingle_text("你好世界今天\n天气很好。") == shingle_text("你好世界今天天气很好。")
    assert shingle_text("The colour of the centre, organised.") == shingle_text(
        "The color of the center, organized."
    )
    assert fold_variants("travelled analysed defence catalogue programme") == (
        "traveled analyzed defense catalog program"
    )
    # numbers are content: a different figure is a different shingle
    assert shingle_text("2024년 3.5%") != shingle_text("2025년 3.5%")


def test_content_hash_is_the_stored_texts_and_the_signature_the_articles() -> None:
    """Exact dedup stays on the stored text (the column downstream tools read, unique in
    `articles`); near dedup sees the article, so a copy that differs only by chrome is a near
    duplicate at similarity 1.0."""
    body = _body()
    page = "\n".join([*KO_TOP, body, *KO_BOTTOM])
    plain, copy = fingerprint(body, CONFIG), fingerprint(page, CONFIG)
    assert copy.content_hash == hashlib.sha256(normalise_text(page).encode()).hexdigest()
    assert copy.content_hash != plain.content_hash
    assert copy.signature == plain.signature
    assert hashed_jaccard(text_shingles(page, CONFIG), text_shingles(body, CONFIG)) == 1.0
    old = DedupConfig(rows=6, threshold=0.8, normalisation="plain")
    assert fingerprint(page, old).signature != fingerprint(body, old).signature


def test_unknown_normalisation_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown dedup normalisation"):
        DedupConfig(normalisation="article-v0")


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, "utf-8")
    return path


def test_a_copy_with_chrome_is_a_near_duplicate_of_the_first_stored(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    body = _body()
    folder = tmp_path / "in"
    _write(folder, "a.txt", body)
    _write(folder, "b.txt", "\n".join([*KO_TOP, body.replace("\n", "\r\n"), *KO_BOTTOM]))
    result = run_cli("load", str(folder))
    assert result.exit_code == 0, result.output
    rows = query(db_path, "SELECT origin, state, reason, similarity FROM pages ORDER BY origin")
    assert [(Path(str(o)).name, s, r, sim) for o, s, r, sim in rows] == [
        ("a.txt", "stored", None, None),
        ("b.txt", "duplicate", "near", 1.0),
    ]
    check_ledger(db_path)


def test_a_short_text_is_stored_exact_only_and_its_ledger_says_why(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    short = "연준은 오늘 기준금리를 연 5.25%에서 동결했다고 밝혔다. 시장은 예상대로라는 반응이다."
    _write(folder, "a.txt", short)
    _write(folder, "b.txt", short.replace("밝혔다", "발표했다"))  # a short copy
    assert run_cli("load", str(folder)).exit_code == 0
    rows = query(db_path, "SELECT state, detail FROM pages ORDER BY origin")
    assert [state for state, _detail in rows] == ["stored", "stored"]
    for _state, detail in rows:
        assert str(detail).startswith("exact_only: ") and str(detail).endswith(
            f"shingles < min_shingles {CONFIG.min_shingles}"
        )
    long = _write(tmp_path / "long", "c.txt", _body())
    assert run_cli("load", str(long)).exit_code == 0
    assert query(db_path, "SELECT detail FROM pages WHERE origin LIKE '%c.txt'") == [(None,)]


def _pin_pre_issue_21_config(db_path: Path) -> None:
    """Make the database's pinned configuration the one before issue 21 (no normalisation key,
    20 x 6, threshold 0.8), as a database built by that release has it."""
    import sqlite3

    old = asdict(DedupConfig(rows=6, threshold=0.8, normalisation="plain"))
    del old["normalisation"]
    digest = hashlib.sha256(
        ";".join(f"{k}={v}" for k, v in sorted(old.items())).encode()
    ).hexdigest()[:16]
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("DELETE FROM meta WHERE key LIKE 'dedup.%'")
        conn.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?)",
            [(f"dedup.{k}", str(v)) for k, v in old.items()] + [("dedup.fingerprint", digest)],
        )
    conn.close()


def test_rebuild_migrates_a_database_of_the_old_configuration(
    run_cli: Callable[..., Result],
    db_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = _body()
    monkeypatch.setattr("crawler.settings.DEDUP_ROWS", 6)
    monkeypatch.setattr("crawler.settings.DEDUP_THRESHOLD", 0.8)
    monkeypatch.setattr("crawler.settings.DEDUP_NORMALISATION", "plain")
    first = _write(tmp_path / "old", "a.txt", body)
    assert run_cli("load", str(first)).exit_code == 0
    monkeypatch.undo()
    _pin_pre_issue_21_config(db_path)
    copy = _write(tmp_path / "new", "b.txt", "\n".join([*KO_TOP, body, *KO_BOTTOM]))
    refused = run_cli("load", str(copy))
    assert refused.exit_code == 1
    (line,) = refused.output.strip().splitlines()
    assert "dedup configuration differs" in line and "crawler dedup rebuild" in line
    assert "normalisation: db=None run=article-v1" in line and "rows: db=6 run=5" in line
    rebuilt = run_cli("dedup", "rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "re-indexed 1 articles" in rebuilt.output
    pinned = dict(query(db_path, "SELECT key, value FROM meta WHERE key LIKE 'dedup.%'"))
    assert pinned == CONFIG.pinned()
    assert query(db_path, "SELECT count(*) FROM dedup_bands") == [(CONFIG.bands,)]
    loaded = run_cli("load", str(copy))
    assert loaded.exit_code == 0, loaded.output
    assert query(
        db_path, "SELECT state, reason, similarity FROM pages WHERE origin LIKE '%b.txt'"
    ) == [("duplicate", "near", 1.0)]
    check_ledger(db_path)


def test_rebuild_keeps_the_exact_only_flag_in_line_with_the_configuration(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    import json

    from db.connect import connect
    from db.dedup import rebuild

    assert run_cli("load", str(_write(tmp_path / "in", "a.txt", _body()))).exit_code == 0

    def flag() -> object:
        ((metadata,),) = query(db_path, "SELECT metadata FROM articles")
        return json.loads(str(metadata)).get("dedup")

    assert flag() is None
    db = connect(str(db_path))
    try:
        assert rebuild(db, DedupConfig(min_shingles=100_000)) == 0  # now too short for MinHash
        assert flag() == "exact_only"
        assert query(db_path, "SELECT count(*) FROM dedup_bands") == [(0,)]
        assert rebuild(db, CONFIG) == 1
        assert flag() is None
    finally:
        db.close()
    check_ledger(db_path)
