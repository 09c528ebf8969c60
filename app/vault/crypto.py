"""Sealing primitives: AES-256-GCM with a random 96-bit nonce, HMAC-SHA256 blind index, HKDF, canonical AAD."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.vault.errors import VaultIntegrityError

KEY_BYTES = 32
NONCE_BYTES = 12


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return secrets.token_bytes(KEY_BYTES)


def associated_data(*parts: str | int | uuid.UUID | bytes) -> bytes:
    """An unambiguous encoding of the values a ciphertext is bound to (length-prefixed, so no two lists collide)."""
    chunks = [b"mnv1"]
    for part in parts:
        if isinstance(part, bytes):
            raw = part
        elif isinstance(part, uuid.UUID):
            raw = part.bytes
        else:
            raw = str(part).encode()
        chunks.append(len(raw).to_bytes(4, "big"))
        chunks.append(raw)
    return b"".join(chunks)


Key = bytes | AESGCM


def cipher(key: Key) -> AESGCM:
    """An AES-256-GCM instance (pass one in to reuse it for a long-lived key)."""
    return key if isinstance(key, AESGCM) else AESGCM(key)


def seal(key: Key, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """Encrypt and authenticate; returns (nonce, ciphertext-with-tag)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce, cipher(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: Key, nonce: bytes, ciphertext: bytes, aad: bytes, what: str) -> bytes:
    """Decrypt and verify, or raise VaultIntegrityError naming ``what`` (never the contents)."""
    try:
        return cipher(key).decrypt(nonce, ciphertext, aad)
    except (InvalidTag, ValueError):
        raise VaultIntegrityError(f"{what} failed authentication (tampered, moved or wrong key)") from None


def seal_blob(key: Key, plaintext: bytes, aad: bytes) -> bytes:
    """``nonce || ciphertext`` in one value (for wrapped keys and small secrets)."""
    nonce, ciphertext = seal(key, plaintext, aad)
    return nonce + ciphertext


def open_blob(key: Key, blob: bytes, aad: bytes, what: str) -> bytes:
    """Open a value made by :func:`seal_blob`."""
    if len(blob) <= NONCE_BYTES:
        raise VaultIntegrityError(f"{what} is truncated")
    return open_sealed(key, blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad, what)


def blind_index(index_key: bytes, field: str, normalized: str) -> bytes:
    """HMAC-SHA256 of the field-prefixed normalised number under the tenant's index key."""
    return hmac.new(index_key, f"{field}:{normalized}".encode(), hashlib.sha256).digest()


def derive(master: bytes, purpose: str, length: int = 32) -> bytes:
    """HKDF-SHA256 from master material, separated by purpose."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=b"mnvault:" + purpose.encode()).derive(master)
