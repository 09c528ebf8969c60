"""people.search_key: names found ignoring spaces and kana script (backfilled from name and kana)

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-30 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.text import person_search_key

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("search_key", sa.String(length=250), nullable=False, server_default=""))
    people = sa.table(
        "people",
        sa.column("tenant_id", sa.Uuid()),
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("kana", sa.String()),
        sa.column("search_key", sa.String()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(people.c.tenant_id, people.c.id, people.c.name, people.c.kana)).all()
    for tenant_id, person_id, name, kana in rows:
        connection.execute(
            people.update()
            .where(people.c.tenant_id == tenant_id, people.c.id == person_id)
            .values(search_key=person_search_key(name or "", kana or ""))
        )
    op.create_index("ix_people_tenant_id_search_key", "people", ["tenant_id", "search_key"])


def downgrade() -> None:
    op.drop_index("ix_people_tenant_id_search_key", table_name="people")
    with op.batch_alter_table("people") as batch:
        batch.drop_column("search_key")
