"""The jobs on SAQ (Redis): the app puts job ids on the queue, ``mnvault worker``'s SAQ workers run them."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.jobs import JobState
from app.jobs.runner import INTERRUPTED_MESSAGE
from app.jobs.worker import run_worker
from app.main import create_app
from tests.jobs import kinds
from tests.jobs.conftest import department_count, department_lines, submit, wait_for, wait_for_done
from tests.support.world import build_world, sign_in

REDIS_URL = os.environ.get("MNV_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2):
            return True
    except OSError:
        return False


REDIS_UP = _redis_reachable(REDIS_URL)
pytestmark = pytest.mark.skipif(
    not REDIS_UP and os.environ.get("MNV_REQUIRE_REDIS") != "1",
    reason=f"Redis unreachable at {REDIS_URL} (MNV_TEST_REDIS_URL): the SAQ mode needs it; MNV_REQUIRE_REDIS=1 fails",
)


@pytest.fixture
async def settings(settings: Settings) -> AsyncIterator[Settings]:
    """The SAQ mode on the local Redis, with a queue of this test's own (its keys removed afterwards)."""
    name = f"mnv-test-{secrets.token_hex(4)}"
    yield msgspec.structs.replace(settings, job_queue_url=REDIS_URL, job_queue_name=name)
    client = Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"*{name}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_a_job_submitted_in_the_app_runs_in_a_saq_worker(db: AsyncSession, settings: Settings) -> None:
    app = create_app(settings)
    assert app.state["jobs"].embedded is None  # the app does not run jobs itself in this mode
    world = await build_world(db, settings, app.state["vault"])
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    try:
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
            await sign_in(client, world.admin)
            job_id = await submit(db, app.state["vault"], world.tenant.id, kinds.DEPARTMENTS, department_lines(3))
            job = await wait_for(db, job_id, JobState.SUCCEEDED, within=30)
            assert (job.done, job.total, job.message) == (3, 3, "3 件の部門を登録しました。")
            page = await client.get(f"/admin/jobs/{job_id}")
            assert "完了" in page.text and f"/admin/jobs/{job_id}/report" in page.text
        assert await department_count(db, world.tenant.id) == 3
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)


async def test_a_worker_puts_back_a_job_the_queue_never_got_and_fails_its_jobs_when_stopped(
    db: AsyncSession, settings: Settings
) -> None:
    app = create_app(settings)  # not started: nothing tells the queue about the jobs below
    world = await build_world(db, settings, app.state["vault"])
    forgotten = await submit(db, app.state["vault"], world.tenant.id, kinds.ECHO, b"missed")
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    try:
        await wait_for(db, forgotten, JobState.SUCCEEDED, within=30)
        held = await submit(db, app.state["vault"], world.tenant.id, kinds.DEPARTMENTS, department_lines(2), hold=60)
        await wait_for(db, held, JobState.RUNNING, within=30)
        await wait_for_done(db, held, 2)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
    job = await wait_for(db, held, JobState.FAILED, within=5)
    assert job.message == INTERRUPTED_MESSAGE
    assert await department_count(db, world.tenant.id) == 0
    await app.state["vault"].close()
