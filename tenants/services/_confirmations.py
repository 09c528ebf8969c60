"""Confirmation tokens: a confirmation is accepted only from a response that showed the number in full.

The response that shows the number carries a one-time token; only its SHA-256 is kept (in the session for employees
and admins, on the link for payees), bound to the person and the number row shown. Confirming needs the token and
spends it; a reload or a return to the page has none, so the page asks for the number again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Mapping

TOKEN_BYTES = 24
MAX_TOKEN_LENGTH = 64
# A token kept in a session is good for this long: enough to compare the screen with the document, not for later.
TOKEN_SECONDS = 600


def token_hash(token: str) -> str:
    """The stored form of a confirmation token (SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_confirmation(person_id: uuid.UUID, number_id: uuid.UUID) -> tuple[str, dict[str, str]]:
    """A fresh token for the page that shows the number, and what to keep of it (no token, only its hash)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    kept = {"person": str(person_id), "number": str(number_id), "hash": token_hash(token), "issued": str(time.time())}
    return token, kept


def confirmation_matches(
    kept: Mapping[str, str] | None, token: str, person_id: uuid.UUID, number_id: uuid.UUID | None
) -> bool:
    """Whether ``token`` is the one issued for this person's current number (compared in constant time) and, when
    kept with its issue time (sessions), is younger than TOKEN_SECONDS."""
    if not kept or not token or len(token) > MAX_TOKEN_LENGTH or number_id is None:
        return False
    if "issued" in kept:
        try:
            age = time.time() - float(kept["issued"])
        except ValueError:
            return False
        if not 0 <= age <= TOKEN_SECONDS:
            return False
    same_hash = hmac.compare_digest(kept.get("hash", ""), token_hash(token))
    return same_hash and kept.get("person") == str(person_id) and kept.get("number") == str(number_id)
