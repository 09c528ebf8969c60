"""purposes notified per tenant; retired employees' accounts follow the 退職日

Revision ID: 0010
Revises: 0005
Create Date: 2026-11-30 19:00:00
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JST = dt.timezone(dt.timedelta(hours=9), "JST")


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("notified_purposes", sa.JSON(), nullable=True))
    _disable_retired_accounts()


def _disable_retired_accounts() -> None:
    """Employees retired before this revision: their accounts end on the 退職日 (00:00 JST), sessions with them."""
    people = sa.table(
        "people",
        sa.column("tenant_id", sa.Uuid()),
        sa.column("id", sa.Uuid()),
        sa.column("kind", sa.String()),
        sa.column("retirement_date", sa.Date()),
    )
    accounts = sa.table(
        "accounts",
        sa.column("tenant_id", sa.Uuid()),
        sa.column("person_id", sa.Uuid()),
        sa.column("role", sa.String()),
        sa.column("disabled_at", app.db.UTCDateTime(timezone=True)),
        sa.column("session_epoch", sa.Integer()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(people.c.tenant_id, people.c.id, people.c.retirement_date).where(
            people.c.kind == "employee", people.c.retirement_date.is_not(None)
        )
    ).all()
    for tenant_id, person_id, retirement_date in rows:
        ends = dt.datetime.combine(retirement_date, dt.time(0), _JST).astimezone(dt.UTC)
        bind.execute(
            accounts.update()
            .where(
                accounts.c.tenant_id == tenant_id,
                accounts.c.person_id == person_id,
                accounts.c.role == "employee",
                accounts.c.disabled_at.is_(None),
            )
            .values(disabled_at=ends, session_epoch=accounts.c.session_epoch + 1)
        )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy of ``tenants`` would break the foreign keys pointing at it.
    op.drop_column("tenants", "notified_purposes")
