"""The admin's masked number list: filters, sorting, paging and how many people stand in each status.

Lists read masks from the vault (``number_info``) and never decrypt.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.auth.principal import Principal
from app.auth.scoping import scoped
from app.forms import clean_text
from app.text import format_date
from app.vault import NumberInfo, Vault
from tenants.models import CollectionStatus, Department, Person, PersonKind
from tenants.services._counts import count_duplicate_people, status_totals
from tenants.services._departments import list_departments
from tenants.services._duplicates import duplicate_people_condition, open_duplicate_people
from tenants.services._people import count_rows, name_matches
from tenants.services._records import PersonContext

UNCONFIRMED = (CollectionStatus.REGISTERED, CollectionStatus.PROXY_REGISTERED, CollectionStatus.SELF_CONFIRMED)

STATUS_FILTERS: dict[str, str] = {
    "not_registered": CollectionStatus.NOT_REGISTERED.value,
    "unconfirmed": "未確認",
    "registered": CollectionStatus.REGISTERED.value,
    "proxy_registered": CollectionStatus.PROXY_REGISTERED.value,
    "self_confirmed": CollectionStatus.SELF_CONFIRMED.value,
    "admin_confirmed": CollectionStatus.ADMIN_CONFIRMED.value,
    "declined": CollectionStatus.DECLINED.value,
    "erased": CollectionStatus.ERASED.value,
    "duplicate": "重複の疑い",
}
KIND_FILTERS: dict[str, str] = {kind.value: kind.label for kind in PersonKind}
SORTS: dict[str, str] = {"department": "部門", "code": "社員コード", "registered": "登録日"}
ORDERS: dict[str, str] = {"asc": "昇順", "desc": "降順"}
PER_PAGE_CHOICES: tuple[int, ...] = (20, 50, 100)

# The employee a dependant belongs to: dependants are listed under their employee's department and code.
Owner = aliased(Person, name="owner")
owner_code = func.coalesce(Owner.employee_code, Person.employee_code)
owner_department_id = func.coalesce(Owner.department_id, Person.department_id)
dependant_last = case((Person.kind == PersonKind.DEPENDANT, 1), else_=0)


# Filters ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumberFilters:
    """The list's GET parameters; unknown values fall back to the defaults rather than failing."""

    department: str = ""
    kind: str = ""
    status: str = ""
    name: str = ""
    code: str = ""
    sort: str = "department"
    order: str = "asc"
    per_page: int = PER_PAGE_CHOICES[0]
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> NumberFilters:
        """Read the filters from query parameters, leniently."""

        def text(key: str, limit: int = 100) -> str:
            value = params.get(key)
            return clean_text(value)[:limit] if isinstance(value, str) else ""

        department = text("department")
        try:
            department = str(uuid.UUID(department)) if department else ""
        except ValueError:
            department = ""
        defaults = cls()
        per_page = _positive_int(text("per_page"), defaults.per_page)
        return cls(
            department=department,
            kind=_known(text("kind"), KIND_FILTERS),
            status=_known(text("status"), STATUS_FILTERS),
            name=text("name"),
            code=text("code", 32),
            sort=_known(text("sort"), SORTS, defaults.sort),
            order=_known(text("order"), ORDERS, defaults.order),
            per_page=per_page if per_page in PER_PAGE_CHOICES else defaults.per_page,
            page=_positive_int(text("page"), 1),
        )

    def query(self, **changes: Any) -> str:
        """The query string of these filters with some changed (only non-default values are written)."""
        changed = replace(self, **changes)
        defaults = NumberFilters()
        pairs = [
            (name, getattr(changed, name))
            for name in ("department", "kind", "status", "name", "code", "sort", "order", "per_page", "page")
            if getattr(changed, name) != getattr(defaults, name)
        ]
        return "?" + urlencode(pairs) if pairs else ""

    def sort_link(self, sort: str) -> str:
        """Sort by this column; a second click on the same column reverses the order."""
        order = "desc" if self.sort == sort and self.order == "asc" else "asc"
        return self.query(sort=sort, order=order, page=1)

    @property
    def active(self) -> bool:
        return any((self.department, self.kind, self.status, self.name, self.code))


def _known(value: str, choices: Mapping[str, str], default: str = "") -> str:
    return value if value in choices else default


def _positive_int(value: str, default: int) -> int:
    try:
        number = int(value)
    except ValueError:
        return default
    return number if 0 < number <= 1_000_000 else default


# Rows -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumberRow(PersonContext):
    """One line of the list: a person, named and placed as on the seed's screen, with the mask of the number."""

    number: NumberInfo | None = None
    duplicate: bool = False  # on either side of an unsettled 重複の疑い

    @property
    def masked(self) -> str:
        return self.number.masked if self.number else ""

    @property
    def registered_on(self) -> str:
        moment = self.number.registered_at if self.number else self.person.registered_at
        return format_date(moment)

    @property
    def has_number(self) -> bool:
        return self.person.status.has_number

    @property
    def needs_admin_confirmation(self) -> bool:
        return self.has_number and (
            self.person.status is not CollectionStatus.ADMIN_CONFIRMED or self.person.identity_warning
        )


@dataclass(frozen=True, slots=True)
class NumberPage:
    """A page of the list with the paging figures."""

    rows: list[NumberRow]
    total: int
    filters: NumberFilters

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.filters.per_page))

    @property
    def first_index(self) -> int:
        return 0 if self.total == 0 else (self.filters.page - 1) * self.filters.per_page + 1

    @property
    def last_index(self) -> int:
        return min(self.total, self.filters.page * self.filters.per_page)


@dataclass(frozen=True, slots=True)
class StatusCount:
    key: str
    label: str
    count: int


def joined_people(principal: Principal) -> Any:
    """People of the principal's tenant with their employee (for dependants) and department."""
    return (
        scoped(Person, principal)
        .add_columns(Owner, Department)
        .outerjoin(Owner, and_(Owner.tenant_id == Person.tenant_id, Owner.id == Person.employee_id))
        .outerjoin(Department, and_(Department.tenant_id == Person.tenant_id, Department.id == owner_department_id))
    )


async def number_rows(
    session: AsyncSession, vault: Vault | None, principal: Principal, statement: Any
) -> list[NumberRow]:
    result = await session.execute(statement)
    rows = [NumberRow(person, owner, department) for person, owner, department in result.all()]
    if not rows:
        return rows
    flagged = await open_duplicate_people(session, principal.tenant_id, [row.person.id for row in rows])
    rows = [replace(row, duplicate=row.person.id in flagged) for row in rows]
    if vault is None:
        return rows
    infos = await vault.number_info(session, principal.tenant_id, [row.person.id for row in rows])
    return [replace(row, number=infos.get(row.person.id)) for row in rows]


def _conditions(filters: NumberFilters, tenant_id: uuid.UUID) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.department:
        conditions.append(owner_department_id == uuid.UUID(filters.department))
    if filters.kind:
        conditions.append(Person.kind == PersonKind(filters.kind))
    if filters.status == "unconfirmed":
        conditions.append(Person.status.in_(UNCONFIRMED))
    elif filters.status == "duplicate":
        conditions.append(duplicate_people_condition(tenant_id))
    elif filters.status:
        conditions.append(Person.status == CollectionStatus[filters.status.upper()])
    if filters.name:
        conditions.append(or_(name_matches(filters.name), name_matches(filters.name, Owner)))
    if filters.code:
        conditions.append(owner_code == filters.code)
    return conditions


def _ordering(filters: NumberFilters) -> list[Any]:
    """Employees with their dependants right under them, payees last; NULLs last on every database."""

    def directed(column: Any) -> Any:
        return column.desc() if filters.order == "desc" else column.asc()

    by_department = [Department.code.is_(None), directed(Department.code)]
    by_code = [owner_code.is_(None), directed(owner_code)]
    # The family key keeps an employee and their dependants together even when codes are missing.
    family = [func.coalesce(Owner.id, Person.id), dependant_last, Person.created_at, Person.id]
    if filters.sort == "code":
        return [*by_code, *family]
    if filters.sort == "registered":
        return [Person.registered_at.is_(None), directed(Person.registered_at), *family]
    return [*by_department, owner_code.is_(None), owner_code, *family]


async def list_numbers(session: AsyncSession, vault: Vault, principal: Principal, filters: NumberFilters) -> NumberPage:
    """One page of the masked list (masks from the vault; nothing is decrypted)."""
    conditions = _conditions(filters, principal.tenant_id)
    base = joined_people(principal).where(*conditions)
    total = await count_rows(session, base)
    pages = max(1, math.ceil(total / filters.per_page))
    filters = replace(filters, page=min(filters.page, pages))
    statement = base.order_by(*_ordering(filters)).limit(filters.per_page).offset((filters.page - 1) * filters.per_page)
    return NumberPage(rows=await number_rows(session, vault, principal, statement), total=total, filters=filters)


async def status_counts(session: AsyncSession, principal: Principal) -> list[StatusCount]:
    """How many people stand in each status (the chips above the list), 未確認 included.

    From the counters (``tenants.services._counts``), and 重複の疑い from the open cases: no people are counted.
    """
    by_status = await status_totals(session, principal.tenant_id)
    counts = []
    for key, label in STATUS_FILTERS.items():
        if key == "unconfirmed":
            count = sum(by_status.get(status, 0) for status in UNCONFIRMED)
        elif key == "duplicate":
            count = await count_duplicate_people(session, principal.tenant_id)
        else:
            count = by_status.get(CollectionStatus[key.upper()], 0)
        counts.append(StatusCount(key, label, count))
    return counts


async def department_choices(session: AsyncSession, principal: Principal) -> list[tuple[str, str]]:
    """``(id, "code name")`` of the tenant's departments, for the list's filter."""
    return [(str(d.id), f"{d.code} {d.name}") for d in await list_departments(session, principal)]
