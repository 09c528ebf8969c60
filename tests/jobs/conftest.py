"""Fixtures for the job tests: quick polling, a runner without an app, a tenant, and waiting for a job."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import tests.jobs.kinds  # noqa: F401 - registers the test kinds
from app.audit.events import Actor
from app.config import Settings
from app.db import make_engine
from app.jobs import Job, JobState, job_status, live_progress, submit_job
from app.jobs.runner import JobRunner
from app.tenancy import Tenant
from app.vault import Vault
from tenants.models import Department
from tests.support.world import make_tenant

POLL = 0.05
SUBMITTER = Actor(user_id=None, login_id="tester", name="試験 太郎", role="管理者", organisation="アクメ")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings with runners that look for work five times a second."""
    return msgspec.structs.replace(settings, job_poll_seconds=0.2)


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    opened = Vault.from_settings(settings)
    yield opened
    await opened.close()


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    made = make_engine(settings.effective_database_url, pool_size=5)
    yield made
    await made.dispose()


@pytest.fixture
def runner(engine: AsyncEngine, vault: Vault, settings: Settings) -> JobRunner:
    return JobRunner(engine, vault, settings)


@pytest.fixture
async def tenant(db: AsyncSession, vault: Vault) -> Tenant:
    made = await make_tenant(db, vault, "acme", "アクメ商事株式会社")
    await db.commit()
    return made


async def submit(
    db: AsyncSession,
    vault: Vault,
    tenant_id: uuid.UUID,
    kind: str,
    payload: bytes = b"",
    actor: Actor = SUBMITTER,
    **params: object,
) -> uuid.UUID:
    """Submit a job and commit; returns its id."""
    job = await submit_job(
        db, vault, tenant_id=tenant_id, actor=actor, kind=kind, title="テストの処理", payload=payload, params=params
    )
    await db.commit()
    return job.id


async def job_row(db: AsyncSession, job_id: uuid.UUID) -> Job:
    """The job as stored now (a fresh read, not the session's cached object)."""
    await db.commit()  # a fresh snapshot (a rollback would expire the test's objects)
    found = await db.execute(select(Job).where(Job.id == job_id).execution_options(populate_existing=True))
    return found.scalar_one()


async def shown(db: AsyncSession, job_id: uuid.UUID) -> dict[str, object]:
    """The job's status as its page shows it (with the figures this process holds for a job it runs)."""
    return job_status(await job_row(db, job_id), live_progress(job_id))


async def wait_for(db: AsyncSession, job_id: uuid.UUID, *states: JobState, within: float = 30.0) -> Job:
    """Poll until the job is in one of ``states`` (AssertionError after ``within`` seconds)."""
    for _ in range(int(within / POLL)):
        job = await job_row(db, job_id)
        if job.state in states:
            return job
        await asyncio.sleep(POLL)
    raise AssertionError(f"job still {job.state} after {within}s (waiting for {states})")


async def wait_for_done(db: AsyncSession, job_id: uuid.UUID, done: int, within: float = 30.0) -> None:
    """Poll until the job's page shows ``done`` rows done."""
    for _ in range(int(within / POLL)):
        if (await shown(db, job_id))["done"] == done:
            return
        await asyncio.sleep(POLL)
    raise AssertionError(f"job never showed {done} rows done")


async def department_count(db: AsyncSession, tenant_id: uuid.UUID) -> int:
    await db.commit()  # a fresh snapshot (a rollback would expire the test's objects)
    return int(await db.scalar(select(func.count()).where(Department.tenant_id == tenant_id)) or 0)


def department_lines(count: int, prefix: str = "D") -> bytes:
    return "".join(f"{prefix}{i:04d},部門{i}\n" for i in range(1, count + 1)).encode()
