"""Confirmation tokens: a confirmation is accepted only from a response that showed the number in full.

The response that shows the number carries a one-time token; only its SHA-256 is kept (in the session for employees
and admins, on the link for payees), bound to the person and the number row shown. Confirming needs the token and
spends it; a reload or a return to the page has none, so the page asks for the number again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping

TOKEN_BYTES = 24
MAX_TOKEN_LENGTH = 64


def token_hash(token: str) -> str:
    """The stored form of a confirmation token (SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_confirmation(person_id: uuid.UUID, number_id: uuid.UUID) -> tuple[str, dict[str, str]]:
    """A fresh token for the page that shows the number, and what to keep of it (no token, only its hash)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, {"person": str(person_id), "number": str(number_id), "hash": token_hash(token)}


def confirmation_matches(
    kept: Mapping[str, str] | None, token: str, person_id: uuid.UUID, number_id: uuid.UUID | None
) -> bool:
    """Whether ``token`` is the one issued for this person's current number (compared in constant time)."""
    if not kept or not token or len(token) > MAX_TOKEN_LENGTH or number_id is None:
        return False
    same_hash = hmac.compare_digest(kept.get("hash", ""), token_hash(token))
    return same_hash and kept.get("person") == str(person_id) and kept.get("number") == str(number_id)
