"""Destroying a whole tenant's keys at contract end (issue 13, seed 000 Q15): crypto-shredding of everything.

In committed batches (constant memory however many people the tenant has), each step idempotent so a rerun after
a crash finishes the job:
1. every live number of the tenant is marked erased as ``Vault.erase_many`` does (ciphertext zeroed then cleared,
   blind index cleared, one 削除 entry per number in the tenant's own chain, never the number), its key destroyed
   once the batch commits;
2. every live document key (ID images) is marked destroyed and its key destroyed likewise;
3. whatever key of the tenant is still in the key store (a crash between a commit and its shredding, orphans) goes;
4. the tenant's data and blind-index keys (``tenant_keys``, every generation) are overwritten and deleted: from
   then on no ciphertext of the tenant (numbers, images, sealed secrets and job files) can be opened, even from a
   backup of the main database, once the key store's short-retention backups have expired.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.audit.events import Actor, AuditAction, AuditEvent, Subject
from app.audit.log import record_many
from app.db import truncate_wal, utcnow
from app.vault._checks import live
from app.vault.keystore import zeros_like
from app.vault.models import DocumentKey, NumberField, TenantKey, VaultNumber

if TYPE_CHECKING:
    from app.vault.service import Vault

BATCH = 1000  # numbers (or document keys) per committed transaction


@dataclass(frozen=True, slots=True)
class TenantDestruction:
    """What one run of ``Vault.destroy_tenant`` destroyed (a rerun after completion: all zero)."""

    numbers: int  # live numbers erased now
    document_keys: int  # live document keys destroyed now
    keys_removed: int  # key-store rows removed by the final sweep (left behind by a crash; usually 0)
    tenant_key_generations: int  # tenant_keys rows destroyed now


@dataclass(frozen=True, slots=True)
class ErasedTotals:
    """Numbers erased for a reason and the people (distinct subjects) they belonged to."""

    numbers: int
    people: int


async def destroy_tenant(
    vault: Vault,
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    *,
    actor: Actor,
    function: str,
    reason: str,
    batch_size: int = BATCH,
) -> TenantDestruction:
    """Steps 1–4 of the module docstring, each in committed batches; see ``Vault.destroy_tenant``."""
    numbers = 0
    while batch := await _erase_number_batch(vault, sessions, tenant_id, actor, function, reason, batch_size):
        numbers += batch
    document_keys = 0
    while batch := await _destroy_document_key_batch(vault, sessions, tenant_id, batch_size):
        document_keys += batch
    await vault.wait_for_shredding()
    removed = await vault.keystore.delete_tenant(tenant_id, batch_size=batch_size)
    generations = await _destroy_tenant_keys(vault, sessions, tenant_id)
    return TenantDestruction(numbers, document_keys, removed, generations)


async def _erase_number_batch(
    vault: Vault,
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    actor: Actor,
    function: str,
    reason: str,
    batch_size: int,
) -> int:
    """Erase up to ``batch_size`` live numbers of the tenant in one transaction; their keys go after the commit."""
    async with sessions() as session:
        statement = (
            select(VaultNumber.id, VaultNumber.subject_id, VaultNumber.field)
            .where(*live(tenant_id))
            .order_by(VaultNumber.id)
            .limit(batch_size)
        )
        rows = (await session.execute(statement)).all()
        if not rows:
            return 0
        now = utcnow()
        dialect = session.get_bind().dialect.name
        these = (VaultNumber.tenant_id == tenant_id, VaultNumber.id.in_([row.id for row in rows]))
        # As Vault.erase: zeros of the same length first (no page keeps the ciphertext), then cleared.
        await session.execute(
            update(VaultNumber)
            .where(*these)
            .values(
                ciphertext=zeros_like(VaultNumber.ciphertext, dialect), nonce=zeros_like(VaultNumber.nonce, dialect)
            )
        )
        await session.execute(
            update(VaultNumber)
            .where(*these)
            .values(
                erased_at=now, erase_reason=reason[:200], ciphertext=None, nonce=None, blind_index=None, updated_at=now
            )
        )
        events = [_deleted_event(tenant_id, actor, function, reason, row) for row in rows]
        await record_many(session, events)
        vault.shredder.queue(session, [(tenant_id, row.id) for row in rows])
        await vault.commit(session)
        return len(rows)


def _deleted_event(tenant_id: uuid.UUID, actor: Actor, function: str, reason: str, row: Any) -> AuditEvent:
    """The 削除 entry of one number, as ``Vault.erase_many`` writes it (the person by id; never the number)."""
    detail: dict[str, Any] = {"field": NumberField(row.field).value, "number_id": str(row.id), "reason": reason[:200]}
    if NumberField(row.field) is NumberField.MY_NUMBER:
        detail["images_erased"] = True
    return AuditEvent(
        tenant_id=tenant_id,
        action=AuditAction.DELETE,
        actor=actor,
        function=function,
        subject=Subject(person_id=row.subject_id),
        detail=detail,
    )


async def _destroy_document_key_batch(
    vault: Vault, sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, batch_size: int
) -> int:
    """Mark up to ``batch_size`` live document keys destroyed; their keys go after the commit."""
    async with sessions() as session:
        statement = (
            select(DocumentKey.id)
            .where(DocumentKey.tenant_id == tenant_id, DocumentKey.destroyed_at.is_(None))
            .order_by(DocumentKey.id)
            .limit(batch_size)
        )
        ids = list((await session.execute(statement)).scalars())
        if not ids:
            return 0
        now = utcnow()
        await session.execute(
            update(DocumentKey)
            .where(DocumentKey.tenant_id == tenant_id, DocumentKey.id.in_(ids))
            .values(destroyed_at=now, updated_at=now)
        )
        vault.shredder.queue(session, [(tenant_id, key_id) for key_id in ids])
        await vault.commit(session)
        return len(ids)


async def _destroy_tenant_keys(vault: Vault, sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID) -> int:
    """Overwrite and delete every generation of the tenant's wrapped keys; forget their unwrapped copies."""
    async with sessions() as session:
        dialect = session.get_bind().dialect.name
        these = (TenantKey.tenant_id == tenant_id,)
        await session.execute(
            update(TenantKey)
            .where(*these)
            .values(
                wrapped_data_key=zeros_like(TenantKey.wrapped_data_key, dialect),
                wrapped_index_key=zeros_like(TenantKey.wrapped_index_key, dialect),
            )
        )
        result = await session.execute(delete(TenantKey).where(*these))
        await session.commit()
        removed = int(getattr(result, "rowcount", 0) or 0)
        bind = session.get_bind()
    vault.keyring.forget(tenant_id)
    if removed:  # the wrapped keys' old page images leave the main database's WAL too
        await truncate_wal(AsyncEngine(bind if isinstance(bind, Engine) else bind.engine))
    return removed


async def erased_totals(session: AsyncSession, tenant_id: uuid.UUID, reason: str) -> ErasedTotals:
    """How many of the tenant's numbers were erased with this ``reason`` and for how many people (one aggregate
    query each; stable across reruns, since erased rows stay)."""
    where = (VaultNumber.tenant_id == tenant_id, VaultNumber.erase_reason == reason[:200])
    numbers = await session.scalar(select(func.count()).select_from(VaultNumber).where(*where))
    people = await session.scalar(select(func.count(func.distinct(VaultNumber.subject_id))).where(*where))
    return ErasedTotals(int(numbers or 0), int(people or 0))


async def has_tenant_keys(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    """Whether any generation of the tenant's wrapped keys is stored."""
    found = await session.scalar(select(TenantKey.version).where(TenantKey.tenant_id == tenant_id).limit(1))
    return found is not None
