"""Admin pages for departments (部門): the list with its add form, and the edit page."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, company_staff, number_handlers
from app.forms import Form, FormInvalid, scrubbed
from tenants import services
from tenants.controllers._people import can_edit
from tenants.models import Department
from tenants.schemas import DepartmentForm


class DepartmentController(Controller):
    path = "/admin/departments"
    guards = [company_staff]
    include_in_schema = False

    async def _page(
        self,
        db_session: AsyncSession,
        principal: Principal,
        form: DepartmentForm,
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        context = {
            "departments": await services.list_departments(db_session, principal),
            "headcounts": await services.department_headcounts(db_session, principal),
            "can_edit": can_edit(principal),
            "form": form,
            "errors": errors,
        }
        return Template(template_name="tenants/people/departments.html", context=context, status_code=status_code)

    @get("/", name="people_departments")
    async def department_list(self, db_session: AsyncSession, principal: Principal) -> Template:
        return await self._page(db_session, principal, DepartmentForm(), {})

    @post("/", name="people_department_create", guards=[number_handlers])
    async def department_create(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: Annotated[DepartmentForm, Form],
    ) -> Template | Redirect:
        try:
            department = await services.add_department(db_session, principal, data)
        except FormInvalid as exc:
            return await self._page(db_session, principal, scrubbed(data), exc.errors, status_code=400)
        flash(request, f"部門「{department.name}」を追加しました。", "success")
        return Redirect(path="/admin/departments")

    @get("/{department_id:str}/edit", name="people_department_edit", guards=[number_handlers])
    async def department_edit(self, db_session: AsyncSession, principal: Principal, department_id: str) -> Template:
        department = await services.get_department(db_session, principal, department_id)
        form = DepartmentForm(code=department.code, name=department.name)
        return _department_form_page(department, form, {})

    @post("/{department_id:str}/edit", name="people_department_update", guards=[number_handlers])
    async def department_update(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        department_id: str,
        data: Annotated[DepartmentForm, Form],
    ) -> Template | Redirect:
        department = await services.get_department(db_session, principal, department_id)
        try:
            await services.update_department(db_session, principal, department, data)
        except FormInvalid as exc:
            return _department_form_page(department, scrubbed(data), exc.errors, status_code=400)
        flash(request, "部門を更新しました。", "success")
        return Redirect(path="/admin/departments")


def _department_form_page(
    department: Department, form: DepartmentForm, errors: dict[str, str], status_code: int = 200
) -> Template:
    return Template(
        template_name="tenants/people/department_form.html",
        context={"department": department, "form": form, "errors": errors},
        status_code=status_code,
    )
