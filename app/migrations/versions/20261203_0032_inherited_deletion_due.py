"""A dependant's inherited 削除予定日 (issue 11): ``people.deletion_due_inherited``, and the employee's date copied onto
the dependants that go by it, so the deletion list, its 削除予定日超過 filter, the home's reminder, the CLI and the
mail show and find them (``tenants.due_following``)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_people = sa.table(
    "people",
    sa.column("tenant_id", sa.Uuid()),
    sa.column("id", sa.Uuid()),
    sa.column("kind", sa.String()),
    sa.column("status", sa.String()),
    sa.column("employee_id", sa.Uuid()),
    sa.column("retirement_date", sa.Date()),
    sa.column("deletion_due_on", sa.Date()),
    sa.column("deletion_due_note", sa.Text()),
    sa.column("deletion_due_proposed", sa.Boolean()),
    sa.column("deletion_due_inherited", sa.Boolean()),
)


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy on SQLite: that would drop the name-search triggers of 0012).
    op.add_column(
        "people", sa.Column("deletion_due_inherited", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    # The dependants that went by their employee's date (no date and no 予定解除 of their own, or the proposal the
    # employee's 退職日 gave them, having no end of 扶養 of their own) take the employee's date, marked inherited.
    # Their row and the employee's share the tenant: the subquery joins on (tenant_id, id) (co-located on Citus).
    dependant = _people  # the row updated; the employee's is read through an alias
    employee = _people.alias("e")
    of_employee = sa.and_(employee.c.tenant_id == dependant.c.tenant_id, employee.c.id == dependant.c.employee_id)
    employee_due = sa.select(employee.c.deletion_due_on).where(of_employee).scalar_subquery()
    has_due = sa.exists().where(of_employee, employee.c.deletion_due_on.is_not(None))
    following = sa.or_(
        sa.and_(dependant.c.deletion_due_on.is_(None), dependant.c.deletion_due_note == ""),
        sa.and_(dependant.c.deletion_due_proposed.is_(True), dependant.c.retirement_date.is_(None)),
    )
    op.execute(
        dependant.update()
        .where(
            dependant.c.kind == "dependant",
            dependant.c.employee_id.is_not(None),
            dependant.c.status != "削除済",
            following,
            has_due,
        )
        .values(deletion_due_on=employee_due, deletion_due_proposed=False, deletion_due_inherited=True)
    )


def downgrade() -> None:
    # The copies stay as the dependants' proposals (the earlier rule read them as a date of their own).
    op.execute(
        _people.update()
        .where(_people.c.deletion_due_inherited.is_(True))
        .values(deletion_due_proposed=True, deletion_due_inherited=False)
    )
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy would drop the name-search triggers.
    op.drop_column("people", "deletion_due_inherited")
