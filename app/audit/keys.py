"""Where the operation log finds its MAC keys: a key source registered per main database, kept out of it.

The keys themselves belong to the vault (``app.vault.audit_keys``): random, versioned, wrapped by the master key
and stored in the key store. The log only asks a registered source for them, so ``app.audit`` never imports the
vault. No source registered for a database means no entry can be written or verified there (fail closed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession


class AuditKeyError(RuntimeError):
    """No audit key source is registered for this database, or a key version is unknown."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A chain head seen honest at some time: the entry ``seq`` of ``tenant_id`` had the MAC ``mac``.

    ``authentic`` is False when the row's own MAC (under the checkpoint key) does not match: the key store was
    written by someone without the key.
    """

    tenant_id: uuid.UUID
    seq: int
    mac: str
    authentic: bool = True


class AuditKeySource(Protocol):
    """Audit keys (per-tenant chain keys, checkpoint signing) and the checkpoints kept beside them in the key store."""

    async def current_version(self) -> int:
        """The version new entries are MACed with (created on first use)."""
        ...

    async def chain_key(self, version: int, tenant_id: uuid.UUID) -> bytes:
        """The MAC key of one tenant's chain under audit key ``version``; AuditKeyError when unknown."""
        ...

    async def signing_seed(self, version: int) -> bytes:
        """32 bytes from which the Ed25519 key signing exported checkpoint files is made (audit key ``version``)."""
        ...

    async def checkpoints(self, tenant_id: uuid.UUID | None = None) -> list[Checkpoint]:
        """Checkpoints kept in the key store (one tenant's, or all), oldest first, each with its row MAC checked."""
        ...

    async def add_checkpoints(self, checkpoints: list[Checkpoint]) -> None:
        """Keep these checkpoints in the key store (its own transaction; never inside the main one)."""
        ...

    async def drop_checkpoints(self, tenant_id: uuid.UUID) -> None:
        """Forget a tenant's checkpoints (its whole log is erased at contract end)."""
        ...


_SOURCES: dict[str, AuditKeySource] = {}


def _identity(url: str | URL) -> str:
    parsed = make_url(url) if isinstance(url, str) else url
    return f"{parsed.get_backend_name()}|{parsed.host or ''}|{parsed.port or ''}|{parsed.database or ''}"


def register_key_source(database_url: str | URL, source: AuditKeySource) -> None:
    """Make ``source`` the audit key source of every session on the database at ``database_url``."""
    _SOURCES[_identity(database_url)] = source


def key_source(session: AsyncSession) -> AuditKeySource:
    """The key source of the session's database; AuditKeyError when none is registered (nothing is written)."""
    url = session.get_bind().engine.url
    source = _SOURCES.get(_identity(url))
    if source is None:
        raise AuditKeyError("操作履歴の鍵が読み込まれていません（no audit key source for this database）")
    return source
