"""Writing and checking the operation log: append in the caller's transaction, verify each tenant's chain."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Row, String, Table, Uuid, column, delete, func, insert, select, table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import entry_hash, event_row
from app.audit.events import Actor, AuditAction, AuditEvent, AuditResult
from app.audit.guard import AuditContentError
from app.audit.models import DEFAULT_CHAIN, GENESIS_HASH, AuditChainHead, AuditEntry
from app.db import utcnow

__all__ = [
    "AuditContentError",
    "ChainReport",
    "erase_tenant_log",
    "list_entries",
    "record",
    "record_many",
    "verify_all",
    "verify_chain",
]

ENTRIES = cast(Table, AuditEntry.__table__)
HEADS = cast(Table, AuditChainHead.__table__)
INSERT_CHUNK = 5000
VERIFY_PAGE = 5000
ERASE_SETTING = "mnv.audit_erase"
# The tenants table seen from here without importing the tenants package (app must not depend on features).
TENANTS = table("tenants", column("id", Uuid()), column("code", String()), column("kind", String()))


async def record(session: AsyncSession, event: AuditEvent) -> None:
    """Append one entry in the caller's transaction (flushed, never committed); any failure propagates."""
    await record_many(session, [event])


async def record_many(session: AsyncSession, events: Sequence[AuditEvent]) -> None:
    """Append many entries: one chain-head update and bulk inserts per tenant, in the caller's transaction."""
    by_tenant: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for event in events:
        by_tenant.setdefault(event.tenant_id, []).append(event_row(event))
    if not by_tenant:
        return
    await session.flush()
    for tenant_id in sorted(by_tenant):  # one lock order for every writer: batches over several tenants cannot deadlock
        await _append(session, tenant_id, by_tenant[tenant_id])


async def _append(session: AsyncSession, tenant_id: uuid.UUID, rows: list[dict[str, Any]]) -> None:
    last_seq, prev_hash = await _take_head(session, tenant_id, len(rows))
    occurred_at = utcnow()  # taken under the head lock, so time never runs backwards along a chain
    for seq, row in enumerate(rows, start=last_seq - len(rows) + 1):
        row.update(seq=seq, occurred_at=occurred_at, prev_hash=prev_hash)
        prev_hash = row["hash"] = entry_hash(row)
    for chunk in _chunks(rows, INSERT_CHUNK):
        await session.execute(insert(ENTRIES), chunk)
    await session.execute(_head_filter(update(HEADS), tenant_id).values(last_hash=prev_hash))


def _head_filter(statement: Any, tenant_id: uuid.UUID) -> Any:
    return statement.where(HEADS.c.tenant_id == tenant_id, HEADS.c.chain == DEFAULT_CHAIN)


async def _take_head(session: AsyncSession, tenant_id: uuid.UUID, count: int) -> tuple[int, str]:
    """Reserve ``count`` sequence numbers: the UPDATE takes the row lock (PostgreSQL) or the write lock (SQLite)."""
    reserve = (
        _head_filter(update(HEADS), tenant_id)
        .values(last_seq=HEADS.c.last_seq + count)
        .returning(HEADS.c.last_seq, HEADS.c.last_hash)
    )
    row = (await session.execute(reserve)).first()
    if row is None:
        await session.execute(_insert_missing_head(session, tenant_id))
        row = (await session.execute(reserve)).one()
    return int(row.last_seq), str(row.last_hash)


def _insert_missing_head(session: AsyncSession, tenant_id: uuid.UUID) -> Any:
    values = {"tenant_id": tenant_id, "chain": DEFAULT_CHAIN, "last_seq": 0, "last_hash": GENESIS_HASH}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(HEADS).values(values).on_conflict_do_nothing()


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of checking one tenant's chain; ``first_bad_seq`` names where it breaks."""

    tenant_id: uuid.UUID
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""


class _Scan:
    """Walks a chain in sequence order, remembering the first place it breaks."""

    def __init__(self, tenant_id: uuid.UUID) -> None:
        self.tenant_id = tenant_id
        self.last_seq = 0
        self.last_hash = GENESIS_HASH
        self.count = 0
        self.bad: tuple[int, str] | None = None

    async def read(self, session: AsyncSession) -> None:
        """Check every row after the last one seen."""
        while True:
            rows = (await session.execute(_page(self.tenant_id, self.last_seq))).all()
            for row in rows:
                self._check(row)
            if len(rows) < VERIFY_PAGE:
                return

    def _check(self, row: Row[Any]) -> None:
        if self.bad is None:
            self.bad = _problem(row, self.last_seq + 1, self.last_hash)
        self.last_seq, self.last_hash = row.seq, row.hash
        self.count += 1

    def report(self, head_seq: int, head_hash: str) -> ChainReport:
        """Compare the walk with the chain head; a truncated or extended end shows up here."""
        if self.bad is None:
            if self.last_seq < head_seq:
                self.bad = (self.last_seq + 1, f"番号 {self.last_seq + 1} 以降の記録が削除されています")
            elif self.last_seq > head_seq:
                self.bad = (head_seq + 1, f"番号 {head_seq + 1} 以降の記録がチェーンの先頭情報にありません")
            elif self.last_hash != head_hash:
                self.bad = (self.last_seq, "最後の記録がチェーンの先頭情報と一致しません")
        if self.bad is None:
            return ChainReport(self.tenant_id, ok=True, entries=self.count, reason="正常")
        seq, reason = self.bad
        return ChainReport(self.tenant_id, ok=False, entries=self.count, first_bad_seq=seq, reason=reason)


def _page(tenant_id: uuid.UUID, after_seq: int) -> Any:
    # action, result and detail are read as raw text: a tampered value must be reported, not crash the reader.
    raw = {"action", "result", "detail"}
    columns = [c.cast(String()).label(c.name) if c.name in raw else c for c in ENTRIES.c]
    return (
        select(*columns)
        .where(ENTRIES.c.tenant_id == tenant_id, ENTRIES.c.seq > after_seq)
        .order_by(ENTRIES.c.seq)
        .limit(VERIFY_PAGE)
    )


def _problem(row: Row[Any], expected_seq: int, prev_hash: str) -> tuple[int, str] | None:
    if row.seq != expected_seq:
        return expected_seq, f"番号 {expected_seq} の記録が欠けています"
    if row.prev_hash != prev_hash:
        return row.seq, "直前の記録とのつながり（prev_hash）が一致しません"
    values = dict(row._mapping)
    try:
        values["detail"] = json.loads(values["detail"])
    except (TypeError, ValueError):
        return row.seq, "詳細（detail）が JSON として読めません"
    if entry_hash(values) != row.hash:
        return row.seq, "記録の内容がハッシュと一致しません（改ざんの疑い）"
    return None


async def _read_head(session: AsyncSession, tenant_id: uuid.UUID) -> tuple[int, str]:
    query = _head_filter(select(HEADS.c.last_seq, HEADS.c.last_hash), tenant_id)
    row = (await session.execute(query)).first()
    return (0, GENESIS_HASH) if row is None else (int(row.last_seq), str(row.last_hash))


async def verify_chain(session: AsyncSession, tenant_id: uuid.UUID) -> ChainReport:
    """Recompute one tenant's chain; safe while writers append (rows past the head are re-checked against it)."""
    head = await _read_head(session, tenant_id)
    scan = _Scan(tenant_id)
    await scan.read(session)
    for _ in range(10):
        if scan.last_seq <= head[0]:
            break
        newer = await _read_head(session, tenant_id)
        if newer == head:  # rows past a head that no writer moved: appended behind the log's back
            break
        head = newer
        await scan.read(session)
    return scan.report(*head)


async def verify_all(session: AsyncSession) -> list[ChainReport]:
    """Verify the chain of every tenant that has entries or a chain head."""
    tenants = select(ENTRIES.c.tenant_id).distinct().union(select(HEADS.c.tenant_id))
    # A UNION loses the column type on SQLite: the ids come back as hex text.
    tenant_ids = sorted(
        {t if isinstance(t, uuid.UUID) else uuid.UUID(str(t)) for t in (await session.execute(tenants)).scalars()}
    )
    return [await verify_chain(session, tenant_id) for tenant_id in tenant_ids]


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
    await session.execute(_head_filter(delete(HEADS), tenant_id))
    if postgres:
        await session.execute(select(func.set_config(ERASE_SETTING, "", True)))
    count = erased.rowcount
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
