"""indexes that leave the planner one sensible plan: vault_numbers (tenant_id, blind_index); people (tenant_id,
employee_id, kind) in place of (tenant_id, employee_id)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The duplicate check looks numbers up by blind index, flagged ones included: the unique index is partial
    # (unflagged only) and cannot serve it, so without this one every plan scanned the tenant's numbers.
    op.create_index("ix_vault_numbers_tenant_id_blind_index", "vault_numbers", ["tenant_id", "blind_index"])
    # An employee's dependants (tenant_id, employee_id, kind = dependant): every condition on one index, so no
    # planner (SQLite without statistics included) prefers (tenant_id, kind, status) and reads all dependants.
    op.create_index("ix_people_tenant_id_employee_id_kind", "people", ["tenant_id", "employee_id", "kind"])
    op.drop_index("ix_people_tenant_id_employee_id", table_name="people")


def downgrade() -> None:
    op.create_index("ix_people_tenant_id_employee_id", "people", ["tenant_id", "employee_id"])
    op.drop_index("ix_people_tenant_id_employee_id_kind", table_name="people")
    op.drop_index("ix_vault_numbers_tenant_id_blind_index", table_name="vault_numbers")
