"""Admin pages for employees (従業員): the searchable list, add and edit, the employee page, retire and reinstate."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, company_staff, number_handlers
from app.forms import Form, FormInvalid, scrubbed
from app.paging import PageRequest
from app.vault import Vault
from tenants import services
from tenants.controllers._people import can_edit, can_erase, date_text, flash_saved, window_link
from tenants.models import Person, PersonKind
from tenants.schemas import EmployeeForm, RetireForm


class EmployeeController(Controller):
    path = "/admin/people"
    guards = [company_staff]
    include_in_schema = False

    @get("/", name="people_list")
    async def employee_list(
        self,
        db_session: AsyncSession,
        principal: Principal,
        q: str = "",
        code: str = "",
        department: str = "",
        employment: str = "active",
        page: str = "1",
        after: str = "",
        before: str = "",
    ) -> Template:
        if employment not in services.EMPLOYMENT_CHOICES:
            employment = "active"
        paging = PageRequest.parse(page, after, before)
        filters = services.EmployeeFilter(
            name=q,
            employee_code=code,
            department_id=department,
            employment=employment,
            page=paging.page,
            after=paging.after,
            before=paging.before,
        )
        found = await services.search_employees(db_session, principal, filters)
        params = {"q": q, "code": code, "department": department, "employment": employment}
        return Template(
            template_name="tenants/people/list.html",
            context={
                "rows": found,
                "params": params,
                "link": window_link("/admin/people", params),
                "departments": await services.department_choices(db_session, principal),
                "employment_choices": services.EMPLOYMENT_CHOICES,
                "can_edit": can_edit(principal),
            },
        )

    async def _form_page(
        self,
        db_session: AsyncSession,
        principal: Principal,
        form: EmployeeForm,
        errors: dict[str, str],
        person: Person | None,
        status_code: int = 200,
    ) -> Template:
        return Template(
            template_name="tenants/people/employee_form.html",
            context={
                "form": form,
                "errors": errors,
                "person": person,
                "departments": await services.department_choices(db_session, principal),
                "genders": list(services.GENDER_CHOICES.items()),
            },
            status_code=status_code,
        )

    @get("/new", name="people_employee_new", guards=[number_handlers])
    async def employee_new(self, db_session: AsyncSession, principal: Principal) -> Template:
        return await self._form_page(db_session, principal, EmployeeForm(), {}, None)

    @post("/new", name="people_employee_create", guards=[number_handlers])
    async def employee_create(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: Annotated[EmployeeForm, Form],
    ) -> Template | Redirect:
        try:
            person = await services.add_employee(db_session, principal, data)
        except FormInvalid as exc:
            return await self._form_page(db_session, principal, scrubbed(data), exc.errors, None, status_code=400)
        flash(request, f"従業員「{person.name}」を登録しました。", "success")
        return Redirect(path=f"/admin/people/{person.id}")

    @get("/{person_id:str}", name="people_employee_detail")
    async def employee_detail(
        self, db_session: AsyncSession, vault: Vault, principal: Principal, person_id: str
    ) -> Template | Redirect:
        person = await services.get_person(db_session, principal, person_id)
        if person.kind is PersonKind.DEPENDANT:
            return Redirect(path=f"/admin/people/{person.employee_id}")
        if person.kind is PersonKind.PAYEE:
            return Redirect(path=f"/admin/payees?{urlencode({'q': person.name})}")
        return await _detail_page(db_session, vault, principal, person, RetireForm(), {})

    @get("/{person_id:str}/edit", name="people_employee_edit", guards=[number_handlers])
    async def employee_edit(
        self, db_session: AsyncSession, principal: Principal, person_id: str
    ) -> Template | Redirect:
        person = await services.get_person(db_session, principal, person_id)
        if person.kind is PersonKind.DEPENDANT:
            return Redirect(path=f"/admin/people/{person.employee_id}/dependants/{person.id}/edit")
        if person.kind is PersonKind.PAYEE:
            return Redirect(path=f"/admin/payees/{person.id}/edit")
        return await self._form_page(db_session, principal, services.employee_form(person), {}, person)

    @post("/{person_id:str}/edit", name="people_employee_update", guards=[number_handlers])
    async def employee_update(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        person_id: str,
        data: Annotated[EmployeeForm, Form],
    ) -> Template | Redirect:
        person = await services.get_employee(db_session, principal, person_id)
        try:
            changed = await services.update_employee(db_session, principal, person, data)
        except FormInvalid as exc:
            return await self._form_page(db_session, principal, scrubbed(data), exc.errors, person, status_code=400)
        flash_saved(request, person, changed)
        return Redirect(path=f"/admin/people/{person.id}")

    @post("/{person_id:str}/retire", name="people_employee_retire", guards=[number_handlers])
    async def employee_retire(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        person_id: str,
        data: Annotated[RetireForm, Form],
    ) -> Template | Redirect:
        person = await services.get_employee(db_session, principal, person_id)
        try:
            await services.retire_employee(db_session, principal, person, data)
        except FormInvalid as exc:
            return await _detail_page(db_session, vault, principal, person, data, exc.errors, status_code=400)
        due = f"（削除予定日 {date_text(person.deletion_due_on)}）" if person.deletion_due_on else ""
        flash(request, f"{person.name} さんを退職にしました。番号は削除するまで保管されます{due}。", "success")
        return Redirect(path=f"/admin/people/{person.id}")

    @post("/{person_id:str}/reinstate", name="people_employee_reinstate", guards=[number_handlers])
    async def employee_reinstate(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, person_id: str
    ) -> Redirect:
        person = await services.get_employee(db_session, principal, person_id)
        page, name = f"/admin/people/{person.id}", person.name
        try:
            await services.reinstate_employee(db_session, principal, person)
        except FormInvalid as exc:
            await db_session.rollback()  # a capacity check after the flush refuses the whole change
            flash(request, exc.message, "error")
        else:
            flash(request, f"{name} さんの退職を取り消しました。", "success")
        return Redirect(path=page)


async def _detail_page(
    db_session: AsyncSession,
    vault: Vault,
    principal: Principal,
    person: Person,
    retire_form: RetireForm,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    detail = await services.employee_detail(db_session, vault, principal, person)
    if not retire_form.retirement_date:
        retire_form = RetireForm(retirement_date=date_text(services.today()))
    return Template(
        template_name="tenants/people/detail.html",
        context={
            "detail": detail,
            "can_edit": can_edit(principal),
            "can_erase": can_erase(principal),
            "retire": retire_form,
            "errors": errors,
        },
        status_code=status_code,
    )
