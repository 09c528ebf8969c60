# STAND-IN: replaced by ft12-store at merge
"""Sealed documents with a per-tenant quota (stand-in: metadata travels in the blob, usage is kept in memory)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.blobs import BlobMissing, BlobStore
from app.db import utcnow
from app.vault import Vault, VaultIntegrityError

_PURPOSE = "document"
_USED: dict[uuid.UUID, dict[uuid.UUID, int]] = {}


class QuotaExceeded(Exception):
    def __init__(
        self, message: str = "保存容量の上限に達したため、保存できません。会社の担当者にお問い合わせください。"
    ) -> None:
        super().__init__(message)
        self.message = message


class DocumentGone(Exception):
    """The document's key was destroyed or its blob is missing."""


@dataclass(frozen=True, slots=True)
class StoredDocument:
    id: uuid.UUID
    tenant_id: uuid.UUID
    person_id: uuid.UUID
    kind: str
    size: int
    sha256: str
    created_at: dt.datetime
    expires_at: dt.datetime | None


def _key(tenant_id: uuid.UUID, document_id: uuid.UUID) -> str:
    return f"documents/{tenant_id}/{document_id}"


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
    used = _USED.setdefault(tenant_id, {})
    document_id = uuid.uuid4()
    sealed = await vault.seal_secret(session, tenant_id, document_id, _PURPOSE, data)
    if sum(used.values()) + len(sealed) > quota_bytes:
        raise QuotaExceeded()
    document = StoredDocument(
        document_id, tenant_id, person_id, kind, len(sealed), hashlib.sha256(sealed).hexdigest(), utcnow(), expires_at
    )
    meta = json.dumps(
        {
            "person_id": str(person_id),
            "kind": kind,
            "sha256": document.sha256,
            "created_at": document.created_at.isoformat(),
        }
    ).encode()
    await store.put(_key(tenant_id, document_id), len(meta).to_bytes(4, "big") + meta + sealed)
    used[document_id] = len(sealed)
    return document


async def open_document(
    session: AsyncSession, vault: Vault, store: BlobStore, *, tenant_id: uuid.UUID, document_id: uuid.UUID
) -> tuple[StoredDocument, bytes]:
    try:
        blob = await store.get(_key(tenant_id, document_id))
    except BlobMissing:
        raise LookupError(document_id) from None
    size = int.from_bytes(blob[:4], "big")
    meta = json.loads(blob[4 : 4 + size])
    sealed = blob[4 + size :]
    try:
        data = await vault.open_secret(session, tenant_id, document_id, _PURPOSE, sealed)
    except VaultIntegrityError:
        raise DocumentGone(document_id) from None
    document = StoredDocument(
        document_id,
        tenant_id,
        uuid.UUID(meta["person_id"]),
        meta["kind"],
        len(sealed),
        meta["sha256"],
        dt.datetime.fromisoformat(meta["created_at"]),
        None,
    )
    return document, data


async def delete_documents(
    session: AsyncSession, store: BlobStore, *, tenant_id: uuid.UUID, document_ids: Sequence[uuid.UUID]
) -> int:
    used = _USED.setdefault(tenant_id, {})
    for document_id in document_ids:
        await store.delete(_key(tenant_id, document_id))
        used.pop(document_id, None)
    return len(document_ids)


async def storage_used(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    return sum(_USED.get(tenant_id, {}).values())
