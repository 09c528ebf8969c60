"""The content guard: a run of 12 digits, however written, never reaches the log."""

from __future__ import annotations

import pytest

from app.audit.guard import contains_digit_run


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
    ],
)
def test_it_lets_other_numbers_through(text: str) -> None:
    assert not contains_digit_run(text)
