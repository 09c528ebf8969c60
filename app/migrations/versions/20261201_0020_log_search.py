"""Operation-log search (issue 11): indexes for the log screen filters, and the last check of each chain

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each filter of the 操作履歴 search is one index range ending in seq (tenants.services._log_search).
NEW_INDEXES = {
    "ix_audit_entries_tenant_id_subject_person_id_seq": ["tenant_id", "subject_person_id", "seq"],
    "ix_audit_entries_tenant_id_subject_employee_code_seq": ["tenant_id", "subject_employee_code", "seq"],
    "ix_audit_entries_tenant_id_subject_department_code_seq": ["tenant_id", "subject_department_code", "seq"],
    "ix_audit_entries_tenant_id_actor_login_id_seq": ["tenant_id", "actor_login_id", "seq"],
}
OLD_PERSON_INDEX = "ix_audit_entries_tenant_id_subject_person_id"


def upgrade() -> None:
    # Indexes only: no table rewrite, so no batch mode is needed on SQLite (and the append-only trigger stays).
    for name, columns in NEW_INDEXES.items():
        op.create_index(name, "audit_entries", columns)
    op.drop_index(OLD_PERSON_INDEX, table_name="audit_entries")
    op.create_table(
        "audit_chain_checks",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("checked_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("through_seq", sa.BigInteger(), nullable=False),
        sa.Column("first_bad_seq", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("checkpoint_seq", sa.BigInteger(), nullable=True),
        sa.Column("checkpoint_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_chain_checks_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "kind", name=op.f("pk_audit_chain_checks")),
    )


def downgrade() -> None:
    op.drop_table("audit_chain_checks")
    op.create_index(OLD_PERSON_INDEX, "audit_entries", ["tenant_id", "subject_person_id"])
    for name in NEW_INDEXES:
        op.drop_index(name, table_name="audit_entries")
