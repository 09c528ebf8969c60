"""Erased means gone from the files too (issue 8 §9): no page of either database or its WAL keeps the key or
the ciphertext; keys of rolled-back registrations do not linger; the periodic maintenance runs and is logged."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import AuditAction
from app.config import Settings
from app.db import make_engine
from app.main import create_app
from app.vault import NumberField, Vault
from app.vault.keystore import NumberKey
from app.vault.models import VaultNumber
from tests.support.audit import entries
from tests.support.world import build_world
from tests.vault.helpers import ADMIN, my_number, person
from tests.vault.test_erasure import FUNCTION, key_ids
from tests.vault.test_sealing import store


def database_files(settings: Settings) -> list[Path]:
    files: list[Path] = []
    for url in (settings.effective_database_url, settings.effective_keystore_url):
        base = Path(url.split(":///", 1)[1])
        files += [p for p in (base, Path(f"{base}-wal"), Path(f"{base}-shm")) if p.exists()]
    return files


def files_holding(settings: Settings, needle: bytes) -> list[str]:
    return [p.name for p in database_files(settings) if needle in p.read_bytes()]


async def sealed_bytes(db: AsyncSession, vault: Vault, number_id: uuid.UUID) -> tuple[bytes, bytes]:
    ciphertext = (await db.execute(select(VaultNumber.ciphertext).where(VaultNumber.id == number_id))).scalar_one()
    async with vault.keystore.engine.connect() as keystore:
        wrapped = (
            await keystore.execute(select(NumberKey.wrapped_key).where(NumberKey.number_id == number_id))
        ).scalar_one()
    assert ciphertext and wrapped
    return bytes(ciphertext), bytes(wrapped)


@pytest.mark.skipif(
    __import__("os").environ.get("MNV_TEST_DB") == "postgres", reason="file scan: SQLite (PostgreSQL: see README)"
)
async def test_an_erased_number_leaves_no_key_and_no_ciphertext_in_any_file(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, settings: Settings
) -> None:
    subject, stored = await store(db, vault, tenant_id, my_number())
    await store(db, vault, tenant_id, my_number())  # a neighbour on the same pages, kept
    ciphertext, wrapped = await sealed_bytes(db, vault, stored.id)
    assert files_holding(settings, ciphertext) and files_holding(settings, wrapped)  # the scan can see them

    await vault.erase(db, tenant_id=tenant_id, subject=subject, actor=ADMIN, function=FUNCTION, reason="本人の申出")
    await vault.commit(db)

    assert files_holding(settings, wrapped) == []
    assert files_holding(settings, ciphertext) == []
    assert wal_sizes(settings) == [0, 0]


def wal_sizes(settings: Settings) -> list[int]:
    sizes = []
    for url in (settings.effective_database_url, settings.effective_keystore_url):
        wal = Path(url.split(":///", 1)[1] + "-wal")
        sizes.append(wal.stat().st_size if wal.exists() else 0)
    return sizes


async def test_a_rolled_back_registration_leaves_no_key(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID) -> None:
    await vault.store_number(
        db,
        tenant_id=tenant_id,
        subject=person(),
        field=NumberField.MY_NUMBER,
        number=my_number(),
        actor=ADMIN,
        action=AuditAction.PROXY_REGISTER,
        function=FUNCTION,
    )
    assert len(await key_ids(vault)) == 1  # written before the row, as designed
    await db.rollback()
    await vault.wait_for_shredding()
    assert await key_ids(vault) == set()


async def test_a_key_whose_session_just_went_away_is_purged_after_the_grace(
    settings: Settings, vault: Vault, tenant_id: uuid.UUID, db: AsyncSession
) -> None:
    engine = make_engine(settings.effective_database_url, pool_size=1)
    session = async_sessionmaker(engine, expire_on_commit=False)()
    await vault.store_number(
        session,
        tenant_id=tenant_id,
        subject=person(),
        field=NumberField.MY_NUMBER,
        number=my_number(),
        actor=ADMIN,
        action=AuditAction.PROXY_REGISTER,
        function=FUNCTION,
    )
    await session.close()  # the process died mid-request: no rollback event
    await engine.dispose()
    assert len(await key_ids(vault)) == 1
    assert await vault.purge(db) == 0  # within the grace: could be a transaction still in flight
    assert await vault.purge(db, older_than=dt.timedelta(0)) == 1
    assert await key_ids(vault) == set()


async def leave_a_key_behind(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID) -> uuid.UUID:
    """An erasure whose shredding never ran (the process died right after the commit)."""
    _, stored = await store(db, vault, tenant_id, my_number())
    await db.execute(
        update(VaultNumber)
        .where(VaultNumber.id == stored.id)
        .values(erased_at=dt.datetime.now(dt.UTC), ciphertext=None, nonce=None, blind_index=None)
    )
    await db.commit()
    assert stored.id in await key_ids(vault)
    return stored.id


async def test_the_periodic_task_destroys_left_behind_keys_and_logs_the_counts(
    settings: Settings, db: AsyncSession
) -> None:
    fast = msgspec.structs.replace(settings, maintenance_seconds=1)
    app = create_app(fast)
    vault: Vault = app.state["vault"]
    world = await build_world(db, fast, vault)
    left = await leave_a_key_behind(db, vault, world.tenant.id)
    async with AsyncTestClient(app=app, base_url="http://testserver.local"):
        for _ in range(100):
            if app.state["maintenance"].runs:
                break
            await asyncio.sleep(0.1)
    assert app.state["maintenance"].runs >= 1
    assert left not in await key_ids(vault)
    logged = await entries(db, world.operator.tenant.id, AuditAction.MAINTENANCE)
    assert logged and logged[0].detail["erased_keys"] == 1 and logged[0].detail["trigger"] == "periodic"
    assert logged[0].actor_login_id == "maintenance"


async def test_the_cli_run_is_the_same_maintenance_and_is_logged(
    settings: Settings, db: AsyncSession, vault: Vault
) -> None:
    from click.testing import CliRunner

    from app.cli import main

    world = await build_world(db, settings, vault)
    await leave_a_key_behind(db, vault, world.tenant.id)
    env = {
        "MNV_DATA_DIR": settings.data_dir,
        "MNV_DATABASE_URL": settings.effective_database_url,
        "MNV_KEYSTORE_URL": settings.effective_keystore_url,
        "MNV_MASTER_KEY": settings.master_key,
    }
    result = await asyncio.to_thread(CliRunner().invoke, main, ["purge"], env=env)
    assert result.exit_code == 0, result.output
    assert "削除済みの番号の鍵を消去しました: 1 件" in result.output
    assert "チェックポイントを書き込みました" in result.output
    (logged,) = await entries(db, world.operator.tenant.id, AuditAction.MAINTENANCE)
    assert logged.detail == {
        "erased_keys": 1,
        "orphan_keys": 0,
        "checkpoints": 1,  # acme: the only chain with entries (the stored number)
        "broken_chains": 0,
        "trigger": "cli",
    }


async def test_a_rolled_back_savepoint_keeps_the_keys_of_the_outer_transaction(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    subject = person()
    await vault.store_number(
        db,
        tenant_id=tenant_id,
        subject=subject,
        field=NumberField.MY_NUMBER,
        number=my_number(),
        actor=ADMIN,
        action=AuditAction.PROXY_REGISTER,
        function=FUNCTION,
    )
    savepoint = await db.begin_nested()
    await savepoint.rollback()  # e.g. a 社員コード taken concurrently, handled inside the same request
    await vault.commit(db)
    await vault.wait_for_shredding()
    assert len(await key_ids(vault)) == 1
    assert await vault.number_info(db, tenant_id, [subject.person_id])  # type: ignore[list-item]
