"""予定日前の削除: the second admin's decision on an early-deletion request (two-person rule, seed 004).

A request is filed by ``erase_numbers`` when an admin ticks 「予定日前の削除」 for a number not yet due; another admin
(never the requester) approves it, erasing the number then (by the approver, the requester recorded as handler),
or rejects it, with a reason. Both decisions are logged.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from litestar.exceptions import PermissionDeniedException
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.audit.guard import looks_like_number
from app.auth.models import Role
from app.auth.principal import Principal, StepUpRequired
from app.auth.scoping import get_scoped, scoped
from app.db import utcnow
from app.forms import FormInvalid
from app.pager import Count, KeysetPage, PageRequest, capped_count, read_page
from app.paging import SortColumn
from app.text import clean_text, format_date
from app.vault import Vault
from tenants.models import EarlyDeletionRequest, RequestStatus
from tenants.services import _records
from tenants.services._erasure import (
    EARLY_APPROVE_FUNCTION,
    EARLY_REJECT_FUNCTION,
    ErasureRefused,
    ErasureTarget,
    erase_row,
    erasure_targets,
    reason_label,
    rows_to_erase,
)


@dataclass(frozen=True, slots=True)
class EarlyRequestRow:
    """A request with the person it is about (masked number, dependants that would go with it)."""

    request: EarlyDeletionRequest
    target: ErasureTarget

    @property
    def reason_label(self) -> str:
        return reason_label(self.request.reason, self.request.reason_text)

    @property
    def requested_on(self) -> str:
        return format_date(self.request.created_at, time="minutes")

    @property
    def decided_on(self) -> str:
        return format_date(self.request.decided_at, time="minutes")


@dataclass(frozen=True, slots=True)
class EarlyRequestPage:
    rows: list[EarlyRequestRow]
    total: Count
    window: KeysetPage


REQUESTS_PER_PAGE = 50
_OLDEST_FIRST = [SortColumn(EarlyDeletionRequest.created_at, "created_at"), SortColumn(EarlyDeletionRequest.id, "id")]


def _requests_in(principal: Principal, status: RequestStatus) -> Select[Any]:
    return scoped(EarlyDeletionRequest, principal).where(EarlyDeletionRequest.status == status)


async def early_request_page(
    session: AsyncSession, vault: Vault, principal: Principal, page: PageRequest
) -> EarlyRequestPage:
    """Pending requests, oldest first, ``REQUESTS_PER_PAGE`` a page (one index range), each with its person."""
    statement = _requests_in(principal, RequestStatus.PENDING)
    total = await capped_count(session, statement)
    window = await read_page(session, [statement], _OLDEST_FIRST, page, per_page=REQUESTS_PER_PAGE, total=total)
    ids = [key.id for key in window.keys]
    requests = await _requests_by_id(session, principal, ids)
    return EarlyRequestPage(await _request_rows(session, vault, principal, requests), total, window)


async def pending_early_requests(session: AsyncSession, principal: Principal) -> Count:
    """How many early-deletion requests wait for a second admin (counted up to the cap, one index range): the admin
    home shows it so the other admin finds the request (seed 004's two people)."""
    return await capped_count(
        session, _requests_in(principal, RequestStatus.PENDING).with_only_columns(EarlyDeletionRequest.id)
    )


async def recent_early_decisions(
    session: AsyncSession, principal: Principal, limit: int = 10
) -> list[EarlyDeletionRequest]:
    """The last decided requests, newest first (a few rows of ``ix_early_deletion_requests_tenant_id_decided_at``)."""
    statement = (
        scoped(EarlyDeletionRequest, principal)
        .where(EarlyDeletionRequest.decided_at.is_not(None))
        .order_by(EarlyDeletionRequest.decided_at.desc(), EarlyDeletionRequest.id.desc())
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def _requests_by_id(
    session: AsyncSession, principal: Principal, ids: Sequence[uuid.UUID]
) -> list[EarlyDeletionRequest]:
    if not ids:
        return []
    statement = scoped(EarlyDeletionRequest, principal).where(EarlyDeletionRequest.id.in_(list(ids)))
    found = {request.id: request for request in (await session.execute(statement)).scalars()}
    return [found[i] for i in ids if i in found]


async def _request_rows(
    session: AsyncSession, vault: Vault, principal: Principal, requests: list[EarlyDeletionRequest]
) -> list[EarlyRequestRow]:
    if not requests:
        return []
    targets = await erasure_targets(session, vault, principal, list(dict.fromkeys(r.person_id for r in requests)))
    by_person = {target.row.person.id: target for target in targets}
    return [EarlyRequestRow(request, by_person[request.person_id]) for request in requests]


async def early_request_row(
    session: AsyncSession, vault: Vault, principal: Principal, request_id: str
) -> EarlyRequestRow:
    """One request of the principal's tenant with its person (404 for anyone else's or a malformed id)."""
    request = await get_scoped(session, EarlyDeletionRequest, principal, request_id)
    (row,) = await _request_rows(session, vault, principal, [request])
    return row


async def decide_early_request(
    session: AsyncSession,
    vault: Vault,
    principal: Principal,
    request_id: str,
    *,
    approve: bool,
    note: str,
) -> EarlyRequestRow:
    """A second admin approves (the number, and the dependants' if asked, erased now by the approver, the requester
    recorded as handler) or rejects a pending request; the decision is logged, with its reason.

    NotFoundException (not the tenant's), PermissionDeniedException (not an admin), StepUpRequired (approval without
    a fresh step-up), FormInvalid (``note``: the reason missing or too long), ErasureRefused (decided already, the
    requester deciding their own request, the number gone meanwhile).
    """
    row = await early_request_row(session, vault, principal, request_id)
    if principal.role is not Role.ADMIN:
        raise PermissionDeniedException("予定日前の削除は管理者だけが承認・却下できます。")
    request = row.request
    if request.status is not RequestStatus.PENDING:
        raise ErasureRefused("この申請はすでに処理されています。")
    if request.requested_by == principal.account_id:
        raise ErasureRefused(
            "ご自身の申請は承認・却下できません。別の管理者が判断してください（二人で確認する決まりです）。"
        )
    if approve and not principal.stepup_fresh:
        raise StepUpRequired()
    note = _decision_note(note)
    actor = principal.actor()
    if approve:
        rows = rows_to_erase(row.target, request.include_dependants)
        if not rows:
            raise ErasureRefused(
                f"{row.target.row.display_name} さんの番号はすでに削除されています。この申請は却下してください。"
            )
        for erased in rows:
            await erase_row(
                session,
                vault,
                erased,
                actor,
                request.reason,
                request.reason_text,
                handler=(request.requested_by_login_id, request.requested_by_name),
                request_id=request.id,
            )
    request.status = RequestStatus.APPROVED if approve else RequestStatus.REJECTED
    request.decided_at = utcnow()
    request.decided_by = principal.account_id
    request.decided_by_name = principal.name[:100]
    request.decision_note = note
    detail: dict[str, object] = {
        "event": "early_deletion_approved" if approve else "early_deletion_rejected",
        "request_id": str(request.id),
        "requested_by": request.requested_by_login_id,
        "note": note,
    }
    function = EARLY_APPROVE_FUNCTION if approve else EARLY_REJECT_FUNCTION
    await _records.log_person_event(session, actor, row.target.row.person, AuditAction.UPDATE, function, detail=detail)
    await session.flush()
    return row


def _decision_note(note: str) -> str:
    try:
        text = clean_text(note)
    except ValueError:
        raise FormInvalid({"note": "判断の理由に使えない文字が含まれています。"}) from None
    if not text:
        raise FormInvalid({"note": "承認・却下の理由を入力してください。"})
    if len(text) > 500:
        raise FormInvalid({"note": "理由は500文字以内で入力してください。"})
    if looks_like_number(text):
        raise FormInvalid({"note": "理由に番号のような12桁以上の数字は入力できません。"})
    return text
