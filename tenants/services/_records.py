"""The number record of a person: register (self, proxy, payee), confirm, decline, correct, reveal.

Every rule that changes a person's collection status lives here, so the employee pages, the admin pages, the payee
page and later imports all follow the same path. Numbers go through the vault, which writes their audit entries.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from app.audit.events import Actor, AuditAction, AuditEvent, AuditResult, Subject
from app.audit.log import record
from app.db import any_of, utcnow
from app.vault import NumberField, StoredNumber, Vault
from app.vault.numbers import normalize_corporate_number, normalize_my_number
from tenants.listing import CountDeltas, apply_count_deltas, count_key, hold_people, registered_section
from tenants.models import (
    CollectionStatus,
    CorrectionRequest,
    Department,
    PayeeType,
    Person,
    PersonKind,
    RequestStatus,
)
from tenants.services import _duplicates
from tenants.services._erasure_records import ErasedNumber, record_erasures

T = TypeVar("T")


class RecordError(Exception):
    """A rule refused the change; ``message`` is Japanese and says what to do instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Channel(enum.StrEnum):
    """Who enters the number."""

    SELF = "self"  # the employee, for themselves or a dependant (じぶんで登録)
    PROXY = "proxy"  # an admin or handler (代理登録)
    PAYEE = "payee"  # a payee through a one-time link

    @property
    def action(self) -> AuditAction:
        return AuditAction.PROXY_REGISTER if self is Channel.PROXY else AuditAction.REGISTER

    @property
    def function(self) -> str:
        return {"self": "じぶんで登録", "proxy": "代理登録", "payee": "取引先登録"}[self.value]


ADMIN_CONFIRM_FUNCTION = "管理者番号確認"

CORRECTION_REASONS = {
    "mistake": "入力誤り",
    "reissued": "番号が変わった（再発行）",
    "other": "その他",
}


def number_field(person: Person) -> NumberField:
    """Corporations give their corporate number; everyone else their My Number."""
    if person.kind is PersonKind.PAYEE and person.payee_type is PayeeType.CORPORATION:
        return NumberField.CORPORATE_NUMBER
    return NumberField.MY_NUMBER


def normalize_for(person: Person, text: str) -> str:
    """Validate and normalise what was typed (raises InvalidNumber with a Japanese message)."""
    if number_field(person) is NumberField.CORPORATE_NUMBER:
        return normalize_corporate_number(text)
    return normalize_my_number(text)


class NamedPerson(Protocol):
    """What naming a person takes: a ``Person``, or a row of these columns (bulk paths)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def kind(self) -> PersonKind: ...

    @property
    def name(self) -> str: ...

    @property
    def employee_code(self) -> str | None: ...


class NamedDepartment(Protocol):
    """What naming a person's department takes: a ``Department``, or a row of these columns."""

    @property
    def code(self) -> str: ...

    @property
    def name(self) -> str: ...


def display_name(person: NamedPerson, employee: NamedPerson | None) -> str:
    """The person as lists and the log show them: a dependant under their employee (``employee > dependant``)."""
    if person.kind is PersonKind.DEPENDANT and employee is not None:
        return f"{employee.name} > {person.name}"
    return person.name


def person_subject(person: NamedPerson, employee: NamedPerson | None, department: NamedDepartment | None) -> Subject:
    """The audit subject of a person, named as the lists name them (``employee``: a dependant's; ``department``:
    the one they are listed under, their employee's for a dependant)."""
    owner = employee if person.kind is PersonKind.DEPENDANT and employee else person
    return Subject(
        person_id=person.id,
        name=display_name(person, employee),
        department_code=department.code if department else "",
        department_name=department.name if department else "",
        employee_code=owner.employee_code or "",
    )


@dataclass(frozen=True, slots=True)
class PersonContext:
    """A person with the employee (for dependants) and department that name them in lists and the log."""

    person: Person
    employee: Person | None
    department: Department | None

    @property
    def display_name(self) -> str:
        return display_name(self.person, self.employee)

    @property
    def employee_code(self) -> str:
        """The 社員コード the person is listed under (a dependant's is their employee's)."""
        owner = self.employee if self.person.kind is PersonKind.DEPENDANT and self.employee else self.person
        return owner.employee_code or ""

    @property
    def subject(self) -> Subject:
        return person_subject(self.person, self.employee, self.department)


async def context_of(session: AsyncSession, person: Person) -> PersonContext:
    """Load the employee and department a person is shown under."""
    employee = None
    if person.kind is PersonKind.DEPENDANT and person.employee_id is not None:
        employee = await _get(session, Person, person.tenant_id, person.employee_id)
    owner = employee or person
    department = await _get(session, Department, person.tenant_id, owner.department_id) if owner.department_id else None
    return PersonContext(person=person, employee=employee, department=department)


async def _get(session: AsyncSession, model: type[T], tenant_id: uuid.UUID, row_id: uuid.UUID) -> T | None:
    statement = select(model).where(model.tenant_id == tenant_id, model.id == row_id)  # type: ignore[attr-defined]
    return (await session.execute(statement)).scalar_one_or_none()


async def register_number(
    session: AsyncSession,
    vault: Vault,
    *,
    actor: Actor,
    person: Person,
    number: str,
    channel: Channel,
) -> StoredNumber:
    """Store (or, before an admin confirmed it, replace) a person's number and set the status for the channel.

    A number another person already holds is stored all the same, flagged 重複の疑い for the admin by the duplicate
    rule (``_duplicates.flag_duplicates``): the caller sees what a fresh number gives (``StoredNumber.flagged``
    is only for an admin's own page).
    """
    if person.status is CollectionStatus.ADMIN_CONFIRMED and channel is not Channel.PROXY:
        raise RecordError("管理者が確認済みの番号は変更できません。「修正を依頼する」から管理者に依頼してください。")
    if person.retired_at is not None and channel is Channel.SELF:
        raise RecordError("退職済みのため登録できません。会社の担当者にお問い合わせください。")
    normalized = normalize_for(person, number)
    context = await context_of(session, person)
    field = number_field(person)
    arguments = {
        "tenant_id": person.tenant_id,
        "subject": context.subject,
        "field": field,
        "number": normalized,
        "actor": actor,
        "action": channel.action,
        "function": channel.function,
        "allow_duplicate": True,
    }
    if person.status.has_number:
        stored = await vault.replace_number(session, **arguments)  # type: ignore[arg-type]
        erased = [ErasedNumber(context.subject, person.kind, number_id) for number_id in stored.replaced]
        await record_erasures(session, person.tenant_id, erased, actor, "replaced")
    else:
        stored = await vault.store_number(session, **arguments)  # type: ignore[arg-type]
    mark_registered(person, stored, channel)
    await _duplicates.settle_superseded(session, vault, person)
    await _duplicates.flag_duplicates(
        session, vault, actor=actor, entries=[(person, stored)], function=channel.function
    )
    return stored


def _registered_values(stored_at: dt.datetime, channel: Channel) -> dict[str, Any]:
    """What a new number leaves on the person: 登録済 (or 代理登録済), earlier confirmations and decline gone."""
    return {
        "status": CollectionStatus.PROXY_REGISTERED if channel is Channel.PROXY else CollectionStatus.REGISTERED,
        "registered_at": stored_at,
        "self_confirmed_at": None,
        "admin_confirmed_at": None,
        "admin_confirmed_by": "",
        "declined_at": None,
        "decline_reason": "",
        "identity_changed_at": None,
    }


def mark_registered(person: Person, stored: StoredNumber, channel: Channel) -> None:
    """The status a newly stored number leaves: 登録済 (or 代理登録済), every earlier confirmation and decline gone."""
    for name, value in _registered_values(stored.registered_at, channel).items():
        setattr(person, name, value)


_MARK_CHUNK = 1000  # ids per statement


async def mark_registered_many(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    numbers: Sequence[StoredNumber],
    channel: Channel,
    *,
    deltas: CountDeltas | None = None,
) -> None:
    """:func:`mark_registered` for the people of many stored numbers (an import's batch), without loading them.

    One UPDATE per chunk of people: the values ``mark_registered`` sets and the placement they change (the
    registered section: the person had no registration time or keeps one), as the flush hook of ``tenants.listing``
    would. What each person is counted under is read from the database after the tenant's people are held
    (``hold_people``: every writer of them takes that first), and their counters move from the old status to the
    new one: added to ``deltas`` for the caller to apply once (``apply_count_deltas``, before the commit), or
    applied now without it. People already loaded in the session get the new values as committed ones. Nothing is
    logged here: the vault logged each number.
    """
    if not numbers:
        return
    await hold_people(session, [tenant_id])
    table = cast(Table, Person.__table__)
    by_time: dict[dt.datetime, list[uuid.UUID]] = {}
    for stored in numbers:
        by_time.setdefault(stored.registered_at, []).append(stored.subject_id)
    changes: CountDeltas = Counter()
    now = utcnow()
    identities = session.sync_session.identity_map
    dialect = session.get_bind().dialect.name
    for stored_at, ids in by_time.items():
        values = _registered_values(stored_at, channel)
        placed = {**values, "registered_section": registered_section(True)}
        for start in range(0, len(ids), _MARK_CHUNK):
            chunk = ids[start : start + _MARK_CHUNK]
            these = (table.c.tenant_id == tenant_id, any_of(table.c.id, chunk, dialect=dialect))
            counted = select(table.c.list_department_id, table.c.kind, table.c.status).where(*these)
            for department_id, kind, status in (await session.execute(counted)).all():
                changes[count_key(tenant_id, department_id, kind, status)] -= 1
                changes[count_key(tenant_id, department_id, kind, values["status"])] += 1
            await session.execute(update(table).where(*these).values(**placed, updated_at=now))
            for person_id in chunk:
                loaded = identities.get(identity_key(Person, (tenant_id, person_id)))
                if loaded is not None:
                    for name, value in placed.items():
                        set_committed_value(loaded, name, value)
    if deltas is None:
        await apply_count_deltas(session, changes)
    else:
        deltas.update(changes)


async def confirm_by_self(session: AsyncSession, *, actor: Actor, person: Person, function: str) -> None:
    """本人番号確認: the person checked the number shown in full and says it is right."""
    if not person.status.has_number:
        raise RecordError("確認する番号が登録されていません。先に番号を登録してください。")
    person.self_confirmed_at = utcnow()
    if person.status is not CollectionStatus.ADMIN_CONFIRMED:
        person.status = CollectionStatus.SELF_CONFIRMED
    await log_person_event(session, actor, person, AuditAction.SELF_CONFIRM, function)


async def confirm_by_admin(
    session: AsyncSession, *, actor: Actor, person: Person, detail: dict[str, object] | None = None
) -> None:
    """管理者番号確認: a handler checked the number against a number document (``detail`` says how: 一致...)."""
    if not person.status.has_number:
        raise RecordError("確認する番号が登録されていません。")
    person.admin_confirmed_at = utcnow()
    person.admin_confirmed_by = actor.name
    person.identity_changed_at = None  # the admin checked the number against who the person is now
    person.status = CollectionStatus.ADMIN_CONFIRMED
    await log_person_event(session, actor, person, AuditAction.ADMIN_CONFIRM, ADMIN_CONFIRM_FUNCTION, detail=detail)


async def decline(session: AsyncSession, *, actor: Actor, person: Person, reason: str, function: str) -> None:
    """提供拒否: the person declines to give the number (the reason is recorded; nobody may press them)."""
    reason = reason.strip()
    if not reason:
        raise RecordError("提供しない理由を入力してください。")
    if len(reason) > 500:
        raise RecordError("理由は500文字以内で入力してください。")
    if person.status.has_number:
        raise RecordError("番号は登録済みです。削除が必要な場合は管理者にご相談ください。")
    person.status = CollectionStatus.DECLINED
    person.declined_at = utcnow()
    person.decline_reason = reason
    await log_person_event(session, actor, person, AuditAction.DECLINE, function, detail={"event": "declined"})


async def withdraw_decline(session: AsyncSession, *, actor: Actor, person: Person, function: str) -> None:
    """The person changed their mind: back to 未登録 so they can register."""
    if person.status is not CollectionStatus.DECLINED:
        return
    person.status = CollectionStatus.NOT_REGISTERED
    person.declined_at = None
    person.decline_reason = ""
    await log_person_event(session, actor, person, AuditAction.UPDATE, function, detail={"event": "decline_withdrawn"})


async def reveal_number(
    session: AsyncSession,
    vault: Vault,
    *,
    actor: Actor,
    person: Person,
    purpose: str,
    function: str,
    action: AuditAction = AuditAction.REVEAL,
) -> str:
    """Open the number for a stated purpose; the vault logs it before returning."""
    if not person.status.has_number:
        raise RecordError("この対象者の番号は登録されていません。")
    context = await context_of(session, person)
    return await vault.reveal(
        session,
        tenant_id=person.tenant_id,
        subject=context.subject,
        field=number_field(person),
        actor=actor,
        purpose=purpose,
        function=function,
        action=action,
    )


async def request_correction(
    session: AsyncSession, *, actor: Actor, person: Person, account_id: uuid.UUID, reason: str, note: str
) -> CorrectionRequest:
    """After admin confirmation a change needs the admin's approval: file the request."""
    if reason not in CORRECTION_REASONS:
        raise RecordError("修正の理由を選択してください。")
    if person.status is not CollectionStatus.ADMIN_CONFIRMED:
        raise RecordError("この番号はまだ管理者が確認していないため、そのまま修正できます。")
    if await pending_correction(session, person) is not None:
        raise RecordError("すでに修正を依頼しています。管理者の承認をお待ちください。")
    request = CorrectionRequest(
        tenant_id=person.tenant_id,
        person_id=person.id,
        requested_by=account_id,
        reason=reason,
        note=note.strip()[:500],
    )
    session.add(request)
    await session.flush()
    await log_person_event(
        session, actor, person, AuditAction.CORRECTION_REQUEST, "修正依頼", detail={"reason": reason}
    )
    return request


async def pending_correction(session: AsyncSession, person: Person) -> CorrectionRequest | None:
    statement = select(CorrectionRequest).where(
        CorrectionRequest.tenant_id == person.tenant_id,
        CorrectionRequest.person_id == person.id,
        CorrectionRequest.status == RequestStatus.PENDING,
    )
    return (await session.execute(statement)).scalars().first()


async def approve_correction(
    session: AsyncSession, vault: Vault, *, actor: Actor, request: CorrectionRequest, person: Person
) -> None:
    """Erase the old number through the vault and reopen the person for registration; both logged."""
    if request.status is not RequestStatus.PENDING:
        raise RecordError("この依頼はすでに処理されています。")
    context = await context_of(session, person)
    label = CORRECTION_REASONS.get(request.reason, "修正")
    erased_ids = await vault.erase(
        session,
        tenant_id=person.tenant_id,
        subject=context.subject,
        actor=actor,
        function="修正承認",
        reason=label,
    )
    erased = [ErasedNumber(context.subject, person.kind, number_id) for number_id in erased_ids]
    await record_erasures(session, person.tenant_id, erased, actor, "correction", label)
    reopen(person)
    await _duplicates.settle_superseded(session, vault, person)
    request.status = RequestStatus.APPROVED
    request.decided_at = utcnow()
    request.decided_by = actor.name
    await log_person_event(
        session, actor, person, AuditAction.CORRECTION_APPROVE, "修正承認", detail={"reason": request.reason}
    )


async def reject_correction(session: AsyncSession, *, actor: Actor, request: CorrectionRequest, person: Person) -> None:
    if request.status is not RequestStatus.PENDING:
        raise RecordError("この依頼はすでに処理されています。")
    request.status = RequestStatus.REJECTED
    request.decided_at = utcnow()
    request.decided_by = actor.name
    await log_person_event(
        session, actor, person, AuditAction.UPDATE, "修正依頼の却下", detail={"event": "correction_rejected"}
    )


def reopen(person: Person) -> None:
    """Back to 未登録 after the number was erased."""
    person.status = CollectionStatus.NOT_REGISTERED
    person.registered_at = None
    person.self_confirmed_at = None
    person.admin_confirmed_at = None
    person.admin_confirmed_by = ""
    person.identity_changed_at = None


def note_identity_change(person: Person, *, name: str, kana: str, birth_date: object) -> bool:
    """Flag a confirmed number whose owner's name, kana or birth date just changed (it may be someone else's)."""
    changed = person.name != name or person.kana != kana or person.birth_date != birth_date
    if changed and person.admin_confirmed_at is not None:
        person.identity_changed_at = utcnow()
    return changed


async def log_person_event(
    session: AsyncSession,
    actor: Actor,
    person: Person,
    action: AuditAction,
    function: str,
    *,
    detail: dict[str, object] | None = None,
    result: AuditResult = AuditResult.SUCCESS,
) -> None:
    """An audit entry about a person, named as lists show them (the employee, dependants under them)."""
    context = await context_of(session, person)
    await record(
        session,
        AuditEvent(
            tenant_id=person.tenant_id,
            action=action,
            actor=actor,
            function=function,
            subject=context.subject,
            result=result,
            detail=dict(detail or {}),
        ),
    )
