"""Running jobs: claim a queued job, run its kind's handler, record the outcome; fail the interrupted ones.

Every runner (the embedded one inside an app process, a ``mnvault worker`` on the database queue, or one fed job
ids by SAQ) goes through :class:`JobRunner`:

- **claim**: a conditional UPDATE ``queued → running`` (PostgreSQL picks with ``FOR UPDATE SKIP LOCKED``), so two
  runners never run one job; the row gets the runner's identity (``host:pid:nonce``) and a heartbeat.
- **run**: the handler works in a transaction the runner opened; on success the runner writes the job's success
  (and its sealed report) in that same transaction and commits it, so work and outcome land together. A cancel
  (``JobCancelled`` from ``progress``), a failure or a crash before that commit leaves nothing of the work.
- **progress**: figures written at most every ``PROGRESS_INTERVAL`` seconds, each in its own short transaction
  that also reads the cancel flag; on SQLite a write that would wait for the write lock (held by the job's own
  work transaction) is skipped and only the figures this process keeps move (``app.jobs.local``), and a cancel
  request made in this process is seen there at once.
- **sweep**: a running job whose heartbeat is older than ``MNV_JOB_STALE_SECONDS``, or (at start-up) one whose
  runner was a process of this host that is gone, is failed with a Japanese message: its work never committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import time
import traceback
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import CursorResult, Update, select, tuple_, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app import db as database
from app.audit.guard import contains_digit_run
from app.config import Settings
from app.db import utcnow
from app.jobs import JobCancelled, JobFailed, local
from app.jobs.dispatch import JobKey
from app.jobs.kinds import JobContext, JobKind, JobResult, kind_named
from app.jobs.models import ACTIVE, Job, JobState
from app.jobs.services import CANCELLED_MESSAGE, open_input, seal_report
from app.logs import get_logger
from app.vault import Vault, VaultError

log = get_logger("jobs.runner")

PROGRESS_INTERVAL = 0.5  # seconds between two progress writes of one job
MAX_SUMMARY_CHARS = 4000

INTERRUPTED_MESSAGE = (
    "サーバーの再起動などで処理が中断されました。内容は保存されていません。お手数ですが、もう一度実行してください。"
)
UNKNOWN_KIND_MESSAGE = (
    "この種類の処理はこのサーバーでは実行できません。内容は保存されていません。運営者にお問い合わせください。"
)
DONE_MESSAGE = "完了しました。"


def failure_message(error_id: str) -> str:
    """The sentence a job fails with when its kind raised something unexpected (details only in the log)."""
    return (
        "処理中にエラーが発生したため中止しました。内容は保存されていません。"
        f"解決しない場合は、エラーID {error_id} を添えて運営者にお問い合わせください。"
    )


def runner_identity() -> str:
    """``host:pid:nonce`` of this runner (a restarted process with the same pid gets another nonce)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(4)}"


def _process_gone(runner: str | None, own: str) -> bool:
    """True when ``runner`` names a process of this host that no longer runs (or this process's previous life)."""
    if not runner or runner == own:
        return False
    host, _, rest = runner.partition(":")
    pid_text, _, _nonce = rest.partition(":")
    own_host, _, own_rest = own.partition(":")
    if host != own_host or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == int(own_rest.partition(":")[0]):
        return True  # same pid, another nonce: this process before a restart (a container's pid 1)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, owned by someone else
    return False


async def _restore_busy_timeout(connection: AsyncConnection) -> None:
    """Give a SQLite connection its busy timeout back before the pool has it again. A cancellation in the middle of
    the UPDATE leaves its transaction to roll back first; a connection that cannot be restored is discarded (one
    with no busy timeout would fail its next user at once), and this never replaces the exception under way."""
    try:
        await connection.rollback()
        await connection.exec_driver_sql(f"PRAGMA busy_timeout={database.SQLITE_BUSY_MS}")  # restored
    except Exception:
        with contextlib.suppress(Exception):
            await connection.invalidate()


class _Progress:
    """The ``Progress`` a handler gets: throttled writes, and ``JobCancelled`` once cancelled."""

    def __init__(self, runner: JobRunner, tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
        self.runner = runner
        self.tenant_id = tenant_id
        self.job_id = job_id
        self._last = -PROGRESS_INTERVAL

    async def __call__(self, done: int, total: int) -> None:
        local.note_progress(self.job_id, done, total)
        if local.cancelled_here(self.job_id):
            raise JobCancelled()
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL and not (total > 0 and done >= total):
            return
        self._last = now
        if not await self.runner.report_progress(self.tenant_id, self.job_id, done, total):
            raise JobCancelled()


class JobRunner:
    """Claims, runs and sweeps jobs on one database (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, vault: Vault, settings: Settings, *, identity: str | None = None) -> None:
        self.engine = engine
        self.vault = vault
        self.settings = settings
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.identity = identity or runner_identity()
        self.dialect = engine.dialect.name
        self.stale = dt.timedelta(seconds=settings.job_stale_seconds)
        self.heartbeat_seconds = max(1.0, min(10.0, settings.job_stale_seconds / 6))

    def _mine(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> tuple[Any, ...]:
        """The row of a job this runner runs (matches nothing once it was cancelled, failed by a sweep or ended)."""
        return (
            Job.tenant_id == tenant_id,
            Job.id == job_id,
            Job.state == JobState.RUNNING,
            Job.runner == self.identity,
        )

    # Claiming -------------------------------------------------------------------------------------------------

    def _claim_values(self) -> dict[str, Any]:
        now = utcnow()
        return {"state": JobState.RUNNING, "runner": self.identity, "started_at": now, "heartbeat_at": now}

    async def claim(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> bool:
        """Take this queued job (False when it is not queued any more: cancelled, or another runner has it)."""
        async with self.sessions() as session:
            statement = (
                update(Job)
                .where(Job.tenant_id == tenant_id, Job.id == job_id, Job.state == JobState.QUEUED)
                .values(**self._claim_values())
                .execution_options(synchronize_session=False)
            )
            result: CursorResult[Any] = await session.execute(statement)  # type: ignore[assignment]
            await session.commit()
        return bool(result.rowcount)

    async def claim_next(self) -> JobKey | None:
        """Take the oldest queued job of any tenant, if there is one."""
        queued = (ACTIVE, Job.state == JobState.QUEUED)
        if self.dialect == "postgresql":
            pick = (
                select(Job.tenant_id, Job.id)
                .where(*queued)
                .order_by(Job.created_at, Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            statement = (
                update(Job)
                .where(tuple_(Job.tenant_id, Job.id).in_(pick))
                .values(**self._claim_values())
                .returning(Job.tenant_id, Job.id)
                .execution_options(synchronize_session=False)
            )
            async with self.sessions() as session:
                row = (await session.execute(statement)).first()
                await session.commit()
            return None if row is None else (row[0], row[1])
        # SQLite: read the candidates (no lock), then a conditional UPDATE per candidate until one is ours.
        async with self.sessions() as session:
            oldest = select(Job.tenant_id, Job.id).where(*queued).order_by(Job.created_at, Job.id).limit(5)
            candidates = (await session.execute(oldest)).all()
        for tenant_id, job_id in candidates:
            if await self.claim(tenant_id, job_id):
                return (tenant_id, job_id)
        return None

    async def queued_before(self, moment: dt.datetime, limit: int = 100) -> list[JobKey]:
        """Queued jobs submitted before ``moment`` (a queue that may have missed them gets them again)."""
        statement = (
            select(Job.tenant_id, Job.id)
            .where(ACTIVE, Job.state == JobState.QUEUED, Job.created_at < moment)
            .order_by(Job.created_at, Job.id)
            .limit(limit)
        )
        async with self.sessions() as session:
            return [(row[0], row[1]) for row in await session.execute(statement)]

    # Running --------------------------------------------------------------------------------------------------

    async def run_one(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> JobState | None:
        """Claim and run one job (what a queue worker does with a job id); None when it was not queued."""
        if not await self.claim(tenant_id, job_id):
            return None
        return await self.run_claimed(tenant_id, job_id)

    async def run_claimed(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> JobState:
        """Run a job this runner claimed, to its end; returns the state it ended in."""
        async with self.sessions() as session:
            job = (await session.execute(select(Job).where(*self._mine(tenant_id, job_id)))).scalar_one_or_none()
            if job is None:
                return await self.state_of(tenant_id, job_id)
            kind = kind_named(job.kind)
            if kind is None:
                log.error("job kind not registered", extra={"job_id": str(job_id), "kind": job.kind})
                return await self._finish(tenant_id, job_id, JobState.FAILED, UNKNOWN_KIND_MESSAGE)
            try:
                payload = await open_input(session, self.vault, tenant_id, job_id)
            except VaultError as exc:
                return await self._failed(tenant_id, job_id, job.kind, exc)
            context = {
                "job_id": job_id,
                "tenant_id": tenant_id,
                "kind": job.kind,
                "title": job.title,
                "created_by": job.created_by,
                "actor": job.actor_snapshot,
                "params": dict(job.params or {}),
                "payload": payload,
            }
        local.started_here(job_id)
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(tenant_id, job_id))
        try:
            return await self._execute(kind, context, heartbeat)
        finally:
            await _stop(heartbeat)
            local.ended_here(job_id)

    async def _execute(self, kind: JobKind, context: Mapping[str, Any], heartbeat: asyncio.Task[None]) -> JobState:
        tenant_id: uuid.UUID = context["tenant_id"]
        job_id: uuid.UUID = context["job_id"]
        async with self.sessions() as work:
            ctx = JobContext(
                **context,
                progress=_Progress(self, tenant_id, job_id),
                session=work,
                sessions=self.sessions,
                vault=self.vault,
                settings=self.settings,
            )
            try:
                result = _checked_result(await kind.handler(ctx))
                await _stop(heartbeat)  # PostgreSQL: its UPDATE would wait on the row the success now locks
                if not await self._complete(work, kind, tenant_id, job_id, result):
                    await work.rollback()
                    log.warning("job was no longer running at its commit", extra={"job_id": str(job_id)})
                    return await self.state_of(tenant_id, job_id)
                await self.vault.commit(work)
                return JobState.SUCCEEDED
            except JobCancelled:
                await _rollback(work)
                return await self._finish(tenant_id, job_id, JobState.CANCELLED, CANCELLED_MESSAGE)
            except JobFailed as exc:
                await _rollback(work)
                if contains_digit_run(exc.message) or not exc.message.strip():
                    return await self._failed(tenant_id, job_id, kind.name, exc)
                return await self._finish(tenant_id, job_id, JobState.FAILED, exc.message.strip()[:1000])
            except asyncio.CancelledError:  # the process is stopping: fail it rather than leave it running
                await _rollback(work)
                await self._finish(tenant_id, job_id, JobState.FAILED, INTERRUPTED_MESSAGE)
                raise
            except Exception as exc:
                await _rollback(work)
                return await self._failed(tenant_id, job_id, kind.name, exc)

    async def _complete(
        self, work: AsyncSession, kind: JobKind, tenant_id: uuid.UUID, job_id: uuid.UUID, result: JobResult
    ) -> bool:
        """Write the success (and the sealed report) in the work transaction; False when the job is not ours."""
        now = utcnow()
        values: dict[str, Any] = {
            "state": JobState.SUCCEEDED,
            "message": result.message.strip() or DONE_MESSAGE,
            "summary": dict(result.summary),
            "finished_at": now,
            "heartbeat_at": now,
            "input_sealed": None,
            "updated_at": now,
        }
        figures = local.live_progress(job_id)
        if figures is not None:
            values["done"], values["total"] = figures
        report = result.report
        if report is not None:
            values.update(
                report_sealed=await seal_report(work, self.vault, tenant_id, job_id, report.content),
                report_media_type=report.media_type[:100],
                report_filename=_safe_filename(report.filename),
                report_size=len(report.content),
                report_once=kind.report_once,
                report_expires_at=now + dt.timedelta(hours=self.settings.job_report_hours),
            )
        statement = update(Job).where(*self._mine(tenant_id, job_id)).values(**values)
        done: CursorResult[Any] = await work.execute(  # type: ignore[assignment]
            statement.execution_options(synchronize_session=False)
        )
        return bool(done.rowcount)

    async def _failed(self, tenant_id: uuid.UUID, job_id: uuid.UUID, kind: str, exc: BaseException) -> JobState:
        """Log an unexpected failure under an error id (type and frames only: a message may hold input)."""
        error_id = secrets.token_hex(6)
        log.error(
            "job failed",
            extra={
                "error_id": error_id,
                "job_id": str(job_id),
                "tenant_id": str(tenant_id),
                "kind": kind,
                "error_type": type(exc).__name__,
                "frames": "".join(traceback.format_tb(exc.__traceback__))[-6000:],
            },
        )
        return await self._finish(tenant_id, job_id, JobState.FAILED, failure_message(error_id), error_id)

    async def _finish(
        self, tenant_id: uuid.UUID, job_id: uuid.UUID, state: JobState, message: str, error_id: str | None = None
    ) -> JobState:
        """End a job of this runner that did not succeed (its input deleted); returns the state it is in."""
        now = utcnow()
        async with self.sessions() as session:
            await session.execute(
                update(Job)
                .where(*self._mine(tenant_id, job_id))
                .values(state=state, message=message, error_id=error_id, finished_at=now, input_sealed=None)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        return await self.state_of(tenant_id, job_id)

    async def state_of(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> JobState:
        """The job's state as stored (FAILED when the row is gone)."""
        async with self.sessions() as session:
            found = await session.execute(select(Job.state).where(Job.tenant_id == tenant_id, Job.id == job_id))
            state = found.scalar_one_or_none()
        return JobState.FAILED if state is None else JobState(state)

    # Progress and heartbeat -----------------------------------------------------------------------------------

    async def report_progress(self, tenant_id: uuid.UUID, job_id: uuid.UUID, done: int, total: int) -> bool:
        """Store the figures and the heartbeat; False when the job was cancelled or is no longer this runner's."""
        statement = (
            update(Job)
            .where(*self._mine(tenant_id, job_id))
            .values(done=max(0, done), total=max(0, total), heartbeat_at=utcnow())
            .returning(Job.cancel_requested)
        )
        written, row = await self._write_now(statement)
        if not written:  # SQLite's write lock is the job's own: read the flag instead
            async with self.sessions() as session:
                query = select(Job.cancel_requested).where(*self._mine(tenant_id, job_id))
                row = (await session.execute(query)).first()
        return row is not None and not row[0]

    async def _heartbeat(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self._write_now(update(Job).where(*self._mine(tenant_id, job_id)).values(heartbeat_at=utcnow()))
            except Exception as exc:  # the next beat tries again; a lost one only risks a stale mark much later
                log.warning("job heartbeat failed", extra={"job_id": str(job_id), "error": type(exc).__name__})

    async def _write_now(self, statement: Update) -> tuple[bool, Any]:
        """Run an UPDATE in its own transaction: ``(True, first returned row)``; on SQLite ``(False, None)``
        instead of waiting when another connection holds the write lock."""
        sqlite = self.dialect == "sqlite"
        async with self.engine.connect() as connection:
            if sqlite:
                await connection.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                result = await connection.execute(statement.execution_options(synchronize_session=False))
                row = result.first() if result.returns_rows else None
                await connection.commit()
                return True, row
            except OperationalError:
                if not sqlite:
                    raise
                await connection.rollback()
                return False, None
            finally:
                if sqlite:
                    await _restore_busy_timeout(connection)

    # Sweeping -------------------------------------------------------------------------------------------------

    async def fail_interrupted(self, *, at_startup: bool = False) -> int:
        """Fail running jobs of other runners whose heartbeat is stale, or (``at_startup``) whose process on this
        host is gone; returns how many. Their work never committed (success is written in the same commit)."""
        now = utcnow()
        cutoff = now - self.stale
        running = select(Job.tenant_id, Job.id, Job.runner, Job.heartbeat_at).where(
            ACTIVE, Job.state == JobState.RUNNING
        )
        async with self.sessions() as session:
            rows = (await session.execute(running)).all()
            doomed = [
                row
                for row in rows
                if row.runner != self.identity
                and (
                    row.heartbeat_at is None
                    or row.heartbeat_at < cutoff
                    or (at_startup and _process_gone(row.runner, self.identity))
                )
            ]
            failed = 0
            for row in doomed:
                beat = row.heartbeat_at
                same_beat = Job.heartbeat_at.is_(None) if beat is None else Job.heartbeat_at == beat
                result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
                    update(Job)
                    .where(Job.tenant_id == row.tenant_id, Job.id == row.id, Job.state == JobState.RUNNING, same_beat)
                    .values(state=JobState.FAILED, message=INTERRUPTED_MESSAGE, finished_at=now, input_sealed=None)
                    .execution_options(synchronize_session=False)
                )
                failed += int(result.rowcount or 0)
            if doomed:
                await session.commit()
        if failed:
            log.warning("interrupted jobs failed", extra={"count": failed, "at_startup": at_startup})
        return failed


def _checked_result(result: JobResult) -> JobResult:
    """A handler's result as it may be stored (TypeError / ValueError for a bug in the kind: the job fails)."""
    if not isinstance(result, JobResult):
        raise TypeError("a job handler must return a JobResult")
    if contains_digit_run(result.message):
        raise ValueError("a job's message must not hold 12 digits in a row")
    encoded = json.dumps(dict(result.summary), ensure_ascii=False, allow_nan=False)
    if len(encoded) > MAX_SUMMARY_CHARS or contains_digit_run(encoded):
        raise ValueError("a job's summary holds counts only (small, no 12 digits in a row)")
    return result


def _safe_filename(name: str) -> str:
    cleaned = "".join(c for c in name.replace("/", "_").replace("\\", "_") if c.isprintable()).strip(" .")
    return cleaned[:200] or "report"


async def _rollback(session: AsyncSession) -> None:
    """Roll the work back; a connection broken by the failure itself is closed with the session anyway."""
    try:
        await session.rollback()
    except Exception as exc:
        log.warning("job rollback failed", extra={"error": type(exc).__name__})


async def _stop(task: asyncio.Task[None]) -> None:
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
