"""foundation

Revision ID: 0001
Revises:
Create Date: 2026-11-22 01:44:39.860711
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column(
            "kind", sa.Enum("operator", "company", name="tenantkind", native_enum=False, length=24), nullable=False
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_kana", sa.String(length=200), nullable=False),
        sa.Column("corporate_number", sa.String(length=13), nullable=True),
        sa.Column("postal_code", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("representative", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("is_member", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("trial", "active", "suspended", "ended", name="tenantstatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("trial_ends_on", sa.Date(), nullable=True),
        sa.Column("contract_ends_on", sa.Date(), nullable=True),
        sa.Column("admin_seats", sa.Integer(), nullable=False),
        sa.Column("require_totp_for_employees", sa.Boolean(), nullable=False),
        sa.Column("purpose_notice", sa.Text(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("code", name=op.f("uq_tenants_code")),
    )
    op.create_table(
        "kv_store",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kv_store")),
        sa.UniqueConstraint("key", "namespace", name="uq_kv_store_key_namespace"),
    )
    with op.batch_alter_table("kv_store", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kv_store_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kv_store", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kv_store_expires_at"))

    op.drop_table("kv_store")
    op.drop_table("tenants")
