"""Counts of people for pages, read from the counters ``tenants.listing`` keeps (never by counting people).

A tenant has at most (departments + 1) × 3 kinds × 7 statuses counter rows, so every function here costs the same
at 100 people and at 100,000. The one count that is not a counter, people on either side of an unsettled
重複の疑い, is read from the open cases (index ``ix_number_duplicates_tenant_id_status``): bounded by the cases an
admin has to settle, not by the tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from tenants.models import NO_DEPARTMENT, CollectionStatus, NumberDuplicate, PeopleCount, PersonKind
from tenants.services._duplicates import open_cases

CounterKey = tuple[uuid.UUID, PersonKind, CollectionStatus]  # list department (NO_DEPARTMENT for none), kind, status


async def count_people(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    department_id: uuid.UUID | None = None,
    no_department: bool = False,
    kinds: Collection[PersonKind] | None = None,
    statuses: Collection[CollectionStatus] | None = None,
) -> int:
    """How many people of the tenant are in this list department (a dependant's is its employee's), of these
    kinds and in these statuses; ``None`` means any. Reads at most (departments × kinds × statuses) counter rows."""
    statement = select(func.coalesce(func.sum(PeopleCount.count), 0)).where(PeopleCount.tenant_id == tenant_id)
    if department_id is not None:
        statement = statement.where(PeopleCount.department_id == department_id)
    elif no_department:
        statement = statement.where(PeopleCount.department_id == NO_DEPARTMENT)
    if kinds is not None:
        statement = statement.where(PeopleCount.kind.in_(list(kinds)))
    if statuses is not None:
        statement = statement.where(PeopleCount.status.in_(list(statuses)))
    return int((await session.execute(statement)).scalar_one())


async def counters(session: AsyncSession, tenant_id: uuid.UUID) -> dict[CounterKey, int]:
    """Every non-zero counter of the tenant: ``{(list department, kind, status): people}``.

    ``NO_DEPARTMENT`` holds employees without a department (and their dependants) and every payee; the kind tells
    them apart. One read of at most (departments + 1) × kinds × statuses rows.
    """
    statement = select(PeopleCount.department_id, PeopleCount.kind, PeopleCount.status, PeopleCount.count).where(
        PeopleCount.tenant_id == tenant_id, PeopleCount.count != 0
    )
    return {
        (department_id, PersonKind(kind), CollectionStatus(status)): count
        for department_id, kind, status, count in (await session.execute(statement)).all()
    }


async def status_totals(session: AsyncSession, tenant_id: uuid.UUID) -> dict[CollectionStatus, int]:
    """How many of the tenant's people stand in each status, every department and kind together."""
    statement = (
        select(PeopleCount.status, func.sum(PeopleCount.count))
        .where(PeopleCount.tenant_id == tenant_id)
        .group_by(PeopleCount.status)
    )
    return {CollectionStatus(status): int(total or 0) for status, total in (await session.execute(statement)).all()}


async def count_duplicate_people(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """How many people are on either side of an unsettled 重複の疑い (each once), read from the open cases."""
    mine = select(NumberDuplicate.person_id.label("person_id")).where(
        NumberDuplicate.tenant_id == tenant_id, *open_cases()
    )
    theirs = select(NumberDuplicate.other_person_id.label("person_id")).where(
        NumberDuplicate.tenant_id == tenant_id, *open_cases()
    )
    people = union(mine, theirs).subquery()
    return int((await session.execute(select(func.count()).select_from(people))).scalar_one())
