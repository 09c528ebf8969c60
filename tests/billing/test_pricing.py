"""Pricing (issue 13, seed 003): packs at 50/51/55/56, member prices, the initial fee once, proration rounded down,
tax rounded down once per invoice, options and extra admin ids, contract history, price changes by month."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.tenancy import Tenant, TenantStatus
from app.text import JST
from billing.models import DEFAULT_PRICES, ContractChange, ContractChangeKind, PriceList, SeatKind, SeatUsageDay
from billing.pricing import Bill, bill_for_month, packs_for, price_list_for, prorated, tax_for
from billing.usage import LEDGER_OPENING

OCT = dt.date(2026, 10, 1)  # 31 days
NOV = dt.date(2026, 11, 1)  # 30 days


@pytest.mark.parametrize(("ids", "packs"), [(0, 0), (49, 0), (50, 0), (51, 1), (55, 1), (56, 2), (60, 2), (61, 3)])
def test_packs_round_up_beyond_the_included_fifty(ids: int, packs: int) -> None:
    assert packs_for(ids) == packs


@pytest.mark.parametrize(("subtotal", "tax"), [(1505, 150), (1509, 150), (1510, 151), (3000, 300), (-1505, -150)])
def test_tax_is_ten_percent_rounded_down_once(subtotal: int, tax: int) -> None:
    assert tax_for(subtotal) == tax


def test_proration_is_rounded_down_to_the_yen() -> None:
    assert prorated(3000, 21, 31) == 2032  # 2032.25...
    assert prorated(3000, 31, 31) == 3000
    assert prorated(250, 1, 30) == 8  # 8.33...


async def company(
    db: AsyncSession,
    *,
    starts: dt.date | None = dt.date(2026, 1, 1),
    ends: dt.date | None = None,
    member: bool = False,
    status: TenantStatus = TenantStatus.ACTIVE,
    verification: bool = False,
    packs: int = 0,
) -> Tenant:
    tenant = Tenant(
        code=f"c{uuid.uuid4().hex[:8]}",
        name="請求テスト株式会社",
        status=status,
        is_member=member,
        contract_starts_on=starts,
        contract_ends_on=ends,
        verification_enabled=verification,
        self_registration_packs=packs,
    )
    db.add(tenant)
    await db.flush()
    return tenant


async def usage(db: AsyncSession, tenant: Tenant, kind: SeatKind, *days: tuple[dt.date, int, int]) -> None:
    """Ledger rows (day, peak, closing) after an empty opening."""
    db.add(SeatUsageDay(tenant_id=tenant.id, kind=kind, day=LEDGER_OPENING, peak=0, closing=0))
    for day, peak, closing in days:
        db.add(SeatUsageDay(tenant_id=tenant.id, kind=kind, day=day, peak=peak, closing=closing))
    await db.flush()


async def change(db: AsyncSession, tenant: Tenant, kind: ContractChangeKind, day: dt.date, old: str, new: str) -> None:
    at = dt.datetime.combine(day, dt.time(10), JST)
    db.add(ContractChange(tenant_id=tenant.id, changed_at=at, kind=kind, old_value=old, new_value=new))
    await db.flush()


def amounts(bill: Bill) -> dict[str, tuple[int, int, int]]:
    return {line.item: (line.quantity, line.unit_price, line.amount) for line in bill.lines}


async def test_a_full_month_is_the_base_plan(db: AsyncSession) -> None:
    bill = await bill_for_month(db, await company(db), OCT)
    assert amounts(bill) == {"base": (1, 3000, 3000)}
    assert (bill.subtotal, bill.tax, bill.total) == (3000, 300, 3300)
    assert (bill.period_start, bill.period_end) == (OCT, dt.date(2026, 10, 31))


async def test_members_pay_member_prices(db: AsyncSession) -> None:
    tenant = await company(db, member=True, verification=True, packs=1)
    await usage(db, tenant, SeatKind.ADMIN, (dt.date(2026, 9, 1), 5, 5))
    bill = await bill_for_month(db, tenant, OCT)
    assert bill.member
    assert amounts(bill) == {
        "base": (1, 1500, 1500),
        "packs": (1, 250, 250),
        "verification": (1, 500, 500),
        "admin_seats": (1, 500, 500),  # 5 admin ids, 4 included with the option
    }
    non_member = await company(db, verification=True, packs=1)
    await usage(db, non_member, SeatKind.ADMIN, (dt.date(2026, 9, 1), 5, 5))
    assert amounts(await bill_for_month(db, non_member, OCT)) == {
        "base": (1, 3000, 3000),
        "packs": (1, 500, 500),
        "verification": (1, 1000, 1000),
        "admin_seats": (1, 1000, 1000),
    }


@pytest.mark.parametrize(("peak", "packs"), [(50, 0), (51, 1), (55, 1), (56, 2)])
async def test_the_highest_day_of_the_month_decides_the_packs(db: AsyncSession, peak: int, packs: int) -> None:
    tenant = await company(db)
    await usage(
        db, tenant, SeatKind.SELF_REGISTRATION, (dt.date(2026, 10, 5), peak, 40), (dt.date(2026, 10, 6), 41, 41)
    )
    bill = await bill_for_month(db, tenant, OCT)
    assert amounts(bill).get("packs") == ((packs, 500, packs * 500) if packs else None)


async def test_the_estimate_counts_usage_only_up_to_its_day(db: AsyncSession) -> None:
    tenant = await company(db)
    await usage(db, tenant, SeatKind.SELF_REGISTRATION, (dt.date(2026, 10, 20), 60, 60))
    assert "packs" not in amounts(await bill_for_month(db, tenant, OCT, until=dt.date(2026, 10, 19)))
    assert amounts(await bill_for_month(db, tenant, OCT, until=dt.date(2026, 10, 20)))["packs"] == (2, 500, 1000)


async def test_the_initial_fee_is_billed_once_and_never_prorated(db: AsyncSession) -> None:
    tenant = await company(db, starts=dt.date(2026, 10, 11))
    first = await bill_for_month(db, tenant, OCT)
    assert amounts(first) == {"initial_fee": (1, 10000, 10000), "base": (1, 3000, 2032)}  # 21 of 31 days
    assert first.period_start == dt.date(2026, 10, 11)
    assert (first.subtotal, first.tax) == (12032, 1203)
    assert amounts(await bill_for_month(db, tenant, NOV)) == {"base": (1, 3000, 3000)}
    member = await company(db, starts=NOV, member=True)
    assert amounts(await bill_for_month(db, member, NOV))["initial_fee"] == (1, 5000, 5000)


async def test_a_contract_ending_mid_month_is_prorated_and_nothing_follows(db: AsyncSession) -> None:
    tenant = await company(db, ends=dt.date(2026, 10, 10), packs=2)
    bill = await bill_for_month(db, tenant, OCT)
    assert amounts(bill) == {"base": (1, 3000, 967), "packs": (2, 500, 322)}  # 10 of 31 days, rounded down
    assert bill.period_end == dt.date(2026, 10, 10)
    assert (bill.subtotal, bill.tax) == (1289, 128)
    assert not (await bill_for_month(db, tenant, NOV)).lines


async def test_trials_and_months_before_the_contract_are_free(db: AsyncSession) -> None:
    trial = await company(db, status=TenantStatus.TRIAL)
    assert (await bill_for_month(db, trial, OCT)).lines == ()
    later = await company(db, starts=NOV)
    empty = await bill_for_month(db, later, OCT)
    assert (empty.lines, empty.total) == ((), 0)
    never = await company(db, starts=None)
    assert not (await bill_for_month(db, never, OCT)).lines


async def test_packs_are_billed_as_subscribed_at_the_end_of_the_month_not_at_their_most(db: AsyncSession) -> None:
    tenant = await company(db, packs=1)  # the admin clicked 1, 3, 2 and ended at 1
    await change(db, tenant, ContractChangeKind.PACKS, dt.date(2026, 10, 5), "0", "1")
    await change(db, tenant, ContractChangeKind.PACKS, dt.date(2026, 10, 6), "1", "3")
    await change(db, tenant, ContractChangeKind.PACKS, dt.date(2026, 10, 7), "3", "2")
    await change(db, tenant, ContractChangeKind.PACKS, dt.date(2026, 10, 20), "2", "1")
    assert amounts(await bill_for_month(db, tenant, OCT))["packs"] == (1, 500, 500)
    assert amounts(await bill_for_month(db, tenant, OCT, until=dt.date(2026, 10, 6)))["packs"] == (3, 500, 1500)
    assert amounts(await bill_for_month(db, tenant, NOV))["packs"] == (1, 500, 500)
    assert "packs" not in amounts(await bill_for_month(db, tenant, dt.date(2026, 9, 1)))


async def test_packs_follow_the_peak_of_ids_when_it_needs_more_than_subscribed(db: AsyncSession) -> None:
    tenant = await company(db, packs=0)
    await change(db, tenant, ContractChangeKind.PACKS, dt.date(2026, 10, 15), "0", "4")
    await change(db, tenant, ContractChangeKind.PACKS, dt.date(2026, 10, 20), "4", "0")
    await usage(db, tenant, SeatKind.SELF_REGISTRATION, (dt.date(2026, 10, 16), 62, 50))
    assert amounts(await bill_for_month(db, tenant, OCT))["packs"] == (3, 500, 1500)  # 62 ids need 3, end: 0
    assert "packs" not in amounts(await bill_for_month(db, tenant, NOV))


async def test_admin_seats_follow_the_same_rule_as_packs(db: AsyncSession) -> None:
    tenant = await company(db)
    tenant.admin_seats = 3  # 1 extra at the end of October
    await change(db, tenant, ContractChangeKind.ADMIN_SEATS, dt.date(2026, 10, 5), "2", "6")
    await change(db, tenant, ContractChangeKind.ADMIN_SEATS, dt.date(2026, 10, 9), "6", "3")
    assert amounts(await bill_for_month(db, tenant, OCT))["admin_seats"] == (1, 1000, 1000)
    assert amounts(await bill_for_month(db, tenant, OCT, until=dt.date(2026, 10, 6)))["admin_seats"] == (
        4,
        1000,
        4000,
    )
    assert "admin_seats" not in amounts(await bill_for_month(db, tenant, dt.date(2026, 9, 1)))
    await usage(db, tenant, SeatKind.ADMIN, (dt.date(2026, 11, 3), 5, 3))
    assert amounts(await bill_for_month(db, tenant, NOV))["admin_seats"] == (3, 1000, 3000)  # peak 5 − 2


async def test_the_option_used_on_any_day_is_billed_and_widens_the_admin_ids(db: AsyncSession) -> None:
    tenant = await company(db, verification=False)
    await change(db, tenant, ContractChangeKind.VERIFICATION, dt.date(2026, 10, 10), "true", "false")
    await usage(db, tenant, SeatKind.ADMIN, (dt.date(2026, 9, 1), 4, 4))
    october = amounts(await bill_for_month(db, tenant, OCT))
    assert october["verification"] == (1, 1000, 1000) and "admin_seats" not in october
    november = amounts(await bill_for_month(db, tenant, NOV))
    assert "verification" not in november and november["admin_seats"] == (2, 1000, 2000)


async def test_a_price_change_applies_from_its_month_on(db: AsyncSession) -> None:
    db.add(PriceList(effective_from=NOV, changed_by="運営者", **{**DEFAULT_PRICES, "base_monthly": 4000}))
    await db.flush()
    assert (await price_list_for(db, OCT)).base_monthly == 3000
    assert (await price_list_for(db, dt.date(2026, 11, 17))).base_monthly == 4000
    tenant = await company(db)
    assert amounts(await bill_for_month(db, tenant, OCT))["base"] == (1, 3000, 3000)
    assert amounts(await bill_for_month(db, tenant, NOV))["base"] == (1, 4000, 4000)
