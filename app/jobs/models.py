"""The jobs table: one row per background job of a tenant, the source of truth for every runner and page.

The input a job works on (an uploaded file: My Numbers in clear) is kept only sealed (``input_sealed``), and only
until the job ends; the report it leaves (``report_sealed``) until downloaded or ``report_expires_at``. Both are
sealed by the vault under the tenant's data key, bound to tenant, job and purpose (``app.jobs.services``).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.audit.events import Actor
from app.db import Base, TenantMixin, str_enum, tenant_fk, utcnow


class JobState(enum.StrEnum):
    """Where a job stands: queued → running → succeeded / failed / cancelled (a queued job can be cancelled)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """The state as the pages say it."""
        return {
            "queued": "待機中",
            "running": "実行中",
            "succeeded": "完了",
            "failed": "失敗",
            "cancelled": "キャンセル済み",
        }[self.value]

    @property
    def finished(self) -> bool:
        """True once the job can no longer change (succeeded, failed or cancelled)."""
        return self in FINISHED_STATES


FINISHED_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
_ACTIVE_SQL = "state IN ('queued', 'running')"
# The claim index's predicate, written out in a query (as literals: with bound values neither SQLite nor a generic
# PostgreSQL plan could prove the query implies it, and the partial index would not be used).
ACTIVE = text(f"jobs.{_ACTIVE_SQL}")


class Job(TenantMixin, Base):
    """A background job: what it is, who asked, how far it got, its sealed input and its sealed report."""

    __tablename__ = "jobs"
    __table_args__ = (
        tenant_fk("created_by", "accounts"),
        # The tenant's job list, newest first (keyset pages on (created_at, id)).
        Index("ix_jobs_tenant_id_created_at_id", "tenant_id", "created_at", "id"),
        # The runners' claim and sweep: only the few queued and running jobs are in it.
        Index(
            "ix_jobs_active_state_created_at_id",
            "state",
            "created_at",
            "id",
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        # The maintenance's report expiry: only jobs still holding a report are in it.
        Index(
            "ix_jobs_report_expires_at",
            "report_expires_at",
            sqlite_where=text("report_expires_at IS NOT NULL"),
            postgresql_where=text("report_expires_at IS NOT NULL"),
        ),
    )

    kind: Mapped[str] = mapped_column(String(50))
    state: Mapped[JobState] = mapped_column(str_enum(JobState), default=JobState.QUEUED)
    title: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)  # the account that submitted it
    actor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the audit Actor snapshot of the submitter
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the kind's options (never personal data)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")  # Japanese; on failure a sentence, never an exception
    error_id: Mapped[str | None] = mapped_column(String(16), default=None)  # in the log line of a failure
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    runner: Mapped[str | None] = mapped_column(String(200), default=None)  # host:pid:nonce of the running process
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # The big columns are read only where needed (never by a list): touching them unloaded raises.
    input_sealed: Mapped[bytes | None] = mapped_column(
        LargeBinary, default=None, deferred=True, deferred_raiseload=True
    )
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # counts only (checked: no numbers)
    report_sealed: Mapped[bytes | None] = mapped_column(
        LargeBinary, default=None, deferred=True, deferred_raiseload=True
    )
    report_media_type: Mapped[str] = mapped_column(String(100), default="")
    report_filename: Mapped[str] = mapped_column(String(200), default="")
    report_size: Mapped[int] = mapped_column(Integer, default=0)
    report_once: Mapped[bool] = mapped_column(Boolean, default=False)  # deleted by its first download
    report_expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def actor_snapshot(self) -> Actor:
        """The submitter as an audit ``Actor`` (the kind logs its work under this name)."""
        data = dict(self.actor or {})
        user_id = data.get("user_id")
        partner_id = data.get("partner_id")
        return Actor(
            user_id=uuid.UUID(user_id) if user_id else None,
            login_id=str(data.get("login_id", "")),
            name=str(data.get("name", "")),
            role=str(data.get("role", "")),
            organisation=str(data.get("organisation", "")),
            ip=data.get("ip"),
            user_agent=data.get("user_agent"),
            partner_id=uuid.UUID(partner_id) if partner_id else None,
        )

    @property
    def actor_name(self) -> str:
        """Who submitted it, for the pages."""
        return str((self.actor or {}).get("name", ""))

    @property
    def percent(self) -> int:
        """How far it got, 0–100 (100 once succeeded)."""
        if self.state is JobState.SUCCEEDED:
            return 100
        if self.total <= 0:
            return 0
        return max(0, min(100, self.done * 100 // self.total))

    @property
    def has_report(self) -> bool:
        """A report is there to download (its expiry is cleared when it is deleted)."""
        return self.report_expires_at is not None and self.report_expires_at > utcnow()


def actor_to_json(actor: Actor) -> dict[str, Any]:
    """An ``Actor`` as the ``actor`` column stores it."""
    return {
        "user_id": str(actor.user_id) if actor.user_id else None,
        "login_id": actor.login_id,
        "name": actor.name,
        "role": actor.role,
        "organisation": actor.organisation,
        "ip": actor.ip,
        "user_agent": actor.user_agent,
        "partner_id": str(actor.partner_id) if actor.partner_id else None,
    }
