"""The JSON API's people and numbers, on top of the tenants services (the same rules, messages and audit entries as
the admin pages): the masked list with its filters and keyset cursors, one person, add and update, 代理登録, and
reading numbers for a purpose.

No HTTP here: callers pass what the request held and get Structs (``exchange.schemas``) or the services' errors
(FormInvalid, NotFoundException, PeopleNotFound, CursorInvalid).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.exceptions import NotFoundException
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.forms import FormInvalid
from app.vault import Vault
from exchange.schemas import (
    DepartmentRef,
    MaskedNumber,
    NumberRead,
    NumbersRead,
    PeoplePage,
    PersonCreate,
    PersonRead,
    PersonUpdate,
    RegisteredNumber,
)
from tenants import services
from tenants.models import CollectionStatus, Person, PersonKind
from tenants.schemas import DependantForm, EmployeeForm, PayeeForm

READ_FUNCTION = "給与ソフト連携API（番号の取得）"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100


def status_key(status: CollectionStatus) -> str:
    """The API's name of a status (``proxy_registered``...), as the list's ``status`` filter takes it."""
    return status.name.lower()


# Reading ------------------------------------------------------------------------------------------------------------


def person_read(row: services.NumberRow) -> PersonRead:
    """A person as the API shows them: masked number and status only."""
    person = row.person
    number = None
    if row.number is not None:
        number = MaskedNumber(
            field=row.number.field.value,  # type: ignore[arg-type]
            masked=row.number.masked,
            registered_at=row.number.registered_at,
        )
    department = None
    if row.department is not None:
        department = DepartmentRef(id=row.department.id, code=row.department.code, name=row.department.name)
    return PersonRead(
        id=person.id,
        kind=person.kind.value,  # type: ignore[arg-type]
        kind_label=person.kind.label,
        employee_code=person.employee_code,
        employee_id=person.employee_id,
        name=person.name,
        kana=person.kana,
        birth_date=person.birth_date,
        relationship=person.relationship.value if person.relationship else None,
        payee_type=person.payee_type.value if person.payee_type else None,  # type: ignore[arg-type]
        department=department,
        hire_date=person.hire_date,
        retirement_date=person.retirement_date,
        social_insurance_acquired_on=person.social_insurance_acquired_on,
        social_insurance_lost_on=person.social_insurance_lost_on,
        employment_insurance_acquired_on=person.employment_insurance_acquired_on,
        employment_insurance_lost_on=person.employment_insurance_lost_on,
        email=person.email,
        address=person.address,
        payment_kind=person.payment_kind,
        status=status_key(person.status),  # type: ignore[arg-type]
        status_label=person.status.value,
        number=number,
        duplicate_suspected=row.duplicate,
        needs_admin_confirmation=row.needs_admin_confirmation,
    )


class CursorInvalid(Exception):
    """The cursor is not one this list gave, or its row has left the list: read again from the first page."""


@dataclass(frozen=True, slots=True)
class PeopleQuery:
    """The list's filters (as the masked list takes them), the page size and the cursor of the next page."""

    department: str = ""
    kind: str = ""
    status: str = ""
    name: str = ""
    code: str = ""
    sort: str = "department"
    order: str = "asc"
    limit: int = DEFAULT_LIMIT
    cursor: str = ""


async def people_page(session: AsyncSession, vault: Vault, principal: Principal, query: PeopleQuery) -> PeoplePage:
    """One page of the masked list (``tenants.services.list_numbers``: same filters, order and cost at any depth).

    CursorInvalid when a cursor does not lead into the list (a cursor carries only the row's key; it never falls
    back to the first page silently, which would make a client loop).
    """
    filters = services.NumberFilters(
        department=query.department,
        kind=query.kind,
        status=query.status,
        name=query.name,
        code=query.code,
        sort=query.sort,
        order=query.order,
        per_page=max(1, min(query.limit, MAX_LIMIT)),
        page=2 if query.cursor else 1,
        after=query.cursor,
    )
    page = await services.list_numbers(session, vault, principal, filters)
    window = page.window
    if query.cursor and window.page == 1 and window.total.count:
        raise CursorInvalid()
    return PeoplePage(
        items=[person_read(row) for row in window.rows],
        next_cursor=window.last_cursor if window.has_next else None,
        total=window.total.count,
        total_is_lower_bound=window.total.capped,
    )


async def read_person(session: AsyncSession, vault: Vault, principal: Principal, person_id: str) -> PersonRead:
    """One person of the principal's tenant (404 for anyone else's id)."""
    return person_read(await services.number_row(session, vault, principal, person_id))


# Writing ------------------------------------------------------------------------------------------------------------

_FORMS: dict[PersonKind, type[msgspec.Struct]] = {
    PersonKind.EMPLOYEE: EmployeeForm,
    PersonKind.DEPENDANT: DependantForm,
    PersonKind.PAYEE: PayeeForm,
}
_NOT_OF_KIND = "この区分（{kind}）では使えない項目です。"


def _fields_of(kind: PersonKind) -> set[str]:
    return set(_FORMS[kind].__struct_fields__)


def _refuse_other_kinds(kind: PersonKind, given: dict[str, Any], also: frozenset[str] = frozenset()) -> None:
    allowed = _fields_of(kind) | also
    wrong = {name: _NOT_OF_KIND.format(kind=kind.label) for name in given if name not in allowed}
    if wrong:
        raise FormInvalid(wrong)


async def create_person(session: AsyncSession, principal: Principal, data: PersonCreate) -> Person:
    """Add an employee, a dependant (under ``employee_id``) or a payee through the tenants services (their checks,
    Japanese messages and log entry); FormInvalid for a field of another kind or an unknown employee."""
    kind = PersonKind(data.kind)
    given = {name: getattr(data, name) for name in data.__struct_fields__ if name != "kind" and getattr(data, name)}
    also = frozenset({"employee_id"}) if kind is PersonKind.DEPENDANT else frozenset()
    _refuse_other_kinds(kind, given, also)
    values = {name: value for name, value in given.items() if name in _fields_of(kind)}
    if kind is PersonKind.EMPLOYEE:
        return await services.add_employee(session, principal, EmployeeForm(**values))
    if kind is PersonKind.PAYEE:
        return await services.add_payee(session, principal, PayeeForm(**values))
    employee = await _employee_of(session, principal, data.employee_id)
    return await services.add_dependant(session, principal, employee, DependantForm(**values))


async def _employee_of(session: AsyncSession, principal: Principal, employee_id: str) -> Person:
    if not employee_id.strip():
        raise FormInvalid({"employee_id": "扶養家族を追加する従業員の ID を指定してください。"})
    try:
        return await services.get_employee(session, principal, employee_id.strip())
    except NotFoundException:
        raise FormInvalid(
            {
                "employee_id": "この ID の従業員が見つかりません。"
                "従業員の ID（GET /api/v1/people の id）を指定してください。"
            }
        ) from None


async def update_person(session: AsyncSession, principal: Principal, person_id: str, data: PersonUpdate) -> Person:
    """Change the given fields of a person (404 for another tenant's id), through the same checks as the edit pages:
    the stored values are the form, the given ones replace theirs (null or "" clears a field)."""
    person = await services.get_person(session, principal, person_id)
    given = {
        name: "" if value is None else value
        for name in data.__struct_fields__
        if (value := getattr(data, name)) is not msgspec.UNSET
    }
    _refuse_other_kinds(person.kind, given)
    if person.kind is PersonKind.EMPLOYEE:
        form = msgspec.structs.replace(services.employee_form(person), **given)
        await services.update_employee(session, principal, person, form)
    elif person.kind is PersonKind.DEPENDANT:
        form_d = msgspec.structs.replace(services.dependant_form(person), **given)
        await services.update_dependant(session, principal, person, form_d)
    else:
        form_p = msgspec.structs.replace(services.payee_form(person), **given)
        await services.update_payee(session, principal, person, form_p)
    await session.flush()
    return person


# Numbers ------------------------------------------------------------------------------------------------------------


async def register_number(
    session: AsyncSession, vault: Vault, principal: Principal, person_id: str, number: str
) -> RegisteredNumber:
    """代理登録 through the admin's service (the duplicate rule, the 代理登録 entry); 404 for another tenant's id,
    FormInvalid (``number``) with the same Japanese messages as the page."""
    row = await services.number_row(session, vault, principal, person_id)
    registration = await services.proxy_register(session, vault, principal, row.person, number)
    warnings = []
    if registration.duplicate_of:
        warnings.append(
            "同じ番号が別の対象者にも登録されています（重複の疑い）。管理画面の「重複の疑い」で確認してください。"
        )
    if registration.repeated_digit:
        warnings.append("同じ数字の繰り返しの番号です。番号確認書類と照らして誤りがないか確認してください。")
    person = row.person
    return RegisteredNumber(
        person_id=person.id,
        field=services.number_field(person).value,  # type: ignore[arg-type]
        masked=registration.masked,
        status=status_key(person.status),  # type: ignore[arg-type]
        status_label=person.status.value,
        duplicate_suspected=bool(registration.duplicate_of),
        warnings=warnings,
    )


async def read_numbers(
    session: AsyncSession, vault: Vault, principal: Principal, ids: list[uuid.UUID], purpose: str
) -> NumbersRead:
    """Numbers of up to 100 people for a notified purpose, one 閲覧 entry per number returned (the vault's batch
    reveal, ``tenants.services.reveal_numbers``); PeopleNotFound for ids outside the tenant."""
    batch = await services.reveal_numbers(session, vault, principal, ids, purpose, function=READ_FUNCTION)
    return NumbersRead(
        purpose=purpose,
        items=[
            NumberRead(person_id=n.person_id, field=n.field.value, number=n.number)  # type: ignore[arg-type]
            for n in batch.numbers
        ],
        without_number=batch.without_number,
    )
