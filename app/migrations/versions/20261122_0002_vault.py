"""vault: wrapped tenant keys and sealed numbers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:52:03.254067
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "erased_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "tenant_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_data_key", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_index_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_keys_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "version", name=op.f("pk_tenant_keys")),
    )
    op.create_table(
        "vault_numbers",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column(
            "field",
            sa.Enum("my_number", "corporate_number", name="numberfield", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("nonce", sa.LargeBinary(length=12), nullable=True),
        sa.Column("tenant_key_version", sa.Integer(), nullable=False),
        sa.Column("blind_index", sa.LargeBinary(length=32), nullable=True),
        sa.Column("masked", sa.String(length=16), nullable=False),
        sa.Column("registered_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("erased_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("erase_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_vault_numbers_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_vault_numbers")),
        sa.UniqueConstraint("tenant_id", "blind_index", name=op.f("uq_vault_numbers_tenant_id_blind_index")),
    )
    # One live number per person and field; erased rows keep their history.
    op.create_index(
        "uq_vault_numbers_live_subject_field",
        "vault_numbers",
        ["tenant_id", "subject_id", "field"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_vault_numbers_live_subject_field", table_name="vault_numbers")
    op.drop_table("vault_numbers")
    op.drop_table("tenant_keys")
