"""Dependants (扶養家族) of an employee, as the admin keeps them."""

from __future__ import annotations

from typing import Any

from litestar.exceptions import NotFoundException
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.auth.scoping import scoped
from app.forms import Checker
from app.text import format_date
from tenants.models import Person, PersonKind, Relationship
from tenants.schemas import DependantForm
from tenants.services._people import (
    add_person,
    apply_changes,
    get_of_kind,
    kana_field,
    name_field,
    require_writer,
    today,
)

RELATIONSHIPS = {r.value: r.value for r in Relationship}


async def list_dependants(session: AsyncSession, principal: Principal, employee: Person) -> list[Person]:
    """The employee's dependants in the order they were added."""
    rows = await session.execute(
        scoped(Person, principal)
        .where(Person.kind == PersonKind.DEPENDANT, Person.employee_id == employee.id)
        .order_by(Person.created_at, Person.id)
    )
    return list(rows.scalars())


async def get_dependant(session: AsyncSession, principal: Principal, employee: Person, dependant_id: str) -> Person:
    """A dependant of this employee (404 for anyone else's)."""
    person = await get_of_kind(session, principal, dependant_id, PersonKind.DEPENDANT)
    if person.employee_id != employee.id:
        raise NotFoundException()
    return person


def dependant_form(person: Person) -> DependantForm:
    """The dependant form filled from a stored dependant (the edit page and partial updates start from it)."""
    return DependantForm(
        name=person.name,
        kana=person.kana,
        relationship=person.relationship.value if person.relationship else "",
        birth_date=format_date(person.birth_date),
    )


def _dependant_values(form: DependantForm) -> dict[str, Any]:
    check = Checker()
    values: dict[str, Any] = {
        "name": name_field(check, "name", form.name, "氏名", required=True),
        "kana": kana_field(check, "kana", form.kana, required=False),
        "relationship": check.choice("relationship", form.relationship, "続柄", RELATIONSHIPS),
        "birth_date": check.date("birth_date", form.birth_date, "生年月日", birth=True, today=today()),
    }
    check.done()
    values["relationship"] = Relationship(values["relationship"])
    return values


async def add_dependant(session: AsyncSession, principal: Principal, employee: Person, form: DependantForm) -> Person:
    """Add a dependant under an employee (続柄 from the fixed list)."""
    require_writer(principal)
    values = {**_dependant_values(form), "employee_id": employee.id}
    person = await add_person(session, principal, PersonKind.DEPENDANT, values, "扶養家族の追加")
    return person


async def update_dependant(
    session: AsyncSession, principal: Principal, person: Person, form: DependantForm
) -> list[str]:
    """Save the edited dependant; returns the names of the fields that changed."""
    require_writer(principal)
    return await apply_changes(session, principal, person, _dependant_values(form), "扶養家族情報の修正")
