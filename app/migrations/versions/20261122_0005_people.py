"""people

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 02:10:04.367401
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_departments_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_departments")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_departments_tenant_id_code")),
    )
    op.create_table(
        "people",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("employee", "dependant", "payee", name="personkind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("employee_code", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kana", sa.String(length=100), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("hire_date", sa.Date(), nullable=True),
        sa.Column("retirement_date", sa.Date(), nullable=True),
        sa.Column("social_insurance_acquired_on", sa.Date(), nullable=True),
        sa.Column("social_insurance_lost_on", sa.Date(), nullable=True),
        sa.Column("employment_insurance_acquired_on", sa.Date(), nullable=True),
        sa.Column("employment_insurance_lost_on", sa.Date(), nullable=True),
        sa.Column("employee_id", sa.Uuid(), nullable=True),
        sa.Column(
            "relationship",
            sa.Enum(
                "配偶者",
                "子",
                "父",
                "母",
                "祖父",
                "祖母",
                "兄弟姉妹",
                "孫",
                "その他",
                name="relationship",
                native_enum=False,
                length=24,
            ),
            nullable=True,
        ),
        sa.Column(
            "payee_type",
            sa.Enum("individual", "corporation", name="payeetype", native_enum=False, length=24),
            nullable=True,
        ),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("payment_kind", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
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
        sa.Column("registered_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("self_confirmed_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("admin_confirmed_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("admin_confirmed_by", sa.String(length=100), nullable=False),
        sa.Column("declined_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=False),
        sa.Column("identity_changed_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notice_acknowledged_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retired_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "department_id"],
            ["departments.tenant_id", "departments.id"],
            name=op.f("fk_people_tenant_id_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "employee_id"],
            ["people.tenant_id", "people.id"],
            name=op.f("fk_people_tenant_id_employee_id_people"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_people_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_people")),
        sa.UniqueConstraint("tenant_id", "employee_code", name=op.f("uq_people_tenant_id_employee_code")),
    )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_index("ix_people_tenant_id_employee_id", ["tenant_id", "employee_id"], unique=False)
        batch_op.create_index("ix_people_tenant_id_kind_status", ["tenant_id", "kind", "status"], unique=False)

    op.create_table(
        "correction_requests",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=50), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("承認待ち", "承認済", "却下", name="requeststatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("decided_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "person_id"],
            ["people.tenant_id", "people.id"],
            name=op.f("fk_correction_requests_tenant_id_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_correction_requests_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_correction_requests")),
    )
    with op.batch_alter_table("correction_requests", schema=None) as batch_op:
        batch_op.create_index("ix_correction_requests_tenant_id_status", ["tenant_id", "status"], unique=False)

    op.create_table(
        "payee_links",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "person_id"],
            ["people.tenant_id", "people.id"],
            name=op.f("fk_payee_links_tenant_id_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_payee_links_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_payee_links")),
        sa.UniqueConstraint("tenant_id", "token_hash", name=op.f("uq_payee_links_tenant_id_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("payee_links")
    with op.batch_alter_table("correction_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_correction_requests_tenant_id_status")

    op.drop_table("correction_requests")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index("ix_people_tenant_id_kind_status")
        batch_op.drop_index("ix_people_tenant_id_employee_id")

    op.drop_table("people")
    op.drop_table("departments")
