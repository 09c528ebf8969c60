"""Erasing a whole tenant at contract end (issue 13, seed 000 Q15): every number erased by destroying its keys.

Rule (issue 13): after the contract end date the tenant is read-only for a grace period (``settings.
contract_grace_days``, 30 days) to export and take deletion certificates; only once the grace period is over
(today, JST, later than the end date + the grace days) does the operator erase the whole tenant. A tenant whose
status is 契約終了 but has no end date cannot be erased: the operator sets the end date first.

What ``erase_tenant`` does, each step idempotent so that a rerun after a crash finishes the job (keys first, then
the record):
1. the tenant becomes 契約終了 and every account of it is disabled, its sessions ended (``session_epoch``);
2. the vault destroys everything (``Vault.destroy_tenant``): every number erased with one 削除 entry each in the
   tenant's own chain (which stays: it holds no number), every document key and number key destroyed, then the
   tenant's data keys;
3. one transaction writes the ``TenantErasure`` record (the counts and the certificate number), marks the tenant
   erased (``erased_at``) and logs the erasure in the operator's chain and in the tenant's own;
4. the stored images (``app.documents``) are deleted from the blob store in batches (unopenable since step 2).
A second run on an erased tenant only finishes steps 2 and 4 (nothing left: nothing new) and returns the record.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor, AuditAction, AuditEvent
from app.audit.log import record
from app.auth.models import Account
from app.auth.services import TENANT_ERASED_MESSAGE
from app.blobs import BlobStore
from app.db import utcnow
from app.documents import CHUNK as DOCUMENT_BATCH
from app.documents import DocumentBlob, delete_documents
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.text import format_date
from app.vault import Vault
from billing.models import TenantErasure
from billing.usage import reconcile
from partners.models import ExchangeFile, PartnerNotice, PersonBoxFile, exchange_blob_key

ERASURE_FUNCTION = "契約終了に伴う全データ消去"
ERASURE_REASON = "契約終了に伴う全データ消去"  # the erase reason of every number erased this way
ERASED_SIGN_IN_MESSAGE = TENANT_ERASED_MESSAGE  # what sign-in answers afterwards (app.auth)
BATCH = 1000  # numbers / keys per committed transaction in the vault


class TenantErasureRefused(Exception):
    """The erasure is not allowed (yet); ``message`` is Japanese and says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ErasureStatus:
    """Where a tenant stands: its contract end, the last day of its grace period (JST), whether it may be erased
    today and, if not, why (Japanese)."""

    contract_ends_on: dt.date | None
    grace_ends_on: dt.date | None
    erased: bool
    erasable: bool
    refusal: str

    @property
    def pending(self) -> bool:
        """消去待ち: the grace period is over and the tenant is not erased yet."""
        return self.erasable and not self.erased


def grace_ends_on(tenant: Tenant, grace_days: int) -> dt.date | None:
    """The last day (JST) of the read-only grace period: the contract end date + ``grace_days``; None without an
    end date."""
    if tenant.contract_ends_on is None:
        return None
    return tenant.contract_ends_on + dt.timedelta(days=grace_days)


def erasure_status(tenant: Tenant, *, today: dt.date, grace_days: int) -> ErasureStatus:
    """The tenant's contract-end position on ``today`` (JST); see the module docstring for the rule."""
    grace_end = grace_ends_on(tenant, grace_days)
    erased = tenant.erased_at is not None
    refusal = _refusal(tenant, today, grace_end)
    return ErasureStatus(tenant.contract_ends_on, grace_end, erased, refusal == "" or erased, refusal)


def _refusal(tenant: Tenant, today: dt.date, grace_end: dt.date | None) -> str:
    if tenant.kind is not TenantKind.COMPANY:
        return "運営者の組織は消去できません。"
    if tenant.contract_ends_on is None:
        if tenant.status is TenantStatus.ENDED:
            return "契約終了日が設定されていません。事業者情報の編集で契約終了日を設定してください。"
        return "契約が終了していないため消去できません（契約終了日が設定されていません）。"
    ended = tenant.status is TenantStatus.ENDED or tenant.contract_ends_on < today
    if not ended:
        return f"契約が終了していないため消去できません（契約終了日 {format_date(tenant.contract_ends_on)}）。"
    if grace_end is not None and today <= grace_end:
        return f"猶予期間（{format_date(grace_end)} まで）が終わるまで消去できません。"
    return ""


def check_erasable(tenant: Tenant, *, today: dt.date, grace_days: int) -> None:
    """TenantErasureRefused (Japanese) unless the contract has ended and its grace period is over on ``today``."""
    status = erasure_status(tenant, today=today, grace_days=grace_days)
    if not status.erasable:
        raise TenantErasureRefused(status.refusal)


def certificate_number(tenant_id: uuid.UUID, erased_at: dt.datetime) -> str:
    """The certificate number: ``TE-YYYYMMDD-XXXXXXXX`` (the JST day of the erasure and the tenant id's first 8
    hex digits, upper case)."""
    return f"TE-{format_date(erased_at).replace('/', '')}-{tenant_id.hex[:8].upper()}"


async def operator_organisation(session: AsyncSession) -> Tenant:
    """The operator's own organisation (its chain is the operator's log; its name issues the certificate)."""
    statement = select(Tenant).where(Tenant.kind == TenantKind.OPERATOR).order_by(Tenant.created_at).limit(1)
    operator = (await session.execute(statement)).scalars().first()
    if operator is None:
        raise LookupError("no operator organisation")
    return operator


async def erasure_record(session: AsyncSession, tenant_id: uuid.UUID) -> TenantErasure | None:
    """The erasure record of a tenant, or None when it was not erased."""
    statement = select(TenantErasure).where(TenantErasure.erased_tenant_id == tenant_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def erase_tenant(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    store: BlobStore,
    tenant_id: uuid.UUID,
    actor: Actor,
    *,
    today: dt.date,
    grace_days: int,
    batch_size: int = BATCH,
) -> TenantErasure:
    """Erase the whole tenant (steps of the module docstring) and return its ``TenantErasure`` record.

    ``today``: the JST day the rule is checked on; ``grace_days``: ``settings.contract_grace_days``; ``actor``: the
    operator (or the command line) who runs it. LookupError for an unknown tenant id; TenantErasureRefused
    (Japanese) before the grace period is over — nothing is changed then. Constant memory at any tenant size.
    """
    async with sessions() as session:
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            raise LookupError(f"tenant {tenant_id}")
        if tenant.erased_at is None:
            check_erasable(tenant, today=today, grace_days=grace_days)
            await _close_tenant(session, tenant)
            await session.commit()
    await vault.destroy_tenant(
        sessions, tenant_id, actor=actor, function=ERASURE_FUNCTION, reason=ERASURE_REASON, batch_size=batch_size
    )
    erasure = await _record_once(sessions, vault, tenant_id, actor)
    await _delete_blobs(sessions, store, tenant_id)
    await _delete_exchanged_files(sessions, store, tenant_id)
    return erasure


async def _close_tenant(session: AsyncSession, tenant: Tenant) -> None:
    """契約終了, every account disabled and signed out (its sessions no longer match ``session_epoch``)."""
    now = utcnow()
    tenant.status = TenantStatus.ENDED
    still_enabled = or_(Account.disabled_at.is_(None), Account.disabled_at > now)  # 退職日 may lie ahead
    await session.execute(
        update(Account)
        .where(Account.tenant_id == tenant.id)
        .values(
            disabled_at=case((still_enabled, now), else_=Account.disabled_at),
            session_epoch=Account.session_epoch + 1,
        )
        .execution_options(synchronize_session=False)
    )
    await reconcile(session, tenant.id)  # a bulk UPDATE: the id ledger is told here (billing.usage)


async def _record_once(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, tenant_id: uuid.UUID, actor: Actor
) -> TenantErasure:
    """The record, the tenant marked erased and both log entries, in one transaction; the existing record when a
    previous run wrote it."""
    async with sessions() as session:
        existing = await erasure_record(session, tenant_id)
        if existing is not None:
            return existing
        tenant = await session.get(Tenant, tenant_id, with_for_update=True)
        assert tenant is not None
        totals = await vault.erased_totals(session, tenant_id, reason=ERASURE_REASON)
        documents = await session.scalar(
            select(func.count()).select_from(DocumentBlob).where(DocumentBlob.tenant_id == tenant_id)
        )
        now = utcnow()
        erasure = TenantErasure(
            erased_tenant_id=tenant.id,
            tenant_code=tenant.code,
            tenant_name=tenant.name,
            certificate_number=certificate_number(tenant.id, now),
            contract_ended_on=tenant.contract_ends_on,
            erased_at=now,
            erased_by=actor.name[:100] or actor.login_id[:100],
            numbers_erased=totals.numbers,
            documents_erased=int(documents or 0),
            people=totals.people,
        )
        session.add(erasure)
        tenant.erased_at = now
        tenant.status = TenantStatus.ENDED
        detail: dict[str, object] = {
            "event": "tenant_erased",
            "certificate_number": erasure.certificate_number,
            "numbers": erasure.numbers_erased,
            "documents": erasure.documents_erased,
            "people": erasure.people,
        }
        operator = await operator_organisation(session)
        await record(
            session,
            AuditEvent(
                tenant_id=operator.id,
                action=AuditAction.DELETE,
                actor=actor,
                function=ERASURE_FUNCTION,
                detail={**detail, "tenant_id": str(tenant.id), "tenant_name": tenant.name, "code": tenant.code},
            ),
        )
        await record(
            session,
            AuditEvent(tenant_id=tenant.id, action=AuditAction.DELETE, actor=actor, function=ERASURE_FUNCTION,
                       detail=detail),
        )  # fmt: skip
        await session.commit()
        return erasure


async def _delete_blobs(sessions: async_sessionmaker[AsyncSession], store: BlobStore, tenant_id: uuid.UUID) -> int:
    """Delete the tenant's stored images (blobs and rows) in committed batches; returns how many."""
    deleted = 0
    while True:
        async with sessions() as session:
            statement = (
                select(DocumentBlob.id)
                .where(DocumentBlob.tenant_id == tenant_id)
                .order_by(DocumentBlob.id)
                .limit(DOCUMENT_BATCH)
            )
            ids = list((await session.execute(statement)).scalars())
            if not ids:
                return deleted
            deleted += await delete_documents(session, store, tenant_id=tenant_id, document_ids=ids)
            await session.commit()


async def _delete_exchanged_files(
    sessions: async_sessionmaker[AsyncSession], store: BlobStore, tenant_id: uuid.UUID
) -> int:
    """Delete the files the tenant exchanged with its 社労士事務所 (sealed under its data keys, unopenable since step
    2), its 連絡 (their numbers sealed the same way) and the names of its 個人ボックス files, in committed batches;
    returns how many exchanged files went."""
    await _delete_notices(sessions, tenant_id)
    deleted = 0
    while True:
        async with sessions() as session:
            statement = (
                select(ExchangeFile.id)
                .where(ExchangeFile.tenant_id == tenant_id)
                .order_by(ExchangeFile.id)
                .limit(DOCUMENT_BATCH)
            )
            ids = list((await session.execute(statement)).scalars())
            if not ids:
                await session.execute(delete(PersonBoxFile).where(PersonBoxFile.tenant_id == tenant_id))
                await session.commit()
                return deleted
            for file_id in ids:
                await store.delete(exchange_blob_key(tenant_id, file_id))
            await session.execute(
                delete(ExchangeFile).where(ExchangeFile.tenant_id == tenant_id, ExchangeFile.id.in_(ids))
            )
            await session.commit()
            deleted += len(ids)


async def _delete_notices(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID) -> None:
    while True:
        async with sessions() as session:
            statement = select(PartnerNotice.id).where(PartnerNotice.tenant_id == tenant_id).limit(DOCUMENT_BATCH)
            ids = list((await session.execute(statement)).scalars())
            if not ids:
                return
            await session.execute(
                delete(PartnerNotice).where(PartnerNotice.tenant_id == tenant_id, PartnerNotice.id.in_(ids))
            )
            await session.commit()


async def pending_erasures(session: AsyncSession, *, today: dt.date, grace_days: int, limit: int = 100) -> list[Tenant]:
    """消去待ち: company tenants whose grace period ended before ``today`` and that are not erased, oldest end
    first, at most ``limit`` (the tenants table only: cheap)."""
    cutoff = today - dt.timedelta(days=grace_days)
    statement = (
        select(Tenant)
        .where(
            Tenant.kind == TenantKind.COMPANY,
            Tenant.erased_at.is_(None),
            Tenant.contract_ends_on.is_not(None),
            Tenant.contract_ends_on < cutoff,
        )
        .order_by(Tenant.contract_ends_on, Tenant.id)
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())
