"""The operation log's keys: a random audit key per version, wrapped by the master key, kept in the key store.

Per tenant, the chain key is HKDF(audit key, tenant id); checkpoint rows are MACed and checkpoint files signed
(Ed25519) with keys derived the same way. The main database never holds any of them, so someone who can only
write the main database cannot recompute a single entry's MAC. Rotating the master key re-wraps the audit keys
(:meth:`AuditKeyring.rewrap`); an audit key version is never dropped, so every old entry stays verifiable.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.audit.keys import AuditKeyError, Checkpoint
from app.db import utcnow
from app.vault import crypto
from app.vault.keys import KeyProvider, WrappedKey
from app.vault.keystore import AuditCheckpointRow, AuditKeyRow, KeyStore


def _wrap_context(version: int) -> bytes:
    return crypto.associated_data("audit-key", version)


class AuditKeyring:
    """Implements :class:`app.audit.keys.AuditKeySource` on the key store; unwrapped keys stay in memory."""

    def __init__(self, provider: KeyProvider, keystore: KeyStore) -> None:
        self.provider = provider
        self.keystore = keystore
        self._keys: dict[int, bytes] = {}
        self._derived: dict[tuple[int, str], bytes] = {}
        self._current: int | None = None

    async def current_version(self) -> int:
        """The newest audit key version, created (version 1) on first use."""
        if self._current is None:
            async with self.keystore.engine.connect() as connection:
                newest = (await connection.execute(select(func.max(AuditKeyRow.version)))).scalar()
            if newest is None:
                await self._create(1)
                newest = 1
            self._current = int(newest)
        return self._current

    async def add_version(self) -> int:
        """Start a new audit key version (old versions stay: their entries must verify forever)."""
        async with self.keystore.engine.connect() as connection:
            newest = (await connection.execute(select(func.max(AuditKeyRow.version)))).scalar() or 0
        await self._create(int(newest) + 1)
        self._current = None
        return await self.current_version()

    async def _create(self, version: int) -> None:
        wrapped = self.provider.wrap(crypto.new_key(), _wrap_context(version))
        values = {"version": version, "kek_version": wrapped.version, "wrapped_key": wrapped.ciphertext}
        async with self.keystore.engine.begin() as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            await connection.execute(
                dialect.insert(AuditKeyRow).values(**values, created_at=utcnow()).on_conflict_do_nothing()
            )

    async def _key(self, version: int) -> bytes:
        key = self._keys.get(version)
        if key is None:
            async with self.keystore.engine.connect() as connection:
                row = (
                    await connection.execute(
                        select(AuditKeyRow.kek_version, AuditKeyRow.wrapped_key).where(AuditKeyRow.version == version)
                    )
                ).first()
            if row is None:
                raise AuditKeyError(f"操作履歴の鍵の版 {version} が鍵ストアにありません")
            key = self.provider.unwrap(WrappedKey(row.kek_version, row.wrapped_key), _wrap_context(version))
            self._keys[version] = key
        return key

    async def _derive(self, version: int, purpose: str) -> bytes:
        derived = self._derived.get((version, purpose))
        if derived is None:
            derived = crypto.derive(await self._key(version), purpose)
            self._derived[(version, purpose)] = derived
        return derived

    async def chain_key(self, version: int, tenant_id: uuid.UUID) -> bytes:
        """HKDF(audit key ``version``, tenant): the HMAC key of the tenant's chain."""
        return await self._derive(version, f"audit-chain:{tenant_id}")

    async def signing_seed(self, version: int) -> bytes:
        """The Ed25519 seed that signs exported checkpoint files."""
        return await self._derive(version, "audit-checkpoint-file")

    async def _row_mac(self, version: int, tenant_id: uuid.UUID, seq: int, mac: str) -> str:
        key = await self._derive(version, "audit-checkpoint-row")
        message = crypto.associated_data("audit-checkpoint", tenant_id, seq, mac)
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    async def checkpoints(self, tenant_id: uuid.UUID | None = None) -> list[Checkpoint]:
        """The checkpoints kept (one tenant's or all), oldest first, each with its row MAC checked."""
        statement = select(AuditCheckpointRow).order_by(AuditCheckpointRow.tenant_id, AuditCheckpointRow.seq)
        if tenant_id is not None:
            statement = statement.where(AuditCheckpointRow.tenant_id == tenant_id)
        async with self.keystore.engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        found: list[Checkpoint] = []
        for row in rows:
            try:
                expected = await self._row_mac(row.key_version, row.tenant_id, row.seq, row.mac)
            except AuditKeyError:
                expected = ""
            authentic = hmac.compare_digest(expected, row.row_mac)
            found.append(Checkpoint(row.tenant_id, int(row.seq), row.mac, authentic))
        return found

    async def add_checkpoints(self, checkpoints: list[Checkpoint]) -> None:
        """Keep these checkpoints (MACed under the current version) in one key-store transaction."""
        if not checkpoints:
            return
        version = await self.current_version()
        now = utcnow()
        rows = [
            {
                "tenant_id": c.tenant_id,
                "seq": c.seq,
                "mac": c.mac,
                "key_version": version,
                "row_mac": await self._row_mac(version, c.tenant_id, c.seq, c.mac),
                "created_at": now,
            }
            for c in checkpoints
        ]
        async with self.keystore.engine.begin() as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            await connection.execute(dialect.insert(AuditCheckpointRow).values(rows).on_conflict_do_nothing())

    async def drop_checkpoints(self, tenant_id: uuid.UUID) -> None:
        """Forget a tenant's checkpoints (its log is erased at contract end)."""
        async with self.keystore.engine.begin() as connection:
            await connection.execute(delete(AuditCheckpointRow).where(AuditCheckpointRow.tenant_id == tenant_id))

    async def rewrap(self) -> int:
        """Re-wrap every audit key version under the current master key version; returns how many moved."""
        target = self.provider.current_version()
        moved = 0
        async with self.keystore.engine.begin() as connection:
            rows = (
                await connection.execute(
                    select(AuditKeyRow.version, AuditKeyRow.kek_version, AuditKeyRow.wrapped_key).where(
                        AuditKeyRow.kek_version != target
                    )
                )
            ).all()
            for row in rows:
                key = self.provider.unwrap(WrappedKey(row.kek_version, row.wrapped_key), _wrap_context(row.version))
                wrapped = self.provider.wrap(key, _wrap_context(row.version))
                await connection.execute(
                    update(AuditKeyRow)
                    .where(AuditKeyRow.version == row.version)
                    .values(kek_version=wrapped.version, wrapped_key=wrapped.ciphertext)
                )
                moved += 1
        return moved

    async def count_behind(self) -> int:
        """Audit key versions still wrapped by an older master key version."""
        target = self.provider.current_version()
        async with self.keystore.engine.connect() as connection:
            count = await connection.scalar(select(func.count()).where(AuditKeyRow.kek_version != target))
        return int(count or 0)
