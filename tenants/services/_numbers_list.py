"""The admin's masked number list: filters, sorting, paging and how many people stand in each status.

A page costs the same at 100 people and at 100,000: people are sorted by their placement columns
(``tenants.models.LIST_SORTS``, kept by ``tenants.listing``) along the matching ``ix_people_list_<sort>_<order>``
index and paged with ``app.paging.read_window`` (numbered pages first, then cursors); owners and departments are
loaded for the page's rows only; totals and status counts come from the counters (``people_counts``), or are
counted up to ``COUNT_CAP`` when a name or code filter is set. Lists read masks from the vault (``number_info``)
and never decrypt.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, and_, case, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.auth.principal import Principal
from app.auth.scoping import scoped
from app.forms import clean_text
from app.paging import (
    COUNT_CAP,
    MAX_CURSOR,
    PageRequest,
    SortColumn,
    Total,
    Window,
    capped_count,
    read_window,
)
from app.text import format_date
from app.vault import NumberInfo, Vault
from tenants.models import LIST_SORTS, CollectionStatus, Department, NumberDuplicate, Person, PersonKind
from tenants.services._counts import count_duplicate_people, count_people, status_totals
from tenants.services._departments import list_departments
from tenants.services._duplicates import open_cases, open_duplicate_people
from tenants.services._records import PersonContext
from tenants.services._search import name_filter

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

# The employee a dependant belongs to, for pages that join it (the home page's lists, one row by id). The masked
# list itself sorts by the placement columns instead.
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
    after: str = ""  # cursors of the 次へ / 前へ links (app.paging.read_window)
    before: str = ""

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
        paging = PageRequest.from_query(params)
        return cls(
            department=department,
            kind=_known(text("kind"), KIND_FILTERS),
            status=_known(text("status"), STATUS_FILTERS),
            name=text("name"),
            code=text("code", 32),
            sort=_known(text("sort"), SORTS, defaults.sort),
            order=_known(text("order"), ORDERS, defaults.order),
            per_page=per_page if per_page in PER_PAGE_CHOICES else defaults.per_page,
            page=paging.page,
            after=paging.after,
            before=paging.before,
        )

    def query(self, **changes: Any) -> str:
        """The query string of these filters with some changed (only non-default values are written).

        A cursor belongs to the page it was read on: unless given, ``after``/``before`` are left out.
        """
        changed = replace(self, **{"after": "", "before": "", **changes})
        defaults = NumberFilters()
        pairs = [
            (name, getattr(changed, name))
            for name in (
                "department",
                "kind",
                "status",
                "name",
                "code",
                "sort",
                "order",
                "per_page",
                "page",
                "after",
                "before",
            )
            if getattr(changed, name) != getattr(defaults, name)
        ]
        return "?" + urlencode(pairs) if pairs else ""

    @property
    def paging(self) -> PageRequest:
        return PageRequest(page=self.page, after=self.after[:MAX_CURSOR], before=self.before[:MAX_CURSOR])

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
    """A page of the list (``window``: rows, position, total, cursors) and the filters it was read with."""

    window: Window[NumberRow]
    filters: NumberFilters
    counts: list[StatusCount] = field(default_factory=list)  # the status chips
    departments: list[tuple[str, str]] = field(default_factory=list)  # the department filter's choices

    @property
    def rows(self) -> list[NumberRow]:
        return self.window.rows

    @property
    def total(self) -> Total:
        return self.window.total


@dataclass(frozen=True, slots=True)
class StatusCount:
    key: str
    label: str
    count: int


def joined_people(principal: Principal) -> Any:
    """People of the principal's tenant with their employee (for dependants) and department (pages that read a few
    rows by id or by status; the masked list reads :func:`people_rows` instead)."""
    return (
        scoped(Person, principal)
        .add_columns(Owner, Department)
        .outerjoin(Owner, and_(Owner.tenant_id == Person.tenant_id, Owner.id == Person.employee_id))
        .outerjoin(Department, and_(Department.tenant_id == Person.tenant_id, Department.id == owner_department_id))
    )


async def number_rows(
    session: AsyncSession, vault: Vault | None, principal: Principal, statement: Any
) -> list[NumberRow]:
    """The rows of a :func:`joined_people` statement, flagged and masked."""
    result = await session.execute(statement)
    rows = [NumberRow(person, owner, department) for person, owner, department in result.all()]
    return await _flagged_and_masked(session, vault, principal, rows)


async def people_rows(
    session: AsyncSession,
    vault: Vault | None,
    principal: Principal,
    people: list[Person],
    departments: Mapping[uuid.UUID, Department] | None = None,
    *,
    open_duplicates: bool = True,
) -> list[NumberRow]:
    """Rows for these people (a page), their employees (and departments, unless the caller has the tenant's
    departments already) read by id for them only. ``open_duplicates=False``: the caller knows the tenant has no
    unsettled 重複の疑い (its chip counts none), so no row is flagged without asking."""
    owner_ids = {p.employee_id for p in people if p.kind is PersonKind.DEPENDANT and p.employee_id is not None}
    owners = await _by_id(session, scoped(Person, principal), Person.id, owner_ids)
    if departments is None:
        department_ids = {p.list_department_id for p in people if p.list_department_id is not None}
        departments = await _by_id(session, scoped(Department, principal), Department.id, department_ids)
    rows = [
        NumberRow(
            person,
            owners.get(person.employee_id) if person.kind is PersonKind.DEPENDANT and person.employee_id else None,
            departments.get(person.list_department_id) if person.list_department_id else None,
        )
        for person in people
    ]
    return await _flagged_and_masked(session, vault, principal, rows, open_duplicates=open_duplicates)


async def _by_id(session: AsyncSession, statement: Select[Any], id_column: Any, ids: Iterable[Any]) -> dict[Any, Any]:
    wanted = list(ids)
    if not wanted:
        return {}
    return {row.id: row for row in (await session.execute(statement.where(id_column.in_(wanted)))).scalars()}


async def _flagged_and_masked(
    session: AsyncSession,
    vault: Vault | None,
    principal: Principal,
    rows: list[NumberRow],
    *,
    open_duplicates: bool = True,
) -> list[NumberRow]:
    if not rows:
        return rows
    ids = [row.person.id for row in rows]
    flagged = await open_duplicate_people(session, principal.tenant_id, ids) if open_duplicates else set()
    infos = await vault.number_info(session, principal.tenant_id, ids) if vault is not None else {}
    return [replace(row, duplicate=row.person.id in flagged, number=infos.get(row.person.id)) for row in rows]


# The list's query ---------------------------------------------------------------------------------------------


def list_ordering(sort: str, order: str) -> list[SortColumn]:
    """The ordering of a sort: section, key (in the chosen direction), the family tail (ascending), as in the
    ``ix_people_list_<sort>_<order>`` index."""
    section, key, tail = LIST_SORTS[sort if sort in LIST_SORTS else "department"]

    def by(name: str, descending: bool = False) -> SortColumn:
        return SortColumn(getattr(Person, name), name, descending)

    return [by(section), by(key, order == "desc"), *(by(name) for name in tail)]


def _statuses(status: str) -> tuple[CollectionStatus, ...] | None:
    """The statuses a status filter stands for (None: not a filter by status)."""
    if status == "unconfirmed":
        return UNCONFIRMED
    if status and status != "duplicate":
        return (CollectionStatus[status.upper()],)
    return None


def duplicate_people_ids(tenant_id: uuid.UUID) -> Any:
    """``SELECT`` of the people on either side of an unsettled 重複の疑い (one IN list: read by primary key)."""
    return union(
        select(NumberDuplicate.person_id).where(NumberDuplicate.tenant_id == tenant_id, *open_cases()),
        select(NumberDuplicate.other_person_id).where(NumberDuplicate.tenant_id == tenant_id, *open_cases()),
    )


@dataclass(frozen=True, slots=True)
class _Filtered:
    scope: Select[Any]  # the tenant's people
    statement: Select[Any]  # the filtered people (``scope`` itself when nothing filters)
    many_names: bool = False  # the name filter matches more than COUNT_CAP people


async def _filtered(
    session: AsyncSession, principal: Principal, filters: NumberFilters, departments: Mapping[uuid.UUID, Department]
) -> _Filtered | None:
    """The filtered people (no order); None when no one can match (a department not of this tenant)."""
    scope = statement = scoped(Person, principal)
    if filters.department:
        department = departments.get(uuid.UUID(filters.department))
        if department is None:
            return None
        # By section and code (unique in the tenant; people carry their list department's code): the department
        # sort's index reads just this department's range, and no redundant column skews PostgreSQL's estimate.
        statement = statement.where(Person.department_section == 0, Person.list_department_code == department.code)
    if filters.kind:
        statement = statement.where(Person.kind == PersonKind(filters.kind))
    statuses = _statuses(filters.status)
    if statuses is not None:
        statement = statement.where(Person.status == statuses[0] if len(statuses) == 1 else Person.status.in_(statuses))
    elif filters.status == "duplicate":
        statement = statement.where(Person.id.in_(duplicate_people_ids(principal.tenant_id)))
    if filters.code:
        statement = statement.where(Person.code_section == 0, Person.list_owner_code == filters.code)
    if not filters.name:
        return _Filtered(scope, statement)
    # Dependants of a matching employee are listed too (under their employee).
    names = await name_filter(session, principal.tenant_id, filters.name, family=True)
    return _Filtered(scope, statement.where(names.condition), many_names=names.dense)


async def selected_people(session: AsyncSession, principal: Principal, filters: NumberFilters) -> Select[Any] | None:
    """``SELECT Person`` of the people the list's filters select, scoped to the principal's tenant, unordered.

    The same selection as the masked list (department, kind, status — 未確認 and 重複の疑い included — name,
    code); order it with :func:`list_ordering` to read it along the list's indexes (exports read it in keyset
    batches). None when no one can match (a department of another tenant, or none at all).
    """
    departments = {department.id: department for department in await list_departments(session, principal)}
    found = await _filtered(session, principal, filters, departments)
    return None if found is None else found.statement


async def _total(
    session: AsyncSession,
    principal: Principal,
    filters: NumberFilters,
    found: _Filtered,
    by_status: Mapping[CollectionStatus, int],
) -> Total:
    """From the counters (``by_status``, the tenant's totals per status, when only a status or nothing filters),
    unless a filter they do not keep is set (name, code, 重複の疑い): then counted, capped."""
    only_name = not (filters.department or filters.kind or filters.status or filters.code)
    if found.many_names and only_name:
        return Total(COUNT_CAP, capped=True)  # known without counting: more people match the name alone
    if filters.name or filters.code or filters.status == "duplicate":
        return await capped_count(session, found.statement.with_only_columns(Person.id))
    if not (filters.department or filters.kind):
        statuses = _statuses(filters.status)
        return Total(sum(count for status, count in by_status.items() if statuses is None or status in statuses))
    count = await count_people(
        session,
        principal.tenant_id,
        department_id=uuid.UUID(filters.department) if filters.department else None,
        kinds=[PersonKind(filters.kind)] if filters.kind else None,
        statuses=_statuses(filters.status),
    )
    return Total(count)


async def list_numbers(session: AsyncSession, vault: Vault, principal: Principal, filters: NumberFilters) -> NumberPage:
    """One page of the masked list with the status chips and the department choices (masks from the vault;
    nothing is decrypted). The tenant's departments and status totals are read once and serve the filter, the
    rows, the chips and the total."""
    departments = await list_departments(session, principal)
    by_id = {department.id: department for department in departments}
    by_status = await status_totals(session, principal.tenant_id)
    counts = await status_counts(session, principal, by_status)
    choices = _department_choices(departments)
    found = await _filtered(session, principal, filters, by_id)
    empty: Window[NumberRow] = Window(rows=[], page=1, per_page=filters.per_page, total=Total(0))
    if found is None:
        return NumberPage(empty, replace(filters, page=1), counts, choices)
    total = await _total(session, principal, filters, found, by_status)
    if total.count == 0:
        return NumberPage(replace(empty, total=total), replace(filters, page=1), counts, choices)
    keys_from = found.statement
    if filters.status and not filters.kind:  # the (tenant, kind, status) index then serves the status alone
        keys_from = keys_from.where(Person.kind.in_(list(PersonKind)))
    ordering = list_ordering(filters.sort, filters.order)
    window = await read_window(
        session,
        found.statement,
        ordering,
        filters.paging,
        per_page=filters.per_page,
        total=total,
        scope=found.scope,
        keys_from=keys_from,
    )
    open_duplicates = any(count.key == "duplicate" and count.count for count in counts)
    rows = await people_rows(session, vault, principal, window.rows, by_id, open_duplicates=open_duplicates)
    return NumberPage(replace(window, rows=rows), replace(filters, page=window.page), counts, choices)


async def status_counts(
    session: AsyncSession, principal: Principal, by_status: Mapping[CollectionStatus, int] | None = None
) -> list[StatusCount]:
    """How many people stand in each status (the collection progress above the list), 未確認 included; from the
    counters (``by_status`` when the caller read them already), and 重複の疑い from the open cases."""
    if by_status is None:
        by_status = await status_totals(session, principal.tenant_id)
    counts = []
    for key, label in STATUS_FILTERS.items():
        if key == "duplicate":
            count = await count_duplicate_people(session, principal.tenant_id)
        else:
            count = sum(by_status.get(status, 0) for status in _statuses(key) or ())
        counts.append(StatusCount(key, label, count))
    return counts


async def department_choices(session: AsyncSession, principal: Principal) -> list[tuple[str, str]]:
    """``(id, "code name")`` of the tenant's departments, for the list's filter."""
    return _department_choices(await list_departments(session, principal))


def _department_choices(departments: Iterable[Department]) -> list[tuple[str, str]]:
    return [(str(d.id), f"{d.code} {d.name}") for d in departments]
