"""招待 (admin side): which employees have an account, and issuing login ids with one-time passwords as letters."""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.audit.guard import contains_digit_run
from app.auth.models import Account, Role
from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal
from app.auth.scoping import scoped
from app.auth.services import issue_one_time_password
from app.config import Settings
from app.db import utcnow
from app.forms import FormInvalid
from app.mail import Mailer, MailError, invitation_mail
from app.tenancy import Tenant
from app.text import clean_code
from selfservice.letters import InvitationLetter, contact_line
from selfservice.services._family import is_retired
from tenants.models import Department, Person, PersonKind
from tenants.services import JST, get_employee, list_departments, own_tenant, sync_employee_access
from tenants.services._records import log_person_event

INVITE_FUNCTION = "招待"
_LOGIN_ID = re.compile(r"[A-Za-z0-9_.\-]{1,48}")


def sign_in_url(settings: Settings, tenant_code: str) -> str:
    """The tenant's sign-in page, printed on letters and shown for copying."""
    return f"{settings.effective_base_url}/t/{tenant_code}/login"


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
class IssuedInvitation:
    person: Person
    account: Account
    letter: InvitationLetter
    reissued: bool


@dataclass(frozen=True, slots=True)
class MailReport:
    sent: int = 0
    failed: int = 0


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


async def invitation_rows(
    session: AsyncSession, principal: Principal, *, department_id: uuid.UUID | None = None
) -> list[InvitationRow]:
    """Every employee of the tenant (of one department, if given) with the state of their invitation."""
    now = utcnow()
    people = await _employees(session, principal, department_id)
    departments = await _departments(session, principal)
    accounts = await _employee_accounts(session, principal)
    taken = await _taken_login_ids(session, principal)
    rows = []
    for person in people:
        account = accounts.get(person.id)
        login_id = account.login_id if account is not None else _free_login_id(person, taken)
        rows.append(
            InvitationRow(
                person=person,
                department=departments.get(person.department_id) if person.department_id else None,
                account=account,
                state=invitation_state(person, account, now),
                login_id=login_id,
            )
        )
    return rows


INVITATIONS_PER_PAGE = 50
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


@dataclass(frozen=True, slots=True)
class InvitationFilter:
    """The invitation page's filter (部門, state) and page."""

    department_id: str = ""
    state: str = ""
    page: int = 1


@dataclass(frozen=True, slots=True)
class InvitationPage:
    """One page of the invitation list, and who "select all" would take on this page and across the filter."""

    rows: list[InvitationRow]
    total: int
    page: int
    bulk_on_page: list[str]
    bulk_matching: list[str]
    per_page: int = INVITATIONS_PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


async def invitation_page(session: AsyncSession, principal: Principal, filters: InvitationFilter) -> InvitationPage:
    """The employees matching the filter, 50 a page (server-side paging; works without JavaScript)."""
    department_id = None
    if filters.department_id:
        try:
            department_id = uuid.UUID(filters.department_id)
        except ValueError:
            department_id = None
    states = STATE_FILTERS.get(filters.state, STATE_FILTERS[""])[1]
    rows = [r for r in await invitation_rows(session, principal, department_id=department_id) if r.state in states]
    per_page = INVITATIONS_PER_PAGE
    pages = max(1, -(-len(rows) // per_page))
    page = min(max(1, filters.page), pages)
    shown = rows[(page - 1) * per_page : page * per_page]
    return InvitationPage(
        rows=shown,
        total=len(rows),
        page=page,
        bulk_on_page=[str(r.person.id) for r in shown if r.state in BULK_STATES],
        bulk_matching=[str(r.person.id) for r in rows if r.state in BULK_STATES],
    )


async def selected_person_ids(
    session: AsyncSession, principal: Principal, scope: str, ticked: Sequence[str], filters: InvitationFilter
) -> list[str]:
    """Who a press of one of the three buttons means: the ticked employees, or the not-yet-invited ones on the page
    or across the filter (resolved again here, on the server, from the same filter)."""
    if scope not in ("page", "filter"):
        return list(ticked)
    found = await invitation_page(session, principal, filters)
    chosen = found.bulk_on_page if scope == "page" else found.bulk_matching
    if not chosen:
        raise FormInvalid({"person_id": "条件に合う未招待・期限切れの従業員はいません。絞り込みを変えてください。"})
    return chosen


async def issue_invitations(
    session: AsyncSession, settings: Settings, hasher: PasswordHasher, principal: Principal, person_ids: Sequence[str]
) -> list[IssuedInvitation]:
    """Create or re-issue each employee's account with a one-time password; return the letters to print.

    Re-issuing replaces the old password and ends the account's sessions. Another tenant's id is a 404.
    """
    if not person_ids:
        raise FormInvalid({"person_id": "招待する従業員を選択してください。"})
    people = [await get_employee(session, principal, person_id) for person_id in dict.fromkeys(person_ids)]
    people.sort(key=lambda p: (p.employee_code or "", p.name))
    accounts = await _employee_accounts(session, principal)
    now = utcnow()
    refused = [p.name for p in people if not invitation_state(p, accounts.get(p.id), now).invitable]
    if refused:
        names = "、".join(refused)
        raise FormInvalid(
            {"person_id": f"退職済みまたは無効の従業員は招待できません（{names}）。選択を外してください。"}
        )
    tenant = await own_tenant(session, principal)
    departments = await _departments(session, principal)
    taken = await _taken_login_ids(session, principal)
    issued = []
    for person in people:
        account = accounts.get(person.id)
        reissued = account is not None
        if account is None:
            account = Account(
                tenant_id=tenant.id,
                login_id=_free_login_id(person, taken),
                name=person.name,
                email=person.email,
                role=Role.EMPLOYEE,
                person_id=person.id,
            )
            session.add(account)
        else:
            account.name, account.email = person.name, person.email
        password = await issue_one_time_password(account, hasher, dt.timedelta(days=settings.invitation_days))
        await session.flush()
        if person.retirement_date is not None:
            await sync_employee_access(session, person)  # a 退職日 ahead: access ends on that day
        detail: dict[str, object] = {"login_id": account.login_id, "event": "reissued" if reissued else "invited"}
        await log_person_event(
            session, principal.actor(), person, AuditAction.ACCOUNT_CHANGE, INVITE_FUNCTION, detail=detail
        )
        department = departments.get(person.department_id) if person.department_id else None
        letter = _letter(settings, principal, tenant, person, department, account, password)
        issued.append(IssuedInvitation(person=person, account=account, letter=letter, reissued=reissued))
    return issued


async def send_invitation_mails(settings: Settings, issued: Sequence[IssuedInvitation]) -> MailReport:
    """Mail each invited employee who has an address (never the password); a failure does not stop the rest."""
    mailer = Mailer(settings)
    if not mailer.enabled:
        return MailReport()
    sent = failed = 0
    for item in issued:
        address = item.person.email.strip()
        if not address:
            continue
        subject, body = invitation_mail(item.letter)
        try:
            await mailer.send(address, subject, body)
        except MailError:
            failed += 1
        else:
            sent += 1
    return MailReport(sent=sent, failed=failed)


async def _employees(
    session: AsyncSession, principal: Principal, department_id: uuid.UUID | None = None
) -> list[Person]:
    statement = (
        scoped(Person, principal)
        .where(Person.kind == PersonKind.EMPLOYEE)
        .order_by(Person.employee_code, Person.name, Person.id)
    )
    if department_id is not None:
        statement = statement.where(Person.department_id == department_id)
    return list((await session.execute(statement)).scalars())


async def _departments(session: AsyncSession, principal: Principal) -> dict[uuid.UUID, Department]:
    return {d.id: d for d in await list_departments(session, principal)}


async def _employee_accounts(session: AsyncSession, principal: Principal) -> dict[uuid.UUID, Account]:
    statement = (
        scoped(Account, principal)
        .where(Account.role == Role.EMPLOYEE, Account.person_id.is_not(None))
        .order_by(Account.created_at)
    )
    accounts: dict[uuid.UUID, Account] = {}
    for account in (await session.execute(statement)).scalars():
        assert account.person_id is not None
        accounts.setdefault(account.person_id, account)
    return accounts


async def _taken_login_ids(session: AsyncSession, principal: Principal) -> set[str]:
    statement = select(Account.login_id).where(Account.tenant_id == principal.tenant_id)
    return set((await session.execute(statement)).scalars())


def _free_login_id(person: Person, taken: set[str]) -> str:
    """The 社員コード when it is free and usable as a login id; otherwise a suffixed or generated one."""
    code = clean_code(person.employee_code or "")
    base = code if _LOGIN_ID.fullmatch(code) and not contains_digit_run(code) else f"emp-{person.id.hex[-8:]}"
    candidate, suffix = base, 1
    while candidate in taken:
        suffix += 1
        candidate = f"{base}-{suffix}"
    taken.add(candidate)
    return candidate


def _letter(
    settings: Settings,
    principal: Principal,
    tenant: Tenant,
    person: Person,
    department: Department | None,
    account: Account,
    password: str,
) -> InvitationLetter:
    assert account.password_expires_at is not None
    return InvitationLetter(
        company_name=tenant.name,
        employee_name=person.name,
        employee_code=person.employee_code or "",
        department_name=department.name if department else "",
        tenant_code=tenant.code,
        login_id=account.login_id,
        initial_password=password,
        sign_in_url=sign_in_url(settings, tenant.code),
        expires_on=account.password_expires_at.astimezone(JST).date(),
        contact=contact_line(principal.name, tenant.phone),
    )
