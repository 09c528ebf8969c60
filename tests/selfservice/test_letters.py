"""Invitation letters and payee link sheets, read back with real PDF readers and a QR decoder."""

from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
import zxingcpp
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from selfservice.letters import (
    INVITATION_TITLE,
    PAYEE_TITLE,
    InvitationLetter,
    PayeeLinkSheet,
    render_invitation_letters,
    render_payee_link_sheet,
)

A4_WIDTH, A4_HEIGHT = 595, 842
SIGN_IN_URL = "https://mnv.example.jp/s/takara01/signin"
PAYEE_URL = "https://mnv.example.jp/p/3q2Zr8uYtK0Lw9vXc4bQe1NpM7sDfGhJ"


def letter(**changes: Any) -> InvitationLetter:
    values: dict[str, Any] = {
        "company_name": "株式会社たからづか製作所",
        "employee_name": "佐藤 一郎",
        "employee_code": "201",
        "department_name": "東京営業部",
        "tenant_code": "takara01",
        "login_id": "e201-takara",
        "initial_password": "Kx7hT-9mRq-4wPz",
        "sign_in_url": SIGN_IN_URL,
        "expires_on": dt.date(2026, 12, 6),
        "contact": "総務課 岡 昌平（内線 123）",
    }
    values.update(changes)
    return InvitationLetter(**values)


def payee_sheet(**changes: Any) -> PayeeLinkSheet:
    values: dict[str, Any] = {
        "company_name": "株式会社たからづか製作所",
        "payee_name": "山田税理士事務所 山田 太郎",
        "link_url": PAYEE_URL,
        "expires_on": dt.date(2026, 12, 6),
        "contact": "経理課 安藤 信之（内線 456）",
    }
    values.update(changes)
    return PayeeLinkSheet(**values)


def three_letters() -> list[InvitationLetter]:
    return [
        letter(),
        letter(employee_name="東野 二郎", employee_code="104", department_name="人事部", login_id="e104-takara"),
        letter(employee_name="鈴木 奈々子", employee_code="103", department_name="総務課", login_id="e103-takara"),
    ]


def page_texts(pdf: bytes) -> list[str]:
    """Each page's text with all whitespace removed, so wrapped URLs and full-width spaces compare plainly."""
    return [compact(page.extract_text()) for page in PdfReader(io.BytesIO(pdf)).pages]


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def qr_codes_on_page(pdf: bytes, index: int) -> list[str]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[index].render(scale=100 / 72).to_pil()
    finally:
        document.close()
    return [result.text for result in zxingcpp.read_barcodes(image)]


def dictionary(value: Any) -> DictionaryObject:
    resolved = value.get_object()
    assert isinstance(resolved, DictionaryObject)
    return resolved


def fonts_of(reader: PdfReader) -> Iterator[DictionaryObject]:
    for page in reader.pages:
        fonts = dictionary(page["/Resources"]).get("/Font")
        if fonts is not None:
            yield from (dictionary(font) for font in dictionary(fonts).values())


def font_descriptors(font: DictionaryObject) -> Iterator[DictionaryObject]:
    if "/FontDescriptor" in font:
        yield dictionary(font["/FontDescriptor"])
    for descendant in font.get("/DescendantFonts", []):
        yield from font_descriptors(dictionary(descendant))


class TestInvitationLetters:
    def test_it_prints_one_a4_page_per_employee(self) -> None:
        reader = PdfReader(io.BytesIO(render_invitation_letters(three_letters())))

        assert len(reader.pages) == 3
        for page in reader.pages:
            assert float(page.mediabox.width) == pytest.approx(A4_WIDTH, abs=1)
            assert float(page.mediabox.height) == pytest.approx(A4_HEIGHT, abs=1)

    def test_each_page_shows_its_own_employee_and_sign_in_details(self) -> None:
        letters = three_letters()

        texts = page_texts(render_invitation_letters(letters))

        for text, one in zip(texts, letters, strict=True):
            assert INVITATION_TITLE in text
            assert compact(f"{one.employee_name} 様") in text
            assert f"社員コード{one.employee_code}" in text
            assert one.department_name in text
            assert one.login_id in text
            assert one.initial_password in text
            assert one.tenant_code in text
            assert SIGN_IN_URL in text
            assert "2026/12/06まで" in text
            assert compact(one.contact) in text
        assert compact(letters[1].employee_name) not in texts[0]

    def test_it_explains_the_purpose_steps_and_the_single_use_password(self) -> None:
        text = page_texts(render_invitation_letters([letter()]))[0]

        for words in (
            "源泉徴収票",
            "雇用保険",
            "健康保険",
            "厚生年金",
            "スマートフォン",
            "他の人に見せたり渡したりしないで",
        ):
            assert words in text
        for step in ("新しいパスワード", "利用目的の通知", "扶養家族のマイナンバー", "本人番号確認"):
            assert step in text
        assert "一度ログインに使うと無効" in text

    def test_the_qr_code_on_every_page_opens_the_sign_in_url(self) -> None:
        pdf = render_invitation_letters(three_letters())

        for index in range(3):
            assert qr_codes_on_page(pdf, index) == [SIGN_IN_URL]

    def test_it_refuses_a_sign_in_url_carrying_the_password(self) -> None:
        with pytest.raises(ValueError, match="initial password"):
            render_invitation_letters([letter(sign_in_url=f"{SIGN_IN_URL}?pw=Kx7hT-9mRq-4wPz")])

    def test_it_refuses_a_url_carrying_a_twelve_digit_number(self) -> None:
        with pytest.raises(ValueError, match="12 or more digits"):
            render_invitation_letters([letter(sign_in_url=f"{SIGN_IN_URL}?n=123456789018")])

    def test_it_refuses_an_empty_batch(self) -> None:
        with pytest.raises(ValueError):
            render_invitation_letters([])

    def test_it_embeds_a_subset_of_the_japanese_font(self) -> None:
        pdf = render_invitation_letters([letter()])
        reader = PdfReader(io.BytesIO(pdf))

        fonts = list(fonts_of(reader))
        japanese = [font for font in fonts if "NotoSansJP" in str(font["/BaseFont"])]
        assert japanese
        for font in japanese:
            assert re.fullmatch(r"/[A-Z]{6}\+NotoSansJP(-Bold|-Regular)?", str(font["/BaseFont"]))  # a subset
            descriptors = list(font_descriptors(font))
            assert descriptors and all("/FontFile2" in d for d in descriptors)
        # Only the base-14 Courier (credentials) besides: no Japanese text relies on a viewer's fonts.
        assert {str(font["/BaseFont"]) for font in fonts if font not in japanese} <= {"/Courier-Bold"}
        assert len(pdf) < 400_000

    def test_it_records_title_and_author_in_the_metadata(self) -> None:
        metadata = PdfReader(io.BytesIO(render_invitation_letters([letter()]))).metadata

        assert metadata is not None
        assert metadata.title == INVITATION_TITLE
        assert metadata.author == "株式会社たからづか製作所"

    def test_markup_characters_in_names_are_printed_as_plain_text(self) -> None:
        text = page_texts(
            render_invitation_letters([letter(company_name="<b>A&B</b>商事", employee_name="R&D <太郎>")])
        )[0]

        assert "<b>A&B</b>商事" in text
        assert "R&D<太郎>" in text

    def test_a_letter_with_very_long_details_still_fits_on_one_page(self) -> None:
        long_letter = letter(
            company_name="株式会社たからづか製作所ホールディングス 関西本社 " * 3,
            employee_name="ウォルフガング・アマデウス・モーツァルト 佐藤 一郎右衛門",
            department_name="東京営業部 第一営業課 法人営業グループ 特販チーム " * 2,
            sign_in_url="https://mynumber.chamber.example.or.jp/selfservice/tenants/takarazuka-seisakusho/signin",
            contact="総務課 事務取扱担当者 岡 昌平（内線 123 / 電話 0797-00-0000 / 受付 平日9時〜17時）" * 2,
        )

        pdf = render_invitation_letters([long_letter, letter()])

        assert len(PdfReader(io.BytesIO(pdf)).pages) == 2
        assert qr_codes_on_page(pdf, 0) == [long_letter.sign_in_url]

    def test_the_letter_repr_hides_the_initial_password(self) -> None:
        assert "Kx7hT-9mRq-4wPz" not in repr(letter())

    def test_rendering_writes_no_files(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        scratch, workdir = tmp_path / "tmp", tmp_path / "cwd"
        scratch.mkdir()
        workdir.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        monkeypatch.chdir(workdir)

        render_invitation_letters(three_letters())
        render_payee_link_sheet(payee_sheet())

        assert list(scratch.iterdir()) == []
        assert list(workdir.iterdir()) == []


class TestPayeeLinkSheet:
    def test_it_is_one_a4_page_with_the_link_and_its_expiry(self) -> None:
        pdf = render_payee_link_sheet(payee_sheet())
        reader = PdfReader(io.BytesIO(pdf))

        assert len(reader.pages) == 1
        page = reader.pages[0]
        assert float(page.mediabox.width) == pytest.approx(A4_WIDTH, abs=1)
        assert float(page.mediabox.height) == pytest.approx(A4_HEIGHT, abs=1)
        text = compact(page.extract_text())
        assert PAYEE_TITLE in text
        assert "山田税理士事務所山田太郎様" in text
        assert PAYEE_URL in text
        assert "2026/12/06まで" in text

    def test_it_says_the_link_works_once_and_needs_no_account(self) -> None:
        text = page_texts(render_payee_link_sheet(payee_sheet()))[0]

        assert "一度だけ使えます" in text
        assert "アカウントの作成" in text
        assert "法人番号" in text

    def test_its_qr_code_opens_the_one_time_link(self) -> None:
        assert qr_codes_on_page(render_payee_link_sheet(payee_sheet()), 0) == [PAYEE_URL]

    def test_the_sheet_repr_hides_the_link(self) -> None:
        assert PAYEE_URL not in repr(payee_sheet())
