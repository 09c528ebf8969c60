"""Where each person stands in the lists and how many stand where, kept on write so no page reads a whole tenant.

Two things are derived from people and kept in the same transaction as every change that affects them:

* the **placement** columns on ``people`` (family, list department and its code, the employee's 社員コード, the
  sections that put missing values last), which the masked list's sort indexes read (``tenants.models.LIST_SORTS``);
* the **counters** in ``people_counts`` per (tenant, list department, kind, status), which every count on a page reads;
* a dependant's inherited 削除予定日 (``tenants.due_following``), which the deletion lists and reminders read.

ORM writes are covered by a ``before_flush`` hook registered at import (every session of the app); bulk writes that
bypass the ORM use :func:`placement` for the rows they insert, :func:`count_deltas` for what their rows count, and
:func:`apply_count_deltas` in the same transaction. :func:`recount` counts from ``people`` itself, for tests and
``mnvault check counts`` (:func:`compare_counts`, :func:`repair_counts`).

Concurrency (the rules the hook follows, and bulk paths must too):

* Every write to a tenant's people first takes the tenant's operation-log chain head (``app.audit.log.hold_head``),
  the row lock every audited write takes anyway before its entry. Counter rows, dependants moved with their employee
  and department codes are then only written under it, so two transactions never lock them in opposite orders
  (a registration logs before it changes the status; a confirmation changes the status before it logs).
* What a change is counted from is read from the database under that lock (``SELECT ... FOR UPDATE``), not from the
  session's possibly stale copy, and each counter is moved by adding a delta (``count = count + delta``), never by
  writing a total: concurrent writers neither lose each other's changes nor count one twice.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    String,
    and_,
    delete,
    event,
    func,
    inspect,
    not_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified, set_committed_value

from app.audit.log import hold_head
from app.db import new_id
from tenants.due_following import follow_due_dates
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
# What placement and counters are computed from: a change to any of these places the person again.
PLACEMENT_INPUTS = ("kind", "status", "employee_code", "department_id", "employee_id", "registered_at")
# What a dependant takes from its employee.
FOLLOWED = ("list_department_id", "list_department_code", "list_owner_code", "department_section", "code_section")
_CHUNK = 1000  # ids per IN list


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
        "registered_section": registered_section(registered),
    }


def registered_section(registered: bool) -> int:
    """The placement's registered section: 0 for a person with a registration time (a number given), 1 without."""
    return 0 if registered else 1


def count_key(tenant_id: uuid.UUID, list_department_id: uuid.UUID | None, kind: Any, status: Any) -> CountKey:
    """The counter a person with these values is counted in (``NO_DEPARTMENT`` for none and for payees)."""
    return (tenant_id, list_department_id or NO_DEPARTMENT, PersonKind(kind), CollectionStatus(status))


def count_deltas(rows: Iterable[Mapping[str, Any]], sign: int = 1) -> CountDeltas:
    """What inserting (``sign=1``) or deleting (``sign=-1``) these people rows changes in the counters.

    Each row needs ``tenant_id``, ``list_department_id`` (from :func:`placement`), ``kind`` and ``status`` (a row
    without ``status`` is 未登録, the column default). For a row whose status changes, add ``-1`` for the old
    values and ``+1`` for the new ones.
    """
    deltas: CountDeltas = Counter()
    for row in rows:
        status = row.get("status") or CollectionStatus.NOT_REGISTERED
        deltas[count_key(row["tenant_id"], row.get("list_department_id"), row["kind"], status)] += sign
    return deltas


# Counters -----------------------------------------------------------------------------------------------------------


def _upsert(dialect: str, key: CountKey, delta: int) -> Any:
    tenant_id, department_id, kind, status = key
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(PeopleCount).values(
        tenant_id=tenant_id, department_id=department_id, kind=kind, status=status, count=delta
    )
    # A delta, never a total: the row lock makes a concurrent writer add to the value this one wrote.
    return statement.on_conflict_do_update(
        index_elements=["tenant_id", "department_id", "kind", "status"],
        set_={"count": PeopleCount.count + delta},
    )


def _normalised(deltas: Mapping[Any, int]) -> CountDeltas:
    merged: CountDeltas = Counter()
    for key, delta in deltas.items():
        merged[count_key(*key)] += delta
    return merged


def _apply_sync(session: Session, deltas: Mapping[CountKey, int]) -> None:
    """Upsert the non-zero deltas in one fixed order (the caller holds the tenants' chain heads)."""
    dialect = session.get_bind().dialect.name
    for key in sorted((k for k, v in deltas.items() if v), key=lambda k: (k[0], k[1], k[2].value, k[3].value)):
        session.execute(_upsert(dialect, key, deltas[key]))


def _hold_sync(session: Session, tenant_ids: Iterable[uuid.UUID]) -> None:
    for tenant_id in sorted(set(tenant_ids)):  # the order record_many takes heads in
        hold_head(session, tenant_id)


async def hold_people(session: AsyncSession, tenant_ids: Collection[uuid.UUID]) -> None:
    """Take what every writer of these tenants' people takes first (their chain heads), to the end of the
    transaction. Bulk paths call it before they read what placement needs (department codes, employees) and before
    they write people rows outside the ORM; :func:`apply_count_deltas` takes it too."""
    await session.run_sync(lambda sync: _hold_sync(sync, tenant_ids))


async def apply_count_deltas(session: AsyncSession, deltas: Mapping[Any, int]) -> None:
    """Add these changes to the counters in the caller's transaction (bulk paths that bypass the ORM).

    ``deltas`` maps ``(tenant_id, list_department_id or None, kind, status)`` to a signed change, e.g. from
    :func:`count_deltas`; keys are normalised (``None`` → ``NO_DEPARTMENT``, strings → enums) and merged, zeros
    skipped. Takes the tenants' chain heads first (:func:`hold_people`), then upserts in a fixed order, so it may run
    beside the ORM hook and other bulk writers without deadlocks. Call it once per transaction with all the
    changes, after the rows are written and before the commit; it neither commits nor flushes.
    """
    merged = _normalised(deltas)
    if not any(merged.values()):
        return

    def apply(sync: Session) -> None:
        _hold_sync(sync, (key[0] for key, delta in merged.items() if delta))
        _apply_sync(sync, merged)

    await session.run_sync(apply)


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


def _known_values(tenant_id: uuid.UUID) -> ColumnElement[bool]:
    """The tenant's counter rows whose kind and status are ones this version knows (compared as stored text: a
    row written by hand or by another version would not read back as its enum)."""
    return and_(
        PeopleCount.tenant_id == tenant_id,
        type_coerce(PeopleCount.kind, String).in_([kind.value for kind in PersonKind]),
        type_coerce(PeopleCount.status, String).in_([status.value for status in CollectionStatus]),
    )


async def remove_unknown_counts(session: AsyncSession, tenant_id: uuid.UUID, *, dry_run: bool = False) -> int:
    """How many of the tenant's counter rows have a kind or status this version does not know (no page can read
    them: a restore from another version, a hand edit); they are deleted unless ``dry_run``, in the caller's
    transaction."""
    unknown = and_(PeopleCount.tenant_id == tenant_id, not_(_known_values(tenant_id)))
    found = int((await session.execute(select(func.count()).select_from(PeopleCount).where(unknown))).scalar_one())
    if found and not dry_run:
        await session.execute(delete(PeopleCount).where(unknown).execution_options(synchronize_session=False))
    return found


async def stored_counts(session: AsyncSession, tenant_id: uuid.UUID) -> dict[CountKey, int]:
    """The counters as kept (zero rows and rows of unknown values left out)."""
    rows = await session.execute(select(PeopleCount).where(_known_values(tenant_id)))
    return {
        count_key(tenant_id, row.department_id, row.kind, row.status): row.count for row in rows.scalars() if row.count
    }


async def compare_counts(session: AsyncSession, tenant_id: uuid.UUID) -> dict[CountKey, tuple[int, int]]:
    """``{key: (kept, counted)}`` for the tenant's counters that differ from a full recount.

    Holds the tenant's people (:func:`hold_people`) to the end of the caller's transaction first, so no writer
    changes people or counters between the two reads; the caller ends the transaction (commit or rollback).
    """
    await hold_people(session, [tenant_id])
    counted = await recount(session, tenant_id)
    kept = await stored_counts(session, tenant_id)
    return {
        key: (kept.get(key, 0), counted.get(key, 0))
        for key in set(counted) | set(kept)
        if kept.get(key, 0) != counted.get(key, 0)
    }


async def repair_counts(session: AsyncSession, tenant_id: uuid.UUID) -> dict[CountKey, tuple[int, int]]:
    """Set the tenant's counters to a full recount; returns ``{key: (kept, counted)}`` for those that differed.

    In the caller's transaction (commit to keep the repair).
    """
    wrong = await compare_counts(session, tenant_id)
    if wrong:
        await apply_count_deltas(session, {key: now - was for key, (was, now) in wrong.items()})
    return wrong


# The hook -----------------------------------------------------------------------------------------------------------


def _changed(obj: Any, attributes: Iterable[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in attributes)


def _locked_rows(session: Session, people: Sequence[Person]) -> dict[uuid.UUID, RowMapping]:
    """The rows of these people as the database has them, locked: what their change is counted from."""
    names = ("tenant_id", "id", *PLACEMENT_INPUTS, *PLACEMENT_COLUMNS)
    columns = [getattr(Person, name) for name in names]
    by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
    for person in people:
        by_tenant.setdefault(person.tenant_id, []).append(person.id)
    rows: dict[uuid.UUID, RowMapping] = {}
    for tenant_id, ids in sorted(by_tenant.items()):
        ids.sort()
        for start in range(0, len(ids), _CHUNK):
            statement = (
                select(*columns)
                .where(Person.tenant_id == tenant_id, Person.id.in_(ids[start : start + _CHUNK]))
                .order_by(Person.id)
                .with_for_update()
            )
            rows.update((row["id"], row) for row in session.execute(statement).mappings())
    return rows


class _Placer:
    """Places the people of one flush: employees first, so their dependants read the new values."""

    def __init__(self, session: Session, departments: Iterable[Department]) -> None:
        self.session = session
        self.pending = {(d.tenant_id, d.id): d for d in departments}  # new or changed in this flush
        self.codes: dict[tuple[uuid.UUID, uuid.UUID], str | None] = {}
        self.placed: dict[uuid.UUID, dict[str, Any]] = {}
        self.owners: dict[uuid.UUID, dict[str, Any]] = {}  # employees not in this flush, as the database has them

    def department_code(self, tenant_id: uuid.UUID, department_id: uuid.UUID | None) -> str | None:
        if department_id is None:
            return None
        key = (tenant_id, department_id)
        if key in self.pending:
            return self.pending[key].code
        if key not in self.codes:
            statement = select(Department.code).where(Department.tenant_id == tenant_id, Department.id == department_id)
            self.codes[key] = self.session.execute(statement).scalar_one_or_none()
        return self.codes[key]

    def owner(self, tenant_id: uuid.UUID, owner_id: uuid.UUID | None) -> Mapping[str, Any]:
        """The employee's placement: as placed in this flush, else as the database has it (never a stale copy)."""
        if owner_id is None:
            return {}
        if owner_id in self.placed:
            return self.placed[owner_id]
        if owner_id not in self.owners:
            statement = select(Person.list_department_id, Person.list_department_code, Person.list_owner_code).where(
                Person.tenant_id == tenant_id, Person.id == owner_id
            )
            row = self.session.execute(statement).mappings().first()
            self.owners[owner_id] = dict(row) if row is not None else {}
        return self.owners[owner_id]

    def place(self, person: Person, row: RowMapping | None) -> dict[str, Any]:
        """Set the person's placement; ``row`` is the locked database row of a person already stored."""

        def value(name: str) -> Any:  # what the row will hold: the change in this flush, else the database's
            return getattr(person, name) if row is None or _changed(person, (name,)) else row[name]

        kind = PersonKind(value("kind"))
        owner = self.owner(person.tenant_id, value("employee_id")) if kind is PersonKind.DEPENDANT else {}
        values = placement(
            person_id=person.id,
            kind=kind,
            employee_code=value("employee_code"),
            department_id=value("department_id"),
            registered=value("registered_at") is not None,
            owner_id=value("employee_id"),
            owner_code=owner.get("list_owner_code"),
            owner_department_id=owner.get("list_department_id"),
            department_code=(
                owner.get("list_department_code")
                if kind is PersonKind.DEPENDANT
                else self.department_code(person.tenant_id, value("department_id"))
            ),
        )
        for column, new in values.items():
            if row is None or new != row[column]:
                setattr(person, column, new)
                if row is not None:
                    flag_modified(person, column)  # written even when the session's copy already showed it
            elif getattr(person, column) != new:
                set_committed_value(person, column, new)  # a stale copy: the database is right already
        values.update(kind=kind, status=CollectionStatus(value("status") or CollectionStatus.NOT_REGISTERED))
        self.placed[person.id] = values
        return values


def _follow_department_code(session: Session, department: Department) -> None:
    """A department's code changed: everyone listed under it (dependants included) shows the new one."""
    session.execute(
        update(Person)
        .where(Person.tenant_id == department.tenant_id, Person.list_department_id == department.id)
        .values(list_department_code=department.code)
        .execution_options(synchronize_session=False)
    )
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Person) and obj.tenant_id == department.tenant_id:
            if inspect(obj).attrs.list_department_id.loaded_value == department.id:
                set_committed_value(obj, "list_department_code", department.code)


def _move_dependants(
    session: Session, employee: Person, values: Mapping[str, Any], in_flush: set[uuid.UUID], deltas: CountDeltas
) -> None:
    """An employee's department or code changed: their dependants follow (rows not otherwise in this flush)."""
    family: list[ColumnElement[bool]] = [
        Person.tenant_id == employee.tenant_id,
        Person.family_id == employee.id,
        Person.kind == PersonKind.DEPENDANT,
    ]
    if in_flush:
        family.append(Person.id.not_in(in_flush))
    counts = session.execute(
        select(Person.list_department_id, Person.status, func.count())
        .where(*family)
        .group_by(Person.list_department_id, Person.status)
    ).all()
    for department_id, status, count in counts:
        deltas[count_key(employee.tenant_id, department_id, PersonKind.DEPENDANT, status)] -= count
        deltas[count_key(employee.tenant_id, values["list_department_id"], PersonKind.DEPENDANT, status)] += count
    followed = {column: values[column] for column in FOLLOWED}
    session.execute(update(Person).where(*family).values(**followed).execution_options(synchronize_session=False))
    # Dependants loaded in this session must not keep the old values (a later flush places from them).
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Person) and obj.id != employee.id and obj.id not in in_flush:
            if obj.tenant_id == employee.tenant_id and inspect(obj).attrs.family_id.loaded_value == employee.id:
                for column, value in followed.items():
                    set_committed_value(obj, column, value)


@event.listens_for(Session, "before_flush")
def keep_lists(session: Session, _context: Any, _instances: Any) -> None:
    """Place new and changed people, move dependants with their employee, follow department codes, count."""
    people_new = [o for o in session.new if isinstance(o, Person)]
    people_dirty = [o for o in session.dirty if isinstance(o, Person) and session.is_modified(o)]
    people_deleted = [o for o in session.deleted if isinstance(o, Person)]
    departments = [o for o in session.dirty if isinstance(o, Department) and _changed(o, ("code",))]
    if not (people_new or people_dirty or people_deleted or departments):
        return
    with session.no_autoflush:
        tenants = {p.tenant_id for p in (*people_new, *people_dirty, *people_deleted)}
        _hold_sync(session, tenants | {d.tenant_id for d in departments})
        for department in departments:
            _follow_department_code(session, department)
        people_changed = [p for p in people_dirty if _changed(p, PLACEMENT_INPUTS)]
        rows = _locked_rows(session, [*people_changed, *people_deleted]) if people_changed or people_deleted else {}
        placer = _Placer(
            session,
            [o for o in (*session.new, *session.dirty) if isinstance(o, Department)],
        )
        deltas: CountDeltas = Counter()
        in_flush = {p.id for p in (*people_changed, *people_deleted)}
        for person in people_new:
            if person.id is None:
                person.id = new_id()
            if person.status is None:  # the column default, applied here so the counter knows it
                person.status = CollectionStatus.NOT_REGISTERED
        follow_due_dates(session, people_new, people_dirty)  # a dependant's 削除予定日 follows its employee's
        placing = [(p, None) for p in people_new] + [(p, rows[p.id]) for p in people_changed if p.id in rows]
        placing.sort(key=lambda item: PersonKind(item[0].kind) is PersonKind.DEPENDANT)  # employees first
        for person, row in placing:
            values = placer.place(person, row)
            if row is not None:
                deltas[count_key(person.tenant_id, row["list_department_id"], row["kind"], row["status"])] -= 1
            deltas[count_key(person.tenant_id, values["list_department_id"], values["kind"], values["status"])] += 1
            moved = row is not None and any(values[column] != row[column] for column in FOLLOWED)
            if moved and values["kind"] is PersonKind.EMPLOYEE:
                _move_dependants(session, person, values, in_flush, deltas)
        for person in people_deleted:
            if person.id in rows:
                row = rows[person.id]
                deltas[count_key(person.tenant_id, row["list_department_id"], row["kind"], row["status"])] -= 1
        _apply_sync(session, deltas)
