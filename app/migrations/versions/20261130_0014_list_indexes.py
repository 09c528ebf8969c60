"""Indexes for the other lists (invitations, corrections, duplicates, staff, tenants, log); people.account_state

Revision ID: 0014
Revises: 0015
Create Date: 2026-11-30 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name: (table, columns, unique)
NEW_INDEXES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "ix_people_invitations": (
        "people",
        ("tenant_id", "kind", "account_state", "retirement_date", "list_owner_code", "id"),
        False,
    ),
    "ix_people_invitations_department": (
        "people",
        ("tenant_id", "kind", "department_id", "account_state", "retirement_date", "list_owner_code", "id"),
        False,
    ),
    "ix_accounts_tenant_id_person_id": ("accounts", ("tenant_id", "person_id"), True),
    "ix_accounts_tenant_id_role_login_id": ("accounts", ("tenant_id", "role", "login_id"), False),
    "ix_audit_entries_tenant_id_action_result_seq": ("audit_entries", ("tenant_id", "action", "result", "seq"), False),
    "ix_audit_entries_tenant_id_result_seq": ("audit_entries", ("tenant_id", "result", "seq"), False),
    "ix_correction_requests_tenant_id_status_created_at": (
        "correction_requests",
        ("tenant_id", "status", "created_at", "id"),
        False,
    ),
    "ix_correction_requests_tenant_id_decided_at": ("correction_requests", ("tenant_id", "decided_at", "id"), False),
    "ix_number_duplicates_tenant_id_status_created_at": (
        "number_duplicates",
        ("tenant_id", "status", "created_at", "id"),
        False,
    ),
    "ix_number_duplicates_tenant_id_resolved_at": ("number_duplicates", ("tenant_id", "resolved_at", "id"), False),
    "ix_tenants_kind_created_at": ("tenants", ("kind", "created_at", "id"), False),
}
# Replaced by a longer index with the same leading columns: name: (table, old columns, new columns or None).
REPLACED: dict[str, tuple[str, tuple[str, ...], tuple[str, ...] | None]] = {
    "ix_audit_entries_tenant_id_occurred_at": (
        "audit_entries",
        ("tenant_id", "occurred_at"),
        ("tenant_id", "occurred_at", "seq"),
    ),
    "ix_correction_requests_tenant_id_status": ("correction_requests", ("tenant_id", "status"), None),
    "ix_number_duplicates_tenant_id_status": ("number_duplicates", ("tenant_id", "status"), None),
}


def upgrade() -> None:
    # A plain ADD COLUMN: a batch rebuild of people on SQLite would drop 0012's search triggers with the old table.
    op.add_column("people", sa.Column("account_state", sa.Integer(), nullable=False, server_default=sa.text("0")))
    _backfill_account_state()
    for name, (table, _old, new) in REPLACED.items():
        op.drop_index(name, table_name=table)
        if new is not None:
            op.create_index(name, table, list(new))
    for name, (table, columns, unique) in NEW_INDEXES.items():
        op.create_index(name, table, list(columns), unique=unique)


def _backfill_account_state() -> None:
    """0 none, 1 one-time password, 2 in use, 3 access end set (tenants.account_listing.account_state)."""
    people = sa.table(
        "people",
        sa.column("tenant_id", sa.Uuid()),
        sa.column("id", sa.Uuid()),
        sa.column("account_state", sa.Integer()),
    )
    accounts = sa.table(
        "accounts",
        sa.column("tenant_id", sa.Uuid()),
        sa.column("person_id", sa.Uuid()),
        sa.column("role", sa.String()),
        sa.column("must_change_password", sa.Boolean()),
        sa.column("disabled_at", sa.DateTime()),
    )
    state = sa.case(
        (accounts.c.disabled_at.is_not(None), 3),
        (accounts.c.must_change_password == sa.true(), 1),
        else_=2,
    )
    linked = sa.and_(
        accounts.c.tenant_id == people.c.tenant_id,
        accounts.c.person_id == people.c.id,
        accounts.c.role == "employee",
    )
    connection = op.get_bind()
    connection.execute(
        sa.update(people)
        .values(account_state=sa.select(sa.func.max(state)).where(linked).scalar_subquery())
        .where(sa.exists().where(linked))
    )


def downgrade() -> None:
    for name, (table, _columns, _unique) in NEW_INDEXES.items():
        op.drop_index(name, table_name=table)
    for name, (table, old, new) in REPLACED.items():
        if new is not None:
            op.drop_index(name, table_name=table)
        op.create_index(name, table, list(old))
    # A plain DROP COLUMN (SQLite ≥ 3.35): a batch rebuild of people would drop 0012's search triggers with it.
    op.drop_column("people", "account_state")
