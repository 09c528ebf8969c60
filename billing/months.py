"""Billing months (issue 13): a month is its first day (JST); written ``2026-11`` in URLs, forms and commands and
shown as ``2026年11月``. The one place these rules live for invoices, usage, prices, reports and commands."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Final

_MONTH_TEXT: Final = re.compile(r"(\d{4})-(\d{2})")


class BadMonth(ValueError):
    """The month in a URL, form or command is not ``YYYY-MM``; ``message`` is the Japanese sentence to show."""

    def __init__(self, text: str = "") -> None:
        self.message = "月は「2026-11」のように西暦4桁とハイフンと月2桁で指定してください。"
        if text:
            self.message += f"（指定された値: {text[:20]}）"
        super().__init__(self.message)


def parse_month(text: str) -> dt.date:
    """``YYYY-MM`` (years 2000–2999, months 01–12) → the month's first day; BadMonth otherwise."""
    match = _MONTH_TEXT.fullmatch(text.strip())
    if match is None:
        raise BadMonth(text)
    year, month = int(match.group(1)), int(match.group(2))
    if not (2000 <= year <= 2999 and 1 <= month <= 12):
        raise BadMonth(text)
    return dt.date(year, month, 1)


def month_key(month: dt.date) -> str:
    """A month as in URLs and commands: ``2026-11``."""
    return f"{month.year:04d}-{month.month:02d}"


def month_label(month: dt.date) -> str:
    """A month as shown: ``2026年11月``."""
    return f"{month.year}年{month.month}月"


def month_start(day: dt.date) -> dt.date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    """(first day, last day) of the month containing ``month``."""
    first = month.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def next_month(month: dt.date) -> dt.date:
    """The first day of the month after ``month``."""
    return dt.date(month.year + 1, 1, 1) if month.month == 12 else dt.date(month.year, month.month + 1, 1)


def previous_month(month: dt.date) -> dt.date:
    """The first day of the month before ``month``."""
    return dt.date(month.year - 1, 12, 1) if month.month == 1 else dt.date(month.year, month.month - 1, 1)


def months_back(last: dt.date, count: int) -> list[dt.date]:
    """``count`` months ending with ``last``'s month (first days), oldest first."""
    months = [month_start(last)]
    while len(months) < count:
        months.append(previous_month(months[-1]))
    return months[::-1]
