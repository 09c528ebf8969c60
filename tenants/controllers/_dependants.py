"""Admin pages for an employee's dependants (扶養家族): add and edit, under the employee's page."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, number_handlers
from app.forms import Form, FormInvalid, scrubbed
from tenants import services
from tenants.controllers._people import flash_saved
from tenants.models import Person
from tenants.schemas import DependantForm


class DependantController(Controller):
    path = "/admin/people/{person_id:str}/dependants"
    guards = [number_handlers]
    include_in_schema = False

    @get("/new", name="people_dependant_new")
    async def dependant_new(self, db_session: AsyncSession, principal: Principal, person_id: str) -> Template:
        employee = await services.get_employee(db_session, principal, person_id)
        return _dependant_form_page(employee, None, DependantForm(), {})

    @post("/new", name="people_dependant_create")
    async def dependant_create(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        person_id: str,
        data: Annotated[DependantForm, Form],
    ) -> Template | Redirect:
        employee = await services.get_employee(db_session, principal, person_id)
        try:
            person = await services.add_dependant(db_session, principal, employee, data)
        except FormInvalid as exc:
            return _dependant_form_page(employee, None, scrubbed(data), exc.errors, status_code=400)
        flash(request, f"扶養家族「{person.name}」を追加しました。", "success")
        return Redirect(path=f"/admin/people/{employee.id}")

    @get("/{dependant_id:str}/edit", name="people_dependant_edit")
    async def dependant_edit(
        self, db_session: AsyncSession, principal: Principal, person_id: str, dependant_id: str
    ) -> Template:
        employee = await services.get_employee(db_session, principal, person_id)
        person = await services.get_dependant(db_session, principal, employee, dependant_id)
        return _dependant_form_page(employee, person, services.dependant_form(person), {})

    @post("/{dependant_id:str}/edit", name="people_dependant_update")
    async def dependant_update(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        person_id: str,
        dependant_id: str,
        data: Annotated[DependantForm, Form],
    ) -> Template | Redirect:
        employee = await services.get_employee(db_session, principal, person_id)
        person = await services.get_dependant(db_session, principal, employee, dependant_id)
        try:
            changed = await services.update_dependant(db_session, principal, person, data)
        except FormInvalid as exc:
            return _dependant_form_page(employee, person, scrubbed(data), exc.errors, status_code=400)
        flash_saved(request, person, changed)
        return Redirect(path=f"/admin/people/{employee.id}")


def _dependant_form_page(
    employee: Person, person: Person | None, form: DependantForm, errors: dict[str, str], status_code: int = 200
) -> Template:
    return Template(
        template_name="tenants/people/dependant_form.html",
        context={
            "employee": employee,
            "person": person,
            "form": form,
            "errors": errors,
            "relationships": services.RELATIONSHIPS,
        },
        status_code=status_code,
    )
