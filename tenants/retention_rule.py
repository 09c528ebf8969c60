"""保存期間と削除予定日: the tenant's retention rule and the one function that proposes a deletion due date.

Pure rules, no database: every path that sets a 退職日 (forms, 退職処理, imports, the API, bulk fills) asks
:func:`propose_due_date` through ``tenants.services.follow_retirement`` (or, in bulk, directly), so one rule
serves all. Seed 000 (マイナンバーの廃棄) and seed 003 (削除予定日): the number may be erased only after the
documents it was kept for have passed their legal retention period; the service never erases by itself.

A payee (取引先) has no 退職日; its end of the business relationship (取引終了日) is kept in the same column
(``Person.retirement_date``) so the same rule applies to it when a path sets it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from typing import Any


class RetentionPurpose(enum.StrEnum):
    """A purpose a tenant keeps numbers for, with the retention period of the documents it needs.

    - ``WITHHOLDING`` (源泉徴収: 扶養控除等申告書, 源泉徴収簿): 7 years from 1 January of the year after the end
      date, the rule issue 11 specifies. The law's own periods: 所得税法施行規則第76条の3 (申告書: 提出期限の属する
      年の翌年1月10日の翌日から7年) and 国税通則法第70条 (源泉徴収簿: 法定納期限から7年), which end up to a few
      weeks after that 1 January; the date is a proposal an admin confirms or moves (削除予定日の変更), and erasing
      is always an admin's act.
    - ``EMPLOYMENT_INSURANCE`` (雇用保険): 4 years from the day the relationship ended. 雇用保険法施行規則第143条
      (被保険者に関する書類は、その完結の日から4年間).
    - ``HEALTH_PENSION`` (健康保険・厚生年金): 2 years. 健康保険法施行規則第34条, 厚生年金保険法施行規則第28条
      (その完結の日から2年間).
    - ``WORKERS_COMPENSATION`` (労災保険): 3 years. 労働者災害補償保険法施行規則第51条 (その完結の日から3年間).
    """

    WITHHOLDING = "withholding"
    EMPLOYMENT_INSURANCE = "employment_insurance"
    HEALTH_PENSION = "health_pension"
    WORKERS_COMPENSATION = "workers_compensation"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def years(self) -> int:
        return _YEARS[self]


_LABELS = {
    RetentionPurpose.WITHHOLDING: "源泉徴収（扶養控除等申告書・源泉徴収簿）7年",
    RetentionPurpose.EMPLOYMENT_INSURANCE: "雇用保険 4年",
    RetentionPurpose.HEALTH_PENSION: "健康保険・厚生年金 2年",
    RetentionPurpose.WORKERS_COMPENSATION: "労災保険 3年",
}
_YEARS = {
    RetentionPurpose.WITHHOLDING: 7,
    RetentionPurpose.EMPLOYMENT_INSURANCE: 4,
    RetentionPurpose.HEALTH_PENSION: 2,
    RetentionPurpose.WORKERS_COMPENSATION: 3,
}
DEFAULT_PURPOSES: tuple[RetentionPurpose, ...] = (RetentionPurpose.WITHHOLDING,)


def _add_years(day: dt.date, years: int) -> dt.date:
    """The same month and day ``years`` later; 29 February becomes the last day of February in a common year."""
    year = day.year + years
    last = calendar.monthrange(year, day.month)[1]
    return day.replace(year=year, day=min(day.day, last))


def earliest_erasure(end_date: dt.date, purpose: RetentionPurpose) -> dt.date:
    """The first JST date on which the documents of one purpose have passed their retention period.

    ``end_date``: the 退職日 (a payee's 取引終了日), a JST date. 源泉徴収: 1 January of the year after the end date
    plus 7 years. Insurance purposes: the period runs from the day after the end date (民法第140条: the first day
    is not counted) and ends on the day before the same date ``years`` later, or at the end of that month when it
    has no such day (民法第143条); the number may be erased from the next day.
    """
    if purpose is RetentionPurpose.WITHHOLDING:
        return dt.date(end_date.year + 1 + purpose.years, 1, 1)
    start = end_date + dt.timedelta(days=1)
    anniversary_year = start.year + purpose.years
    if start.month == 2 and start.day == 29 and not calendar.isleap(anniversary_year):
        period_ends = dt.date(anniversary_year, 2, 28)  # 民法第143条ただし書: no 29 February, the month's end
    else:
        period_ends = _add_years(start, purpose.years) - dt.timedelta(days=1)
    return period_ends + dt.timedelta(days=1)


def propose_due_date(end_date: dt.date, purposes: Iterable[RetentionPurpose] = DEFAULT_PURPOSES) -> dt.date:
    """削除予定日: the latest of the chosen purposes' earliest erasure dates (the longest period wins, so no
    document a purpose needs is left without its number). ``end_date`` and the result are JST dates.

    ValueError when ``purposes`` is empty (a tenant always keeps numbers for at least one purpose).
    """
    chosen = list(purposes)
    if not chosen:
        raise ValueError("at least one retention purpose is needed")
    return max(earliest_erasure(end_date, purpose) for purpose in chosen)


def tenant_purposes(tenant: Any) -> tuple[RetentionPurpose, ...]:
    """The purposes a tenant chose (``Tenant.retention_purposes``; None or nothing known: the default 源泉徴収)."""
    stored: Sequence[str] = getattr(tenant, "retention_purposes", None) or ()
    known = tuple(p for p in RetentionPurpose if p.value in stored)
    return known or DEFAULT_PURPOSES


def describe_rule(purposes: Iterable[RetentionPurpose]) -> str:
    """The rule in words for the screens, e.g. 「雇用保険 4年・源泉徴収… 7年のうち最も長い期間」."""
    chosen = list(purposes)
    labels = "・".join(p.label for p in chosen)
    return labels if len(chosen) == 1 else f"{labels}のうち最も遅い日"


__all__ = [
    "DEFAULT_PURPOSES",
    "RetentionPurpose",
    "describe_rule",
    "earliest_erasure",
    "propose_due_date",
    "tenant_purposes",
]
