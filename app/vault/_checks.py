"""Checking numbers before they are stored: normalising, blind-indexing, and finding collisions (no decryption)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Subject
from app.db import any_of
from app.vault import crypto
from app.vault.errors import DuplicateNumber, NumberAlreadyStored, RowError
from app.vault.models import NumberField, VaultNumber
from app.vault.numbers import mask_my_number, mask_number, normalize_corporate_number, normalize_my_number
from app.vault.tenant_keys import TenantKeys

QUERY_CHUNK = 1000  # values per IN list (or array): a bulk batch of 1,000 in one statement

_NORMALIZERS: dict[NumberField, Callable[[str], str]] = {
    NumberField.MY_NUMBER: normalize_my_number,
    NumberField.CORPORATE_NUMBER: normalize_corporate_number,
}
_MASKERS: dict[NumberField, Callable[[str], str]] = {
    NumberField.MY_NUMBER: mask_my_number,
    NumberField.CORPORATE_NUMBER: mask_number,
}

Conflict = DuplicateNumber | NumberAlreadyStored


@dataclass(frozen=True, slots=True)
class Candidate:
    """A number checked and indexed, ready to be stored (``index`` is its place in the batch)."""

    index: int
    subject: Subject
    subject_id: uuid.UUID
    normalized: str
    blind_index: bytes


def normalize(field: NumberField, number: str) -> str:
    """The field's normalised form, or InvalidNumber."""
    return _NORMALIZERS[field](number)


def mask(field: NumberField, normalized: str) -> str:
    """The field's masked form."""
    return _MASKERS[field](normalized)


def subject_id_of(subject: Subject) -> uuid.UUID:
    """The person a number belongs to (required)."""
    if subject.person_id is None:
        raise ValueError("a number belongs to a person: subject.person_id is required")
    return subject.person_id


def chunks(items: Sequence[Any], size: int = QUERY_CHUNK) -> list[Sequence[Any]]:
    """Slices small enough for an IN (...) list on every database."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def live(tenant_id: uuid.UUID) -> list[Any]:
    """The conditions every query on a tenant's live numbers starts from."""
    return [VaultNumber.tenant_id == tenant_id, VaultNumber.erased_at.is_(None)]


def holders_of(
    session: AsyncSession, tenant_id: uuid.UUID, indexes: Sequence[bytes]
) -> Select[bytes | None, uuid.UUID]:
    """The tenant's live numbers holding any of these blind indexes: (blind_index, subject_id).

    The one shape of the duplicate check (imports, registrations, the duplicate rule): tenant equality and
    ``blind_index = ANY(:array)`` (``app.db.any_of``), which only the index (tenant_id, blind_index) serves. A
    generic plan (asyncpg prepares statements; PostgreSQL switches to a generic plan after five executions) then
    cannot pick another index and read the whole tenant (the field trial: 3-4 s per batch of 500).
    """
    match = any_of(VaultNumber.blind_index, indexes, dialect=session.get_bind().dialect.name)
    return select(VaultNumber.blind_index, VaultNumber.subject_id).where(*live(tenant_id), match)


def candidate_for(keys: TenantKeys, index: int, subject: Subject, field: NumberField, number: str) -> Candidate:
    """Normalise (InvalidNumber) and blind-index one number."""
    normalized = normalize(field, number)
    blind = crypto.blind_index(keys.index_key, field.value, normalized)
    return Candidate(index, subject, subject_id_of(subject), normalized, blind)


def conflicts_within(candidates: Sequence[Candidate]) -> list[RowError]:
    """Rows of one batch that repeat an earlier row's number or person."""
    errors: list[RowError] = []
    seen_numbers: dict[bytes, int] = {}
    seen_subjects: set[uuid.UUID] = set()
    for c in candidates:
        if c.blind_index in seen_numbers:
            message = f"{seen_numbers[c.blind_index] + 1} 件目と同じ番号です。番号をご確認ください。"
            errors.append(RowError(c.index, "duplicate_in_batch", message))
        elif c.subject_id in seen_subjects:
            errors.append(RowError(c.index, "subject_twice", "同じ方の番号が2回含まれています。"))
        seen_numbers.setdefault(c.blind_index, c.index)
        seen_subjects.add(c.subject_id)
    return errors


async def conflicts(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    field: NumberField,
    candidates: Sequence[Candidate],
    *,
    numbers: bool = True,
) -> list[tuple[int, Conflict]]:
    """Live numbers that collide: the same number on another person, or a person who already has one.

    ``numbers=False`` checks only the people (a caller that stores duplicates flagged reads the holders itself).
    """
    owners: dict[bytes, uuid.UUID] = {}
    holders: set[uuid.UUID] = set()
    for chunk in chunks(candidates):
        if numbers:
            same_number = await session.execute(holders_of(session, tenant_id, [c.blind_index for c in chunk]))
            owners.update({bytes(b): s for b, s in same_number if b is not None})
        subjects = any_of(
            VaultNumber.subject_id, [c.subject_id for c in chunk], dialect=session.get_bind().dialect.name
        )
        has_number = await session.scalars(
            select(VaultNumber.subject_id).where(*live(tenant_id), VaultNumber.field == field, subjects)
        )
        holders.update(has_number)
    problems: list[tuple[int, Conflict]] = []
    for c in candidates:
        owner = owners.get(c.blind_index)
        if owner is not None and owner != c.subject_id:
            problems.append((c.index, DuplicateNumber(f"number already stored for another subject ({field})")))
        elif c.subject_id in holders:
            problems.append((c.index, NumberAlreadyStored(f"subject {c.subject_id} already has a {field}")))
    return problems


def error_code(problem: Conflict) -> str:
    """The RowError code of a collision."""
    return "duplicate" if isinstance(problem, DuplicateNumber) else "already_stored"


async def checked_candidate(
    session: AsyncSession,
    keys: TenantKeys,
    subject: Subject,
    field: NumberField,
    number: str,
    *,
    replacing: bool,
    allow_duplicate: bool = False,
) -> Candidate:
    """One number, validated and checked against the tenant's live numbers (the person's own is fine to replace;
    another person's is fine when ``allow_duplicate``: the row is then stored flagged)."""
    candidate = candidate_for(keys, 0, subject, field, number)
    problems = [
        problem
        for _, problem in await conflicts(session, keys.tenant_id, field, [candidate])
        if not (replacing and isinstance(problem, NumberAlreadyStored))
        and not (allow_duplicate and isinstance(problem, DuplicateNumber))
    ]
    if problems:
        raise problems[0]
    return candidate
