"""Job kinds: what a job does, registered by name (``@job_kind("import")``), and what it is given and returns.

A kind's handler is ``async def handler(ctx: JobContext) -> JobResult``. It does its work in ``ctx.session`` (the
work transaction) and does not commit it: the runner writes the job's success in that same transaction and
commits both together (``Vault.commit``), so a cancel, a failure or a crash before that commit leaves nothing
written. It reports progress with ``await ctx.progress(done, total)``, which raises ``JobCancelled`` once the
job's owner cancelled it; it fails with a Japanese sentence by raising ``JobFailed``. Any other exception fails the
job with a generic sentence and an error id (the exception is logged, never shown).

On SQLite the work transaction holds the database's write lock from its first write until the commit, and every
other writer of the service (a sign-in too) waits for it: read and check first, then write everything at the end.
The input (``ctx.payload``) is the sealed payload opened in memory; never write it to a file or a log.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor
from app.config import Settings

if TYPE_CHECKING:
    from app.jobs import Progress
    from app.vault import Vault

SummaryValue = int | float | str | bool | None


@dataclass(frozen=True, slots=True)
class JobReport:
    """A file the job leaves for its owner to download (kept sealed until downloaded or expired)."""

    content: bytes
    media_type: str  # e.g. "text/csv; charset=utf-8"
    filename: str  # shown in the download (may be Japanese); no path


@dataclass(frozen=True, slots=True)
class JobResult:
    """What a handler returns on success: a Japanese sentence, counts for the page, and an optional report.

    ``summary`` holds counts and short labels only ("rows": 1200, "errors": 3): it is stored unsealed, and a value
    that could be a number (12 digits in a row) fails the job.
    """

    message: str = ""
    summary: Mapping[str, SummaryValue] = field(default_factory=dict)
    report: JobReport | None = None


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler is given: the job, who asked, its opened input, progress, the work transaction, the vault."""

    job_id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    title: str
    created_by: uuid.UUID | None  # the submitting account (None for a system job)
    actor: Actor  # the submitter as the audit log names them (log the job's work under this actor)
    params: dict[str, Any]  # the options given to submit_job
    payload: bytes  # the input given to submit_job, opened (b"" when none)
    progress: Progress  # await progress(done, total): stored for the page; raises JobCancelled when cancelled
    session: AsyncSession  # the work transaction: write here, never commit (the runner commits with the result)
    sessions: async_sessionmaker[AsyncSession]  # for reads outside the work transaction
    vault: Vault
    settings: Settings


Handler = Callable[[JobContext], Awaitable[JobResult]]


@dataclass(frozen=True, slots=True)
class JobKind:
    """A registered kind: its handler and how its report is kept."""

    name: str
    handler: Handler
    report_once: bool = False  # the report is deleted by its first download (else kept until it expires)


_KINDS: dict[str, JobKind] = {}
MAX_KIND_NAME = 50


def register_job_kind(name: str, handler: Handler, *, report_once: bool = False) -> JobKind:
    """Register ``handler`` as the kind ``name`` (ValueError when another handler already has that name).

    Registering the same handler again is a no-op (a module imported twice).
    """
    if not name or len(name) > MAX_KIND_NAME or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"job kind name {name!r}: 1-{MAX_KIND_NAME} letters, digits, - and _")
    kind = JobKind(name, handler, report_once)
    existing = _KINDS.get(name)
    if existing is not None and existing != kind:
        raise ValueError(f"job kind {name!r} is already registered")
    _KINDS[name] = kind
    return kind


def job_kind(name: str, *, report_once: bool = False) -> Callable[[Handler], Handler]:
    """Decorator form of :func:`register_job_kind`: ``@job_kind("import")`` over ``async def run(ctx)``."""

    def register(handler: Handler) -> Handler:
        register_job_kind(name, handler, report_once=report_once)
        return handler

    return register


def kind_named(name: str) -> JobKind | None:
    """The registered kind of that name, if any."""
    return _KINDS.get(name)


def unregister_job_kind(name: str) -> None:
    """Forget a kind (tests)."""
    _KINDS.pop(name, None)
