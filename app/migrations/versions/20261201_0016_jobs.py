"""Background jobs (issue 10): the jobs table

One row per job of a tenant: kind, state, who asked, progress figures, a Japanese message, the sealed input (only
until the job ends) and the sealed report (until downloaded or expired). Primary key (tenant_id, id); the list's
index leads with tenant_id; two small partial indexes serve the runners' claim and the report expiry.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-01 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE = "state IN ('queued', 'running')"
WITH_REPORT = "report_expires_at IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("state", sa.Enum(*JOB_STATES, name="jobstate", native_enum=False, length=24), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("actor", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("error_id", sa.String(length=16), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("runner", sa.String(length=200), nullable=True),
        sa.Column("started_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("input_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("report_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("report_media_type", sa.String(length=100), nullable=False),
        sa.Column("report_filename", sa.String(length=200), nullable=False),
        sa.Column("report_size", sa.Integer(), nullable=False),
        sa.Column("report_once", sa.Boolean(), nullable=False),
        sa.Column("report_expires_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "created_by"],
            ["accounts.tenant_id", "accounts.id"],
            name=op.f("fk_jobs_tenant_id_created_by_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_jobs_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_tenant_id_created_at_id", "jobs", ["tenant_id", "created_at", "id"])
    op.create_index(
        "ix_jobs_active_state_created_at_id",
        "jobs",
        ["state", "created_at", "id"],
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )
    op.create_index(
        "ix_jobs_report_expires_at",
        "jobs",
        ["report_expires_at"],
        sqlite_where=sa.text(WITH_REPORT),
        postgresql_where=sa.text(WITH_REPORT),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_report_expires_at", table_name="jobs")
    op.drop_index("ix_jobs_active_state_created_at_id", table_name="jobs")
    op.drop_index("ix_jobs_tenant_id_created_at_id", table_name="jobs")
    op.drop_table("jobs")
