"""Row-level security (issue 16): every table with ``tenant_id`` gets forced row-level security and the
``tenant_isolation`` policy (PostgreSQL only; ``app.rls``)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from app.rls import protect_tenant_tables, unprotect_tenant_tables

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    protect_tenant_tables(op.get_bind())


def downgrade() -> None:
    unprotect_tenant_tables(op.get_bind())
