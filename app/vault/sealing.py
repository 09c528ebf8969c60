"""Sealing a number: its own random key, AES-256-GCM bound to tenant, row, person, field and key version.

The number key is wrapped by the tenant data key and goes to the key store; the ciphertext goes to the main
database. Either half alone is useless, and a ciphertext moved to another row, person or tenant fails to open.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.vault import crypto
from app.vault.tenant_keys import TenantKeys

SECRET_FORMAT = b"\x01"
VERSION_BYTES = 4


@dataclass(frozen=True, slots=True)
class SealedNumber:
    """What storing one number writes: ciphertext and nonce (main database), wrapped key (key store)."""

    number_id: uuid.UUID
    nonce: bytes
    ciphertext: bytes
    wrapped_key: bytes


def number_aad(tenant_id: uuid.UUID, number_id: uuid.UUID, subject_id: uuid.UUID, field: str, version: int) -> bytes:
    """Associated data of a sealed number."""
    return crypto.associated_data("number", tenant_id, number_id, subject_id, field, version)


def number_key_aad(tenant_id: uuid.UUID, number_id: uuid.UUID, version: int) -> bytes:
    """Associated data of a wrapped number key."""
    return crypto.associated_data("number-key", tenant_id, number_id, version)


def seal_number(
    keys: TenantKeys, number_id: uuid.UUID, subject_id: uuid.UUID, field: str, normalized: str
) -> SealedNumber:
    """Seal a normalised number under a fresh key and wrap that key with the tenant data key."""
    number_key = crypto.new_key()
    nonce, ciphertext = crypto.seal(
        number_key, normalized.encode(), number_aad(keys.tenant_id, number_id, subject_id, field, keys.version)
    )
    wrapped = crypto.seal_blob(keys.data_cipher, number_key, number_key_aad(keys.tenant_id, number_id, keys.version))
    return SealedNumber(number_id, nonce, ciphertext, wrapped)


def open_number(
    keys: TenantKeys,
    number_id: uuid.UUID,
    subject_id: uuid.UUID,
    field: str,
    nonce: bytes,
    ciphertext: bytes,
    wrapped_key: bytes,
) -> str:
    """Unwrap the number key and open the number; VaultIntegrityError if anything was moved or altered."""
    key_aad = number_key_aad(keys.tenant_id, number_id, keys.version)
    number_key = crypto.open_blob(keys.data_cipher, wrapped_key, key_aad, "the key of a number")
    aad = number_aad(keys.tenant_id, number_id, subject_id, field, keys.version)
    return crypto.open_sealed(number_key, nonce, ciphertext, aad, "a number").decode()


def secret_aad(tenant_id: uuid.UUID, owner_id: uuid.UUID, purpose: str, version: int) -> bytes:
    """Associated data of a small sealed secret (a TOTP seed...)."""
    return crypto.associated_data("secret", tenant_id, owner_id, purpose, version)


def seal_secret(keys: TenantKeys, owner_id: uuid.UUID, purpose: str, plaintext: bytes) -> bytes:
    """An opaque token: format byte, tenant key version, nonce and ciphertext."""
    blob = crypto.seal_blob(keys.data_cipher, plaintext, secret_aad(keys.tenant_id, owner_id, purpose, keys.version))
    return SECRET_FORMAT + keys.version.to_bytes(VERSION_BYTES, "big") + blob


def secret_version(token: bytes) -> int | None:
    """The tenant key version a token was sealed under, or None when it is not a token."""
    header = len(SECRET_FORMAT) + VERSION_BYTES
    if len(token) <= header or not token.startswith(SECRET_FORMAT):
        return None
    return int.from_bytes(token[len(SECRET_FORMAT) : header], "big")


def open_secret(keys: TenantKeys, owner_id: uuid.UUID, purpose: str, token: bytes) -> bytes:
    """Open a token made by :func:`seal_secret` with the same tenant, owner and purpose."""
    blob = token[len(SECRET_FORMAT) + VERSION_BYTES :]
    aad = secret_aad(keys.tenant_id, owner_id, purpose, keys.version)
    return crypto.open_blob(keys.data_cipher, blob, aad, f"secret {purpose!r} of {owner_id}")
