"""Partner tables: the consented link between a client company and a 社労士事務所 (partner office).

The office itself is a row of ``tenants`` (kind ``partner``) and its staff are ``accounts`` of that tenant with the
roles ``partner_admin`` / ``partner_staff`` (app.auth.models.Role).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.auth.models import Role
from app.db import Base, TenantMixin, str_enum


class LinkStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    ENDED = "ended"

    @property
    def label(self) -> str:
        return {"pending": "申請中", "active": "有効", "ended": "終了"}[self.value]


class LinkPower(enum.StrEnum):
    """What a link lets the office's staff do inside the client (chosen by the client, which consents)."""

    VIEW = "view"
    NUMBERS = "numbers"
    FILES = "files"

    @property
    def label(self) -> str:
        return {"view": "閲覧のみ", "numbers": "番号の取扱い", "files": "ファイル・連絡のみ"}[self.value]

    @property
    def acting_role(self) -> Role | None:
        """The client role a staff member works with inside the client; None: the link gives no way in."""
        return {"view": Role.VIEWER, "numbers": Role.HANDLER, "files": None}[self.value]


class LinkSide(enum.StrEnum):
    CLIENT = "client"
    PARTNER = "partner"

    @property
    def label(self) -> str:
        return {"client": "顧問先", "partner": "事務所"}[self.value]


# Not ended: at most one such link between a client and an office (the partial unique index).
OPEN_LINK_SQL = "status <> 'ended'"


class PartnerLink(TenantMixin, Base):
    """A client company (``tenant_id``) linked to a partner office (``partner_id``), with the client's consent.

    ``requested_by_side`` says who asked: the client invited the office (its admin's consent is given at once), or
    the office asked with the client's code (the client's admin consents by accepting). The link is active once both
    sides agreed; ``ended_*`` record who ended it (either side), after which no staff member of the office reaches
    the client's rows.
    """

    __tablename__ = "partner_links"
    __table_args__ = (
        Index(
            "ix_partner_links_tenant_id_partner_id_open",
            "tenant_id",
            "partner_id",
            unique=True,
            sqlite_where=text(OPEN_LINK_SQL),
            postgresql_where=text(OPEN_LINK_SQL),
        ),
        # The office's client list and every acting request's check: one range of the office's links.
        Index("ix_partner_links_partner_id_status_tenant_id", "partner_id", "status", "tenant_id"),
        Index("ix_partner_links_tenant_id_created_at", "tenant_id", "created_at"),
    )

    partner_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("tenants.id", ondelete="RESTRICT"))
    status: Mapped[LinkStatus] = mapped_column(str_enum(LinkStatus), default=LinkStatus.PENDING)
    power: Mapped[LinkPower] = mapped_column(str_enum(LinkPower))
    requested_by_side: Mapped[LinkSide] = mapped_column(str_enum(LinkSide))
    requested_by: Mapped[uuid.UUID] = mapped_column()  # an account of the requesting side (no key: two tenants)
    requested_by_name: Mapped[str] = mapped_column(String(100))
    consented_by: Mapped[uuid.UUID | None] = mapped_column(default=None)  # the client admin who consented
    consented_by_name: Mapped[str] = mapped_column(String(100), default="")
    consented_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    activated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    ended_by_name: Mapped[str] = mapped_column(String(100), default="")
    ended_by_side: Mapped[LinkSide | None] = mapped_column(str_enum(LinkSide), default=None)
