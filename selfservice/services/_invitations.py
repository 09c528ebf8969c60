"""招待 (admin side): issuing login ids with one-time passwords as letters (the list: ``_invitation_list``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from litestar.exceptions import NotFoundException
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
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
from billing.contract import check_self_registration_room, self_registration_capacity, self_registration_room
from selfservice.letters import InvitationLetter, contact_line
from selfservice.services._invitation_list import (
    InvitationFilter,
    departments_of,
    employee_accounts,
    free_login_ids,
    invitation_page,
    invitation_state,
    matching_batches,
)
from tenants.models import Department, Person, PersonKind
from tenants.services import JST, count_people, own_tenant, sync_employee_access
from tenants.services._records import log_person_event

INVITE_FUNCTION = "招待"
# Employees issued per round trip when a bulk action takes the whole filter: one keyset read, one load, then
# each one-time password hashed (Argon2id, off the event loop) and logged; the next batch reads after the last.
ISSUE_BATCH = 100
NOTHING_MATCHES = "条件に合う未招待・期限切れの従業員はいません。絞り込みを変えてください。"


def sign_in_url(settings: Settings, tenant_code: str) -> str:
    """The tenant's sign-in page, printed on letters and shown for copying."""
    return f"{settings.effective_base_url}/t/{tenant_code}/login"


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


async def selected_person_ids(
    session: AsyncSession, principal: Principal, scope: str, ticked: Sequence[str], filters: InvitationFilter
) -> list[str]:
    """Who a press of "selected" or "page" means: the ticked employees, or the not-yet-invited ones on the page shown
    (resolved again here, on the server, from the same filter and page)."""
    if scope != "page":
        return list(ticked)
    found = await invitation_page(session, principal, filters)
    if not found.bulk_on_page:
        raise FormInvalid({"person_id": NOTHING_MATCHES})
    return found.bulk_on_page


async def issue_for_scope(
    session: AsyncSession,
    settings: Settings,
    hasher: PasswordHasher,
    principal: Principal,
    scope: str,
    ticked: Sequence[str],
    filters: InvitationFilter,
) -> list[IssuedInvitation]:
    """One of the three buttons: the ticked employees, the not-yet-invited ones on the page, or every one of them
    across the filter (read and issued ``ISSUE_BATCH`` at a time, never all loaded at once). FormInvalid when
    nobody is meant or a ticked one may not be invited; another tenant's id is a 404."""
    if scope != "filter":
        person_ids = await selected_person_ids(session, principal, scope, ticked, filters)
        return await issue_invitations(session, settings, hasher, principal, person_ids)
    tenant = await own_tenant(session, principal)
    room = await self_registration_room(session, tenant)
    # Counting the filter's new ids costs a pass over it: needed only when the tenant's employees could overflow.
    if room is not None and await count_people(session, tenant.id, kinds=[PersonKind.EMPLOYEE]) > room:
        new_ids = 0
        async for batch in matching_batches(session, principal, filters, ISSUE_BATCH):
            accounts = await employee_accounts(session, principal, batch)
            new_ids += sum(1 for person_id in batch if person_id not in accounts)
        await check_self_registration_room(session, tenant, new_ids)  # before anything is written
    run = _IssueRun(settings, hasher, principal, tenant)
    issued: list[IssuedInvitation] = []
    async for batch in matching_batches(session, principal, filters, ISSUE_BATCH):
        people = await _employees_by_id(session, principal, batch)
        issued.extend(await run.issue(session, people))
    if not issued:
        raise FormInvalid({"person_id": NOTHING_MATCHES})
    return issued


async def issue_invitations(
    session: AsyncSession, settings: Settings, hasher: PasswordHasher, principal: Principal, person_ids: Sequence[str]
) -> list[IssuedInvitation]:
    """Create or re-issue each employee's account with a one-time password; return the letters to print.

    Re-issuing replaces the old password and ends the account's sessions. Another tenant's id is a 404; a retired
    or disabled employee is refused (FormInvalid) before anything is issued.
    """
    if not person_ids:
        raise FormInvalid({"person_id": "招待する従業員を選択してください。"})
    wanted = list(dict.fromkeys(person_ids))
    people: list[Person] = []
    for start in range(0, len(wanted), ISSUE_BATCH):
        people.extend(await _employees_by_id(session, principal, wanted[start : start + ISSUE_BATCH], strict=True))
    people.sort(key=lambda p: (p.employee_code or "", p.name))
    now = utcnow()
    refused: list[str] = []
    for start in range(0, len(people), ISSUE_BATCH):
        chunk = people[start : start + ISSUE_BATCH]
        accounts = await employee_accounts(session, principal, [p.id for p in chunk])
        refused.extend(p.name for p in chunk if not invitation_state(p, accounts.get(p.id), now).invitable)
    if refused:
        names = "、".join(refused)
        raise FormInvalid(
            {"person_id": f"退職済みまたは無効の従業員は招待できません（{names}）。選択を外してください。"}
        )
    tenant = await own_tenant(session, principal)
    if self_registration_capacity(tenant) is not None:
        new_ids = 0
        for start in range(0, len(people), ISSUE_BATCH):
            chunk = people[start : start + ISSUE_BATCH]
            accounts = await employee_accounts(session, principal, [p.id for p in chunk])
            new_ids += sum(1 for p in chunk if p.id not in accounts)
        await check_self_registration_room(session, tenant, new_ids)  # before anything is written
    run = _IssueRun(settings, hasher, principal, tenant)
    issued: list[IssuedInvitation] = []
    for start in range(0, len(people), ISSUE_BATCH):
        issued.extend(await run.issue(session, people[start : start + ISSUE_BATCH]))
    return issued


async def _employees_by_id(
    session: AsyncSession, principal: Principal, person_ids: Sequence[str | uuid.UUID], *, strict: bool = False
) -> list[Person]:
    """The tenant's employees among these ids, in the given order; ``strict``: any other id is a 404."""
    keys: list[uuid.UUID] = []
    for value in person_ids:
        try:
            keys.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            if strict:
                raise NotFoundException() from None
    statement = scoped(Person, principal).where(Person.id.in_(keys))  # by primary key; the kind is checked here
    found = {p.id: p for p in (await session.execute(statement)).scalars() if p.kind is PersonKind.EMPLOYEE}
    if strict and len(found) != len(set(keys)):
        raise NotFoundException()
    return [found[key] for key in keys if key in found]


@dataclass
class _IssueRun:
    """What one press of a button shares across its batches: the tenant, and the login ids handed out so far."""

    settings: Settings
    hasher: PasswordHasher
    principal: Principal
    tenant: Tenant
    reserved: set[str] | None = None

    async def issue(self, session: AsyncSession, people: Sequence[Person]) -> list[IssuedInvitation]:
        """Issue (or re-issue) a one-time password to each of these employees, logged; flushed per batch."""
        if self.reserved is None:
            self.reserved = set()
        accounts = await employee_accounts(session, self.principal, [p.id for p in people])
        departments = await departments_of(session, self.principal, people)
        fresh = await free_login_ids(
            session, self.tenant.id, [p for p in people if p.id not in accounts], self.reserved
        )
        issued = []
        for person in people:
            account = accounts.get(person.id)
            reissued = account is not None
            if account is None:
                account = Account(
                    tenant_id=self.tenant.id,
                    login_id=fresh[person.id],
                    name=person.name,
                    email=person.email,
                    role=Role.EMPLOYEE,
                    person_id=person.id,
                )
                session.add(account)
            else:
                account.name, account.email = person.name, person.email
            valid_for = dt.timedelta(days=self.settings.invitation_days)
            password = await issue_one_time_password(account, self.hasher, valid_for)
            await session.flush()
            if person.retirement_date is not None:
                await sync_employee_access(session, person)  # a 退職日 ahead: access ends on that day
            detail: dict[str, object] = {"login_id": account.login_id, "event": "reissued" if reissued else "invited"}
            actor = self.principal.actor()
            await log_person_event(session, actor, person, AuditAction.ACCOUNT_CHANGE, INVITE_FUNCTION, detail=detail)
            department = departments.get(person.department_id) if person.department_id else None
            letter = _letter(self.settings, self.principal, self.tenant, person, department, account, password)
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
