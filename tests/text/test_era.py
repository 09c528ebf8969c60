"""和暦 for certificates: the era of each day, 元年, the day an era starts, and a moment's JST day."""

from __future__ import annotations

import datetime as dt

import pytest

from app.text import format_japanese_era


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2015, 8, 10), "平成27年8月10日"),  # seed 000's certificate
        (dt.date(2019, 4, 30), "平成31年4月30日"),
        (dt.date(2019, 5, 1), "令和元年5月1日"),
        (dt.date(2026, 12, 1), "令和8年12月1日"),
        (dt.date(1989, 1, 7), "昭和64年1月7日"),
        (dt.date(1989, 1, 8), "平成元年1月8日"),
        (dt.date(1912, 7, 30), "大正元年7月30日"),
    ],
)
def test_days_are_written_in_their_era(day: dt.date, expected: str) -> None:
    assert format_japanese_era(day) == expected


def test_a_moment_is_written_on_its_day_in_japan() -> None:
    late_evening_utc = dt.datetime(2019, 4, 30, 15, 30, tzinfo=dt.UTC)  # 2019-05-01 00:30 JST
    assert format_japanese_era(late_evening_utc) == "令和元年5月1日"


def test_a_day_before_meiji_has_no_era() -> None:
    with pytest.raises(ValueError):
        format_japanese_era(dt.date(1868, 1, 24))
