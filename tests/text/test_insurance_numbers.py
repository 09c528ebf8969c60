"""雇用保険 被保険者番号 / 適用事業所番号 as typed: hyphens, full-width digits and spaces accepted, 11 digits kept."""

from __future__ import annotations

import pytest

from app.text import format_insurance_number, insurance_number


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("1234-567890-1", "12345678901"),
        ("12345678901", "12345678901"),
        ("１２３４－５６７８９０－１", "12345678901"),
        (" 1234 567890 1 ", "12345678901"),
        ("1234ー567890ー1", "12345678901"),
        ("", ""),
        ("  ", ""),
    ],
)
def test_it_keeps_the_eleven_digits(typed: str, kept: str) -> None:
    assert insurance_number(typed) == kept


@pytest.mark.parametrize("typed", ["1234-567890", "1234-567890-12", "1234-56789A-1", "١٢٣٤٥٦٧٨٩٠١"])
def test_it_refuses_anything_but_eleven_digits(typed: str) -> None:
    with pytest.raises(ValueError):
        insurance_number(typed)


def test_it_prints_four_six_one() -> None:
    assert format_insurance_number("12345678901") == "1234-567890-1"
    assert format_insurance_number("") == ""
