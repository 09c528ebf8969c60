"""Scale-out (issue 16): when the ``citus`` extension is installed, distribute every tenant table by ``tenant_id``
(co-located) and make the shared tables reference tables; nothing otherwise (``app.citus``)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-02 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from app.citus import distribute_if_citus

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    distribute_if_citus(op.get_bind())


def downgrade() -> None:
    # Distribution is storage, not schema: a downgrade leaves the tables distributed (Citus's undistribute_table
    # brings one back to the coordinator if ever wanted).
    pass
