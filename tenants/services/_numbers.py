"""The admin's number management: the masked list, collection progress, what needs attention, and the proxy
registration, admin confirmation, reveal and correction decisions behind the list's buttons.

Lists read masks from the vault (``number_info``) and never decrypt; every change goes through ``_records``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.auth.principal import Principal
from app.auth.scoping import get_scoped, scoped
from app.forms import FormInvalid, clean_text
from app.vault import DuplicateNumber, InvalidNumber, NumberInfo, Vault
from app.vault.numbers import is_repeated_digit
from tenants.models import CollectionStatus, CorrectionRequest, Department, Person, PersonKind, RequestStatus
from tenants.purposes import PURPOSES
from tenants.services import _records
from tenants.services._departments import list_departments
from tenants.services._people import JST, count_rows
from tenants.services._records import CORRECTION_REASONS, Channel, PersonContext, RecordError

LIST_FUNCTION = "マイナンバー一覧"

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
}
KIND_FILTERS: dict[str, str] = {kind.value: kind.label for kind in PersonKind}
SORTS: dict[str, str] = {"department": "部門", "code": "社員コード", "registered": "登録日"}
ORDERS: dict[str, str] = {"asc": "昇順", "desc": "降順"}
PER_PAGE_CHOICES: tuple[int, ...] = (20, 50, 100)

# The employee a dependant belongs to: dependants are listed under their employee's department and code.
Owner = aliased(Person, name="owner")
_owner_code = func.coalesce(Owner.employee_code, Person.employee_code)
_owner_department_id = func.coalesce(Owner.department_id, Person.department_id)
_dependant_last = case((Person.kind == PersonKind.DEPENDANT, 1), else_=0)


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

    @property
    def masked(self) -> str:
        return self.number.masked if self.number else ""

    @property
    def registered_on(self) -> str:
        moment = self.number.registered_at if self.number else self.person.registered_at
        return moment.astimezone(JST).strftime("%Y/%m/%d") if moment else ""

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


def _joined(principal: Principal) -> Any:
    """People of the principal's tenant with their employee (for dependants) and department."""
    return (
        scoped(Person, principal)
        .add_columns(Owner, Department)
        .outerjoin(Owner, and_(Owner.tenant_id == Person.tenant_id, Owner.id == Person.employee_id))
        .outerjoin(Department, and_(Department.tenant_id == Person.tenant_id, Department.id == _owner_department_id))
    )


async def _rows(session: AsyncSession, vault: Vault | None, principal: Principal, statement: Any) -> list[NumberRow]:
    result = await session.execute(statement)
    rows = [NumberRow(person, owner, department) for person, owner, department in result.all()]
    if vault is None or not rows:
        return rows
    infos = await vault.number_info(session, principal.tenant_id, [row.person.id for row in rows])
    return [replace(row, number=infos.get(row.person.id)) for row in rows]


def _conditions(filters: NumberFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.department:
        conditions.append(_owner_department_id == uuid.UUID(filters.department))
    if filters.kind:
        conditions.append(Person.kind == PersonKind(filters.kind))
    if filters.status == "unconfirmed":
        conditions.append(Person.status.in_(UNCONFIRMED))
    elif filters.status:
        conditions.append(Person.status == CollectionStatus[filters.status.upper()])
    if filters.name:
        conditions.append(
            or_(
                Person.name.contains(filters.name, autoescape=True),
                Person.kana.contains(filters.name, autoescape=True),
                Owner.name.contains(filters.name, autoescape=True),
            )
        )
    if filters.code:
        conditions.append(_owner_code == filters.code)
    return conditions


def _ordering(filters: NumberFilters) -> list[Any]:
    """Employees with their dependants right under them, payees last; NULLs last on every database."""

    def directed(column: Any) -> Any:
        return column.desc() if filters.order == "desc" else column.asc()

    by_department = [Department.code.is_(None), directed(Department.code)]
    by_code = [_owner_code.is_(None), directed(_owner_code)]
    # The family key keeps an employee and their dependants together even when codes are missing.
    family = [func.coalesce(Owner.id, Person.id), _dependant_last, Person.created_at, Person.id]
    if filters.sort == "code":
        return [*by_code, *family]
    if filters.sort == "registered":
        return [Person.registered_at.is_(None), directed(Person.registered_at), *family]
    return [*by_department, _owner_code.is_(None), _owner_code, *family]


async def list_numbers(session: AsyncSession, vault: Vault, principal: Principal, filters: NumberFilters) -> NumberPage:
    """One page of the masked list (masks from the vault; nothing is decrypted)."""
    conditions = _conditions(filters)
    base = _joined(principal).where(*conditions)
    total = await count_rows(session, base)
    pages = max(1, math.ceil(total / filters.per_page))
    filters = replace(filters, page=min(filters.page, pages))
    statement = base.order_by(*_ordering(filters)).limit(filters.per_page).offset((filters.page - 1) * filters.per_page)
    return NumberPage(rows=await _rows(session, vault, principal, statement), total=total, filters=filters)


async def status_counts(session: AsyncSession, principal: Principal) -> list[StatusCount]:
    """How many people stand in each status (the collection progress above the list), 未確認 included."""
    statement = scoped(Person, principal).with_only_columns(Person.status, func.count()).group_by(Person.status)
    by_status = {CollectionStatus(status): count for status, count in (await session.execute(statement)).all()}
    counts = []
    for key, label in STATUS_FILTERS.items():
        if key == "unconfirmed":
            count = sum(by_status.get(status, 0) for status in UNCONFIRMED)
        else:
            count = by_status.get(CollectionStatus[key.upper()], 0)
        counts.append(StatusCount(key, label, count))
    return counts


async def department_choices(session: AsyncSession, principal: Principal) -> list[tuple[str, str]]:
    """``(id, "code name")`` of the tenant's departments, for the list's filter."""
    return [(str(d.id), f"{d.code} {d.name}") for d in await list_departments(session, principal)]


# Progress and attention (admin home) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    """Collection progress of one group of people (a department, payees, or everyone)."""

    label: str
    code: str = ""
    registered: int = 0
    declined: int = 0
    total: int = 0

    @property
    def percent(self) -> int:
        return round(100 * self.registered / self.total) if self.total else 0

    @property
    def ratio(self) -> float:
        return self.registered / self.total if self.total else 0.0

    @property
    def declined_ratio(self) -> float:
        return self.declined / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class ProgressReport:
    """Progress per department (employees and their dependants), of payees, and overall."""

    departments: list[Progress]
    overall: Progress


async def collection_progress(session: AsyncSession, principal: Principal) -> ProgressReport:
    """Registered / total per department; people whose number was erased are not counted."""
    statement = (
        _joined(principal)
        .with_only_columns(Department.id, Person.kind, Person.status, func.count())
        .where(Person.status != CollectionStatus.ERASED)
        .group_by(Department.id, Person.kind, Person.status)
    )
    tallies: dict[str, list[int]] = {}
    for department_id, kind, status, count in (await session.execute(statement)).all():
        key = "payee" if PersonKind(kind) is PersonKind.PAYEE else str(department_id or "")
        tally = tallies.setdefault(key, [0, 0, 0])
        status = CollectionStatus(status)
        tally[0] += count if status.has_number else 0
        tally[1] += count if status is CollectionStatus.DECLINED else 0
        tally[2] += count
    groups = [
        Progress(d.name, d.code, *tallies.get(str(d.id), [0, 0, 0])) for d in await list_departments(session, principal)
    ]
    if "" in tallies:
        groups.append(Progress("部門未設定", "", *tallies[""]))
    if "payee" in tallies:
        groups.append(Progress("取引先", "", *tallies["payee"]))
    overall = Progress(
        "全体",
        "",
        sum(g.registered for g in groups),
        sum(g.declined for g in groups),
        sum(g.total for g in groups),
    )
    return ProgressReport(groups, overall)


@dataclass(frozen=True, slots=True)
class CorrectionRow:
    """A correction request with the person it is about."""

    request: CorrectionRequest
    row: NumberRow

    @property
    def reason_label(self) -> str:
        return CORRECTION_REASONS.get(self.request.reason, self.request.reason)

    @property
    def requested_on(self) -> str:
        return self.request.created_at.astimezone(JST).strftime("%Y/%m/%d %H:%M")

    @property
    def decided_on(self) -> str:
        decided = self.request.decided_at
        return decided.astimezone(JST).strftime("%Y/%m/%d %H:%M") if decided else ""


@dataclass(frozen=True, slots=True)
class Attention:
    """要対応: a few rows of each kind and how many there are in all."""

    unconfirmed: list[NumberRow]
    unconfirmed_total: int
    identity_changed: list[NumberRow]
    declined: list[NumberRow]
    declined_total: int
    corrections: list[CorrectionRow]
    corrections_total: int


_IDENTITY_CHANGED = and_(
    Person.identity_changed_at.is_not(None),
    Person.admin_confirmed_at.is_not(None),
    Person.identity_changed_at > Person.admin_confirmed_at,
)


async def needs_attention(session: AsyncSession, principal: Principal, *, limit: int = 10) -> Attention:
    """Unconfirmed numbers, identity changes after confirmation, declined people and pending corrections."""
    family_order = [Department.code.is_(None), Department.code, _owner_code.is_(None), _owner_code, _dependant_last]
    unconfirmed = _joined(principal).where(Person.status.in_(UNCONFIRMED))
    declined = _joined(principal).where(Person.status == CollectionStatus.DECLINED)
    changed = _joined(principal).where(Person.status.in_((*UNCONFIRMED, CollectionStatus.ADMIN_CONFIRMED)))
    corrections = await list_corrections(session, None, principal)
    return Attention(
        unconfirmed=await _rows(session, None, principal, unconfirmed.order_by(*family_order).limit(limit)),
        unconfirmed_total=await count_rows(session, unconfirmed),
        identity_changed=await _rows(
            session, None, principal, changed.where(_IDENTITY_CHANGED).order_by(*family_order).limit(limit)
        ),
        declined=await _rows(session, None, principal, declined.order_by(Person.declined_at.desc()).limit(limit)),
        declined_total=await count_rows(session, declined),
        corrections=corrections[:limit],
        corrections_total=len(corrections),
    )


# One person ---------------------------------------------------------------------------------------------------


async def number_row(session: AsyncSession, vault: Vault, principal: Principal, person_id: str) -> NumberRow:
    """One person of the principal's tenant with their mask, or 404."""
    person = await get_scoped(session, Person, principal, person_id)
    (row,) = await _rows(session, vault, principal, _joined(principal).where(Person.id == person.id))
    return row


@dataclass(frozen=True, slots=True)
class Registration:
    """What a proxy registration may show: the mask, and whether the number deserves a second look."""

    masked: str
    repeated_digit: bool


async def proxy_register(
    session: AsyncSession, vault: Vault, principal: Principal, person: Person, number: str
) -> Registration:
    """代理登録 (unlimited; replaces a registered number): FormInvalid with a Japanese message on bad input."""
    try:
        stored = await _records.register_number(
            session, vault, actor=principal.actor(), person=person, number=number, channel=Channel.PROXY
        )
    except (InvalidNumber, DuplicateNumber, RecordError) as exc:
        raise FormInvalid({"number": exc.message}) from None
    return Registration(masked=stored.masked, repeated_digit=is_repeated_digit(number))


async def confirm_number(session: AsyncSession, principal: Principal, person: Person) -> None:
    """管理者番号確認 after checking a number document (RecordError when there is no number)."""
    await _records.confirm_by_admin(session, actor=principal.actor(), person=person)


async def reveal_for_purpose(
    session: AsyncSession, vault: Vault, principal: Principal, person: Person, purpose: str
) -> str:
    """Open the number for one of the purposes (logged once by the vault); FormInvalid without a valid purpose."""
    if purpose not in PURPOSES:
        raise FormInvalid({"purpose": "利用目的を一覧から選択してください。"})
    try:
        return await _records.reveal_number(
            session, vault, actor=principal.actor(), person=person, purpose=purpose, function=LIST_FUNCTION
        )
    except RecordError as exc:
        raise FormInvalid({"purpose": exc.message}) from None


# Correction requests ------------------------------------------------------------------------------------------


async def list_corrections(
    session: AsyncSession, vault: Vault | None, principal: Principal, *, status: RequestStatus = RequestStatus.PENDING
) -> list[CorrectionRow]:
    """Correction requests in a status (oldest first), each with its person and, given the vault, the mask."""
    statement = (
        scoped(CorrectionRequest, principal)
        .where(CorrectionRequest.status == status)
        .order_by(CorrectionRequest.created_at, CorrectionRequest.id)
    )
    requests = list((await session.execute(statement)).scalars())
    people = await _people_rows(session, vault, principal, [r.person_id for r in requests])
    return [CorrectionRow(request, people[request.person_id]) for request in requests if request.person_id in people]


async def recent_decisions(session: AsyncSession, principal: Principal, *, limit: int = 20) -> list[CorrectionRow]:
    """The latest approved or rejected requests, newest first."""
    statement = (
        scoped(CorrectionRequest, principal)
        .where(CorrectionRequest.status != RequestStatus.PENDING)
        .order_by(CorrectionRequest.decided_at.desc(), CorrectionRequest.id.desc())
        .limit(limit)
    )
    requests = list((await session.execute(statement)).scalars())
    people = await _people_rows(session, None, principal, [r.person_id for r in requests])
    return [CorrectionRow(request, people[request.person_id]) for request in requests if request.person_id in people]


async def _people_rows(
    session: AsyncSession, vault: Vault | None, principal: Principal, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, NumberRow]:
    if not ids:
        return {}
    rows = await _rows(session, vault, principal, _joined(principal).where(Person.id.in_(set(ids))))
    return {row.person.id: row for row in rows}


async def decide_correction(
    session: AsyncSession, vault: Vault, principal: Principal, request_id: str, *, approve: bool
) -> NumberRow:
    """Approve (the old number is erased through the vault; both logged) or reject a request; 404 for outsiders."""
    request = await get_scoped(session, CorrectionRequest, principal, request_id)
    person = await get_scoped(session, Person, principal, request.person_id)
    row = (await _people_rows(session, None, principal, [person.id]))[person.id]
    if approve:
        await _records.approve_correction(session, vault, actor=principal.actor(), request=request, person=person)
    else:
        await _records.reject_correction(session, actor=principal.actor(), request=request, person=person)
    return row
