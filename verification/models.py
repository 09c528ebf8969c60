"""Tables of identity verification (本人確認オプション): submissions, their images, verification records.

The images themselves are sealed documents (``app.documents``); a submission keeps only their ids.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantMixin, str_enum, tenant_fk


class VerificationStatus(enum.StrEnum):
    """Where a submission stands; the value is the label the employee and the admin see."""

    PENDING = "審査中"
    APPROVED = "承認"
    REJECTED = "差戻し"
    VOID = "無効"  # the number it was made for was erased or replaced (verification.services.void_if_stale)


class VerificationMethod(enum.StrEnum):
    """How the documents were checked."""

    IMAGE = "画像"
    IN_PERSON = "対面"
    POST = "郵送"


PENDING_ONLY = "status = '審査中'"  # the partial unique index's condition (migration 0023 repeats it)


class Verification(TenantMixin, Base):
    """One submission of document photos by an employee for a person (themselves), and its review."""

    __tablename__ = "verifications"
    __table_args__ = (
        tenant_fk("person_id", "people", ondelete="CASCADE"),
        # The review queue: a status, newest or oldest first; with a department filter, one range as well.
        Index("ix_verifications_tenant_id_status_submitted_at", "tenant_id", "status", "submitted_at", "id"),
        Index(
            "ix_verifications_tenant_id_status_department_id",
            "tenant_id",
            "status",
            "department_id",
            "submitted_at",
            "id",
        ),
        Index("ix_verifications_tenant_id_person_id_submitted_at", "tenant_id", "person_id", "submitted_at"),
        # The purge of images past their keeping time, across tenants.
        Index("ix_verifications_images_expire_at", "images_expire_at"),
        # At most one submission under review per person, whatever two requests do at once.
        Index(
            "uq_verifications_pending_person",
            "tenant_id",
            "person_id",
            unique=True,
            sqlite_where=text(PENDING_ONLY),
            postgresql_where=text(PENDING_ONLY),
        ),
    )

    person_id: Mapped[uuid.UUID] = mapped_column()
    submitted_by: Mapped[uuid.UUID] = mapped_column()  # account id
    department_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # the person's, at submission
    status: Mapped[VerificationStatus] = mapped_column(str_enum(VerificationStatus), default=VerificationStatus.PENDING)
    number_document: Mapped[str] = mapped_column(String(32))
    identity_documents: Mapped[list[str]] = mapped_column(JSON, default=list)
    notification_card_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[dt.datetime] = mapped_column()
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    reviewed_by: Mapped[str] = mapped_column(String(100), default="")
    reject_reason: Mapped[str] = mapped_column(String(50), default="")
    reject_note: Mapped[str] = mapped_column(Text, default="")
    # When the images go (approval + N days, rejection + 30 days); set when they are gone.
    images_expire_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    images_deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class VerificationImage(TenantMixin, Base):
    """One image of a submission: which document and side, and the sealed document holding it."""

    __tablename__ = "verification_images"
    __table_args__ = (
        tenant_fk("verification_id", "verifications", ondelete="CASCADE"),
        Index("ix_verification_images_tenant_id_verification_id", "tenant_id", "verification_id", "position"),
    )

    verification_id: Mapped[uuid.UUID] = mapped_column()
    document_id: Mapped[uuid.UUID] = mapped_column()  # app.documents
    document_kind: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)


class VerificationRecord(TenantMixin, Base):
    """本人確認の記録: which checks were made on which documents, how, by whom and when.

    Kept as long as the number it verified (``number_id``, the vault row): when that number is erased (or
    replaced after a correction) the record is deleted with it (``verification.services.purge_verification_records``).
    """

    __tablename__ = "verification_records"
    __table_args__ = (
        tenant_fk("person_id", "people", ondelete="CASCADE"),
        Index("ix_verification_records_tenant_id_person_id_verified_at", "tenant_id", "person_id", "verified_at"),
        Index("ix_verification_records_tenant_id_number_id", "tenant_id", "number_id"),
    )

    person_id: Mapped[uuid.UUID] = mapped_column()
    number_id: Mapped[uuid.UUID] = mapped_column()  # app.vault.models.VaultNumber.id
    number_checked: Mapped[bool] = mapped_column(Boolean)  # 番号確認
    identity_checked: Mapped[bool] = mapped_column(Boolean)  # 身元確認
    document_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    method: Mapped[VerificationMethod] = mapped_column(str_enum(VerificationMethod))
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    reviewer_name: Mapped[str] = mapped_column(String(100), default="")
    verified_at: Mapped[dt.datetime] = mapped_column()
    verification_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # the submission, for 画像
    note: Mapped[str] = mapped_column(Text, default="")
