"""Retention jobs (保存期間): removing what has a fixed life, run by ``mnvault purge`` and the periodic maintenance.

A *retention kind* is a named callable that removes at most ``limit`` expired items in the caller's session (no
commit) and says how many it removed per tenant (``None``: an item of the service, not of a tenant, such as a
session). Packages register theirs with :func:`register_retention` (the app's own are below; feature packages
register in their ``retention`` module, imported by the composition root: ``app.main.load_retention_kinds``).
Later issues add theirs the same way (verification images past their time, exchanged files after 30 days, notices
after 180 days).

:func:`run_retention` runs every kind in its own transaction: batches of ``RETENTION_BATCH`` until a batch comes
back short (memory stays constant: a batch of keys and one counter per tenant), then one audit entry per tenant
(``AuditAction.MAINTENANCE``, 機能名 ``保存期間経過データの削除``, detail: kind and count) in that tenant's chain and
in the same transaction as the removal (service items go to the operator tenant's chain). Nothing removed, no
entry. A kind that fails is rolled back and logged; the others still run.

It never touches My Numbers: the vault's rows and keys are the vault's business (erasure is an admin's act, and
the keys of erased numbers are destroyed by ``app.vault.maintenance.purge_keys``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor, AuditAction, AuditEvent
from app.audit.log import record_many
from app.audit.tables import TENANTS
from app.auth.models import Account
from app.db import any_of, utcnow
from app.jobs.models import Job
from app.kvstore import KeyValueItem
from app.logs import get_logger

log = get_logger("retention")

RETENTION_BATCH = 500
MAX_BATCHES = 10_000  # a kind that keeps answering full batches without removing anything stops here
RETENTION_FUNCTION = "保存期間経過データの削除"
RETENTION_ACTOR = Actor.system("retention")
# An expired one-time password (招待) can no longer sign anyone in; its hash is dropped a week after expiry (the
# account and its expiry stay, so the invitation list still shows 期限切れ and the admin can re-issue).
ONE_TIME_PASSWORD_GRACE = dt.timedelta(days=7)

# Counts of one batch: tenant id (None for the service's own items) -> items removed.
Removed = dict[uuid.UUID | None, int]
RemoveBatch = Callable[[AsyncSession, dt.datetime, int], Awaitable[Removed]]


@dataclass(frozen=True, slots=True)
class RetentionKind:
    """A kind of item with a fixed life: ``name`` (in audit details), ``label`` (Japanese, for the CLI) and the
    callable that removes one batch (``remove(session, now, limit)``; ``now`` is an aware UTC datetime)."""

    name: str
    label: str
    remove: RemoveBatch


_KINDS: dict[str, RetentionKind] = {}


def register_retention(name: str, remove: RemoveBatch, *, label: str = "") -> RetentionKind:
    """Register (or replace) a retention kind under ``name``; returns it. ``label`` defaults to the name."""
    kind = RetentionKind(name, label or name, remove)
    _KINDS[name] = kind
    return kind


def unregister_retention(name: str) -> None:
    """Remove a kind (tests)."""
    _KINDS.pop(name, None)


def retention_kinds() -> list[RetentionKind]:
    """The registered kinds in registration order."""
    return list(_KINDS.values())


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What one run removed, per kind (label -> count), and the kinds that failed (rolled back, logged)."""

    removed: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Japanese lines for the CLI."""
        lines = [f"保存期間を過ぎた{label}を削除しました: {count} 件" for label, count in self.removed.items()]
        lines += [
            f"保存期間を過ぎたデータの削除に失敗しました（{label}）。ログを確認してください。" for label in self.failed
        ]
        return lines


async def run_retention(
    sessions: async_sessionmaker[AsyncSession],
    now: dt.datetime | None = None,
    *,
    kinds: Sequence[RetentionKind] | None = None,
    trigger: str = "periodic",
    batch: int = RETENTION_BATCH,
) -> RetentionReport:
    """Run every registered kind (or ``kinds``) once, each in its own transaction with its audit entries."""
    moment = now or utcnow()
    removed: dict[str, int] = {}
    failed: list[str] = []
    for kind in retention_kinds() if kinds is None else kinds:
        try:
            removed[kind.label] = await _run_kind(sessions, kind, moment, trigger, batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one kind's failure must not stop the others: the next run tries again
            log.error("retention kind failed", extra={"kind": kind.name, "error": repr(exc)})
            failed.append(kind.label)
    return RetentionReport(removed, failed)


async def _run_kind(
    sessions: async_sessionmaker[AsyncSession], kind: RetentionKind, now: dt.datetime, trigger: str, batch: int
) -> int:
    totals: Counter[uuid.UUID | None] = Counter()
    async with sessions() as session:
        for _ in range(MAX_BATCHES):
            removed = await kind.remove(session, now, batch)
            totals.update({tenant: n for tenant, n in removed.items() if n})
            if sum(removed.values()) < batch:
                break
        if not totals:
            await session.rollback()
            return 0
        await log_removals(session, kind.name, kind.label, totals, trigger)
        await session.commit()
    count = sum(totals.values())
    log.info("retention removed", extra={"kind": kind.name, "count": count})
    return count


async def log_removals(
    session: AsyncSession, name: str, label: str, removed: Removed, trigger: str = "periodic"
) -> None:
    """Write one 保存期間経過データの削除 entry per tenant (kind ``name``, ``label`` and count in its detail) for
    items removed in the caller's transaction; service items (``None``) go to the operator tenant's chain; no
    entry for a zero count. The retention kinds get theirs from :func:`run_retention`; removals done elsewhere (the
    verification purge, unopenable documents) call this so that every removal is logged."""
    totals: Counter[uuid.UUID | None] = Counter({tenant: n for tenant, n in removed.items() if n})
    if totals:
        await record_many(session, await _events(session, name, label, totals, trigger))


async def _events(
    session: AsyncSession, name: str, label: str, totals: Counter[uuid.UUID | None], trigger: str
) -> list[AuditEvent]:
    by_tenant: Counter[uuid.UUID] = Counter()
    for tenant_id, count in totals.items():
        owner = tenant_id if tenant_id is not None else await _operator_tenant_id(session)
        if owner is None:
            raise RuntimeError("運営者テナントがないため、削除を操作履歴に記録できません")
        by_tenant[owner] += count
    return [
        AuditEvent(
            tenant_id=tenant_id,
            action=AuditAction.MAINTENANCE,
            actor=RETENTION_ACTOR,
            function=RETENTION_FUNCTION,
            detail={"kind": name, "label": label, "count": count, "trigger": trigger},
        )
        for tenant_id, count in sorted(by_tenant.items(), key=lambda item: str(item[0]))
    ]


async def _operator_tenant_id(session: AsyncSession) -> uuid.UUID | None:
    query = select(TENANTS.c.id).where(TENANTS.c.kind == "operator").order_by(TENANTS.c.id).limit(1)
    found = (await session.execute(query)).scalar()
    return None if found is None else found if isinstance(found, uuid.UUID) else uuid.UUID(str(found))


def _tenant_of(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# --- The key/value store (sessions, rate-limit counters, sealed import uploads) ------------------------------------


def expired_store_items(namespace: str, tenant_of_key: Callable[[str], uuid.UUID | None] | None = None) -> RemoveBatch:
    """A kind for items of the database key/value store (``kv_store``) in ``namespace`` whose ``expires_at`` has
    passed (read by its index). ``tenant_of_key`` names the tenant an item belongs to (None: the service's).

    With Redis as the store (``MNV_STORE=redis``) items expire by themselves and the table stays empty.
    """

    async def remove(session: AsyncSession, now: dt.datetime, limit: int) -> Removed:
        found = await session.execute(
            select(KeyValueItem.id, KeyValueItem.key)
            .where(KeyValueItem.namespace == namespace, KeyValueItem.expires_at <= now)
            .order_by(KeyValueItem.expires_at)
            .limit(limit)
        )
        rows = list(found.all())
        if not rows:
            return {}
        by_owner: dict[uuid.UUID | None, list[Any]] = {}
        for row in rows:
            by_owner.setdefault(tenant_of_key(row.key) if tenant_of_key else None, []).append(row.id)
        dialect = session.get_bind().dialect.name
        counts: Removed = {}
        for owner, ids in by_owner.items():
            # Counted by what the DELETE removed: a process running the same kind at once counts its own only.
            result: Any = await session.execute(
                delete(KeyValueItem)
                .where(any_of(KeyValueItem.id, ids, dialect=dialect), KeyValueItem.expires_at <= now)
                .execution_options(synchronize_session=False)
            )
            counts[owner] = int(result.rowcount or 0)
        return counts

    return remove


# --- One-time passwords of invitations, job reports ---------------------------------------------------------------


async def remove_expired_one_time_passwords(session: AsyncSession, now: dt.datetime, limit: int) -> Removed:
    """Drop the hash of one-time passwords (招待・初期パスワード) expired more than ``ONE_TIME_PASSWORD_GRACE`` ago.

    The account stays (with its expiry, so the invitation list shows 期限切れ and the admin can issue a new one).
    """
    expired = (
        # The partial index's own terms (app.auth.models.ONE_TIME_PASSWORD_SQL), so the planner picks it.
        Account.password_hash.is_not(None),
        Account.password_expires_at.is_not(None),
        Account.password_expires_at <= now - ONE_TIME_PASSWORD_GRACE,
        Account.must_change_password.is_(True),
    )
    statement = select(Account.tenant_id, Account.id).where(*expired).order_by(Account.password_expires_at)
    rows = list((await session.execute(statement.limit(limit))).all())
    return await _update_by_key(session, Account, rows, {"password_hash": None}, expired)


async def remove_expired_job_reports(session: AsyncSession, now: dt.datetime, limit: int) -> Removed:
    """Drop the sealed reports of finished jobs whose ``report_expires_at`` has passed (the job row stays)."""
    expired = (Job.report_expires_at.is_not(None), Job.report_expires_at <= now)
    statement = select(Job.tenant_id, Job.id).where(*expired).order_by(Job.report_expires_at)  # its partial index
    rows = list((await session.execute(statement.limit(limit))).all())
    values = {"report_sealed": None, "report_expires_at": None, "report_size": 0, "updated_at": now}
    return await _update_by_key(session, Job, rows, values, expired)


async def _update_by_key(
    session: AsyncSession, model: Any, rows: list[Any], values: dict[str, Any], still: tuple[Any, ...]
) -> Removed:
    """Update the rows found (by primary key, per tenant) that still match ``still``; count them per tenant."""
    by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant_id, row_id in rows:
        by_tenant.setdefault(_tenant_of(tenant_id), []).append(row_id)
    dialect = session.get_bind().dialect.name
    counts: Removed = {}
    for tenant_id, ids in by_tenant.items():
        result: Any = await session.execute(
            update(model)
            .where(model.tenant_id == tenant_id, any_of(model.id, ids, dialect=dialect), *still)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        counts[tenant_id] = int(result.rowcount or 0)
    return counts


register_retention("sessions", expired_store_items("sessions"), label="ログインセッション")
register_retention("rate_limit", expired_store_items("rate_limit"), label="試行回数の記録")
register_retention("one_time_passwords", remove_expired_one_time_passwords, label="招待の初期パスワード")
register_retention("job_reports", remove_expired_job_reports, label="処理結果レポート")
