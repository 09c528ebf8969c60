"""The retention rule's proposal of a 削除予定日 (tenants.retention_rule): pure dates, no database."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from tenants.retention_rule import (
    DEFAULT_PURPOSES,
    RetentionPurpose,
    describe_rule,
    earliest_erasure,
    propose_due_date,
    tenant_purposes,
)

W = RetentionPurpose.WITHHOLDING
EI = RetentionPurpose.EMPLOYMENT_INSURANCE
HP = RetentionPurpose.HEALTH_PENSION
WC = RetentionPurpose.WORKERS_COMPENSATION


@pytest.mark.parametrize(
    ("retired", "due"),
    [
        (dt.date(2024, 3, 31), dt.date(2032, 1, 1)),  # 1 January 2025 + 7 years
        (dt.date(2024, 12, 31), dt.date(2032, 1, 1)),
        (dt.date(2025, 1, 1), dt.date(2033, 1, 1)),
        (dt.date(2024, 2, 29), dt.date(2032, 1, 1)),  # a leap day changes nothing: counted from 1 January
    ],
)
def test_the_default_is_seven_years_after_the_first_of_january_after_retirement(retired: dt.date, due: dt.date) -> None:
    assert propose_due_date(retired) == due
    assert DEFAULT_PURPOSES == (W,)


@pytest.mark.parametrize(
    ("retired", "purpose", "due"),
    [
        (dt.date(2024, 3, 31), EI, dt.date(2028, 4, 1)),  # period 2024-04-01 .. 2028-03-31
        (dt.date(2024, 3, 31), HP, dt.date(2026, 4, 1)),
        (dt.date(2024, 3, 31), WC, dt.date(2027, 4, 1)),
        # Retired on a leap day: the period starts 1 March, ends the last day of February.
        (dt.date(2024, 2, 29), HP, dt.date(2026, 3, 1)),
        (dt.date(2024, 2, 29), EI, dt.date(2028, 3, 1)),
        # Retired on 28 February of a leap year: the period starts on 29 February; with no 29 February in the last
        # year it ends on the 28th (民法第143条ただし書), with one it ends on the 28th too (the day before).
        (dt.date(2024, 2, 28), HP, dt.date(2026, 3, 1)),
        (dt.date(2024, 2, 28), EI, dt.date(2028, 2, 29)),
        (dt.date(2023, 12, 31), WC, dt.date(2027, 1, 1)),
    ],
)
def test_insurance_periods_run_from_the_day_after_and_handle_leap_years(
    retired: dt.date, purpose: RetentionPurpose, due: dt.date
) -> None:
    assert earliest_erasure(retired, purpose) == due


def test_the_longest_period_wins_when_several_purposes_are_chosen() -> None:
    retired = dt.date(2024, 3, 31)
    assert propose_due_date(retired, [HP, WC]) == dt.date(2027, 4, 1)
    assert propose_due_date(retired, [HP, EI, WC]) == dt.date(2028, 4, 1)
    assert propose_due_date(retired, [EI, W]) == dt.date(2032, 1, 1)
    # 4 years from 31 December lands after 7 years from 1 January only never: the later date is taken either way.
    assert propose_due_date(dt.date(2024, 12, 31), [EI, HP]) == dt.date(2029, 1, 1)


def test_no_purpose_is_refused() -> None:
    with pytest.raises(ValueError):
        propose_due_date(dt.date(2024, 3, 31), [])


def test_a_tenant_without_a_rule_or_with_unknown_values_gets_the_default() -> None:
    assert tenant_purposes(SimpleNamespace(retention_purposes=None)) == DEFAULT_PURPOSES
    assert tenant_purposes(SimpleNamespace(retention_purposes=["nonsense"])) == DEFAULT_PURPOSES
    assert tenant_purposes(SimpleNamespace(retention_purposes=["health_pension", "employment_insurance"])) == (EI, HP)
    assert describe_rule([HP]) == "健康保険・厚生年金 2年"
    assert describe_rule([EI, HP]).endswith("のうち最も遅い日")
