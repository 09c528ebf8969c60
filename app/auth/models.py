"""Accounts (tenant admins, handlers, viewers, employees, the operator's staff) and their recovery codes."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Boolean, Index, Integer, LargeBinary, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantMixin, str_enum, tenant_fk


class Role(enum.StrEnum):
    OPERATOR = "operator"
    ADMIN = "admin"
    HANDLER = "handler"
    VIEWER = "viewer"
    EMPLOYEE = "employee"
    # 社労士事務所 (partners/): the office's admins manage its staff and client links; staff work inside clients.
    PARTNER_ADMIN = "partner_admin"
    PARTNER_STAFF = "partner_staff"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def is_staff(self) -> bool:
        """Company-side management accounts (they take a seat)."""
        return self in (Role.ADMIN, Role.HANDLER, Role.VIEWER)

    @property
    def requires_totp(self) -> bool:
        return self in (Role.OPERATOR, Role.ADMIN, Role.HANDLER, Role.PARTNER_ADMIN, Role.PARTNER_STAFF)

    @property
    def is_partner(self) -> bool:
        """An account of a 社労士事務所 (partner office)."""
        return self in (Role.PARTNER_ADMIN, Role.PARTNER_STAFF)


# Accounts holding a one-time password (招待・初期パスワード): the retention run reads them by expiry (app.retention).
ONE_TIME_PASSWORD_SQL = "password_hash IS NOT NULL AND password_expires_at IS NOT NULL"

ROLE_LABELS = {
    Role.OPERATOR: "運営者",
    Role.ADMIN: "管理者",
    Role.HANDLER: "事務取扱担当者",
    Role.VIEWER: "閲覧者",
    Role.EMPLOYEE: "従業員",
    Role.PARTNER_ADMIN: "事務所管理者",
    Role.PARTNER_STAFF: "事務所職員",
}


class Account(TenantMixin, Base):
    """A sign-in identity inside one organisation; login ids are unique per tenant."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "login_id"),
        # One account per employee (the invitation list joins it), and the staff list reads only staff accounts.
        Index("ix_accounts_tenant_id_person_id", "tenant_id", "person_id", unique=True),
        Index("ix_accounts_tenant_id_role_login_id", "tenant_id", "role", "login_id"),
        # The retention run's one range across tenants (migration 0021): only accounts with a one-time password.
        Index(
            "ix_accounts_one_time_password_expires_at",
            "password_expires_at",
            sqlite_where=text(ONE_TIME_PASSWORD_SQL),
            postgresql_where=text(ONE_TIME_PASSWORD_SQL),
        ),
    )

    login_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), default="")
    role: Mapped[Role] = mapped_column(str_enum(Role))
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    password_expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    totp_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, default=None)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    person_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    # May open files saved as 機密 (partners/ file exchange, seed 000「権限を持つ従業員」); set by the side's admin.
    confidential_access: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_at is not None and self.totp_secret_sealed is not None

    @property
    def is_disabled(self) -> bool:
        """Disabled now; ``disabled_at`` may lie ahead (an employee's 退職日), so the time is compared."""
        return self.disabled_at is not None and self.disabled_at <= dt.datetime.now(dt.UTC)


class RecoveryCode(TenantMixin, Base):
    """One of an account's ten one-time recovery codes, stored hashed."""

    __tablename__ = "recovery_codes"
    __table_args__ = (tenant_fk("account_id", "accounts", ondelete="CASCADE"),)

    account_id: Mapped[uuid.UUID] = mapped_column()
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
