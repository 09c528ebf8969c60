"""The runner: a job runs to its end with progress, a cancel or a failure before the commit leaves nothing."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.jobs import JobState, job_status, live_progress, request_cancel, submit_job, take_report
from app.jobs.models import Job
from app.jobs.runner import JobRunner
from app.tenancy import Tenant
from app.vault import Vault
from tests.jobs import kinds
from tests.jobs.conftest import (
    SUBMITTER,
    department_count,
    department_lines,
    job_row,
    submit,
    wait_for,
    wait_for_done,
)
from tests.support.people import valid_my_number


def main_database_bytes(directory: Path) -> bytes:
    """The main database file with its WAL and shared-memory files."""
    return b"".join(p.read_bytes() for p in directory.iterdir() if p.name.startswith("mnvault.db"))


async def run_next(runner: JobRunner) -> JobState:
    claimed = await runner.claim_next()
    assert claimed is not None
    return await runner.run_claimed(*claimed)


async def test_a_job_runs_to_success_with_its_progress_figures(
    db: AsyncSession, vault: Vault, runner: JobRunner, tenant: Tenant
) -> None:
    job_id = await submit(db, vault, tenant.id, kinds.DEPARTMENTS, department_lines(5), pause=0.15)
    queued = await job_row(db, job_id)
    assert (queued.state, queued.done, queued.total, queued.actor_name) == (JobState.QUEUED, 0, 0, "試験 太郎")

    task = asyncio.create_task(run_next(runner))
    seen: set[tuple[int, int]] = set()
    while not task.done():
        row = await job_row(db, job_id)
        if row.state is JobState.RUNNING:
            # What the status page shows: the row's figures, or (SQLite, while the job's own transaction holds
            # the write lock) the newer ones of the process that runs it.
            status = job_status(row, live_progress(job_id))
            seen.add((status["done"], status["total"]))
        await asyncio.sleep(0.05)
    assert await task is JobState.SUCCEEDED
    assert any(0 < done < 5 and total == 5 for done, total in seen), seen  # figures moved while it ran

    job = await job_row(db, job_id)
    assert (job.state, job.done, job.total, job.percent) == (JobState.SUCCEEDED, 5, 5, 100)
    assert job.message == "5 件の部門を登録しました。"
    assert job.summary == {"行数": 5, "登録": 5}
    assert job.started_at and job.finished_at and job.started_at <= job.finished_at
    assert await department_count(db, tenant.id) == 5
    report = await take_report(db, vault, job)
    assert report is not None
    assert report.content.decode("cp932").startswith("D0001,部門1,登録しました\r\n")
    assert (report.media_type, report.filename) == ("text/csv; charset=Shift_JIS", "部門登録結果.csv")
    # The input is deleted once the job ends; the report is kept for the configured hours.
    assert (await db.execute(text("SELECT input_sealed FROM jobs"))).scalar() is None
    assert job.report_expires_at is not None and job.finished_at is not None
    assert (job.report_expires_at - job.finished_at).total_seconds() == pytest.approx(24 * 3600, abs=5)


async def test_a_cancel_before_the_commit_leaves_nothing_written(
    db: AsyncSession, vault: Vault, runner: JobRunner, tenant: Tenant
) -> None:
    job_id = await submit(db, vault, tenant.id, kinds.DEPARTMENTS, department_lines(3), hold=20)
    task = asyncio.create_task(run_next(runner))
    await wait_for(db, job_id, JobState.RUNNING)
    await wait_for_done(db, job_id, 3)
    job = await job_row(db, job_id)
    # PostgreSQL: the flag is set and the job sees it at its next report. SQLite: the flag waits for the write
    # lock the job holds, while the job hears of the cancel in this process, stops and rolls back first.
    assert await request_cancel(db, job) in (JobState.RUNNING, JobState.CANCELLED)
    await db.commit()
    assert await asyncio.wait_for(task, 15) is JobState.CANCELLED
    cancelled = await job_row(db, job_id)
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.message == "キャンセルしました。内容は保存されていません。"
    assert not cancelled.has_report
    assert await department_count(db, tenant.id) == 0


async def test_a_queued_job_is_cancelled_at_once_and_never_runs(
    db: AsyncSession, vault: Vault, runner: JobRunner, tenant: Tenant
) -> None:
    job_id = await submit(db, vault, tenant.id, kinds.DEPARTMENTS, department_lines(2))
    assert await request_cancel(db, await job_row(db, job_id)) is JobState.CANCELLED
    await db.commit()
    assert await runner.claim_next() is None
    assert (await job_row(db, job_id)).state is JobState.CANCELLED
    assert await department_count(db, tenant.id) == 0
    # A finished job stays as it is.
    assert await request_cancel(db, await job_row(db, job_id)) is JobState.CANCELLED


async def test_a_kind_that_gives_up_leaves_its_sentence_and_nothing_written(
    db: AsyncSession, vault: Vault, runner: JobRunner, tenant: Tenant
) -> None:
    job_id = await submit(db, vault, tenant.id, kinds.REFUSE, b"x")
    assert await run_next(runner) is JobState.FAILED
    job = await job_row(db, job_id)
    assert (job.state, job.message, job.error_id) == (JobState.FAILED, kinds.REFUSAL, None)
    assert await department_count(db, tenant.id) == 0


async def test_an_unexpected_error_shows_an_error_id_never_the_input(
    db: AsyncSession, vault: Vault, runner: JobRunner, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    number = valid_my_number()
    job_id = await submit(db, vault, tenant.id, kinds.BROKEN, f"山田,{number}".encode())
    with caplog.at_level(logging.DEBUG):
        assert await run_next(runner) is JobState.FAILED
    job = await job_row(db, job_id)
    assert job.error_id and f"エラーID {job.error_id}" in job.message
    assert "内容は保存されていません" in job.message and number not in job.message
    assert await department_count(db, tenant.id) == 0
    failure = next(r for r in caplog.records if r.getMessage() == "job failed")
    assert failure.__dict__["error_id"] == job.error_id and failure.__dict__["error_type"] == "RuntimeError"
    logged = caplog.text + "\n".join(repr(r.__dict__) for r in caplog.records)
    assert number not in logged


async def test_two_runners_never_take_the_same_job(
    db: AsyncSession, vault: Vault, engine: object, settings: Settings, tenant: Tenant
) -> None:
    first, second = (JobRunner(engine, vault, settings) for _ in range(2))  # type: ignore[arg-type]
    job_id = await submit(db, vault, tenant.id, kinds.ECHO, b"hello")
    claims = await asyncio.gather(first.claim_next(), second.claim_next(), second.claim(tenant.id, job_id))
    assert len([c for c in claims if c]) == 1, claims  # whichever came first, it alone has the job
    assert (await job_row(db, job_id)).runner in (first.identity, second.identity)


async def test_the_input_and_the_report_are_sealed_in_the_database(
    db: AsyncSession, vault: Vault, runner: JobRunner, tenant: Tenant, settings: Settings
) -> None:
    numbers = [valid_my_number(seed) for seed in range(3)]
    payload = "\r\n".join(f"E{i},{n}" for i, n in enumerate(numbers)).encode()
    job_id = await submit(db, vault, tenant.id, kinds.ECHO, payload)
    queued = (await db.execute(select(Job.input_sealed).where(Job.id == job_id))).scalar_one()
    assert queued and payload not in queued
    assert await run_next(runner) is JobState.SUCCEEDED
    job = await job_row(db, job_id)
    report = await take_report(db, vault, job)
    assert report is not None and report.content == payload  # it opens, through the vault only
    row = (await db.execute(text("SELECT * FROM jobs"))).one()
    stored = repr(tuple(row)).encode() + b"".join(bytes(v) for v in row if isinstance(v, bytes | memoryview))
    for number in numbers:
        assert number.encode() not in stored
    if settings.is_sqlite:
        await db.close()
        content = main_database_bytes(Path(settings.data_dir))
        assert b"echo.txt" in content  # the scan reads the jobs rows
        for number in numbers:
            assert number.encode() not in content


async def test_a_sealed_input_moved_to_another_job_does_not_open(
    db: AsyncSession, vault: Vault, runner: JobRunner, tenant: Tenant
) -> None:
    first = await submit(db, vault, tenant.id, kinds.ECHO, b"secret one")
    second = await submit(db, vault, tenant.id, kinds.ECHO, b"secret two")
    sealed = (await db.execute(select(Job.input_sealed).where(Job.id == first))).scalar_one()
    await db.execute(Job.__table__.update().where(Job.id == second).values(input_sealed=sealed))
    await db.commit()
    assert await runner.claim(tenant.id, second)
    assert await runner.run_claimed(tenant.id, second) is JobState.FAILED
    assert "エラーID" in (await job_row(db, second)).message


async def test_submitting_refuses_an_unknown_kind_and_keeps_numbers_out_of_the_unsealed_columns(
    db: AsyncSession, vault: Vault, tenant: Tenant
) -> None:
    for case in ({"kind": "no-such-kind", "title": "処理"}, {"kind": kinds.ECHO, "title": " "}):
        with pytest.raises(ValueError):
            await submit_job(db, vault, tenant_id=tenant.id, actor=SUBMITTER, **case)  # type: ignore[arg-type]
    assert (await db.execute(select(Job.id))).first() is None
    number = valid_my_number()
    job = await submit_job(
        db,
        vault,
        tenant_id=tenant.id,
        actor=SUBMITTER,
        kind=kinds.ECHO,
        title=f"{number}.csv の取込",  # a file name someone chose
        params={"file": f"{number}.csv", "rows": [1, 2]},
    )
    assert job.title == "［数字列省略］.csv の取込"
    assert job.params == {"file": "［数字列省略］.csv", "rows": [1, 2]}


async def test_a_stop_in_the_middle_of_a_progress_write_stays_a_stop(
    db: AsyncSession, vault: Vault, engine: object, settings: Settings, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker stopping while a progress UPDATE ran got PendingRollbackError from restoring SQLite's busy timeout,
    which replaced the cancellation: the job was recorded as an error instead of 中断."""
    import aiosqlite
    from sqlalchemy import update

    if not settings.is_sqlite:
        pytest.skip("the busy timeout is SQLite's")
    runner = JobRunner(engine, vault, settings)  # type: ignore[arg-type]
    real = aiosqlite.Cursor.execute

    async def cancelled_in_the_driver(self: aiosqlite.Cursor, sql: str, *args: object) -> object:
        if sql.lstrip().upper().startswith("UPDATE"):
            raise asyncio.CancelledError  # as a worker's stop arrives while the driver runs the statement
        return await real(self, sql, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(aiosqlite.Cursor, "execute", cancelled_in_the_driver)
    with pytest.raises(asyncio.CancelledError):
        await runner._write_now(update(Job).where(Job.tenant_id == tenant.id).values(done=1))
    monkeypatch.undo()
    written, _ = await runner._write_now(update(Job).where(Job.tenant_id == tenant.id).values(done=2))
    assert written
