"""The content guard: a run of 12 digits, however written, never reaches the log."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audit.guard import (
    MAX_CLIENT_TEXT_CHARS,
    REDACTED_DIGITS,
    AuditContentError,
    check_texts,
    contains_digit_run,
    normalized_detail,
    redact_client_fields,
    redact_client_text,
    redact_client_texts,
)
from app.auth.services import redact_typed_identifier
from app.forms import scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "123456789018",
        "番号は123456789018です",
        "1234 5678 9018",
        "1234-5678-9018",
        "1234ー5678ー9018",
        "1234‐5678−9018",
        "1234\u200b5678\u200b9018",
        "①②③④⑤⑥⑦⑧⑨⓪①⑧",
        "１２３４５６７８９０１８",
        "１２３４－５６７８－９０１８",
        "１２３４　５６７８　９０１８",
        "1234567890123",  # 13 digits (a corporate number) also holds a run of 12
        "12345678-1234-1234-1234-1234567890123",  # not a UUID: one group too long
        # Kanji numerals count as digits, alone or mixed, with the same separators (tester's defect).
        "番号一二三四五六七八九〇一八",
        "一二三四 五六七八 九〇一八",
        "一二三四－五六七八ー九〇一八",
        "零一二三四五六七八九〇一",
        "1二3四5六7八9〇1八",
        "１２３４五六七八9018",
    ],
)
def test_it_finds_a_run_of_twelve_digits(text: str) -> None:
    assert contains_digit_run(text)


@pytest.mark.parametrize(
    "text",
    [
        "12345678901",
        "**********18",
        "090-1234-5678",
        "2026-11-22 10:00:00",
        "2026-11-22T10:00:00.123456+00:00",
        "12345678-1234-4234-8234-123456789abc",
        "01935F6E-1234-7890-8123-456789012345",
        "192.168.100.200",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148 Safari/604.1",
        "一二三四五六七八九〇一",  # 11 kanji digits
        "第一営業部 三四郎 十二月三十一日",
        "二〇二六年一二月一日",
    ],
)
def test_it_lets_other_numbers_through(text: str) -> None:
    assert not contains_digit_run(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mozilla/5.0 (X11) 123456789018", f"Mozilla/5.0 (X11) {REDACTED_DIGITS}"),
        ("株式会社 1234 5678 9012", f"株式会社 {REDACTED_DIGITS}"),
        ("１２３４－５６７８－９０１８ です", f"{REDACTED_DIGITS} です"),
        ("203.0.113.9, 123456789012", f"203.0.113.9, {REDACTED_DIGITS}"),
        ("1234\u200b5678\u200b9018", REDACTED_DIGITS),
        ("090-1234-5678", "090-1234-5678"),
        ("河合 康則", "河合 康則"),
        ("番号一二三四五六七八九〇一八です", f"番号{REDACTED_DIGITS}です"),
        ("1二3四 5六7八-9〇1八", REDACTED_DIGITS),
        ("三四郎", "三四郎"),
    ],
)
def test_client_text_is_redacted_not_refused(text: str, expected: str) -> None:
    assert redact_client_text(text) == expected


def test_redacted_client_text_is_capped_and_never_holds_a_run() -> None:
    hostile = "UA " + "1" * 5000 + "\x07" + "x" * 5000
    redacted = redact_client_text(hostile)
    assert redacted is not None
    assert len(redacted) <= MAX_CLIENT_TEXT_CHARS
    assert not contains_digit_run(redacted)
    assert "\x07" not in redacted
    assert redact_client_text(None) is None


@given(
    st.text(
        alphabet=st.sampled_from("0123456789０１２３４５６７８９①⑨〇一二三四五六七八九零 -ー－\u200b\ufeff\u3000a株.,"),
        max_size=80,
    )
)
@settings(max_examples=300, deadline=None)
def test_no_client_text_keeps_a_run_after_redaction(text: str) -> None:
    redacted = redact_client_text(text)
    assert redacted is not None and not contains_digit_run(redacted)


KANJI = "番号一二三四五六七八九〇一八"


def test_kanji_digits_are_refused_in_composed_fields_and_details_and_redacted_in_client_ones() -> None:
    with pytest.raises(AuditContentError):
        check_texts({"function": "番号の削除", "purpose": KANJI})
    with pytest.raises(AuditContentError):
        normalized_detail({"reason": KANJI})
    assert normalized_detail({"name": KANJI}) == {"name": f"番号{REDACTED_DIGITS}"}
    assert redact_client_fields({"subject_name": KANJI, "function": "x"}) == {
        "subject_name": f"番号{REDACTED_DIGITS}",
        "function": "x",
    }
    assert redact_client_texts([KANJI, "河合"])[KANJI] == f"番号{REDACTED_DIGITS}"


def test_a_login_id_typed_in_kanji_digits_is_not_logged_and_a_form_is_scrubbed() -> None:
    assert redact_typed_identifier("一二三四五六七八九〇一八") == "（数字列のため省略）"
    assert redact_typed_identifier("yamada") == "yamada"

    class Typed(msgspec.Struct):
        reason: str
        name: str

    assert scrubbed(Typed(reason=KANJI, name="山田")) == Typed(reason="", name="山田")


@pytest.mark.parametrize(
    "typed",
    [
        "書類の番号は 6666.7777.8889 では",
        "番号 3333/4444/5553 確認",
        "1111_2222_3333",
        "1111、2222、3333",
        "１１１１．２２２２．３３３３",
    ],
)
def test_typed_text_with_dots_slashes_or_commas_between_groups_looks_like_a_number(typed: str) -> None:
    """The tester's reject comment and memo (issue 12): separators a person types between digit groups."""
    from app.audit.guard import looks_like_number

    assert looks_like_number(typed)


def test_an_ip_address_is_not_a_number_for_the_log_but_the_form_rule_is_wider() -> None:
    from app.audit.guard import contains_digit_run, looks_like_number

    assert not contains_digit_run("192.168.100.200")  # the log keeps client addresses as they are
    assert looks_like_number("192.168.100.200")  # a form field holding twelve digits is refused either way
    assert not looks_like_number("2026.12.01 に退職")
