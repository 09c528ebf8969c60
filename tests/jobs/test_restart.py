"""A restart: jobs interrupted by a stop or a crash are failed with a Japanese message, never half-applied."""

from __future__ import annotations

import datetime as dt
import os
import socket

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import utcnow
from app.jobs import JobState
from app.jobs.models import Job
from app.jobs.runner import INTERRUPTED_MESSAGE
from app.main import create_app
from app.vault import Vault
from tests.jobs import kinds
from tests.jobs.conftest import department_count, department_lines, job_row, submit, wait_for, wait_for_done
from tests.support.world import World, sign_in


async def mark_running(db: AsyncSession, job_id: object, runner: str, heartbeat: dt.datetime) -> None:
    """What a runner's claim leaves in the row (as if a process had taken the job and then died)."""
    await db.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(state=JobState.RUNNING, runner=runner, started_at=heartbeat, heartbeat_at=heartbeat, done=1, total=9)
    )
    await db.commit()


async def test_jobs_of_a_process_that_is_gone_are_failed_when_the_app_starts(
    app: Litestar, db: AsyncSession, world: World, settings: Settings
) -> None:
    vault: Vault = app.state["vault"]
    host = socket.gethostname()
    now = utcnow()
    previous_life = await submit(db, vault, world.tenant.id, kinds.ECHO, b"a")  # same pid, another nonce
    await mark_running(db, previous_life, f"{host}:{os.getpid()}:0badcafe", now)
    stale = await submit(db, vault, world.tenant.id, kinds.ECHO, b"b")  # another host, silent for ten minutes
    await mark_running(db, stale, "elsewhere:4242:12345678", now - dt.timedelta(minutes=10))
    alive = await submit(db, vault, world.tenant.id, kinds.ECHO, b"c")  # another host, beating: left alone
    await mark_running(db, alive, "elsewhere:4343:12345678", now)

    async with AsyncTestClient(app=app, base_url="http://testserver.local"):
        for job_id in (previous_life, stale):
            job = await wait_for(db, job_id, JobState.FAILED, within=10)
            assert job.message == INTERRUPTED_MESSAGE
            assert job.finished_at is not None
            assert (await db.execute(Job.__table__.select().where(Job.id == job_id))).one().input_sealed is None
        assert (await job_row(db, alive)).state is JobState.RUNNING


async def test_a_job_cut_by_a_server_stop_is_failed_with_nothing_written_and_its_page_says_so(
    app: Litestar, db: AsyncSession, world: World, settings: Settings
) -> None:
    vault: Vault = app.state["vault"]
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, world.admin)
        job_id = await submit(db, vault, world.tenant.id, kinds.DEPARTMENTS, department_lines(4), hold=30)
        await wait_for(db, job_id, JobState.RUNNING, within=10)
        await wait_for_done(db, job_id, 4)
        page = await client.get(f"/admin/jobs/{job_id}")
        assert page.status_code == 200 and "実行中" in page.text
    # The app stopped: the job was cancelled inside, rolled back, and recorded failed.
    job = await job_row(db, job_id)
    assert (job.state, job.message) == (JobState.FAILED, INTERRUPTED_MESSAGE)
    assert await department_count(db, world.tenant.id) == 0

    restarted = create_app(settings)
    async with AsyncTestClient(app=restarted, base_url="http://testserver.local") as client:
        await sign_in(client, world.admin)
        page = await client.get(f"/admin/jobs/{job_id}")
        assert page.status_code == 200
        assert "失敗" in page.text and "中断されました" in page.text
        assert "job-progress.js" not in page.text and "キャンセル</button>" not in page.text
        status = (await client.get(f"/admin/jobs/{job_id}/status")).json()
        assert (status["state"], status["finished"]) == ("failed", True)
        assert (await job_row(db, job_id)).state is JobState.FAILED  # the new process does not run it again
