"""Sealed blob storage (issue 12): stored blobs metadata and per-person document keys

- ``document_keys``: whose each document key is (the key itself is only in the key store, wrapped by the tenant
  data key); one live key per person (partial unique index); erasing the person's My Number sets ``destroyed_at``.
- ``document_blobs``: metadata of each sealed image (person, key, kind, size and SHA-256 of the sealed bytes,
  expiry); the bytes are in the blob store. Indexes lead with tenant_id.
- ``storage_usage``: each tenant's sealed bytes and count per storage area (``documents``): the quota's counter.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_KEY = "destroyed_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "document_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_key_version", sa.Integer(), nullable=False),
        sa.Column("destroyed_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_document_keys_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_document_keys")),
    )
    op.create_index(
        "uq_document_keys_live_person",
        "document_keys",
        ["tenant_id", "person_id"],
        unique=True,
        sqlite_where=sa.text(LIVE_KEY),
        postgresql_where=sa.text(LIVE_KEY),
    )
    op.create_table(
        "document_blobs",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("expires_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_document_blobs_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_document_blobs")),
    )
    op.create_index("ix_document_blobs_tenant_id_person_id", "document_blobs", ["tenant_id", "person_id"])
    op.create_index("ix_document_blobs_tenant_id_key_id", "document_blobs", ["tenant_id", "key_id"])
    op.create_index("ix_document_blobs_tenant_id_expires_at", "document_blobs", ["tenant_id", "expires_at"])
    op.create_table(
        "storage_usage",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("area", sa.String(length=20), nullable=False),
        sa.Column("used_bytes", sa.BigInteger(), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_storage_usage_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "area", name=op.f("pk_storage_usage")),
    )


def downgrade() -> None:
    op.drop_table("storage_usage")
    op.drop_index("ix_document_blobs_tenant_id_expires_at", table_name="document_blobs")
    op.drop_index("ix_document_blobs_tenant_id_key_id", table_name="document_blobs")
    op.drop_index("ix_document_blobs_tenant_id_person_id", table_name="document_blobs")
    op.drop_table("document_blobs")
    op.drop_index("uq_document_keys_live_person", table_name="document_keys")
    op.drop_table("document_keys")
