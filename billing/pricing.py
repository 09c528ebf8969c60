"""The price of a month (issue 13, seed 003): quantities, proration, consumption tax.

Rules (all amounts whole yen, tax-exclusive unless named otherwise; months are their first day, JST):

- Nothing is billed before ``contract_starts_on`` (the trial is free; a tenant still in TRIAL has no bill) nor
  after ``contract_ends_on``.
- 初期費用 only in the month containing ``contract_starts_on`` (member price for members), never prorated, and once
  per tenant: not when another month's invoice not cancelled by a credit note already carries it.
- 基本料金 monthly; 本人確認オプション when it was on during any day of the month.
- 追加ID 5ユーザ and 追加管理者ID follow one rule (issue 13: "the monthly quantity is the largest number of ids
  active on any day of the month, rounded up to the included 50 plus whole packs of 5"; "admin seats ... follow the
  same rule"): quantity = max(what the month's peak usage needs, what is subscribed at the end of the billed period
  (its last day, or ``until``)). Packs: max(``packs_for``(peak self-registration ids), packs in force on that day);
  admin seats: max(peak admin-side ids − included, ``admin_seats`` in force on that day − included), included = 2
  (4 with the option; for the peak: the option on any day of the month, for the subscription: on that day).
  Packs or seats subscribed only in the middle of the month and removed before its end are not billed.
- A month the contract starts or ends in is prorated: each monthly line × active days ÷ days in the month, rounded
  down to the yen.
- 消費税 10% of the sum of the lines, rounded down once per invoice (適格請求書: one rounding per rate and invoice).
- Prices: the price list in force in the month (price changes apply from their ``effective_from`` month on).

Contract history is read from ``ContractChange`` rows of kinds PACKS and ADMIN_SEATS (values "3") and VERIFICATION
(values "true"/"false"; "有効"/"無効" and "1"/"0" are understood too), with ``old_value`` filled: the value at
the month's start is the ``old_value`` of the first change at or after it (or the tenant's current value when none), and
each change inside the month adds its ``new_value``. Member prices follow ``tenant.is_member`` at billing time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.tenancy import Tenant, TenantStatus
from app.text import JST
from billing.models import (
    DEFAULT_PRICES,
    INCLUDED_ADMIN_SEATS,
    INCLUDED_SELF_REGISTRATION_IDS,
    PACK_SIZE,
    TAX_RATE_PERCENT,
    VERIFICATION_ADMIN_SEATS,
    ContractChange,
    ContractChangeKind,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    PriceList,
    SeatKind,
)
from billing.months import month_bounds
from billing.usage import month_peak

ITEM_LABELS = {
    "initial_fee": "初期費用",
    "base": "基本料金",
    "packs": "追加ID 5ユーザ",
    "verification": "本人確認オプション",
    "admin_seats": "追加管理者ID",
}
DEFAULT_PRICES_FROM = dt.date(2000, 1, 1)  # migration 0024's first price list
TRUE_VALUES = frozenset({"true", "1", "on", "yes", "有効", "あり", "利用する", "会員"})


@dataclass(frozen=True, slots=True)
class BillLine:
    """One line: ``quantity`` × ``unit_price`` yen, or a prorated ``amount`` (tax-exclusive yen)."""

    item: str  # initial_fee, base, packs, verification, admin_seats
    description: str
    quantity: int
    unit_price: int
    amount: int


@dataclass(frozen=True, slots=True)
class Bill:
    """A month's lines and totals (yen): ``subtotal`` tax-exclusive, ``tax`` 10% rounded down once, ``total``."""

    month: dt.date
    period_start: dt.date
    period_end: dt.date
    member: bool
    lines: tuple[BillLine, ...]
    subtotal: int
    tax: int
    total: int


def packs_for(ids: int) -> int:
    """5-user packs beyond the included 50 that ``ids`` self-registration ids need (50→0, 51→1, 55→1, 56→2).

    Seed 003: じぶんで登録 ID 50 ユーザ included, then 5 ユーザごと. Pure; negative counts need none.
    """
    beyond = max(0, ids - INCLUDED_SELF_REGISTRATION_IDS)
    return -(-beyond // PACK_SIZE)


def tax_for(subtotal: int) -> int:
    """消費税 on a tax-exclusive ``subtotal`` (yen) at 10%, rounded toward zero once (1,505 → 150; −1,505 → −150).

    The qualified-invoice rules allow one rounding per rate per invoice; a credit note mirrors its invoice.
    """
    tax = abs(subtotal) * TAX_RATE_PERCENT // 100
    return tax if subtotal >= 0 else -tax


def prorated(amount: int, active_days: int, days_in_month: int) -> int:
    """``amount`` (yen) for ``active_days`` of a month of ``days_in_month`` days, rounded down to the yen."""
    if active_days >= days_in_month:
        return amount
    return amount * active_days // days_in_month


async def price_list_for(session: AsyncSession, month: dt.date) -> PriceList:
    """The prices in force in ``month`` (the latest list effective on or before its first day).

    With no list at all on or before it (migration 0024 writes one effective 2000-01-01; only an emptied table
    lacks it), seed 003's defaults (``DEFAULT_PRICES``) as an unsaved list.
    """
    first = month.replace(day=1)
    statement = (
        select(PriceList).where(PriceList.effective_from <= first).order_by(PriceList.effective_from.desc()).limit(1)
    )
    prices = (await session.execute(statement)).scalar_one_or_none()
    if prices is None:
        return PriceList(effective_from=DEFAULT_PRICES_FROM, changed_by="初期設定", **DEFAULT_PRICES)
    return prices


def unit_price(prices: PriceList, name: str, member: bool) -> int:
    """The yen of item ``name`` (e.g. ``pack_monthly``) in ``prices``, the member price when ``member``."""
    return int(getattr(prices, f"{name}_member" if member else name))


def _truthy(value: str) -> bool:
    return value.strip().lower() in TRUE_VALUES


def _int(value: str) -> int:
    try:
        return int(value.strip() or 0)
    except ValueError:
        return 0


async def _values_in_month(
    session: AsyncSession, tenant: Tenant, kind: ContractChangeKind, first: dt.date, last: dt.date, current: str
) -> list[str]:
    """The values a contract setting had on the days ``first``..``last`` (JST): at the start, then each change."""
    start = dt.datetime.combine(first, dt.time(0), JST)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), JST)
    base = select(ContractChange).where(
        ContractChange.tenant_id == tenant.id, ContractChange.kind == kind, ContractChange.changed_at >= start
    )
    later = await session.execute(base.order_by(ContractChange.changed_at, ContractChange.id).limit(1))
    first_change = later.scalar_one_or_none()
    at_start = first_change.old_value if first_change is not None else current
    inside = await session.execute(
        select(ContractChange.new_value)
        .where(
            ContractChange.tenant_id == tenant.id,
            ContractChange.kind == kind,
            ContractChange.changed_at >= start,
            ContractChange.changed_at < end,
        )
        .order_by(ContractChange.changed_at)
    )
    return [at_start, *inside.scalars()]


async def initial_fee_billed_elsewhere(session: AsyncSession, tenant: Tenant, month: dt.date) -> bool:
    """Whether an invoice of ``tenant`` for a month other than ``month`` (its first day) carries a 初期費用 line
    and has not been cancelled by a credit note (``Invoice.corrects_id``). One indexed query.

    Rule: the initial fee is charged once per tenant, even when ``contract_starts_on`` is moved afterwards
    (issue 13, tester's report: fix A #2).
    """
    credit = aliased(Invoice)
    statement = (
        select(InvoiceLine.invoice_id)
        .join(Invoice, (Invoice.tenant_id == InvoiceLine.tenant_id) & (Invoice.id == InvoiceLine.invoice_id))
        .where(
            InvoiceLine.tenant_id == tenant.id,
            InvoiceLine.item == "initial_fee",
            Invoice.kind == InvoiceKind.INVOICE,
            Invoice.month != month.replace(day=1),
            ~exists().where(credit.tenant_id == tenant.id, credit.corrects_id == Invoice.id),
        )
        .limit(1)
    )
    return (await session.execute(statement)).first() is not None


def _active_period(tenant: Tenant, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date] | None:
    if tenant.status is TenantStatus.TRIAL or tenant.contract_starts_on is None:
        return None
    start = max(first, tenant.contract_starts_on)
    end = min(last, tenant.contract_ends_on) if tenant.contract_ends_on is not None else last
    return (start, end) if start <= end else None


async def bill_for_month(
    session: AsyncSession, tenant: Tenant, month: dt.date, *, until: dt.date | None = None
) -> Bill:
    """What ``tenant`` owes for ``month`` (its first day); ``until``: count usage only up to this JST day (the
    current month's estimate on the contract page). An empty bill (no lines) when nothing is billable.

    Reads the price list of the month, the usage ledger (two month peaks) and the month's contract changes: a
    constant number of small queries at any tenant size. Rules: the module docstring (issue 13, seed 003).
    """
    first, last = month_bounds(month)
    period = _active_period(tenant, first, last)
    if period is None:
        return Bill(first, first, last, tenant.is_member, (), 0, 0, 0)
    start, end = period
    member = tenant.is_member
    prices = await price_list_for(session, first)
    days_in_month = (last - first).days + 1
    active_days = (end - start).days + 1
    lines: list[BillLine] = []
    starts = tenant.contract_starts_on
    if (
        starts is not None
        and first <= starts <= last
        and not await initial_fee_billed_elsewhere(session, tenant, first)
    ):
        fee = unit_price(prices, "initial_fee", member)
        lines.append(BillLine("initial_fee", ITEM_LABELS["initial_fee"], 1, fee, fee))

    def monthly(item: str, quantity: int, unit: int) -> None:
        if quantity <= 0:
            return
        amount = prorated(quantity * unit, active_days, days_in_month)
        label = ITEM_LABELS[item]
        if active_days < days_in_month:
            label = f"{label}（日割 {active_days}/{days_in_month}日）"
        lines.append(BillLine(item, label, quantity, unit, amount))

    monthly("base", 1, unit_price(prices, "base_monthly", member))
    usage_end = min(end, until) if until is not None else end
    self_ids = await month_peak(session, tenant.id, SeatKind.SELF_REGISTRATION, first, until=usage_end)
    subscribed = await _values_in_month(
        session, tenant, ContractChangeKind.PACKS, start, usage_end, str(tenant.self_registration_packs)
    )
    packs = max(packs_for(self_ids), _int(subscribed[-1]))
    monthly("packs", packs, unit_price(prices, "pack_monthly", member))
    verification_values = await _values_in_month(
        session, tenant, ContractChangeKind.VERIFICATION, start, end, "true" if tenant.verification_enabled else ""
    )
    verification = any(_truthy(v) for v in verification_values)
    monthly("verification", 1 if verification else 0, unit_price(prices, "verification_monthly", member))
    admin_ids = await month_peak(session, tenant.id, SeatKind.ADMIN, first, until=usage_end)
    included = INCLUDED_ADMIN_SEATS + (VERIFICATION_ADMIN_SEATS if verification else 0)
    seats_at_end = await _values_in_month(
        session, tenant, ContractChangeKind.ADMIN_SEATS, start, usage_end, str(tenant.admin_seats)
    )
    option_now = "true" if tenant.verification_enabled else ""
    verification_at_end = await _values_in_month(
        session, tenant, ContractChangeKind.VERIFICATION, start, usage_end, option_now
    )
    included_at_end = INCLUDED_ADMIN_SEATS + (VERIFICATION_ADMIN_SEATS if _truthy(verification_at_end[-1]) else 0)
    extra_seats = max(0, admin_ids - included, _int(seats_at_end[-1]) - included_at_end)
    monthly("admin_seats", extra_seats, unit_price(prices, "admin_seat_monthly", member))
    subtotal = sum(line.amount for line in lines)
    tax = tax_for(subtotal)
    return Bill(first, start, end, member, tuple(lines), subtotal, tax, subtotal + tax)


__all__ = [
    "ITEM_LABELS",
    "Bill",
    "BillLine",
    "bill_for_month",
    "packs_for",
    "price_list_for",
    "prorated",
    "tax_for",
]
