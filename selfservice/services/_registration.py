"""じぶんで登録: the employee enters, checks and confirms numbers for themselves and their dependants, asks for a
correction, or declines.

Numbers go through ``tenants.services._records`` (and so through the vault, which logs them); nothing here touches
a number except to pass what was typed along. Free text (names, reasons, notes) is refused when it looks like one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.audit.guard import looks_like_number
from app.auth.principal import Principal
from app.forms import Checker, FormInvalid
from app.vault import InvalidNumber, NumberAlreadyStored, Vault
from app.vault.numbers import normalize_my_number
from selfservice.schemas import CorrectionForm, DeclineForm, DependantForm
from selfservice.services._family import is_retired
from tenants.models import CollectionStatus, CorrectionRequest, Person, PersonKind, Relationship
from tenants.services import RELATIONSHIPS, _records, confirmation_matches, issue_confirmation, today

SELF_FUNCTION = _records.Channel.SELF.function
CONFIRM_PURPOSE = "本人による番号確認"
NUMBER_LIKE = "12桁以上の数字は入力できません（番号はこの欄に書かないでください）。"


async def register(session: AsyncSession, vault: Vault, principal: Principal, person: Person, number: str) -> None:
    """Store (or replace) what the employee typed for themselves or a dependant; errors on the number field."""
    try:
        await _records.register_number(
            session, vault, actor=principal.actor(), person=person, number=number, channel=_records.Channel.SELF
        )
    except (InvalidNumber, _records.RecordError, NumberAlreadyStored) as exc:
        raise FormInvalid({"number": exc.message}) from None


async def add_dependant(
    session: AsyncSession, vault: Vault, principal: Principal, employee: Person, form: DependantForm
) -> Person:
    """A new dependant with (optionally) their number; nothing is kept when any field is wrong."""
    if is_retired(employee, today()):
        raise FormInvalid({"form": "退職済みのため登録できません。会社の担当者にお問い合わせください。"})
    details, number = _dependant_input(form)
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
    details, number = _dependant_input(form)
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


def _dependant_input(form: DependantForm) -> tuple[dict[str, object], str]:
    """The dependant's details and the number typed with them (FormInvalid listing every wrong field)."""
    check = Checker()
    details = _dependant_details(check, form)
    number = _typed_number(check, form.number)
    check.done()
    return details, number


def _dependant_details(check: Checker, form: DependantForm) -> dict[str, object]:
    for field_name, value in (("name", form.name), ("kana", form.kana)):
        if looks_like_number(value):  # said first: a number typed in the wrong field
            check.fail(field_name, NUMBER_LIKE)
    name = check.name("name", form.name, "氏名", required=True, max_length=100)
    kana = check.kana("kana", form.kana, required=True)
    relationship = check.choice("relationship", form.relationship, "続柄", RELATIONSHIPS)
    birth_date = check.date("birth_date", form.birth_date, "生年月日", required=True, birth=True, today=today())
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
    await _records.log_person_event(session, principal.actor(), person, AuditAction.UPDATE, function, detail=detail)


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


@dataclass(frozen=True, slots=True)
class ConfirmationToken:
    """The one-time token of a page showing the number: ``token`` goes in the page, ``kept`` in the session."""

    token: str = field(repr=False)
    kept: dict[str, str] = field(repr=False)


class NotShown(Exception):
    """No valid confirmation token: the confirm did not come from the page that showed the number."""


async def show_for_confirmation(
    session: AsyncSession, vault: Vault, principal: Principal, person: Person
) -> tuple[str, ConfirmationToken]:
    """Open the number once for the confirmation page, with the token that page's confirm button must carry."""
    number = await reveal_for_confirmation(session, vault, principal, person)
    info = (await vault.number_info(session, person.tenant_id, [person.id], _records.number_field(person)))[person.id]
    token, kept = issue_confirmation(person.id, info.id)
    return number, ConfirmationToken(token, kept)


async def confirm(
    session: AsyncSession,
    vault: Vault,
    principal: Principal,
    person: Person,
    kept: dict[str, str] | None,
    token: str,
) -> None:
    """本人番号確認 by the employee: only with the token of the page that showed this number (else NotShown)."""
    infos = await vault.number_info(session, person.tenant_id, [person.id], _records.number_field(person))
    info = infos.get(person.id)
    if not confirmation_matches(kept, token, person.id, info.id if info else None):
        raise NotShown()
    try:
        await _records.confirm_by_self(session, actor=principal.actor(), person=person, function=SELF_FUNCTION)
    except _records.RecordError as exc:
        raise FormInvalid({"form": exc.message}) from None


async def pending_correction(session: AsyncSession, person: Person) -> CorrectionRequest | None:
    """The person's correction request still waiting for the admin, if any."""
    return await _records.pending_correction(session, person)


async def request_correction(
    session: AsyncSession, principal: Principal, person: Person, form: CorrectionForm
) -> CorrectionRequest:
    """Ask the admin to correct an admin-confirmed number (a re-issued number is the 'reissued' reason)."""
    check = Checker()
    reason = check.choice("reason", form.reason, "修正の理由", _records.CORRECTION_REASONS)
    note = check.text("note", form.note, "補足", max_length=500, multiline=True)
    if looks_like_number(note):
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
    check = Checker()
    reason = check.text("reason", form.reason, "理由", max_length=1000, multiline=True)
    check.done()
    if looks_like_number(reason):
        raise FormInvalid({"reason": NUMBER_LIKE})
    try:
        await _records.decline(session, actor=principal.actor(), person=person, reason=reason, function=SELF_FUNCTION)
    except _records.RecordError as exc:
        raise FormInvalid({"reason": exc.message}) from None


async def withdraw_decline(session: AsyncSession, principal: Principal, person: Person) -> None:
    """Take back 提供しない: the person is 未登録 again."""
    await _records.withdraw_decline(session, actor=principal.actor(), person=person, function=SELF_FUNCTION)
