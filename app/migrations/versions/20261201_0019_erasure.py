"""Erasure (issue 11): deletion records and early-deletion requests

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERSON_KINDS = ("employee", "dependant", "payee")
DELETION_RESULTS = ("削除済", "失敗")
REQUEST_STATUSES = ("承認待ち", "承認済", "却下")


def upgrade() -> None:
    op.create_table(
        "deletion_records",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("erased_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("number_id", sa.Uuid(), nullable=True),
        sa.Column("handler_login_id", sa.String(length=100), nullable=False),
        sa.Column("handler_name", sa.String(length=100), nullable=False),
        sa.Column("approver_login_id", sa.String(length=100), nullable=False),
        sa.Column("approver_name", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("reason_text", sa.String(length=200), nullable=False),
        sa.Column("subject_name", sa.String(length=250), nullable=False),
        sa.Column(
            "subject_kind", sa.Enum(*PERSON_KINDS, name="personkind", native_enum=False, length=24), nullable=False
        ),
        sa.Column("department_code", sa.String(length=32), nullable=False),
        sa.Column("department_name", sa.String(length=100), nullable=False),
        sa.Column("employee_code", sa.String(length=32), nullable=False),
        sa.Column(
            "result", sa.Enum(*DELETION_RESULTS, name="deletionresult", native_enum=False, length=24), nullable=False
        ),
        sa.Column("early_request_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_deletion_records_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_deletion_records")),
    )
    op.create_index("ix_deletion_records_tenant_id_erased_at", "deletion_records", ["tenant_id", "erased_at", "id"])
    op.create_index(
        "ix_deletion_records_tenant_id_person_id", "deletion_records", ["tenant_id", "person_id", "erased_at"]
    )
    op.create_table(
        "early_deletion_requests",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("include_dependants", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("reason_text", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("requested_by_login_id", sa.String(length=100), nullable=False),
        sa.Column("requested_by_name", sa.String(length=100), nullable=False),
        sa.Column(
            "status", sa.Enum(*REQUEST_STATUSES, name="requeststatus", native_enum=False, length=24), nullable=False
        ),
        sa.Column("decided_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_by_name", sa.String(length=100), nullable=False),
        sa.Column("decision_note", sa.String(length=500), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "person_id"],
            ["people.tenant_id", "people.id"],
            name=op.f("fk_early_deletion_requests_tenant_id_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_early_deletion_requests_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_early_deletion_requests")),
    )
    op.create_index(
        "ix_early_deletion_requests_tenant_id_status_created_at",
        "early_deletion_requests",
        ["tenant_id", "status", "created_at", "id"],
    )
    op.create_index(
        "ix_early_deletion_requests_tenant_id_person_id",
        "early_deletion_requests",
        ["tenant_id", "person_id", "status"],
    )
    op.create_index(
        "ix_early_deletion_requests_tenant_id_decided_at",
        "early_deletion_requests",
        ["tenant_id", "decided_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_early_deletion_requests_tenant_id_decided_at", table_name="early_deletion_requests")
    op.drop_index("ix_early_deletion_requests_tenant_id_person_id", table_name="early_deletion_requests")
    op.drop_index("ix_early_deletion_requests_tenant_id_status_created_at", table_name="early_deletion_requests")
    op.drop_table("early_deletion_requests")
    op.drop_index("ix_deletion_records_tenant_id_person_id", table_name="deletion_records")
    op.drop_index("ix_deletion_records_tenant_id_erased_at", table_name="deletion_records")
    op.drop_table("deletion_records")
