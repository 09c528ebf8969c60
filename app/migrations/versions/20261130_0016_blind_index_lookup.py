"""vault_numbers: an index on (tenant_id, blind_index) over every row, flagged numbers included

Since 0009 the only index on the blind index is the unique one among unflagged numbers. The duplicate checks
(``store_many``'s conflicts and held indexes, ``other_holders``, ``find_duplicate``) look at every live number,
flagged ones too, so they could not use it and read the tenant's whole vault_numbers for every batch: filling a
tenant slowed down quadratically. This index serves them; the partial unique one still enforces uniqueness.

Revision ID: 0016
Revises: 0011
Create Date: 2026-11-30 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_vault_numbers_tenant_id_blind_index", "vault_numbers", ["tenant_id", "blind_index"])


def downgrade() -> None:
    op.drop_index("ix_vault_numbers_tenant_id_blind_index", table_name="vault_numbers")
