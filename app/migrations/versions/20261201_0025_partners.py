"""Partners (issue 14): 社労士事務所 as tenants of kind ``partner``, consented client links, and the office's log

``tenants.partner_registration_number``: the office's 社労士登録番号 (8 digits). ``partner_links`` is a tenant table of
the CLIENT (tenant_id = client, partner_id = office); at most one open (not ended) link per pair. The office's
cross-client log reads ``audit_entries.actor_partner_id`` through a partial index that holds only partner entries
(like ``ix_jobs_report_expires_at``, it does not lead with tenant_id: it is one range for the office).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 08:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_LINK = "status <> 'ended'"  # partners.models.OPEN_LINK_SQL
PARTNER_ENTRY = "actor_partner_id IS NOT NULL"  # app.audit.models.PARTNER_ENTRY_SQL


def upgrade() -> None:
    op.add_column("tenants", sa.Column("partner_registration_number", sa.String(length=8), nullable=True))
    op.add_column("audit_entries", sa.Column("actor_partner_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_audit_entries_actor_partner_id_occurred_at",
        "audit_entries",
        ["actor_partner_id", "occurred_at", "tenant_id", "seq"],
        sqlite_where=sa.text(PARTNER_ENTRY),
        postgresql_where=sa.text(PARTNER_ENTRY),
    )
    op.create_table(
        "partner_links",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("power", sa.String(length=24), nullable=False),
        sa.Column("requested_by_side", sa.String(length=24), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("requested_by_name", sa.String(length=100), nullable=False),
        sa.Column("consented_by", sa.Uuid(), nullable=True),
        sa.Column("consented_by_name", sa.String(length=100), nullable=False),
        sa.Column("consented_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("activated_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.Uuid(), nullable=True),
        sa.Column("ended_by_name", sa.String(length=100), nullable=False),
        sa.Column("ended_by_side", sa.String(length=24), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["tenants.id"], name=op.f("fk_partner_links_partner_id_tenants"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_partner_links_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_partner_links")),
    )
    op.create_index(
        "ix_partner_links_tenant_id_partner_id_open",
        "partner_links",
        ["tenant_id", "partner_id"],
        unique=True,
        sqlite_where=sa.text(OPEN_LINK),
        postgresql_where=sa.text(OPEN_LINK),
    )
    op.create_index(
        "ix_partner_links_partner_id_status_tenant_id", "partner_links", ["partner_id", "status", "tenant_id"]
    )
    op.create_index("ix_partner_links_tenant_id_created_at", "partner_links", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_partner_links_tenant_id_created_at", table_name="partner_links")
    op.drop_index("ix_partner_links_partner_id_status_tenant_id", table_name="partner_links")
    op.drop_index("ix_partner_links_tenant_id_partner_id_open", table_name="partner_links")
    op.drop_table("partner_links")
    op.drop_index("ix_audit_entries_actor_partner_id_occurred_at", table_name="audit_entries")
    op.drop_column("audit_entries", "actor_partner_id")
    op.drop_column("tenants", "partner_registration_number")
