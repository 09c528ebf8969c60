"""Counters under concurrent writers (PostgreSQL: row locks; SQLite has one writer at a time).

Two transactions of one tenant that move people between the same counters both commit, neither loses the other's
change, and they never wait on each other in a cycle: every counter write first takes the tenant's operation-log
chain head (``tenants.listing``), the lock every audited write takes anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import AuditAction, AuditEvent
from app.audit.log import record
from app.config import Settings
from app.db import make_engine
from tenants.listing import count_key, recount, stored_counts
from tenants.models import CollectionStatus, Person, PersonKind
from tenants.services import _records
from tests.conftest import BACKEND
from tests.support.people import ACTOR, make_department, make_employee
from tests.support.world import World

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row locks and deadlocks are PostgreSQL's")

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[Sessions]:
    engine = make_engine(settings.effective_database_url, pool_size=4)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def _people(db: AsyncSession, world: World, count: int) -> list[Person]:
    department = await make_department(db, world.tenant.id, "S01", "営業")
    people = [
        await make_employee(db, world.tenant.id, f"E{i:03}", f"社員 {i}", department=department) for i in range(count)
    ]
    await db.commit()
    return people


async def _load(session: AsyncSession, person: Person) -> Person:
    found = await session.get(Person, (person.tenant_id, person.id))
    assert found is not None
    return found


async def _waiting_on_a_lock(session: AsyncSession, count: int = 1) -> None:
    """Until ``count`` other backends wait on a lock (the interleaving is set by locks, not by sleeping)."""
    for _ in range(200):
        waiting = (
            await session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
        ).scalar_one()
        if waiting >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the other transaction never waited")


async def test_two_transactions_moving_people_between_the_same_counters_both_count(
    db: AsyncSession, world: World, sessions: Sessions
) -> None:
    first, second = await _people(db, world, 2)
    async with sessions() as a, sessions() as b, sessions() as watcher:
        one, two = await _load(a, first), await _load(b, second)
        one.status = CollectionStatus.DECLINED
        await a.flush()  # holds the counters (and the chain head) until it commits
        two.status = CollectionStatus.DECLINED
        pending = asyncio.create_task(b.commit())
        await _waiting_on_a_lock(watcher)
        await a.commit()
        await asyncio.wait_for(pending, 10)
    counts = await stored_counts(db, world.tenant.id)
    assert counts == await recount(db, world.tenant.id)
    key = count_key(world.tenant.id, first.department_id, PersonKind.EMPLOYEE, CollectionStatus.DECLINED)
    assert counts[key] == 2  # no lost update: both deltas were added


async def test_a_registration_and_a_confirmation_at_once_do_not_deadlock(
    db: AsyncSession, world: World, sessions: Sessions
) -> None:
    """The order the services take their locks in: a registration logs first (the vault's entry) and changes the
    status after; a confirmation changes the status first and logs after. Both touch the 代理登録済 counter."""
    registering, confirmed = await _people(db, world, 2)
    confirmed.status = CollectionStatus.PROXY_REGISTERED
    await db.commit()
    async with sessions() as a, sessions() as b, sessions() as watcher:
        newcomer, known = await _load(a, registering), await _load(b, confirmed)
        # A: the vault's log entry of a registration (the chain head is A's now) ...
        await record(
            a,
            AuditEvent(tenant_id=world.tenant.id, action=AuditAction.PROXY_REGISTER, actor=ACTOR, function="代理登録"),
        )
        # B: a confirmation: the status changes, then its log entry waits for A's chain head.
        confirming = asyncio.create_task(_records.confirm_by_admin(b, actor=ACTOR, person=known))
        await _waiting_on_a_lock(watcher)
        # A: ... then the status of the registration, on a counter B's confirmation also changes.
        newcomer.status = CollectionStatus.PROXY_REGISTERED
        await asyncio.wait_for(a.commit(), 10)
        await asyncio.wait_for(confirming, 10)
        await b.commit()
    counts = await stored_counts(db, world.tenant.id)
    assert counts == await recount(db, world.tenant.id)
    key = count_key(world.tenant.id, registering.department_id, PersonKind.EMPLOYEE, CollectionStatus.PROXY_REGISTERED)
    assert counts[key] == 1
