"""Writing and checking the operation log: append in the caller's transaction, verify each tenant's chain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.audit.chain import entry_hash, event_rows
from app.audit.events import Actor, AuditAction, AuditEvent, AuditResult
from app.audit.guard import AuditContentError
from app.audit.keys import AuditKeyError, key_source
from app.audit.models import DEFAULT_CHAIN, GENESIS_HASH, AuditEntry
from app.audit.tables import ENTRIES, HEADS, TENANTS, head_filter
from app.audit.verify import ChainReport, verify_all, verify_chain
from app.db import insert_many, utcnow
from app.workers import off_loop

__all__ = [
    "ENTRIES",
    "HEADS",
    "TENANTS",
    "AuditContentError",
    "AuditKeyError",
    "ChainReport",
    "erase_tenant_log",
    "hold_head",
    "list_entries",
    "record",
    "record_many",
    "verify_all",
    "verify_chain",
]

ERASE_SETTING = "mnv.audit_erase"


async def record(session: AsyncSession, event: AuditEvent) -> None:
    """Append one entry in the caller's transaction (flushed, never committed); any failure propagates."""
    await record_many(session, [event])


async def record_many(session: AsyncSession, events: Sequence[AuditEvent]) -> None:
    """Append many entries: one chain-head update and bulk inserts per tenant, in the caller's transaction."""
    by_tenant = await off_loop(len(events), _rows_by_tenant, events)
    if not by_tenant:
        return
    # The keys come first (from memory after the first use), so no key-store read happens under the head lock.
    source = key_source(session)
    version = await source.current_version()
    keys = {tenant_id: await source.chain_key(version, tenant_id) for tenant_id in by_tenant}
    await session.flush()
    for tenant_id in sorted(by_tenant):  # one lock order for every writer: batches over several tenants cannot deadlock
        await _append(session, tenant_id, by_tenant[tenant_id], version, keys[tenant_id])


def _rows_by_tenant(events: Sequence[AuditEvent]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    by_tenant: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for event, row in zip(events, event_rows(events), strict=True):
        by_tenant.setdefault(event.tenant_id, []).append(row)
    return by_tenant


def _chain(
    rows: list[dict[str, Any]], first_seq: int, prev_hash: str, occurred_at: dt.datetime, version: int, key: bytes
) -> str:
    """Number and hash the rows in order from the chain's head; returns the new head hash."""
    for seq, row in enumerate(rows, start=first_seq):
        row.update(seq=seq, occurred_at=occurred_at, prev_hash=prev_hash, key_version=version)
        prev_hash = row["hash"] = entry_hash(row, key)
    return prev_hash


async def _append(
    session: AsyncSession, tenant_id: uuid.UUID, rows: list[dict[str, Any]], version: int, key: bytes
) -> None:
    last_seq, prev_hash = await _take_head(session, tenant_id, len(rows))
    occurred_at = utcnow()  # taken under the head lock, so time never runs backwards along a chain
    first = last_seq - len(rows) + 1
    prev_hash = await off_loop(len(rows), _chain, rows, first, prev_hash, occurred_at, version, key)
    await insert_many(session, ENTRIES, rows)
    await session.execute(head_filter(update(HEADS), tenant_id).values(last_hash=prev_hash))


async def _take_head(session: AsyncSession, tenant_id: uuid.UUID, count: int) -> tuple[int, str]:
    """Reserve ``count`` sequence numbers: the UPDATE takes the row lock (PostgreSQL) or the write lock (SQLite)."""
    reserve = (
        head_filter(update(HEADS), tenant_id)
        .values(last_seq=HEADS.c.last_seq + count)
        .returning(HEADS.c.last_seq, HEADS.c.last_hash)
    )
    row = (await session.execute(reserve)).first()
    if row is None:
        await session.execute(_insert_missing_head(session, tenant_id))
        row = (await session.execute(reserve)).one()
    return int(row.last_seq), str(row.last_hash)


def hold_head(session: Session, tenant_id: uuid.UUID) -> None:
    """Take the tenant's chain head now and keep it to the end of the caller's transaction (sync, for flush hooks).

    Every audited write takes this lock before its entry, so it already orders a tenant's writers. A writer that
    must also lock rows others share (the people counters, ``tenants.listing``) takes it first: then no two
    transactions wait on each other in a cycle. Creates the head of a tenant that has none yet.
    """
    touch = head_filter(update(HEADS), tenant_id).values(last_seq=HEADS.c.last_seq)
    if cast(CursorResult[Any], session.execute(touch)).rowcount == 0:
        session.execute(_insert_missing_head(session, tenant_id))
        session.execute(touch)


def _insert_missing_head(session: AsyncSession | Session, tenant_id: uuid.UUID) -> Any:
    values = {"tenant_id": tenant_id, "chain": DEFAULT_CHAIN, "last_seq": 0, "last_hash": GENESIS_HASH}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(HEADS).values(values).on_conflict_do_nothing()


async def list_entries(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    limit: int = 50,
    offset: int = 0,
    action: AuditAction | None = None,
    result: AuditResult | None = None,
    person_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[AuditEntry]:
    """One tenant's entries, newest first, narrowed by the given filters (``until`` is exclusive)."""
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if result is not None:
        query = query.where(AuditEntry.result == result)
    if person_id is not None:
        query = query.where(AuditEntry.subject_person_id == person_id)
    if user_id is not None:
        query = query.where(AuditEntry.actor_user_id == user_id)
    if since is not None:
        query = query.where(AuditEntry.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEntry.occurred_at < until)
    query = query.order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)
    return list((await session.execute(query)).scalars())


async def erase_tenant_log(session: AsyncSession, tenant_id: uuid.UUID, actor: Actor) -> int:
    """Erase a whole tenant's log at contract end (the trigger's one exception); recorded in the operator's chain."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        await session.execute(select(func.set_config(ERASE_SETTING, str(tenant_id), True)))
    erased = cast(CursorResult[Any], await session.execute(delete(ENTRIES).where(ENTRIES.c.tenant_id == tenant_id)))
    await session.execute(head_filter(delete(HEADS), tenant_id))
    if postgres:
        await session.execute(select(func.set_config(ERASE_SETTING, "", True)))
    count = erased.rowcount
    # Its checkpoints go too, or verify would report the erased log as truncated. Done before the commit: if the
    # commit then fails, the log merely lacks checkpoints until the next maintenance run writes new ones.
    await key_source(session).drop_checkpoints(tenant_id)
    operator_id = await _operator_tenant_id(session)
    if operator_id is not None:
        code = (await session.execute(select(TENANTS.c.code).where(TENANTS.c.id == tenant_id))).scalar()
        event = AuditEvent(
            tenant_id=operator_id,
            action=AuditAction.LOG_ERASE,
            actor=actor,
            function="契約終了時の操作履歴消去",
            detail={"tenant_id": str(tenant_id), "tenant_code": code or "", "entries": count},
        )
        await record(session, event)
    return count


async def _operator_tenant_id(session: AsyncSession) -> uuid.UUID | None:
    query = select(TENANTS.c.id).where(TENANTS.c.kind == "operator").order_by(TENANTS.c.id).limit(1)
    return cast(uuid.UUID | None, (await session.execute(query)).scalar())
