"""Dates as people type them (西暦 and 和暦), and the one way dates and times are shown: YYYY/MM/DD in JST."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from app.text._chars import SPACES, fold_width, strip_invisible

JST = dt.timezone(dt.timedelta(hours=9), "JST")
EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)
# Any date a form accepts lies in these years (a year typed as 0990 or 20024 is a typo, not a date).
EARLIEST_DATE = dt.date(1868, 1, 1)
LATEST_DATE = dt.date(2199, 12, 31)
DATE_HINT = "2024/04/01、2024-04-01、令和6年4月1日、R6.4.1 のように入力してください。"


@dataclass(frozen=True, slots=True)
class Era:
    """A Japanese era (元号): its names and the first day (the last day is the day before the next era starts)."""

    name: str
    letter: str
    symbol: str
    first_day: dt.date


# 元号の改元日 (明治は改元の詔の日ではなく太陽暦採用前を含む 1868-01-25 に遡って適用された: 明治元年は1868年).
ERAS: tuple[Era, ...] = (
    Era("明治", "M", "㍾", dt.date(1868, 1, 25)),
    Era("大正", "T", "㍽", dt.date(1912, 7, 30)),
    Era("昭和", "S", "㍼", dt.date(1926, 12, 25)),
    Era("平成", "H", "㍻", dt.date(1989, 1, 8)),
    Era("令和", "R", "㋿", dt.date(2019, 5, 1)),
)
_ERA_BY_TOKEN = {token: era for era in ERAS for token in (era.name, era.letter, era.symbol)}
_ERA_TOKENS = "|".join(sorted(_ERA_BY_TOKEN, key=len, reverse=True))

_SPACES = re.compile(f"[{SPACES}]+")
_WESTERN = re.compile(r"([0-9]{1,5})\s*(?:[-/.]|年)\s*([0-9]{1,2})\s*(?:[-/.]|月)\s*([0-9]{1,2})\s*日?")
_COMPACT = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_JAPANESE = re.compile(
    rf"({_ERA_TOKENS})\s*([0-9]{{1,2}}|元)\s*(?:[-/.]|年)\s*([0-9]{{1,2}})\s*(?:[-/.]|月)\s*([0-9]{{1,2}})\s*日?"
)


class DateRejected(ValueError):
    """The text is not a date this service accepts; ``message`` is the Japanese sentence (without the label)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def today_in_japan() -> dt.date:
    """Today in Japan (dates are checked against the users' calendar, not the server's)."""
    return dt.datetime.now(JST).date()


def _day(year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise DateRejected("invalid", f"は存在しない日付です（{year}年{month}月{day}日）。") from None


def _japanese(era: Era, year_text: str, month: int, day: int) -> dt.date:
    year = 1 if year_text == "元" else int(year_text)
    if year < 1:
        raise DateRejected("invalid", f"の{era.name}の年は1（元年）以上で入力してください。")
    parsed = _day(era.first_day.year + year - 1, month, day)
    index = ERAS.index(era)
    following = ERAS[index + 1] if index + 1 < len(ERAS) else None
    if parsed < era.first_day or (following is not None and parsed >= following.first_day):
        last = following.first_day - dt.timedelta(days=1) if following else None
        until = f"{last.year}年{last.month}月{last.day}日" if last else ""
        first = era.first_day
        raise DateRejected(
            "era",
            f"の{era.name}は{first.year}年{first.month}月{first.day}日から{until}までです。年号を確かめてください。",
        )
    return parsed


def parse_date(text: str, *, birth: bool = False, today: dt.date | None = None) -> dt.date | None:
    """The date typed (``None`` when empty), or DateRejected.

    Accepted: ``2024-04-01``, ``2024/4/1``, ``2024.4.1``, ``2024年4月1日``, ``20240401``, and 和暦 with the era
    name, letter or symbol (``令和元年5月1日``, ``R1.5.1``, ``H2/4/1``, ``㍻2年4月1日``), full-width digits
    included. A 和暦 date must fall within its era. A birth date (``birth``) lies between 1900-01-01 and today in
    Japan; any other date between 1868 and 2199.
    """
    cleaned = _SPACES.sub(" ", fold_width(strip_invisible(text))).strip().upper()
    if not cleaned:
        return None
    if match := _JAPANESE.fullmatch(cleaned):
        era_token, year_text, month, day = match.groups()
        parsed = _japanese(_ERA_BY_TOKEN[era_token], year_text, int(month), int(day))
    elif match := _WESTERN.fullmatch(cleaned) or _COMPACT.fullmatch(cleaned):
        year, month, day = (int(part) for part in match.groups())
        if not 1 <= year <= 9999:
            raise DateRejected("range", "の年は西暦4桁で入力してください。")
        parsed = _day(year, month, day)
    else:
        raise DateRejected("format", "は" + DATE_HINT)
    if birth:
        if parsed < EARLIEST_BIRTH_DATE:
            raise DateRejected("range", "に1900年1月1日より前の日付は指定できません。年を確かめてください。")
        if parsed > (today or today_in_japan()):
            raise DateRejected("future", "に未来の日付は指定できません。")
    elif not EARLIEST_DATE <= parsed <= LATEST_DATE:
        raise DateRejected("range", "の年が正しくありません（1868年〜2199年の日付を入力してください）。")
    return parsed


_YEAR = re.compile(r"([0-9]{4})\s*年?(?:分)?")
_ERA_YEAR = re.compile(rf"({_ERA_TOKENS})\s*([0-9]{{1,2}}|元)\s*年?(?:分)?")
YEAR_HINT = "2025、2025年、令和7年、R7 のように入力してください。"


def parse_year(text: str) -> int | None:
    """A year typed (a 年分, say) as its western number (``None`` when empty), or DateRejected.

    Accepted: ``2025``, ``2025年``, ``2025年分``, and 和暦 with the era name, letter or symbol (``令和7年``,
    ``令和元年``, ``R7``, ``H28``), full-width digits included. A 和暦 year must lie within its era (平成 ends with 31).
    """
    cleaned = _SPACES.sub(" ", fold_width(strip_invisible(text))).strip().upper()
    if not cleaned:
        return None
    if match := _YEAR.fullmatch(cleaned):
        return int(match.group(1))
    if match := _ERA_YEAR.fullmatch(cleaned):
        era = _ERA_BY_TOKEN[match.group(1)]
        number = 1 if match.group(2) == "元" else int(match.group(2))
        index = ERAS.index(era)
        following = ERAS[index + 1] if index + 1 < len(ERAS) else None
        last = following.first_day.year if following else LATEST_DATE.year
        if number < 1 or era.first_day.year + number - 1 > last:
            raise DateRejected(
                "era", f"の{era.name}は元年（{era.first_day.year}年）から{last - era.first_day.year + 1}年までです。"
            )
        return era.first_day.year + number - 1
    raise DateRejected("format", "は" + YEAR_HINT)


def format_date(value: dt.date | dt.datetime | None, *, time: str = "") -> str:
    """The one display of dates and times: ``YYYY/MM/DD`` in JST (an aware datetime is converted first).

    ``time="minutes"`` adds `` HH:MM`` and ``time="seconds"`` `` HH:MM:SS``; ``None`` gives ``""``. A naive
    datetime is taken as UTC (how the database returns them).
    """
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        moment = moment.astimezone(JST)
        text = moment.strftime("%Y/%m/%d")
        if time == "minutes":
            text += moment.strftime(" %H:%M")
        elif time == "seconds":
            text += moment.strftime(" %H:%M:%S")
        return text
    return value.strftime("%Y/%m/%d")


def japan_date(value: dt.date | dt.datetime) -> dt.date:
    """The calendar day in Japan of a moment (a date is returned as it is)."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(JST).date()
    return value
