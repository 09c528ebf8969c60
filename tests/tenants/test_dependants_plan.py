"""An employee's dependants (the /me page, the employee page, the dependant counts of the people list) are read
through the (tenant_id, employee_id, kind) index, whatever the statistics: SQLite without sqlite_stat1 once chose
(tenant_id, kind, status) and read all 150,000 dependants of the tenant for one employee's page."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role
from app.auth.principal import Principal
from app.db import new_id, refresh_statistics
from app.tenancy import TenantKind
from tenants.models import CollectionStatus, Person, PersonKind, Relationship
from tenants.services import list_dependants
from tenants.services._employees import _dependant_counts
from tests.support.plans import captured, plan_of, sent_to
from tests.support.world import World

INDEX = "ix_people_tenant_id_employee_id_kind"
EMPLOYEES = 300
DEPENDANTS_EACH = 3


def principal_of(world: World) -> Principal:
    admin = world.admin
    return Principal(
        account_id=admin.account.id,
        tenant_id=admin.tenant.id,
        tenant_code=admin.tenant.code,
        tenant_name=admin.tenant.name,
        tenant_kind=TenantKind.COMPANY,
        login_id=admin.account.login_id,
        name=admin.account.name,
        role=Role.ADMIN,
        totp_enabled=True,
        person_id=None,
        stepup_fresh=False,
    )


@pytest.fixture
async def families(db: AsyncSession, world: World) -> list[uuid.UUID]:
    """Employees with their dependants, payees, in bulk (the counters are not needed here)."""
    tenant_id = world.tenant.id
    employees = [new_id() for _ in range(EMPLOYEES)]
    rows = [
        {"tenant_id": tenant_id, "id": e, "kind": PersonKind.EMPLOYEE, "name": f"社員 {n}", "employee_code": f"{n:05d}"}
        for n, e in enumerate(employees)
    ]
    for e in employees:
        rows += [
            {
                "tenant_id": tenant_id,
                "id": new_id(),
                "kind": PersonKind.DEPENDANT,
                "name": "家族",
                "employee_id": e,
                "relationship": Relationship.CHILD,
                "status": CollectionStatus.NOT_REGISTERED,
            }
            for _ in range(DEPENDANTS_EACH)
        ]
    rows += [{"tenant_id": tenant_id, "id": new_id(), "kind": PersonKind.PAYEE, "name": "取引先"} for _ in range(100)]
    for start in range(0, len(rows), 500):
        await db.execute(insert(Person), rows[start : start + 500])
    await db.commit()
    return employees


async def forget_statistics(db: AsyncSession) -> None:
    if db.get_bind().dialect.name == "sqlite":
        await db.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
        await db.commit()


async def analyze(db: AsyncSession) -> None:
    await refresh_statistics(db, ["people"])
    await db.commit()


@pytest.mark.parametrize("statistics", [forget_statistics, analyze], ids=["no statistics", "analyzed"])
async def test_an_employees_dependants_are_read_through_the_employee_index(
    db: AsyncSession, world: World, families: list[uuid.UUID], statistics: object
) -> None:
    await statistics(db)  # type: ignore[operator]
    employee = await db.get(Person, (world.tenant.id, families[7]))
    assert employee is not None

    with captured(db) as sent:
        dependants = await list_dependants(db, principal_of(world), employee)
    plan = await plan_of(db, sent_to(sent, "people"))

    assert len(dependants) == DEPENDANTS_EACH
    assert INDEX in plan, plan
    assert "ix_people_tenant_id_kind_status" not in plan, plan


@pytest.mark.parametrize("statistics", [forget_statistics, analyze], ids=["no statistics", "analyzed"])
async def test_the_dependant_counts_of_a_list_page_use_the_employee_index(
    db: AsyncSession, world: World, families: list[uuid.UUID], statistics: object
) -> None:
    await statistics(db)  # type: ignore[operator]

    with captured(db) as sent:
        counts = await _dependant_counts(db, principal_of(world), families[:50])
    plan = await plan_of(db, sent_to(sent, "people"))

    assert set(counts.values()) == {DEPENDANTS_EACH}
    assert INDEX in plan, plan
