"""Organisations: tenant companies (事業者) and the operator's own organisation (shared reference table)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, Date, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, GlobalMixin, str_enum


class TenantKind(enum.StrEnum):
    OPERATOR = "operator"
    COMPANY = "company"
    PARTNER = "partner"  # a 社労士事務所 (partners/): its accounts work for client companies through links


class TenantStatus(enum.StrEnum):
    TRIAL = "trial"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"

    @property
    def label(self) -> str:
        return {"trial": "無料体験中", "active": "契約中", "suspended": "利用停止", "ended": "契約終了"}[self.value]


class Tenant(GlobalMixin, Base):
    """A company using the service, or (kind=operator) the organisation that runs it."""

    __tablename__ = "tenants"
    # The operator's list: companies newest first, one index range per page.
    __table_args__ = (Index("ix_tenants_kind_created_at", "kind", "created_at", "id"),)

    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[TenantKind] = mapped_column(str_enum(TenantKind), default=TenantKind.COMPANY)
    name: Mapped[str] = mapped_column(String(200))
    name_kana: Mapped[str] = mapped_column(String(200), default="")
    corporate_number: Mapped[str | None] = mapped_column(String(13), default=None)
    postal_code: Mapped[str] = mapped_column(String(8), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    representative: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    # 雇用保険 適用事業所番号 (11 digits without hyphens; issue 15 filings), "" when not given.
    employment_insurance_office_number: Mapped[str] = mapped_column(String(11), default="", server_default="")
    is_member: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[TenantStatus] = mapped_column(str_enum(TenantStatus), default=TenantStatus.TRIAL)
    trial_ends_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    contract_ends_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    admin_seats: Mapped[int] = mapped_column(Integer, default=2)
    require_totp_for_employees: Mapped[bool] = mapped_column(Boolean, default=False)
    purpose_notice: Mapped[str | None] = mapped_column(Text, default=None)  # the tenant's own words in the notice
    # 利用目的 notified per audience: {"employee": [...], "payee": [...]} (None: the defaults, tenants.purposes)
    notified_purposes: Mapped[dict[str, list[str]] | None] = mapped_column(JSON, default=None)
    # 削除予定日の保存期間: the purposes whose retention periods apply (tenants.retention_rule; None: 源泉徴収 7年 only)
    retention_purposes: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # The JST day the daily 削除予定日 reminder mail last ran for this tenant (tenants.services reminders)
    deletion_reminder_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    # 本人確認オプション (verification/): employees may upload ID photos; the operator turns it on.
    verification_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Billing (issue 13, billing/): the first billable day, the 5-user packs paid beyond the included 50, and when
    # the whole tenant was erased at contract end (its keys destroyed).
    contract_starts_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    self_registration_packs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    erased_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # 社労士事務所 (kind=partner, issue 14): the office's 社労士登録番号 (8 digits, partners.services).
    partner_registration_number: Mapped[str | None] = mapped_column(String(8), default=None)

    @property
    def locked_out(self) -> bool:
        """No one of this organisation may sign in or call the API: suspended, a partner office ended, or a company
        ended and already erased. An ended company not yet erased stays reachable, read-only
        (billing.contract.tenant_mode), to export and take deletion certificates. Never the operator."""
        if self.kind is TenantKind.OPERATOR:
            return False
        if self.status is TenantStatus.SUSPENDED:
            return True
        if self.kind is TenantKind.PARTNER:
            return self.status is TenantStatus.ENDED
        return self.status is TenantStatus.ENDED and self.erased_at is not None
