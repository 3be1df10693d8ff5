"""The seed documents through the real CLI: the spine's acceptance checks."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import ROOT, SEED_ARTICLE, SEED_LISTING, check_ledger, query

TITLE_004 = (
    "달러의 패권이 약해지고 AI가 부상함에 따라, 암호화가 글로벌 가치 전송에서 승자가 될까요?"
)
FORBIDDEN_004 = [
    "이 기사는 기계로 번역되었습니다", "원문 표시", "作者:", "编译:", "면책 조항", "면책조항",
    "출처", "라이크", "즐겨찾기에 추가", "코멘트", "Followin",
]  # fmt: skip


@pytest.fixture
def loaded(run_cli: Callable[..., Result], db_path: Path) -> Path:
    result = run_cli("load", str(ROOT / "seeds"))
    assert result.exit_code == 0, result.output
    return db_path


def articles_of(db: Path, origin_prefix: str) -> list[dict[str, object]]:
    rows = query(
        db,
        """SELECT origin, title, author, published_at, language, text, metadata FROM articles
           WHERE origin LIKE ? ORDER BY id""",
        (origin_prefix + "%",),
    )
    keys = ("origin", "title", "author", "published_at", "language", "text", "metadata")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def test_listing_splits_into_ten_entries_with_bylines(loaded: Path) -> None:
    entries = articles_of(loaded, str(ROOT / "seeds" / "documents" / SEED_LISTING.name))
    assert len(entries) == 10
    assert [e["origin"] for e in entries] == [
        f"{ROOT / 'seeds' / 'documents' / SEED_LISTING.name}#{n}" for n in range(1, 11)
    ]
    assert {e["author"] for e in entries} == {"크리스 정"}
    assert entries[0]["published_at"] == "2025-11-13T10:47:00-07:00"
    assert entries[-1]["published_at"] == "2025-11-03T16:31:00-07:00"
    assert all(str(e["published_at"]).endswith("-07:00") for e in entries)
    for entry in entries:
        text = str(entry["text"])
        assert "크리스 정 2025." not in text
        assert "Tags" not in text
        assert entry["language"] == "ko"
    assert str(entries[0]["text"]).startswith("AI 테마의 일시적 조정인가")
    assert str(entries[-1]["text"]).startswith("'파괴적 혁신'")


def test_translated_article_is_clean_with_metadata(loaded: Path) -> None:
    (article,) = articles_of(loaded, str(ROOT / "seeds" / "documents" / SEED_ARTICLE.name))
    assert article["title"] == TITLE_004
    assert article["author"] == "Flip Research"
    assert article["published_at"] is None
    assert article["language"] == "ko"
    meta = json.loads(str(article["metadata"]))
    assert meta["translator"] == "테크플로우(TechFlow)"
    assert meta["machine_translated"] is True
    assert meta["original_title"] == "美国例外主义的交易可能正在走向终结。"
    assert meta["original_language"] == "zh"
    text = str(article["text"])
    assert text.startswith("美국 예외주의의 전면적 퇴조")
    assert text.endswith("별도로 논의해볼 만한 주제입니다.")
    for needle in FORBIDDEN_004:
        assert needle not in text, needle
    # every body paragraph survives, headings included
    source_lines = SEED_ARTICLE.read_text("utf-8").splitlines()
    first = source_lines.index("美국 예외주의의 전면적 퇴조")
    last = next(
        i
        for i, line in enumerate(source_lines)
        if line.endswith("별도로 논의해볼 만한 주제입니다.")
    )
    for line in source_lines[first : last + 1]:
        if line.strip():
            assert line.strip() in text


def test_second_load_stores_nothing_new(run_cli: Callable[..., Result], loaded: Path) -> None:
    before = query(loaded, "SELECT count(*) FROM articles")
    result = run_cli("load", str(ROOT / "seeds"))
    assert result.exit_code == 0, result.output
    assert query(loaded, "SELECT count(*) FROM articles") == before == [(11,)]
    states = query(loaded, "SELECT state, count(*) FROM pages WHERE run_id = 2 GROUP BY state")
    assert states == [("unchanged", 11)]
    check_ledger(loaded)


def test_edited_copy_is_a_near_duplicate(
    run_cli: Callable[..., Result], loaded: Path, tmp_path: Path
) -> None:
    text = SEED_ARTICLE.read_text("utf-8").splitlines()
    text[0] = "[속보] 달러 패권 약화와 AI 부상, 암호화폐의 미래는?"
    edited = "\n".join(text)
    edited = edited.replace("놀라운 수익을 가져다주어", "엄청난 수익을 안겨주어")
    edited = edited.replace(
        "2025년 GDP 성장률 전망은 2.2%로 온건한 수준입니다.", "올해 성장률 전망은 온건합니다."
    )
    edited = edited.replace("자금 흐름을 관찰하는 것은", "돈의 흐름을 지켜보는 것은")
    copy = tmp_path / "copy-of-004.txt"
    copy.write_text(edited, "utf-8")
    result = run_cli("load", str(copy))
    assert result.exit_code == 0, result.output
    assert "near 1" in result.output
    ((state, reason, dup_of, similarity),) = query(
        loaded,
        "SELECT state, reason, duplicate_of, similarity FROM pages WHERE origin = ?",
        (str(copy),),
    )
    original = query(loaded, "SELECT id FROM articles WHERE origin = ?", (str(SEED_ARTICLE),))
    assert (state, reason) == ("duplicate", "near")
    assert [(dup_of,)] == original
    assert 0.8 <= float(similarity) < 1.0  # type: ignore[arg-type]
    assert query(loaded, "SELECT count(*) FROM articles") == [(11,)]


def test_renamed_copy_is_a_content_duplicate(
    run_cli: Callable[..., Result], loaded: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "renamed.txt"
    shutil.copy(SEED_ARTICLE, copy)
    result = run_cli("load", str(copy))
    assert result.exit_code == 0, result.output
    rows = query(
        loaded, "SELECT state, reason, similarity FROM pages WHERE origin = ?", (str(copy),)
    )
    assert rows == [("duplicate", "content", 1.0)]


def test_report_matches_the_ledger(run_cli: Callable[..., Result], db_path: Path) -> None:
    result = run_cli("load", str(ROOT / "seeds"))
    assert "stored          11" in result.output
    assert "skipped          1  (unsupported_type 1)" in result.output
    ((report,),) = query(db_path, "SELECT report FROM runs WHERE id = 1")
    data = json.loads(str(report))
    assert data["items"] == {"stored": 11}
    assert data["inputs"] == 2
    assert data["rules_fired"]["machine_translation_notice"] == 1
    assert query(db_path, "SELECT stored, inputs, status FROM runs") == [(11, 2, "finished")]


def test_no_dedup_skips_only_near_duplicate_detection(
    run_cli: Callable[..., Result], loaded: Path, tmp_path: Path
) -> None:
    edited = SEED_ARTICLE.read_text("utf-8").replace(
        "놀라운 수익을 가져다주어", "엄청난 수익을 안겨주어"
    )
    (tmp_path / "near.txt").write_text(edited, "utf-8")
    shutil.copy(SEED_ARTICLE, tmp_path / "exact.txt")
    result = run_cli("load", "--no-dedup", str(tmp_path / "near.txt"), str(tmp_path / "exact.txt"))
    assert result.exit_code == 0, result.output
    rows = query(loaded, "SELECT origin, state, reason FROM pages WHERE run_id = 2 ORDER BY id")
    assert [(Path(str(o)).name, s, r) for o, s, r in rows] == [
        ("near.txt", "stored", None),
        ("exact.txt", "duplicate", "content"),
    ]
    check_ledger(loaded)


def test_same_file_spelled_differently_is_unchanged(
    run_cli: Callable[..., Result], loaded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT / "seeds")
    result = run_cli("load", f"./documents/../documents/{SEED_ARTICLE.name}")
    assert result.exit_code == 0, result.output
    assert query(loaded, "SELECT state, reason FROM pages WHERE run_id = 2") == [
        ("unchanged", "same_content")
    ]


def test_a_new_entry_on_top_of_a_listing_leaves_the_others_unchanged(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    listing = tmp_path / "listing.txt"
    original = SEED_LISTING.read_text("utf-8")
    listing.write_text(original, "utf-8")
    assert run_cli("load", str(listing)).exit_code == 0
    before = dict(query(db_path, "SELECT url, text FROM articles"))
    new_entry = "새로 추가된 첫 번째 글입니다. 목록 맨 위에 올라온 최신 소식으로, 기존 글들은 그대로여야 한다.\n크리스 정 2025.11.14 08:00 PDT\n"
    listing.write_text(original.replace("Tags\n", "Tags\n" + new_entry, 1), "utf-8")
    result = run_cli("load", str(listing))
    assert result.exit_code == 0, result.output
    states = query(
        db_path, "SELECT state, reason, count(*) FROM pages WHERE run_id = 2 GROUP BY state, reason"
    )
    assert states == [("stored", None, 1), ("unchanged", "same_content", 10)]
    after = dict(query(db_path, "SELECT url, text FROM articles"))
    assert {k: v for k, v in after.items() if k in before} == before
    (new_url,) = set(after) - set(before)
    assert str(new_url).endswith("#2025-11-14T08:00:00-07:00")


def test_a_listing_named_twice_in_one_run_is_skipped_not_a_crash(
    run_cli: Callable[..., Result], db_path: Path
) -> None:
    folder = str(SEED_LISTING.parent)
    result = run_cli("load", str(SEED_LISTING), folder, str(SEED_LISTING))
    assert result.exit_code == 0, result.output
    assert "repeated_input 2" in result.output
    rows = query(db_path, "SELECT state, count(*) FROM pages GROUP BY state")
    assert rows == [("stored", 11)]  # 10 entries + the article, each recorded once
    check_ledger(db_path)


def test_a_file_named_like_a_split_entry_is_recorded_not_a_crash(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    listing = tmp_path / "listing"  # no extension: sniffed
    shutil.copy(SEED_LISTING, listing)
    clash = tmp_path / "listing#1"  # spelled exactly like the listing's first entry
    clash.write_text(SEED_ARTICLE.read_text("utf-8"), "utf-8")
    result = run_cli("load", str(clash), str(listing))
    assert result.exit_code == 3, result.output  # a failed input: the run says so
    rows = query(db_path, "SELECT origin, state, reason FROM pages WHERE origin NOT LIKE '%#_%'")
    assert rows == [(str(listing), "failed", "origin_conflict")]
    assert query(db_path, "SELECT count(*) FROM articles") == [(1,)]  # the listing rolled back
    check_ledger(db_path)


def test_a_revision_that_copies_another_article_is_a_duplicate(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    own, other = tmp_path / "own.txt", tmp_path / "other.txt"
    shutil.copy(SEED_ARTICLE, other)
    first_entry = SEED_LISTING.read_text("utf-8").splitlines()[1]
    own.write_text(first_entry, "utf-8")
    assert run_cli("load", str(own), str(other)).exit_code == 0
    own_before = query(db_path, "SELECT id, text FROM articles WHERE origin = ?", (str(own),))
    (other_id,) = query(db_path, "SELECT id FROM articles WHERE origin = ?", (str(other),))

    # own.txt is rewritten as a lightly edited copy of other.txt: a near duplicate, not a revision
    own.write_text(
        SEED_ARTICLE.read_text("utf-8").replace(
            "놀라운 수익을 가져다주어", "엄청난 수익을 안겨주어"
        ),
        "utf-8",
    )
    assert run_cli("load", str(own)).exit_code == 0
    ((state, reason, dup_of, similarity),) = query(
        db_path,
        "SELECT state, reason, duplicate_of, similarity FROM pages WHERE run_id = 2",
    )
    assert (state, reason, (dup_of,)) == ("duplicate", "near", other_id)
    assert 0.8 <= float(similarity) < 1.0  # type: ignore[arg-type]
    assert query(db_path, "SELECT id, text FROM articles WHERE origin = ?", (str(own),)) == (
        own_before
    )

    # ... and an exact copy is a content duplicate
    shutil.copy(SEED_ARTICLE, own)
    assert run_cli("load", str(own)).exit_code == 0
    assert query(db_path, "SELECT state, reason, duplicate_of FROM pages WHERE run_id = 3") == [
        ("duplicate", "content", other_id[0])
    ]

    # a real revision of itself (near its own old text) is stored as an update, not a duplicate
    own.write_text(first_entry.replace("7% 하락했고", "7.2% 하락했고"), "utf-8")
    assert run_cli("load", str(own)).exit_code == 0
    assert query(db_path, "SELECT state, reason FROM pages WHERE run_id = 4") == [
        ("stored", "updated")
    ]
    check_ledger(db_path)


def test_dedup_explain_answers_why_an_article_is_missing(
    run_cli: Callable[..., Result], loaded: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.txt"
    copy.write_text(
        SEED_ARTICLE.read_text("utf-8").replace(
            "놀라운 수익을 가져다주어", "엄청난 수익을 안겨주어"
        ),
        "utf-8",
    )
    assert run_cli("load", str(copy)).exit_code == 0
    result = run_cli("dedup", "explain", str(copy))
    assert result.exit_code == 0, result.output
    assert "duplicate (near), similarity 0.99" in result.output
    assert str(SEED_ARTICLE) in result.output and TITLE_004 in result.output
    as_json = run_cli("dedup", "explain", str(copy), "--json")
    (row,) = json.loads(as_json.output)
    assert (row["state"], row["reason"]) == ("duplicate", "near")
    assert row["duplicate_of"]["origin"] == str(SEED_ARTICLE)
    # a listing by its path: every entry; a URL it was stored under works too
    listing = json.loads(run_cli("dedup", "explain", str(SEED_LISTING), "--json").output)
    assert [r["state"] for r in listing] == ["stored"] * 10
    by_url = run_cli("dedup", "explain", listing[0]["url"], "--json")
    assert json.loads(by_url.output)[0]["origin"] == f"{SEED_LISTING}#1"
    missing = run_cli("dedup", "explain", "https://example.com/never-seen")
    assert missing.exit_code == 1
    assert missing.output.strip() == (
        f"crawler: error: no ledger row for https://example.com/never-seen in {loaded}"
    )
