"""Where each person stands in the lists and how many stand where, kept on write so no page reads a whole tenant.

Two things are derived from people and kept in the same transaction as every change that affects them:

* the **placement** columns on ``people`` (family, list department and its code, the employee's 社員コード, the
  sections that put missing values last), which the masked list's sort indexes read (``tenants.models.LIST_SORTS``);
* the **counters** in ``people_counts`` per (tenant, list department, kind, status), which every count on a page reads.

ORM writes are covered by a ``before_flush`` hook registered at import (every session of the app); bulk writes that
bypass the ORM use :func:`placement` for the rows they insert and :func:`apply_count_deltas` for what they change.
:func:`recount` counts from ``people`` itself, for tests and ``mnvault check counts``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, event, func, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.db import new_id
from tenants.models import (
    NO_DEPARTMENT,
    CollectionStatus,
    Department,
    PeopleCount,
    Person,
    PersonKind,
)

CountKey = tuple[uuid.UUID, uuid.UUID, PersonKind, CollectionStatus]  # tenant, list department, kind, status
CountDeltas = Counter[CountKey]

PLACEMENT_COLUMNS = (
    "family_id",
    "family_rank",
    "list_department_id",
    "list_department_code",
    "list_owner_code",
    "department_section",
    "code_section",
    "registered_section",
)


def placement(
    *,
    person_id: uuid.UUID,
    kind: PersonKind,
    employee_code: str | None,
    department_id: uuid.UUID | None,
    registered: bool,
    owner_id: uuid.UUID | None = None,
    owner_code: str | None = None,
    owner_department_id: uuid.UUID | None = None,
    department_code: str | None = None,
) -> dict[str, Any]:
    """The placement columns of one person.

    ``owner_*`` describe a dependant's employee; ``department_code`` is the code of the list department (the
    employee's own, or the owner's for a dependant). Sections: 0 value present, 1 missing, 2 payee (always last).
    """
    if kind is PersonKind.DEPENDANT:
        family_id, rank, code, list_department = owner_id, 1, owner_code, owner_department_id
    elif kind is PersonKind.EMPLOYEE:
        family_id, rank, code, list_department = person_id, 0, employee_code, department_id
    else:
        family_id, rank, code, list_department = person_id, 0, None, None
    payee = kind is PersonKind.PAYEE
    return {
        "family_id": family_id,
        "family_rank": rank,
        "list_department_id": list_department,
        "list_department_code": (department_code or "") if list_department else "",
        "list_owner_code": code or "",
        "department_section": 2 if payee else (0 if list_department else 1),
        "code_section": 2 if payee else (0 if code else 1),
        "registered_section": 0 if registered else 1,
    }


def count_key(tenant_id: uuid.UUID, list_department_id: uuid.UUID | None, kind: Any, status: Any) -> CountKey:
    """The counter a person with these values is counted in."""
    return (tenant_id, list_department_id or NO_DEPARTMENT, PersonKind(kind), CollectionStatus(status))


# Counters -----------------------------------------------------------------------------------------------------------


def _upsert(dialect: str, key: CountKey, delta: int) -> Any:
    tenant_id, department_id, kind, status = key
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(PeopleCount).values(
        tenant_id=tenant_id, department_id=department_id, kind=kind, status=status, count=delta
    )
    return statement.on_conflict_do_update(
        index_elements=["tenant_id", "department_id", "kind", "status"],
        set_={"count": PeopleCount.count + delta},
    )


def _apply_sync(session: Session, deltas: Mapping[CountKey, int]) -> None:
    dialect = session.get_bind().dialect.name
    # A fixed order: two transactions moving people between the same counters never wait on each other in a cycle.
    for key in sorted((k for k, v in deltas.items() if v), key=lambda k: (str(k[0]), str(k[1]), k[2].value, k[3])):
        session.execute(_upsert(dialect, key, deltas[key]))


async def apply_count_deltas(session: AsyncSession, deltas: Mapping[CountKey, int]) -> None:
    """Add these changes to the counters in the caller's transaction (bulk paths that bypass the ORM)."""
    await session.run_sync(lambda sync: _apply_sync(sync, deltas))


async def recount(session: AsyncSession, tenant_id: uuid.UUID) -> dict[CountKey, int]:
    """The counters as a full count of the tenant's people gives them (proportional to the tenant: checks only)."""
    statement = (
        select(Person.list_department_id, Person.kind, Person.status, func.count())
        .where(Person.tenant_id == tenant_id)
        .group_by(Person.list_department_id, Person.kind, Person.status)
    )
    counts: Counter[CountKey] = Counter()
    for department_id, kind, status, count in (await session.execute(statement)).all():
        counts[count_key(tenant_id, department_id, kind, status)] += count
    return dict(counts)


async def stored_counts(session: AsyncSession, tenant_id: uuid.UUID) -> dict[CountKey, int]:
    """The counters as kept (zero rows left out)."""
    rows = await session.execute(select(PeopleCount).where(PeopleCount.tenant_id == tenant_id))
    return {
        count_key(tenant_id, row.department_id, row.kind, row.status): row.count for row in rows.scalars() if row.count
    }


async def repair_counts(session: AsyncSession, tenant_id: uuid.UUID) -> dict[CountKey, tuple[int, int]]:
    """Set the tenant's counters to a full recount; returns ``{key: (kept, counted)}`` for those that differed."""
    counted = await recount(session, tenant_id)
    kept = await stored_counts(session, tenant_id)
    wrong = {
        key: (kept.get(key, 0), counted.get(key, 0))
        for key in set(counted) | set(kept)
        if kept.get(key, 0) != counted.get(key, 0)
    }
    if wrong:
        await apply_count_deltas(session, {key: now - was for key, (was, now) in wrong.items()})
    return wrong


# The hook -----------------------------------------------------------------------------------------------------------


def _committed(obj: Any, attribute: str) -> Any:
    """The value in the database before this flush (active_history columns keep it)."""
    history = inspect(obj).attrs[attribute].history
    if history.deleted:
        return history.deleted[0]
    if history.unchanged:
        return history.unchanged[0]
    return getattr(obj, attribute)


def _department_code(session: Session, tenant_id: uuid.UUID, department_id: uuid.UUID | None) -> str | None:
    if department_id is None:
        return None
    department = session.get(Department, (tenant_id, department_id))
    return department.code if department is not None else None


def _place(session: Session, person: Person) -> None:
    if person.id is None:
        person.id = new_id()
    owner = None
    if person.kind is PersonKind.DEPENDANT and person.employee_id is not None:
        owner = session.get(Person, (person.tenant_id, person.employee_id))
    list_department = owner.department_id if owner is not None else person.department_id
    values = placement(
        person_id=person.id,
        kind=PersonKind(person.kind),
        employee_code=person.employee_code,
        department_id=person.department_id,
        registered=person.registered_at is not None,
        owner_id=person.employee_id,
        owner_code=owner.employee_code if owner is not None else None,
        owner_department_id=owner.department_id if owner is not None else None,
        department_code=_department_code(session, person.tenant_id, list_department),
    )
    for column, value in values.items():
        if getattr(person, column) != value:
            setattr(person, column, value)


def _move_dependants(session: Session, employee: Person, in_flush: set[uuid.UUID], deltas: CountDeltas) -> None:
    """An employee's department or code changed: their dependants follow (rows not otherwise in this flush)."""
    family: list[ColumnElement[bool]] = [
        Person.tenant_id == employee.tenant_id,
        Person.family_id == employee.id,
        Person.kind == PersonKind.DEPENDANT,
    ]
    if in_flush:
        family.append(Person.id.not_in(in_flush))
    moved = employee.list_department_id
    counts = session.execute(
        select(Person.list_department_id, Person.status, func.count())
        .where(*family)
        .group_by(Person.list_department_id, Person.status)
    ).all()
    for department_id, status, count in counts:
        deltas[count_key(employee.tenant_id, department_id, PersonKind.DEPENDANT, status)] -= count
        deltas[count_key(employee.tenant_id, moved, PersonKind.DEPENDANT, status)] += count
    session.execute(
        update(Person)
        .where(*family)
        .values(
            list_department_id=moved,
            list_department_code=employee.list_department_code,
            list_owner_code=employee.list_owner_code,
            department_section=employee.department_section,
            code_section=employee.code_section,
        )
        .execution_options(synchronize_session=False)
    )
    # Dependants loaded in this session must not keep the old values (a later flush counts from them).
    followed = ("list_department_id", "list_department_code", "list_owner_code", "department_section", "code_section")
    for obj in list(session.identity_map.values()):
        if not isinstance(obj, Person) or obj.id == employee.id or obj.id in in_flush:
            continue
        if obj.family_id == employee.id:
            for column in followed:
                set_committed_value(obj, column, getattr(employee, column))


def _changed(obj: Any, attributes: Iterable[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in attributes)


@event.listens_for(Session, "before_flush")
def keep_lists(session: Session, _context: Any, _instances: Any) -> None:
    """Place new and changed people, move dependants with their employee, follow department codes, count."""
    deltas: CountDeltas = Counter()
    people_new = [o for o in session.new if isinstance(o, Person)]
    people_dirty = [o for o in session.dirty if isinstance(o, Person) and session.is_modified(o)]
    people_deleted = [o for o in session.deleted if isinstance(o, Person)]
    departments = [o for o in session.dirty if isinstance(o, Department) and _changed(o, ("code",))]
    if not (people_new or people_dirty or people_deleted or departments):
        return
    with session.no_autoflush:
        in_flush = {p.id for p in people_dirty if p.kind is PersonKind.DEPENDANT}
        # Employees first: a dependant placed in the same flush reads its employee's new values.
        people_new.sort(key=lambda p: p.kind is PersonKind.DEPENDANT)
        people_dirty.sort(key=lambda p: p.kind is PersonKind.DEPENDANT)
        for person in people_new:
            if person.status is None:  # the column default, applied here so the counter knows it
                person.status = CollectionStatus.NOT_REGISTERED
            _place(session, person)
            deltas[count_key(person.tenant_id, person.list_department_id, person.kind, person.status)] += 1
        for person in people_dirty:
            before = count_key(
                person.tenant_id, _committed(person, "list_department_id"), person.kind, _committed(person, "status")
            )
            _place(session, person)
            after = count_key(person.tenant_id, person.list_department_id, person.kind, person.status)
            if before != after:
                deltas[before] -= 1
                deltas[after] += 1
            if person.kind is PersonKind.EMPLOYEE and _changed(
                person, ("list_department_id", "list_department_code", "list_owner_code")
            ):
                _move_dependants(session, person, in_flush, deltas)
        for person in people_deleted:
            key = count_key(
                person.tenant_id, _committed(person, "list_department_id"), person.kind, _committed(person, "status")
            )
            deltas[key] -= 1
        for department in departments:
            session.execute(
                update(Person)
                .where(Person.tenant_id == department.tenant_id, Person.list_department_id == department.id)
                .values(list_department_code=department.code)
                .execution_options(synchronize_session=False)
            )
        _apply_sync(session, deltas)
