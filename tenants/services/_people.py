"""People of a tenant, as the admin keeps them: departments, employees (retire, reinstate), dependants, payees.

Numbers are not handled here (see ``_records``); editing who a person is only flags a confirmed number for review.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy import ColumnElement, Select, String, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditEvent
from app.audit.guard import contains_digit_run
from app.audit.log import record
from app.auth.models import Role
from app.auth.principal import Principal
from app.auth.scoping import get_scoped, scoped
from app.db import utcnow
from app.forms import Checker, FormInvalid, clean_text
from app.vault import NumberInfo, Vault
from tenants.models import Department, PayeeType, Person, PersonKind, Relationship
from tenants.schemas import DepartmentForm, DependantForm, EmployeeForm, PayeeForm, RetireForm
from tenants.services._records import context_of, note_identity_change

T = TypeVar("T")

PER_PAGE = 50
JAPAN = ZoneInfo("Asia/Tokyo")
WRITERS = frozenset({Role.ADMIN, Role.HANDLER})
EMPLOYMENT_CHOICES = {"active": "在籍", "retired": "退職", "all": "すべて"}
RELATIONSHIPS = {r.value: r.value for r in Relationship}
PAYEE_TYPES = {t.value: t.label for t in PayeeType}
PAYMENT_KINDS = (
    "報酬・料金",
    "不動産の使用料",
    "不動産の譲受けの対価",
    "講演料",
    "原稿料",
    "税理士報酬",
    "弁護士報酬",
    "デザイン料",
    "その他",
)
IDENTITY_FIELDS = ("name", "kana", "birth_date")

_KANA = re.compile(r"[\u30a1-\u30fa\u30fb-\u30fe ]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, with what the pager needs."""

    items: list[T]
    total: int
    page: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


@dataclass(frozen=True, slots=True)
class EmployeeFilter:
    """The search form of the employee list (氏名・フリガナ partial, 社員コード exact, 部門, 在籍/退職)."""

    name: str = ""
    employee_code: str = ""
    department_id: str = ""
    employment: str = "active"
    page: int = 1


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
class PayeeList:
    page: Page[Person]
    numbers: dict[uuid.UUID, NumberInfo]


def today() -> dt.date:
    """Today in Japan (birth dates are checked against the users' calendar, not the server's)."""
    return dt.datetime.now(JAPAN).date()


def to_katakana(text: str) -> str:
    """NFKC (half-width kana become full-width), hiragana turned into katakana, runs of spaces made one."""
    folded = unicodedata.normalize("NFKC", text)
    converted = "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" or c in "\u309d\u309e" else c for c in folded)
    return re.sub(r"\s+", " ", converted).strip()


def _require_writer(principal: Principal) -> None:
    if principal.role not in WRITERS:
        raise PermissionDeniedException()


# Field checks shared by the forms


def _text(check: Checker, field: str, value: str, label: str, *, required: bool = False, max_length: int = 100) -> str:
    cleaned = re.sub(r"\s+", " ", check.text(field, value, label, required=required, max_length=max_length))
    if contains_digit_run(cleaned):
        check.fail(field, f"{label}に12桁以上の数字は入力できません。マイナンバーはこの欄に入力しないでください。")
    return cleaned


def _code(check: Checker, field: str, value: str, label: str) -> str:
    code = check.code(field, value, label)
    if contains_digit_run(code):
        check.fail(field, f"{label}は11桁以下の数字にしてください（12桁の数字は個人番号と区別できないため）。")
    return code


def _kana(check: Checker, field: str, value: str, *, required: bool) -> str:
    kana = to_katakana(value)
    if required and not kana:
        check.fail(field, "フリガナを入力してください。")
    elif kana and not _KANA.fullmatch(kana):
        check.fail(field, "フリガナは全角カタカナで入力してください。")
    elif len(kana) > 100:
        check.fail(field, "フリガナは100文字以内で入力してください。")
    return kana


def _email(check: Checker, value: str) -> str:
    email = check.text("email", value, "メールアドレス", max_length=254)
    if email and not _EMAIL.fullmatch(email):
        check.fail("email", "メールアドレスの形式が正しくありません（例: taro@example.jp）。")
    return email


def _in_order(check: Checker, values: dict[str, Any], first: str, then: str, message: str) -> None:
    start, end = values.get(first), values.get(then)
    if start is not None and end is not None and end < start:
        check.fail(then, message)


async def _log(
    session: AsyncSession, principal: Principal, person: Person | None, function: str, detail: Mapping[str, object]
) -> None:
    subject = (await context_of(session, person)).subject if person is not None else None
    await record(
        session,
        AuditEvent(
            tenant_id=principal.tenant_id,
            action=AuditAction.UPDATE,
            actor=principal.actor(),
            function=function,
            subject=subject,
            detail=dict(detail),
        ),
    )


async def _apply_changes(
    session: AsyncSession, principal: Principal, person: Person, values: dict[str, Any], function: str
) -> list[str]:
    """Set the changed fields, flag a confirmed number when who the person is changed, and log which fields."""
    changed = [name for name, value in values.items() if getattr(person, name) != value]
    if not changed:
        return []
    identity_changed = note_identity_change(
        person,
        name=values.get("name", person.name),
        kana=values.get("kana", person.kana),
        birth_date=values.get("birth_date", person.birth_date),
    )
    for name in changed:
        setattr(person, name, values[name])
    detail: dict[str, object] = {"event": "person_updated", "fields": changed}
    if identity_changed and person.identity_warning:
        detail["identity_warning"] = True
    await _log(session, principal, person, function, detail)
    return changed


def _counts(rows: Iterable[Any]) -> dict[uuid.UUID, int]:
    """``{id: count}`` from ``(id, count)`` rows of a GROUP BY."""
    return {row[0]: int(row[1]) for row in rows if row[0] is not None}


# Departments (部門)


async def list_departments(session: AsyncSession, principal: Principal) -> list[Department]:
    rows = await session.execute(scoped(Department, principal).order_by(Department.code))
    return list(rows.scalars())


async def department_headcounts(session: AsyncSession, principal: Principal) -> dict[uuid.UUID, int]:
    """Employees still in service per department."""
    statement = (
        scoped(Person, principal)
        .with_only_columns(Person.department_id, func.count())
        .where(Person.kind == PersonKind.EMPLOYEE, Person.retired_at.is_(None), Person.department_id.is_not(None))
        .group_by(Person.department_id)
    )
    return _counts(await session.execute(statement))


async def get_department(session: AsyncSession, principal: Principal, department_id: str) -> Department:
    return await get_scoped(session, Department, principal, department_id)


async def _department_values(
    session: AsyncSession, principal: Principal, form: DepartmentForm, current: Department | None
) -> dict[str, Any]:
    check = Checker()
    code = _code(check, "code", form.code, "部門コード")
    name = _text(check, "name", form.name, "部門名", required=True)
    if code and "code" not in check.errors:
        statement = scoped(Department, principal).where(Department.code == code)
        if current is not None:
            statement = statement.where(Department.id != current.id)
        if (await session.execute(statement)).first() is not None:
            check.fail("code", "この部門コードは既に使われています。別のコードを入力してください。")
    check.done()
    return {"code": code, "name": name}


async def add_department(session: AsyncSession, principal: Principal, form: DepartmentForm) -> Department:
    """Add a department (code unique in the tenant)."""
    _require_writer(principal)
    values = await _department_values(session, principal, form, None)
    department = Department(tenant_id=principal.tenant_id, **values)
    session.add(department)
    await session.flush()
    await _log(session, principal, None, "部門の追加", {"event": "department_added", "code": department.code})
    return department


async def update_department(
    session: AsyncSession, principal: Principal, department: Department, form: DepartmentForm
) -> None:
    """Change a department's code or name."""
    _require_writer(principal)
    values = await _department_values(session, principal, form, department)
    changed = [name for name, value in values.items() if getattr(department, name) != value]
    for name in changed:
        setattr(department, name, values[name])
    if changed:
        detail = {"event": "department_updated", "code": department.code, "fields": changed}
        await _log(session, principal, None, "部門の修正", detail)


# Employees (従業員)


def _name_matches(text: str) -> ColumnElement[bool]:
    needle = re.sub(r"\s+", "", clean_text(text))
    kana = to_katakana(needle).replace(" ", "")
    return or_(
        _spaceless(Person.name).icontains(needle, autoescape=True),
        _spaceless(Person.kana).icontains(kana, autoescape=True),
    )


def _spaceless(column: Any) -> Any:
    return func.replace(func.replace(column, " ", "", type_=String), "\u3000", "", type_=String)


def _employee_query(principal: Principal, filters: EmployeeFilter) -> Select[Any]:
    statement = scoped(Person, principal).where(Person.kind == PersonKind.EMPLOYEE)
    if filters.name.strip():
        statement = statement.where(_name_matches(filters.name))
    code = clean_text(filters.employee_code)
    if code:
        statement = statement.where(Person.employee_code == code)
    if filters.department_id:
        try:
            statement = statement.where(Person.department_id == uuid.UUID(filters.department_id))
        except ValueError:
            pass
    if filters.employment == "active":
        statement = statement.where(Person.retired_at.is_(None))
    elif filters.employment == "retired":
        statement = statement.where(Person.retired_at.is_not(None))
    return statement


async def search_employees(session: AsyncSession, principal: Principal, filters: EmployeeFilter) -> Page[EmployeeRow]:
    """Employees matching the filters, 50 a page, by 社員コード."""
    statement = _employee_query(principal, filters)
    total = int((await session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one())
    page = min(max(1, filters.page), max(1, math.ceil(total / PER_PAGE)))
    rows = await session.execute(
        statement.add_columns(Department)
        .outerjoin(Department, and_(Department.tenant_id == Person.tenant_id, Department.id == Person.department_id))
        .order_by(Person.employee_code, Person.id)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    )
    found = [(person, department) for person, department in rows]
    counts = await _dependant_counts(session, principal, [person.id for person, _ in found])
    items = [EmployeeRow(person, department, counts.get(person.id, 0)) for person, department in found]
    return Page(items=items, total=total, page=page)


async def _dependant_counts(
    session: AsyncSession, principal: Principal, employee_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not employee_ids:
        return {}
    statement = (
        scoped(Person, principal)
        .with_only_columns(Person.employee_id, func.count())
        .where(Person.kind == PersonKind.DEPENDANT, Person.employee_id.in_(list(employee_ids)))
        .group_by(Person.employee_id)
    )
    return _counts(await session.execute(statement))


async def get_person(session: AsyncSession, principal: Principal, person_id: str) -> Person:
    """Any person of the principal's tenant (404 for another tenant's id)."""
    return await get_scoped(session, Person, principal, person_id)


async def _get_kind(session: AsyncSession, principal: Principal, person_id: str, kind: PersonKind) -> Person:
    person = await get_scoped(session, Person, principal, person_id)
    if person.kind is not kind:
        raise NotFoundException()
    return person


async def get_employee(session: AsyncSession, principal: Principal, person_id: str) -> Person:
    return await _get_kind(session, principal, person_id, PersonKind.EMPLOYEE)


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


async def _employee_values(
    session: AsyncSession, principal: Principal, form: EmployeeForm, current: Person | None
) -> dict[str, Any]:
    check = Checker()
    now = today()
    values: dict[str, Any] = {
        "employee_code": _code(check, "employee_code", form.employee_code, "社員コード"),
        "name": _text(check, "name", form.name, "氏名", required=True),
        "kana": _kana(check, "kana", form.kana, required=True),
        "birth_date": check.date("birth_date", form.birth_date, "生年月日", not_future=True, today=now),
        "department_id": await _department_id(session, principal, check, form.department_id.strip()),
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
        "email": _email(check, form.email),
    }
    _in_order(check, values, "birth_date", "hire_date", "入社日は生年月日より後の日付を入力してください。")
    _in_order(check, values, "hire_date", "retirement_date", "退職日は入社日以降の日付を入力してください。")
    _in_order(
        check,
        values,
        "social_insurance_acquired_on",
        "social_insurance_lost_on",
        "社会保険の喪失日は取得日以降の日付を入力してください。",
    )
    _in_order(
        check,
        values,
        "employment_insurance_acquired_on",
        "employment_insurance_lost_on",
        "雇用保険の喪失日は取得日以降の日付を入力してください。",
    )
    if current is not None and current.retired_at is not None and values["retirement_date"] is None:
        check.fail(
            "retirement_date",
            "退職済みのため退職日は空欄にできません。在籍に戻す場合は「退職の取消」を押してください。",
        )
    code = values["employee_code"]
    if code and "employee_code" not in check.errors and await _employee_code_taken(session, principal, code, current):
        check.fail("employee_code", "この社員コードは既に使われています。別のコードを入力してください。")
    check.done()
    return values


async def _employee_code_taken(session: AsyncSession, principal: Principal, code: str, current: Person | None) -> bool:
    statement = scoped(Person, principal).where(Person.employee_code == code)
    if current is not None:
        statement = statement.where(Person.id != current.id)
    return (await session.execute(statement)).first() is not None


async def add_employee(session: AsyncSession, principal: Principal, form: EmployeeForm) -> Person:
    """Add an employee (社員コード unique in the tenant); the number is collected later."""
    _require_writer(principal)
    values = await _employee_values(session, principal, form, None)
    person = Person(tenant_id=principal.tenant_id, kind=PersonKind.EMPLOYEE, **values)
    session.add(person)
    await session.flush()
    await _log(session, principal, person, "従業員の追加", {"event": "person_added", "kind": "employee"})
    return person


async def update_employee(session: AsyncSession, principal: Principal, person: Person, form: EmployeeForm) -> list[str]:
    """Save the edited employee; returns the names of the fields that changed."""
    _require_writer(principal)
    values = await _employee_values(session, principal, form, person)
    return await _apply_changes(session, principal, person, values, "従業員情報の修正")


async def retire_employee(session: AsyncSession, principal: Principal, person: Person, form: RetireForm) -> None:
    """退職: record the retirement date; the number stays until it is deleted (after the retention period)."""
    _require_writer(principal)
    check = Checker()
    if person.retired_at is not None:
        check.fail("retirement_date", "この従業員はすでに退職処理済みです。")
    retirement_date = check.date("retirement_date", form.retirement_date, "退職日", required=True)
    if retirement_date and person.hire_date and retirement_date < person.hire_date:
        check.fail("retirement_date", "退職日は入社日以降の日付を入力してください。")
    check.done()
    assert retirement_date is not None
    person.retirement_date = retirement_date
    person.retired_at = utcnow()
    detail = {"event": "retired", "retirement_date": retirement_date.isoformat()}
    await _log(session, principal, person, "退職処理", detail)


async def reinstate_employee(session: AsyncSession, principal: Principal, person: Person) -> None:
    """退職の取消: back in service (the retirement was entered by mistake or the person returned)."""
    _require_writer(principal)
    if person.retired_at is None:
        raise FormInvalid({"retirement_date": "この従業員は在籍中です。"})
    person.retired_at = None
    person.retirement_date = None
    await _log(session, principal, person, "退職の取消", {"event": "reinstated"})


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


# Dependants (扶養家族)


async def list_dependants(session: AsyncSession, principal: Principal, employee: Person) -> list[Person]:
    rows = await session.execute(
        scoped(Person, principal)
        .where(Person.kind == PersonKind.DEPENDANT, Person.employee_id == employee.id)
        .order_by(Person.created_at, Person.id)
    )
    return list(rows.scalars())


async def get_dependant(session: AsyncSession, principal: Principal, employee: Person, dependant_id: str) -> Person:
    """A dependant of this employee (404 for anyone else's)."""
    person = await _get_kind(session, principal, dependant_id, PersonKind.DEPENDANT)
    if person.employee_id != employee.id:
        raise NotFoundException()
    return person


def _dependant_values(form: DependantForm) -> dict[str, Any]:
    check = Checker()
    values: dict[str, Any] = {
        "name": _text(check, "name", form.name, "氏名", required=True),
        "kana": _kana(check, "kana", form.kana, required=False),
        "relationship": check.choice("relationship", form.relationship, "続柄", RELATIONSHIPS),
        "birth_date": check.date("birth_date", form.birth_date, "生年月日", not_future=True, today=today()),
    }
    check.done()
    values["relationship"] = Relationship(values["relationship"])
    return values


async def add_dependant(session: AsyncSession, principal: Principal, employee: Person, form: DependantForm) -> Person:
    """Add a dependant under an employee (続柄 from the fixed list)."""
    _require_writer(principal)
    values = _dependant_values(form)
    person = Person(tenant_id=principal.tenant_id, kind=PersonKind.DEPENDANT, employee_id=employee.id, **values)
    session.add(person)
    await session.flush()
    await _log(session, principal, person, "扶養家族の追加", {"event": "person_added", "kind": "dependant"})
    return person


async def update_dependant(
    session: AsyncSession, principal: Principal, person: Person, form: DependantForm
) -> list[str]:
    """Save the edited dependant; returns the names of the fields that changed."""
    _require_writer(principal)
    return await _apply_changes(session, principal, person, _dependant_values(form), "扶養家族情報の修正")


# Payees (取引先・報酬支払先)


async def list_payees(
    session: AsyncSession, vault: Vault, principal: Principal, *, query: str = "", page: int = 1
) -> PayeeList:
    """Payees (name or kana partial), 50 a page, with their masked numbers."""
    statement = scoped(Person, principal).where(Person.kind == PersonKind.PAYEE)
    if query.strip():
        statement = statement.where(_name_matches(query))
    total = int((await session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one())
    page = min(max(1, page), max(1, math.ceil(total / PER_PAGE)))
    rows = await session.execute(
        statement.order_by(Person.kana, Person.name, Person.id).limit(PER_PAGE).offset((page - 1) * PER_PAGE)
    )
    payees = list(rows.scalars())
    numbers = await vault.number_info(session, principal.tenant_id, [p.id for p in payees])
    return PayeeList(page=Page(items=payees, total=total, page=page), numbers=numbers)


async def get_payee(session: AsyncSession, principal: Principal, person_id: str) -> Person:
    return await _get_kind(session, principal, person_id, PersonKind.PAYEE)


def _payee_values(form: PayeeForm, current: Person | None) -> dict[str, Any]:
    check = Checker()
    values: dict[str, Any] = {
        "payee_type": check.choice("payee_type", form.payee_type, "個人・法人の区分", PAYEE_TYPES),
        "name": _text(check, "name", form.name, "氏名・名称", required=True),
        "kana": _kana(check, "kana", form.kana, required=False),
        "address": _text(check, "address", form.address, "住所・所在地", max_length=300),
        "payment_kind": _text(check, "payment_kind", form.payment_kind, "支払の種類"),
        "email": _email(check, form.email),
    }
    if (
        current is not None
        and current.status.has_number
        and "payee_type" not in check.errors
        and values["payee_type"] != current.payee_type
    ):
        check.fail("payee_type", "番号の登録後は個人・法人の区分を変更できません。番号を削除してから変更してください。")
    check.done()
    values["payee_type"] = PayeeType(values["payee_type"])
    return values


async def add_payee(session: AsyncSession, principal: Principal, form: PayeeForm) -> Person:
    """Add a payee (an individual gives a My Number, a corporation its corporate number)."""
    _require_writer(principal)
    person = Person(tenant_id=principal.tenant_id, kind=PersonKind.PAYEE, **_payee_values(form, None))
    session.add(person)
    await session.flush()
    await _log(session, principal, person, "取引先の追加", {"event": "person_added", "kind": "payee"})
    return person


async def update_payee(session: AsyncSession, principal: Principal, person: Person, form: PayeeForm) -> list[str]:
    """Save the edited payee; returns the names of the fields that changed."""
    _require_writer(principal)
    return await _apply_changes(session, principal, person, _payee_values(form, person), "取引先情報の修正")
