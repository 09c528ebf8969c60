"""Tables of the exchange package: API tokens for payroll software (issue 10)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantMixin

ACTIVE = "revoked_at IS NULL"


class ApiToken(TenantMixin, Base):
    """An API token of one tenant: a name, scopes, an expiry, optional client networks, and only a keyed hash of its
    secret (``exchange.services.tokens``). The token text names the tenant and this row, so it is found by primary
    key; the secret itself is never stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        # A name is unique among the tokens not revoked (``mnvault tokens revoke --name`` names one token).
        Index(
            "ix_api_tokens_active_name",
            "tenant_id",
            "name",
            unique=True,
            sqlite_where=text(ACTIVE),
            postgresql_where=text(ACTIVE),
        ),
        # The settings page's list: newest first, one index range per page.
        Index("ix_api_tokens_tenant_id_created_at", "tenant_id", "created_at", "id"),
    )

    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    # CIDR ranges the token may be used from (None: any address), as normalised text ("192.0.2.0/24").
    allowed_networks: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)  # the admin's account (None: the CLI)
    created_by_name: Mapped[str] = mapped_column(String(100), default="")
    expires_at: Mapped[dt.datetime] = mapped_column()
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_used_ip: Mapped[str | None] = mapped_column(String(45), default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_by_name: Mapped[str] = mapped_column(String(100), default="")
