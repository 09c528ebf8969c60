"""The admin home's collection progress per department and what needs attention (要対応).

Everything here reads the counters (``tenants.services._counts``) or a few rows from indexes that hold only what the
home lists: the page costs the same at 100 people and at 100,000.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, union_all
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
from tenants.services._counts import counters, status_totals
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
# the size of the tenant. The totals come from the counters, or count the same bounded index ranges. Pending
# corrections are read through ix_correction_requests_tenant_id_status: bounded by the requests waiting for an admin.
_IDENTITY_CHANGED = (
    Person.identity_changed_at.is_not(None),  # ix_people_identity_changed (partial)
    Person.admin_confirmed_at.is_not(None),
    Person.identity_changed_at > Person.admin_confirmed_at,
)
_DECLINED = (Person.declined_at.is_not(None), Person.status == CollectionStatus.DECLINED)  # ix_people_declined


async def needs_attention(session: AsyncSession, principal: Principal, *, limit: int = 10) -> Attention:
    """Unconfirmed numbers, identity changes after confirmation, declined people, locked payee links and pending
    corrections: ``limit`` rows of each and their totals, in a fixed number of bounded reads (about a dozen)."""
    unconfirmed_ids = await _recently_registered(session, principal, UNCONFIRMED, limit)
    identity_ids = await _ids(
        session,
        scoped(Person, principal)
        .with_only_columns(Person.id)
        .where(*_IDENTITY_CHANGED)
        .order_by(Person.identity_changed_at.desc(), Person.id.desc())
        .limit(limit),
    )
    declined_ids = await _ids(
        session,
        scoped(Person, principal)
        .with_only_columns(Person.id)
        .where(*_DECLINED)
        .order_by(Person.declined_at.desc(), Person.id.desc())
        .limit(limit),
    )
    locked = scoped(PayeeLink, principal).with_only_columns(PayeeLink.person_id).where(*LOCKED_LINK)
    locked_ids = list(
        dict.fromkeys(
            await _ids(session, locked.order_by(PayeeLink.locked_at.desc(), PayeeLink.id.desc()).limit(limit))
        )
    )
    pending = scoped(CorrectionRequest, principal).where(CorrectionRequest.status == RequestStatus.PENDING)
    requests = list(
        (await session.execute(pending.order_by(CorrectionRequest.created_at, CorrectionRequest.id).limit(limit)))
        .scalars()
        .all()
    )
    rows = await _rows(
        session,
        principal,
        {*unconfirmed_ids, *identity_ids, *declined_ids, *locked_ids, *(r.person_id for r in requests)},
    )
    totals = await status_totals(session, principal.tenant_id)
    return Attention(
        unconfirmed=_in_order(rows, unconfirmed_ids),
        unconfirmed_total=sum(totals.get(status, 0) for status in UNCONFIRMED),
        identity_changed=_in_order(rows, identity_ids),
        identity_changed_total=await _count(
            session, scoped(Person, principal).with_only_columns(Person.id).where(*_IDENTITY_CHANGED)
        ),
        declined=_in_order(rows, declined_ids),
        declined_total=totals.get(CollectionStatus.DECLINED, 0),
        corrections=[CorrectionRow(r, rows[r.person_id]) for r in requests if r.person_id in rows],
        corrections_total=await _count(session, pending.with_only_columns(CorrectionRequest.id)),
        duplicates_total=await count_open_duplicates(session, principal),
        locked_links=tuple(_in_order(rows, locked_ids)),
        locked_links_total=await _count(session, locked.distinct()),
    )


async def _recently_registered(
    session: AsyncSession, principal: Principal, statuses: Sequence[CollectionStatus], limit: int
) -> list[uuid.UUID]:
    """The ``limit`` people registered last among these statuses: ``limit`` rows per status, each a backward range
    of ``ix_people_tenant_id_status_registered_at``, in one statement; merged here."""
    per_status = [
        scoped(Person, principal)
        .with_only_columns(Person.registered_at, Person.id)
        .where(Person.status == status)
        .order_by(Person.registered_at.desc(), Person.id.desc())
        .limit(limit)
        .subquery()
        for status in statuses
    ]
    statement = union_all(*(select(part.c.registered_at, part.c.id) for part in per_status))
    found = [(registered_at or _NEVER, person_id) for registered_at, person_id in await session.execute(statement)]
    found.sort(reverse=True)
    return [person_id for _, person_id in found[:limit]]


_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


async def _ids(session: AsyncSession, statement: Select[Any]) -> list[uuid.UUID]:
    return list((await session.execute(statement)).scalars())


async def _count(session: AsyncSession, statement: Select[Any]) -> int:
    return int((await session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one())


async def _rows(session: AsyncSession, principal: Principal, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, NumberRow]:
    """These people as the lists show them, by id (primary-key reads)."""
    if not ids:
        return {}
    rows = await number_rows(session, None, principal, joined_people(principal).where(Person.id.in_(list(ids))))
    return {row.person.id: row for row in rows}


def _in_order(rows: Mapping[uuid.UUID, NumberRow], ids: Sequence[uuid.UUID]) -> list[NumberRow]:
    return [rows[i] for i in ids if i in rows]
