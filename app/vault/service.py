"""The vault service: store, find, reveal and erase numbers; seal small secrets. The only door to a key.

Every method takes the caller's ``AsyncSession`` on the main database and writes its audit entry there, so an
operation and its entry commit or roll back together. The key store is written in its own short transactions:
a number's key is written before its row (a crash leaves an orphan key, removed by ``purge``), and erased
numbers' keys are deleted after the main transaction commits (``commit``, or automatically on commit).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, false, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor, AuditAction, AuditEvent, Subject
from app.audit.keys import register_key_source
from app.audit.log import record, record_many
from app.config import Settings
from app.db import any_of, insert_many, new_id, pool_options, utcnow
from app.logs import get_logger
from app.vault import _documents, _tenant_erasure, crypto, maintenance, sealing
from app.vault._checks import (
    Candidate,
    candidate_for,
    checked_candidate,
    chunks,
    conflicts,
    conflicts_within,
    error_code,
    holders_of,
    live,
    mask,
    normalize,
    subject_id_of,
)
from app.vault._shredding import Shredder
from app.vault.audit_keys import AuditKeyring
from app.vault.errors import (
    DuplicateNumber,
    NumberAlreadyStored,
    NumberBatchError,
    NumberNotFound,
    RowError,
    VaultIntegrityError,
)
from app.vault.keys import KeyProvider, LocalKeyProvider
from app.vault.keystore import KeyStore, StoredKey, zeros_like
from app.vault.models import NumberField, VaultNumber
from app.vault.numbers import InvalidNumber
from app.vault.tenant_keys import TenantKeyring, TenantKeys
from app.workers import off_loop

log = get_logger("vault")
_NUMBERS = cast(Table, VaultNumber.__table__)
_NOBODY: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True, slots=True)
class StoredNumber:
    """A number just stored: its row id and the masked form for the screen."""

    id: uuid.UUID
    subject_id: uuid.UUID
    field: NumberField
    masked: str
    registered_at: dt.datetime
    flagged: bool = False  # another person held the same number when it was stored (重複の疑い)
    replaced: tuple[uuid.UUID, ...] = ()  # ids of the numbers ``replace_number`` erased for it (削除記録 follow)


@dataclass(frozen=True, slots=True)
class NumberHolder:
    """Another person's live number equal to a given one (found by blind index, never decrypted)."""

    number_id: uuid.UUID
    subject_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """What a list shows about a person's live number, without decrypting it."""

    id: uuid.UUID
    field: NumberField
    masked: str
    registered_at: dt.datetime


# Advisory locks are taken per bucket of blind indexes, not per number: a transaction holds at most this many, however
# many numbers it stores (an import of 100,000 numbers in one transaction would otherwise need 100,000 lock slots,
# far beyond PostgreSQL's max_locks_per_transaction × max_connections, and fail with "out of shared memory").
INDEX_LOCK_BUCKETS = 64


def index_lock_keys(tenant_id: uuid.UUID, indexes: Iterable[bytes]) -> list[int]:
    """The sorted advisory-lock keys (signed 64-bit) that serialise stores of these blind indexes in the tenant.

    The same number always maps to the same key, so two stores of it wait for each other; at most
    ``INDEX_LOCK_BUCKETS`` keys per tenant, whatever the batch size.
    """
    buckets = {int.from_bytes(hmac.digest(tenant_id.bytes, index, "sha256")[:4], "big") % INDEX_LOCK_BUCKETS
               for index in indexes}  # fmt: skip
    return sorted(
        int.from_bytes(hmac.digest(tenant_id.bytes, b"vault-index-lock:%d" % bucket, "sha256")[:8], "big", signed=True)
        for bucket in buckets
    )


class Vault:
    """Numbers sealed under per-number keys, tenant keys wrapped by the master key, every use audited."""

    def __init__(self, provider: KeyProvider, keystore: KeyStore) -> None:
        self.provider = provider
        self.keystore = keystore
        self.keyring = TenantKeyring(provider)
        self.shredder = Shredder(keystore)
        self.audit_keys = AuditKeyring(provider, keystore)

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        """Load the master key (MasterKeyError if missing or malformed) and open the key store.

        The vault becomes the audit key source of the main database: the log MACs its entries with its keys.
        """
        keystore = KeyStore(settings.effective_keystore_url, **pool_options(settings))
        vault = cls(LocalKeyProvider.from_settings(settings), keystore)
        register_key_source(settings.effective_database_url, vault.audit_keys)
        return vault

    async def close(self) -> None:
        """Finish pending key shredding and release the key store."""
        await self.wait_for_shredding()
        await self.keystore.close()

    async def wait_for_shredding(self) -> None:
        """Wait until keys of erasures committed so far are destroyed."""
        await self.shredder.wait()

    def derive_secret(self, purpose: str) -> bytes:
        """A stable per-purpose secret derived from the master key (the same in every worker and restart)."""
        return self.provider.derive_secret(purpose)

    async def create_tenant_keys(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        """Give a new tenant its data and blind-index keys (idempotent)."""
        await self.keyring.create(session, tenant_id)

    # Small secrets ------------------------------------------------------------------------------------------

    async def seal_secret(
        self, session: AsyncSession, tenant_id: uuid.UUID, owner_id: uuid.UUID, purpose: str, plaintext: bytes
    ) -> bytes:
        """Seal a small secret (a TOTP seed...) for one owner and purpose; the caller stores the token."""
        keys = await self.keyring.current(session, tenant_id)
        return sealing.seal_secret(keys, owner_id, purpose, plaintext)

    async def open_secret(
        self, session: AsyncSession, tenant_id: uuid.UUID, owner_id: uuid.UUID, purpose: str, token: bytes
    ) -> bytes:
        """Open a token from :meth:`seal_secret`; VaultIntegrityError when it belongs elsewhere or was altered."""
        version = sealing.secret_version(token)
        if version is None:
            raise VaultIntegrityError(f"secret {purpose!r} of {owner_id} is not a sealed token")
        keys = await self.keyring.get(session, tenant_id, version)
        return sealing.open_secret(keys, owner_id, purpose, token)

    # ID-document images (issue 12) -------------------------------------------------------------------------

    async def seal_document(
        self,
        session: AsyncSession,
        *,
        tenant_id: uuid.UUID,
        person_id: uuid.UUID,
        document_id: uuid.UUID,
        data: bytes,
    ) -> _documents.SealedDocument:
        """Seal an image of the person under their document key (created on first use, in the key store).

        Returns the key's id (kept with the document's metadata) and the sealed bytes for the blob store. A key
        created here is destroyed again if the session's transaction rolls back.
        """
        return await _documents.seal_document(
            self, session, tenant_id=tenant_id, person_id=person_id, document_id=document_id, data=data
        )

    async def open_document(
        self,
        session: AsyncSession,
        *,
        tenant_id: uuid.UUID,
        person_id: uuid.UUID,
        document_id: uuid.UUID,
        key_id: uuid.UUID,
        sealed: bytes,
    ) -> bytes:
        """Open an image sealed by :meth:`seal_document`.

        DocumentKeyGone once the person's number was erased (their key destroyed); VaultIntegrityError when the
        bytes were altered or belong to another document, person or tenant.
        """
        return await _documents.open_document(
            self,
            session,
            tenant_id=tenant_id,
            person_id=person_id,
            document_id=document_id,
            key_id=key_id,
            sealed=sealed,
        )

    async def destroy_document_keys(
        self, session: AsyncSession, tenant_id: uuid.UUID, owner_ids: Sequence[uuid.UUID]
    ) -> set[uuid.UUID]:
        """Destroy the document keys of these owners (people, or records that sealed a number under their own key,
        such as a 社労士 notice): what they sealed can never be opened again once the session commits (the key
        store loses the keys). Returns the owners that had a key."""
        return await _documents.destroy_document_keys(self, session, tenant_id, owner_ids)

    # Storing ------------------------------------------------------------------------------------------------

    async def store_number(
        self,
        session: AsyncSession,
        *,
        tenant_id: uuid.UUID,
        subject: Subject,
        field: NumberField,
        number: str,
        actor: Actor,
        action: AuditAction,
        function: str,
        purpose: str | None = None,
        allow_duplicate: bool = False,
    ) -> StoredNumber:
        """Validate, seal, store and log one person's number (InvalidNumber, DuplicateNumber, NumberAlreadyStored).

        With ``allow_duplicate`` a number another person holds is stored too, flagged (``StoredNumber.flagged``);
        the caller then runs the duplicate rule (``tenants.services.flag_duplicates``).
        """
        keys = await self.keyring.current(session, tenant_id)
        candidate = await checked_candidate(
            session, keys, subject, field, number, replacing=False, allow_duplicate=allow_duplicate
        )
        (stored,) = await self._write(
            session, keys, field, [candidate], actor, action, function, purpose, {}, allow_duplicate=allow_duplicate
        )
        return stored

    async def replace_number(
        self,
        session: AsyncSession,
        *,
        tenant_id: uuid.UUID,
        subject: Subject,
        field: NumberField,
        number: str,
        actor: Actor,
        action: AuditAction,
        function: str,
        purpose: str | None = None,
        allow_duplicate: bool = False,
    ) -> StoredNumber:
        """Erase the person's live number for the field (logged as 削除) and store the new one; the result's
        ``replaced`` holds the erased number ids (the caller writes their deletion records)."""
        keys = await self.keyring.current(session, tenant_id)
        candidate = await checked_candidate(
            session, keys, subject, field, number, replacing=True, allow_duplicate=allow_duplicate
        )
        replaced = await self.erase(
            session,
            tenant_id=tenant_id,
            subject=subject,
            actor=actor,
            function=function,
            reason="番号の変更",
            field=field,
        )
        detail: dict[str, Any] = {"replaced": bool(replaced)}
        (stored,) = await self._write(
            session, keys, field, [candidate], actor, action, function, purpose, detail, allow_duplicate=allow_duplicate
        )
        return dataclasses.replace(stored, replaced=tuple(replaced))

    async def store_many(
        self,
        session: AsyncSession,
        *,
        tenant_id: uuid.UUID,
        entries: Sequence[tuple[Subject, str]],
        field: NumberField,
        actor: Actor,
        function: str,
        action: AuditAction = AuditAction.IMPORT,
        purpose: str | None = None,
        allow_duplicates: bool = False,
        actors: Sequence[Actor] | None = None,
    ) -> list[StoredNumber]:
        """Store many numbers (imports); any bad row refuses the whole batch with NumberBatchError listing each.

        Every row is checked before anything is written; the key store and the table get bulk inserts. With
        ``allow_duplicates`` a number held by another person (or repeated in the batch) is stored flagged, and the
        caller runs the duplicate rule (``tenants.services.flag_duplicates``) on what this returns. ``actors``
        (one per entry) names who gave each number when they differ (people registering their own numbers);
        otherwise every entry is logged as ``actor``'s.
        """
        if actors is not None and len(actors) != len(entries):
            raise ValueError("actors: one per entry")
        keys = await self.keyring.current(session, tenant_id)
        candidates, errors = await off_loop(len(entries), _candidates, keys, entries, field)
        errors += [e for e in conflicts_within(candidates) if not (allow_duplicates and e.code == "duplicate_in_batch")]
        # With duplicates allowed, only a person who already has a number is refused: the holders of each number are
        # read once, under the lock, by ``_write``.
        errors += [
            RowError(index, error_code(problem), problem.message)
            for index, problem in await conflicts(session, tenant_id, field, candidates, numbers=not allow_duplicates)
        ]
        if errors:
            raise NumberBatchError(sorted(errors, key=lambda e: e.index))
        return await self._write(
            session,
            keys,
            field,
            candidates,
            actor,
            action,
            function,
            purpose,
            {},
            allow_duplicate=allow_duplicates,
            actors=actors,
        )

    async def _write(
        self,
        session: AsyncSession,
        keys: TenantKeys,
        field: NumberField,
        candidates: Sequence[Candidate],
        actor: Actor,
        action: AuditAction,
        function: str,
        purpose: str | None,
        detail: dict[str, Any],
        *,
        allow_duplicate: bool = False,
        actors: Sequence[Actor] | None = None,
    ) -> list[StoredNumber]:
        now = utcnow()
        held: set[bytes] = set()
        if allow_duplicate:
            await self._lock_indexes(session, keys.tenant_id, [c.blind_index for c in candidates])
            held = await self._held(session, keys.tenant_id, [c.blind_index for c in candidates])
        rows, wrapped, stored = await off_loop(len(candidates), _sealed_rows, keys, field, candidates, held, now)
        # The key first: a crash in between leaves an orphan key (purged later), never a row without its key.
        await self.keystore.put_many(keys.tenant_id, wrapped)
        self.shredder.written(session, [(keys.tenant_id, number_id) for number_id, _, _ in wrapped])
        try:
            await insert_many(session, _NUMBERS, rows)
        except IntegrityError as exc:
            if "subject" in str(exc.orig):
                raise NumberAlreadyStored("a live number appeared concurrently for this subject") from None
            if "blind_index" in str(exc.orig):
                raise DuplicateNumber("the same number was stored concurrently") from None
            raise
        events = [
            AuditEvent(
                tenant_id=keys.tenant_id,
                action=action,
                actor=actors[c.index] if actors is not None else actor,
                function=function,
                subject=c.subject,
                purpose=purpose,
                detail={"field": field.value, "number_id": str(s.id), **detail},
            )
            for c, s in zip(candidates, stored, strict=True)
        ]
        await record_many(session, events)
        return stored

    # Finding and reading ------------------------------------------------------------------------------------

    async def find_duplicate(
        self, session: AsyncSession, tenant_id: uuid.UUID, field: NumberField, number: str
    ) -> uuid.UUID | None:
        """The person in this tenant who already has this live number, if any (by blind index, no decryption)."""
        keys = await self.keyring.current(session, tenant_id)
        index = crypto.blind_index(keys.index_key, field.value, normalize(field, number))
        statement = (
            select(VaultNumber.subject_id)
            .where(*live(tenant_id), VaultNumber.blind_index == index)
            .order_by(VaultNumber.registered_at, VaultNumber.id)
        )
        return (await session.execute(statement)).scalars().first()

    async def find_holders(
        self, session: AsyncSession, tenant_id: uuid.UUID, field: NumberField, numbers: Sequence[str]
    ) -> list[frozenset[uuid.UUID]]:
        """For each number, the people of this tenant whose live number it is (by blind index, no decryption).

        The duplicate rule's check for many numbers at once (an import's check): one query per chunk of distinct
        numbers, the blind indexes computed off the event loop. InvalidNumber for a number the field's rules refuse.
        """
        if not numbers:
            return []
        keys = await self.keyring.current(session, tenant_id)
        indexes = await off_loop(len(numbers), _blind_indexes, keys, field, numbers)
        found: dict[bytes, set[uuid.UUID]] = {}
        for chunk in chunks(sorted(set(indexes))):
            for index, subject_id in await session.execute(holders_of(session, tenant_id, chunk)):
                if index is not None:
                    found.setdefault(bytes(index), set()).add(subject_id)
        held = {index: frozenset(subjects) for index, subjects in found.items()}
        return [held.get(index, _NOBODY) for index in indexes]

    async def other_holders(
        self, session: AsyncSession, tenant_id: uuid.UUID, number_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[NumberHolder]]:
        """For each of these live numbers, the other people's live numbers with the same blind index."""
        found: dict[uuid.UUID, list[NumberHolder]] = {number_id: [] for number_id in number_ids}
        for chunk in chunks(list(number_ids)):
            mine = (
                select(VaultNumber.id, VaultNumber.subject_id, VaultNumber.blind_index)
                .where(*live(tenant_id), VaultNumber.id.in_(chunk))
                .subquery()
            )
            statement = (
                select(mine.c.id, VaultNumber.id.label("other_id"), VaultNumber.subject_id)
                .join(
                    mine,
                    (VaultNumber.blind_index == mine.c.blind_index) & (VaultNumber.subject_id != mine.c.subject_id),
                )
                .where(*live(tenant_id))
            )
            for row in await session.execute(statement):
                found[row.id].append(NumberHolder(row.other_id, row.subject_id))
        return found

    async def same_number(
        self, session: AsyncSession, tenant_id: uuid.UUID, subject_id: uuid.UUID, field: NumberField, typed: str
    ) -> bool:
        """Whether what was typed is the person's live number (blind index, compared in constant time).

        InvalidNumber when ``typed`` is not a valid number; False when the person has no live number.
        """
        keys = await self.keyring.current(session, tenant_id)
        index = crypto.blind_index(keys.index_key, field.value, normalize(field, typed))
        statement = select(VaultNumber.blind_index).where(
            *live(tenant_id), VaultNumber.subject_id == subject_id, VaultNumber.field == field
        )
        stored = (await session.execute(statement)).scalar_one_or_none()
        return stored is not None and hmac.compare_digest(bytes(stored), index)

    @staticmethod
    async def _lock_indexes(session: AsyncSession, tenant_id: uuid.UUID, indexes: Sequence[bytes]) -> None:
        """Serialise concurrent stores of the same number in a tenant, so the second one sees the first and is
        flagged rather than refused by the unique index: transaction advisory locks on PostgreSQL; on SQLite the
        database write lock, taken before the check (reads alone take none, so both checks would see no holder)."""
        bind = session.get_bind()
        if bind.dialect.name != "postgresql":
            # A write matching no row begins the write transaction: later stores wait here and then read the first.
            await session.execute(update(VaultNumber).where(false()).values(flagged=VaultNumber.flagged))
            return
        keys = index_lock_keys(tenant_id, indexes)
        # One statement for the whole batch (a round trip per key made a 1,000-number batch wait on 1,000 of them);
        # unnest yields the sorted keys in order, so every writer takes them in the same order.
        statement = text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS t(k)")
        await session.execute(statement, {"keys": keys})

    async def _held(self, session: AsyncSession, tenant_id: uuid.UUID, indexes: Sequence[bytes]) -> set[bytes]:
        """Which of these blind indexes a live number already has (or a row before it in the same batch)."""
        held: set[bytes] = set()
        for chunk in chunks(list(indexes)):
            held.update(
                bytes(b) for b, _ in await session.execute(holders_of(session, tenant_id, chunk)) if b is not None
            )
        seen: set[bytes] = set()
        for index in indexes:
            if index in seen:
                held.add(index)
            seen.add(index)
        return held

    async def number_info(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        subject_ids: Sequence[uuid.UUID],
        field: NumberField | None = None,
    ) -> dict[uuid.UUID, NumberInfo]:
        """Masked form and registration time of each person's live number (My Number first when both)."""
        found: dict[uuid.UUID, NumberInfo] = {}
        for chunk in chunks(list(subject_ids)):
            statement = select(
                VaultNumber.subject_id,
                VaultNumber.id,
                VaultNumber.field,
                VaultNumber.masked,
                VaultNumber.registered_at,
            ).where(*live(tenant_id), VaultNumber.subject_id.in_(chunk))
            if field is not None:
                statement = statement.where(VaultNumber.field == field)
            for row in await session.execute(statement):
                info = NumberInfo(row.id, row.field, row.masked, row.registered_at)
                if row.subject_id not in found or info.field == NumberField.MY_NUMBER:
                    found[row.subject_id] = info
        return found

    async def reveal(
        self,
        session: AsyncSession,
        *,
        tenant_id: uuid.UUID,
        subject: Subject,
        field: NumberField,
        actor: Actor,
        purpose: str,
        function: str,
        action: AuditAction = AuditAction.REVEAL,
    ) -> str:
        """Open one person's number for a stated purpose; the audit entry is written before it is returned."""
        subject_id = subject_id_of(subject)
        numbers = await self._open_live(session, tenant_id, [subject_id], field)
        if subject_id not in numbers:
            raise NumberNotFound(f"subject {subject_id} has no live {field}")
        number_id, number = numbers[subject_id]
        await record(session, self._use_event(tenant_id, subject, field, number_id, actor, purpose, function, action))
        return number

    async def reveal_many(
        self,
        session: AsyncSession,
        *,
        tenant_id: uuid.UUID,
        subjects: Sequence[Subject],
        field: NumberField,
        actor: Actor,
        purpose: str,
        function: str,
        action: AuditAction = AuditAction.REVEAL,
    ) -> dict[uuid.UUID, str]:
        """Open many people's numbers (exports), logging one entry per person first; the numberless are absent."""
        by_id = {subject_id_of(s): s for s in subjects}
        numbers = await self._open_live(session, tenant_id, list(by_id), field)
        events = [
            self._use_event(tenant_id, by_id[subject_id], field, number_id, actor, purpose, function, action)
            for subject_id, (number_id, _) in numbers.items()
        ]
        await record_many(session, events)
        return {subject_id: number for subject_id, (_, number) in numbers.items()}

    @staticmethod
    def _use_event(
        tenant_id: uuid.UUID,
        subject: Subject,
        field: NumberField,
        number_id: uuid.UUID,
        actor: Actor,
        purpose: str,
        function: str,
        action: AuditAction,
    ) -> AuditEvent:
        return AuditEvent(
            tenant_id=tenant_id,
            action=action,
            actor=actor,
            function=function,
            subject=subject,
            purpose=purpose,
            detail={"field": field.value, "number_id": str(number_id)},
        )

    async def _open_live(
        self, session: AsyncSession, tenant_id: uuid.UUID, subject_ids: Sequence[uuid.UUID], field: NumberField
    ) -> dict[uuid.UUID, tuple[uuid.UUID, str]]:
        """``subject_id -> (number_id, number)`` for the live numbers of these people."""
        rows: list[Any] = []
        dialect = session.get_bind().dialect.name
        for chunk in chunks(list(subject_ids)):
            statement = select(
                VaultNumber.id,
                VaultNumber.subject_id,
                VaultNumber.ciphertext,
                VaultNumber.nonce,
                VaultNumber.tenant_key_version,
            ).where(
                *live(tenant_id), VaultNumber.field == field, any_of(VaultNumber.subject_id, chunk, dialect=dialect)
            )
            rows += (await session.execute(statement)).all()
        if not rows:
            return {}
        stored_keys = await self.keystore.get_many(tenant_id, [row.id for row in rows])
        generations: dict[int, TenantKeys] = {}
        for row in rows:
            if row.tenant_key_version not in generations:
                try:
                    generations[row.tenant_key_version] = await self.keyring.get(
                        session, tenant_id, row.tenant_key_version
                    )
                except VaultIntegrityError as exc:
                    raise _integrity_failure(tenant_id, row.id, exc) from None
        # The decryption of a batch (two AES-GCM openings a number) in a worker thread, off the event loop.
        opened, failure = await off_loop(len(rows), _opened_rows, generations, stored_keys, rows, field)
        if failure is not None:
            raise _integrity_failure(tenant_id, *failure) from None
        return opened

    # Erasing ------------------------------------------------------------------------------------------------

    async def erase(
        self,
        session: AsyncSession,
        *,
        tenant_id: uuid.UUID,
        subject: Subject,
        actor: Actor,
        function: str,
        reason: str,
        field: NumberField | None = None,
    ) -> list[uuid.UUID]:
        """Mark the person's live number(s) erased and log it; returns the erased numbers' ids (empty: none live).

        Their keys are destroyed once the transaction commits (see :meth:`commit`); so is the person's document
        key when their My Number is erased (replaced too: the old number's images show it), which makes every ID
        image of the person unopenable.
        """
        subject_id = subject_id_of(subject)
        statement = select(VaultNumber.id, VaultNumber.field).where(
            *live(tenant_id), VaultNumber.subject_id == subject_id
        )
        if field is not None:
            statement = statement.where(VaultNumber.field == field)
        rows = (await session.execute(statement)).all()
        if not rows:
            return []
        now = utcnow()
        these = (VaultNumber.tenant_id == tenant_id, VaultNumber.id.in_([row.id for row in rows]))
        # Overwritten with zeros of the same length first, then cleared: with secure_delete on, no page of the
        # database keeps the ciphertext (the WAL is truncated after the commit, see Shredder).
        dialect = session.get_bind().dialect.name
        await _clear_sealed(session, these, now, reason, dialect)
        images: set[uuid.UUID] = set()
        if any(NumberField(row.field) is NumberField.MY_NUMBER for row in rows):
            # The images of the person's number documents show the number: they go with it (issue 12).
            images = await _documents.destroy_document_keys(self, session, tenant_id, [subject_id])
        events = [
            AuditEvent(
                tenant_id=tenant_id,
                action=AuditAction.DELETE,
                actor=actor,
                function=function,
                subject=subject,
                detail={"field": NumberField(row.field).value, "number_id": str(row.id), "reason": reason[:200]}
                | _images_detail(row.field, subject_id, images),
            )
            for row in rows
        ]
        await record_many(session, events)
        self.shredder.queue(session, [(tenant_id, row.id) for row in rows])
        return [row.id for row in rows]

    async def erase_many(
        self,
        session: AsyncSession,
        *,
        tenant_id: uuid.UUID,
        subjects: Sequence[Subject],
        actor: Actor,
        function: str,
        reason: str,
        field: NumberField,
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """:meth:`erase` for many people at once (an import replacing numbers): their live numbers of ``field``
        marked erased, one 削除 entry each appended in bulk; returns (person id, erased number id) per number. Keys
        go when the transaction commits, with the people's document keys when ``field`` is the My Number (as in
        :meth:`erase`)."""
        by_id = {subject_id_of(subject): subject for subject in subjects}
        rows: list[Any] = []
        for chunk in chunks(list(by_id)):
            statement = select(VaultNumber.id, VaultNumber.subject_id).where(
                *live(tenant_id), VaultNumber.field == field, VaultNumber.subject_id.in_(chunk)
            )
            rows += (await session.execute(statement)).all()
        if not rows:
            return []
        now = utcnow()
        dialect = session.get_bind().dialect.name
        for chunk in chunks([row.id for row in rows]):
            these = (VaultNumber.tenant_id == tenant_id, VaultNumber.id.in_(chunk))
            await _clear_sealed(session, these, now, reason, dialect)
        images: set[uuid.UUID] = set()
        if field == NumberField.MY_NUMBER:
            images = await _documents.destroy_document_keys(self, session, tenant_id, [row.subject_id for row in rows])
        events = [
            AuditEvent(
                tenant_id=tenant_id,
                action=AuditAction.DELETE,
                actor=actor,
                function=function,
                subject=by_id[row.subject_id],
                detail={"field": field.value, "number_id": str(row.id), "reason": reason[:200]}
                | _images_detail(field, row.subject_id, images),
            )
            for row in rows
        ]
        await record_many(session, events)
        self.shredder.queue(session, [(tenant_id, row.id) for row in rows])
        return [(row.subject_id, row.id) for row in rows]

    async def commit(self, session: AsyncSession) -> None:
        """Commit the main transaction, then destroy the keys of the numbers it erased."""
        await session.commit()
        await self.shredder.finish(session)

    # A whole tenant (contract end, issue 13) ----------------------------------------------------------------

    async def destroy_tenant(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tenant_id: uuid.UUID,
        *,
        actor: Actor,
        function: str,
        reason: str,
        batch_size: int = _tenant_erasure.BATCH,
    ) -> _tenant_erasure.TenantDestruction:
        """Erase every number of the tenant and destroy all its keys, in committed batches of ``batch_size``.

        Every live number is erased as :meth:`erase_many` does (one 削除 entry each in the tenant's chain, by
        ``actor`` for ``function``, ``reason`` as erase reason), every live document key destroyed, any key of the
        tenant left in the key store removed, then the tenant's data and blind-index keys (every generation)
        overwritten and deleted. Idempotent: a rerun (after a crash, or after completion) finishes what is left and
        returns zeros once nothing is. Constant memory at any tenant size. The caller refuses it unless the
        tenant's contract has ended (billing.tenant_erasure); afterwards the tenant must not be used again (a new
        use would create new, empty keys).
        """
        return await _tenant_erasure.destroy_tenant(
            self, sessions, tenant_id, actor=actor, function=function, reason=reason, batch_size=batch_size
        )

    async def erased_totals(
        self, session: AsyncSession, tenant_id: uuid.UUID, *, reason: str
    ) -> _tenant_erasure.ErasedTotals:
        """Numbers of the tenant erased with ``reason`` and the people they belonged to (never decrypted)."""
        return await _tenant_erasure.erased_totals(session, tenant_id, reason)

    async def has_tenant_keys(self, session: AsyncSession, tenant_id: uuid.UUID) -> bool:
        """Whether the tenant still has data keys (False once :meth:`destroy_tenant` ran, or before first use)."""
        return await _tenant_erasure.has_tenant_keys(session, tenant_id)

    # Maintenance --------------------------------------------------------------------------------------------

    async def purge(self, session: AsyncSession, *, older_than: dt.timedelta = dt.timedelta(minutes=10)) -> int:
        """Destroy key-store keys whose number is erased or missing; returns how many.

        Erased numbers' keys go at once; keys without a row only once older than ``older_than``, so those of
        transactions still in flight survive.
        """
        return (await maintenance.purge_keys(self, session, older_than=older_than)).total

    async def run_maintenance(
        self, sessions: async_sessionmaker[AsyncSession], *, orphan_grace: dt.timedelta, trigger: str
    ) -> maintenance.MaintenanceReport:
        """The periodic task and ``mnvault purge``: purge keys, checkpoint the audit chains, truncate WALs, log."""
        return await maintenance.run_maintenance(self, sessions, orphan_grace=orphan_grace, trigger=trigger)

    async def rotate_master_key(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        retire_old: bool = False,
        batch_size: int = 100,
        max_batches: int | None = None,
    ) -> maintenance.RotationReport:
        """``mnvault keys rotate [--retire-old]``: add a KEK version (or retire old ones) and re-wrap tenant keys."""
        return await maintenance.rotate_master_key(
            self, sessions, retire_old=retire_old, batch_size=batch_size, max_batches=max_batches
        )


def _images_detail(field: str, subject_id: uuid.UUID, images: set[uuid.UUID]) -> dict[str, Any]:
    """What a 削除 entry adds when the person's ID images became unopenable with their My Number (issue 12)."""
    if NumberField(field) is NumberField.MY_NUMBER and subject_id in images:
        return {"images_erased": True}
    return {}


def _candidates(
    keys: TenantKeys, entries: Sequence[tuple[Subject, str]], field: NumberField
) -> tuple[list[Candidate], list[RowError]]:
    """Each entry normalised and blind-indexed, or the reason it cannot be (CPU work: run off the loop)."""
    candidates: list[Candidate] = []
    errors: list[RowError] = []
    for index, (subject, number) in enumerate(entries):
        try:
            candidates.append(candidate_for(keys, index, subject, field, number))
        except InvalidNumber as exc:
            errors.append(RowError(index, exc.code, exc.message))
    return candidates, errors


def _opened_rows(
    generations: dict[int, TenantKeys], stored_keys: dict[uuid.UUID, StoredKey], rows: Sequence[Any], field: NumberField
) -> tuple[dict[uuid.UUID, tuple[uuid.UUID, str]], tuple[uuid.UUID, VaultIntegrityError] | None]:
    """``subject_id -> (number_id, number)`` of the rows opened, and the first that fails (its id and why), where
    the opening stops (CPU work: run off the loop)."""
    opened: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}
    for row in rows:
        try:
            stored = stored_keys.get(row.id)
            if stored is None or row.ciphertext is None or row.nonce is None:
                raise VaultIntegrityError(f"key of number {row.id} is missing from the key store")
            number = sealing.open_number(
                generations[row.tenant_key_version],
                row.id,
                row.subject_id,
                field,
                row.nonce,
                row.ciphertext,
                stored.wrapped_key,
            )
        except VaultIntegrityError as exc:
            return opened, (row.id, exc)
        opened[row.subject_id] = (row.id, number)
    return opened, None


def _integrity_failure(tenant_id: uuid.UUID, number_id: uuid.UUID, exc: VaultIntegrityError) -> VaultIntegrityError:
    """Log a number that failed to open (never its contents) and the error to raise."""
    log.error(
        "vault integrity failure",
        extra={"tenant_id": str(tenant_id), "number_id": str(number_id), "error": str(exc)},
    )
    return VaultIntegrityError(f"number {number_id} of tenant {tenant_id}: {exc}")


def _blind_indexes(keys: TenantKeys, field: NumberField, numbers: Sequence[str]) -> list[bytes]:
    """The blind index of each number (CPU work: run off the loop); InvalidNumber for a bad one."""
    return [crypto.blind_index(keys.index_key, field.value, normalize(field, number)) for number in numbers]


def _sealed_rows(
    keys: TenantKeys,
    field: NumberField,
    candidates: Sequence[Candidate],
    held: set[bytes],
    now: dt.datetime,
) -> tuple[list[dict[str, Any]], list[tuple[uuid.UUID, int, bytes]], list[StoredNumber]]:
    """The table rows, key-store rows and results of sealing each candidate (CPU work: run off the loop)."""
    rows: list[dict[str, Any]] = []
    wrapped: list[tuple[uuid.UUID, int, bytes]] = []
    stored: list[StoredNumber] = []
    for c in candidates:
        sealed = sealing.seal_number(keys, new_id(), c.subject_id, field, c.normalized)
        masked = mask(field, c.normalized)
        wrapped.append((sealed.number_id, keys.version, sealed.wrapped_key))
        rows.append(
            {
                "tenant_id": keys.tenant_id,
                "id": sealed.number_id,
                "subject_id": c.subject_id,
                "field": field,
                "ciphertext": sealed.ciphertext,
                "nonce": sealed.nonce,
                "tenant_key_version": keys.version,
                "blind_index": c.blind_index,
                "masked": masked,
                "flagged": c.blind_index in held,
                "registered_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
        stored.append(StoredNumber(sealed.number_id, c.subject_id, field, masked, now, c.blind_index in held))
    return rows, wrapped, stored


async def _clear_sealed(
    session: AsyncSession, these: Sequence[Any], now: dt.datetime, reason: str, dialect: str
) -> None:
    """Mark these number rows erased: ciphertext and nonce overwritten with zeros of the same length first (so
    SQLite's secure_delete pages hold no copy), then cleared with the blind index (erase and erase_many)."""
    await session.execute(
        update(VaultNumber)
        .where(*these)
        .values(ciphertext=zeros_like(VaultNumber.ciphertext, dialect), nonce=zeros_like(VaultNumber.nonce, dialect))
    )
    await session.execute(
        update(VaultNumber)
        .where(*these)
        .values(erased_at=now, erase_reason=reason[:200], ciphertext=None, nonce=None, blind_index=None, updated_at=now)
    )
