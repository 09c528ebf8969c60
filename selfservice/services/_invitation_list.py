"""The invitation list: employees with where their invitation stands, a page at a time by index ranges.

A state filter is read as a union of ranges of ``ix_people_invitations[_department]`` — (account state kept on the
person by ``tenants.account_listing``, still in service or leaving later) — each in 社員コード order, merged by the
database; the exact state (the clock decides expiry and the 退職日) is a condition on the joined account and the
person. "All" and filters that include 退職 walk the employees in 社員コード order (``ix_people_list_code_asc`` or
``ix_people_list_department_asc``). Every page costs at most ``NUMBERED_PAGES × 50`` index entries per range.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.guard import contains_digit_run
from app.auth.models import Account, Role
from app.auth.principal import Principal
from app.auth.scoping import scoped
from app.db import utcnow
from app.pager import Count, KeysetPage, PageRequest, capped_count, read_page
from app.paging import SortColumn, seek_union
from app.text import clean_code
from selfservice.services._family import is_retired
from tenants.account_listing import ACCOUNT_ENDING, ACCOUNT_IN_USE, ACCOUNT_NONE, ACCOUNT_ONE_TIME, ACCOUNT_STATES
from tenants.models import Department, Person, PersonKind
from tenants.services import JST, count_people

_LOGIN_ID = re.compile(r"[A-Za-z0-9_.\-]{1,48}")
INVITATIONS_PER_PAGE = 50


class InvitationState(enum.StrEnum):
    NOT_INVITED = "未招待"
    INVITED = "招待中"
    EXPIRED = "期限切れ"
    ACTIVE = "利用中"
    RETIRED = "退職"
    DISABLED = "無効"

    @property
    def invitable(self) -> bool:
        return self not in (InvitationState.RETIRED, InvitationState.DISABLED)


# "Select all" takes only employees without a usable invitation: a bulk action never resets an account in use.
BULK_STATES = frozenset({InvitationState.NOT_INVITED, InvitationState.EXPIRED})
STATE_FILTERS: dict[str, tuple[str, frozenset[InvitationState]]] = {
    "": ("すべて", frozenset(InvitationState)),
    "pending": ("未招待・期限切れ", BULK_STATES),
    "invited": ("招待中", frozenset({InvitationState.INVITED})),
    "active": ("利用中", frozenset({InvitationState.ACTIVE})),
    "inactive": ("退職・無効", frozenset({InvitationState.RETIRED, InvitationState.DISABLED})),
}
SCOPES = ("selected", "page", "filter")

# The account states a person in each invitation state may have on their row (ACCOUNT_ENDING: access ends, maybe
# later; ACCOUNT_NONE also for a row whose account was unlinked outside the ORM).
_ACCOUNT_STATES: dict[InvitationState, tuple[int, ...]] = {
    InvitationState.NOT_INVITED: (ACCOUNT_NONE,),
    InvitationState.INVITED: (ACCOUNT_ONE_TIME, ACCOUNT_ENDING),
    InvitationState.EXPIRED: (ACCOUNT_ONE_TIME, ACCOUNT_ENDING),
    InvitationState.ACTIVE: (ACCOUNT_IN_USE, ACCOUNT_ENDING),
    InvitationState.DISABLED: (ACCOUNT_ENDING,),
}


def invitation_state(person: Person, account: Account | None, now: dt.datetime) -> InvitationState:
    """Where an employee's invitation stands (the employee account carries it: no table of its own)."""
    if is_retired(person, now.astimezone(JST).date()):
        return InvitationState.RETIRED
    if account is None:
        return InvitationState.NOT_INVITED
    if account.is_disabled:
        return InvitationState.DISABLED
    if not account.must_change_password:
        return InvitationState.ACTIVE
    if account.password_expires_at is not None and account.password_expires_at <= now:
        return InvitationState.EXPIRED
    return InvitationState.INVITED


def state_condition(state: InvitationState, now: dt.datetime) -> ColumnElement[bool]:
    """:func:`invitation_state` as SQL over a person and their outer-joined account (the same rule, in SQL)."""
    today = now.astimezone(JST).date()
    retired = and_(Person.retirement_date.is_not(None), Person.retirement_date <= today)
    in_service = or_(Person.retirement_date.is_(None), Person.retirement_date > today)
    if state is InvitationState.RETIRED:
        return retired
    if state is InvitationState.NOT_INVITED:
        return and_(in_service, Account.id.is_(None))
    disabled = and_(Account.disabled_at.is_not(None), Account.disabled_at <= now)
    enabled = or_(Account.disabled_at.is_(None), Account.disabled_at > now)
    if state is InvitationState.DISABLED:
        return and_(in_service, Account.id.is_not(None), disabled)
    usable = and_(in_service, Account.id.is_not(None), enabled)
    if state is InvitationState.ACTIVE:
        return and_(usable, Account.must_change_password == false())
    expired = and_(Account.password_expires_at.is_not(None), Account.password_expires_at <= now)
    one_time = and_(usable, Account.must_change_password == true())
    if state is InvitationState.EXPIRED:
        return and_(one_time, expired)
    return and_(one_time, or_(Account.password_expires_at.is_(None), Account.password_expires_at > now))


@dataclass(frozen=True, slots=True)
class InvitationFilter:
    """The invitation page's filter (部門, state) and page (a number, or a cursor after/before a row)."""

    department_id: str = ""
    state: str = ""
    page: int = 1
    after: str = ""
    before: str = ""

    @property
    def states(self) -> frozenset[InvitationState]:
        return STATE_FILTERS.get(self.state, STATE_FILTERS[""])[1]

    @property
    def page_request(self) -> PageRequest:
        return PageRequest.parse(self.page, self.after, self.before)


@dataclass(frozen=True, slots=True)
class InvitationRow:
    """One employee on the invitation page; ``login_id`` is the account's, or the one an invitation would give."""

    person: Person
    department: Department | None
    account: Account | None
    state: InvitationState
    login_id: str

    @property
    def selectable(self) -> bool:
        return self.state.invitable

    @property
    def expires_at(self) -> dt.datetime | None:
        pending = self.state in (InvitationState.INVITED, InvitationState.EXPIRED)
        return self.account.password_expires_at if self.account is not None and pending else None


@dataclass(frozen=True, slots=True)
class InvitationPage:
    """One page of the invitation list, and who "select all" would take on this page and across the filter."""

    rows: list[InvitationRow]
    total: Count
    window: KeysetPage
    bulk_on_page: list[str]
    bulk_matching: Count
    per_page: int = INVITATIONS_PER_PAGE

    @property
    def page(self) -> int | None:
        return self.window.number


@dataclass(frozen=True, slots=True)
class _Listing:
    """How one filter is read: range statements (keys only), their ordering, and the total when counters give it."""

    statements: list[Select[Any]]
    ordering: list[SortColumn]
    counted: int | None = None


# Employees in 社員コード order (missing codes first, as ""), ties by id; the walks over every employee use the
# masked list's indexes, where an employee's family is themselves (family_id = id, family_rank = 0).
_STATE_ORDER = [SortColumn(Person.list_owner_code, "list_owner_code"), SortColumn(Person.id, "id")]
_WALK_ORDER = [
    SortColumn(Person.list_owner_code, "list_owner_code"),
    SortColumn(Person.family_id, "family_id"),
    SortColumn(Person.family_rank, "family_rank"),
    SortColumn(Person.id, "id"),
]


def _joined(principal: Principal) -> Select[Any]:
    return scoped(Person, principal).outerjoin(
        Account,
        and_(
            Account.tenant_id == Person.tenant_id,
            Account.person_id == Person.id,
            Account.role == Role.EMPLOYEE,
        ),
    )


async def _department(session: AsyncSession, principal: Principal, value: str) -> Department | bool | None:
    """The filter's department; None for no filter; False for an id that names none of the tenant's."""
    if not value:
        return None
    try:
        key = uuid.UUID(value)
    except ValueError:
        return None
    found = await session.execute(scoped(Department, principal).where(Department.id == key))
    return found.scalar_one_or_none() or False


async def _listing(
    session: AsyncSession,
    principal: Principal,
    department: Department | bool | None,
    states: frozenset[InvitationState],
    now: dt.datetime,
) -> _Listing:
    if department is False:
        return _Listing([], _STATE_ORDER, 0)
    assert department is None or isinstance(department, Department)
    everyone = states == frozenset(InvitationState)
    base = (scoped(Person, principal) if everyone else _joined(principal)).where(Person.kind == PersonKind.EMPLOYEE)
    if InvitationState.RETIRED in states:  # retired people are in every account state: walk all employees
        # Employees only (family_rank 0, read off the index); "< 1", not "== 0": SQLite drops an equality-bound
        # column from the ORDER BY and then sorts what follows it instead of reading the index in order.
        if department is None:
            walks = [base.where(Person.code_section == section, Person.family_rank < 1) for section in (0, 1)]
        else:
            walks = [
                base.where(
                    Person.department_section == 0,
                    Person.list_department_code == department.code,
                    Person.list_department_id == department.id,
                    Person.department_id == department.id,
                    Person.family_rank < 1,
                )
            ]
        if everyone:
            kinds = [PersonKind.EMPLOYEE]
            department_id = department.id if department is not None else None
            counted = await count_people(session, principal.tenant_id, department_id=department_id, kinds=kinds)
            return _Listing(walks, _WALK_ORDER, counted)
        matching = or_(*(state_condition(state, now) for state in states))
        return _Listing([walk.where(matching) for walk in walks], _WALK_ORDER)
    today = now.astimezone(JST).date()
    if department is not None:
        base = base.where(Person.department_id == department.id)
    ranges = []
    for value in ACCOUNT_STATES:
        # Each range carries only the states a person with this account state can be in.
        possible = [state for state in states if value in _ACCOUNT_STATES[state]]
        if not possible:
            continue
        matching = or_(*(state_condition(state, now) for state in possible))
        for leaving in (Person.retirement_date.is_(None), Person.retirement_date > today):
            ranges.append(base.where(Person.account_state == value, leaving, matching))
    return _Listing(ranges, _STATE_ORDER)


async def invitation_page(session: AsyncSession, principal: Principal, filters: InvitationFilter) -> InvitationPage:
    """The employees matching the filter, 50 a page by 社員コード (server-side paging; works without JavaScript).

    Totals: exact from the counters for "all", otherwise counted up to ``COUNT_CAP``. Raises nothing: a department
    id that is not the tenant's lists no one.
    """
    now = utcnow()
    department = await _department(session, principal, filters.department_id)
    listing = await _listing(session, principal, department, filters.states, now)
    total = Count(listing.counted) if listing.counted is not None else await capped_count(session, listing.statements)
    window = await read_page(
        session,
        listing.statements,
        listing.ordering,
        filters.page_request,
        per_page=INVITATIONS_PER_PAGE,
        total=total,
    )
    rows = await invitation_rows(session, principal, [key.id for key in window.keys], now)
    bulk_states = filters.states & BULK_STATES
    if bulk_states == filters.states:
        bulk = total
    elif not bulk_states:
        bulk = Count(0)
    else:
        bulk = await capped_count(
            session, (await _listing(session, principal, department, bulk_states, now)).statements
        )
    return InvitationPage(
        rows=rows,
        total=total,
        window=window,
        bulk_on_page=[str(r.person.id) for r in rows if r.state in BULK_STATES],
        bulk_matching=bulk,
    )


async def matching_batches(
    session: AsyncSession, principal: Principal, filters: InvitationFilter, size: int
) -> AsyncIterator[list[uuid.UUID]]:
    """The ids of the employees "select all across the filter" takes (the filter's states that a bulk action may
    invite), ``size`` at a time in 社員コード order; each batch is read after the last one, so the whole filter is
    never loaded at once."""
    department = await _department(session, principal, filters.department_id)
    states = filters.states & BULK_STATES
    cursor: Sequence[Any] | None = None
    while states:
        listing = await _listing(session, principal, department, states, utcnow())
        keys = await seek_union(session, listing.statements, listing.ordering, cursor, size)
        if keys:
            yield [key.id for key in keys]
        if len(keys) < size:
            return
        cursor = tuple(getattr(keys[-1], sort.key) for sort in listing.ordering)


async def invitation_rows(
    session: AsyncSession, principal: Principal, person_ids: Sequence[uuid.UUID], now: dt.datetime | None = None
) -> list[InvitationRow]:
    """These employees (in the given order) with their department, account, state and login id."""
    if not person_ids:
        return []
    now = now or utcnow()
    # By primary key only: a condition on kind here lets SQLite prefer a (tenant_id, kind) range over the ids.
    found = await session.execute(_joined(principal).add_columns(Account).where(Person.id.in_(list(person_ids))))
    pairs = {person.id: (person, account) for person, account in found.all() if person.is_employee}
    people = [pairs[i] for i in person_ids if i in pairs]
    departments = await departments_of(session, principal, [person for person, _ in people])
    free = await free_login_ids(session, principal.tenant_id, [person for person, account in people if account is None])
    return [
        InvitationRow(
            person=person,
            department=departments.get(person.department_id) if person.department_id else None,
            account=account,
            state=invitation_state(person, account, now),
            login_id=account.login_id if account is not None else free[person.id],
        )
        for person, account in people
    ]


async def departments_of(
    session: AsyncSession, principal: Principal, people: Sequence[Person]
) -> dict[uuid.UUID, Department]:
    """The departments of these people (only theirs: a page never reads the tenant's whole department table)."""
    ids = {p.department_id for p in people if p.department_id is not None}
    if not ids:
        return {}
    found = await session.execute(scoped(Department, principal).where(Department.id.in_(sorted(ids))))
    return {d.id: d for d in found.scalars()}


async def employee_accounts(
    session: AsyncSession, principal: Principal, person_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Account]:
    """The employee accounts of these people (one per person: ``ix_accounts_tenant_id_person_id`` is unique)."""
    if not person_ids:
        return {}
    statement = scoped(Account, principal).where(Account.person_id.in_(list(person_ids)))  # role checked below
    found = (await session.execute(statement)).scalars()
    return {a.person_id: a for a in found if a.person_id is not None and a.role is Role.EMPLOYEE}


async def free_login_ids(
    session: AsyncSession, tenant_id: uuid.UUID, people: Sequence[Person], reserved: set[str] | None = None
) -> dict[uuid.UUID, str]:
    """The login id an invitation gives each of these people: the 社員コード when it is free and usable as a login id,
    otherwise a suffixed (``-2``, ``-3``...) or generated one. Only the candidates are looked up (never the tenant's
    every login id); ``reserved`` holds ids already handed out in this run and receives the ones chosen here."""
    reserved = reserved if reserved is not None else set()
    chosen: dict[uuid.UUID, str] = {}
    start = dict.fromkeys((p.id for p in people), 1)
    waiting = list(people)
    while waiting:
        tries = {p.id: [_suffixed(_login_base(p), n) for n in range(start[p.id], start[p.id] + 10)] for p in waiting}
        wanted = sorted({candidate for candidates in tries.values() for candidate in candidates})
        statement = select(Account.login_id).where(Account.tenant_id == tenant_id, Account.login_id.in_(wanted))
        taken = set((await session.execute(statement)).scalars()) | reserved
        still = []
        for person in waiting:
            free = next((c for c in tries[person.id] if c not in taken), None)
            if free is None:
                start[person.id] += 10
                still.append(person)
                continue
            chosen[person.id] = free
            taken.add(free)
            reserved.add(free)
        waiting = still
    return chosen


def _login_base(person: Person) -> str:
    code = clean_code(person.employee_code or "")
    return code if _LOGIN_ID.fullmatch(code) and not contains_digit_run(code) else f"emp-{person.id.hex[-8:]}"


def _suffixed(base: str, n: int) -> str:
    return base if n == 1 else f"{base}-{n}"


__all__ = [
    "ACCOUNT_STATES",
    "BULK_STATES",
    "INVITATIONS_PER_PAGE",
    "SCOPES",
    "STATE_FILTERS",
    "InvitationFilter",
    "InvitationPage",
    "InvitationRow",
    "InvitationState",
    "departments_of",
    "employee_accounts",
    "free_login_ids",
    "invitation_page",
    "invitation_rows",
    "invitation_state",
    "matching_batches",
    "state_condition",
]
