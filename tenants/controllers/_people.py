"""Admin pages for people: departments (部門), employees (従業員) with their dependants (扶養家族), payees (取引先).

Staff (admin, handler, viewer) read the lists; only admins and handlers add, edit or retire.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.guard import contains_digit_run
from app.auth.models import Role
from app.auth.principal import Principal, company_staff, number_handlers
from app.forms import FormInvalid
from app.vault import Vault
from tenants import services
from tenants.models import Department, Person, PersonKind
from tenants.schemas import DepartmentForm, DependantForm, EmployeeForm, PayeeForm, RetireForm

Form = Body(media_type=RequestEncodingType.URL_ENCODED)
FormT = TypeVar("FormT", bound=msgspec.Struct)


def _can_edit(principal: Principal) -> bool:
    return principal.role in (Role.ADMIN, Role.HANDLER)


def _date(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and 0 < len(text) < 7 else 1


def _page_links(base: str, params: dict[str, str], page: services.Page[Any]) -> list[tuple[int, str]]:
    kept = {key: value for key, value in params.items() if value}
    return [(n, f"{base}?{urlencode({**kept, 'page': str(n)})}") for n in range(1, page.pages + 1)]


def _kept(form: FormT) -> FormT:
    """The form to show again after a failed post: every value kept except one that may be a number."""
    blanked = {
        name: ""
        for name in form.__struct_fields__
        if isinstance(getattr(form, name), str) and contains_digit_run(getattr(form, name))
    }
    return msgspec.structs.replace(form, **blanked) if blanked else form


def _employee_form(person: Person) -> EmployeeForm:
    return EmployeeForm(
        employee_code=person.employee_code or "",
        name=person.name,
        kana=person.kana,
        birth_date=_date(person.birth_date),
        department_id=str(person.department_id) if person.department_id else "",
        hire_date=_date(person.hire_date),
        retirement_date=_date(person.retirement_date),
        social_insurance_acquired_on=_date(person.social_insurance_acquired_on),
        social_insurance_lost_on=_date(person.social_insurance_lost_on),
        employment_insurance_acquired_on=_date(person.employment_insurance_acquired_on),
        employment_insurance_lost_on=_date(person.employment_insurance_lost_on),
        email=person.email,
    )


def _dependant_form(person: Person) -> DependantForm:
    return DependantForm(
        name=person.name,
        kana=person.kana,
        relationship=person.relationship.value if person.relationship else "",
        birth_date=_date(person.birth_date),
    )


def _payee_form(person: Person) -> PayeeForm:
    return PayeeForm(
        payee_type=person.payee_type.value if person.payee_type else "",
        name=person.name,
        kana=person.kana,
        address=person.address,
        payment_kind=person.payment_kind,
        email=person.email,
    )


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
            "can_edit": _can_edit(principal),
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
            return await self._page(db_session, principal, _kept(data), exc.errors, status_code=400)
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
            return _department_form_page(department, _kept(data), exc.errors, status_code=400)
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
    ) -> Template:
        if employment not in services.EMPLOYMENT_CHOICES:
            employment = "active"
        filters = services.EmployeeFilter(
            name=q, employee_code=code, department_id=department, employment=employment, page=_page_number(page)
        )
        found = await services.search_employees(db_session, principal, filters)
        params = {"q": q, "code": code, "department": department, "employment": employment}
        departments = await services.list_departments(db_session, principal)
        return Template(
            template_name="tenants/people/list.html",
            context={
                "rows": found,
                "params": params,
                "page_links": _page_links("/admin/people", params, found),
                "departments": [(str(d.id), f"{d.code} {d.name}") for d in departments],
                "employment_choices": services.EMPLOYMENT_CHOICES,
                "can_edit": _can_edit(principal),
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
        departments = await services.list_departments(db_session, principal)
        return Template(
            template_name="tenants/people/employee_form.html",
            context={
                "form": form,
                "errors": errors,
                "person": person,
                "departments": [(str(d.id), f"{d.code} {d.name}") for d in departments],
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
            return await self._form_page(db_session, principal, _kept(data), exc.errors, None, status_code=400)
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
        return await self._form_page(db_session, principal, _employee_form(person), {}, person)

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
            return await self._form_page(db_session, principal, _kept(data), exc.errors, person, status_code=400)
        _flash_saved(request, person, changed)
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
        flash(request, f"{person.name} さんを退職にしました。番号は削除するまで保管されます。", "success")
        return Redirect(path=f"/admin/people/{person.id}")

    @post("/{person_id:str}/reinstate", name="people_employee_reinstate", guards=[number_handlers])
    async def employee_reinstate(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, person_id: str
    ) -> Redirect:
        person = await services.get_employee(db_session, principal, person_id)
        try:
            await services.reinstate_employee(db_session, principal, person)
        except FormInvalid as exc:
            flash(request, next(iter(exc.errors.values())), "error")
        else:
            flash(request, f"{person.name} さんの退職を取り消しました。", "success")
        return Redirect(path=f"/admin/people/{person.id}")

    @get("/{person_id:str}/dependants/new", name="people_dependant_new", guards=[number_handlers])
    async def dependant_new(self, db_session: AsyncSession, principal: Principal, person_id: str) -> Template:
        employee = await services.get_employee(db_session, principal, person_id)
        return _dependant_form_page(employee, None, DependantForm(), {})

    @post("/{person_id:str}/dependants/new", name="people_dependant_create", guards=[number_handlers])
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
            return _dependant_form_page(employee, None, _kept(data), exc.errors, status_code=400)
        flash(request, f"扶養家族「{person.name}」を追加しました。", "success")
        return Redirect(path=f"/admin/people/{employee.id}")

    @get("/{person_id:str}/dependants/{dependant_id:str}/edit", name="people_dependant_edit", guards=[number_handlers])
    async def dependant_edit(
        self, db_session: AsyncSession, principal: Principal, person_id: str, dependant_id: str
    ) -> Template:
        employee = await services.get_employee(db_session, principal, person_id)
        person = await services.get_dependant(db_session, principal, employee, dependant_id)
        return _dependant_form_page(employee, person, _dependant_form(person), {})

    @post(
        "/{person_id:str}/dependants/{dependant_id:str}/edit", name="people_dependant_update", guards=[number_handlers]
    )
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
            return _dependant_form_page(employee, person, _kept(data), exc.errors, status_code=400)
        _flash_saved(request, person, changed)
        return Redirect(path=f"/admin/people/{employee.id}")


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
        retire_form = RetireForm(retirement_date=services.today().isoformat())
    return Template(
        template_name="tenants/people/detail.html",
        context={
            "detail": detail,
            "can_edit": _can_edit(principal),
            "retire": retire_form,
            "errors": errors,
        },
        status_code=status_code,
    )


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


def _flash_saved(request: Request[Any, Any, Any], person: Person, changed: list[str]) -> None:
    if not changed:
        flash(request, "変更はありませんでした。", "info")
    elif person.identity_warning:
        flash(
            request,
            f"{person.name} さんの情報を更新しました。"
            "確認済みの番号があるため、番号が本人のものか確認し直してください。",
            "warning",
        )
    else:
        flash(request, f"{person.name} さんの情報を更新しました。", "success")


class PayeeController(Controller):
    path = "/admin/payees"
    guards = [company_staff]
    include_in_schema = False

    @get("/", name="people_payees")
    async def payee_list(
        self, db_session: AsyncSession, vault: Vault, principal: Principal, q: str = "", page: str = "1"
    ) -> Template:
        found = await services.list_payees(db_session, vault, principal, query=q, page=_page_number(page))
        return Template(
            template_name="tenants/people/payees.html",
            context={
                "payees": found,
                "q": q,
                "page_links": _page_links("/admin/payees", {"q": q}, found.page),
                "can_edit": _can_edit(principal),
            },
        )

    @get("/new", name="people_payee_new", guards=[number_handlers])
    async def payee_new(self) -> Template:
        return _payee_form_page(None, PayeeForm(payee_type="individual"), {})

    @post("/new", name="people_payee_create", guards=[number_handlers])
    async def payee_create(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: Annotated[PayeeForm, Form],
    ) -> Template | Redirect:
        try:
            person = await services.add_payee(db_session, principal, data)
        except FormInvalid as exc:
            return _payee_form_page(None, _kept(data), exc.errors, status_code=400)
        flash(request, f"取引先「{person.name}」を登録しました。番号の登録用リンクを発行できます。", "success")
        return Redirect(path="/admin/payees")

    @get("/{person_id:str}/edit", name="people_payee_edit", guards=[number_handlers])
    async def payee_edit(self, db_session: AsyncSession, principal: Principal, person_id: str) -> Template:
        person = await services.get_payee(db_session, principal, person_id)
        return _payee_form_page(person, _payee_form(person), {})

    @post("/{person_id:str}/edit", name="people_payee_update", guards=[number_handlers])
    async def payee_update(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        person_id: str,
        data: Annotated[PayeeForm, Form],
    ) -> Template | Redirect:
        person = await services.get_payee(db_session, principal, person_id)
        try:
            changed = await services.update_payee(db_session, principal, person, data)
        except FormInvalid as exc:
            return _payee_form_page(person, _kept(data), exc.errors, status_code=400)
        _flash_saved(request, person, changed)
        return Redirect(path="/admin/payees")


def _payee_form_page(
    person: Person | None, form: PayeeForm, errors: dict[str, str], status_code: int = 200
) -> Template:
    return Template(
        template_name="tenants/people/payee_form.html",
        context={
            "person": person,
            "form": form,
            "errors": errors,
            "payee_types": services.PAYEE_TYPES,
            "payment_kinds": services.PAYMENT_KINDS,
        },
        status_code=status_code,
    )
