"""duplicates: 重複の疑い instead of a refusal, payee link failures and lock, confirmation tokens

The unique blind index of vault_numbers becomes unique among unflagged numbers (a number stored knowing that
another person holds it is flagged and gets a number_duplicates row for the admin).

Revision ID: 0009
Revises: 0005
Create Date: 2026-11-30 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUPLICATE_STATUSES = ("重複の疑い", "同一人物", "誤りを削除", "番号変更で解消")


def upgrade() -> None:
    with op.batch_alter_table("vault_numbers") as batch:
        batch.add_column(sa.Column("flagged", sa.Boolean(), server_default=sa.text("false"), nullable=False))
        batch.drop_constraint("uq_vault_numbers_tenant_id_blind_index", type_="unique")
    op.create_index(
        "uq_vault_numbers_unflagged_blind_index",
        "vault_numbers",
        ["tenant_id", "blind_index"],
        unique=True,
        sqlite_where=sa.text("flagged = 0"),
        postgresql_where=sa.text("flagged = false"),
    )
    with op.batch_alter_table("payee_links") as batch:
        batch.add_column(sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch.add_column(sa.Column("locked_at", app.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("confirm_token_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("confirm_number_id", sa.Uuid(), nullable=True))
    op.create_table(
        "number_duplicates",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("other_person_id", sa.Uuid(), nullable=False),
        sa.Column("number_id", sa.Uuid(), nullable=False),
        sa.Column("other_number_id", sa.Uuid(), nullable=False),
        sa.Column("function", sa.String(length=50), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*DUPLICATE_STATUSES, name="duplicatestatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("resolved_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=False),
        sa.Column("erased_person_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "other_person_id"],
            ["people.tenant_id", "people.id"],
            name=op.f("fk_number_duplicates_tenant_id_other_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "person_id"],
            ["people.tenant_id", "people.id"],
            name=op.f("fk_number_duplicates_tenant_id_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_number_duplicates_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_number_duplicates")),
    )
    op.create_index("ix_number_duplicates_tenant_id_status", "number_duplicates", ["tenant_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_number_duplicates_tenant_id_status", table_name="number_duplicates")
    op.drop_table("number_duplicates")
    with op.batch_alter_table("payee_links") as batch:
        batch.drop_column("confirm_number_id")
        batch.drop_column("confirm_token_hash")
        batch.drop_column("locked_at")
        batch.drop_column("failures")
    op.drop_index("uq_vault_numbers_unflagged_blind_index", table_name="vault_numbers")
    with op.batch_alter_table("vault_numbers") as batch:
        batch.create_unique_constraint("uq_vault_numbers_tenant_id_blind_index", ["tenant_id", "blind_index"])
        batch.drop_column("flagged")
