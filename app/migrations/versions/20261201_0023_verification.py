"""Identity verification (issue 12): submissions, images, verification records

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING_ONLY = "status = '審査中'"  # verification.models.PENDING_ONLY


def _tenant_fks(table: str, column: str, target: str) -> list[sa.ForeignKeyConstraint]:
    return [
        sa.ForeignKeyConstraint(
            ["tenant_id", column],
            [f"{target}.tenant_id", f"{target}.id"],
            name=op.f(f"fk_{table}_tenant_id_{column}_{target}"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{table}")),
    ]


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.add_column("tenants", sa.Column("verification_enabled", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "verifications",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("submitted_by", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("審査中", "承認", "差戻し", "無効", name="verificationstatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("number_document", sa.String(length=32), nullable=False),
        sa.Column("identity_documents", sa.JSON(), nullable=False),
        sa.Column("notification_card_confirmed", sa.Boolean(), nullable=False),
        sa.Column("submitted_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=100), nullable=False),
        sa.Column("reject_reason", sa.String(length=50), nullable=False),
        sa.Column("reject_note", sa.Text(), nullable=False),
        sa.Column("images_expire_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("images_deleted_at", app.db.UTCDateTime(timezone=True), nullable=True),
        *_timestamps(),
        *_tenant_fks("verifications", "person_id", "people"),
    )
    op.create_index(
        "ix_verifications_tenant_id_status_submitted_at",
        "verifications",
        ["tenant_id", "status", "submitted_at", "id"],
    )
    op.create_index(
        "ix_verifications_tenant_id_status_department_id",
        "verifications",
        ["tenant_id", "status", "department_id", "submitted_at", "id"],
    )
    op.create_index(
        "ix_verifications_tenant_id_person_id_submitted_at", "verifications", ["tenant_id", "person_id", "submitted_at"]
    )
    op.create_index("ix_verifications_images_expire_at", "verifications", ["images_expire_at"])
    op.create_index(
        "uq_verifications_pending_person",
        "verifications",
        ["tenant_id", "person_id"],
        unique=True,
        sqlite_where=sa.text(PENDING_ONLY),
        postgresql_where=sa.text(PENDING_ONLY),
    )
    op.create_table(
        "verification_images",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("verification_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("document_kind", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        *_timestamps(),
        *_tenant_fks("verification_images", "verification_id", "verifications"),
    )
    op.create_index(
        "ix_verification_images_tenant_id_verification_id",
        "verification_images",
        ["tenant_id", "verification_id", "position"],
    )
    op.create_table(
        "verification_records",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("number_id", sa.Uuid(), nullable=False),
        sa.Column("number_checked", sa.Boolean(), nullable=False),
        sa.Column("identity_checked", sa.Boolean(), nullable=False),
        sa.Column("document_kinds", sa.JSON(), nullable=False),
        sa.Column(
            "method",
            sa.Enum("画像", "対面", "郵送", name="verificationmethod", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("reviewer_id", sa.Uuid(), nullable=True),
        sa.Column("reviewer_name", sa.String(length=100), nullable=False),
        sa.Column("verified_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("verification_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        *_timestamps(),
        *_tenant_fks("verification_records", "person_id", "people"),
    )
    op.create_index(
        "ix_verification_records_tenant_id_person_id_verified_at",
        "verification_records",
        ["tenant_id", "person_id", "verified_at"],
    )
    op.create_index("ix_verification_records_tenant_id_number_id", "verification_records", ["tenant_id", "number_id"])


def downgrade() -> None:
    op.drop_table("verification_records")
    op.drop_table("verification_images")
    op.drop_table("verifications")
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of tenants would fail its foreign keys once rows exist.
    op.drop_column("tenants", "verification_enabled")
