"""Employee self-service rules: invitations (admin side) and an employee's own records (じぶんで登録).

Numbers go through ``tenants.services._records`` (and so through the vault, which logs them); nothing here touches
a number except to pass what was typed along. Free text (names, reasons, notes) is refused when it looks like one.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from litestar.exceptions import NotFoundException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditEvent
from app.audit.guard import contains_digit_run
from app.audit.log import record
from app.auth.models import Account, Role
from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal
from app.auth.scoping import get_scoped, scoped
from app.auth.services import issue_one_time_password
from app.config import Settings
from app.db import utcnow
from app.forms import Checker, FormInvalid
from app.mail import Mailer, MailError, invitation_mail
from app.tenancy import Tenant
from app.vault import DuplicateNumber, InvalidNumber, NumberAlreadyStored, NumberInfo, Vault
from app.vault.numbers import normalize_my_number
from selfservice.letters import InvitationLetter
from selfservice.schemas import CorrectionForm, DeclineForm, DependantForm
from tenants.models import (
    CollectionStatus,
    CorrectionRequest,
    Department,
    Person,
    PersonKind,
    Relationship,
    RequestStatus,
)
from tenants.services import _records

JST = dt.timezone(dt.timedelta(hours=9), "JST")
INVITE_FUNCTION = "招待"
SELF_FUNCTION = _records.Channel.SELF.function
CONFIRM_PURPOSE = "本人による番号確認"
NOTICE_FUNCTION = "利用目的の通知"
RELATIONSHIPS = {r.value: r.value for r in Relationship}
NUMBER_LIKE = "12桁以上の数字は入力できません（番号はこの欄に書かないでください）。"
_LOGIN_ID = re.compile(r"[A-Za-z0-9_.\-]{1,48}")


def today_jst() -> dt.date:
    return utcnow().astimezone(JST).date()


def sign_in_url(settings: Settings, tenant_code: str) -> str:
    """The tenant's sign-in page, printed on letters and shown for copying."""
    return f"{settings.effective_base_url}/t/{tenant_code}/login"


def is_retired(person: Person, today: dt.date) -> bool:
    return person.retired_at is not None or (person.retirement_date is not None and person.retirement_date < today)


# Invitations (admin side) ----------------------------------------------------------------------------------------


class InvitationState(enum.StrEnum):
    NOT_INVITED = "未招待"
    INVITED = "招待中"
    EXPIRED = "期限切れ"
    ACTIVE = "利用中"
    RETIRED = "退職"
    DISABLED = "無効"


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
        return self.state not in (InvitationState.RETIRED, InvitationState.DISABLED)

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


async def invitation_rows(session: AsyncSession, principal: Principal) -> list[InvitationRow]:
    """Every employee of the tenant with the state of their invitation."""
    now = utcnow()
    people = await _employees(session, principal)
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


async def issue_invitations(
    session: AsyncSession, settings: Settings, hasher: PasswordHasher, principal: Principal, person_ids: Sequence[str]
) -> list[IssuedInvitation]:
    """Create or re-issue each employee's account with a one-time password; return the letters to print.

    Re-issuing replaces the old password and ends the account's sessions. Another tenant's id is a 404.
    """
    if not person_ids:
        raise FormInvalid({"person_id": "招待する従業員を選択してください。"})
    people = [await _employee(session, principal, person_id) for person_id in dict.fromkeys(person_ids)]
    people.sort(key=lambda p: (p.employee_code or "", p.name))
    accounts = await _employee_accounts(session, principal)
    now = utcnow()
    refused = [p.name for p in people if not _invitable(invitation_state(p, accounts.get(p.id), now))]
    if refused:
        names = "、".join(refused)
        raise FormInvalid(
            {"person_id": f"退職済みまたは無効の従業員は招待できません（{names}）。選択を外してください。"}
        )
    tenant = await session.get(Tenant, principal.tenant_id)
    assert tenant is not None
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
        password = issue_one_time_password(account, hasher, dt.timedelta(days=settings.invitation_days))
        await session.flush()
        await _log_invitation(session, principal, person, account, reissued=reissued)
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


def _invitable(state: InvitationState) -> bool:
    return state not in (InvitationState.RETIRED, InvitationState.DISABLED)


async def _employee(session: AsyncSession, principal: Principal, person_id: str) -> Person:
    person = await get_scoped(session, Person, principal, person_id)
    if person.kind is not PersonKind.EMPLOYEE:
        raise NotFoundException()
    return person


async def _employees(session: AsyncSession, principal: Principal) -> list[Person]:
    statement = (
        scoped(Person, principal).where(Person.kind == PersonKind.EMPLOYEE).order_by(Person.employee_code, Person.name)
    )
    return list((await session.execute(statement)).scalars())


async def _departments(session: AsyncSession, principal: Principal) -> dict[uuid.UUID, Department]:
    return {d.id: d for d in (await session.execute(scoped(Department, principal))).scalars()}


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
    code = unicodedata.normalize("NFKC", person.employee_code or "").strip()
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
    contact = f"マイナンバー管理担当者 {principal.name}" + (f"（電話 {tenant.phone}）" if tenant.phone else "")
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
        contact=contact,
    )


async def _log_invitation(
    session: AsyncSession, principal: Principal, person: Person, account: Account, *, reissued: bool
) -> None:
    context = await _records.context_of(session, person)
    await record(
        session,
        AuditEvent(
            tenant_id=person.tenant_id,
            action=AuditAction.ACCOUNT_CHANGE,
            actor=principal.actor(),
            function=INVITE_FUNCTION,
            subject=context.subject,
            detail={"login_id": account.login_id, "event": "reissued" if reissued else "invited"},
        ),
    )


# The employee's own records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    """A next step offered on the home page: a link, or a button posting to ``href``."""

    label: str
    href: str
    post: bool = False
    primary: bool = True


@dataclass(frozen=True, slots=True)
class PersonCard:
    """The employee or a dependant as the home page shows them: status, masked number, what to do next."""

    person: Person
    number: NumberInfo | None
    message: str
    actions: tuple[Action, ...] = field(default=())


async def own_employee(session: AsyncSession, principal: Principal) -> Person | None:
    """The employee record the signed-in account belongs to (None when the account is not linked to one)."""
    if principal.person_id is None:
        return None
    statement = scoped(Person, principal).where(Person.id == principal.person_id, Person.kind == PersonKind.EMPLOYEE)
    return (await session.execute(statement)).scalar_one_or_none()


async def own_person(session: AsyncSession, principal: Principal, employee: Person | None, person_id: str) -> Person:
    """The employee or one of their dependants; anyone else (another employee, another tenant) is a 404."""
    person = await get_scoped(session, Person, principal, person_id)
    if employee is not None and (
        person.id == employee.id or (person.kind is PersonKind.DEPENDANT and person.employee_id == employee.id)
    ):
        return person
    raise NotFoundException()


async def dependants_of(session: AsyncSession, principal: Principal, employee: Person) -> list[Person]:
    statement = (
        scoped(Person, principal)
        .where(Person.kind == PersonKind.DEPENDANT, Person.employee_id == employee.id)
        .order_by(Person.created_at, Person.id)
    )
    return list((await session.execute(statement)).scalars())


def entry_path(person: Person) -> str:
    """Where the number of this person is typed (again)."""
    return "/me/number" if person.kind is PersonKind.EMPLOYEE else f"/me/dependants/{person.id}/edit"


async def person_cards(session: AsyncSession, vault: Vault, principal: Principal, employee: Person) -> list[PersonCard]:
    """The employee first, then each dependant, with masked numbers only."""
    people = [employee, *await dependants_of(session, principal, employee)]
    numbers = await vault.number_info(session, principal.tenant_id, [p.id for p in people])
    statement = scoped(CorrectionRequest, principal).where(
        CorrectionRequest.status == RequestStatus.PENDING, CorrectionRequest.person_id.in_([p.id for p in people])
    )
    pending = {r.person_id for r in (await session.execute(statement)).scalars()}
    retired = is_retired(employee, today_jst())
    return [_card(p, numbers.get(p.id), correction_pending=p.id in pending, retired=retired) for p in people]


def _card(person: Person, number: NumberInfo | None, *, correction_pending: bool, retired: bool) -> PersonCard:
    base = f"/me/people/{person.id}"
    status = person.status
    if retired:
        return PersonCard(person, number, "退職済みのため、登録・変更はできません。")
    if status is CollectionStatus.REGISTERED:
        message = "入力した番号の確認（本人番号確認）がまだです。もう一度入力して確定してください。"
        return PersonCard(person, number, message, (Action("入力して確認する", entry_path(person)),))
    if status is CollectionStatus.PROXY_REGISTERED:
        message = "会社の担当者が代理で登録しました。確認のため、お手元の番号を入力してください。"
        return PersonCard(person, number, message, (Action("番号を入力する", entry_path(person)),))
    if status is CollectionStatus.SELF_CONFIRMED:
        message = "登録が完了しました。会社の担当者の確認をお待ちください。"
        return PersonCard(person, number, message, (Action("入力し直す", entry_path(person), primary=False),))
    if status is CollectionStatus.ADMIN_CONFIRMED:
        if correction_pending:
            return PersonCard(person, number, "修正を依頼しています。担当者の承認をお待ちください。")
        message = "会社の担当者が確認しました。番号が変わったときは修正を依頼してください。"
        return PersonCard(person, number, message, (Action("修正を依頼する", f"{base}/correction", primary=False),))
    if status is CollectionStatus.DECLINED:
        message = f"提供しないと届け出ています（理由：{person.decline_reason}）。"
        return PersonCard(person, number, message, (Action("取り下げて登録する", f"{base}/withdraw", post=True),))
    actions = (Action("番号を登録する", entry_path(person)), Action("提供しない", f"{base}/decline", primary=False))
    return PersonCard(person, number, "番号が登録されていません。", actions)


def notice_pending(employee: Person) -> bool:
    return employee.notice_acknowledged_at is None


async def acknowledge_notice(session: AsyncSession, principal: Principal, employee: Person) -> None:
    """Record (once, with the time) that the employee read the purpose notice; logged."""
    if employee.notice_acknowledged_at is not None:
        return
    employee.notice_acknowledged_at = utcnow()
    context = await _records.context_of(session, employee)
    await record(
        session,
        AuditEvent(
            tenant_id=employee.tenant_id,
            action=AuditAction.UPDATE,
            actor=principal.actor(),
            function=NOTICE_FUNCTION,
            subject=context.subject,
            detail={"event": "notice_acknowledged"},
        ),
    )


async def register(session: AsyncSession, vault: Vault, principal: Principal, person: Person, number: str) -> None:
    """Store (or replace) what the employee typed for themselves or a dependant; errors on the number field."""
    try:
        await _records.register_number(
            session, vault, actor=principal.actor(), person=person, number=number, channel=_records.Channel.SELF
        )
    except InvalidNumber as exc:
        raise FormInvalid({"number": exc.message}) from None
    except (_records.RecordError, DuplicateNumber, NumberAlreadyStored) as exc:
        raise FormInvalid({"number": exc.message}) from None


async def add_dependant(
    session: AsyncSession, vault: Vault, principal: Principal, employee: Person, form: DependantForm
) -> Person:
    """A new dependant with (optionally) their number; nothing is kept when any field is wrong."""
    if is_retired(employee, today_jst()):
        raise FormInvalid({"form": "退職済みのため登録できません。会社の担当者にお問い合わせください。"})
    check = Checker()
    details = _dependant_details(check, form)
    number = _typed_number(check, form.number)
    check.done()
    person = Person(tenant_id=employee.tenant_id, kind=PersonKind.DEPENDANT, employee_id=employee.id, **details)
    session.add(person)
    await session.flush()
    await _log_dependant(session, principal, person, "扶養家族の追加", {"event": "dependant_added"})
    if number:
        await register(session, vault, principal, person, number)
    return person


async def update_dependant(
    session: AsyncSession, vault: Vault, principal: Principal, dependant: Person, form: DependantForm
) -> bool:
    """Change a dependant not yet confirmed by an admin; True when a new number was entered (to be confirmed)."""
    if dependant.status is CollectionStatus.ADMIN_CONFIRMED:
        raise FormInvalid({"form": "管理者が確認済みのため変更できません。「修正を依頼する」から依頼してください。"})
    check = Checker()
    details = _dependant_details(check, form)
    number = _typed_number(check, form.number)
    check.done()
    changed = sorted(name for name, value in details.items() if getattr(dependant, name) != value)
    for name in changed:
        setattr(dependant, name, details[name])
    if changed:
        await _log_dependant(
            session, principal, dependant, "扶養家族の変更", {"event": "dependant_changed", "fields": changed}
        )
    if number:
        await register(session, vault, principal, dependant, number)
    return bool(number)


def _dependant_details(check: Checker, form: DependantForm) -> dict[str, object]:
    name = check.text("name", form.name, "氏名", required=True, max_length=100)
    kana = check.text("kana", form.kana, "フリガナ", required=True, max_length=100)
    for field_name, value in (("name", name), ("kana", kana)):
        if contains_digit_run(value):
            check.fail(field_name, NUMBER_LIKE)
    relationship = check.choice("relationship", form.relationship, "続柄", RELATIONSHIPS)
    birth_date = check.date(
        "birth_date", form.birth_date, "生年月日", required=True, not_future=True, today=today_jst()
    )
    return {
        "name": name,
        "kana": kana,
        "relationship": Relationship(relationship) if relationship in RELATIONSHIPS else None,
        "birth_date": birth_date,
    }


def _typed_number(check: Checker, text: str) -> str:
    """The number typed on a dependant's form ("" when left empty: it can be registered later)."""
    if not text.strip():
        return ""
    try:
        return normalize_my_number(text)
    except InvalidNumber as exc:
        check.fail("number", exc.message)
        return ""


async def _log_dependant(
    session: AsyncSession, principal: Principal, person: Person, function: str, detail: dict[str, object]
) -> None:
    context = await _records.context_of(session, person)
    await record(
        session,
        AuditEvent(
            tenant_id=person.tenant_id,
            action=AuditAction.UPDATE,
            actor=principal.actor(),
            function=function,
            subject=context.subject,
            detail=detail,
        ),
    )


async def reveal_for_confirmation(session: AsyncSession, vault: Vault, principal: Principal, person: Person) -> str:
    """The number just typed, opened once so the employee can check it (logged as 閲覧)."""
    return await _records.reveal_number(
        session,
        vault,
        actor=principal.actor(),
        person=person,
        purpose=CONFIRM_PURPOSE,
        function=SELF_FUNCTION,
        action=AuditAction.VIEW,
    )


async def confirm(session: AsyncSession, principal: Principal, person: Person) -> None:
    """本人番号確認 by the employee."""
    try:
        await _records.confirm_by_self(session, actor=principal.actor(), person=person, function=SELF_FUNCTION)
    except _records.RecordError as exc:
        raise FormInvalid({"form": exc.message}) from None


async def pending_correction(session: AsyncSession, person: Person) -> CorrectionRequest | None:
    return await _records.pending_correction(session, person)


async def request_correction(
    session: AsyncSession, principal: Principal, person: Person, form: CorrectionForm
) -> CorrectionRequest:
    """Ask the admin to correct an admin-confirmed number (a re-issued number is the 'reissued' reason)."""
    check = Checker()
    reason = check.choice("reason", form.reason, "修正の理由", _records.CORRECTION_REASONS)
    note = check.text("note", form.note, "補足", max_length=500)
    if contains_digit_run(note):
        check.fail("note", NUMBER_LIKE)
    check.done()
    try:
        return await _records.request_correction(
            session, actor=principal.actor(), person=person, account_id=principal.account_id, reason=reason, note=note
        )
    except _records.RecordError as exc:
        raise FormInvalid({"form": exc.message}) from None


async def decline(session: AsyncSession, principal: Principal, person: Person, form: DeclineForm) -> None:
    """提供しない, with the reason the admin will read."""
    reason = unicodedata.normalize("NFKC", form.reason).strip()
    if contains_digit_run(reason):
        raise FormInvalid({"reason": NUMBER_LIKE})
    try:
        await _records.decline(session, actor=principal.actor(), person=person, reason=reason, function=SELF_FUNCTION)
    except _records.RecordError as exc:
        raise FormInvalid({"reason": exc.message}) from None


async def withdraw_decline(session: AsyncSession, principal: Principal, person: Person) -> None:
    """Take back 提供しない: the person is 未登録 again."""
    await _records.withdraw_decline(session, actor=principal.actor(), person=person, function=SELF_FUNCTION)
