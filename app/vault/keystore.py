"""The key store: a separate database holding each number's key, wrapped by the tenant data key.

Only the vault reaches it. Deleting a row here is what erases a number for good (crypto-shredding): the main
database, and every backup of it, keeps only ciphertext whose key is gone. It has its own Alembic tree
(``app/vault/keystore_migrations``) and its own, short backup retention in production.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    BigInteger,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    delete,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.db import (
    NAMING_CONVENTION,
    UTCDateTime,
    any_of,
    ensure_sqlite_dir,
    insert_many,
    make_engine,
    truncate_wal,
    utcnow,
)
from app.migrate import _in_thread, alembic_config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "keystore_migrations"
VERSION_TABLE = "alembic_version_keystore"
CHUNK = 1000  # keys per IN list: an import's or an export's batch in one statement

T = TypeVar("T")
# SQLite answers "database is locked" at once, without waiting out its busy timeout, when a write meets a snapshot
# another connection (a shredding or checkpoint of the same file) has just moved on; the write transaction is
# then simply tried again (it wrote nothing). Delays in seconds.
SQLITE_LOCK_RETRY_DELAYS = (0.05, 0.2, 1.0)


class KeystoreBase(DeclarativeBase):
    """Declarative base of the key store database (kept apart from the main database's metadata)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), uuid.UUID: Uuid()}


class NumberKey(KeystoreBase):
    """The per-number key of one sealed number (the "per-person key"), wrapped by the tenant data key.

    A person's document key (issue 12: their ID images, ``app.vault._documents``) is kept here too, under its own
    id in ``number_id``; the main database's ``document_keys`` row says whose it is.
    """

    __tablename__ = "number_keys"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    number_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_key_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class AuditKeyRow(KeystoreBase):
    """One version of the operation log's MAC key: random, wrapped by the master key, never in the main database."""

    __tablename__ = "audit_keys"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditCheckpointRow(KeystoreBase):
    """A chain head seen honest (tenant, seq, MAC), MACed itself under the checkpoint key of ``key_version``."""

    __tablename__ = "audit_checkpoints"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    mac: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[int] = mapped_column(Integer)
    row_mac: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


_NUMBER_KEYS = cast(Table, NumberKey.__table__)


@dataclass(frozen=True, slots=True)
class StoredKey:
    tenant_key_version: int
    wrapped_key: bytes


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class KeyStore:
    """Reads and writes wrapped number keys; each call is its own short transaction."""

    def __init__(self, url: str, **pool: Any) -> None:
        """``pool``: ``make_engine``'s pool arguments (``app.db.pool_options``); five connections by default."""
        ensure_sqlite_dir(url)
        self.url = url
        self.engine: AsyncEngine = make_engine(url, **{"pool_size": 5, **pool})

    async def close(self) -> None:
        """Dispose of the engine."""
        await self.engine.dispose()

    async def put_many(self, tenant_id: uuid.UUID, keys: Iterable[tuple[uuid.UUID, int, bytes]]) -> None:
        """Insert ``(number_id, tenant_key_version, wrapped_key)`` rows for one tenant in one transaction."""
        now = utcnow()
        rows = [
            {"tenant_id": tenant_id, "number_id": n, "tenant_key_version": v, "wrapped_key": w, "created_at": now}
            for n, v, w in keys
        ]
        if not rows:
            return

        async def insert(connection: AsyncConnection) -> None:
            await insert_many(connection, _NUMBER_KEYS, rows)

        await self._write(insert)

    async def _write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in one write transaction, tried again on SQLite's immediate "database is locked"."""
        for delay in (*SQLITE_LOCK_RETRY_DELAYS, None):
            try:
                async with self.engine.begin() as connection:
                    return await work(connection)
            except OperationalError as exc:
                if delay is None or self.engine.dialect.name != "sqlite" or "locked" not in str(exc.orig):
                    raise
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def get_many(self, tenant_id: uuid.UUID, number_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StoredKey]:
        """The wrapped keys of these numbers (missing ones are simply absent)."""
        found: dict[uuid.UUID, StoredKey] = {}
        async with self.engine.connect() as connection:
            dialect = connection.dialect.name
            for chunk in _chunks(list(number_ids)):
                result = await connection.execute(
                    select(NumberKey.number_id, NumberKey.tenant_key_version, NumberKey.wrapped_key).where(
                        NumberKey.tenant_id == tenant_id, any_of(NumberKey.number_id, chunk, dialect=dialect)
                    )
                )
                for number_id, version, wrapped in result.all():  # one fetch, not a driver call per row
                    found[number_id] = StoredKey(version, wrapped)
        return found

    async def delete_many(self, keys: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> int:
        """Destroy the keys ``(tenant_id, number_id)``; returns how many rows went.

        Each key is overwritten with zeros of its own length before its row is deleted, and on SQLite (with
        ``secure_delete`` on) the write-ahead log is then truncated, so the key is in no page of either file.
        """
        by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
        for tenant_id, number_id in keys:
            by_tenant.setdefault(tenant_id, []).append(number_id)

        async def overwrite_and_delete(connection: AsyncConnection) -> int:
            removed = 0
            zeros = zeros_like(NumberKey.wrapped_key, connection.dialect.name)
            for tenant_id, number_ids in by_tenant.items():
                for chunk in _chunks(number_ids):
                    these = (NumberKey.tenant_id == tenant_id, NumberKey.number_id.in_(chunk))
                    await connection.execute(update(NumberKey).where(*these).values(wrapped_key=zeros))
                    result = await connection.execute(delete(NumberKey).where(*these))
                    removed += result.rowcount or 0
            return removed

        removed = await self._write(overwrite_and_delete)
        if removed:
            await truncate_wal(self.engine)
        return removed

    async def delete_tenant(self, tenant_id: uuid.UUID, *, batch_size: int = CHUNK) -> int:
        """Destroy every key of one tenant (numbers' and document keys), ``batch_size`` rows per transaction
        (constant memory at any tenant size); returns how many rows went. Each key is overwritten with zeros before
        its row is deleted, and the write-ahead log is truncated at the end, as in :meth:`delete_many`."""

        async def next_batch(connection: AsyncConnection) -> int:
            statement = (
                select(NumberKey.number_id)
                .where(NumberKey.tenant_id == tenant_id)
                .order_by(NumberKey.number_id)
                .limit(batch_size)
            )
            ids = list((await connection.execute(statement)).scalars())
            if not ids:
                return 0
            these = (NumberKey.tenant_id == tenant_id, NumberKey.number_id.in_(ids))
            zeros = zeros_like(NumberKey.wrapped_key, connection.dialect.name)
            await connection.execute(update(NumberKey).where(*these).values(wrapped_key=zeros))
            result = await connection.execute(delete(NumberKey).where(*these))
            return result.rowcount or 0

        removed = 0
        while batch := await self._write(next_batch):
            removed += batch
        if removed:
            await truncate_wal(self.engine)
        return removed

    async def count_tenant(self, tenant_id: uuid.UUID) -> int:
        """How many keys of the tenant the key store holds (checks and tests; one aggregate query)."""
        statement = select(func.count()).select_from(NumberKey).where(NumberKey.tenant_id == tenant_id)
        async with self.engine.connect() as connection:
            return int((await connection.execute(statement)).scalar_one())

    async def truncate_wal(self) -> bool:
        """Truncate the key store's write-ahead log (SQLite); see :func:`app.db.truncate_wal`."""
        return await truncate_wal(self.engine)

    async def page(
        self, after: tuple[uuid.UUID, uuid.UUID] | None, limit: int
    ) -> list[tuple[uuid.UUID, uuid.UUID, dt.datetime]]:
        """A page of ``(tenant_id, number_id, created_at)`` in key order after ``after``."""
        statement = select(NumberKey.tenant_id, NumberKey.number_id, NumberKey.created_at)
        if after is not None:
            statement = statement.where(tuple_(NumberKey.tenant_id, NumberKey.number_id) > tuple_(*after))
        statement = statement.order_by(NumberKey.tenant_id, NumberKey.number_id).limit(limit)
        async with self.engine.connect() as connection:
            return [(t, n, c) for t, n, c in await connection.execute(statement)]

    async def created_before(
        self, cutoff: dt.datetime, after: tuple[uuid.UUID, uuid.UUID] | None, limit: int
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """A page of ``(tenant_id, number_id)`` created before ``cutoff``, in key order after ``after``."""
        statement = select(NumberKey.tenant_id, NumberKey.number_id).where(NumberKey.created_at < cutoff)
        if after is not None:
            statement = statement.where(tuple_(NumberKey.tenant_id, NumberKey.number_id) > tuple_(*after))
        statement = statement.order_by(NumberKey.tenant_id, NumberKey.number_id).limit(limit)
        async with self.engine.connect() as connection:
            return [(t, n) for t, n in await connection.execute(statement)]


def zeros_like(column: Any, dialect: str) -> Any:
    """SQL for as many zero bytes as ``column`` holds (SQLite zeroblob; PostgreSQL decode of '00' pairs)."""
    length = func.length(column)
    if dialect == "postgresql":
        return func.decode(func.repeat("00", length), "hex")
    return func.zeroblob(length)


def keystore_alembic_config(url: str) -> Config:
    """Alembic configuration of the key store tree."""
    return alembic_config(url, MIGRATIONS_DIR)


def upgrade_keystore(url: str, revision: str = "heads") -> None:
    """Upgrade the key store database at ``url``."""
    ensure_sqlite_dir(url)
    _in_thread(command.upgrade, keystore_alembic_config(url), revision)


def downgrade_keystore(url: str, revision: str = "base") -> None:
    """Downgrade the key store database at ``url``."""
    _in_thread(command.downgrade, keystore_alembic_config(url), revision)
