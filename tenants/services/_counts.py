"""Counts of people for pages, read from the counters ``tenants.listing`` keeps (never by counting people)."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenants.models import NO_DEPARTMENT, CollectionStatus, PeopleCount, PersonKind


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


async def count_people_by_status(session: AsyncSession, tenant_id: uuid.UUID) -> dict[CollectionStatus, int]:
    """How many people of the tenant stand in each status (statuses with nobody left out); reads the counters."""
    statement = (
        select(PeopleCount.status, func.sum(PeopleCount.count))
        .where(PeopleCount.tenant_id == tenant_id)
        .group_by(PeopleCount.status)
    )
    return {CollectionStatus(status): int(count) for status, count in (await session.execute(statement)).all() if count}
