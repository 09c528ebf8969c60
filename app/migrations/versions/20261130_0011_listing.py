"""people: list placement columns and sort indexes; people_counts (backfilled)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 22:00:00
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NO_DEPARTMENT = uuid.UUID(int=0)
SORTS = {
    "department": ("department_section", "list_department_code", ("list_owner_code", "family_id", "family_rank", "id")),
    "code": ("code_section", "list_owner_code", ("family_id", "family_rank", "id")),
    "registered": ("registered_section", "registered_at", ("family_id", "family_rank", "id")),
}


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("family_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("family_rank", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("list_department_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("list_department_code", sa.String(length=32), nullable=False, server_default=""))
        batch.add_column(sa.Column("list_owner_code", sa.String(length=32), nullable=False, server_default=""))
        batch.add_column(sa.Column("department_section", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("code_section", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("registered_section", sa.Integer(), nullable=False, server_default=sa.text("1")))
    op.create_table(
        "people_counts",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("employee", "dependant", "payee", name="personkind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "未登録",
                "登録済",
                "代理登録済",
                "本人番号確認済",
                "管理者確認済",
                "提供拒否",
                "削除済",
                name="collectionstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_people_counts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "department_id", "kind", "status", name=op.f("pk_people_counts")),
    )
    _backfill()
    for sort, (section, key, tail) in SORTS.items():
        op.create_index(f"ix_people_list_{sort}_asc", "people", ["tenant_id", section, key, *tail])
        op.create_index(
            f"ix_people_list_{sort}_desc", "people", ["tenant_id", section, sa.literal_column(key).desc(), *tail]
        )


def _backfill() -> None:
    people = sa.table(
        "people",
        *(sa.column(name, sa.Uuid()) for name in ("tenant_id", "id", "employee_id", "department_id", "family_id")),
        sa.column("list_department_id", sa.Uuid()),
        sa.column("kind", sa.String()),
        sa.column("status", sa.String()),
        sa.column("employee_code", sa.String()),
        sa.column("registered_at", sa.DateTime()),
        *(sa.column(name, sa.Integer()) for name in ("family_rank", "department_section", "code_section")),
        sa.column("registered_section", sa.Integer()),
        sa.column("list_department_code", sa.String()),
        sa.column("list_owner_code", sa.String()),
    )
    departments = sa.table(
        "departments", sa.column("tenant_id", sa.Uuid()), sa.column("id", sa.Uuid()), sa.column("code", sa.String())
    )
    owner = people.alias("owner")
    connection = op.get_bind()
    dependant = people.c.kind == "dependant"
    employee = people.c.kind == "employee"

    def owner_value(column: str) -> sa.ScalarSelect:
        return (
            sa.select(owner.c[column])
            .where(owner.c.tenant_id == people.c.tenant_id, owner.c.id == people.c.employee_id)
            .scalar_subquery()
        )

    connection.execute(
        people.update().values(
            family_id=sa.case((dependant, people.c.employee_id), else_=people.c.id),
            family_rank=sa.case((dependant, 1), else_=0),
            list_department_id=sa.case(
                (dependant, owner_value("department_id")), (employee, people.c.department_id), else_=None
            ),
            list_owner_code=sa.case(
                (dependant, sa.func.coalesce(owner_value("employee_code"), "")),
                (employee, sa.func.coalesce(people.c.employee_code, "")),
                else_="",
            ),
            registered_section=sa.case((people.c.registered_at.is_(None), 1), else_=0),
        )
    )
    department_code = (
        sa.select(departments.c.code)
        .where(departments.c.tenant_id == people.c.tenant_id, departments.c.id == people.c.list_department_id)
        .scalar_subquery()
    )
    payee = people.c.kind == "payee"
    connection.execute(
        people.update().values(
            list_department_code=sa.func.coalesce(department_code, ""),
            department_section=sa.case((payee, 2), (people.c.list_department_id.is_(None), 1), else_=0),
            code_section=sa.case((payee, 2), (people.c.list_owner_code == "", 1), else_=0),
        )
    )
    counts = sa.table(
        "people_counts",
        sa.column("tenant_id", sa.Uuid()),
        sa.column("department_id", sa.Uuid()),
        sa.column("kind", sa.String()),
        sa.column("status", sa.String()),
        sa.column("count", sa.Integer()),
    )
    grouped = connection.execute(
        sa.select(
            people.c.tenant_id, people.c.list_department_id, people.c.kind, people.c.status, sa.func.count()
        ).group_by(people.c.tenant_id, people.c.list_department_id, people.c.kind, people.c.status)
    ).all()
    rows = [
        {"tenant_id": t, "department_id": d or NO_DEPARTMENT, "kind": k, "status": s, "count": n}
        for t, d, k, s, n in grouped
    ]
    if rows:
        connection.execute(counts.insert(), rows)


def downgrade() -> None:
    for sort in SORTS:
        op.drop_index(f"ix_people_list_{sort}_desc", table_name="people")
        op.drop_index(f"ix_people_list_{sort}_asc", table_name="people")
    op.drop_table("people_counts")
    with op.batch_alter_table("people") as batch:
        for column in (
            "registered_section",
            "code_section",
            "department_section",
            "list_owner_code",
            "list_department_code",
            "list_department_id",
            "family_rank",
            "family_id",
        ):
            batch.drop_column(column)
