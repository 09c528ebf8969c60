"""Entries as rows, and the canonical MAC that links each row to the one before it.

Version 2 (every entry written now): HMAC-SHA256 under the tenant's chain key, derived from a versioned audit key
that lives wrapped in the key store, never in the main database; the entry names its key version. Version 1
(``key_version`` NULL, written before keyed chains): plain SHA-256, still recomputed so an old prefix verifies,
but anyone with the database could recompute it, so verify reports such entries and refuses one after a keyed one.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from app.audit.events import AuditEvent
from app.audit.guard import (
    CLIENT_FIELDS,
    check_texts_many,
    normalized_details,
    redact_client_fields,
    redact_client_texts,
)
from app.audit.models import TEXT_LENGTHS

HASH_VERSION = 2
LEGACY_HASH_VERSION = 1
HASHED_FIELDS = (
    "tenant_id",
    "seq",
    "occurred_at",
    "actor_user_id",
    "actor_login_id",
    "actor_name",
    "actor_role",
    "actor_organisation",
    "ip",
    "user_agent",
    "action",
    "function",
    "subject_person_id",
    "subject_name",
    "subject_department_code",
    "subject_department_name",
    "subject_employee_code",
    "purpose",
    "result",
    "detail",
    "prev_hash",
)


_ID_FIELDS = ("tenant_id", "actor_user_id", "subject_person_id")
_PLAIN_FIELDS = tuple(f for f in HASHED_FIELDS if f not in (*_ID_FIELDS, "occurred_at"))


def event_row(event: AuditEvent) -> dict[str, Any]:
    """The stored columns of an event through the content guard; seq, time and hashes are filled in later.

    Client-chosen fields (who and whom: names, login ids, addresses, user agent) are redacted; the fields the
    application composes (role, function, purpose, detail) raise AuditContentError on a digit run.
    """
    return event_rows([event])[0]


def event_rows(events: Sequence[AuditEvent]) -> list[dict[str, Any]]:
    """:func:`event_row` of many events (a bulk append): the same guard, its checks made over the whole batch at
    once and each distinct client text redacted once (a batch repeats its actor on every entry)."""
    raw = [_texts(event) for event in events]
    known = redact_client_texts(value for fields in raw for key, value in fields.items() if key in CLIENT_FIELDS)
    texts = [redact_client_fields(fields, known) for fields in raw]
    # The fields the application composes are checked; the client's were just redacted, which leaves no run in
    # them. A batch repeats its role, function and purpose: each different set is checked once.
    composed = {tuple((key, value) for key, value in fields.items() if key not in CLIENT_FIELDS) for fields in texts}
    check_texts_many([dict(fields) for fields in composed])
    details = normalized_details([_detail_of(event) for event in events])
    rows: list[dict[str, Any]] = []
    for event, fields, detail in zip(events, texts, details, strict=True):
        row: dict[str, Any] = {field: _clip(field, value) for field, value in fields.items()}
        subject = event.subject
        row.update(
            tenant_id=event.tenant_id,
            actor_user_id=event.actor.user_id,
            subject_person_id=subject.person_id if subject else None,
            actor_partner_id=event.actor.partner_id,
            action=event.action,
            result=event.result,
            detail=detail,
        )
        rows.append(row)
    return rows


def _detail_of(event: AuditEvent) -> dict[str, Any]:
    """The event's detail; a partner's act also names the office there (the hash then covers it)."""
    if event.actor.partner_id is None:
        return event.detail
    return {**event.detail, "partner_id": str(event.actor.partner_id)}


def _texts(event: AuditEvent) -> dict[str, str | None]:
    actor, subject = event.actor, event.subject
    return {
        "actor_login_id": actor.login_id,
        "actor_name": actor.name,
        "actor_role": actor.role,
        "actor_organisation": actor.organisation,
        "ip": actor.ip,
        "user_agent": actor.user_agent,
        "function": event.function,
        "subject_name": subject.name if subject else "",
        "subject_department_code": subject.department_code if subject else "",
        "subject_department_name": subject.department_name if subject else "",
        "subject_employee_code": subject.employee_code if subject else "",
        "purpose": event.purpose,
    }


def _clip(field: str, value: str | None) -> str | None:
    return None if value is None else value[: TEXT_LENGTHS[field]]


@functools.lru_cache(maxsize=256)
def _timestamp(value: dt.datetime) -> str:
    # UTC with microseconds: SQLite text and PostgreSQL timestamptz both give this same string back.
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def timestamp_text(stored: dt.datetime | str) -> str:
    """The hashed form of ``occurred_at`` from what the database returns without type processing: PostgreSQL a
    datetime; SQLite the text SQLAlchemy wrote (``YYYY-MM-DD HH:MM:SS.ffffff``, naive UTC), rewritten without
    parsing. Text in any other shape is parsed like SQLAlchemy would (ValueError when it cannot be)."""
    if isinstance(stored, str):
        if len(stored) == 26 and stored[10] == " " and stored[19] == ".":
            return f"{stored[:10]}T{stored[11:]}Z"
        stored = dt.datetime.fromisoformat(stored).replace(tzinfo=dt.UTC)
    return _timestamp(stored)


@functools.lru_cache(maxsize=4096)  # the same actors and people recur along a chain
def id_text(stored: object) -> str | None:
    """The hashed form of an id from what the database returns without type processing (PostgreSQL: a UUID;
    SQLite: 32 hex digits): the canonical ``str(uuid.UUID)`` form."""
    if stored is None:
        return None
    text = str(stored).lower()
    if len(text) == 32:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text


def entry_hash(row: Mapping[str, Any], key: bytes | None = None) -> str:
    """The entry's link: HMAC-SHA256 under the chain ``key`` (v2), or bare SHA-256 without one (legacy v1).

    Every field and the previous link, as sorted-key compact JSON; v2 also binds the key version.
    """
    payload = {field: row[field] for field in _PLAIN_FIELDS}  # enum members encode as their (str) values
    for field in _ID_FIELDS:
        payload[field] = None if row[field] is None else str(row[field])
    payload["occurred_at"] = _timestamp(row["occurred_at"])
    return payload_hash(payload, None if key is None else int(row["key_version"]), key)


def payload_hash(payload: dict[str, Any], key_version: int | None, key: bytes | None) -> str:
    """The MAC (or legacy hash) of an entry already in its hashed form: ``HASHED_FIELDS`` with ids as text and the
    time as ``timestamp_text`` gives it (``entry_hash`` for rows, ``app.audit.verify`` for raw pages). Adds the
    version fields to ``payload``."""
    if key is None:
        payload["v"] = LEGACY_HASH_VERSION
    else:
        payload["v"] = HASH_VERSION
        payload["k"] = key_version
    encoded = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    if key is None:
        return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
    mac = _keyed(key).copy()
    mac.update(encoded.encode("utf-8"))
    return mac.hexdigest()


@functools.lru_cache(maxsize=1024)
def _keyed(key: bytes) -> hmac.HMAC:
    # The key schedule once per chain key; each entry copies it (a few microseconds less per append).
    return hmac.new(key, digestmod=hashlib.sha256)
