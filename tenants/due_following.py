"""A dependant's 削除予定日 follows its employee's, stored on the dependant's row so every list reads it as it is.

A dependant without a date of its own goes by its employee's (seed 003 削除予定日; ``tenants.services._erasure``).
The deletion list, its 削除予定日超過 filter, the admin home's reminder, ``mnvault deletions due`` and the daily mail
all read ``people.deletion_due_on`` along the partial index leading with ``tenant_id``: so the employee's date is
copied onto the dependants that follow it (``deletion_due_inherited``), and kept there on every ORM write by
:func:`follow_due_dates`, which ``tenants.listing``'s ``before_flush`` hook calls under the tenant's lock:

* an employee's date set, proposed, changed or cancelled: the dependants that follow it get the new date (or none),
  in one UPDATE over the family (``ix_people_tenant_id_employee_id_kind``), and their loaded copies too;
* a dependant added (or moved to another employee) that has no date of its own takes its employee's.

Each dependant whose date changed this way gets its own 削除予定日の変更 entry in the log, like the employee: the
hook notes them in the session (:func:`followed_dates`), the service that changed the employee's date writes the
entries with its actor (``tenants.services._deletion_due``), and a transaction that would commit noted changes
without their entries fails (:func:`refuse_unlogged_dates`).

A dependant follows while its date is inherited, or while it has no date and no note (a 予定解除 of its own leaves
the reason as the note: it stays cancelled; a date set by hand or proposed from its own end of 扶養 is its own and
wins). An erased number's date is history and never changes. Bulk inserts that bypass the ORM copy the date
themselves (``tenants.services.bulk``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, event, inspect, or_, select, update
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import set_committed_value

from tenants.models import CollectionStatus, Person, PersonKind

FOLLOWED_KEY = "tenants.due_followed"  # session.info: the FollowedDates not logged yet


@dataclass(frozen=True, slots=True)
class FollowedDates:
    """Dependants whose 削除予定日 followed their employee's in a flush: ``old`` -> ``new`` (JST dates; None: none)."""

    tenant_id: uuid.UUID
    employee_id: uuid.UUID
    old: dt.date | None
    new: dt.date | None
    dependant_ids: tuple[uuid.UUID, ...]


class UnloggedDeletionDue(RuntimeError):
    """A transaction changed dependants' 削除予定日 (following their employee) without their audit entries."""


def followed_dates(session: Session) -> list[FollowedDates]:
    """Take the dependants' followed dates noted in this session since the last call (the caller logs them)."""
    return list(session.info.pop(FOLLOWED_KEY, []))


def follows_employee(person: Person) -> bool:
    """Whether a dependant's 削除予定日 is its employee's: inherited, or none of its own and no 予定解除."""
    if person.kind is not PersonKind.DEPENDANT or person.employee_id is None:
        return False
    if person.status is CollectionStatus.ERASED:
        return False
    if person.deletion_due_inherited:
        return True
    return person.deletion_due_on is None and not person.deletion_due_note


def _following() -> ColumnElement[bool]:
    return or_(
        Person.deletion_due_inherited.is_(True),
        and_(Person.deletion_due_on.is_(None), Person.deletion_due_note == ""),
    )


def inherited_values(due: dt.date | None) -> dict[str, Any]:
    """What a following dependant's row holds when its employee's date is ``due``."""
    return {"deletion_due_on": due, "deletion_due_inherited": due is not None, "deletion_due_proposed": False}


def _changed(obj: Any, name: str) -> bool:
    return bool(inspect(obj).attrs[name].history.has_changes())


def _loaded(obj: Person, name: str) -> Any:
    return inspect(obj).attrs[name].loaded_value


def _follow_employee(session: Session, employee: Person, in_flush: set[uuid.UUID]) -> None:
    """The employee's date changed: the dependants following it (rows not otherwise in this flush) take it."""
    values = inherited_values(employee.deletion_due_on)
    family: list[ColumnElement[bool]] = [
        Person.tenant_id == employee.tenant_id,
        Person.employee_id == employee.id,
        Person.kind == PersonKind.DEPENDANT,
        Person.status != CollectionStatus.ERASED,
        _following(),
    ]
    if in_flush:
        family.append(Person.id.not_in(in_flush))
    # Rows already as they should be are left alone, so the ids returned are exactly the dates that changed.
    changes = or_(
        Person.deletion_due_on.is_distinct_from(values["deletion_due_on"]),
        Person.deletion_due_inherited.is_distinct_from(values["deletion_due_inherited"]),
        Person.deletion_due_proposed.is_distinct_from(values["deletion_due_proposed"]),
    )
    statement = update(Person).where(*family, changes).values(**values).returning(Person.id)
    changed = session.execute(statement.execution_options(synchronize_session=False)).all()
    history = inspect(employee).attrs.deletion_due_on.history
    old = history.deleted[0] if history.deleted else None
    moved = tuple(row.id for row in changed)  # a dependant's own date is never among them (not following)
    if moved:
        noted = session.info.setdefault(FOLLOWED_KEY, [])
        noted.append(FollowedDates(employee.tenant_id, employee.id, old, employee.deletion_due_on, moved))
    # Dependants loaded in this session must not keep the old date (a later flush or page reads them).
    for obj in list(session.identity_map.values()):
        if not isinstance(obj, Person) or obj.id in in_flush or obj.tenant_id != employee.tenant_id:
            continue
        if _loaded(obj, "employee_id") != employee.id or _loaded(obj, "kind") is not PersonKind.DEPENDANT:
            continue
        if _loaded(obj, "status") is CollectionStatus.ERASED:
            continue
        inherited = _loaded(obj, "deletion_due_inherited")
        if inherited or (_loaded(obj, "deletion_due_on") is None and not _loaded(obj, "deletion_due_note")):
            for column, value in values.items():
                set_committed_value(obj, column, value)


def follow_due_dates(session: Session, people_new: Sequence[Person], people_dirty: Sequence[Person]) -> None:
    """Keep the dependants' inherited 削除予定日 for the people of one flush (``tenants.listing.keep_lists``)."""
    for person in people_new:
        # The flags given on every new row alike: rows inserted together keep one parameter set (one statement,
        # so a dependant added before its employee in the same flush still finds it at the statement's end).
        for column in ("deletion_due_proposed", "deletion_due_inherited"):
            if getattr(person, column) is None:
                setattr(person, column, False)
    in_flush = {p.id for p in (*people_new, *people_dirty)}
    changed = [
        p for p in people_dirty if p.kind is PersonKind.EMPLOYEE and _changed(p, "deletion_due_on")
    ]  # a new employee has no stored dependants yet
    employees = {p.id: p for p in (*people_new, *people_dirty) if p.kind is PersonKind.EMPLOYEE}
    for employee in changed:
        _follow_employee(session, employee, in_flush)
    changed_ids = {p.id for p in changed}
    for person in (*people_new, *people_dirty):
        if not follows_employee(person):
            continue
        assert person.employee_id is not None
        is_new = person in people_new
        if not (is_new or person.employee_id in changed_ids or _changed(person, "employee_id")):
            continue
        owner = employees.get(person.employee_id)
        if owner is not None:
            due = owner.deletion_due_on
        else:
            statement = select(Person.deletion_due_on).where(
                Person.tenant_id == person.tenant_id, Person.id == person.employee_id
            )
            due = session.execute(statement).scalar_one_or_none()
        for column, value in inherited_values(due).items():
            if getattr(person, column) != value:
                setattr(person, column, value)


@event.listens_for(Session, "before_commit")
def refuse_unlogged_dates(session: Session) -> None:
    """Fail the commit of a transaction whose dependants' followed 削除予定日 have no audit entries yet: every change
    to a number's disposal is logged, or not made (raises :class:`UnloggedDeletionDue`)."""
    if session.info.get(FOLLOWED_KEY):
        raise UnloggedDeletionDue("扶養家族の削除予定日の変更が操作ログに記録されていません。")


@event.listens_for(Session, "after_soft_rollback")
def forget_followed_dates(session: Session, _previous: SessionTransaction) -> None:
    """What a rolled-back transaction noted was never written."""
    session.info.pop(FOLLOWED_KEY, None)
