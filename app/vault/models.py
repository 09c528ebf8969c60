"""Vault tables in the main database: wrapped tenant keys and sealed numbers (never a key in clear)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantMixin, TimestampMixin, str_enum, utcnow


class NumberField(enum.StrEnum):
    """Which kind of number a row holds."""

    MY_NUMBER = "my_number"
    CORPORATE_NUMBER = "corporate_number"

    @property
    def label(self) -> str:
        return {"my_number": "個人番号", "corporate_number": "法人番号"}[self.value]


class TenantKey(TimestampMixin, Base):
    """One generation of a tenant's data key and blind-index key, each wrapped by the KEK ``kek_version``."""

    __tablename__ = "tenant_keys"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("tenants.id", ondelete="RESTRICT"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped_data_key: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_index_key: Mapped[bytes] = mapped_column(LargeBinary)


class VaultNumber(TenantMixin, Base):
    """A sealed number of one person (subject).

    Erasure clears the ciphertext and blind index and the key store loses the row's key, so even a backup of
    this table can no longer be opened.
    """

    __tablename__ = "vault_numbers"
    __table_args__ = (
        # One number, one person -- among unflagged numbers. A number stored knowing that another person holds it
        # (重複の疑い, see tenants.services.flag_duplicates) is ``flagged`` and left out of the uniqueness.
        Index(
            "uq_vault_numbers_unflagged_blind_index",
            "tenant_id",
            "blind_index",
            unique=True,
            sqlite_where=text("flagged = 0"),
            postgresql_where=text("flagged = false"),
        ),
        # Finding holders of a number (the duplicate check), flagged ones included: the unique index above is
        # partial and cannot serve that lookup.
        Index("ix_vault_numbers_tenant_id_blind_index", "tenant_id", "blind_index"),
        Index(
            "uq_vault_numbers_live_subject_field",
            "tenant_id",
            "subject_id",
            "field",
            unique=True,
            sqlite_where=text("erased_at IS NULL"),
            postgresql_where=text("erased_at IS NULL"),
        ),
    )

    subject_id: Mapped[uuid.UUID]
    field: Mapped[NumberField] = mapped_column(str_enum(NumberField))
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    nonce: Mapped[bytes | None] = mapped_column(LargeBinary(12))
    tenant_key_version: Mapped[int] = mapped_column(Integer)
    blind_index: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    masked: Mapped[str] = mapped_column(String(16))
    flagged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    registered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    erased_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    erase_reason: Mapped[str | None] = mapped_column(String(200), default=None)


class DocumentKey(TenantMixin, Base):
    """A person's document key (issue 12): every ID-document image of the person is sealed under it.

    The key itself lives only in the key store (``number_keys``, keyed by this row's ``id``), wrapped by the tenant
    data key of ``tenant_key_version``; this row says whose it is. Erasing the person's My Number marks it
    ``destroyed_at`` and the key store loses the key once that commits, so every image sealed under it, in the blob
    store and in any backup, can no longer be opened. One live key per person.
    """

    __tablename__ = "document_keys"
    __table_args__ = (
        Index(
            "uq_document_keys_live_person",
            "tenant_id",
            "person_id",
            unique=True,
            sqlite_where=text("destroyed_at IS NULL"),
            postgresql_where=text("destroyed_at IS NULL"),
        ),
    )

    person_id: Mapped[uuid.UUID]
    tenant_key_version: Mapped[int] = mapped_column(Integer)
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
