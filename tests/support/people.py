"""Arranging departments and people (with numbers) directly through the services, for tests."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor
from app.vault import Vault
from app.vault.numbers import my_number_check_digit
from tenants.models import Department, PayeeType, Person, PersonKind, Relationship
from tenants.services._records import Channel, register_number

ACTOR = Actor(user_id=None, login_id="test", name="テスト", role="管理者", organisation="test")


def valid_my_number(seed: int | None = None) -> str:
    """A random My Number with a correct check digit (not one repeated digit)."""
    rng = random.Random(seed)
    while True:
        base = "".join(rng.choice("0123456789") for _ in range(11))
        number = base + str(my_number_check_digit(base))
        if len(set(number)) > 1:
            return number


async def make_department(db: AsyncSession, tenant_id: object, code: str, name: str) -> Department:
    department = Department(tenant_id=tenant_id, code=code, name=name)
    db.add(department)
    await db.flush()
    return department


async def make_employee(
    db: AsyncSession,
    tenant_id: object,
    code: str | None,
    name: str,
    *,
    department: Department | None = None,
    kana: str = "",
    birth_date: dt.date | None = dt.date(1985, 4, 1),
) -> Person:
    person = Person(
        tenant_id=tenant_id,
        kind=PersonKind.EMPLOYEE,
        employee_code=code,
        name=name,
        kana=kana,
        birth_date=birth_date,
        department_id=department.id if department else None,
        hire_date=dt.date(2015, 4, 1),
    )
    db.add(person)
    await db.flush()
    return person


async def make_dependant(
    db: AsyncSession, employee: Person, name: str, relationship: Relationship = Relationship.CHILD
) -> Person:
    person = Person(
        tenant_id=employee.tenant_id,
        kind=PersonKind.DEPENDANT,
        employee_id=employee.id,
        name=name,
        relationship=relationship,
        birth_date=dt.date(2012, 6, 1),
    )
    db.add(person)
    await db.flush()
    return person


async def make_payee(
    db: AsyncSession, tenant_id: object, name: str, payee_type: PayeeType = PayeeType.INDIVIDUAL
) -> Person:
    person = Person(
        tenant_id=tenant_id,
        kind=PersonKind.PAYEE,
        name=name,
        payee_type=payee_type,
        payment_kind="報酬",
        address="東京都千代田区",
    )
    db.add(person)
    await db.flush()
    return person


async def give_number(
    db: AsyncSession, vault: Vault, person: Person, number: str, channel: Channel = Channel.PROXY
) -> None:
    await register_number(db, vault, actor=ACTOR, person=person, number=number, channel=channel)
    await db.flush()
