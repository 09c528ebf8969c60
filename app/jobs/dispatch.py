"""Telling the runners about a new job once the transaction that submitted it has committed.

``submit_job`` writes the row in the caller's transaction; only after that commits may a runner see it. The
session remembers the jobs it submitted, and after its commit every dispatcher registered for its database is
told: the embedded runner wakes up, the SAQ dispatcher puts the job's id on the queue. A rollback forgets them.
Nothing is lost when a process dies in between: runners also poll the table for queued jobs.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.logs import get_logger

log = get_logger("jobs.dispatch")

JobKey = tuple[uuid.UUID, uuid.UUID]  # (tenant_id, job_id)
_PENDING = "mnv_jobs_pending"
_HOOKED = "mnv_jobs_hooked"


class Dispatcher(Protocol):
    """Told, on the event loop, about jobs whose submitting transaction committed (must not block)."""

    def announce(self, jobs: list[JobKey]) -> None: ...


_DISPATCHERS: dict[str, list[Dispatcher]] = {}


def _identity(url: str | URL) -> str:
    parsed = make_url(url) if isinstance(url, str) else url
    return f"{parsed.get_backend_name()}|{parsed.host or ''}|{parsed.port or ''}|{parsed.database or ''}"


def register_dispatcher(database_url: str | URL, dispatcher: Dispatcher) -> None:
    """Tell ``dispatcher`` about jobs committed on the database at ``database_url``."""
    _DISPATCHERS.setdefault(_identity(database_url), []).append(dispatcher)


def unregister_dispatcher(database_url: str | URL, dispatcher: Dispatcher) -> None:
    """Stop telling ``dispatcher`` (the app or worker stops)."""
    found = _DISPATCHERS.get(_identity(database_url), [])
    if dispatcher in found:
        found.remove(dispatcher)


def announce_after_commit(session: AsyncSession, tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
    """Remember a job submitted in ``session``'s transaction; the dispatchers hear of it after the commit."""
    sync = session.sync_session
    sync.info.setdefault(_PENDING, []).append((tenant_id, job_id))
    if not sync.info.get(_HOOKED):
        event.listen(sync, "after_commit", _after_commit)
        event.listen(sync, "after_rollback", _after_rollback)
        sync.info[_HOOKED] = True


def _after_commit(session: Session) -> None:
    pending: list[JobKey] = session.info.pop(_PENDING, [])
    if not pending:
        return
    bind: Any = session.get_bind()
    for dispatcher in list(_DISPATCHERS.get(_identity(bind.engine.url), [])):
        try:
            dispatcher.announce(pending)
        except Exception as exc:  # the job is committed: a poll will find it
            log.warning("job dispatch failed", extra={"error": type(exc).__name__})


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
