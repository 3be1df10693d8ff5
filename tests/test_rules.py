"""The boilerplate rule engine: position and length decide, never a keyword alone."""

from __future__ import annotations

import pytest

from cleaners.rules import RuleError, apply_rules, default_rules
from cleaners.text import clean_text, to_lines

BODY = [
    "The council met on Tuesday to discuss the new budget for the coming year in detail.",
    "Several residents left a comment during the hearing, and one read a legal disclaimer aloud.",
    "독자 댓글과 좋아요 수가 늘었다는 점은 이 기사에서 다루는 조사 결과의 일부일 뿐이다.",
    "면책 조항이라는 단어가 문장 중간에 나오더라도 본문 문장은 지워지면 안 된다는 점을 확인한다.",
    "The company's share price rose after it said affiliate links now bring in a third of revenue.",
]


def test_body_sentences_that_mention_widget_words_survive() -> None:
    cleaned = apply_rules(BODY, default_rules())
    assert cleaned.lines == BODY
    assert not cleaned.fired


@pytest.mark.parametrize(
    ("noise", "rule"),
    [
        ("좋아요 12", "like_widget"),
        ("공유하기", "share_widget"),
        ("스크랩", "bookmark_widget"),
        ("댓글 3", "comment_widget"),
        ("Like", "like_widget"),
        ("Share this article", "share_widget"),
        ("Gefällt mir", "like_widget"),
        ("コメント", "comment_widget"),
        ("分享", "share_widget"),
        ("分享到微信", "share_widget"),
        ("この記事をシェアする", "share_widget"),
        ("기사 공유하기", "share_widget"),
        ("좋아요 0 북마크 공유하기", "widget_row"),
        ("Like 12 · Share · Comment", "widget_row"),
        ("いいね！ 3 シェア コメント 2", "widget_row"),
        ("Partager", "share_widget"),
        ("Compartir", "share_widget"),
        ("Advertisement", "advertisement_label"),
        ("<저작권자 ⓒ 연합뉴스, 무단 전재-재배포 금지>", "copyright_line"),
        ("Copyright © 2025 Example Media. All rights reserved.", "copyright_line"),
        ("版权所有，未经授权不得转载", "copyright_line"),
        ("無断転載を禁じます。", "copyright_line"),
        ("スポンサーリンク", "advertisement_label"),
        ("Sponsored content", "advertisement_label"),
        ("Was this article helpful?", "feedback_prompt"),
        ("¿Te ha resultado útil esta noticia?", "feedback_prompt"),
        ("この記事は役に立ちましたか？", "feedback_prompt"),
        ("This article was machine translated from Spanish.", "machine_translation_notice"),
    ],
)
def test_widget_and_copyright_lines_go_anywhere(noise: str, rule: str) -> None:
    lines = [BODY[0], noise, BODY[1]]
    cleaned = apply_rules(lines, default_rules())
    assert cleaned.lines == [BODY[0], BODY[1]]
    assert cleaned.fired == {rule: 1}


@pytest.mark.parametrize(
    "notice",
    [
        "이 기사는 기계로 번역되었습니다",
        "This article was machine-translated.",
        "本文由机器翻译",
        "この記事は機械翻訳されています。",
        "Dieser Artikel wurde maschinell übersetzt.",
        "Cet article a été traduit automatiquement.",
        "Este artículo fue traducido automáticamente.",
    ],
)
def test_machine_translation_notices_in_the_leading_block(notice: str) -> None:
    cleaned = apply_rules([notice, "", *BODY], default_rules())
    assert cleaned.lines[0] == BODY[0]
    assert cleaned.metadata["machine_translated"] is True


def test_disclaimer_only_in_end_blocks() -> None:
    disclaimer = "Disclaimer: the views above are the author's own and not investment advice."
    middle = apply_rules([BODY[0], disclaimer, BODY[1]], default_rules())
    assert disclaimer in middle.lines
    tail = apply_rules([BODY[0], BODY[1], "", disclaimer, "Share", "Comments"], default_rules())
    assert tail.lines == [BODY[0], BODY[1]]
    assert tail.fired == {"disclaimer": 1, "share_widget": 1, "comment_widget": 1}


def test_long_lines_never_match_short_line_rules() -> None:
    long_comment = (
        "Comments " + "are welcome on this long line that is body text, not a widget " * 2
    )
    assert apply_rules([long_comment], default_rules()).lines == [long_comment]


def test_show_original_captures_a_foreign_title_only() -> None:
    foreign = apply_rules(
        ["원문 표시", "美国例外主义的交易可能正在走向终结。", *BODY[2:]], default_rules()
    )
    assert foreign.metadata["original_title"] == "美国例外主义的交易可能正在走向终结。"
    same_script = apply_rules(["원문 표시", *BODY[2:]], default_rules())
    assert "original_title" not in same_script.metadata
    assert same_script.lines == BODY[2:]


def test_author_and_translator_lines_are_metadata() -> None:
    cleaned = apply_rules(
        ["作者:Flip Research", "编译:TechFlow", "By Jane Doe", *BODY], default_rules()
    )
    assert cleaned.metadata["author"] == "Flip Research"
    assert cleaned.metadata["translator"] == "TechFlow"
    assert cleaned.lines == BODY


def test_sources_can_add_and_disable_rules() -> None:
    custom = default_rules().customised(
        add=[
            {
                "name": "site_promo",
                "pattern": r"Read the full issue at .*",
                "where": ["trailing"],
                "max_len": 80,
            }
        ],
        disable=["like_widget"],
    )
    cleaned = apply_rules([*BODY, "Like", "Read the full issue at example.org"], custom)
    assert cleaned.lines == [*BODY, "Like"]
    assert cleaned.fired == {"site_promo": 1}


@pytest.mark.parametrize(
    ("add", "disable", "message"),
    [
        ([{"name": "x", "pattern": "(", "where": "line"}], [], "bad pattern"),
        ([{"name": "x", "pattern": "a", "where": "middle"}], [], "'where' must be"),
        ([{"pattern": "a"}], [], "non-empty 'name'"),
        ([], ["no_such_rule"], "unknown rule"),
        ([{"name": "like_widget", "pattern": "a"}], [], "duplicate rule"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(
    add: list[dict[str, str]], disable: list[str], message: str
) -> None:
    with pytest.raises(RuleError, match=message):
        default_rules().customised(add=add, disable=disable)


def test_plain_text_title_and_repeated_title() -> None:
    text = "A Title Line\n\nA Title Line\n\n" + "\n\n".join(BODY)
    result = clean_text(text, default_rules())
    (entry,) = result.entries
    assert entry.title == "A Title Line"
    assert entry.text.splitlines() == BODY


def test_text_without_a_separated_first_line_has_no_title() -> None:
    (entry,) = clean_text("\n".join(BODY), default_rules()).entries
    assert entry.title is None
    assert entry.text.splitlines() == BODY


def test_listing_with_leading_bylines_splits_and_keeps_order() -> None:
    text = "\n".join(
        [
            "Jane Doe 2025-01-02 08:00 KST", BODY[0],
            "John Roe 2025-01-01 09:30 UTC", BODY[1],
        ]
    )  # fmt: skip
    entries = clean_text(text, default_rules()).entries
    assert [(e.author, e.published_at, e.text) for e in entries] == [
        ("Jane Doe", "2025-01-02T08:00:00+09:00", BODY[0]),
        ("John Roe", "2025-01-01T09:30:00+00:00", BODY[1]),
    ]


def test_to_lines_collapses_blank_runs_and_invisible_characters() -> None:
    assert to_lines("a\u200b\r\n\r\n\r\n  b\u00a0 c  \n\n") == ["a", "", "b c"]


def test_stacked_bylines_keep_the_first_date() -> None:
    text = "\n".join(
        ["Posted 2025-01-02 08:00 UTC", "Updated 2025-01-03 10:00 UTC", BODY[0], BODY[1]]
    )
    (entry,) = clean_text(text, default_rules()).entries
    assert entry.published_at == "2025-01-02T08:00:00+00:00"
    assert entry.text.splitlines() == BODY[:2]


@pytest.mark.parametrize(
    ("noise", "rule", "field"),
    [
        ("【免责声明】本文仅代表作者本人观点，与本网站无关。", "disclaimer", None),
        ("责任编辑：王芳", "editor_line", ("editor", "王芳")),
        ("（责任编辑：刘洋）", "editor_line", ("editor", "刘洋")),
        ("声明：本文转载自其他媒体，版权归原作者所有。", "reprint_notice", None),
        ("点击进入专题：2025年两会", "topic_link", None),
        ("박지은 기자 jieun@example.co.kr", "reporter_byline", ("author", "박지은")),
        ("▶ 관련기사", "related_articles_label", None),
        (
            "本文為作者親身體驗，非業配文，文中提及的店家皆為自費消費。",
            "sponsorship_disclosure",
            None,
        ),
        ("※本記事にはプロモーションが含まれています。", "sponsorship_disclosure", None),
        (
            "이 포스팅은 쿠팡 파트너스 활동의 일환으로, 일정액의 수수료를 제공받습니다.",
            "sponsorship_disclosure",
            None,
        ),
        (
            "This post may contain affiliate links. I may earn a small commission.",
            "sponsorship_disclosure",
            None,
        ),
        ("Dieser Artikel enthält Affiliate-Links.", "sponsorship_disclosure", None),
        ("Recibe cada mañana las noticias más importantes de la región.", "newsletter_pitch", None),
        ("Get the latest stories delivered to your inbox every morning.", "newsletter_pitch", None),
        (
            "© 2025 El Faro. Todos los derechos reservados. Queda prohibida la reproducción total o parcial de este contenido sin autorización expresa del editor.",
            "copyright_notice",
            None,
        ),
    ],
)
def test_trailing_boilerplate(noise: str, rule: str, field: tuple[str, str] | None) -> None:
    cleaned = apply_rules([*BODY, noise], default_rules())
    assert cleaned.lines == BODY
    assert cleaned.fired == {rule: 1}
    if field:
        assert cleaned.metadata[field[0]] == field[1]


def test_chinese_reporter_byline_leads_and_names_the_author() -> None:
    cleaned = apply_rules(["本报记者 张伟", *BODY], default_rules())
    assert cleaned.lines == BODY
    assert cleaned.metadata["author"] == "张伟"


def test_read_more_link_inside_the_body() -> None:
    link = "Read more: How to prepare your home for the winter storms"
    cleaned = apply_rules([BODY[0], link, BODY[1]], default_rules())
    assert cleaned.lines == BODY[:2]
    # a body sentence that merely starts with "Read more" is not a link line
    sentence = "Read more carefully, the report says, and the numbers tell a different story."
    assert apply_rules([BODY[0], sentence], default_rules()).lines == [BODY[0], sentence]


def test_job_titles_are_not_part_of_author_names() -> None:
    from cleaners.dates import clean_author

    assert clean_author("김민수 기자") == "김민수"
    assert clean_author("By Jane Doe") == "Jane Doe"
    assert clean_author("记者 张伟") == "张伟"
    assert clean_author("Flip Research") == "Flip Research"


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (
            "정부는 내년 예산안을 다음 달 국회에 제출할 계획이라고 밝혔다. 세부 항목은 추후 공개된다. "
            "<저작권자 ⓒ 예시일보, 무단전재 및 재배포금지>",
            "정부는 내년 예산안을 다음 달 국회에 제출할 계획이라고 밝혔다. 세부 항목은 추후 공개된다.",
        ),
        (
            "The council will vote on the plan next month, officials said on Friday. "
            "Copyright 2025 Example Media. All rights reserved.",
            "The council will vote on the plan next month, officials said on Friday.",
        ),
        (
            "今年的粮食产量再创新高，专家认为这与新品种的推广有关。版权所有，未经授权不得转载。",
            "今年的粮食产量再创新高，专家认为这与新品种的推广有关。",
        ),
        (
            "委員会は来月、新しい計画を採決する予定だ。無断転載を禁じます。",
            "委員会は来月、新しい計画を採決する予定だ。",
        ),
    ],
)
def test_a_notice_inside_a_long_line_is_cut_and_the_rest_kept(line: str, kept: str) -> None:
    cleaned = apply_rules([*BODY, line], default_rules())
    assert cleaned.lines == [*BODY, kept]
    assert cleaned.fired == {"copyright_notice": 1}
    assert cleaned.removed_chars == {"copyright_notice": len(line) - len(kept)}


def test_a_line_that_is_only_a_notice_goes_whole() -> None:
    notice = "© 2025 Kitchen Drawer Notes. All rights reserved. Please don't republish recipes without permission."
    cleaned = apply_rules([*BODY, notice, "Share"], default_rules())
    assert cleaned.lines == BODY
    assert cleaned.removed_chars == {"copyright_notice": len(notice), "share_widget": 5}


def test_a_body_sentence_about_copyright_is_not_a_notice() -> None:
    line = "Recipes are a strange case under copyright law, and the court said so in 2019."
    assert apply_rules([*BODY, line], default_rules()).lines == [*BODY, line]


def test_clean_reports_characters_removed_per_rule() -> None:
    from cleaners.clean import clean

    text = "\n".join([*BODY, "좋아요 12", "Copyright 2025 Example Media. All rights reserved."])
    cleaned = clean(text.encode(), kind="text")
    assert cleaned.removed_chars["like_widget"] == len("좋아요 12")
    assert cleaned.removed_chars["copyright_notice"] == len(
        "Copyright 2025 Example Media. All rights reserved."
    )


@pytest.mark.parametrize(
    "closing",
    [["Updated at 10:00."], ["업데이트: 2025.11.13 10:00", "문의: desk@news.example"]],
)
def test_a_disclaimer_block_of_several_lines_goes_as_a_whole(closing: list[str]) -> None:
    """A notice whose short closing lines follow it goes whole; the body above it stays."""
    body = [
        "The harbour authority announced on Monday that the new ferry terminal will open next spring.",
        "Construction costs rose by a fifth over the original estimate, officials told reporters.",
    ]
    notice = "Disclaimer: this article is for information only and is not investment advice."
    cleaned = apply_rules([*body, "", notice, *closing], default_rules())
    assert cleaned.lines[: len(body)] == body
    kept = "\n".join(cleaned.lines)
    assert "Disclaimer" not in kept and all(line not in kept for line in closing)
    assert cleaned.fired["disclaimer"] == 1


def test_a_short_last_line_without_a_notice_above_is_body() -> None:
    lines = ["A first paragraph of the article about the new bridge and its opening.", "Thanks."]
    assert apply_rules(lines, default_rules()).lines == lines
