"""Concurrent writers in one tenant serialize on the chain head: one unforked chain, numbered without gaps."""

from __future__ import annotations

import asyncio
import itertools
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.log import ChainReport, list_entries, record, record_many, verify_chain
from app.audit.models import AuditEntry
from tests.audit.conftest import add_tenant, make_event
from tests.conftest import BACKEND

WRITERS, ENTRIES_EACH = (20, 10) if BACKEND == "postgres" else (4, 10)


async def write(maker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, writer: int) -> None:
    for n in range(ENTRIES_EACH):
        async with maker() as session, session.begin():
            await record(session, make_event(tenant_id, writer * 100 + n))
        await asyncio.sleep(0)


async def verify_repeatedly(
    maker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, done: asyncio.Event
) -> list[ChainReport]:
    reports = []
    while not done.is_set():
        async with maker() as session:
            reports.append(await verify_chain(session, tenant_id))
        await asyncio.sleep(0.01)
    return reports


async def test_concurrent_writers_leave_one_chain_that_verifies(
    maker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID
) -> None:
    done = asyncio.Event()
    checker = asyncio.create_task(verify_repeatedly(maker, tenant_id, done))
    await asyncio.gather(*(write(maker, tenant_id, w) for w in range(WRITERS)))
    done.set()
    reports_during_writes = await checker
    async with maker() as session:
        report = await verify_chain(session, tenant_id)
        entries = list(reversed(await list_entries(session, tenant_id, limit=10_000)))
    assert (report.ok, report.entries) == (True, WRITERS * ENTRIES_EACH), report.reason
    assert [e.seq for e in entries] == list(range(1, WRITERS * ENTRIES_EACH + 1))
    assert len({e.prev_hash for e in entries}) == len(entries)
    assert all(a.occurred_at <= b.occurred_at for a, b in itertools.pairwise(entries))
    assert sorted(e.detail["n"] for e in entries) == sorted(w * 100 + n for w in range(WRITERS) for n in range(10))
    assert all(r.ok for r in reports_during_writes), [r.reason for r in reports_during_writes if not r.ok]


async def test_concurrent_batches_over_several_tenants_do_not_deadlock(
    maker: async_sessionmaker[AsyncSession], db: AsyncSession, tenant_id: uuid.UUID
) -> None:
    other = await add_tenant(db, "other")

    async def batch(writer: int) -> None:
        first, second = (tenant_id, other) if writer % 2 else (other, tenant_id)
        async with maker() as session, session.begin():
            await record_many(session, [make_event(first, n) for n in range(5)] + [make_event(second, 5)])

    await asyncio.wait_for(asyncio.gather(*(batch(w) for w in range(WRITERS))), timeout=60)
    async with maker() as session:
        reports = [await verify_chain(session, t) for t in (tenant_id, other)]
        total = len((await session.execute(select(AuditEntry.seq))).all())
    assert all(r.ok for r in reports)
    assert sum(r.entries for r in reports) == total == WRITERS * 6
