"""Start-up tasks shared by the CLI and tests: migrations, first-run initialisation, demo data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import MAIN_TABLES, ensure_sqlite_dir, make_engine
from app.migrate import analyze, grant_application_role, upgrade

if TYPE_CHECKING:
    from app.vault import Vault


def migrate_all(settings: Settings) -> None:
    """Apply every migration to the main database and to the key store, then refresh the planner's statistics of
    the main database (new indexes have none; SQLite without any guesses its plans)."""
    from app.vault.keystore import upgrade_keystore

    ensure_sqlite_dir(settings.effective_database_url)
    upgrade(settings.effective_migration_database_url)
    grant_application_role(settings.effective_migration_database_url, settings.effective_database_url)
    upgrade_keystore(settings.effective_keystore_url)
    analyze(settings.effective_migration_database_url, MAIN_TABLES)


def initialize(settings: Settings) -> Iterator[str]:
    """Create the data directory and schema. Idempotent."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    yield from _ensure_key_file(settings)
    migrate_all(settings)
    yield f"データディレクトリ: {settings.data_path.resolve()}"
    yield "スキーマを最新にしました。"
    yield from asyncio.run(_with_session(settings, _create_operator))


def check_ready(settings: Settings) -> None:
    """Refuse to serve when the installation is incomplete (a missing or unreadable key: MasterKeyError)."""
    from app.vault.keys import LocalKeyProvider

    settings.data_path.mkdir(parents=True, exist_ok=True)
    LocalKeyProvider.from_settings(settings)


def _ensure_key_file(settings: Settings) -> Iterator[str]:
    """Create the master key file (mode 0600) unless MNV_MASTER_KEY is set or the file exists."""
    from app.vault.keys import create_key_file

    path = settings.effective_master_key_file
    if settings.master_key or path.exists():
        return
    create_key_file(path)
    yield f"鍵ファイルを作成しました: {path.resolve()}（安全な場所にバックアップしてください）"


def run_demo(settings: Settings) -> Iterator[str]:
    """Fill a demo tenant (idempotent)."""
    migrate_all(settings)
    yield from asyncio.run(_with_session(settings, _fill_demo))


async def _fill_demo(session: AsyncSession, settings: Settings, vault: Vault) -> list[str]:
    """The demo of every package, in dependency order (composition root)."""
    from partners.demo import ensure_demo_office
    from selfservice.demo import fill_selfservice_demo
    from tenants.demo import ensure_demo_tenant, ensure_trial_demo_tenant, fill_demo

    return [
        *await fill_demo(session, settings, vault),
        *await fill_selfservice_demo(session, settings, vault),
        *await ensure_demo_office(session, settings, vault, await ensure_demo_tenant(session, vault)),
        *await ensure_trial_demo_tenant(session, settings, vault),  # last: its lines are about it alone
    ]


async def _create_operator(session: AsyncSession, settings: Settings, vault: Vault) -> list[str]:
    from app.auth.passwords import hasher_from_settings
    from app.auth.setup import ensure_operator

    return await ensure_operator(session, vault, hasher_from_settings(settings))


async def _with_session(
    settings: Settings, work: Callable[[AsyncSession, Settings, Vault], Awaitable[list[str]]]
) -> list[str]:
    """Run one unit of set-up work in a committed transaction with the vault open."""
    from app.vault import Vault

    vault = Vault.from_settings(settings)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            lines = await work(session, settings, vault)
            await vault.commit(session)  # commits, then destroys the keys of numbers the work erased
        return lines
    finally:
        await engine.dispose()
        await vault.close()
