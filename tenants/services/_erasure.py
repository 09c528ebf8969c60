"""Erasing numbers (削除), the two-person rule before the 削除予定日, and the deletion records they leave.

A number is erased only through the vault (``Vault.erase``: the row's ciphertext cleared, one 削除 entry per
number, the per-number key destroyed once the transaction commits) and the person's status becomes 削除済; the
people counters follow through the listing hooks on flush. Each erased number leaves a ``DeletionRecord`` (who,
why, whom, when; never the number) that outlives the number and the person: the 削除証明書 is printed from them.

Rules (seed 000 マイナンバーの廃棄, seed 003 削除予定日, seed 004 two people together):
- Only a tenant admin erases (single, bulk, dependants), files or decides early deletions and changes or cancels a
  削除予定日 (seed 000: the admin decides disposal); handlers and viewers read. Erasing needs a fresh step-up, with a
  reason (``ERASURE_REASONS``; その他 needs a text).
- On or after the 削除予定日 (JST) the number is erased at once. Before it (or with no date set) an admin may tick
  「予定日前の削除」: that files an ``EarlyDeletionRequest``, and a second, different admin approves (the erasure is
  performed then, by the approver, the requester recorded as handler) or rejects it, with a reason.
- An employee's dependants keep their numbers unless the handler asks to erase them too; a dependant's number can
  be erased alone. A dependant's due date is its own, or else its employee's (not after a 予定解除 of its own),
  copied onto its row so the lists show the date it is erased by (``tenants.due_following``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction
from app.audit.guard import looks_like_number
from app.auth.models import Role
from app.auth.principal import Principal, StepUpRequired
from app.auth.scoping import scoped
from app.db import utcnow
from app.forms import FormInvalid
from app.text import clean_text, format_date, today_in_japan
from app.vault import Vault
from tenants.models import (
    CollectionStatus,
    DeletionRecord,
    EarlyDeletionRequest,
    Person,
    PersonKind,
    RequestStatus,
)
from tenants.services import _duplicates, _records
from tenants.services._erasure_records import SYSTEM_ERASURE_REASONS, ErasedNumber, deletion_record_values
from tenants.services._numbers_list import NumberRow, people_rows

ERASURE_REASONS: dict[str, str] = {
    "retired": "退職のため",
    "retention": "保存期間経過",
    "request": "本人の申出",
    "mistake": "誤登録",
    "other": "その他",
}
ERASE_FUNCTION = "番号の削除"
EARLY_REQUEST_FUNCTION = "予定日前削除の申請"
EARLY_APPROVE_FUNCTION = "予定日前削除の承認"
EARLY_REJECT_FUNCTION = "予定日前削除の却下"
MAX_ERASURE_BATCH = 100  # people per confirmation (a page of the deletion list)
NUMBER_ROLES = (Role.ADMIN, Role.HANDLER)  # read deletion records and issue 削除証明書 (a print of the records)
ERASER_ROLES = (Role.ADMIN,)  # erase, file early deletions, change or cancel a 削除予定日 (seed 000, seed 003)


class ErasureRefused(Exception):
    """A rule refused the erasure or decision; ``message`` is Japanese and says what to do instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def reason_label(code: str, text: str = "") -> str:
    """The reason as the record and the certificate print it: the label (of ``ERASURE_REASONS`` or, for an erasure
    the service recorded by itself, ``SYSTEM_ERASURE_REASONS``), or その他's text (``その他（…）``)."""
    label = ERASURE_REASONS.get(code) or SYSTEM_ERASURE_REASONS.get(code, code)
    if code == "other" and text:
        return text
    return f"{label}（{text}）" if text else label


def plan_cancelled(person: Person) -> bool:
    """Whether an admin's 予定解除 left the person without a date: no date, and the reason kept beside it (only
    ``cancel_deletion_due`` leaves a note without a date; a later proposal or change sets a date again)."""
    return person.deletion_due_on is None and bool(person.deletion_due_note)


def due_on(person: Person) -> dt.date | None:
    """The 削除予定日 that applies to a person, as every list shows it: their own, or for a dependant without one,
    their employee's, copied onto the dependant's row (``tenants.due_following``), unless an admin cancelled the
    dependant's plan (予定解除: no date until one is set again, so only the two-person rule erases the number)."""
    return person.deletion_due_on


def is_due(day: dt.date | None, today: dt.date) -> bool:
    """Whether a number may be erased today (JST) without the two-person rule: its 削除予定日 is today or past."""
    return day is not None and day <= today


@dataclass(frozen=True, slots=True)
class ErasureTarget:
    """One person chosen for erasure, with the dependants whose numbers could go with theirs."""

    row: NumberRow
    due_on: dt.date | None
    due: bool
    dependants: list[NumberRow] = field(default_factory=list)
    pending_request: bool = False

    @property
    def due_label(self) -> str:
        return format_date(self.due_on) if self.due_on else "未設定"


@dataclass(frozen=True, slots=True)
class ErasureChoice:
    """What the confirmation page sent: the reason, its text, dependants too, and the early-deletion override."""

    reason: str = ""
    reason_text: str = ""
    include_dependants: bool = False
    early: bool = False


@dataclass(frozen=True, slots=True)
class ErasureOutcome:
    """The deletion records written (numbers erased now) and the early-deletion requests filed."""

    records: list[DeletionRecord]
    requests: list[EarlyDeletionRequest]


def parse_ids(values: Sequence[str]) -> list[uuid.UUID]:
    """Person ids from a form or a query, in order, without repeats; a malformed id is a 404 (like a missing one).

    FormInvalid when none or more than ``MAX_ERASURE_BATCH``.
    """
    ids: list[uuid.UUID] = []
    for value in values:
        try:
            ids.append(uuid.UUID(str(value).strip()))
        except ValueError:
            raise NotFoundException() from None
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise FormInvalid({"person_id": "削除する対象者を1人以上選択してください。"})
    if len(ids) > MAX_ERASURE_BATCH:
        raise FormInvalid({"person_id": f"一度に削除できるのは{MAX_ERASURE_BATCH}人までです。選択を減らしてください。"})
    return ids


def check_role(principal: Principal) -> None:
    """Erasing and everything that decides disposal: tenant admins only (PermissionDeniedException, a 403, for a
    handler or a viewer). Source: seed 000 (the admin decides disposal), tenants/retention_rule.py."""
    if principal.role not in ERASER_ROLES:
        raise PermissionDeniedException("番号の削除は管理者だけが行えます。")


def check_reader(principal: Principal) -> None:
    """Reading deletion records and issuing 削除証明書: admins and handlers (PermissionDeniedException for a viewer)."""
    if principal.role not in NUMBER_ROLES:
        raise PermissionDeniedException("削除記録は管理者と事務取扱担当者だけが見られます。")


async def erasure_targets(
    session: AsyncSession, vault: Vault, principal: Principal, person_ids: Sequence[uuid.UUID]
) -> list[ErasureTarget]:
    """The people to erase (404 when an id is not one of the tenant's people), masked, with their due dates and,
    for employees, the dependants holding a live number. Reads only these people and their dependants."""
    found = await session.execute(scoped(Person, principal).where(Person.id.in_(list(person_ids))))
    people = {person.id: person for person in found.scalars()}
    if any(person_id not in people for person_id in person_ids):
        raise NotFoundException()
    rows = await people_rows(session, vault, principal, [people[person_id] for person_id in person_ids])
    employee_ids = [row.person.id for row in rows if row.person.kind is PersonKind.EMPLOYEE]
    dependants: dict[uuid.UUID, list[NumberRow]] = {}
    if employee_ids:
        statement = scoped(Person, principal).where(
            Person.employee_id.in_(employee_ids),
            Person.kind == PersonKind.DEPENDANT,
            Person.status.in_([s for s in CollectionStatus if s.has_number]),
        )
        family = list((await session.execute(statement.order_by(Person.family_rank, Person.id))).scalars())
        for row in await people_rows(session, vault, principal, family):
            if row.number is not None and row.person.employee_id is not None:
                dependants.setdefault(row.person.employee_id, []).append(row)
    pending = await _pending_people(session, principal, [row.person.id for row in rows])
    today = today_in_japan()
    targets = []
    for row in rows:
        day = due_on(row.person)
        targets.append(
            ErasureTarget(
                row=row,
                due_on=day,
                due=is_due(day, today),
                dependants=dependants.get(row.person.id, []),
                pending_request=row.person.id in pending,
            )
        )
    return targets


async def _pending_people(
    session: AsyncSession, principal: Principal, person_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    if not person_ids:
        return set()
    statement = scoped(EarlyDeletionRequest, principal).where(
        EarlyDeletionRequest.person_id.in_(list(person_ids)), EarlyDeletionRequest.status == RequestStatus.PENDING
    )
    return {request.person_id for request in (await session.execute(statement)).scalars()}


def check_choice(choice: ErasureChoice) -> ErasureChoice:
    """The reason and its text, validated (FormInvalid: ``reason``, ``reason_text``); returns the cleaned choice."""
    errors: dict[str, str] = {}
    if choice.reason not in ERASURE_REASONS:
        errors["reason"] = "削除の理由を一覧から選択してください。"
    try:
        text = clean_text(choice.reason_text)
    except ValueError:
        errors["reason_text"] = "理由の内容に使えない文字が含まれています。"
        text = ""
    if choice.reason == "other" and not text:
        errors["reason_text"] = "「その他」を選んだときは理由の内容を入力してください。"
    elif len(text) > 200:
        errors["reason_text"] = "理由の内容は200文字以内で入力してください。"
    elif looks_like_number(text):
        errors["reason_text"] = "理由の内容に番号のような12桁以上の数字は入力できません。"
    if errors:
        raise FormInvalid(errors)
    return ErasureChoice(choice.reason, text, choice.include_dependants, choice.early)


async def erase_numbers(
    session: AsyncSession,
    vault: Vault,
    principal: Principal,
    person_ids: Sequence[uuid.UUID],
    choice: ErasureChoice,
) -> ErasureOutcome:
    """Erase the chosen people's numbers (and, if asked, their dependants'), or file early-deletion requests for
    those not yet due when the override is ticked; everything checked first, then written in the caller's
    transaction (commit with ``vault.commit`` so the keys are destroyed at once).

    PermissionDeniedException (not an admin), StepUpRequired (no fresh re-authentication), NotFoundException (an id
    not of the tenant), FormInvalid (``reason``, ``reason_text``, ``person_id``, ``early``: Japanese, what to fix).
    """
    check_role(principal)
    if not principal.stepup_fresh:
        raise StepUpRequired()
    choice = check_choice(choice)
    targets = await erasure_targets(session, vault, principal, person_ids)
    _check_targets(principal, targets, choice)
    actor = principal.actor()
    records: list[DeletionRecord] = []
    requests: list[EarlyDeletionRequest] = []
    erased: set[uuid.UUID] = set()  # a dependant ticked beside their employee (dependants too) goes once
    for target in targets:
        if target.due:
            for row in rows_to_erase(target, choice.include_dependants):
                if row.person.id not in erased:
                    erased.add(row.person.id)
                    records.append(await erase_row(session, vault, row, actor, choice.reason, choice.reason_text))
        else:
            requests.append(await _file_request(session, principal, target, choice))
    await session.flush()
    return ErasureOutcome(records, requests)


def rows_to_erase(target: ErasureTarget, include_dependants: bool) -> list[NumberRow]:
    """The person's row when it has a live number, then (if asked) the dependants holding one."""
    rows = [target.row] if target.row.number is not None else []
    return rows + (target.dependants if include_dependants else [])


def _check_targets(principal: Principal, targets: list[ErasureTarget], choice: ErasureChoice) -> None:
    errors: dict[str, str] = {}
    today = today_in_japan()
    for target in targets:
        name = target.row.display_name
        if target.row.number is None and not (choice.include_dependants and target.dependants):
            errors.setdefault("person_id", f"{name} さんの番号は登録されていません（削除済みか未登録です）。")
        elif target.pending_request:
            errors.setdefault(
                "person_id", f"{name} さんには承認待ちの予定日前削除の申請があります。承認か却下をお待ちください。"
            )
        elif not target.due and not choice.early:
            errors.setdefault(
                "early",
                f"{name} さんは削除予定日（{target.due_label}）前のため削除できません。"
                "予定日前に削除するには「予定日前の削除」にチェックを入れてください（別の管理者の承認が必要です）。",
            )
        elif target.due and choice.include_dependants:
            for dependant in target.dependants:
                day = due_on(dependant.person)
                if not is_due(day, today):
                    label = format_date(day) if day else "未設定"
                    errors.setdefault(
                        "include_dependants",
                        f"扶養家族 {dependant.person.name} さんは削除予定日（{label}）前です。"
                        "「扶養家族の番号も削除する」のチェックを外すか、扶養家族の番号は別に予定日前の削除を申請してください。",
                    )
    if errors:
        raise FormInvalid(errors)


async def erase_row(
    session: AsyncSession,
    vault: Vault,
    row: NumberRow,
    actor: Actor,
    reason: str,
    reason_text: str,
    *,
    handler: tuple[str, str] | None = None,
    request_id: uuid.UUID | None = None,
) -> DeletionRecord:
    """One person's number through the vault (削除 entry), the person 削除済, the deletion record added.

    ``handler`` (login id, name) is who asked when it is not ``actor`` (an approved early deletion: ``actor``
    approved and performed it).
    """
    person = row.person
    number_id = row.number.id if row.number is not None else None
    erased_ids = await vault.erase(
        session,
        tenant_id=person.tenant_id,
        subject=row.subject,
        actor=actor,
        function=ERASE_FUNCTION,
        reason=reason_label(reason, reason_text),
        field=_records.number_field(person),
    )
    if not erased_ids:
        raise ErasureRefused(f"{row.display_name} さんの番号はすでに削除されています。")
    mark_erased(person)
    await _duplicates.settle_superseded(session, vault, person)
    values = deletion_record_values(
        person.tenant_id,
        ErasedNumber(row.subject, person.kind, number_id),
        handler=handler or (actor.login_id, actor.name),
        approver=(actor.login_id, actor.name) if handler else ("", ""),
        reason=reason,
        reason_text=reason_text,
        erased_at=utcnow(),
        request_id=request_id,
    )
    record = DeletionRecord(**values)
    session.add(record)
    return record


def mark_erased(person: Person) -> None:
    """削除済: the number is gone, and every confirmation of it with it (the listing hooks move the counters)."""
    person.status = CollectionStatus.ERASED
    person.registered_at = None
    person.self_confirmed_at = None
    person.admin_confirmed_at = None
    person.admin_confirmed_by = ""
    person.identity_changed_at = None


async def _file_request(
    session: AsyncSession, principal: Principal, target: ErasureTarget, choice: ErasureChoice
) -> EarlyDeletionRequest:
    person = target.row.person
    request = EarlyDeletionRequest(
        tenant_id=person.tenant_id,
        person_id=person.id,
        include_dependants=choice.include_dependants and bool(target.dependants),
        reason=choice.reason,
        reason_text=choice.reason_text,
        due_on=target.due_on,
        requested_by=principal.account_id,
        requested_by_login_id=principal.login_id[:100],
        requested_by_name=principal.name[:100],
        status=RequestStatus.PENDING,
    )
    session.add(request)
    await session.flush()
    detail: dict[str, object] = {
        "event": "early_deletion_requested",
        "request_id": str(request.id),
        "reason": choice.reason,
        "due_on": target.due_on.isoformat() if target.due_on else None,
        "include_dependants": request.include_dependants,
    }
    await _records.log_person_event(
        session, principal.actor(), person, AuditAction.UPDATE, EARLY_REQUEST_FUNCTION, detail=detail
    )
    return request
