"""Departments (部門) of a tenant: list with headcounts, add, rename."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.auth.scoping import get_scoped, scoped
from app.forms import Checker
from tenants.models import Department, Person, PersonKind
from tenants.schemas import DepartmentForm
from tenants.services._people import (
    code_field,
    counts_by_id,
    is_taken,
    log_change,
    require_writer,
    text_field,
    today,
)


async def list_departments(session: AsyncSession, principal: Principal) -> list[Department]:
    """The tenant's departments by code."""
    rows = await session.execute(scoped(Department, principal).order_by(Department.code))
    return list(rows.scalars())


async def department_headcounts(session: AsyncSession, principal: Principal) -> dict[uuid.UUID, int]:
    """Employees still in service per department."""
    statement = (
        scoped(Person, principal)
        .with_only_columns(Person.department_id, func.count())
        .where(
            Person.kind == PersonKind.EMPLOYEE,
            or_(Person.retirement_date.is_(None), Person.retirement_date > today()),
            Person.department_id.is_not(None),
        )
        .group_by(Person.department_id)
    )
    return counts_by_id(await session.execute(statement))


async def get_department(session: AsyncSession, principal: Principal, department_id: str) -> Department:
    return await get_scoped(session, Department, principal, department_id)


def department_fields(check: Checker, form: DepartmentForm) -> tuple[str, str]:
    """``(code, name)`` of the department form by the shared rules (whether the code is free needs the database)."""
    return code_field(check, "code", form.code, "部門コード"), text_field(
        check, "name", form.name, "部門名", required=True
    )


async def _department_values(
    session: AsyncSession, principal: Principal, form: DepartmentForm, current: Department | None
) -> dict[str, Any]:
    check = Checker()
    code, name = department_fields(check, form)
    if code and "code" not in check.errors and await is_taken(session, principal, Department.code, code, current):
        check.fail("code", "この部門コードは既に使われています。別のコードを入力してください。")
    check.done()
    return {"code": code, "name": name}


async def add_department(session: AsyncSession, principal: Principal, form: DepartmentForm) -> Department:
    """Add a department (code unique in the tenant)."""
    require_writer(principal)
    values = await _department_values(session, principal, form, None)
    department = Department(tenant_id=principal.tenant_id, **values)
    session.add(department)
    await session.flush()
    await log_change(session, principal, None, "部門の追加", {"event": "department_added", "code": department.code})
    return department


async def update_department(
    session: AsyncSession, principal: Principal, department: Department, form: DepartmentForm
) -> None:
    """Change a department's code or name."""
    require_writer(principal)
    values = await _department_values(session, principal, form, department)
    changed = [name for name, value in values.items() if getattr(department, name) != value]
    for name in changed:
        setattr(department, name, values[name])
    if changed:
        detail = {"event": "department_updated", "code": department.code, "fields": changed}
        await log_change(session, principal, None, "部門の修正", detail)
