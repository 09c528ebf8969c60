"""What the operator reads about billing (issue 13): month summaries, a month's invoices, the dashboard figures.

Every figure is an SQL aggregate over the operator-scale tables (tenants, invoices, the usage ledger): no query
reads a tenant's people, and no Python loop runs over tenants. A month is its first day (JST).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import Select, and_, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.pager import Count, KeysetPage, PageRequest, capped_count, read_page
from app.paging import SortColumn
from app.tenancy import Tenant, TenantKind, TenantStatus
from billing.models import Invoice, InvoiceKind, SeatCounter, SeatKind, SeatUsageDay
from billing.months import month_key, month_label, month_start, months_back, next_month, previous_month

INVOICES_PER_PAGE: Final = 50
CHART_MONTHS: Final = 12
TRIAL_WARNING_DAYS: Final = 7
TRIALS_SHOWN: Final = 50


# 請求: months and their invoices --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonthSummary:
    """A billing month's invoices (yen): how many invoices and credit notes, and the sums including both."""

    month: dt.date
    invoices: int = 0
    credit_notes: int = 0
    subtotal: int = 0
    tax: int = 0
    total: int = 0

    @property
    def key(self) -> str:
        return month_key(self.month)

    @property
    def label(self) -> str:
        return month_label(self.month)

    @property
    def closed(self) -> bool:
        return self.invoices > 0


async def month_summaries(session: AsyncSession, months: list[dt.date]) -> list[MonthSummary]:
    """The summary of each of ``months`` (one grouped query over ``ix_invoices_month``), in the order given."""
    if not months:
        return []
    statement = (
        select(
            Invoice.month,
            Invoice.kind,
            func.count(),
            func.coalesce(func.sum(Invoice.subtotal), 0),
            func.coalesce(func.sum(Invoice.tax), 0),
            func.coalesce(func.sum(Invoice.total), 0),
        )
        .where(Invoice.month >= min(months), Invoice.month <= max(months))
        .group_by(Invoice.month, Invoice.kind)
    )
    sums: dict[dt.date, dict[str, int]] = {}
    for month, kind, count, subtotal, tax, total in (await session.execute(statement)).all():
        entry = sums.setdefault(month, {"invoices": 0, "credit_notes": 0, "subtotal": 0, "tax": 0, "total": 0})
        entry["credit_notes" if kind is InvoiceKind.CREDIT_NOTE else "invoices"] += int(count)
        entry["subtotal"] += int(subtotal)
        entry["tax"] += int(tax)
        entry["total"] += int(total)
    return [MonthSummary(month, **sums.get(month, {})) for month in months]


@dataclass(frozen=True, slots=True)
class InvoicePage:
    """One page of a month's invoices and credit notes, and how many there are (capped count)."""

    invoices: list[Invoice]
    total: Count
    window: KeysetPage


_INVOICE_ORDER: Final = [SortColumn(Invoice.tenant_id, "tenant_id"), SortColumn(Invoice.id, "id")]


async def month_invoices(session: AsyncSession, month: dt.date, request: PageRequest) -> InvoicePage:
    """A page of ``month``'s invoices in ``ix_invoices_month`` order (tenant, then id): keyset paged."""
    # Two key columns; app.pager types a statement as Select[Any] (its rows are only read by attribute).
    statement = cast("Select[Any]", select(Invoice.tenant_id, Invoice.id).where(Invoice.month == month))
    total = await capped_count(session, statement)
    window = await read_page(session, [statement], _INVOICE_ORDER, request, per_page=INVOICES_PER_PAGE, total=total)
    keys = [(key.tenant_id, key.id) for key in window.keys]
    found: dict[tuple[Any, Any], Invoice] = {}
    if keys:
        tenants = {tenant_id for tenant_id, _ in keys}
        rows = await session.execute(
            select(Invoice).where(
                Invoice.tenant_id.in_(tenants), Invoice.id.in_([invoice_id for _, invoice_id in keys])
            )
        )
        found = {(row.tenant_id, row.id): row for row in rows.scalars()}
    return InvoicePage([found[key] for key in keys if key in found], total, window)


# Dashboard ------------------------------------------------------------------------------------------------------------


EFFECTIVE_LABELS: Final = {
    "trial": "無料体験中",
    "trial_over": "無料体験終了（閲覧のみ）",
    "active": "契約中",
    "suspended": "利用停止",
    "ended": "契約終了",
}


@dataclass(frozen=True, slots=True)
class StatusCount:
    """Companies in one effective state (``key`` of ``EFFECTIVE_LABELS``)."""

    key: str
    count: int

    @property
    def label(self) -> str:
        return EFFECTIVE_LABELS[self.key]


def effective_state(today: dt.date) -> Any:
    """A SQL CASE giving a tenant's state on JST day ``today`` by ``billing.contract.tenant_mode``'s rule: an ACTIVE
    contract whose ``contract_ends_on`` has passed is ``ended``; a TRIAL whose ``trial_ends_on`` has passed is
    ``trial_over``; otherwise the stored status."""
    return case(
        (and_(Tenant.status == TenantStatus.ACTIVE, Tenant.contract_ends_on < today), "ended"),
        (and_(Tenant.status == TenantStatus.TRIAL, Tenant.trial_ends_on < today), "trial_over"),
        (Tenant.status == TenantStatus.ACTIVE, "active"),
        (Tenant.status == TenantStatus.TRIAL, "trial"),
        (Tenant.status == TenantStatus.SUSPENDED, "suspended"),
        else_="ended",
    )


async def tenants_by_status(session: AsyncSession, today: dt.date) -> list[StatusCount]:
    """How many companies are in each effective state on JST day ``today`` (every state listed, zero included).

    One GROUP BY over a CASE on the dates (``effective_state``): a contract past its end day counts as 契約終了
    even while its stored status is still ACTIVE (the tenant is read-only then, ``billing.contract.mode_of``).
    """
    state = effective_state(today).label("state")
    statement = select(state, func.count()).where(Tenant.kind == TenantKind.COMPANY).group_by(state)
    counts = {str(key): int(count) for key, count in (await session.execute(statement)).all()}
    return [StatusCount(key, counts.get(key, 0)) for key in EFFECTIVE_LABELS]


async def trials_ending(session: AsyncSession, today: dt.date, days: int = TRIAL_WARNING_DAYS) -> list[Tenant]:
    """Companies in their trial whose end date is today or within ``days`` days (JST), soonest first."""
    statement = (
        select(Tenant)
        .where(
            Tenant.kind == TenantKind.COMPANY,
            Tenant.status == TenantStatus.TRIAL,
            Tenant.trial_ends_on >= today,
            Tenant.trial_ends_on <= today + dt.timedelta(days=days),
        )
        .order_by(Tenant.trial_ends_on, Tenant.code)
        .limit(TRIALS_SHOWN)
    )
    return list((await session.execute(statement)).scalars())


def _greater(left: Any, right: Any) -> Any:
    """The larger of two integer expressions (no GREATEST on SQLite)."""
    return case((left > right, left), else_=right)


async def active_ids_in_month(session: AsyncSession, month: dt.date) -> int:
    """Σ over companies of the most self-registration ids active on any day of ``month`` (one aggregate query).

    A company's month peak, as ``billing.usage.month_peak`` reads the ledger: the largest ``peak`` of its day rows
    in the month, or the ``closing`` of its last row before the month if that is larger (a month without a change
    keeps the last count); a company whose ledger has no row at all counts its counter (nothing changed since the
    counters were set), from the month it was created on.
    """
    kind = SeatKind.SELF_REGISTRATION
    start, end = month, next_month(month)
    in_month = (
        select(SeatUsageDay.tenant_id, func.max(SeatUsageDay.peak).label("peak"))
        .where(SeatUsageDay.kind == kind, SeatUsageDay.day >= start, SeatUsageDay.day < end)
        .group_by(SeatUsageDay.tenant_id)
        .subquery()
    )
    last_day = (
        select(SeatUsageDay.tenant_id, func.max(SeatUsageDay.day).label("day"))
        .where(SeatUsageDay.kind == kind, SeatUsageDay.day < start)
        .group_by(SeatUsageDay.tenant_id)
        .subquery()
    )
    carried = (
        select(SeatUsageDay.tenant_id, SeatUsageDay.closing)
        .join(last_day, and_(SeatUsageDay.tenant_id == last_day.c.tenant_id, SeatUsageDay.day == last_day.c.day))
        .where(SeatUsageDay.kind == kind)
        .subquery()
    )
    has_ledger = exists().where(SeatUsageDay.tenant_id == SeatCounter.tenant_id, SeatUsageDay.kind == kind)
    from_ledger = _greater(func.coalesce(in_month.c.peak, 0), func.coalesce(carried.c.closing, 0))
    end_utc = dt.datetime.combine(end, dt.time(), tzinfo=dt.UTC) - dt.timedelta(hours=9)  # JST midnight
    per_tenant = case((has_ledger, from_ledger), (Tenant.created_at < end_utc, SeatCounter.active), else_=0)
    statement = (
        select(func.coalesce(func.sum(per_tenant), 0))
        .select_from(SeatCounter)
        .join(Tenant, Tenant.id == SeatCounter.tenant_id)
        .outerjoin(in_month, in_month.c.tenant_id == SeatCounter.tenant_id)
        .outerjoin(carried, carried.c.tenant_id == SeatCounter.tenant_id)
        .where(SeatCounter.kind == kind, Tenant.kind == TenantKind.COMPANY)
    )
    return int((await session.execute(statement)).scalar_one())


async def revenue_by_month(session: AsyncSession, months: list[dt.date]) -> list[int]:
    """Σ of invoice totals (tax included, credit notes subtracting) for each of ``months``, in the order given."""
    return [summary.total for summary in await month_summaries(session, months)]


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The operator's dashboard: companies by status, trials ending soon, and the two monthly series."""

    statuses: list[StatusCount]
    trials: list[Tenant]
    id_months: list[dt.date]
    active_ids: list[int]
    revenue_months: list[dt.date]
    revenue: list[int]


async def dashboard(session: AsyncSession, today: dt.date) -> Dashboard:
    """Figures for the dashboard on JST day ``today``: ids for the 12 months up to this one (this month so far),
    revenue for the 12 closed months up to the previous one."""
    id_months = months_back(today, CHART_MONTHS)
    revenue_months = months_back(previous_month(month_start(today)), CHART_MONTHS)
    return Dashboard(
        statuses=await tenants_by_status(session, today),
        trials=await trials_ending(session, today),
        id_months=id_months,
        active_ids=[await active_ids_in_month(session, month) for month in id_months],
        revenue_months=revenue_months,
        revenue=await revenue_by_month(session, revenue_months),
    )


__all__ = [
    "CHART_MONTHS",
    "INVOICES_PER_PAGE",
    "Dashboard",
    "InvoicePage",
    "MonthSummary",
    "StatusCount",
    "active_ids_in_month",
    "dashboard",
    "month_invoices",
    "month_summaries",
    "revenue_by_month",
    "tenants_by_status",
    "trials_ending",
]
