"""Partner tables: the consented link between a client company and a 社労士事務所 (partner office).

The office itself is a row of ``tenants`` (kind ``partner``) and its staff are ``accounts`` of that tenant with the
roles ``partner_admin`` / ``partner_staff`` (app.auth.models.Role).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, Uuid, text
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


class FileSave(enum.StrEnum):
    """How the receiver kept an exchanged file (seed 000): 通常 (every staff member of its side) or 機密 (only
    accounts with ``accounts.confidential_access``). A saved file no longer expires."""

    NORMAL = "normal"
    CONFIDENTIAL = "confidential"

    @property
    def label(self) -> str:
        return {"normal": "通常保存", "confidential": "機密保存"}[self.value]


# Files nobody has opened on the receiving side: the badge and the sign-in notice read only these rows.
UNREAD_FILE_SQL = "read_at IS NULL"
# Files that will be deleted by the retention run: only unsaved files have an expiry.
EXPIRING_FILE_SQL = "expires_at IS NOT NULL"


class ExchangeFile(TenantMixin, Base):
    """One file sent between a client company (``tenant_id``) and its 社労士事務所 (``partner_id``) over their link
    (Cellsドライブ, seeds 000–001).

    Files sent together share ``batch_id`` and ``message``. The bytes are sealed under the client tenant's key
    (``Vault.seal_secret``, owner = the file's id) and kept in the blob store under ``exchange_blob_key``; the row
    keeps only metadata. ``sender_side`` says which side sent it, so the other side is the receiver: ``read_at`` is
    its first download (受信状況 閲覧済); ``saved_as`` its 保存 (通常/機密), which clears ``expires_at`` (created +
    ``MNV_EXCHANGE_KEEP_DAYS``). ``size`` is of the clear file (bytes), ``sealed_size``/``sha256`` of the sealed
    bytes. Deleting a file deletes its row and blob (the audit entry stays).
    """

    __tablename__ = "exchange_files"
    __table_args__ = (
        # The client's list, newest first.
        Index("ix_exchange_files_tenant_id_created_at", "tenant_id", "created_at"),
        # The office's list across its clients (and one client's files from the office side), newest first.
        Index("ix_exchange_files_partner_id_created_at", "partner_id", "created_at", "tenant_id"),
        # Badges and sign-in notices: unread files addressed to a side.
        Index(
            "ix_exchange_files_partner_id_sender_side_unread",
            "partner_id",
            "sender_side",
            "tenant_id",
            sqlite_where=text(UNREAD_FILE_SQL),
            postgresql_where=text(UNREAD_FILE_SQL),
        ),
        # The retention run's one range across tenants.
        Index(
            "ix_exchange_files_expires_at",
            "expires_at",
            sqlite_where=text(EXPIRING_FILE_SQL),
            postgresql_where=text(EXPIRING_FILE_SQL),
        ),
    )

    partner_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("tenants.id", ondelete="RESTRICT"))
    link_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    batch_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    sender_side: Mapped[LinkSide] = mapped_column(str_enum(LinkSide))
    sender_account_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # an account of the sending side
    sender_name: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(String(2000), default="")
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sealed_size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    saved_as: Mapped[FileSave | None] = mapped_column(str_enum(FileSave), default=None)
    saved_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    saved_by_name: Mapped[str] = mapped_column(String(100), default="")
    read_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    read_by_name: Mapped[str] = mapped_column(String(100), default="")
    # An attachment of a 連絡 (seed 002: 連絡データの添付ファイル, kept 30 days like every exchanged file).
    notice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)


def exchange_blob_key(tenant_id: uuid.UUID, file_id: uuid.UUID) -> str:
    """Where an exchanged file's sealed bytes live in the blob store (beside, never inside, the ID images')."""
    return f"exchange/{tenant_id}/{file_id}"


class PersonBoxFile(TenantMixin, Base):
    """A file kept with one person of a client in their confidential 個人ボックス (seed 002: 機密, at most
    ``MNV_PERSON_BOX_LIMIT`` = 10 per person).

    The bytes are an ``app.documents`` document (``document_id``) sealed under the person's document key, so erasing
    the person's My Number makes them unopenable with the number. The uploader is an admin of the client or a staff
    member of a linked office (``uploaded_by_side``).
    """

    __tablename__ = "person_box_files"
    __table_args__ = (
        Index("ix_person_box_files_tenant_id_person_id_created_at", "tenant_id", "person_id", "created_at"),
    )

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    document_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(200), default="")
    uploaded_by_side: Mapped[LinkSide] = mapped_column(str_enum(LinkSide))
    uploaded_by_name: Mapped[str] = mapped_column(String(100))


class DocumentAudience(enum.StrEnum):
    """Who a published 定型文書 reaches: every linked client of the office, or the clients chosen."""

    ALL = "all"
    CHOSEN = "chosen"

    @property
    def label(self) -> str:
        return {"all": "すべての顧問先", "chosen": "選んだ顧問先"}[self.value]


class PartnerDocument(TenantMixin, Base):
    """A document an office publishes to its clients (定型文書, seed 000「事業所マイページ(顧問先)に公開する…オリジナル
    定型文書」; issue 15: up to 100 per office, 20 MB each). ``tenant_id`` is the OFFICE.

    The bytes are sealed under the office's tenant key (``Vault.seal_secret``, owner = the document's id) in the blob
    store under ``partner_document_blob_key``; ``size`` is of the clear file, ``sealed_size``/``sha256`` of the sealed
    bytes. ``audience`` ALL reaches every client with an ACTIVE link; CHOSEN only the ``partner_document_clients``.
    """

    __tablename__ = "partner_documents"
    __table_args__ = (Index("ix_partner_documents_tenant_id_created_at", "tenant_id", "created_at"),)

    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000), default="")
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sealed_size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    audience: Mapped[DocumentAudience] = mapped_column(str_enum(DocumentAudience), default=DocumentAudience.ALL)
    published_by_name: Mapped[str] = mapped_column(String(100))


class PartnerDocumentClient(TenantMixin, Base):
    """A client chosen for a CHOSEN-audience document (``tenant_id`` = the office, ``client_id`` = the client)."""

    __tablename__ = "partner_document_clients"
    __table_args__ = (
        Index("ix_partner_document_clients_document", "tenant_id", "document_id", "client_id", unique=True),
        # The client's view: the documents chosen for it, one range per client.
        Index("ix_partner_document_clients_client_id", "client_id", "tenant_id", "document_id"),
    )

    document_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    client_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("tenants.id", ondelete="RESTRICT"))


def partner_document_blob_key(office_id: uuid.UUID, document_id: uuid.UUID) -> str:
    """Where a published document's sealed bytes live in the blob store."""
    return f"partner-documents/{office_id}/{document_id}"


class NoticeKind(enum.StrEnum):
    """The six structured notices a client sends its office (seed 002: 連絡管理機能)."""

    NUMBER = "number"
    HIRE = "hire"
    LEAVE = "leave"
    ADDRESS_NAME = "address_name"
    DEPENDANT = "dependant"
    INSURANCE = "insurance"

    @property
    def label(self) -> str:
        return {
            "number": "マイナンバー更新",
            "hire": "入社",
            "leave": "退社",
            "address_name": "住所・姓変更",
            "dependant": "扶養異動",
            "insurance": "保険変更",
        }[self.value]


class NoticeStatus(enum.StrEnum):
    """処理区分 (seed 002): the office's word, and ``client_label`` the client's (事業所マイページでの表示)."""

    PENDING = "pending"
    REGISTERED = "registered"
    HELD = "held"
    DONE = "done"

    @property
    def label(self) -> str:
        return {"pending": "未", "registered": "登録済", "held": "登録不可", "done": "手続完了"}[self.value]

    @property
    def client_label(self) -> str:
        return {"pending": "未処理", "registered": "登録完了", "held": "登録保留", "done": "手続完了"}[self.value]


class PartnerNotice(TenantMixin, Base):
    """A 連絡 from a client company (``tenant_id``) to its 社労士事務所 (``partner_id``), seed 002.

    ``data`` is the typed form as JSON (names, dates, address: personal data kept like ``people``); a My Number in
    it never is: it is sealed under the client's key (``Vault.seal_secret``, owner = the notice's id) in
    ``number_sealed`` and goes with the row. ``person_id`` is the client's employee it is about (None for 入社 until
    applied); ``applied_person_id`` whom 台帳に反映 created or changed; ``published`` whether the result is shown to
    the client with ``result``. Rows are deleted ``NOTICE_KEEP_DAYS`` after they were sent (partners.retention);
    attachments are exchanged files carrying ``notice_id``.
    """

    __tablename__ = "partner_notices"
    __table_args__ = (
        Index("ix_partner_notices_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_partner_notices_partner_id_created_at", "partner_id", "created_at", "tenant_id"),
        Index("ix_partner_notices_partner_id_tenant_id_created_at", "partner_id", "tenant_id", "created_at"),
        Index("ix_partner_notices_created_at", "created_at"),
    )

    partner_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("tenants.id", ondelete="RESTRICT"))
    link_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind))
    status: Mapped[NoticeStatus] = mapped_column(str_enum(NoticeStatus), default=NoticeStatus.PENDING)
    sender_account_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    sender_name: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    subject_name: Mapped[str] = mapped_column(String(250), default="")
    data: Mapped[str] = mapped_column(Text, default="{}")
    number_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    message: Mapped[str] = mapped_column(String(1000), default="")
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[str] = mapped_column(String(1000), default="")
    applied_person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    handled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    handled_by_name: Mapped[str] = mapped_column(String(100), default="")
