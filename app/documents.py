"""Sealed documents of a person (issue 12): ID images sealed by the vault, kept in a blob store, with a quota.

The database keeps only metadata (``document_blobs``: person, kind, size and SHA-256 of the sealed bytes, created,
expires, and which of the person's document keys sealed it); the image itself is in the blob store, sealed under
the person's document key (``Vault.seal_document``), so erasing the person's My Number makes it unopenable
(:class:`DocumentGone`). Each tenant's sealed bytes are counted in ``storage_usage``, one row per tenant updated in
the same transaction as every store and delete: reading the usage is one primary-key lookup, whatever the size of
the tenant, and two uploads at once cannot both pass the quota (the update is conditional and row-locked).

Order of writes: an image's blob is put before its row (a rollback deletes the blob again; only a crash in between
can leave an orphan blob, sealed); a deletion deletes the blobs at once, before the caller commits (a rollback then
leaves rows whose images are gone, which open as DocumentGone: never an image without its row).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Uuid, column, delete, select, table, update
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.blobs import BlobMissing, BlobStore
from app.db import Base, TenantMixin, TimestampMixin, new_id, utcnow
from app.logs import get_logger
from app.retention import log_removals
from app.vault import DocumentKeyGone, Vault, VaultIntegrityError, sealed_document_size
from app.vault.models import DocumentKey

log = get_logger("documents")

KIND_MAX: Final = 40
CHUNK: Final = 500
_PUT: Final = "mnvault.documents.blobs_put"
_HOOKED: Final = "mnvault.documents.hooked"
_TASKS: set[asyncio.Task[None]] = set()
AREA: Final = "documents"  # this module's row of storage_usage
BOX_KIND: Final = "person_box"  # a 個人ボックス file (partners/): kept beside the ID images, under the same quota
# The purge of documents an erasure made unopenable, as its 保存期間経過データの削除 entries name it.
UNOPENABLE_KIND: Final = "unopenable_documents"
UNOPENABLE_LABEL: Final = "番号の削除で開けなくなった書類・ファイル"


class DocumentBlob(TenantMixin, Base):
    """Metadata of one sealed image of a person (the bytes are in the blob store under :func:`blob_key`)."""

    __tablename__ = "document_blobs"
    __table_args__ = (
        Index("ix_document_blobs_tenant_id_person_id", "tenant_id", "person_id"),
        Index("ix_document_blobs_tenant_id_key_id", "tenant_id", "key_id"),
        Index("ix_document_blobs_tenant_id_expires_at", "tenant_id", "expires_at"),
    )

    person_id: Mapped[uuid.UUID]
    key_id: Mapped[uuid.UUID]  # the person's document key (``document_keys.id``) it is sealed under
    kind: Mapped[str] = mapped_column(String(KIND_MAX))
    size: Mapped[int] = mapped_column(Integer)  # sealed bytes
    sha256: Mapped[str] = mapped_column(String(64))  # of the sealed bytes
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class StorageUsage(TimestampMixin, Base):
    """A tenant's sealed bytes and count in one storage area, kept in step by every store and delete (the quota's
    counter). ``area`` is ``documents`` for the ID images here; other users of the blob store get their own."""

    __tablename__ = "storage_usage"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("tenants.id", ondelete="RESTRICT"), primary_key=True
    )
    area: Mapped[str] = mapped_column(String(20), primary_key=True)
    used_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    documents: Mapped[int] = mapped_column(Integer, default=0)


class QuotaExceeded(Exception):
    """Storing would take the tenant past its quota; ``message`` is the uploader's Japanese sentence.

    ``used`` and ``quota`` (bytes) are for the administrator's notice.
    """

    def __init__(self, used: int, quota: int, kind: str = "") -> None:
        self.used = used
        self.quota = quota
        if kind == BOX_KIND:
            self.message = (
                f"書類の保存容量の上限（{_human(quota)}）に達したため、個人ボックスに保管できませんでした。"
                "不要なファイルを削除してから、もう一度お試しください。"
            )
        else:
            self.message = (
                f"本人確認書類の保存容量の上限（{_human(quota)}）に達したため、画像を保存できませんでした。"
                "しばらくしてからもう一度お試しいただくか、会社のマイナンバー管理担当者にお問い合わせください。"
            )
        super().__init__(self.message)


class DocumentGone(Exception):
    """The document can no longer be opened: the person's document key was destroyed (their number was erased)
    or its blob is missing."""

    message = "この画像は削除されたため表示できません。"


class DocumentLost(DocumentGone):
    """The document's row exists but its sealed bytes are missing from the blob store (lost, not deleted by us)."""

    message = "この画像は保存先から失われたため表示できません。"


class DocumentDamaged(DocumentGone):
    """The sealed bytes fail authentication (altered, truncated or swapped with another document's): never shown."""

    message = "画像が破損しているため表示できません。"


class DocumentNotFound(LookupError):
    """No document of this id in the tenant (another tenant's id included): callers answer 404."""


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A stored document's metadata (``size`` and ``sha256`` are of the sealed bytes; times UTC)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    person_id: uuid.UUID
    kind: str
    size: int
    sha256: str
    created_at: dt.datetime
    expires_at: dt.datetime | None


def blob_key(tenant_id: uuid.UUID, document_id: uuid.UUID) -> str:
    """Where a document's sealed bytes are in the blob store (ids only: nothing about the person)."""
    return f"documents/{tenant_id.hex}/{document_id.hex}"


def _human(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} バイト"


def _stored(row: DocumentBlob) -> StoredDocument:
    return StoredDocument(
        row.id, row.tenant_id, row.person_id, row.kind, row.size, row.sha256, row.created_at, row.expires_at
    )


async def store_document(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    *,
    tenant_id: uuid.UUID,
    person_id: uuid.UUID,
    kind: str,
    data: bytes,
    quota_bytes: int,
    expires_at: dt.datetime | None = None,
) -> StoredDocument:
    """Seal ``data`` (a clean image from ``verification.pipeline.clean_image``) under the person's document key,
    put it in ``store`` and write its metadata row and the tenant's usage in the caller's transaction.

    ``kind``: the caller's document kind code (1–40 characters; ValueError otherwise); ``quota_bytes``: the tenant's
    limit of sealed bytes (``MNV_VERIFICATION_QUOTA_BYTES``); ``expires_at`` (UTC) when it should be deleted.
    Raises QuotaExceeded (nothing written, nothing put) when the tenant's usage would pass the quota.
    """
    if not kind or len(kind) > KIND_MAX:
        raise ValueError(f"document kind must be 1-{KIND_MAX} characters")
    size = sealed_document_size(len(data))
    used = await storage_used(session, tenant_id)
    if used + size > quota_bytes:  # the cheap refusal; the counter's conditional update below is the real check
        raise QuotaExceeded(used, quota_bytes, kind)
    document_id = new_id()
    sealed = await vault.seal_document(
        session, tenant_id=tenant_id, person_id=person_id, document_id=document_id, data=data
    )
    key = blob_key(tenant_id, document_id)
    remember_put(session, store, key)
    await store.put(key, sealed.sealed)
    if not await count_usage(session, tenant_id, len(sealed.sealed), 1, quota_bytes):
        await store.delete(key)
        raise QuotaExceeded(await storage_used(session, tenant_id), quota_bytes, kind)
    now = utcnow()
    row = DocumentBlob(
        tenant_id=tenant_id,
        id=document_id,
        person_id=person_id,
        key_id=sealed.key_id,
        kind=kind,
        size=len(sealed.sealed),
        sha256=hashlib.sha256(sealed.sealed).hexdigest(),
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return _stored(row)


async def open_document(
    session: AsyncSession, vault: Vault, store: BlobStore, *, tenant_id: uuid.UUID, document_id: uuid.UUID
) -> tuple[StoredDocument, bytes]:
    """The document's metadata and its clear image (JPEG bytes): keep them in memory, never on disk.

    DocumentNotFound (a LookupError) when the tenant has no such document (another tenant's id included);
    DocumentGone when the person's number was erased (key destroyed); its subclass DocumentLost when the blob is
    missing, DocumentDamaged when the stored bytes fail authentication (altered or swapped; logged as a warning
    with the ids only). The caller writes the 閲覧 audit entry.
    """
    row = await _row(session, tenant_id, document_id)
    try:
        sealed = await store.get(blob_key(tenant_id, document_id))
        clear = await vault.open_document(
            session,
            tenant_id=tenant_id,
            person_id=row.person_id,
            document_id=row.id,
            key_id=row.key_id,
            sealed=sealed,
        )
    except DocumentKeyGone:
        raise DocumentGone(str(document_id)) from None
    except BlobMissing:
        log.warning("document blob missing", extra={"tenant_id": str(tenant_id), "document_id": str(document_id)})
        raise DocumentLost(str(document_id)) from None
    except VaultIntegrityError:
        log.warning(
            "document failed authentication", extra={"tenant_id": str(tenant_id), "document_id": str(document_id)}
        )
        raise DocumentDamaged(str(document_id)) from None
    return _stored(row), clear


async def get_document(session: AsyncSession, *, tenant_id: uuid.UUID, document_id: uuid.UUID) -> StoredDocument:
    """A document's metadata without opening it; DocumentNotFound outside the tenant."""
    return _stored(await _row(session, tenant_id, document_id))


async def _row(session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID) -> DocumentBlob:
    statement = select(DocumentBlob).where(DocumentBlob.tenant_id == tenant_id, DocumentBlob.id == document_id)
    row = (await session.execute(statement)).scalar_one_or_none()
    if row is None:
        raise DocumentNotFound(str(document_id))
    return row


async def set_expiry(
    session: AsyncSession, *, tenant_id: uuid.UUID, document_ids: Sequence[uuid.UUID], expires_at: dt.datetime | None
) -> None:
    """Record when these documents of the tenant are due for deletion (UTC; None: not due), in the caller's
    transaction; ids of other tenants are ignored. The caller's purge deletes them (this only keeps the metadata)."""
    ids = list(dict.fromkeys(document_ids))
    for start in range(0, len(ids), CHUNK):
        await session.execute(
            update(DocumentBlob)
            .where(DocumentBlob.tenant_id == tenant_id, DocumentBlob.id.in_(ids[start : start + CHUNK]))
            .values(expires_at=expires_at, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )


async def delete_documents(
    session: AsyncSession, store: BlobStore, *, tenant_id: uuid.UUID, document_ids: Sequence[uuid.UUID]
) -> int:
    """Delete these documents of the tenant (ids of other tenants are ignored): blobs at once, rows and usage in
    the caller's transaction. Returns how many were deleted. The caller writes the audit entries."""
    deleted = 0
    ids = list(dict.fromkeys(document_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        statement = select(DocumentBlob.id, DocumentBlob.size).where(
            DocumentBlob.tenant_id == tenant_id, DocumentBlob.id.in_(chunk)
        )
        rows = (await session.execute(statement)).all()
        if not rows:
            continue
        for row in rows:
            await store.delete(blob_key(tenant_id, row.id))
        await session.execute(
            delete(DocumentBlob).where(DocumentBlob.tenant_id == tenant_id, DocumentBlob.id.in_([r.id for r in rows]))
        )
        await count_usage(session, tenant_id, -sum(r.size for r in rows), -len(rows), None)
        deleted += len(rows)
    return deleted


async def purge_unopenable(session: AsyncSession, store: BlobStore, *, limit: int = CHUNK) -> int:
    """Delete up to ``limit`` documents (blobs and rows) sealed under destroyed document keys, in any tenant:
    their images became unopenable when the people's numbers were erased; this frees the space. Returns how many
    (call again while it returns ``limit``). Each tenant's count is logged (``app.retention.log_removals``) in the
    same transaction. For the periodic maintenance and ``mnvault purge``; the caller commits."""
    statement = (
        select(DocumentBlob.tenant_id, DocumentBlob.id)
        .join(DocumentKey, (DocumentKey.tenant_id == DocumentBlob.tenant_id) & (DocumentKey.id == DocumentBlob.key_id))
        .where(DocumentKey.destroyed_at.is_not(None))
        .limit(limit)
    )
    by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant_id, document_id in await session.execute(statement):
        by_tenant.setdefault(tenant_id, []).append(document_id)
    removed: dict[uuid.UUID | None, int] = {}
    for tenant_id, document_ids in by_tenant.items():
        removed[tenant_id] = await delete_documents(session, store, tenant_id=tenant_id, document_ids=document_ids)
        # A 個人ボックス file (partners/) whose document went goes with it: nothing of it can be opened any more.
        await session.execute(
            delete(_BOX_FILES).where(_BOX_FILES.c.tenant_id == tenant_id, _BOX_FILES.c.document_id.in_(document_ids))
        )
    await log_removals(session, UNOPENABLE_KIND, UNOPENABLE_LABEL, removed)
    return sum(removed.values())


# partners.models.PersonBoxFile seen from here without importing the partners package (app must not depend on
# features): its rows name a document each and are removed with the documents the purge deletes.
_BOX_FILES = table("person_box_files", column("tenant_id", Uuid()), column("document_id", Uuid()))


def purge_step(store: BlobStore) -> Callable[[async_sessionmaker[AsyncSession]], Awaitable[int]]:
    """A step for ``app.vault.periodic.PeriodicMaintenance(steps=[...])``: :func:`purge_unopenable` in committed
    batches until nothing is left; returns how many documents went."""

    async def purge_unopenable_documents(sessions: async_sessionmaker[AsyncSession]) -> int:
        total = 0
        while True:
            async with sessions() as session:
                purged = await purge_unopenable(session, store)
                await session.commit()
            total += purged
            if purged < CHUNK:
                if total:
                    log.info("unopenable documents purged", extra={"documents": total})
                return total

    return purge_unopenable_documents


async def storage_used(session: AsyncSession, tenant_id: uuid.UUID, *, area: str = AREA) -> int:
    """The tenant's sealed bytes in ``area`` (one primary-key read of its counter; 0 before its first item)."""
    statement = select(StorageUsage.used_bytes).where(StorageUsage.tenant_id == tenant_id, StorageUsage.area == area)
    return int((await session.execute(statement)).scalar_one_or_none() or 0)


async def count_usage(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    size: int,
    documents: int,
    quota: int | None,
    *,
    area: str = AREA,
) -> bool:
    """Add ``size`` bytes and ``documents`` (items) to the tenant's counter of ``area`` (``documents`` here; other
    users of the blob store name their own, e.g. ``exchange``); with ``quota``, only if it stays within it.

    The update is one conditional statement on the tenant's row (row-locked until commit on PostgreSQL, the write
    lock on SQLite), so concurrent stores are counted one after another. Returns whether it was applied.
    """
    now = utcnow()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(StorageUsage)
        .values(tenant_id=tenant_id, area=area, used_bytes=0, documents=0, created_at=now, updated_at=now)
        .on_conflict_do_nothing()
    )
    conditions: list[Any] = [StorageUsage.tenant_id == tenant_id, StorageUsage.area == area]
    if quota is not None:
        conditions.append(StorageUsage.used_bytes + size <= quota)
    result: Any = await session.execute(
        update(StorageUsage)
        .where(*conditions)
        .values(used_bytes=StorageUsage.used_bytes + size, documents=StorageUsage.documents + documents, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


# Blobs put for a transaction that then rolls back are deleted again (the sealed bytes would otherwise linger).


def remember_put(session: AsyncSession, store: BlobStore, key: str) -> None:
    """Delete the blob put under ``key`` again if the session's transaction rolls back (forget it on commit)."""
    session.info.setdefault(_PUT, []).append((store, key))
    if not session.info.get(_HOOKED):
        sa_event.listen(session.sync_session, "after_commit", _forget_puts)
        sa_event.listen(session.sync_session, "after_rollback", _delete_puts)
        session.info[_HOOKED] = True


def _forget_puts(session: Session) -> None:
    session.info.pop(_PUT, None)


def _delete_puts(session: Session) -> None:
    if session.in_nested_transaction():
        return
    puts = session.info.pop(_PUT, None)
    if not puts:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task = loop.create_task(_delete_blobs(puts))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


async def _delete_blobs(puts: list[tuple[BlobStore, str]]) -> None:
    for store, key in puts:
        try:
            await store.delete(key)
        except Exception as exc:  # sealed bytes without a row: harmless, and unopenable once the key goes
            log.warning("blob of a rolled-back document not deleted", extra={"key": key, "error": repr(exc)})


async def wait_for_cleanup() -> None:
    """Wait for the deletions of rolled-back blobs started so far (tests, shutdown)."""
    if _TASKS:
        await asyncio.gather(*_TASKS, return_exceptions=True)
