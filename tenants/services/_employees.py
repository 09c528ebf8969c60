"""Employees (従業員) of a tenant: search, add, edit, retire and reinstate, and the employee page."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account, Role
from app.auth.principal import Principal
from app.auth.scoping import get_scoped, scoped
from app.db import any_of, utcnow
from app.forms import Checker, FormInvalid
from app.paging import PageRequest, SortColumn, Total, Window, capped_count, read_window
from app.tenancy import Tenant
from app.text import JST, clean_code, format_date, format_insurance_number, insurance_number
from app.vault import NumberInfo, Vault
from billing.contract import check_self_registration_room
from tenants.models import Department, Person, PersonKind
from tenants.schemas import EmployeeForm, RetireForm
from tenants.services._counts import count_people
from tenants.services._deletion_due import follow_retirement
from tenants.services._dependants import list_dependants
from tenants.services._people import (
    PER_PAGE,
    add_person,
    apply_changes,
    code_field,
    counts_by_id,
    email_field,
    get_of_kind,
    in_order,
    is_taken,
    kana_field,
    log_change,
    name_field,
    require_writer,
    text_field,
    today,
)
from tenants.services._search import name_condition, name_filter

EMPLOYMENT_CHOICES = {"active": "在籍", "retired": "退職", "all": "すべて"}
# 性別 as the filings print it (雇用保険の届出: 1 男, 2 女); "" is 未設定.
GENDER_CHOICES = {"male": "男", "female": "女"}


@dataclass(frozen=True, slots=True)
class EmployeeFilter:
    """The employee list's search form (氏名・フリガナ, 社員コード exact, 部門, 在籍/退職) and the page asked for."""

    name: str = ""
    employee_code: str = ""
    department_id: str = ""
    employment: str = "active"
    page: int = 1
    after: str = ""  # cursors of the 次へ / 前へ links (app.paging.read_window)
    before: str = ""


@dataclass(frozen=True, slots=True)
class EmployeeRow:
    person: Person
    department: Department | None
    dependants: int


@dataclass(frozen=True, slots=True)
class EmployeeDetail:
    """An employee with their department, dependants and the masked numbers of all of them."""

    employee: Person
    department: Department | None
    dependants: list[Person]
    numbers: dict[uuid.UUID, NumberInfo]


@dataclass(frozen=True, slots=True)
class _Employees:
    scope: Select[Any]  # the tenant's employees
    statement: Select[Any]  # those the filters keep (``scope`` itself when nothing narrows)
    ordering: list[SortColumn]
    many_names: bool = False
    counted: Select[Any] | None = None  # many names: the same rows, written so that the name index finds them


async def _employee_query(session: AsyncSession, principal: Principal, filters: EmployeeFilter) -> _Employees | None:
    """The filtered employees and their order by 社員コード, read along an index; None when no one can match.

    Employees always have a 社員コード (the form and the import require it; it is unique in the tenant), so the order
    is the code alone: on the unique (tenant_id, employee_code) index, or, with a department, on the department
    sort's index pinned to that department's section and code (codes are unique in the tenant; an employee's
    ``list_owner_code`` is their own code).
    """
    scope = statement = scoped(Person, principal).where(
        Person.kind == PersonKind.EMPLOYEE, Person.employee_code.is_not(None)
    )
    ordering = [SortColumn(Person.employee_code, "employee_code")]
    if filters.department_id:
        department = await _listed_department(session, principal, filters.department_id)
        if department is None:
            return None
        statement = statement.where(Person.department_section == 0, Person.list_department_code == department.code)
        ordering = [SortColumn(Person.list_owner_code, "list_owner_code")]
    code = clean_code(filters.employee_code)
    if code:
        statement = statement.where(Person.employee_code == code)
    day = today()
    if filters.employment == "active":
        statement = statement.where(or_(Person.retirement_date.is_(None), Person.retirement_date > day))
    elif filters.employment == "retired":
        statement = statement.where(Person.retirement_date <= day)
    if not filters.name.strip():
        return _Employees(scope, statement, ordering)
    names = await name_filter(session, principal.tenant_id, filters.name)
    counted = statement.where(name_condition(filters.name)) if names.dense else None
    return _Employees(scope, statement.where(names.condition), ordering, many_names=names.dense, counted=counted)


async def _listed_department(session: AsyncSession, principal: Principal, value: str) -> Department | None:
    try:
        key = uuid.UUID(value)
    except ValueError:
        return None
    found = await session.execute(scoped(Department, principal).where(Department.id == key))
    return found.scalar_one_or_none()


async def _employee_total(
    session: AsyncSession, principal: Principal, filters: EmployeeFilter, found: _Employees
) -> Total:
    """All employees (of a department): the counters; otherwise (在籍/退職, name, code) counted up to the cap."""
    if filters.employment == "all" and not filters.name.strip() and not clean_code(filters.employee_code):
        department_id = uuid.UUID(filters.department_id) if filters.department_id else None
        return Total(
            await count_people(session, principal.tenant_id, department_id=department_id, kinds=[PersonKind.EMPLOYEE])
        )
    # Many people match the name, but perhaps not many employees (a name of many dependants): the employees are
    # counted through the name index, up to the cap (field trial: 「1,000 件以上」 shown for 632 employees).
    counted = found.counted if found.counted is not None else found.statement
    return await capped_count(session, counted.with_only_columns(Person.id))


async def search_employees(session: AsyncSession, principal: Principal, filters: EmployeeFilter) -> Window[EmployeeRow]:
    """Employees matching the filters, 50 a page, by 社員コード, with their departments and dependant counts."""
    found = await _employee_query(session, principal, filters)
    if found is None:
        return Window(rows=[], page=1, per_page=PER_PAGE, total=Total(0))
    total = await _employee_total(session, principal, filters, found)
    request = PageRequest(page=filters.page, after=filters.after, before=filters.before)
    window = await read_window(
        session, found.statement, found.ordering, request, per_page=PER_PAGE, total=total, scope=found.scope
    )
    people: list[Person] = window.rows
    department_ids = list({p.department_id for p in people if p.department_id is not None})
    departments: dict[uuid.UUID, Department] = {}
    if department_ids:
        loaded = await session.execute(scoped(Department, principal).where(Department.id.in_(department_ids)))
        departments = {d.id: d for d in loaded.scalars()}
    counts = await _dependant_counts(session, principal, [person.id for person in people])
    rows = [
        EmployeeRow(
            person, departments.get(person.department_id) if person.department_id else None, counts.get(person.id, 0)
        )
        for person in people
    ]
    return replace(window, rows=rows)


async def _dependant_counts(
    session: AsyncSession, principal: Principal, employee_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not employee_ids:
        return {}
    statement = (
        scoped(Person, principal)
        .with_only_columns(Person.employee_id, func.count())
        .where(
            Person.kind == PersonKind.DEPENDANT,
            any_of(Person.employee_id, employee_ids, dialect=session.get_bind().dialect.name),
        )
        .group_by(Person.employee_id)
    )
    return counts_by_id(await session.execute(statement))


async def get_employee(session: AsyncSession, principal: Principal, person_id: str) -> Person:
    """An employee of the principal's tenant (404 for anyone else)."""
    return await get_of_kind(session, principal, person_id, PersonKind.EMPLOYEE)


async def _department_id(session: AsyncSession, principal: Principal, check: Checker, value: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        key = uuid.UUID(value)
    except ValueError:
        key = None
    found = None
    if key is not None:
        found = (await session.execute(scoped(Department, principal).where(Department.id == key))).scalar_one_or_none()
    if found is None:
        check.fail("department_id", "部門を一覧から選択してください。")
        return None
    return found.id


def employee_fields(check: Checker, form: EmployeeForm, now: dt.date) -> dict[str, Any]:
    """The employee form's fields by the shared rules, except what needs the database (the department, whether the
    社員コード is free): ``department_id`` is left None for the caller. Every path that adds employees uses it."""
    values: dict[str, Any] = {
        "employee_code": code_field(check, "employee_code", form.employee_code, "社員コード"),
        "name": name_field(check, "name", form.name, "氏名", required=True),
        "kana": kana_field(check, "kana", form.kana, required=True),
        "birth_date": check.date("birth_date", form.birth_date, "生年月日", birth=True, today=now),
        "department_id": None,
        "hire_date": check.date("hire_date", form.hire_date, "入社日"),
        "retirement_date": check.date("retirement_date", form.retirement_date, "退職日"),
        "social_insurance_acquired_on": check.date(
            "social_insurance_acquired_on", form.social_insurance_acquired_on, "社会保険の取得日"
        ),
        "social_insurance_lost_on": check.date(
            "social_insurance_lost_on", form.social_insurance_lost_on, "社会保険の喪失日"
        ),
        "employment_insurance_acquired_on": check.date(
            "employment_insurance_acquired_on", form.employment_insurance_acquired_on, "雇用保険の取得日"
        ),
        "employment_insurance_lost_on": check.date(
            "employment_insurance_lost_on", form.employment_insurance_lost_on, "雇用保険の喪失日"
        ),
        "email": email_field(check, form.email),
    }
    in_order(check, values, "birth_date", "hire_date", "入社日は生年月日より後の日付を入力してください。")
    in_order(check, values, "hire_date", "retirement_date", "退職日は入社日以降の日付を入力してください。")
    in_order(
        check,
        values,
        "social_insurance_acquired_on",
        "social_insurance_lost_on",
        "社会保険の喪失日は取得日以降の日付を入力してください。",
    )
    in_order(
        check,
        values,
        "employment_insurance_acquired_on",
        "employment_insurance_lost_on",
        "雇用保険の喪失日は取得日以降の日付を入力してください。",
    )
    return values


def employee_form(person: Person) -> EmployeeForm:
    """The employee form filled from a stored employee (dates as YYYY/MM/DD): the edit page and partial updates
    start from it."""
    return EmployeeForm(
        employee_code=person.employee_code or "",
        name=person.name,
        kana=person.kana,
        birth_date=format_date(person.birth_date),
        department_id=str(person.department_id) if person.department_id else "",
        hire_date=format_date(person.hire_date),
        retirement_date=format_date(person.retirement_date),
        social_insurance_acquired_on=format_date(person.social_insurance_acquired_on),
        social_insurance_lost_on=format_date(person.social_insurance_lost_on),
        employment_insurance_acquired_on=format_date(person.employment_insurance_acquired_on),
        employment_insurance_lost_on=format_date(person.employment_insurance_lost_on),
        email=person.email,
        gender=person.gender or "",
        employment_insurance_number=format_insurance_number(person.employment_insurance_number or ""),
        address=person.address,
    )


def filing_fields(check: Checker, form: EmployeeForm) -> dict[str, Any]:
    """性別, 雇用保険 被保険者番号 and 住所 of the employee form (only the edit pages, the API and a 社労士's
    notices set them; an import leaves them alone). The number is kept as 11 digits (``app.text.insurance_number``),
    None when blank."""
    gender = form.gender.strip()
    if gender and gender not in GENDER_CHOICES:
        check.fail("gender", "性別は「男」「女」「未設定」から選択してください。")
    try:
        number = insurance_number(form.employment_insurance_number)
    except ValueError:
        check.fail(
            "employment_insurance_number",
            "雇用保険の被保険者番号は11桁の数字で入力してください（例: 1234-567890-1）。",
        )
        number = ""
    address = text_field(check, "address", form.address, "住所", max_length=300)
    return {"gender": gender or None, "employment_insurance_number": number or None, "address": address}


async def _employee_values(
    session: AsyncSession, principal: Principal, form: EmployeeForm, current: Person | None
) -> dict[str, Any]:
    check = Checker()
    now = today()
    values = employee_fields(check, form, now)
    values.update(filing_fields(check, form))
    values["department_id"] = await _department_id(session, principal, check, form.department_id.strip())
    if current is not None and current.retired_on(now) and values["retirement_date"] is None:
        check.fail(
            "retirement_date",
            "退職済みのため退職日は空欄にできません。在籍に戻す場合は「退職の取消」を押してください。",
        )
    code = values["employee_code"]
    if (
        code
        and "employee_code" not in check.errors
        and await is_taken(session, principal, Person.employee_code, code, current)
    ):
        check.fail("employee_code", "この社員コードは既に使われています。別のコードを入力してください。")
    check.done()
    return values


async def add_employee(session: AsyncSession, principal: Principal, form: EmployeeForm) -> Person:
    """Add an employee (社員コード unique in the tenant); the number is collected later."""
    require_writer(principal)
    values = await _employee_values(session, principal, form, None)
    person = await add_person(session, principal, PersonKind.EMPLOYEE, values, "従業員の追加")
    await sync_employee_access(session, person)
    if person.retirement_date is not None:
        await follow_retirement(session, [person], principal.actor())
    return person


async def update_employee(session: AsyncSession, principal: Principal, person: Person, form: EmployeeForm) -> list[str]:
    """Save the edited employee; returns the names of the fields that changed."""
    require_writer(principal)
    values = await _employee_values(session, principal, form, person)
    changed = await apply_changes(session, principal, person, values, "従業員情報の修正")
    if "retirement_date" in changed:
        await follow_retirement(session, [person], principal.actor())
        await _apply_retirement(session, principal, person)
    return changed


async def retire_employee(session: AsyncSession, principal: Principal, person: Person, form: RetireForm) -> None:
    """退職: record the 退職日; from that day (JST) the employee's account is disabled and its sessions end.

    The number stays until it is deleted (after the retention period). A date in the future schedules the end.
    """
    require_writer(principal)
    check = Checker()
    if person.retired_on(today()):
        check.fail("retirement_date", "この従業員はすでに退職処理済みです。")
    retirement_date = check.date("retirement_date", form.retirement_date, "退職日", required=True)
    if retirement_date and person.hire_date and retirement_date < person.hire_date:
        check.fail("retirement_date", "退職日は入社日以降の日付を入力してください。")
    check.done()
    assert retirement_date is not None
    person.retirement_date = retirement_date
    await follow_retirement(session, [person], principal.actor())
    detail = {"event": "retired", "retirement_date": retirement_date.isoformat()}
    detail["deletion_due_on"] = person.deletion_due_on.isoformat() if person.deletion_due_on else ""
    detail["accounts"] = await _apply_retirement(session, principal, person, log=False)
    await log_change(session, principal, person, "退職処理", detail)


async def reinstate_employee(session: AsyncSession, principal: Principal, person: Person) -> None:
    """退職の取消: back in service (the retirement was entered by mistake or the person returned); the account
    signs in again."""
    require_writer(principal)
    if person.retirement_date is None and person.retired_at is None:
        raise FormInvalid({"retirement_date": "この従業員は在籍中です。"})
    await _check_room_to_enable(session, person)  # before anything changes (the page answers with a redirect)
    person.retirement_date = None
    await follow_retirement(session, [person], principal.actor())  # a proposed 削除予定日 goes with the 退職日
    accounts = await _apply_retirement(session, principal, person, log=False, room_checked=True)
    await log_change(session, principal, person, "退職の取消", {"event": "reinstated", "accounts": accounts})


def access_ends_at(retirement_date: dt.date) -> dt.datetime:
    """The moment an employee's access ends: 00:00 JST on the 退職日 (as an aware UTC time)."""
    return dt.datetime.combine(retirement_date, dt.time(0), JST).astimezone(dt.UTC)


async def _check_room_to_enable(session: AsyncSession, person: Person) -> None:
    """Re-enabling a disabled employee account issues a self-registration id again: refused (CapacityExceeded)
    beyond the tenant's paid packs (billing.contract), before anything changes."""
    statement = (
        select(func.count())
        .select_from(Account)
        .where(
            Account.tenant_id == person.tenant_id,
            Account.person_id == person.id,
            Account.role == Role.EMPLOYEE,
            Account.disabled_at.is_not(None),
            Account.disabled_at <= utcnow(),  # a future 退職日's end still counts as active now
        )
    )
    disabled = int((await session.execute(statement)).scalar_one())
    tenant = await session.get(Tenant, person.tenant_id)
    if disabled and tenant is not None:
        await check_self_registration_room(session, tenant, disabled, field="retirement_date")


async def sync_employee_access(session: AsyncSession, person: Person) -> str:
    """Make the employee's accounts follow the 退職日 (the one source of truth); returns what happened.

    No date: accounts enabled. A date today or earlier: accounts disabled now and every session ended (the
    session epoch moves). A future date: the accounts carry the moment access ends (``disabled_at`` in the
    future), so sign-in and every session stop on that day without anyone acting.
    """
    statement = select(Account).where(
        Account.tenant_id == person.tenant_id, Account.person_id == person.id, Account.role == Role.EMPLOYEE
    )
    accounts = list((await session.execute(statement)).scalars())
    now = utcnow()
    if person.retirement_date is None:
        person.retired_at = None
        for account in accounts:
            account.disabled_at = None
        return "enabled" if accounts else "none"
    ends = access_ends_at(person.retirement_date)
    if ends <= now:
        person.retired_at = person.retired_at or now
        for account in accounts:
            if account.disabled_at is None or account.disabled_at > now:
                account.disabled_at = now
            account.session_epoch = (account.session_epoch or 0) + 1
        return "disabled" if accounts else "none"
    person.retired_at = None
    for account in accounts:
        account.disabled_at = ends
    return "disabled_from_retirement_date" if accounts else "none"


async def _apply_retirement(
    session: AsyncSession, principal: Principal, person: Person, *, log: bool = True, room_checked: bool = False
) -> str:
    if person.retirement_date is None and not room_checked:
        await _check_room_to_enable(session, person)
    outcome = await sync_employee_access(session, person)
    if log:
        detail: dict[str, object] = {"event": "retirement_date_changed", "accounts": outcome}
        detail["retirement_date"] = person.retirement_date.isoformat() if person.retirement_date else ""
        detail["deletion_due_on"] = person.deletion_due_on.isoformat() if person.deletion_due_on else ""
        await log_change(session, principal, person, "退職日の変更", detail)
    return outcome


async def employee_detail(
    session: AsyncSession, vault: Vault, principal: Principal, employee: Person
) -> EmployeeDetail:
    """What the employee page shows: the employee, their dependants and masked numbers (no decryption)."""
    department = None
    if employee.department_id is not None:
        department = await get_scoped(session, Department, principal, employee.department_id)
    dependants = await list_dependants(session, principal, employee)
    numbers = await vault.number_info(session, principal.tenant_id, [employee.id, *(d.id for d in dependants)])
    return EmployeeDetail(employee=employee, department=department, dependants=dependants, numbers=numbers)
