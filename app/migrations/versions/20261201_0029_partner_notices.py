"""Notices (issue 15, seed 002 連絡管理): ``partner_notices`` of the CLIENT (tenant_id = client) and the attachment
link ``exchange_files.notice_id``

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-01 16:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_notices",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("sender_account_id", sa.Uuid(), nullable=True),
        sa.Column("sender_name", sa.String(length=100), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("subject_name", sa.String(length=250), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("number_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("result", sa.String(length=1000), nullable=False),
        sa.Column("applied_person_id", sa.Uuid(), nullable=True),
        sa.Column("handled_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("handled_by_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["tenants.id"], name=op.f("fk_partner_notices_partner_id_tenants"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_partner_notices_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_partner_notices")),
    )
    op.create_index("ix_partner_notices_tenant_id_created_at", "partner_notices", ["tenant_id", "created_at"])
    op.create_index(
        "ix_partner_notices_partner_id_created_at", "partner_notices", ["partner_id", "created_at", "tenant_id"]
    )
    op.create_index(
        "ix_partner_notices_partner_id_tenant_id_created_at",
        "partner_notices",
        ["partner_id", "tenant_id", "created_at"],
    )
    op.create_index("ix_partner_notices_created_at", "partner_notices", ["created_at"])
    op.add_column("exchange_files", sa.Column("notice_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("exchange_files", "notice_id")
    op.drop_index("ix_partner_notices_created_at", table_name="partner_notices")
    op.drop_index("ix_partner_notices_partner_id_tenant_id_created_at", table_name="partner_notices")
    op.drop_index("ix_partner_notices_partner_id_created_at", table_name="partner_notices")
    op.drop_index("ix_partner_notices_tenant_id_created_at", table_name="partner_notices")
    op.drop_table("partner_notices")
