"""Per-person document keys (issue 12): ID-document images sealed so that erasing the number erases them too.

Each person gets one random 256-bit document key on first use. Like a number key it is wrapped by the tenant data
key and kept only in the key store (``number_keys``, under the key's own id); the main database's
``document_keys`` row only says whose it is. An image is sealed with AES-256-GCM under that key, bound (associated
data) to the tenant, the document id, the person and the key, so a blob copied to another document, person or
tenant fails to open. Erasing the person's My Number (``Vault.erase`` / ``erase_many``) marks the row destroyed and
the shredder deletes the key after the commit: from then on no copy of the blob, and no backup, can be opened.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import new_id, utcnow
from app.vault import crypto
from app.vault._checks import chunks
from app.vault.errors import VaultError, VaultIntegrityError
from app.vault.models import DocumentKey

if TYPE_CHECKING:
    from app.vault.service import Vault

DOCUMENT_FORMAT: Final = b"\x01"  # sealed image: format byte, nonce, ciphertext with tag
SEAL_OVERHEAD: Final = len(DOCUMENT_FORMAT) + crypto.NONCE_BYTES + 16


class DocumentKeyGone(VaultError):
    """The document's key was destroyed (the person's number was erased) or is missing from the key store."""

    message = "この画像は削除されたため表示できません。"


@dataclass(frozen=True, slots=True)
class SealedDocument:
    """A sealed image: the person's document key it is sealed under and the bytes for the blob store."""

    key_id: uuid.UUID
    sealed: bytes


def document_key_aad(tenant_id: uuid.UUID, key_id: uuid.UUID, person_id: uuid.UUID, version: int) -> bytes:
    """Associated data of a wrapped document key."""
    return crypto.associated_data("document-key", tenant_id, key_id, person_id, version)


def document_aad(tenant_id: uuid.UUID, document_id: uuid.UUID, person_id: uuid.UUID, key_id: uuid.UUID) -> bytes:
    """Associated data of a sealed image: tenant, blob (document) id, person and key."""
    return crypto.associated_data("document", tenant_id, document_id, person_id, key_id)


def sealed_size(size: int) -> int:
    """How many bytes an image of ``size`` bytes takes sealed."""
    return size + SEAL_OVERHEAD


def _live_key(tenant_id: uuid.UUID, person_id: uuid.UUID) -> Any:
    return select(DocumentKey.id, DocumentKey.tenant_key_version).where(
        DocumentKey.tenant_id == tenant_id, DocumentKey.person_id == person_id, DocumentKey.destroyed_at.is_(None)
    )


async def _person_key(vault: Vault, session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID) -> Any:
    """``(key_id, raw key)`` of the person's live document key, created (key store first) when there is none."""
    row = (await session.execute(_live_key(tenant_id, person_id))).first()
    if row is not None:
        return row.id, await _unwrapped(vault, session, tenant_id, row.id, person_id, row.tenant_key_version)
    keys = await vault.keyring.current(session, tenant_id)
    key_id, raw = new_id(), crypto.new_key()
    wrapped = crypto.seal_blob(keys.data_cipher, raw, document_key_aad(tenant_id, key_id, person_id, keys.version))
    # The key first, as for numbers: a crash in between leaves an orphan key (purged), never a row without its key.
    await vault.keystore.put_many(tenant_id, [(key_id, keys.version, wrapped)])
    vault.shredder.written(session, [(tenant_id, key_id)])
    now = utcnow()
    values = {
        "tenant_id": tenant_id,
        "id": key_id,
        "person_id": person_id,
        "tenant_key_version": keys.version,
        "created_at": now,
        "updated_at": now,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # Two first uploads of one person at once: the second insert does nothing and both use the first key.
    await session.execute(dialect.insert(DocumentKey).values(values).on_conflict_do_nothing())
    winner = (await session.execute(_live_key(tenant_id, person_id))).one()
    if winner.id == key_id:
        return key_id, raw
    await vault.keystore.delete_many([(tenant_id, key_id)])
    return winner.id, await _unwrapped(vault, session, tenant_id, winner.id, person_id, winner.tenant_key_version)


async def _unwrapped(
    vault: Vault, session: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID, person_id: uuid.UUID, version: int
) -> bytes:
    """The raw document key; DocumentKeyGone when the key store no longer has it."""
    stored = (await vault.keystore.get_many(tenant_id, [key_id])).get(key_id)
    if stored is None:
        raise DocumentKeyGone(f"document key {key_id} of tenant {tenant_id} is not in the key store")
    keys = await vault.keyring.get(session, tenant_id, version)
    aad = document_key_aad(tenant_id, key_id, person_id, version)
    return crypto.open_blob(keys.data_cipher, stored.wrapped_key, aad, f"document key {key_id}")


async def seal_document(
    vault: Vault,
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    person_id: uuid.UUID,
    document_id: uuid.UUID,
    data: bytes,
) -> SealedDocument:
    """Seal ``data`` under the person's document key (created on first use)."""
    key_id, raw = await _person_key(vault, session, tenant_id, person_id)
    nonce, ciphertext = crypto.seal(raw, data, document_aad(tenant_id, document_id, person_id, key_id))
    return SealedDocument(key_id, DOCUMENT_FORMAT + nonce + ciphertext)


async def open_document(
    vault: Vault,
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    person_id: uuid.UUID,
    document_id: uuid.UUID,
    key_id: uuid.UUID,
    sealed: bytes,
) -> bytes:
    """Open a sealed image; DocumentKeyGone once the person's key is destroyed, VaultIntegrityError if altered."""
    statement = select(DocumentKey.person_id, DocumentKey.tenant_key_version, DocumentKey.destroyed_at).where(
        DocumentKey.tenant_id == tenant_id, DocumentKey.id == key_id
    )
    row = (await session.execute(statement)).first()
    if row is None or row.destroyed_at is not None:
        raise DocumentKeyGone(f"document key {key_id} of tenant {tenant_id} is destroyed")
    if row.person_id != person_id:
        raise VaultIntegrityError(f"document {document_id} names a key of another person")
    raw = await _unwrapped(vault, session, tenant_id, key_id, person_id, row.tenant_key_version)
    if not sealed.startswith(DOCUMENT_FORMAT) or len(sealed) < SEAL_OVERHEAD:
        raise VaultIntegrityError(f"document {document_id} is not a sealed image")
    body = sealed[len(DOCUMENT_FORMAT) :]
    aad = document_aad(tenant_id, document_id, person_id, key_id)
    return crypto.open_sealed(
        raw, body[: crypto.NONCE_BYTES], body[crypto.NONCE_BYTES :], aad, f"document {document_id}"
    )


async def destroy_document_keys(
    vault: Vault, session: AsyncSession, tenant_id: uuid.UUID, person_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Mark these people's live document keys destroyed (the key store loses them when the session commits);
    returns the people who had one."""
    found: list[uuid.UUID] = []
    people: set[uuid.UUID] = set()
    for chunk in chunks(list(person_ids)):
        statement = select(DocumentKey.id, DocumentKey.person_id).where(
            DocumentKey.tenant_id == tenant_id, DocumentKey.person_id.in_(chunk), DocumentKey.destroyed_at.is_(None)
        )
        for key_id, person_id in await session.execute(statement):
            found.append(key_id)
            people.add(person_id)
    if not found:
        return people
    now = utcnow()
    for chunk in chunks(found):
        await session.execute(
            update(DocumentKey)
            .where(DocumentKey.tenant_id == tenant_id, DocumentKey.id.in_(chunk))
            .values(destroyed_at=now, updated_at=now)
        )
    vault.shredder.queue(session, [(tenant_id, key_id) for key_id in found])
    return people
