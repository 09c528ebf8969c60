"""Reports are kept 24 hours after the job ends, then the maintenance (or ``mnvault purge``) deletes them."""

from __future__ import annotations

import datetime as dt

from litestar import Litestar
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import utcnow
from app.jobs import JobState, expire_reports, take_report
from app.jobs.models import Job
from app.jobs.runner import JobRunner
from app.jobs.worker import run_expire
from app.tenancy import Tenant
from app.vault import Vault
from tests.jobs import kinds
from tests.jobs.conftest import job_row, submit
from tests.support.world import World


async def finished_echo(db: AsyncSession, vault: Vault, runner: JobRunner, tenant_id: object) -> Job:
    job_id = await submit(db, vault, tenant_id, kinds.ECHO, b"report")  # type: ignore[arg-type]
    claimed = await runner.claim_next()
    assert claimed is not None and await runner.run_claimed(*claimed) is JobState.SUCCEEDED
    return await job_row(db, job_id)


async def test_a_report_is_deleted_once_24_hours_have_passed(
    db: AsyncSession, vault: Vault, runner: JobRunner, tenant: Tenant
) -> None:
    job = await finished_echo(db, vault, runner, tenant.id)
    assert job.finished_at is not None and job.has_report
    sessions = async_sessionmaker(runner.engine, expire_on_commit=False)
    assert await expire_reports(sessions, now=job.finished_at + dt.timedelta(hours=23, minutes=59)) == 0
    assert (await take_report(db, vault, job)) is not None
    assert await expire_reports(sessions, now=job.finished_at + dt.timedelta(hours=24, minutes=1)) == 1
    gone = await job_row(db, job.id)
    assert not gone.has_report and gone.report_expires_at is None and gone.report_size == 0
    assert (await db.execute(select(Job.report_sealed).where(Job.id == job.id))).scalar() is None
    assert await take_report(db, vault, gone) is None
    assert gone.state is JobState.SUCCEEDED and gone.summary == {"バイト数": 6}  # the job itself stays listed


async def test_the_periodic_maintenance_and_mnvault_purge_delete_expired_reports(
    app: Litestar, db: AsyncSession, world: World, settings: Settings
) -> None:
    vault: Vault = app.state["vault"]
    runner = app.state["jobs"].runner
    first = await finished_echo(db, vault, runner, world.tenant.id)
    second = await finished_echo(db, vault, runner, world.tenant.id)
    past = utcnow() - dt.timedelta(minutes=1)
    await db.execute(update(Job).where(Job.id == first.id).values(report_expires_at=past))
    await db.commit()
    await app.state["maintenance"].run_once()
    assert not (await job_row(db, first.id)).has_report
    assert (await job_row(db, second.id)).has_report
    await db.execute(update(Job).where(Job.id == second.id).values(report_expires_at=past))
    await db.commit()
    assert await run_expire(settings) == 1
    assert not (await job_row(db, second.id)).has_report
