"""Retention jobs and the employee own-log page (issue 11): indexes the retention run reads expired items by

``app.retention`` looks, once per run and across tenants, for one-time passwords past their time and for payee
links past their grace period. Like ``ix_jobs_report_expires_at`` these indexes lead with the expiry, not with
tenant_id: the run is one range read for the whole service (on Citus: one per shard), not one probe per tenant.
The accounts index is partial: only accounts holding a one-time password (``password_expires_at`` is set only
then, and the retention clears the hash), so it stays as small as the pending invitations.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_TIME = "password_hash IS NOT NULL AND password_expires_at IS NOT NULL"  # app.auth.models.ONE_TIME_PASSWORD_SQL


def upgrade() -> None:
    op.create_index(
        "ix_accounts_one_time_password_expires_at",
        "accounts",
        ["password_expires_at"],
        sqlite_where=sa.text(ONE_TIME),
        postgresql_where=sa.text(ONE_TIME),
    )
    op.create_index("ix_payee_links_expires_at", "payee_links", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_payee_links_expires_at", table_name="payee_links")
    op.drop_index("ix_accounts_one_time_password_expires_at", table_name="accounts")
