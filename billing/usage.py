"""Active ids per tenant and day (issue 13): the usage ledger billing reads.

Which ids count (seed 003): a self-registration id is an account with role EMPLOYEE; an admin-side id is an
ADMIN, HANDLER or VIEWER account (``Role.is_staff``). An id counts from the moment it is issued until its
``disabled_at`` is set (a scheduled access end, an employee's 退職日 ahead, stops it counting when it is set);
re-enabling counts it again. Proxy-registered numbers are not accounts and never count.

How the ledger is kept: ``seat_counters.active`` (ids active now) and ``seat_usage_days`` (per JST day: ``peak``,
the most active that day, and ``closing``, active at its end) are changed in the SAME transaction as the accounts,
by a ``before_flush`` hook on every ORM session (new accounts, ``disabled_at`` or ``role`` changes, deletions), with
one concurrency-safe UPSERT per tenant and kind (``active = active + delta``; the counter row's lock orders
concurrent writers). A path that writes accounts without the ORM calls :func:`ids_changed` itself (none does
today: every account write goes through the ORM). :func:`reconcile` recounts from the accounts (``close_month``
runs it for each tenant before billing).

The first change of a tenant and kind also writes an opening row dated ``LEDGER_OPENING`` holding the count before
it (the counters of migration 0024 start without day rows), so a month with no change reads the last closing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, event, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.auth.models import Account, Role
from app.text import today_in_japan
from billing.models import SeatCounter, SeatKind, SeatUsageDay
from billing.months import month_bounds

LEDGER_OPENING = dt.date(2000, 1, 1)  # the opening row of a tenant's ledger (the count before its first change)
STAFF_ROLES = (Role.ADMIN, Role.HANDLER, Role.VIEWER)


def seat_kind(role: Role | str | None) -> SeatKind | None:
    """The billed kind of an account with this role (None: the operator's staff, who are never billed)."""
    if role is None:
        return None
    role = Role(role)
    if role is Role.EMPLOYEE:
        return SeatKind.SELF_REGISTRATION
    return SeatKind.ADMIN if role.is_staff else None


def roles_of(kind: SeatKind) -> tuple[Role, ...]:
    """The account roles counted as ids of ``kind``."""
    return (Role.EMPLOYEE,) if kind is SeatKind.SELF_REGISTRATION else STAFF_ROLES


# --- Keeping the ledger --------------------------------------------------------------------------------------------


def _upsert(dialect_name: str, table: Any) -> Any:
    return (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table)


def _greater(left: Any, right: Any) -> Any:
    return case((left > right, left), else_=right)


def _counter_statement(dialect_name: str, tenant_id: uuid.UUID, kind: SeatKind, delta: int) -> Any:
    """The counter's upsert (``active = active + delta``, the row locked until commit) RETURNING the new count."""
    counters = SeatCounter.__table__
    counter = _upsert(dialect_name, counters).values(tenant_id=tenant_id, kind=kind, active=delta)
    return counter.on_conflict_do_update(
        index_elements=[counters.c.tenant_id, counters.c.kind], set_={"active": counters.c.active + delta}
    ).returning(counters.c.active)


def _day_statements(  # the opening row (first change only) and the day's upsert
    dialect_name: str, tenant_id: uuid.UUID, kind: SeatKind, day: dt.date, before: int, after: int
) -> tuple[Any, Any]:
    days = SeatUsageDay.__table__
    opening = (
        _upsert(dialect_name, days)
        .values(tenant_id=tenant_id, kind=kind, day=LEDGER_OPENING, peak=before, closing=before)
        .on_conflict_do_nothing(index_elements=[days.c.tenant_id, days.c.kind, days.c.day])
    )
    inserted = _upsert(dialect_name, days).values(
        tenant_id=tenant_id, kind=kind, day=day, peak=max(before, after), closing=after
    )
    today = inserted.on_conflict_do_update(
        index_elements=[days.c.tenant_id, days.c.kind, days.c.day],
        set_={"peak": _greater(days.c.peak, inserted.excluded.peak), "closing": inserted.excluded.closing},
    )
    return opening, today


def _apply_sync(session: Session, tenant_id: uuid.UUID, kind: SeatKind, delta: int, day: dt.date) -> int:
    name = session.get_bind().dialect.name
    after = int(session.execute(_counter_statement(name, tenant_id, kind, delta)).scalar_one())
    for statement in _day_statements(name, tenant_id, kind, day, after - delta, after):
        session.execute(statement)
    return after


async def ids_changed(
    session: AsyncSession, tenant_id: uuid.UUID, kind: SeatKind, delta: int, *, day: dt.date | None = None
) -> int:
    """Book ``delta`` ids of ``kind`` issued (+) or disabled (−) for the tenant on ``day`` (JST; today by default).

    For paths that write accounts without the ORM (the ORM's writes are booked by the flush hook). In the caller's
    transaction; returns the count active after the change. Never raises for a valid tenant id.
    """
    if not delta:
        return await active_ids(session, tenant_id, kind)
    when = day or today_in_japan()
    return await session.run_sync(lambda sync: _apply_sync(sync, tenant_id, kind, delta, when))


def _counted_kind(role: Any, disabled_at: Any) -> SeatKind | None:
    return seat_kind(role) if disabled_at is None else None


_UNKNOWN = object()


def _old_value(history: Any) -> Any:
    if history.deleted:
        return history.deleted[0]
    if history.unchanged:
        return history.unchanged[0]
    return _UNKNOWN  # never loaded (a column default applied by the INSERT): read from the database


def _stored(session: Session, account: Account) -> tuple[Any, Any]:
    table = Account.__table__
    statement = select(table.c.role, table.c.disabled_at).where(
        table.c.tenant_id == account.tenant_id, table.c.id == account.id
    )
    row = session.execute(statement).first()
    return (row.role, row.disabled_at) if row is not None else (None, None)


def _before_after(session: Session, account: Account) -> tuple[SeatKind | None, SeatKind | None]:
    """The kind the account counted as before this flush and after it (None: not counted)."""
    state = inspect(account)
    old_role = _old_value(state.attrs["role"].history)
    old_disabled = _old_value(state.attrs["disabled_at"].history)
    if old_role is _UNKNOWN or old_disabled is _UNKNOWN:
        stored_role, stored_disabled = _stored(session, account)
        old_role = stored_role if old_role is _UNKNOWN else old_role
        old_disabled = stored_disabled if old_disabled is _UNKNOWN else old_disabled
    return _counted_kind(old_role, old_disabled), _counted_kind(account.role, account.disabled_at)


def _billing_attrs_changed(account: Account) -> bool:
    state = inspect(account)
    return any(state.attrs[name].history.has_changes() for name in ("role", "disabled_at"))


def _deltas(session: Session) -> dict[tuple[uuid.UUID, SeatKind], int]:
    deltas: dict[tuple[uuid.UUID, SeatKind], int] = defaultdict(int)
    for obj in session.new:
        if isinstance(obj, Account) and (kind := _counted_kind(obj.role, obj.disabled_at)) is not None:
            deltas[(obj.tenant_id, kind)] += 1
    for obj in session.dirty:
        if not isinstance(obj, Account) or not _billing_attrs_changed(obj):
            continue
        before, after = _before_after(session, obj)
        if before is not after:
            if before is not None:
                deltas[(obj.tenant_id, before)] -= 1
            if after is not None:
                deltas[(obj.tenant_id, after)] += 1
    for obj in session.deleted:
        if isinstance(obj, Account):
            before, _after = _before_after(session, obj)
            if before is not None:
                deltas[(obj.tenant_id, before)] -= 1
    return {key: delta for key, delta in deltas.items() if delta}


@event.listens_for(Session, "before_flush")
def keep_usage_ledger(session: Session, _context: Any, _instances: Any) -> None:
    """Book the ids this flush issues, disables, re-enables or deletes (in the flush's transaction)."""
    with session.no_autoflush:
        deltas = _deltas(session)
    if not deltas:
        return
    day = today_in_japan()
    issued: set[tuple[uuid.UUID, SeatKind]] = session.info.setdefault(ISSUED_KEY, set())
    with session.no_autoflush:
        for (tenant_id, kind), delta in sorted(deltas.items(), key=lambda item: (str(item[0][0]), item[0][1].value)):
            _apply_sync(session, tenant_id, kind, delta, day)
            if delta > 0:
                issued.add((tenant_id, kind))


ISSUED_KEY = "billing.usage.issued"  # session.info: (tenant, kind) whose ids this flush increased


def issued_in_flush(session: Session) -> set[tuple[uuid.UUID, SeatKind]]:
    """The (tenant, kind) pairs whose active ids the current flush increased (read and cleared by the capacity
    check of ``billing.contract``, which runs after the flush wrote the accounts)."""
    return session.info.pop(ISSUED_KEY, set())


# --- Reading the ledger --------------------------------------------------------------------------------------------


async def active_ids(session: AsyncSession, tenant_id: uuid.UUID, kind: SeatKind) -> int:
    """Ids of ``kind`` active now (the counter; constant cost at any tenant size); 0 when none was ever issued."""
    statement = select(SeatCounter.active).where(SeatCounter.tenant_id == tenant_id, SeatCounter.kind == kind)
    return int((await session.execute(statement)).scalar_one_or_none() or 0)


def _days(tenant_id: uuid.UUID, kind: SeatKind) -> Select[Any]:
    return select(SeatUsageDay).where(SeatUsageDay.tenant_id == tenant_id, SeatUsageDay.kind == kind)


async def _closing_before(session: AsyncSession, tenant_id: uuid.UUID, kind: SeatKind, day: dt.date) -> int | None:
    """The closing of the last ledger row before ``day`` (None: no row before it)."""
    statement = (
        select(SeatUsageDay.closing)
        .where(SeatUsageDay.tenant_id == tenant_id, SeatUsageDay.kind == kind, SeatUsageDay.day < day)
        .order_by(SeatUsageDay.day.desc())
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def _opening(session: AsyncSession, tenant_id: uuid.UUID, kind: SeatKind, day: dt.date) -> int:
    """Ids active at the start of ``day``: the last closing before it; with no row before it, the counter if the
    ledger has no row at all (nothing changed since the counters were set), else 0."""
    closing = await _closing_before(session, tenant_id, kind, day)
    if closing is not None:
        return closing
    any_row = (await session.execute(_days(tenant_id, kind).limit(1))).first()
    return 0 if any_row is not None else await active_ids(session, tenant_id, kind)


async def month_peak(
    session: AsyncSession, tenant_id: uuid.UUID, kind: SeatKind, month: dt.date, *, until: dt.date | None = None
) -> int:
    """The most ids of ``kind`` active on any day of ``month`` (its first day), counting days up to ``until``
    (JST, inclusive; the whole month when None): the greatest ``peak`` of the month's rows and the ids active
    when it began (the last closing before it). Reads at most one month of rows (≤ 31) and one row before."""
    first, last = month_bounds(month)
    if until is not None:
        last = min(last, until)
    peak_in_month = await session.execute(
        select(func.max(SeatUsageDay.peak)).where(
            SeatUsageDay.tenant_id == tenant_id,
            SeatUsageDay.kind == kind,
            SeatUsageDay.day >= first,
            SeatUsageDay.day <= last,
        )
    )
    in_month = peak_in_month.scalar_one_or_none()
    opening = await _opening(session, tenant_id, kind, first)
    return max(opening, int(in_month or 0))


@dataclass(frozen=True, slots=True)
class UsageDay:
    """One JST day of a month: the most self-registration and admin-side ids active that day."""

    day: dt.date
    self_registration: int
    admin: int


async def usage_days(
    session: AsyncSession, tenant_id: uuid.UUID, month: dt.date, *, until: dt.date | None = None
) -> list[UsageDay]:
    """Each day of ``month`` up to ``until`` (JST) with the day's peak per kind (a day without a change: the
    previous closing). At most 31 rows per kind are read."""
    first, last = month_bounds(month)
    if until is not None:
        last = min(last, until)
    series: dict[SeatKind, list[int]] = {}
    for kind in SeatKind:
        rows = await session.execute(_days(tenant_id, kind).where(SeatUsageDay.day >= first, SeatUsageDay.day <= last))
        by_day = {row.day: row for row in rows.scalars()}
        level = await _opening(session, tenant_id, kind, first)
        values = []
        for offset in range((last - first).days + 1):
            row = by_day.get(first + dt.timedelta(days=offset))
            values.append(max(level, row.peak) if row is not None else level)
            level = row.closing if row is not None else level
        series[kind] = values
    return [
        UsageDay(first + dt.timedelta(days=i), series[SeatKind.SELF_REGISTRATION][i], series[SeatKind.ADMIN][i])
        for i in range(max(0, (last - first).days + 1))
    ]


# --- Recount -------------------------------------------------------------------------------------------------------


async def counted_ids(session: AsyncSession, tenant_id: uuid.UUID, kind: SeatKind) -> int:
    """A real COUNT of the tenant's active accounts of ``kind`` (an index range on (tenant_id, role, login_id))."""
    statement = (
        select(func.count())
        .select_from(Account)
        .where(
            Account.tenant_id == tenant_id,
            Account.role.in_(roles_of(kind)),
            Account.disabled_at.is_(None),
        )
    )
    return int((await session.execute(statement)).scalar_one())


async def _lock_counter(session: AsyncSession, tenant_id: uuid.UUID, kind: SeatKind) -> int:
    """The counter, locked for this transaction (PostgreSQL: writers of the tenant's accounts wait, so the recount
    sees every change before it and none after it)."""
    statement = (
        select(SeatCounter.active).where(SeatCounter.tenant_id == tenant_id, SeatCounter.kind == kind).with_for_update()
    )
    return int((await session.execute(statement)).scalar_one_or_none() or 0)


async def reconcile(session: AsyncSession, tenant_id: uuid.UUID) -> dict[SeatKind, tuple[int, int]]:
    """Recount the tenant's active ids from the accounts and set the counters (and today's ledger row) to them.

    Returns {kind: (kept, counted)} for the kinds that differed (empty when the ledger was right). In the caller's
    transaction; a bulk path (``close_month`` runs it once per tenant before billing).
    """
    differed: dict[SeatKind, tuple[int, int]] = {}
    for kind in sorted(SeatKind, key=lambda k: k.value):  # the flush hook's lock order
        kept = await _lock_counter(session, tenant_id, kind)
        counted = await counted_ids(session, tenant_id, kind)
        if counted != kept:
            await ids_changed(session, tenant_id, kind, counted - kept)
            differed[kind] = (kept, counted)
    return differed


__all__ = [
    "LEDGER_OPENING",
    "UsageDay",
    "active_ids",
    "counted_ids",
    "ids_changed",
    "month_bounds",
    "month_peak",
    "reconcile",
    "roles_of",
    "seat_kind",
    "usage_days",
]
