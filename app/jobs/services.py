"""Jobs as the pages and other packages use them: submit, read (scoped to the tenant), cancel, download, expire.

The input of a job and its report are sealed by the vault (``Vault.seal_secret``: AES-256-GCM under the tenant's
data key, bound to tenant, job id, purpose and key version): a file of My Numbers is never stored in clear, and a
sealed input copied to another job or tenant does not open. The input is deleted as soon as the job ends.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import undefer

from app.audit.events import Actor
from app.audit.guard import redact_client_text
from app.auth.principal import Principal
from app.auth.scoping import get_scoped, scoped
from app.db import new_id, utcnow
from app.jobs import local
from app.jobs.dispatch import announce_after_commit
from app.jobs.kinds import kind_named
from app.jobs.models import Job, JobState, actor_to_json
from app.logs import get_logger
from app.pager import KeysetPage, PageRequest, read_page
from app.paging import SortColumn
from app.vault import Vault

log = get_logger("jobs")

INPUT_PURPOSE = "job-input"
REPORT_PURPOSE = "job-report"
MAX_TITLE = 200
MAX_PARAMS_CHARS = 4000
NEWEST_FIRST = [SortColumn(Job.created_at, "created_at", descending=True), SortColumn(Job.id, "id", descending=True)]

CANCELLED_MESSAGE = "キャンセルしました。内容は保存されていません。"


def _checked_title(title: str) -> str:
    """The title as stored: one line, and (it may carry a file name someone chose) 12-digit runs redacted."""
    title = redact_client_text(" ".join(title.split()), MAX_TITLE) or ""
    if not title:
        raise ValueError("a job needs a title")
    return title


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_client_text(value, MAX_PARAMS_CHARS)
    if isinstance(value, dict):
        return {str(key): _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


def _checked_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """The params as stored (a JSON round trip, 12-digit runs in text redacted); ValueError when not JSON or too
    large. Input belongs in the sealed payload, never here."""
    try:
        encoded = json.dumps(_redacted(params or {}), ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError("job params must be JSON") from None
    if len(encoded) > MAX_PARAMS_CHARS:
        raise ValueError(f"job params over {MAX_PARAMS_CHARS} characters")
    loaded: dict[str, Any] = json.loads(encoded)
    return loaded


async def submit_job(
    session: AsyncSession,
    vault: Vault,
    *,
    kind: str,
    title: str,
    payload: bytes = b"",
    params: dict[str, Any] | None = None,
    principal: Principal | None = None,
    tenant_id: uuid.UUID | None = None,
    actor: Actor | None = None,
) -> Job:
    """Queue a job of a registered ``kind`` in the caller's transaction; it starts once that commits.

    Who: ``principal`` (a page), or ``tenant_id`` and ``actor`` (a token call, a system job). ``title`` is the
    Japanese line the job list shows; ``payload`` the input (sealed here, e.g. an uploaded file); ``params`` the
    kind's options as JSON (never personal data: stored unsealed). In the title and in the params' text, a run of
    12 digits (a file name could hold one) is replaced by 「［数字列省略］」. Returns the flushed row (``job.id`` for
    the progress page ``/admin/jobs/{id}``). ValueError for an unknown kind, an empty title, params that are not
    JSON or over 4,000 characters.
    """
    if principal is not None:
        tenant_id, actor = principal.tenant_id, actor or principal.actor()
    if tenant_id is None or actor is None:
        raise ValueError("submit_job needs a principal, or a tenant_id and an actor")
    if kind_named(kind) is None:
        raise ValueError(f"job kind {kind!r} is not registered")
    job = Job(
        tenant_id=tenant_id,
        id=new_id(),
        kind=kind,
        state=JobState.QUEUED,
        title=_checked_title(title),
        # A partner's staff member acting inside a client has no account in it (jobs.created_by is a composite key).
        created_by=None if actor.partner_id else actor.user_id,
        actor=actor_to_json(actor),
        params=_checked_params(params),
        done=0,
        total=0,
        message="",
        cancel_requested=False,
    )
    if payload:
        job.input_sealed = await vault.seal_secret(session, tenant_id, job.id, INPUT_PURPOSE, payload)
    session.add(job)
    await session.flush()
    announce_after_commit(session, tenant_id, job.id)
    return job


async def open_input(session: AsyncSession, vault: Vault, tenant_id: uuid.UUID, job_id: uuid.UUID) -> bytes:
    """The job's input, opened (b"" when it has none or it was deleted); VaultIntegrityError when altered."""
    statement = select(Job.input_sealed).where(Job.tenant_id == tenant_id, Job.id == job_id)
    sealed = (await session.execute(statement)).scalar_one_or_none()
    if not sealed:
        return b""
    return await vault.open_secret(session, tenant_id, job_id, INPUT_PURPOSE, bytes(sealed))


async def seal_report(
    session: AsyncSession, vault: Vault, tenant_id: uuid.UUID, job_id: uuid.UUID, content: bytes
) -> bytes:
    """A report sealed for this job (the runner stores it with the job's success)."""
    return await vault.seal_secret(session, tenant_id, job_id, REPORT_PURPOSE, content)


async def get_job(session: AsyncSession, principal: Principal, job_id: uuid.UUID | str) -> Job:
    """One job of the principal's tenant, or 404 (another tenant's id looks exactly like a missing one)."""
    return await get_scoped(session, Job, principal, job_id)


@dataclass(frozen=True, slots=True)
class JobPage:
    """A page of the job list, newest first."""

    jobs: list[Job]
    window: KeysetPage


async def job_page(session: AsyncSession, principal: Principal, request: PageRequest, *, per_page: int = 30) -> JobPage:
    """One page of the tenant's jobs, newest first (one index range of ``ix_jobs_tenant_id_created_at_id``)."""
    window = await read_page(session, [scoped(Job, principal)], NEWEST_FIRST, request, per_page=per_page)
    ids = [key.id for key in window.keys]
    if not ids:
        return JobPage([], window)
    found = await session.execute(scoped(Job, principal).where(Job.id.in_(ids)))
    by_id = {job.id: job for job in found.scalars()}
    return JobPage([by_id[i] for i in ids if i in by_id], window)


async def request_cancel(session: AsyncSession, job: Job) -> JobState:
    """Cancel a job: a queued one at once, a running one at its next progress report (before its commit).

    Returns the job's state after the request (a finished job is left as it is). A job running in this process
    hears of it at once (on SQLite its row may be behind the write lock its own work holds until it stops).
    """
    local.cancel_here(job.id)
    now = utcnow()
    these = (Job.tenant_id == job.tenant_id, Job.id == job.id)
    queued: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        update(Job)
        .where(*these, Job.state == JobState.QUEUED)
        .values(
            state=JobState.CANCELLED,
            cancel_requested=True,
            message=CANCELLED_MESSAGE,
            finished_at=now,
            input_sealed=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if queued.rowcount:
        return JobState.CANCELLED
    await session.execute(
        update(Job)
        .where(*these, Job.state == JobState.RUNNING)
        .values(cancel_requested=True, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    state = (await session.execute(select(Job.state).where(*these))).scalar_one()
    return JobState(state)


def job_status(job: Job, live: tuple[int, int] | None = None) -> dict[str, Any]:
    """What the progress page's script reads (``GET /admin/jobs/{id}/status``): state, figures, message.

    ``live``: figures this process holds for a job it is running (newer than the row on SQLite, whose progress
    writes wait while the job's own transaction holds the write lock).
    """
    done, total = job.done, job.total
    if live is not None and job.state is JobState.RUNNING and live[0] >= done:
        done, total = live
    percent = 100 if job.state is JobState.SUCCEEDED else (max(0, min(100, done * 100 // total)) if total > 0 else 0)
    return {
        "id": str(job.id),
        "state": job.state.value,
        "state_label": job.state.label,
        "finished": job.state.finished,
        "done": done,
        "total": total,
        "percent": percent,
        "message": job.message,
        "cancel_requested": job.cancel_requested,
        "has_report": job.has_report,
    }


@dataclass(frozen=True, slots=True)
class ReportFile:
    """A job's report, opened for one download."""

    content: bytes
    media_type: str
    filename: str


async def take_report(session: AsyncSession, vault: Vault, job: Job) -> ReportFile | None:
    """The job's report for a download (None when there is none or it expired); a report the kind keeps only
    until downloaded is deleted in the caller's transaction."""
    if not job.has_report:
        return None
    statement = select(Job).options(undefer(Job.report_sealed)).where(Job.tenant_id == job.tenant_id, Job.id == job.id)
    row = (await session.execute(statement)).scalar_one()
    if row.report_sealed is None:
        return None
    content = await vault.open_secret(session, job.tenant_id, job.id, REPORT_PURPOSE, bytes(row.report_sealed))
    if row.report_once:
        await _drop_reports(session, (Job.tenant_id == job.tenant_id, Job.id == job.id))
    return ReportFile(content, row.report_media_type, row.report_filename)


async def _drop_reports(session: AsyncSession, where: tuple[Any, ...]) -> int:
    now = utcnow()
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        update(Job)
        .where(*where)
        .values(report_sealed=None, report_expires_at=None, report_size=0, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def expire_reports(sessions: async_sessionmaker[AsyncSession], now: dt.datetime | None = None) -> int:
    """Delete the reports whose time is up (the periodic maintenance and ``mnvault purge``); returns how many."""
    moment = now or utcnow()
    async with sessions() as session:
        expired = (Job.report_expires_at.is_not(None), Job.report_expires_at <= moment)
        # Looked for first: on SQLite an UPDATE takes the write lock even when it matches nothing.
        if (await session.execute(select(Job.id).where(*expired).limit(1))).first() is None:
            return 0
        dropped = await _drop_reports(session, expired)
        await session.commit()
    if dropped:
        log.info("job reports expired", extra={"count": dropped})
    return dropped
