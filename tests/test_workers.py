"""Worker pools: dedicated threads, bounded, below the event loop's priority."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.tenancy import Tenant, TenantKind, TenantStatus
from app.workers import ARGON2, BULK, DOCUMENTS, WORKER_NICENESS, pool_capacity, run_in_worker


def _thread_niceness() -> tuple[str, int]:
    return threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
async def test_worker_threads_run_below_the_event_loops_priority() -> None:
    loop_niceness = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    name, niceness = await run_in_worker(ARGON2, _thread_niceness)
    assert name.startswith("mnv-argon2")
    assert niceness >= WORKER_NICENESS  # the threads were made from a thread at 0 or more (+10, at most 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_niceness  # the loop's is untouched


async def test_a_pool_runs_no_more_calls_at_once_than_its_capacity() -> None:
    running, most = 0, 0
    lock = threading.Lock()
    gate = threading.Event()

    def work() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        gate.wait(0.05)
        with lock:
            running -= 1

    await asyncio.gather(*(run_in_worker(BULK, work) for _ in range(5)))
    assert most == pool_capacity(BULK) == 1


async def test_a_wait_for_a_worker_hands_back_a_connection_that_only_read(db: AsyncSession) -> None:
    """``releasing``: a document or photo queued behind others holds no pooled connection when its request has only
    read; a request that wrote keeps its transaction (the entry and the operation commit together)."""
    await db.execute(select(Tenant.id).limit(1))
    assert db.in_transaction()
    assert await run_in_worker(DOCUMENTS, db.in_transaction, releasing=db) is False
    db.add(Tenant(code="workerwrite", name="ワーカー株式会社", kind=TenantKind.COMPANY, status=TenantStatus.ACTIVE))
    await db.flush()
    assert await run_in_worker(DOCUMENTS, db.in_transaction, releasing=db) is True
    await db.rollback()
