"""Deletion due dates (issue 11): 削除予定日 on each person, the tenant's retention rule, the lists' indexes

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HAS_DUE = sa.text("deletion_due_on IS NOT NULL")
_RETIRED = sa.text("retirement_date IS NOT NULL")


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy on SQLite: that would drop the name-search triggers of 0012).
    op.add_column("people", sa.Column("deletion_due_on", sa.Date(), nullable=True))
    op.add_column("people", sa.Column("deletion_due_note", sa.Text(), nullable=False, server_default=""))
    op.add_column("people", sa.Column("deletion_due_proposed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("tenants", sa.Column("retention_purposes", sa.JSON(), nullable=True))
    op.add_column("tenants", sa.Column("deletion_reminder_on", sa.Date(), nullable=True))
    op.create_index(
        "ix_people_deletion_due",
        "people",
        ["tenant_id", "deletion_due_on", "id"],
        postgresql_where=_HAS_DUE,
        sqlite_where=_HAS_DUE,
    )
    op.create_index(
        "ix_people_retired",
        "people",
        ["tenant_id", "retirement_date", "id"],
        postgresql_where=_RETIRED,
        sqlite_where=_RETIRED,
    )
    op.create_index(
        "ix_people_deletion_status_code",
        "people",
        ["tenant_id", "status", "code_section", "list_owner_code", "family_id", "family_rank", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_people_deletion_status_code", table_name="people")
    op.drop_index("ix_people_retired", table_name="people")
    op.drop_index("ix_people_deletion_due", table_name="people")
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of tenants would fail its foreign keys once people exist.
    op.drop_column("tenants", "deletion_reminder_on")
    op.drop_column("tenants", "retention_purposes")
    op.drop_column("people", "deletion_due_proposed")
    op.drop_column("people", "deletion_due_note")
    op.drop_column("people", "deletion_due_on")
