"""The admin home's collection progress per department and what needs attention (要対応)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.auth.scoping import scoped
from tenants.models import CollectionStatus, Department, PayeeLink, Person, PersonKind
from tenants.services._departments import list_departments
from tenants.services._duplicates import count_open_duplicates
from tenants.services._numbers import CorrectionRow, list_corrections
from tenants.services._numbers_list import (
    UNCONFIRMED,
    NumberRow,
    dependant_last,
    joined_people,
    number_rows,
    owner_code,
)
from tenants.services._people import count_rows


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
    """Registered / total per department; people whose number was erased are not counted."""
    statement = (
        joined_people(principal)
        .with_only_columns(Department.id, Person.kind, Person.status, func.count())
        .where(Person.status != CollectionStatus.ERASED)
        .group_by(Department.id, Person.kind, Person.status)
    )
    tallies: dict[str, list[int]] = {}
    for department_id, kind, status, count in (await session.execute(statement)).all():
        key = "payee" if PersonKind(kind) is PersonKind.PAYEE else str(department_id or "")
        tally = tallies.setdefault(key, [0, 0, 0])
        status = CollectionStatus(status)
        tally[0] += count if status.has_number else 0
        tally[1] += count if status is CollectionStatus.DECLINED else 0
        tally[2] += count
    groups = [
        Progress(d.name, d.code, *tallies.get(str(d.id), [0, 0, 0])) for d in await list_departments(session, principal)
    ]
    if "" in tallies:
        groups.append(Progress("部門未設定", "", *tallies[""]))
    if "payee" in tallies:
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
    """要対応: a few rows of each kind and how many there are in all."""

    unconfirmed: list[NumberRow]
    unconfirmed_total: int
    identity_changed: list[NumberRow]
    declined: list[NumberRow]
    declined_total: int
    corrections: list[CorrectionRow]
    corrections_total: int
    duplicates_total: int = 0
    locked_links: tuple[NumberRow, ...] = ()  # payees whose link locked after repeated wrong entries


_IDENTITY_CHANGED = and_(
    Person.identity_changed_at.is_not(None),
    Person.admin_confirmed_at.is_not(None),
    Person.identity_changed_at > Person.admin_confirmed_at,
)


async def needs_attention(session: AsyncSession, principal: Principal, *, limit: int = 10) -> Attention:
    """Unconfirmed numbers, identity changes after confirmation, declined people and pending corrections."""
    family_order = [Department.code.is_(None), Department.code, owner_code.is_(None), owner_code, dependant_last]
    unconfirmed = joined_people(principal).where(Person.status.in_(UNCONFIRMED))
    declined = joined_people(principal).where(Person.status == CollectionStatus.DECLINED)
    changed = joined_people(principal).where(Person.status.in_((*UNCONFIRMED, CollectionStatus.ADMIN_CONFIRMED)))
    corrections = await list_corrections(session, None, principal)
    locked_ids = (
        scoped(PayeeLink, principal)
        .with_only_columns(PayeeLink.person_id)
        .where(PayeeLink.locked_at.is_not(None), PayeeLink.revoked_at.is_(None), PayeeLink.used_at.is_(None))
    )
    locked = joined_people(principal).where(Person.id.in_(locked_ids)).order_by(Person.name)
    return Attention(
        unconfirmed=await number_rows(session, None, principal, unconfirmed.order_by(*family_order).limit(limit)),
        unconfirmed_total=await count_rows(session, unconfirmed),
        identity_changed=await number_rows(
            session, None, principal, changed.where(_IDENTITY_CHANGED).order_by(*family_order).limit(limit)
        ),
        declined=await number_rows(session, None, principal, declined.order_by(Person.declined_at.desc()).limit(limit)),
        declined_total=await count_rows(session, declined),
        corrections=corrections[:limit],
        corrections_total=len(corrections),
        duplicates_total=await count_open_duplicates(session, principal),
        locked_links=tuple(await number_rows(session, None, principal, locked.limit(limit))),
    )
