"""Per-tenant keys: a data key and a blind-index key, random 256-bit, stored only wrapped by the KEK."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.vault import crypto
from app.vault.errors import VaultIntegrityError
from app.vault.keys import KeyProvider, WrappedKey
from app.vault.models import TenantKey

CACHE_SIZE = 4096
WRAPPED_COLUMNS = (
    TenantKey.tenant_id,
    TenantKey.version,
    TenantKey.kek_version,
    TenantKey.wrapped_data_key,
    TenantKey.wrapped_index_key,
)


class WrappedRow(Protocol):
    """A stored generation as read from ``tenant_keys``."""

    tenant_id: uuid.UUID
    version: int
    kek_version: int
    wrapped_data_key: bytes
    wrapped_index_key: bytes


@dataclass(frozen=True, slots=True)
class TenantKeys:
    """One generation of a tenant's keys, unwrapped (lives only in this process's memory)."""

    tenant_id: uuid.UUID
    version: int
    data_key: bytes
    index_key: bytes
    data_cipher: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_cipher", AESGCM(self.data_key))


def wrap_context(tenant_id: uuid.UUID, version: int, kind: str) -> bytes:
    """What a wrapped tenant key is bound to: a key copied to another tenant or role fails to unwrap."""
    return crypto.associated_data("tenant-key", tenant_id, version, kind)


class TenantKeyring:
    """Creates, unwraps and re-wraps tenant keys.

    The row is read on every use (a primary-key lookup) and only the unwrapping is cached, keyed by the wrapped
    bytes: keys from a rolled-back transaction or from before a rotation can never be served from memory.
    """

    def __init__(self, provider: KeyProvider, cache_size: int = CACHE_SIZE) -> None:
        self.provider = provider
        self._cache: OrderedDict[tuple[Any, ...], TenantKeys] = OrderedDict()
        self._cache_size = cache_size

    async def create(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        """Give the tenant its first generation of keys; a no-op when it has one (safe under races)."""
        exists = await session.scalar(select(func.count()).where(TenantKey.tenant_id == tenant_id))
        if exists:
            return
        data = self.provider.wrap(crypto.new_key(), wrap_context(tenant_id, 1, "data"))
        index = self.provider.wrap(crypto.new_key(), wrap_context(tenant_id, 1, "index"))
        now = utcnow()
        values = {
            "tenant_id": tenant_id,
            "version": 1,
            "kek_version": data.version,
            "wrapped_data_key": data.ciphertext,
            "wrapped_index_key": index.ciphertext,
            "created_at": now,
            "updated_at": now,
        }
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        await session.execute(dialect.insert(TenantKey).values(values).on_conflict_do_nothing())

    async def current(self, session: AsyncSession, tenant_id: uuid.UUID) -> TenantKeys:
        """The newest generation, created on first use."""
        statement = (
            select(*WRAPPED_COLUMNS).where(TenantKey.tenant_id == tenant_id).order_by(TenantKey.version.desc()).limit(1)
        )
        row = (await session.execute(statement)).first()
        if row is None:
            await self.create(session, tenant_id)
            row = (await session.execute(statement)).one()
        return self._unwrap_cached(row)

    async def get(self, session: AsyncSession, tenant_id: uuid.UUID, version: int) -> TenantKeys:
        """One generation of a tenant's keys; VaultIntegrityError when missing or not unwrappable."""
        statement = select(*WRAPPED_COLUMNS).where(TenantKey.tenant_id == tenant_id, TenantKey.version == version)
        row = (await session.execute(statement)).first()
        if row is None:
            raise VaultIntegrityError(f"tenant {tenant_id} has no keys of version {version}")
        return self._unwrap_cached(row)

    def _unwrap_cached(self, row: WrappedRow) -> TenantKeys:
        key = (row.tenant_id, row.version, row.kek_version, bytes(row.wrapped_data_key), bytes(row.wrapped_index_key))
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        keys = self.unwrap(row)
        self._cache[key] = keys
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return keys

    def forget(self, tenant_id: uuid.UUID) -> None:
        """Drop every unwrapped generation of the tenant from this process's cache (its keys were destroyed)."""
        for key in [key for key in self._cache if key[0] == tenant_id]:
            del self._cache[key]

    def unwrap(self, row: WrappedRow) -> TenantKeys:
        """Unwrap a stored generation under its KEK version."""
        data = self.provider.unwrap(
            WrappedKey(row.kek_version, row.wrapped_data_key), wrap_context(row.tenant_id, row.version, "data")
        )
        index = self.provider.unwrap(
            WrappedKey(row.kek_version, row.wrapped_index_key), wrap_context(row.tenant_id, row.version, "index")
        )
        return TenantKeys(row.tenant_id, row.version, data, index)

    async def rewrap_batch(self, session: AsyncSession, batch_size: int) -> list[uuid.UUID]:
        """Re-wrap up to ``batch_size`` generations not yet under the current KEK version; returns their tenants."""
        target = self.provider.current_version()
        statement = (
            select(*WRAPPED_COLUMNS)
            .where(TenantKey.kek_version != target)
            .order_by(TenantKey.tenant_id, TenantKey.version)
            .limit(batch_size)
        )
        if session.get_bind().dialect.name == "postgresql":
            statement = statement.with_for_update(skip_locked=True)
        rows = (await session.execute(statement)).all()
        for row in rows:
            keys = self.unwrap(row)
            data = self.provider.wrap(keys.data_key, wrap_context(row.tenant_id, row.version, "data"))
            index = self.provider.wrap(keys.index_key, wrap_context(row.tenant_id, row.version, "index"))
            await session.execute(
                update(TenantKey)
                .where(TenantKey.tenant_id == row.tenant_id, TenantKey.version == row.version)
                .values(
                    kek_version=data.version,
                    wrapped_data_key=data.ciphertext,
                    wrapped_index_key=index.ciphertext,
                    updated_at=utcnow(),
                )
            )
        return sorted({row.tenant_id for row in rows})

    async def count_behind(self, session: AsyncSession) -> int:
        """How many generations are still wrapped by an older KEK version."""
        target = self.provider.current_version()
        return int(await session.scalar(select(func.count()).where(TenantKey.kek_version != target)) or 0)
