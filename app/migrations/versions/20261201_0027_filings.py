"""Filings (issue 15): 性別 and 雇用保険 被保険者番号 of a person, the tenant's 雇用保険 適用事業所番号

Plain ADD COLUMN on people and tenants (never a batch copy: other tables' foreign keys point at tenants, and the
name-search triggers live on people).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01 12:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("people", sa.Column("gender", sa.String(length=8), nullable=True))
    op.add_column("people", sa.Column("employment_insurance_number", sa.String(length=11), nullable=True))
    op.add_column(
        "tenants",
        sa.Column("employment_insurance_office_number", sa.String(length=11), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("tenants", "employment_insurance_office_number")
    op.drop_column("people", "employment_insurance_number")
    op.drop_column("people", "gender")
