"""Tables of billing (issue 13, seed 003's price list): prices, contract changes, id usage, invoices, the
operator's invoicing profile and the record of a whole tenant's erasure at contract end.

Amounts are whole yen, tax-exclusive unless a column says otherwise; months are the first day of the month (JST).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, GlobalMixin, TenantMixin, str_enum, tenant_fk

# Seed 003's price list (tax-exclusive yen): the defaults of the first price list.
DEFAULT_PRICES: dict[str, int] = {
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
INCLUDED_SELF_REGISTRATION_IDS = 50  # seed 003: じぶんで登録 ID 50 ユーザ in the base plan
PACK_SIZE = 5  # seed 003: 5 ユーザごと
INCLUDED_ADMIN_SEATS = 2  # seed 003: 管理者 ID 2 ユーザ
VERIFICATION_ADMIN_SEATS = 2  # the option's own 2 reviewer ids (seed 003: 管理者2ID+1GB)
TAX_RATE_PERCENT = 10  # 消費税 (standard rate)


class PriceList(GlobalMixin, Base):
    """The operator's prices from one billing month on (``effective_from``, the first day of a month).

    A change is a new row effective from the next billing month; the prices of a month are those of the latest row
    with ``effective_from`` on or before it, so past invoices never change (issue 13).
    """

    __tablename__ = "price_lists"
    __table_args__ = (UniqueConstraint("effective_from"),)

    effective_from: Mapped[dt.date] = mapped_column(Date)
    initial_fee: Mapped[int] = mapped_column(Integer)
    initial_fee_member: Mapped[int] = mapped_column(Integer)
    base_monthly: Mapped[int] = mapped_column(Integer)
    base_monthly_member: Mapped[int] = mapped_column(Integer)
    pack_monthly: Mapped[int] = mapped_column(Integer)
    pack_monthly_member: Mapped[int] = mapped_column(Integer)
    verification_monthly: Mapped[int] = mapped_column(Integer)
    verification_monthly_member: Mapped[int] = mapped_column(Integer)
    admin_seat_monthly: Mapped[int] = mapped_column(Integer)
    admin_seat_monthly_member: Mapped[int] = mapped_column(Integer)
    changed_by: Mapped[str] = mapped_column(String(100), default="")


class ContractChangeKind(enum.StrEnum):
    """What a contract change changed; the value is the label on the contract page."""

    STATUS = "契約状態"
    PACKS = "追加ID（5ユーザ単位）"
    ADMIN_SEATS = "管理者ID数"
    VERIFICATION = "本人確認オプション"
    MEMBER = "会員価格"
    CONTRACT_START = "契約開始日"
    CONTRACT_END = "契約終了日"


class ContractChange(TenantMixin, Base):
    """One change of a tenant's contract (who, when, from what to what): the month's billed packs, seats and
    options are read from these, and the contract page lists them."""

    __tablename__ = "contract_changes"
    __table_args__ = (Index("ix_contract_changes_tenant_id_changed_at", "tenant_id", "changed_at"),)

    changed_at: Mapped[dt.datetime] = mapped_column()
    kind: Mapped[ContractChangeKind] = mapped_column(str_enum(ContractChangeKind))
    old_value: Mapped[str] = mapped_column(String(40), default="")
    new_value: Mapped[str] = mapped_column(String(40), default="")
    changed_by: Mapped[str] = mapped_column(String(100), default="")


class SeatKind(enum.StrEnum):
    """The ids that are billed: self-registration (employee) ids and admin-side (staff) ids."""

    SELF_REGISTRATION = "self_registration"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return {"self_registration": "じぶんで登録ID", "admin": "管理者ID"}[self.value]


class SeatCounter(Base):
    """How many ids of a kind a tenant has active now (issued and not disabled); kept in each change's transaction."""

    __tablename__ = "seat_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[SeatKind] = mapped_column(str_enum(SeatKind), primary_key=True)
    active: Mapped[int] = mapped_column(Integer, default=0)


class SeatUsageDay(Base):
    """A day (JST) on which a tenant's active ids of a kind changed: the most active that day (``peak``) and at
    its end (``closing``). A day without a row had the ``closing`` of the last row before it."""

    __tablename__ = "seat_usage_days"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[SeatKind] = mapped_column(str_enum(SeatKind), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    peak: Mapped[int] = mapped_column(Integer, default=0)
    closing: Mapped[int] = mapped_column(Integer, default=0)


class InvoiceKind(enum.StrEnum):
    """An invoice, or a credit note (適格返還請求書) that cancels one; a correction is a credit note + a new invoice."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"

    @property
    def label(self) -> str:
        return {"invoice": "請求書", "credit_note": "適格返還請求書（取消）"}[self.value]


class Invoice(TenantMixin, Base):
    """One tenant's invoice (or credit note) for one month. Never updated or deleted once written (triggers in
    migration 0024 refuse it); the issuer and customer details are copied in so a reprint shows what was issued."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        UniqueConstraint("tenant_id", "month", "kind", "sequence"),
        Index("ix_invoices_month", "month", "tenant_id"),
    )

    month: Mapped[dt.date] = mapped_column(Date)  # the first day of the billed month
    kind: Mapped[InvoiceKind] = mapped_column(str_enum(InvoiceKind))
    sequence: Mapped[int] = mapped_column(Integer, default=1)  # 2, 3... for reissues after a credit note
    number: Mapped[str] = mapped_column(String(32))  # 請求書番号: the tenant code, the month and the sequence
    corrects_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # a credit note: the invoice it cancels
    issued_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    member: Mapped[bool] = mapped_column(Boolean, default=False)
    subtotal: Mapped[int] = mapped_column(Integer)  # tax-exclusive yen, 10% items
    tax: Mapped[int] = mapped_column(Integer)  # consumption tax, rounded down once per invoice and rate
    total: Mapped[int] = mapped_column(Integer)
    tax_rate_percent: Mapped[int] = mapped_column(Integer, default=TAX_RATE_PERCENT)
    customer_code: Mapped[str] = mapped_column(String(32))
    customer_name: Mapped[str] = mapped_column(String(200))
    issuer_name: Mapped[str] = mapped_column(String(200))
    issuer_registration_number: Mapped[str] = mapped_column(String(14))  # T + 13 digits
    issuer_address: Mapped[str] = mapped_column(String(300), default="")
    issuer_phone: Mapped[str] = mapped_column(String(20), default="")
    bank_details: Mapped[str] = mapped_column(Text, default="")
    issued_by: Mapped[str] = mapped_column(String(100), default="")


class InvoiceLine(TenantMixin, Base):
    """One line of an invoice: quantity × unit price (yen), or a prorated amount; negative on a credit note."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        tenant_fk("invoice_id", "invoices", ondelete="RESTRICT"),
        UniqueConstraint("tenant_id", "invoice_id", "position"),
    )

    invoice_id: Mapped[uuid.UUID] = mapped_column()
    position: Mapped[int] = mapped_column(Integer)
    item: Mapped[str] = mapped_column(String(32))  # initial_fee, base, packs, verification, admin_seats
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)
    tax_rate_percent: Mapped[int] = mapped_column(Integer, default=TAX_RATE_PERCENT)


class BillingProfile(GlobalMixin, Base):
    """The operator as invoice issuer (one row): name, address, 適格請求書発行事業者登録番号, bank details."""

    __tablename__ = "billing_profiles"

    issuer_name: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(8), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    registration_number: Mapped[str] = mapped_column(String(14), default="")  # T + 13 digits
    bank_details: Mapped[str] = mapped_column(Text, default="")  # e.g. ○○銀行 本店 普通 1234567 カ）…


class TenantErasure(GlobalMixin, Base):
    """A whole tenant erased at contract end: its keys destroyed, every number and image unopenable from then on.
    Kept by the operator (the tenant's own rows may go); the source of the tenant-level 削除証明書."""

    __tablename__ = "tenant_erasures"
    __table_args__ = (UniqueConstraint("erased_tenant_id"),)

    erased_tenant_id: Mapped[uuid.UUID] = mapped_column()  # no foreign key: the record outlives the tenant's rows
    tenant_code: Mapped[str] = mapped_column(String(32))
    tenant_name: Mapped[str] = mapped_column(String(200))
    certificate_number: Mapped[str] = mapped_column(String(32))
    contract_ended_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    erased_at: Mapped[dt.datetime] = mapped_column()
    erased_by: Mapped[str] = mapped_column(String(100))
    numbers_erased: Mapped[int] = mapped_column(Integer, default=0)
    documents_erased: Mapped[int] = mapped_column(Integer, default=0)
    people: Mapped[int] = mapped_column(Integer, default=0)


import billing.usage  # noqa: E402, F401  (the usage ledger's flush hook, registered with the models)
