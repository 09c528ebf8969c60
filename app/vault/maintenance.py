"""Vault maintenance: master-key rotation (``mnvault keys rotate``) and key-store reconciliation (``purge``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.audit.events import Actor, AuditAction, AuditEvent
from app.audit.log import record, record_many
from app.audit.tables import TENANTS
from app.db import any_of, maintain_statistics, truncate_wal, utcnow
from app.logs import get_logger
from app.vault.errors import MasterKeyError
from app.vault.keys import RotatableKeyProvider
from app.vault.models import DocumentKey, VaultNumber

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


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """Keys destroyed by one purge: of erased numbers, and orphans (no committed row after the grace period)."""

    erased: int = 0
    orphans: int = 0

    @property
    def total(self) -> int:
        return self.erased + self.orphans


async def purge_keys(vault: Vault, session: AsyncSession, *, older_than: dt.timedelta) -> PurgeReport:
    """Destroy key-store keys whose number is erased (at once) or has no row (once older than ``older_than``).

    The grace period protects keys of transactions still in flight (a key is written before its row).
    """
    cutoff = utcnow() - older_than
    after: tuple[uuid.UUID, uuid.UUID] | None = None
    erased = orphans = 0
    while True:
        page = await vault.keystore.page(after, PURGE_PAGE)
        if not page:
            break
        rows = await _number_states(session, [(t, n) for t, n, _ in page])
        doomed_erased = [(t, n) for t, n, _ in page if rows.get((t, n)) is True]
        doomed_orphans = [(t, n) for t, n, created in page if (t, n) not in rows and created < cutoff]
        erased += await vault.keystore.delete_many(doomed_erased)
        orphans += await vault.keystore.delete_many(doomed_orphans)
        after = (page[-1][0], page[-1][1])
        if len(page) < PURGE_PAGE:
            break
    log.info("key store purged", extra={"erased": erased, "orphans": orphans})
    return PurgeReport(erased, orphans)


async def _number_states(
    session: AsyncSession, keys: list[tuple[uuid.UUID, uuid.UUID]]
) -> dict[tuple[uuid.UUID, uuid.UUID], bool]:
    """``(tenant_id, number_id) -> erased?`` for the numbers (and people's document keys) that have a row.

    Looked up per tenant by primary key (tenant_id, id): by id alone no index applies and each page of keys would
    read the whole table (every maintenance run pages through every key).
    """
    by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant_id, number_id in keys:
        by_tenant.setdefault(tenant_id, []).append(number_id)
    dialect = session.get_bind().dialect.name
    states: dict[tuple[uuid.UUID, uuid.UUID], bool] = {}
    for tenant_id, number_ids in by_tenant.items():
        statement = select(VaultNumber.id, VaultNumber.erased_at).where(
            VaultNumber.tenant_id == tenant_id, any_of(VaultNumber.id, number_ids, dialect=dialect)
        )
        states.update({(tenant_id, n): erased_at is not None for n, erased_at in await session.execute(statement)})
        # A person's document key (issue 12) lives in the same key store table: destroyed with the number.
        documents = select(DocumentKey.id, DocumentKey.destroyed_at).where(
            DocumentKey.tenant_id == tenant_id, any_of(DocumentKey.id, number_ids, dialect=dialect)
        )
        states.update({(tenant_id, k): destroyed is not None for k, destroyed in await session.execute(documents)})
    return states


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """One maintenance run: keys destroyed, checkpoints written, chains found broken, WALs truncated."""

    purge: PurgeReport
    checkpoints: int
    broken_chains: int
    wal_truncated: bool
    statistics: bool = False  # the planner's statistics were refreshed (app.db.maintain_statistics)

    def lines(self) -> list[str]:
        """Japanese lines for the CLI."""
        lines = [
            f"削除済みの番号の鍵を消去しました: {self.purge.erased} 件",
            f"登録が確定しなかった番号の鍵を消去しました: {self.purge.orphans} 件",
            f"操作履歴のチェックポイントを書き込みました: {self.checkpoints} テナント",
        ]
        if self.broken_chains:
            lines.append(f"改ざんの疑いがあるためチェックポイントを書かなかったテナント: {self.broken_chains}")
        if not self.wal_truncated:
            lines.append("WAL ファイルを空にできませんでした（読み取り中の接続があります）。次回また試みます。")
        return lines


MAINTENANCE_ACTOR = Actor.system("maintenance")


async def run_maintenance(
    vault: Vault, sessions: async_sessionmaker[AsyncSession], *, orphan_grace: dt.timedelta, trigger: str
) -> MaintenanceReport:
    """Purge keys, checkpoint every audit chain, refresh the planner's statistics, truncate the SQLite WALs, and
    log the counts.

    The entry goes to the operator tenant's chain: maintenance is an act of the service, not of any tenant (each
    tenant's own chain already holds its 削除 entries), and one entry per run shows the task kept running.
    ``trigger`` says who ran it (``periodic`` or ``cli``).
    """
    from app.audit.chain_state import note_checkpoint_run
    from app.audit.checkpoints import write_checkpoints

    async with sessions() as session:
        purged = await purge_keys(vault, session, older_than=orphan_grace)
        run = await write_checkpoints(session)
        await note_checkpoint_run(session, run)  # what the 操作履歴 page shows (改ざんなし / 改ざん検出)
        for tenant_id, (seq, reason) in run.broken.items():
            log.error("audit chain broken", extra={"tenant_id": str(tenant_id), "seq": seq, "reason": reason})
        report = MaintenanceReport(purged, len(run.written), len(run.broken), wal_truncated=True)
        operator_id = await _operator_tenant_id(session)
        if operator_id is not None:
            await record(session, _maintenance_event(operator_id, report, trigger))
        await session.commit()
        report = dataclasses.replace(report, statistics=await maintain_statistics(session))
        await session.commit()
        main_engine = session.get_bind().engine
    truncated = await vault.keystore.truncate_wal()
    truncated = await truncate_wal(AsyncEngine(main_engine)) and truncated
    return dataclasses.replace(report, wal_truncated=truncated)


def _maintenance_event(operator_id: uuid.UUID, report: MaintenanceReport, trigger: str) -> AuditEvent:
    return AuditEvent(
        tenant_id=operator_id,
        action=AuditAction.MAINTENANCE,
        actor=MAINTENANCE_ACTOR,
        function="定期保守（鍵の消去・チェックポイント）",
        detail={
            "erased_keys": report.purge.erased,
            "orphan_keys": report.purge.orphans,
            "checkpoints": report.checkpoints,
            "broken_chains": report.broken_chains,
            "trigger": trigger,
        },
    )


async def _operator_tenant_id(session: AsyncSession) -> uuid.UUID | None:
    query = select(TENANTS.c.id).where(TENANTS.c.kind == "operator").order_by(TENANTS.c.id).limit(1)
    found = (await session.execute(query)).scalar()
    return None if found is None else found if isinstance(found, uuid.UUID) else uuid.UUID(str(found))
