"""Indexes for the admin home's lists (people, payee_links, audit_entries); settled identity changes cleared

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECLINED = "declined_at IS NOT NULL"
IDENTITY_CHANGED = "identity_changed_at IS NOT NULL"
LOCKED = "locked_at IS NOT NULL AND revoked_at IS NULL AND used_at IS NULL"
OPERATOR_ACTS = "function IN ('運営者による管理者の登録', '管理者ID数の変更')"  # tenants.models.OPERATOR_ACTS


def _partial(name: str, table: str, columns: list[str], where: str) -> None:
    op.create_index(name, table, columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def upgrade() -> None:
    # An identity change stays a warning only until an admin confirms the number again (then it is cleared), so the
    # partial index holds only the warnings; clear those an earlier confirmation already settled.
    op.execute(
        "UPDATE people SET identity_changed_at = NULL WHERE identity_changed_at IS NOT NULL"
        " AND (admin_confirmed_at IS NULL OR identity_changed_at <= admin_confirmed_at)"
    )
    op.create_index(
        "ix_people_tenant_id_status_registered_at", "people", ["tenant_id", "status", "registered_at", "id"]
    )
    _partial("ix_people_declined", "people", ["tenant_id", "declined_at", "id"], DECLINED)
    _partial("ix_people_identity_changed", "people", ["tenant_id", "identity_changed_at", "id"], IDENTITY_CHANGED)
    _partial("ix_payee_links_locked", "payee_links", ["tenant_id", "locked_at", "id"], LOCKED)
    _partial("ix_audit_entries_operator_acts", "audit_entries", ["tenant_id", "seq"], OPERATOR_ACTS)


def downgrade() -> None:
    op.drop_index("ix_audit_entries_operator_acts", table_name="audit_entries")
    op.drop_index("ix_payee_links_locked", table_name="payee_links")
    op.drop_index("ix_people_identity_changed", table_name="people")
    op.drop_index("ix_people_declined", table_name="people")
    op.drop_index("ix_people_tenant_id_status_registered_at", table_name="people")
