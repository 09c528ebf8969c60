"""Proxy registration, admin confirmation, reveal and correction decisions: the buttons behind the number list.

Every change goes through ``_records``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditResult
from app.auth.principal import Principal
from app.auth.scoping import get_scoped, scoped
from app.forms import FormInvalid
from app.pager import Count, KeysetPage, PageRequest, capped_count, read_page
from app.paging import SortColumn
from app.text import format_date
from app.vault import InvalidNumber, NumberAlreadyStored, Vault
from app.vault.numbers import is_repeated_digit
from tenants.models import CorrectionRequest, DuplicateStatus, NumberDuplicate, Person, RequestStatus
from tenants.purposes import purposes_for_kind
from tenants.services import _records
from tenants.services._confirmations import confirmation_matches
from tenants.services._duplicates import open_cases
from tenants.services._numbers_list import NumberRow, joined_people, number_rows
from tenants.services._organisations import own_tenant
from tenants.services._records import CORRECTION_REASONS, Channel, RecordError

LIST_FUNCTION = "マイナンバー一覧"


# One person ---------------------------------------------------------------------------------------------------


async def number_row(session: AsyncSession, vault: Vault, principal: Principal, person_id: str) -> NumberRow:
    """One person of the principal's tenant with their mask, or 404."""
    person = await get_scoped(session, Person, principal, person_id)
    (row,) = await number_rows(session, vault, principal, joined_people(principal).where(Person.id == person.id))
    return row


@dataclass(frozen=True, slots=True)
class Registration:
    """What a proxy registration may show: the mask, and whether the number deserves a second look."""

    masked: str
    repeated_digit: bool
    duplicate_of: tuple[str, ...] = ()  # who else holds the number (admins may be told: they are authorised)


async def proxy_register(
    session: AsyncSession, vault: Vault, principal: Principal, person: Person, number: str
) -> Registration:
    """代理登録 (unlimited; replaces a registered number): FormInvalid with a Japanese message on bad input.

    A number another person holds is kept and flagged by the same duplicate rule as every path; the admin is
    told whose it is (``duplicate_of``).
    """
    try:
        stored = await _records.register_number(
            session, vault, actor=principal.actor(), person=person, number=number, channel=Channel.PROXY
        )
    except (InvalidNumber, NumberAlreadyStored, RecordError) as exc:
        raise FormInvalid({"number": exc.message}) from None
    others: tuple[str, ...] = ()
    if stored.flagged:
        statement = scoped(NumberDuplicate, principal).where(*open_cases(), NumberDuplicate.number_id == stored.id)
        ids = [case.other_person_id for case in (await session.execute(statement)).scalars()]
        rows = await _people_rows(session, None, principal, ids)
        others = tuple(rows[i].display_name for i in ids if i in rows)
    return Registration(masked=stored.masked, repeated_digit=is_repeated_digit(number), duplicate_of=others)


MISMATCH = "入力した番号は登録されている番号と一致しません。番号確認書類の番号をもう一度確かめて入力してください。"
CONFIRM_FUNCTION = "管理者番号確認"


class ConfirmationRefused(Exception):
    """管理者番号確認 refused; ``message`` is Japanese. The failure was logged: commit before answering."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def confirm_number(session: AsyncSession, vault: Vault, principal: Principal, person: Person, typed: str) -> None:
    """管理者番号確認: the admin types the number printed on the document; it must be the stored one.

    Compared by blind index in constant time; 一致 is recorded in the entry. A mismatch or an invalid number is
    logged as a failure (the caller commits it) and raised as ConfirmationRefused; RecordError without a number.
    """
    if not person.status.has_number:
        raise RecordError("確認する番号が登録されていません。")
    actor = principal.actor()
    try:
        same = await vault.same_number(session, person.tenant_id, person.id, _records.number_field(person), typed)
        message = MISMATCH
    except InvalidNumber as exc:
        same, message = False, exc.message
    if not same:
        detail: dict[str, object] = {"method": "typed", "result": "不一致"}
        await _records.log_person_event(
            session,
            actor,
            person,
            AuditAction.ADMIN_CONFIRM,
            CONFIRM_FUNCTION,
            detail=detail,
            result=AuditResult.FAILURE,
        )
        raise ConfirmationRefused(message)
    await _records.confirm_by_admin(session, actor=actor, person=person, detail={"method": "typed", "result": "一致"})


async def confirm_after_reveal(
    session: AsyncSession,
    vault: Vault,
    principal: Principal,
    person: Person,
    kept: dict[str, str] | None,
    token: str,
) -> None:
    """管理者番号確認 right after a reveal (with step-up): only with the token of the page that showed it in full."""
    infos = await vault.number_info(session, person.tenant_id, [person.id], _records.number_field(person))
    info = infos.get(person.id)
    if not confirmation_matches(kept, token, person.id, info.id if info else None):
        raise RecordError("番号を表示した画面から確認してください。もう一度表示するか、番号を入力してください。")
    await _records.confirm_by_admin(session, actor=principal.actor(), person=person, detail={"method": "reveal"})


async def purposes_for(session: AsyncSession, principal: Principal, person: Person) -> list[str]:
    """The purposes the tenant notified to this person's kind (employees and dependants, or payees)."""
    tenant = await own_tenant(session, principal)
    return purposes_for_kind(tenant, person.kind)


async def check_reveal(session: AsyncSession, principal: Principal, person: Person, purpose: str) -> None:
    """Before a reveal: the purpose is one notified to this kind of person and there is a number to show."""
    if purpose not in await purposes_for(session, principal, person):
        raise FormInvalid({"purpose": "利用目的を一覧から選択してください（本人に通知した利用目的だけを選べます）。"})
    if not person.status.has_number:
        raise FormInvalid({"purpose": "この対象者の番号は登録されていません。"})


async def reveal_for_purpose(
    session: AsyncSession, vault: Vault, principal: Principal, person: Person, purpose: str
) -> str:
    """Open the number for a purpose notified to this kind of person (番号法: use within the notified purposes);
    logged once by the vault. FormInvalid when the purpose is not one of them."""
    if purpose not in await purposes_for(session, principal, person):
        raise FormInvalid({"purpose": "利用目的を一覧から選択してください（本人に通知した利用目的だけを選べます）。"})
    try:
        return await _records.reveal_number(
            session, vault, actor=principal.actor(), person=person, purpose=purpose, function=LIST_FUNCTION
        )
    except RecordError as exc:
        raise FormInvalid({"purpose": exc.message}) from None


# Duplicates (重複の疑い) ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DuplicateRow:
    """An unsettled (or settled) case with both people as the list shows them, masks included."""

    case: NumberDuplicate
    row: NumberRow  # who gave the number last
    other: NumberRow  # who held it already

    @property
    def found_on(self) -> str:
        return format_date(self.case.created_at, time="minutes")

    @property
    def resolved_on(self) -> str:
        return format_date(self.case.resolved_at, time="minutes")


DUPLICATES_PER_PAGE = 20
_OLDEST_FIRST_CASES = [SortColumn(NumberDuplicate.created_at, "created_at"), SortColumn(NumberDuplicate.id, "id")]


@dataclass(frozen=True, slots=True)
class DuplicatePage:
    """One page of unsettled cases (oldest first) and how many there are (counted up to ``COUNT_CAP``)."""

    rows: list[DuplicateRow]
    total: Count
    window: KeysetPage


async def duplicate_page(
    session: AsyncSession, vault: Vault | None, principal: Principal, request: PageRequest
) -> DuplicatePage:
    """Unsettled cases oldest first, ``DUPLICATES_PER_PAGE`` a page (``ix_number_duplicates_tenant_id_status_...``)."""
    statement = scoped(NumberDuplicate, principal).where(*open_cases())
    total = await capped_count(session, statement)
    window = await read_page(
        session, [statement], _OLDEST_FIRST_CASES, request, per_page=DUPLICATES_PER_PAGE, total=total
    )
    cases = await _by_id(session, principal, NumberDuplicate, [key.id for key in window.keys])
    return DuplicatePage(await _duplicate_rows(session, vault, principal, cases), total, window)


async def list_duplicates(
    session: AsyncSession, vault: Vault | None, principal: Principal, *, settled: bool = False, limit: int = 200
) -> list[DuplicateRow]:
    """Open cases oldest first (or the latest settled ones), each with both people; at most ``limit``."""
    statement = scoped(NumberDuplicate, principal)
    if settled:  # every settled case carries resolved_at: one range of ix_number_duplicates_tenant_id_resolved_at
        statement = statement.where(
            NumberDuplicate.resolved_at.is_not(None), NumberDuplicate.status != DuplicateStatus.OPEN
        ).order_by(NumberDuplicate.resolved_at.desc(), NumberDuplicate.id.desc())
    else:
        statement = statement.where(*open_cases()).order_by(NumberDuplicate.created_at, NumberDuplicate.id)
    cases = list((await session.execute(statement.limit(limit))).scalars())
    return await _duplicate_rows(session, vault, principal, cases)


async def _duplicate_rows(
    session: AsyncSession, vault: Vault | None, principal: Principal, cases: Sequence[NumberDuplicate]
) -> list[DuplicateRow]:
    ids = {c.person_id for c in cases} | {c.other_person_id for c in cases}
    people = await _people_rows(session, vault, principal, list(ids))
    return [
        DuplicateRow(c, people[c.person_id], people[c.other_person_id])
        for c in cases
        if c.person_id in people and c.other_person_id in people
    ]


async def _by_id(session: AsyncSession, principal: Principal, model: Any, ids: Sequence[uuid.UUID]) -> list[Any]:
    """Rows of the principal's tenant by id, in the order of ``ids`` (one page: a primary-key lookup each)."""
    if not ids:
        return []
    found = {
        row.id: row for row in (await session.execute(scoped(model, principal).where(model.id.in_(ids)))).scalars()
    }
    return [found[i] for i in ids if i in found]


# Correction requests ------------------------------------------------------------------------------------------


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
        return format_date(self.request.created_at, time="minutes")

    @property
    def decided_on(self) -> str:
        return format_date(self.request.decided_at, time="minutes")


CORRECTIONS_PER_PAGE = 50
_OLDEST_FIRST_REQUESTS = [
    SortColumn(CorrectionRequest.created_at, "created_at"),
    SortColumn(CorrectionRequest.id, "id"),
]


@dataclass(frozen=True, slots=True)
class CorrectionPage:
    """One page of pending requests (oldest first) and how many there are (counted up to ``COUNT_CAP``)."""

    rows: list[CorrectionRow]
    total: Count
    window: KeysetPage


def _in_status(principal: Principal, status: RequestStatus) -> Select[Any]:
    return scoped(CorrectionRequest, principal).where(CorrectionRequest.status == status)


async def correction_page(
    session: AsyncSession,
    vault: Vault | None,
    principal: Principal,
    request: PageRequest,
    *,
    status: RequestStatus = RequestStatus.PENDING,
) -> CorrectionPage:
    """Requests in a status, oldest first, ``CORRECTIONS_PER_PAGE`` a page, each with its person and (given the
    vault) the mask; one range of ``ix_correction_requests_tenant_id_status_created_at`` per page."""
    statement = _in_status(principal, status)
    total = await capped_count(session, statement)
    window = await read_page(
        session, [statement], _OLDEST_FIRST_REQUESTS, request, per_page=CORRECTIONS_PER_PAGE, total=total
    )
    requests = await _by_id(session, principal, CorrectionRequest, [key.id for key in window.keys])
    people = await _people_rows(session, vault, principal, [r.person_id for r in requests])
    rows = [CorrectionRow(request, people[request.person_id]) for request in requests if request.person_id in people]
    return CorrectionPage(rows, total, window)


async def count_corrections(
    session: AsyncSession, principal: Principal, *, status: RequestStatus = RequestStatus.PENDING
) -> Count:
    """How many requests are in a status, counted up to ``COUNT_CAP`` (「1,000件以上」 beyond)."""
    return await capped_count(session, _in_status(principal, status))


async def list_corrections(
    session: AsyncSession,
    vault: Vault | None,
    principal: Principal,
    *,
    status: RequestStatus = RequestStatus.PENDING,
    limit: int | None = None,
) -> list[CorrectionRow]:
    """Correction requests in a status (oldest first; the first ``limit``), each with its person and, given the
    vault, the mask. Pages read :func:`correction_page` and counts :func:`count_corrections`."""
    statement = _in_status(principal, status).order_by(CorrectionRequest.created_at, CorrectionRequest.id)
    requests = list((await session.execute(statement.limit(limit))).scalars())
    people = await _people_rows(session, vault, principal, [r.person_id for r in requests])
    return [CorrectionRow(request, people[request.person_id]) for request in requests if request.person_id in people]


async def recent_decisions(session: AsyncSession, principal: Principal, *, limit: int = 20) -> list[CorrectionRow]:
    """The latest approved or rejected requests, newest first (one range of ``..._tenant_id_decided_at``)."""
    statement = (
        scoped(CorrectionRequest, principal)
        .where(CorrectionRequest.decided_at.is_not(None), CorrectionRequest.status != RequestStatus.PENDING)
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
    rows = await number_rows(session, vault, principal, joined_people(principal).where(Person.id.in_(set(ids))))
    return {row.person.id: row for row in rows}


async def pending_correction_row(
    session: AsyncSession, vault: Vault | None, principal: Principal, request_id: str, *, allow_decided: bool = False
) -> CorrectionRow:
    """A correction request of the principal's tenant with its person (404 for outsiders); RecordError when it was
    already decided (unless ``allow_decided``)."""
    request = await get_scoped(session, CorrectionRequest, principal, request_id)
    if request.status is not RequestStatus.PENDING and not allow_decided:
        raise RecordError("この依頼はすでに処理されています。")
    rows = await _people_rows(session, vault, principal, [request.person_id])
    if request.person_id not in rows:
        raise RecordError("この依頼の対象者が見つかりません。")
    return CorrectionRow(request, rows[request.person_id])


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
