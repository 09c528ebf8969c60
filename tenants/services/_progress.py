"""The admin home's collection progress per department and what needs attention (要対応).

Everything here reads the counters (``tenants.services._counts``) or a few rows from indexes that hold only what the
home lists: the page costs the same at 100 people and at 100,000.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.auth.scoping import scoped
from tenants.models import (
    LOCKED_LINK,
    CollectionStatus,
    CorrectionRequest,
    PayeeLink,
    Person,
    PersonKind,
    RequestStatus,
)
from tenants.services._counts import count_people, counters
from tenants.services._departments import list_departments
from tenants.services._duplicates import count_open_duplicates
from tenants.services._numbers import CorrectionRow
from tenants.services._numbers_list import UNCONFIRMED, NumberRow, joined_people, number_rows


@dataclass(frozen=True, slots=True)
class Progress:
    """Collection progress of one group of people (a department, payees, or everyone)."""

    label: str
    code: str = ""
    registered: int = 0
    declined: int = 0
    total: int = 0

    @property
    def percent(self) -> int:
        return round(100 * self.registered / self.total) if self.total else 0

    @property
    def ratio(self) -> float:
        return self.registered / self.total if self.total else 0.0

    @property
    def declined_ratio(self) -> float:
        return self.declined / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class ProgressReport:
    """Progress per department (employees and their dependants), of payees, and overall."""

    departments: list[Progress]
    overall: Progress


async def collection_progress(session: AsyncSession, principal: Principal) -> ProgressReport:
    """Registered / total per department; people whose number was erased are not counted.

    From the counters (a dependant counts in its employee's department) and the department list: the cost grows
    with the departments, never with the people. Employees without a department (and their dependants) make
    部門未設定, payees 取引先; each shows only when someone is in it.
    """
    departments = await list_departments(session, principal)
    known = {department.id for department in departments}
    tallies: dict[str, list[int]] = {}
    for (department_id, kind, status), count in (await counters(session, principal.tenant_id)).items():
        if status is CollectionStatus.ERASED:
            continue
        key = "payee" if kind is PersonKind.PAYEE else (str(department_id) if department_id in known else "")
        tally = tallies.setdefault(key, [0, 0, 0])
        tally[0] += count if status.has_number else 0
        tally[1] += count if status is CollectionStatus.DECLINED else 0
        tally[2] += count
    groups = [Progress(d.name, d.code, *tallies.get(str(d.id), [0, 0, 0])) for d in departments]
    if tallies.get("", [0, 0, 0])[2]:
        groups.append(Progress("部門未設定", "", *tallies[""]))
    if tallies.get("payee", [0, 0, 0])[2]:
        groups.append(Progress("取引先", "", *tallies["payee"]))
    overall = Progress(
        "全体",
        "",
        sum(g.registered for g in groups),
        sum(g.declined for g in groups),
        sum(g.total for g in groups),
    )
    return ProgressReport(groups, overall)


@dataclass(frozen=True, slots=True)
class Attention:
    """要対応: a few rows of each kind (most recent first, corrections oldest first) and how many there are in all."""

    unconfirmed: list[NumberRow]
    unconfirmed_total: int
    identity_changed: list[NumberRow]
    declined: list[NumberRow]
    declined_total: int
    corrections: list[CorrectionRow]
    corrections_total: int
    duplicates_total: int = 0
    locked_links: tuple[NumberRow, ...] = ()  # payees whose link locked after repeated wrong entries
    identity_changed_total: int = 0
    locked_links_total: int = 0


# Each list below is a range read of an index that holds only what it lists (tenants.models): a few rows, whatever
# the size of the tenant. The totals come from the counters, or count the same bounded index ranges.
_IDENTITY_CHANGED = (
    Person.identity_changed_at.is_not(None),  # ix_people_identity_changed (partial)
    Person.admin_confirmed_at.is_not(None),
    Person.identity_changed_at > Person.admin_confirmed_at,
)
_DECLINED = (Person.declined_at.is_not(None), Person.status == CollectionStatus.DECLINED)  # ix_people_declined


async def needs_attention(session: AsyncSession, principal: Principal, *, limit: int = 10) -> Attention:
    """Unconfirmed numbers, identity changes after confirmation, declined people, locked payee links and pending
    corrections: ``limit`` rows of each and their totals, in a bounded number of index-range reads."""
    tenant_id = principal.tenant_id
    identity_ids = await _ids(
        session,
        scoped(Person, principal)
        .where(*_IDENTITY_CHANGED)
        .order_by(Person.identity_changed_at.desc(), Person.id.desc()),
        limit,
    )
    declined_ids = await _ids(
        session,
        scoped(Person, principal).where(*_DECLINED).order_by(Person.declined_at.desc(), Person.id.desc()),
        limit,
    )
    locked = (
        scoped(PayeeLink, principal)
        .where(*LOCKED_LINK)
        .with_only_columns(PayeeLink.person_id)
        .order_by(PayeeLink.locked_at.desc(), PayeeLink.id.desc())
        .limit(limit)
    )
    locked_ids = list(dict.fromkeys((await session.execute(locked)).scalars()))
    corrections, corrections_total = await _pending_corrections(session, principal, limit)
    return Attention(
        unconfirmed=await _rows(session, principal, await _recently_registered(session, principal, UNCONFIRMED, limit)),
        unconfirmed_total=await count_people(session, tenant_id, statuses=UNCONFIRMED),
        identity_changed=await _rows(session, principal, identity_ids),
        identity_changed_total=await _count(
            session, scoped(Person, principal).with_only_columns(Person.id).where(*_IDENTITY_CHANGED)
        ),
        declined=await _rows(session, principal, declined_ids),
        declined_total=await count_people(session, tenant_id, statuses=[CollectionStatus.DECLINED]),
        corrections=corrections,
        corrections_total=corrections_total,
        duplicates_total=await count_open_duplicates(session, principal),
        locked_links=tuple(await _rows(session, principal, locked_ids)),
        locked_links_total=await _count(
            session, scoped(PayeeLink, principal).where(*LOCKED_LINK).with_only_columns(PayeeLink.person_id).distinct()
        ),
    )


async def _recently_registered(
    session: AsyncSession, principal: Principal, statuses: Sequence[CollectionStatus], limit: int
) -> list[uuid.UUID]:
    """The ``limit`` people registered last among these statuses: ``limit`` rows per status from
    ``ix_people_tenant_id_status_registered_at``, merged."""
    found: list[tuple[dt.datetime, uuid.UUID]] = []
    for status in statuses:
        statement = (
            scoped(Person, principal)
            .with_only_columns(Person.registered_at, Person.id)
            .where(Person.status == status)
            .order_by(Person.registered_at.desc(), Person.id.desc())
            .limit(limit)
        )
        found.extend(
            (registered_at or _NEVER, person_id) for registered_at, person_id in await session.execute(statement)
        )
    found.sort(reverse=True)
    return [person_id for _, person_id in found[:limit]]


_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


async def _ids(session: AsyncSession, statement: Select[Any], limit: int) -> list[uuid.UUID]:
    return list((await session.execute(statement.with_only_columns(Person.id).limit(limit))).scalars())


async def _count(session: AsyncSession, statement: Select[Any]) -> int:
    return int((await session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one())


async def _rows(session: AsyncSession, principal: Principal, ids: Sequence[uuid.UUID]) -> list[NumberRow]:
    """These people as the lists show them, in this order (primary-key reads)."""
    if not ids:
        return []
    rows = await number_rows(session, None, principal, joined_people(principal).where(Person.id.in_(list(ids))))
    by_id = {row.person.id: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]


async def _pending_corrections(
    session: AsyncSession, principal: Principal, limit: int
) -> tuple[list[CorrectionRow], int]:
    """The oldest ``limit`` pending correction requests with their people, and how many are pending (both read
    through ``ix_correction_requests_tenant_id_status``: bounded by the requests waiting for an admin)."""
    pending = scoped(CorrectionRequest, principal).where(CorrectionRequest.status == RequestStatus.PENDING)
    total = await _count(session, pending.with_only_columns(CorrectionRequest.id))
    requests = list(
        (await session.execute(pending.order_by(CorrectionRequest.created_at, CorrectionRequest.id).limit(limit)))
        .scalars()
        .all()
    )
    people = {row.person.id: row for row in await _rows(session, principal, [r.person_id for r in requests])}
    rows = [CorrectionRow(request, people[request.person_id]) for request in requests if request.person_id in people]
    return rows, total
