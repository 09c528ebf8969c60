"""The key store's own migrations: built by its Alembic tree, matching its models, reversible on both databases."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import inspect

from app.config import Settings
from app.db import Base, make_engine
from app.schema import load_models
from app.vault.keystore import VERSION_TABLE, KeystoreBase, downgrade_keystore, upgrade_keystore
from tests.conftest import BACKEND
from tests.support import databases


async def _table_names(url: str) -> set[str]:
    engine = make_engine(url, pool_size=1)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names


def test_every_test_gets_a_migrated_key_store_apart_from_the_main_database(settings: Settings) -> None:
    keystore = asyncio.run(_table_names(settings.effective_keystore_url))
    main = asyncio.run(_table_names(settings.effective_database_url))
    assert {"number_keys", VERSION_TABLE} <= keystore
    assert "number_keys" not in main and "vault_numbers" not in keystore and "tenant_keys" not in keystore


def test_the_key_store_tables_are_not_in_the_main_metadata() -> None:
    load_models()
    assert "number_keys" not in Base.metadata.tables
    assert set(KeystoreBase.metadata.tables) == {"number_keys", "audit_keys", "audit_checkpoints"}
    assert not {"audit_keys", "audit_checkpoints"} & set(Base.metadata.tables)


def test_the_key_store_schema_matches_its_models(settings: Settings) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    async def diff() -> list[object]:
        engine = make_engine(settings.effective_keystore_url, pool_size=1)
        async with engine.connect() as connection:
            result = await connection.run_sync(
                lambda c: list(
                    compare_metadata(
                        MigrationContext.configure(c, opts={"version_table": VERSION_TABLE}), KeystoreBase.metadata
                    )
                )
            )
        await engine.dispose()
        return result

    assert asyncio.run(diff()) == []


def test_the_key_store_migrations_go_down_to_empty_and_back_up(tmp_path: Path) -> None:
    names: tuple[str, ...] = ()
    if BACKEND == "postgres":
        admin = os.environ.get("MNV_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
        names = asyncio.run(databases.create_postgres_databases(admin))
        url = databases.with_database(admin, names[1])
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'keys.db'}"
    try:
        upgrade_keystore(url)
        assert "number_keys" in asyncio.run(_table_names(url))
        downgrade_keystore(url)
        assert asyncio.run(_table_names(url)) <= {VERSION_TABLE}
        upgrade_keystore(url)
        assert "number_keys" in asyncio.run(_table_names(url))
    finally:
        if names:
            asyncio.run(databases.drop_postgres_databases(admin, names))
