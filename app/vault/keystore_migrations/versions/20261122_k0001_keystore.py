"""key store: wrapped per-number keys

Revision ID: k0001
Revises:
Create Date: 2026-11-22 01:51:55.163812
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "k0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "number_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("number_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "number_id", name=op.f("pk_number_keys")),
    )
    with op.batch_alter_table("number_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_number_keys_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("number_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_number_keys_created_at"))
    op.drop_table("number_keys")
