"""The key store's writes survive SQLite's immediate "database is locked" (CI, stop 20: a resubmission's 500)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from app.db import new_id
from app.vault import keystore as keystore_module
from app.vault.service import Vault


def locked_once(real: Any) -> Any:
    calls = {"n": 0}

    async def insert_many(connection: Any, table: Any, rows: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("INSERT INTO number_keys", {}, Exception("database is locked"))
        await real(connection, table, rows)

    return insert_many


async def test_a_key_write_that_meets_a_lock_at_once_is_tried_again(
    vault: Vault, tenant_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    if vault.keystore.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's lock; PostgreSQL waits on row locks instead")
    monkeypatch.setattr(keystore_module, "SQLITE_LOCK_RETRY_DELAYS", (0.0,))
    monkeypatch.setattr(keystore_module, "insert_many", locked_once(keystore_module.insert_many))
    key_id = new_id()
    await vault.keystore.put_many(tenant_id, [(key_id, 1, b"wrapped")])
    assert (await vault.keystore.get_many(tenant_id, [key_id]))[key_id].wrapped_key == b"wrapped"


async def test_other_errors_and_lasting_locks_are_not_hidden(
    vault: Vault, tenant_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    if vault.keystore.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's lock")
    monkeypatch.setattr(keystore_module, "SQLITE_LOCK_RETRY_DELAYS", (0.0, 0.0))

    async def always_locked(connection: Any, table: Any, rows: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(keystore_module, "insert_many", always_locked)
    with pytest.raises(OperationalError):
        await vault.keystore.put_many(tenant_id, [(new_id(), 1, b"wrapped")])
