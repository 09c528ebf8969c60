"""Every PDF prints every name: the embedded font covers JIS X 0213 and the 人名 characters beyond it."""

from __future__ import annotations

import io
import re
import unicodedata

import pytest
from pypdf import PdfReader
from reportlab.pdfbase.ttfonts import TTFontFile

from app.pdf import FONTS_DIR, pdf_text
from selfservice.letters import render_invitation_letters, render_payee_link_sheet
from tests.selfservice.test_letters import font_descriptors, fonts_of, letter, payee_sheet

NAMES = {
    "𠮷野 太郎": "𠮷野",  # U+20BB7, beyond the BMP
    "髙橋 一郎": "髙橋",
    "山﨑 花子": "山﨑",  # U+FA11
    "大\ufa10 次郎": "大\ufa10",  # 塚 U+FA10, a compatibility ideograph kept as typed
    "葛\U000e0100城 五郎": "葛城",  # an ideographic variation sequence prints as its base kanji
}


def _text(pdf: bytes) -> str:
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))


@pytest.mark.parametrize(("name", "printed"), NAMES.items())
def test_an_invitation_letter_prints_the_name(name: str, printed: str) -> None:
    text = _text(render_invitation_letters([letter(employee_name=name)]))

    assert printed in text
    assert "\ufffd" not in text and "\U000e0100" not in text


@pytest.mark.parametrize(("name", "printed"), NAMES.items())
def test_a_payee_sheet_prints_the_name(name: str, printed: str) -> None:
    assert printed in _text(render_payee_link_sheet(payee_sheet(payee_name=name)))


def test_the_font_is_embedded_as_a_subset() -> None:
    pdf = render_invitation_letters([letter(employee_name="𠮷野 太郎")])
    japanese = [f for f in fonts_of(PdfReader(io.BytesIO(pdf))) if "NotoSansJP" in str(f["/BaseFont"])]

    assert japanese
    assert all(re.match(r"/[A-Z]{6}\+", str(font["/BaseFont"])) for font in japanese)
    assert all("/FontFile2" in d for font in japanese for d in font_descriptors(font))
    assert len(pdf) < (FONTS_DIR / "NotoSansJP-Regular.ttf").stat().st_size / 10


def test_the_font_covers_every_kanji_of_jis_x_0213_and_common_name_characters() -> None:
    for file_name in ("NotoSansJP-Regular.ttf", "NotoSansJP-Bold.ttf"):
        covered = TTFontFile(str(FONTS_DIR / file_name)).charToGlyph
        missing = []
        for cp in range(0x3000, 0x30000):
            char = chr(cp)
            if not unicodedata.name(char, "").startswith("CJK") and not 0x3040 <= cp <= 0x30FF:
                continue
            try:
                char.encode("euc_jis_2004")
            except UnicodeEncodeError:
                continue
            if cp not in covered:
                missing.append(char)
        assert missing == []
        assert all(ord(c) in covered for c in "𠮷髙﨑\ufa10辻𠮟德")


def test_pdf_text_drops_variation_selectors_and_escapes_markup() -> None:
    assert pdf_text("葛\U000e0100城 <b>") == "葛城 &lt;b&gt;"
