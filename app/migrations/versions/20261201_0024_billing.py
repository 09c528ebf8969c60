"""Billing (issue 13): price lists, contract changes, id usage, invoices, the issuer profile, tenant erasures

Invoices and their lines are immutable: triggers refuse an UPDATE or DELETE (a correction is a credit note and a
new invoice). The first price list (seed 003"s prices) applies from the start; each tenant"s active ids are
counted once here, and the usage ledger is kept from then on by billing.usage.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 08:33:31
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

DEFAULT_PRICES = {  # seed 003 (tax-exclusive yen); billing.models.DEFAULT_PRICES
    "initial_fee": 10_000,
    "initial_fee_member": 5_000,
    "base_monthly": 3_000,
    "base_monthly_member": 1_500,
    "pack_monthly": 500,
    "pack_monthly_member": 250,
    "verification_monthly": 1_000,
    "verification_monthly_member": 500,
    "admin_seat_monthly": 1_000,
    "admin_seat_monthly_member": 500,
}

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_profiles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("issuer_name", sa.String(length=200), nullable=False),
        sa.Column("postal_code", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("registration_number", sa.String(length=14), nullable=False),
        sa.Column("bank_details", sa.Text(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_profiles")),
    )
    op.create_table(
        "price_lists",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("initial_fee", sa.Integer(), nullable=False),
        sa.Column("initial_fee_member", sa.Integer(), nullable=False),
        sa.Column("base_monthly", sa.Integer(), nullable=False),
        sa.Column("base_monthly_member", sa.Integer(), nullable=False),
        sa.Column("pack_monthly", sa.Integer(), nullable=False),
        sa.Column("pack_monthly_member", sa.Integer(), nullable=False),
        sa.Column("verification_monthly", sa.Integer(), nullable=False),
        sa.Column("verification_monthly_member", sa.Integer(), nullable=False),
        sa.Column("admin_seat_monthly", sa.Integer(), nullable=False),
        sa.Column("admin_seat_monthly_member", sa.Integer(), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_lists")),
        sa.UniqueConstraint("effective_from", name=op.f("uq_price_lists_effective_from")),
    )
    op.create_table(
        "tenant_erasures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("erased_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_code", sa.String(length=32), nullable=False),
        sa.Column("tenant_name", sa.String(length=200), nullable=False),
        sa.Column("certificate_number", sa.String(length=32), nullable=False),
        sa.Column("contract_ended_on", sa.Date(), nullable=True),
        sa.Column("erased_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("erased_by", sa.String(length=100), nullable=False),
        sa.Column("numbers_erased", sa.Integer(), nullable=False),
        sa.Column("documents_erased", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_erasures")),
        sa.UniqueConstraint("erased_tenant_id", name=op.f("uq_tenant_erasures_erased_tenant_id")),
    )
    op.create_table(
        "contract_changes",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("changed_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "契約状態",
                "追加ID（5ユーザ単位）",
                "管理者ID数",
                "本人確認オプション",
                "会員価格",
                "契約開始日",
                "契約終了日",
                name="contractchangekind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("old_value", sa.String(length=40), nullable=False),
        sa.Column("new_value", sa.String(length=40), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_contract_changes_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_contract_changes")),
    )
    with op.batch_alter_table("contract_changes", schema=None) as batch_op:
        batch_op.create_index("ix_contract_changes_tenant_id_changed_at", ["tenant_id", "changed_at"], unique=False)

    op.create_table(
        "invoices",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column(
            "kind", sa.Enum("invoice", "credit_note", name="invoicekind", native_enum=False, length=24), nullable=False
        ),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("corrects_id", sa.Uuid(), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("member", sa.Boolean(), nullable=False),
        sa.Column("subtotal", sa.Integer(), nullable=False),
        sa.Column("tax", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("tax_rate_percent", sa.Integer(), nullable=False),
        sa.Column("customer_code", sa.String(length=32), nullable=False),
        sa.Column("customer_name", sa.String(length=200), nullable=False),
        sa.Column("issuer_name", sa.String(length=200), nullable=False),
        sa.Column("issuer_registration_number", sa.String(length=14), nullable=False),
        sa.Column("issuer_address", sa.String(length=300), nullable=False),
        sa.Column("issuer_phone", sa.String(length=20), nullable=False),
        sa.Column("bank_details", sa.Text(), nullable=False),
        sa.Column("issued_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_invoices_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_invoices_tenant_id_number")),
        sa.UniqueConstraint(
            "tenant_id", "month", "kind", "sequence", name=op.f("uq_invoices_tenant_id_month_kind_sequence")
        ),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index("ix_invoices_month", ["month", "tenant_id"], unique=False)

    op.create_table(
        "seat_counters",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind", sa.Enum("self_registration", "admin", name="seatkind", native_enum=False, length=24), nullable=False
        ),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_seat_counters_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "kind", name=op.f("pk_seat_counters")),
    )
    op.create_table(
        "seat_usage_days",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind", sa.Enum("self_registration", "admin", name="seatkind", native_enum=False, length=24), nullable=False
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("peak", sa.Integer(), nullable=False),
        sa.Column("closing", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_seat_usage_days_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "kind", "day", name=op.f("pk_seat_usage_days")),
    )
    op.create_table(
        "invoice_lines",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("tax_rate_percent", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invoice_id"],
            ["invoices.tenant_id", "invoices.id"],
            name=op.f("fk_invoice_lines_tenant_id_invoice_id_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_invoice_lines_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint(
            "tenant_id", "invoice_id", "position", name=op.f("uq_invoice_lines_tenant_id_invoice_id_position")
        ),
    )
    # Plain ADD COLUMN on tenants (never a batch copy: other tables' foreign keys point at it).
    op.add_column("tenants", sa.Column("contract_starts_on", sa.Date(), nullable=True))
    op.add_column("tenants", sa.Column("self_registration_packs", sa.Integer(), server_default="0", nullable=False))
    op.add_column("tenants", sa.Column("erased_at", app.db.UTCDateTime(timezone=True), nullable=True))
    _refuse_invoice_changes()
    _first_price_list()
    _count_active_ids()


def downgrade() -> None:
    _allow_invoice_changes()
    op.drop_column("tenants", "erased_at")
    op.drop_column("tenants", "self_registration_packs")
    op.drop_column("tenants", "contract_starts_on")

    op.drop_table("invoice_lines")
    op.drop_table("seat_usage_days")
    op.drop_table("seat_counters")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_month")

    op.drop_table("invoices")
    with op.batch_alter_table("contract_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_contract_changes_tenant_id_changed_at")

    op.drop_table("contract_changes")
    op.drop_table("tenant_erasures")
    op.drop_table("price_lists")
    op.drop_table("billing_profiles")


IMMUTABLE = ("invoices", "invoice_lines")
STAFF_ROLES = ("admin", "handler", "viewer")


def _refuse_invoice_changes() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION refuse_invoice_change() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'issued invoices are immutable: write a credit note'; END $$ LANGUAGE plpgsql"
        )
        for table in IMMUTABLE:
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_invoice_change()"
            )
        return
    for table in IMMUTABLE:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_immutable_{event.lower()} BEFORE {event} ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'issued invoices are immutable: write a credit note'); END"
            )


def _allow_invoice_changes() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in IMMUTABLE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
        op.execute("DROP FUNCTION IF EXISTS refuse_invoice_change()")
        return
    for table in IMMUTABLE:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable_{event}")


def _first_price_list() -> None:
    """Seed 003's prices, applying from the beginning (billing.models.DEFAULT_PRICES repeats them)."""
    now = dt.datetime.now(dt.UTC)
    prices = sa.table(
        "price_lists",
        sa.column("id", sa.Uuid()),
        sa.column("effective_from", sa.Date()),
        sa.column("changed_by", sa.String()),
        sa.column("created_at", app.db.UTCDateTime(timezone=True)),
        sa.column("updated_at", app.db.UTCDateTime(timezone=True)),
        *(sa.column(c, sa.Integer()) for c in DEFAULT_PRICES),
    )
    op.bulk_insert(
        prices,
        [
            {
                "id": uuid.uuid4(),
                "effective_from": dt.date(2000, 1, 1),
                "changed_by": "初期設定",
                "created_at": now,
                "updated_at": now,
                **DEFAULT_PRICES,
            }
        ],
    )


def _count_active_ids() -> None:
    """Each tenant's active self-registration and staff ids today, as the usage counters' starting point."""
    accounts = sa.table("accounts", sa.column("tenant_id"), sa.column("role"), sa.column("disabled_at"))
    counters = sa.table("seat_counters", sa.column("tenant_id"), sa.column("kind"), sa.column("active"))
    for kind, roles in (("self_registration", ("employee",)), ("admin", STAFF_ROLES)):
        active = (
            sa.select(accounts.c.tenant_id, sa.literal(kind), sa.func.count())
            .where(accounts.c.role.in_(roles), accounts.c.disabled_at.is_(None))
            .group_by(accounts.c.tenant_id)
        )
        op.execute(counters.insert().from_select(["tenant_id", "kind", "active"], active))
