"""Master key rotation: re-wrapping in batches, stopping midway, retiring old versions, the CLI."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import AuditAction, Subject
from app.cli import main
from app.config import Settings, load_settings
from app.db import make_engine
from app.vault import Vault, VaultIntegrityError
from app.vault.keys import create_key_file
from app.vault.models import TenantKey
from tests.support.audit import entries
from tests.vault.helpers import make_tenant, my_number
from tests.vault.test_sealing import reveal, store


@pytest.fixture
def key_file_settings(settings: Settings, tmp_path: Path) -> Settings:
    path = create_key_file(tmp_path / "keys" / "master.key")
    return load_settings(
        {},
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        keystore_url=settings.keystore_url,
        master_key_file=str(path),
    )


@pytest.fixture
async def sessions(key_file_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(key_file_settings.effective_database_url, pool_size=2)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def fill(key_file_settings: Settings, tenants: int = 3) -> dict[uuid.UUID, tuple[Subject, str]]:
    """Tenants with one stored number each, written with the key file's current version."""
    vault = Vault.from_settings(key_file_settings)
    engine = make_engine(key_file_settings.effective_database_url, pool_size=1)
    stored: dict[uuid.UUID, tuple[Subject, str]] = {}
    async with async_sessionmaker(engine, expire_on_commit=False)() as db:
        for _ in range(tenants):
            tenant_id = await make_tenant(db)
            number = my_number()
            subject, _ = await store(db, vault, tenant_id, number)
            stored[tenant_id] = (subject, number)
    await engine.dispose()
    await vault.close()
    return stored


async def all_readable(key_file_settings: Settings, stored: dict[uuid.UUID, tuple[Subject, str]]) -> bool:
    """Every number opens with a vault that has just read the key file (no cached tenant keys)."""
    vault = Vault.from_settings(key_file_settings)
    engine = make_engine(key_file_settings.effective_database_url, pool_size=1)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as db:
            for tenant_id, (subject, number) in stored.items():
                assert await reveal(db, vault, tenant_id, subject) == number
            await db.commit()
    finally:
        await engine.dispose()
        await vault.close()
    return True


async def kek_versions(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    async with sessions() as db:
        return sorted((await db.execute(select(TenantKey.kek_version))).scalars())


def key_file_versions(settings: Settings) -> tuple[int, list[int]]:
    data = json.loads(settings.effective_master_key_file.read_text())
    return data["current"], sorted(int(v) for v in data["keys"])


async def test_rotation_rewraps_every_tenant_key_and_every_number_stays_readable(
    key_file_settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stored = await fill(key_file_settings)
    vault = Vault.from_settings(key_file_settings)
    report = await vault.rotate_master_key(sessions, batch_size=2)
    await vault.close()
    assert (report.current_version, report.rewrapped, report.remaining, report.retired) == (2, 3, 0, [])
    assert await kek_versions(sessions) == [2, 2, 2]
    assert key_file_versions(key_file_settings) == (2, [1, 2])
    assert await all_readable(key_file_settings, stored)
    async with sessions() as db:
        for tenant_id in stored:
            (entry,) = await entries(db, tenant_id, AuditAction.KEY_ROTATION)
            assert entry.detail == {"kek_version": 2} and entry.actor_role == "system"


async def test_an_interrupted_rotation_leaves_every_number_readable(
    key_file_settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stored = await fill(key_file_settings)
    vault = Vault.from_settings(key_file_settings)
    report = await vault.rotate_master_key(sessions, batch_size=1, max_batches=1)  # stopped after one batch
    await vault.close()
    assert (report.rewrapped, report.remaining) == (1, 2)
    assert await kek_versions(sessions) == [1, 1, 2]
    assert await all_readable(key_file_settings, stored)

    vault = Vault.from_settings(key_file_settings)
    report = await vault.rotate_master_key(sessions, retire_old=True, batch_size=1)
    await vault.close()
    assert (report.rewrapped, report.remaining, report.retired) == (2, 0, [1])
    assert await kek_versions(sessions) == [2, 2, 2]
    assert key_file_versions(key_file_settings) == (2, [2])
    assert await all_readable(key_file_settings, stored)


async def test_old_versions_are_kept_while_any_tenant_key_still_needs_them(
    key_file_settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stored = await fill(key_file_settings, tenants=2)
    vault = Vault.from_settings(key_file_settings)
    await vault.rotate_master_key(sessions, max_batches=0)
    report = await vault.rotate_master_key(sessions, retire_old=True, max_batches=0)
    await vault.close()
    assert (report.remaining, report.retired) == (2, [])
    assert key_file_versions(key_file_settings) == (2, [1, 2])
    assert await all_readable(key_file_settings, stored)


async def test_a_tenant_key_under_a_removed_version_raises_the_integrity_error(
    key_file_settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stored = await fill(key_file_settings, tenants=1)
    vault = Vault.from_settings(key_file_settings)
    await vault.rotate_master_key(sessions, max_batches=0)
    vault.provider.retire_old_versions()  # type: ignore[attr-defined]  # what retiring without re-wrapping would do
    await vault.close()
    with pytest.raises(VaultIntegrityError, match="version 1"):
        await all_readable(key_file_settings, stored)


async def test_a_running_vault_keeps_working_through_a_rotation_done_elsewhere(
    key_file_settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stored = await fill(key_file_settings, tenants=2)
    server = Vault.from_settings(key_file_settings)
    operator = Vault.from_settings(key_file_settings)
    await operator.rotate_master_key(sessions)
    await operator.rotate_master_key(sessions, retire_old=True)
    await operator.close()
    async with sessions() as db:
        tenant_id = await make_tenant(db)
        number = my_number()
        subject, _ = await store(db, server, tenant_id, number)
        assert await reveal(db, server, tenant_id, subject) == number
        await db.commit()
    await server.close()
    assert await kek_versions(sessions) == [2, 2, 2]
    stored[tenant_id] = (subject, number)
    assert await all_readable(key_file_settings, stored)


def test_the_cli_rotates_then_retires(key_file_settings: Settings) -> None:
    stored = asyncio.run(fill(key_file_settings, tenants=2))
    env = {
        "MNV_DATA_DIR": key_file_settings.data_dir,
        "MNV_DATABASE_URL": key_file_settings.database_url,
        "MNV_KEYSTORE_URL": key_file_settings.keystore_url,
        "MNV_MASTER_KEY_FILE": key_file_settings.master_key_file,
        "MNV_MASTER_KEY": "",
    }
    runner = CliRunner()
    result = runner.invoke(main, ["keys", "rotate"], env=env)
    assert result.exit_code == 0, result.output
    assert "現在の鍵の版: 2" in result.output and "2 件" in result.output
    result = runner.invoke(main, ["keys", "rotate", "--retire-old"], env=env)
    assert result.exit_code == 0, result.output
    assert "古い版を鍵ファイルから削除しました: 1" in result.output
    assert key_file_versions(key_file_settings) == (2, [2])
    assert asyncio.run(all_readable(key_file_settings, stored))


def test_the_cli_refuses_to_rotate_a_key_given_in_the_environment(settings: Settings) -> None:
    env = {
        "MNV_DATA_DIR": settings.data_dir,
        "MNV_DATABASE_URL": settings.database_url,
        "MNV_KEYSTORE_URL": settings.keystore_url,
        "MNV_MASTER_KEY": settings.master_key,
    }
    result = CliRunner().invoke(main, ["keys", "rotate"], env=env)
    assert result.exit_code == 1
    assert "鍵ファイル" in result.output and "Traceback" not in result.output
