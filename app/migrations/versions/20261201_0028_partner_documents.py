"""Published documents (issue 15): an office's 定型文書 for all its clients or chosen ones

``partner_documents`` and ``partner_document_clients`` are tenant tables of the OFFICE (tenant_id = office); the
client's view reads ``ix_partner_document_clients_client_id`` for the documents chosen for it.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_documents",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sealed_size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("audience", sa.String(length=24), nullable=False),
        sa.Column("published_by_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_partner_documents_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_partner_documents")),
    )
    op.create_index("ix_partner_documents_tenant_id_created_at", "partner_documents", ["tenant_id", "created_at"])
    op.create_table(
        "partner_document_clients",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["tenants.id"],
            name=op.f("fk_partner_document_clients_client_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_partner_document_clients_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_partner_document_clients")),
    )
    op.create_index(
        "ix_partner_document_clients_document",
        "partner_document_clients",
        ["tenant_id", "document_id", "client_id"],
        unique=True,
    )
    op.create_index(
        "ix_partner_document_clients_client_id", "partner_document_clients", ["client_id", "tenant_id", "document_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_partner_document_clients_client_id", table_name="partner_document_clients")
    op.drop_index("ix_partner_document_clients_document", table_name="partner_document_clients")
    op.drop_table("partner_document_clients")
    op.drop_index("ix_partner_documents_tenant_id_created_at", table_name="partner_documents")
    op.drop_table("partner_documents")
