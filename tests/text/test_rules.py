"""The Japanese text rules themselves (app.text), one test per kind of input the field trial found."""

from __future__ import annotations

import datetime as dt

import pytest

from app.text import (
    DateRejected,
    TextRejected,
    clean_code,
    clean_kana,
    clean_name,
    clean_text,
    format_date,
    parse_date,
    parse_year,
    person_search_key,
    printable,
    search_key,
)

TODAY = dt.date(2026, 11, 30)


class TestNames:
    @pytest.mark.parametrize(
        ("typed", "kept"),
        [
            ("大\ufa10 花子", "大\ufa10 花子"),  # 塚 U+FA10: NFKC (and plain NFC) would make it 塚 U+585A
            ("𠮷野 太郎", "𠮷野 太郎"),  # beyond the BMP
            ("髙橋 一郎", "髙橋 一郎"),
            ("山﨑 花子", "山﨑 花子"),
            ("葛\U000e0100城 五郎", "葛\U000e0100城 五郎"),  # ideographic variation sequence kept
            ("①商店", "①商店"),  # NFKC would make it 1商店
            ("ＡＢＣ商事", "ＡＢＣ商事"),
            ("ｶﾌﾞｼｷｶﾞｲｼｬ", "ｶﾌﾞｼｷｶﾞｲｼｬ"),  # a name is kept as typed (only フリガナ is converted)
            ("が", "が"),  # NFC composes か + U+3099
        ],
    )
    def test_it_keeps_what_was_typed_except_for_nfc(self, typed: str, kept: str) -> None:
        assert clean_name(typed.replace("が", "か\u3099")) == kept

    @pytest.mark.parametrize(
        "typed", ["山田　太郎", "山田  太郎", " 山田\t太郎 ", "山田\u00a0太郎", "山田\u200b 太郎\ufeff"]
    )
    def test_one_separator_between_family_and_given_name(self, typed: str) -> None:
        assert clean_name(typed) == "山田 太郎"

    @pytest.mark.parametrize(
        ("typed", "kind"),
        [
            ("山田\x07太郎", "control"),  # BEL printed as tofu
            ("山田\x00太郎", "control"),
            ("山田\u202e太郎", "bidi"),  # right-to-left override
            ("山田\u2066太郎\u2069", "bidi"),
            ("山田\ue000", "private_use"),  # 外字
            ("\U000f0001郎", "private_use"),
            ("山田😀", "emoji"),
            ("山田❤\ufe0f", "emoji"),
            ("山田🇯🇵", "emoji"),
            ("山田👨\u200d👩", "emoji"),
            ("山田☕", "emoji"),
            ("山田\U000e0001", "unknown"),  # a tag character
            ("a\U000e0100", "unknown"),  # a variation selector not after a kanji
        ],
    )
    def test_it_refuses_unprintable_characters_with_a_japanese_message(self, typed: str, kind: str) -> None:
        with pytest.raises(TextRejected) as refused:
            clean_name(typed)

        assert refused.value.kind == kind
        assert "。" in refused.value.message

    def test_free_text_keeps_line_breaks_only_when_multiline(self) -> None:
        assert clean_text("一行目\r\n  二行目 ", multiline=True) == "一行目\n二行目"
        assert clean_text("一行目\n二行目") == "一行目 二行目"
        with pytest.raises(TextRejected):
            clean_text("理由\x1b[31m", multiline=True)

    def test_a_pdf_prints_a_variation_sequence_as_its_base_kanji(self) -> None:
        assert printable("葛\U000e0100城") == "葛城"
        assert printable("大\ufa10") == "大\ufa10"


class TestKana:
    @pytest.mark.parametrize(
        ("typed", "stored"),
        [
            ("かわい やすのり", "カワイ ヤスノリ"),
            ("ｶﾜｲ ﾔｽﾉﾘ", "カワイ ヤスノリ"),
            ("カ゛トウ", "ガトウ"),  # a separate dakuten, found stored as カ ゙トウ
            ("カ\u3099トウ", "ガトウ"),  # combining
            ("ﾊ゜ｰｸ", "パーク"),
            ("ｶﾞﾄｳ", "ガトウ"),
            ("ウ゛ィ", "ヴィ"),
            ("ヒ－ロ", "ヒーロ"),  # full-width hyphen-minus for ー
            ("ヒ-ロ", "ヒーロ"),
            ("ヒ―ロ", "ヒーロ"),
            ("ﾋｰﾛ", "ヒーロ"),
            ("やまだ　はなこ", "ヤマダ ハナコ"),
            ("ジョン・スミス", "ジョン・スミス"),
            ("", ""),
        ],
    )
    def test_it_converts_to_full_width_katakana(self, typed: str, stored: str) -> None:
        assert clean_kana(typed) == stored

    @pytest.mark.parametrize("typed", ["Kawai Yasunori", "河合 康則", "カワイ1", "゛カトウ", "ア゛", "カワイ😀"])
    def test_anything_else_is_refused(self, typed: str) -> None:
        with pytest.raises(TextRejected):
            clean_kana(typed)


class TestCodes:
    def test_codes_lose_invisible_characters_and_full_width_forms(self) -> None:
        assert clean_code("\ufeffＥ２０１\u200b ") == "E201"
        assert clean_code("①") == "①"  # not turned into 1: the caller refuses it


class TestDates:
    @pytest.mark.parametrize(
        ("typed", "day"),
        [
            ("2024-04-01", dt.date(2024, 4, 1)),
            ("2024/4/1", dt.date(2024, 4, 1)),
            ("2024/04/01", dt.date(2024, 4, 1)),
            ("1990/4/1", dt.date(1990, 4, 1)),
            ("２０２４／０４／０１", dt.date(2024, 4, 1)),
            ("2024年4月1日", dt.date(2024, 4, 1)),
            ("20240401", dt.date(2024, 4, 1)),
            ("令和元年5月1日", dt.date(2019, 5, 1)),
            ("令和6年4月1日", dt.date(2024, 4, 1)),
            ("R1.5.1", dt.date(2019, 5, 1)),
            ("r6/4/1", dt.date(2024, 4, 1)),
            ("H2/4/1", dt.date(1990, 4, 1)),
            ("平成2年4月1日", dt.date(1990, 4, 1)),
            ("平成元年1月8日", dt.date(1989, 1, 8)),
            ("㍻2年4月1日", dt.date(1990, 4, 1)),
            ("S63.12.31", dt.date(1988, 12, 31)),
            ("昭和40年1月1日", dt.date(1965, 1, 1)),
            ("T15.12.24", dt.date(1926, 12, 24)),
            ("大正元年7月30日", dt.date(1912, 7, 30)),
            ("M45.7.29", dt.date(1912, 7, 29)),
            ("明治33年1月1日", dt.date(1900, 1, 1)),
            ("\u200b1990-04-01 ", dt.date(1990, 4, 1)),
        ],
    )
    def test_it_accepts_western_and_japanese_dates(self, typed: str, day: dt.date) -> None:
        assert parse_date(typed, birth=True, today=TODAY) == day

    @pytest.mark.parametrize(
        ("typed", "kind"),
        [
            ("0990-01-01", "range"),  # accepted before
            ("1899-12-31", "range"),
            ("2026-12-01", "future"),
            ("1980-02-30", "invalid"),
            ("平成31年5月1日", "era"),  # 令和元年
            ("令和元年4月30日", "era"),
            ("昭和64年1月8日", "era"),
            ("明治32年1月1日", "range"),  # before 1900
            ("2024年4月", "format"),
            ("きのう", "format"),
        ],
    )
    def test_it_refuses_what_is_not_a_birth_date(self, typed: str, kind: str) -> None:
        with pytest.raises(DateRejected) as refused:
            parse_date(typed, birth=True, today=TODAY)

        assert refused.value.kind == kind

    def test_other_dates_may_be_in_the_future_but_not_in_year_0990(self) -> None:
        assert parse_date("2030/3/31") == dt.date(2030, 3, 31)
        assert parse_date("") is None
        with pytest.raises(DateRejected):
            parse_date("0990/1/1")

    @pytest.mark.parametrize(
        ("typed", "year"),
        [
            ("2025", 2025),
            ("２０２５", 2025),  # field trial: the 年分 refused full-width digits that every other field takes
            ("2025年", 2025),
            ("2025年分", 2025),
            ("令和7", 2025),
            ("令和7年分", 2025),
            ("R7", 2025),
            ("ｒ７", 2025),
            ("令和元年", 2019),
            ("H28", 2016),
            ("平成31年", 2019),
            ("", None),
        ],
    )
    def test_a_year_is_typed_in_western_or_japanese_years(self, typed: str, year: int | None) -> None:
        assert parse_year(typed) == year

    @pytest.mark.parametrize(
        ("typed", "kind"), [("平成32年", "era"), ("令和0", "era"), ("25", "format"), ("去年", "format")]
    )
    def test_a_year_that_is_not_one_is_refused_with_what_to_type(self, typed: str, kind: str) -> None:
        with pytest.raises(DateRejected) as refused:
            parse_year(typed)

        assert refused.value.kind == kind
        assert refused.value.message.startswith("の") or "のように入力してください" in refused.value.message

    def test_one_display_in_japan_time(self) -> None:
        late_evening_utc = dt.datetime(2026, 4, 1, 15, 30, tzinfo=dt.UTC)  # 00:30 on 2 April in Japan

        assert format_date(late_evening_utc) == "2026/04/02"
        assert format_date(late_evening_utc, time="minutes") == "2026/04/02 00:30"
        assert format_date(late_evening_utc, time="seconds") == "2026/04/02 00:30:00"
        assert format_date(late_evening_utc.replace(tzinfo=None)) == "2026/04/02"  # naive means UTC
        assert format_date(dt.date(1990, 4, 1)) == "1990/04/01"
        assert format_date(None) == ""


class TestSearchKeys:
    def test_spaces_kana_script_and_width_do_not_matter(self) -> None:
        key = person_search_key("河合 康則", "カワイ ヤスノリ")

        for query in ("河合康則", "河合　康則", "かわい", "ｶﾜｲ ﾔｽ", "カワイヤスノリ", "康則"):
            assert search_key(query) in key

    def test_variants_are_found_by_the_common_form(self) -> None:
        assert search_key("大塚") in person_search_key("大\ufa10 花子", "")
        assert search_key("葛城") in person_search_key("葛\U000e0100城 五郎", "")
        assert search_key("yamada") in person_search_key("YAMADA Taro", "")
