"""Deletion due dates (issue 11): 削除予定日 on each person

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


def upgrade() -> None:
    op.add_column("people", sa.Column("deletion_due_on", sa.Date(), nullable=True))
    op.add_column("people", sa.Column("deletion_due_note", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("people", "deletion_due_note")
    op.drop_column("people", "deletion_due_on")
