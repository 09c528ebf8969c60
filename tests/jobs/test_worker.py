"""``mnvault worker``: jobs run in a process of their own, taken from the database queue."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.jobs import JobState
from app.jobs.worker import run_worker
from app.tenancy import Tenant
from app.vault import Vault
from tests.jobs import kinds
from tests.jobs.conftest import department_count, department_lines, submit, wait_for

ROOT = Path(__file__).resolve().parents[2]


async def test_the_worker_runs_queued_jobs_until_told_to_stop(
    db: AsyncSession, vault: Vault, tenant: Tenant, settings: Settings
) -> None:
    worker_settings = msgspec.structs.replace(settings, jobs_in_app=False, job_concurrency=2)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(worker_settings, stop))
    first = await submit(db, vault, tenant.id, kinds.DEPARTMENTS, department_lines(2, "A"))
    second = await submit(db, vault, tenant.id, kinds.DEPARTMENTS, department_lines(3, "B"))
    await wait_for(db, first, JobState.SUCCEEDED)
    await wait_for(db, second, JobState.SUCCEEDED)
    assert await department_count(db, tenant.id) == 5
    stop.set()
    await asyncio.wait_for(worker, 15)


async def test_mnvault_worker_runs_as_its_own_process_and_stops_on_sigterm(
    db: AsyncSession, vault: Vault, tenant: Tenant, settings: Settings
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MNV_")},
        "MNV_DATA_DIR": settings.data_dir,
        "MNV_DATABASE_URL": settings.effective_database_url,
        "MNV_KEYSTORE_URL": settings.effective_keystore_url,
        "MNV_MASTER_KEY": settings.master_key,
        "MNV_JOB_POLL_SECONDS": "0.2",
        "MNV_LOG_FORMAT": "text",
        "MNV_MAINTENANCE_SECONDS": "0",
    }
    # The real command, in a process that also knows the test kinds (as a deployment's worker knows its own).
    code = "import sys, tests.jobs.kinds; from app.cli import main; sys.exit(main(['worker']))"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        job_id = await submit(db, vault, tenant.id, kinds.DEPARTMENTS, department_lines(3))
        job = await wait_for(db, job_id, JobState.SUCCEEDED, within=60)
        assert job.message == "3 件の部門を登録しました。"
        assert await department_count(db, tenant.id) == 3
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert "ワーカーを起動しました（データベース、同時実行 1）。" in out.decode()
    assert out.decode().rstrip().endswith("ワーカーを停止しました。")
