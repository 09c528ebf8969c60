"""Vault maintenance: master-key rotation (``mnvault keys rotate``) and key-store reconciliation (``purge``)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor, AuditAction, AuditEvent
from app.audit.log import record_many
from app.db import utcnow
from app.logs import get_logger
from app.vault.errors import MasterKeyError
from app.vault.keys import RotatableKeyProvider
from app.vault.models import VaultNumber

if TYPE_CHECKING:
    from app.vault.service import Vault

log = get_logger("vault.maintenance")

PURGE_PAGE = 500
ROTATION_ACTOR = Actor.system("mnvault keys rotate")


@dataclass(frozen=True, slots=True)
class RotationReport:
    """The outcome of one rotation run: ``remaining`` > 0 means run it again (old versions were kept)."""

    current_version: int
    rewrapped: int
    remaining: int
    retired: list[int] = field(default_factory=list)


def _rotatable(vault: Vault) -> RotatableKeyProvider:
    provider = vault.provider
    if not isinstance(provider, RotatableKeyProvider):
        raise MasterKeyError("この鍵プロバイダーは mnvault keys rotate で更新できません（provider is not rotatable）")
    return provider


async def rotate_master_key(
    vault: Vault,
    sessions: async_sessionmaker[AsyncSession],
    *,
    retire_old: bool = False,
    batch_size: int = 100,
    max_batches: int | None = None,
) -> RotationReport:
    """Add a KEK version (unless ``retire_old``) and re-wrap tenant keys in committed batches.

    With ``retire_old`` the old versions are dropped once nothing depends on them. Stopping anywhere leaves
    every key readable: a row is either still under its old version (kept in the key file) or under the new one.
    """
    provider = _rotatable(vault)
    if not retire_old:
        version = provider.add_version()
        log.info("master key version added", extra={"kek_version": version})
    rewrapped = batches = 0
    while max_batches is None or batches < max_batches:
        async with sessions() as session:
            tenants = await vault.keyring.rewrap_batch(session, batch_size)
            if not tenants:
                break
            await record_many(session, [_rotation_event(t, provider.current_version()) for t in tenants])
            await session.commit()
        rewrapped += len(tenants)
        batches += 1
    await vault.audit_keys.rewrap()
    async with sessions() as session:
        remaining = await vault.keyring.count_behind(session) + await vault.audit_keys.count_behind()
    retired: list[int] = []
    if retire_old and remaining == 0:
        retired = provider.retire_old_versions()
        log.info("master key versions retired", extra={"retired": retired})
    return RotationReport(provider.current_version(), rewrapped, remaining, retired)


def _rotation_event(tenant_id: uuid.UUID, kek_version: int) -> AuditEvent:
    return AuditEvent(
        tenant_id=tenant_id,
        action=AuditAction.KEY_ROTATION,
        actor=ROTATION_ACTOR,
        function="マスター鍵の更新",
        detail={"kek_version": kek_version},
    )


async def purge_keys(vault: Vault, session: AsyncSession, *, older_than: dt.timedelta) -> int:
    """Destroy key-store keys older than ``older_than`` whose number is erased or has no row."""
    cutoff = utcnow() - older_than
    after: tuple[uuid.UUID, uuid.UUID] | None = None
    removed = 0
    while True:
        page = await vault.keystore.created_before(cutoff, after, PURGE_PAGE)
        if not page:
            break
        live = await _live_numbers(session, page)
        removed += await vault.keystore.delete_many([key for key in page if key not in live])
        after = page[-1]
        if len(page) < PURGE_PAGE:
            break
    log.info("key store purged", extra={"removed": removed})
    return removed


async def _live_numbers(
    session: AsyncSession, keys: list[tuple[uuid.UUID, uuid.UUID]]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    statement = select(VaultNumber.tenant_id, VaultNumber.id).where(
        VaultNumber.id.in_([number_id for _, number_id in keys]), VaultNumber.erased_at.is_(None)
    )
    return {(t, n) for t, n in await session.execute(statement)}
