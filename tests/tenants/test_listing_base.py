"""Placement columns and counters follow ORM writes (tenants.listing's hook)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tenants.listing import recount, stored_counts
from tenants.models import NO_DEPARTMENT, CollectionStatus, Person, PersonKind, Relationship
from tests.support.people import make_department, make_dependant, make_employee, make_payee
from tests.support.world import World


async def test_placement_and_counts_follow_moves(db: AsyncSession, world: World) -> None:
    tenant_id = world.tenant.id
    sales = await make_department(db, tenant_id, "S01", "営業")
    dev = await make_department(db, tenant_id, "D01", "開発")
    employee = await make_employee(db, tenant_id, "E100", "山田 太郎", department=sales)
    child = await make_dependant(db, employee, "山田 花子")
    payee = await make_payee(db, tenant_id, "講師 佐藤")
    await db.commit()
    assert (child.family_id, child.family_rank, child.list_department_id) == (employee.id, 1, sales.id)
    assert (child.list_department_code, child.list_owner_code) == ("S01", "E100")
    assert (payee.department_section, payee.code_section) == (2, 2)
    assert await stored_counts(db, tenant_id) == await recount(db, tenant_id)

    employee.department_id = dev.id
    employee.employee_code = "E200"
    await db.commit()
    await db.refresh(child)
    assert (child.list_department_id, child.list_department_code, child.list_owner_code) == (dev.id, "D01", "E200")
    counts = await stored_counts(db, tenant_id)
    assert counts == await recount(db, tenant_id)
    assert counts[(tenant_id, dev.id, PersonKind.DEPENDANT, CollectionStatus.NOT_REGISTERED)] == 1

    dev.code = "D09"
    child.status = CollectionStatus.DECLINED
    await db.commit()
    await db.refresh(child)
    assert child.list_department_code == "D09"
    assert await stored_counts(db, tenant_id) == await recount(db, tenant_id)

    employee.department_id = None
    await db.commit()
    counts = await stored_counts(db, tenant_id)
    assert counts == await recount(db, tenant_id)
    assert counts[(tenant_id, NO_DEPARTMENT, PersonKind.DEPENDANT, CollectionStatus.DECLINED)] == 1

    await db.delete(child)
    await db.commit()
    assert await stored_counts(db, tenant_id) == await recount(db, tenant_id)


async def test_a_dependant_added_in_the_same_flush_as_its_employee_is_listed_under_them(
    db: AsyncSession, world: World
) -> None:
    tenant_id = world.tenant.id
    sales = await make_department(db, tenant_id, "S07", "営業")
    employee = Person(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        kind=PersonKind.EMPLOYEE,
        employee_code="E700",
        name="山田 太郎",
        department_id=sales.id,
        hire_date=dt.date(2020, 4, 1),
    )
    child = Person(
        tenant_id=tenant_id,
        kind=PersonKind.DEPENDANT,
        employee_id=employee.id,
        name="山田 花子",
        relationship=Relationship.CHILD,
        birth_date=dt.date(2015, 1, 1),
    )
    db.add_all([child, employee])  # the dependant first: the hook must still place it from its employee
    await db.commit()
    assert (child.family_id, child.list_department_id) == (employee.id, sales.id)
    assert (child.list_department_code, child.list_owner_code) == ("S07", "E700")
    counts = await stored_counts(db, tenant_id)
    assert counts == await recount(db, tenant_id)
    assert counts[(tenant_id, sales.id, PersonKind.DEPENDANT, CollectionStatus.NOT_REGISTERED)] == 1
