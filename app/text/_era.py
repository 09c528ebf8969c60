"""Dates written in the Japanese era (和暦), as certificates print them beside the Western date."""

from __future__ import annotations

import datetime as dt

from app.text._dates import ERAS, japan_date


def format_japanese_era(value: dt.date | dt.datetime) -> str:
    """``令和8年12月1日`` (the first year as 元年); a datetime is taken on its JST day (``japan_date``).

    ValueError for a day before 明治 (1868-01-25), which has no era this service knows. Source: the 元号 table
    ``app.text.ERAS`` (改元日 of each era).
    """
    day = japan_date(value)
    for era in reversed(ERAS):
        if day >= era.first_day:
            year = day.year - era.first_day.year + 1
            return f"{era.name}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    raise ValueError(f"{day} is before the first era (明治)")
