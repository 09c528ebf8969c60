"""Test fixtures: a fresh database per test on SQLite or PostgreSQL (``MNV_TEST_DB``), migrated by Alembic."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings, load_settings
from app.db import make_engine
from tests.support import databases
from tests.support.world import World, build_world

BACKEND = os.environ.get("MNV_TEST_DB", "sqlite")
TEST_MASTER_KEY = base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class TestDatabases:
    main_url: str  # PostgreSQL: as the application role (row-level security applies)
    keystore_url: str
    template_dir: Path | None  # SQLite: pristine migrated files copied for each test
    owner_url: str = ""  # PostgreSQL: the main database as the tables' owner (migrations, truncation)


@pytest.fixture(scope="session")
def test_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabases]:
    if BACKEND == "postgres":
        admin_url = os.environ.get("MNV_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
        if not asyncio.run(databases.postgres_reachable(admin_url)):
            if os.environ.get("MNV_REQUIRE_POSTGRES") == "1":
                pytest.exit(f"PostgreSQL is required but unreachable at {admin_url}", returncode=3)
            pytest.skip("PostgreSQL unreachable; set MNV_REQUIRE_POSTGRES=1 to fail instead")
        names = asyncio.run(databases.create_postgres_databases(admin_url))
        asyncio.run(databases.ensure_application_role(admin_url))
        owner_url, keystore_url = (databases.with_database(admin_url, n) for n in names)
        main_url = databases.as_application_role(owner_url)
        databases.migrate(main_url, keystore_url, owner_url=owner_url)
        try:
            yield TestDatabases(main_url, keystore_url, None, owner_url)
        finally:
            asyncio.run(databases.drop_postgres_databases(admin_url, names))
    else:
        template_dir = tmp_path_factory.mktemp("template")
        main_url = f"sqlite+aiosqlite:///{template_dir / 'mnvault.db'}"
        keystore_url = f"sqlite+aiosqlite:///{template_dir / 'keystore.db'}"
        databases.migrate(main_url, keystore_url)
        yield TestDatabases(main_url, keystore_url, template_dir)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture
def settings(test_databases: TestDatabases, data_dir: Path) -> Iterator[Settings]:
    """Settings for one test: its own database (fresh SQLite copy, or the PostgreSQL one truncated after)."""
    if test_databases.template_dir is not None:
        for name in ("mnvault.db", "keystore.db"):
            if (test_databases.template_dir / name).exists():
                shutil.copyfile(test_databases.template_dir / name, data_dir / name)
        main_url = f"sqlite+aiosqlite:///{data_dir / 'mnvault.db'}"
        keystore_url = f"sqlite+aiosqlite:///{data_dir / 'keystore.db'}"
    else:
        main_url, keystore_url = test_databases.main_url, test_databases.keystore_url
    owner_url = test_databases.owner_url
    yield load_settings(
        {},
        data_dir=str(data_dir),
        database_url=main_url,
        migration_database_url=owner_url,
        keystore_url=keystore_url,
        master_key=TEST_MASTER_KEY,
        argon2_time_cost=1,
        argon2_memory_kib=64,
        argon2_parallelism=1,
        log_format="json",
        # The test client runs the app in a thread with its own event loop while the test's code runs in another:
        # a pooled asyncpg connection must never serve both (asyncpg crashed the process when it did).
        db_pool="null",
    )
    if test_databases.template_dir is None:
        asyncio.run(databases.truncate_all(owner_url, keystore_url))


@pytest.fixture(autouse=True)
def _forget_earlier_apps_database_keys() -> None:
    """advanced-alchemy keeps every SQLAlchemy config's state keys in class-level registries and makes each new
    key unique by recursing once per earlier config: after ~1,000 apps in one test process that recursion passes
    Python's limit (RecursionError at create_app). A production process builds one app; each test starts afresh."""
    from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig

    for registry in (
        "_SESSION_SCOPE_KEY_REGISTRY",
        "_ENGINE_APP_STATE_KEY_REGISTRY",
        "_SESSIONMAKER_APP_STATE_KEY_REGISTRY",
    ):
        getattr(SQLAlchemyAsyncConfig, registry).clear()


@pytest.fixture
def app(settings: Settings) -> Litestar:
    from app.main import create_app

    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session on the test's main database, for arranging and asserting outside the app.

    A vault on the test's key store is opened first: it is the audit key source the log needs to write or verify.
    """
    from app.vault import Vault

    vault = Vault.from_settings(settings)
    engine = make_engine(settings.effective_database_url, pool_size=2)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        yield session
    await engine.dispose()
    await vault.close()


async def scalar(session: AsyncSession, sql: str, **params: object) -> object:
    return (await session.execute(text(sql), params)).scalar()


@pytest.fixture
async def world(app: Litestar, db: AsyncSession, settings: Settings) -> World:
    """Two companies (acme with every role, other with an admin) and the operator."""
    return await build_world(db, settings, app.state["vault"])
