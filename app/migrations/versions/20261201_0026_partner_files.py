"""Partner file exchange (issue 14): files between a client and its office, the person's confidential box, 機密 access

``exchange_files`` is a tenant table of the CLIENT (tenant_id = client, partner_id = office), like
``partner_links``; the office's list reads one range of ``partner_id``. Unread files (badges, sign-in notices) and
expiring files (the retention run) each have a partial index holding only those rows. ``person_box_files`` keeps
the file names of a person's 個人ボックス; the bytes are ``document_blobs`` sealed under the person's document key.
``accounts.confidential_access``: may open files saved as 機密.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 08:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNREAD = "read_at IS NULL"  # partners.models.UNREAD_FILE_SQL
EXPIRING = "expires_at IS NOT NULL"  # partners.models.EXPIRING_FILE_SQL


def upgrade() -> None:
    op.add_column("accounts", sa.Column("confidential_access", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "exchange_files",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("sender_side", sa.String(length=24), nullable=False),
        sa.Column("sender_account_id", sa.Uuid(), nullable=True),
        sa.Column("sender_name", sa.String(length=100), nullable=False),
        sa.Column("message", sa.String(length=2000), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sealed_size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("expires_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("saved_as", sa.String(length=24), nullable=True),
        sa.Column("saved_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("saved_by_name", sa.String(length=100), nullable=False),
        sa.Column("read_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("read_by_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["tenants.id"], name=op.f("fk_exchange_files_partner_id_tenants"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_exchange_files_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_exchange_files")),
    )
    op.create_index("ix_exchange_files_tenant_id_created_at", "exchange_files", ["tenant_id", "created_at"])
    op.create_index(
        "ix_exchange_files_partner_id_created_at", "exchange_files", ["partner_id", "created_at", "tenant_id"]
    )
    op.create_index(
        "ix_exchange_files_partner_id_sender_side_unread",
        "exchange_files",
        ["partner_id", "sender_side", "tenant_id"],
        sqlite_where=sa.text(UNREAD),
        postgresql_where=sa.text(UNREAD),
    )
    op.create_index(
        "ix_exchange_files_expires_at",
        "exchange_files",
        ["expires_at"],
        sqlite_where=sa.text(EXPIRING),
        postgresql_where=sa.text(EXPIRING),
    )
    op.create_table(
        "person_box_files",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by_side", sa.String(length=24), nullable=False),
        sa.Column("uploaded_by_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_person_box_files_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_person_box_files")),
    )
    op.create_index(
        "ix_person_box_files_tenant_id_person_id_created_at",
        "person_box_files",
        ["tenant_id", "person_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_person_box_files_tenant_id_person_id_created_at", table_name="person_box_files")
    op.drop_table("person_box_files")
    op.drop_index("ix_exchange_files_expires_at", table_name="exchange_files")
    op.drop_index("ix_exchange_files_partner_id_sender_side_unread", table_name="exchange_files")
    op.drop_index("ix_exchange_files_partner_id_created_at", table_name="exchange_files")
    op.drop_index("ix_exchange_files_tenant_id_created_at", table_name="exchange_files")
    op.drop_table("exchange_files")
    # Plain DROP COLUMN (SQLite 3.35+), as 0023 does on tenants: no batch copy of a table others point at.
    op.drop_column("accounts", "confidential_access")
