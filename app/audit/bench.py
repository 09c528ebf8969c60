"""Audit appends per second, for bench scripts (bench/vault.py): single entries and bulk batches."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.audit.events import Actor, AuditAction, AuditEvent, Subject
from app.audit.log import record, record_many, verify_chain


@dataclass(frozen=True, slots=True)
class AppendRates:
    """Entries per second: one entry per committed transaction, and record_many batches."""

    single_per_second: float
    bulk_per_second: float
    verify_per_second: float


def bench_event(tenant_id: uuid.UUID, n: int) -> AuditEvent:
    """A realistic entry (actor, subject snapshot, purpose, small detail)."""
    return AuditEvent(
        tenant_id=tenant_id,
        action=AuditAction.REVEAL,
        actor=Actor(uuid.uuid4(), "admin01", "管理 太郎", "admin", "ベンチ株式会社", "192.0.2.10", "bench/1.0"),
        function="マイナンバー表示",
        subject=Subject(uuid.uuid4(), "東野二郎 > 東野順子", "D01", "総務部", f"E{n:05d}"),
        purpose="源泉徴収",
        detail={"field": "my_number", "n": n},
    )


async def measure_appends(
    engine: AsyncEngine, tenant_id: uuid.UUID, *, singles: int = 300, bulk: int = 10_000, batch: int = 1_000
) -> AppendRates:
    """Append to ``tenant_id``'s chain (the tenant row must exist) and time it; then time verifying the chain."""
    maker = async_sessionmaker(engine, expire_on_commit=False)
    started = time.perf_counter()
    for n in range(singles):
        async with maker() as session, session.begin():
            await record(session, bench_event(tenant_id, n))
    single = singles / (time.perf_counter() - started)
    started = time.perf_counter()
    for first in range(0, bulk, batch):
        async with maker() as session, session.begin():
            await record_many(session, [bench_event(tenant_id, n) for n in range(first, min(first + batch, bulk))])
    bulk_rate = bulk / (time.perf_counter() - started)
    started = time.perf_counter()
    async with maker() as session:
        report = await verify_chain(session, tenant_id)
    if not report.ok:
        raise RuntimeError(f"chain broken at {report.first_bad_seq}: {report.reason}")
    return AppendRates(single, bulk_rate, report.entries / (time.perf_counter() - started))
