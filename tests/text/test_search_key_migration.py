"""Migration 0008 adds people.search_key and fills it for the people already there."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import make_engine
from app.migrate import downgrade, upgrade
from app.tenancy import Tenant
from tenants.models import Person, PersonKind
from tests.conftest import BACKEND
from tests.support import databases


async def _add_people(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    async with AsyncSession(engine) as session:
        tenant = Tenant(code="mig", name="移行テスト")
        session.add(tenant)
        await session.flush()
        session.add(Person(tenant_id=tenant.id, kind=PersonKind.EMPLOYEE, name="河合　康則", kana="カワイ ヤスノリ"))
        await session.commit()
    await engine.dispose()


async def _keys(url: str) -> list[str]:
    engine = make_engine(url, pool_size=1)
    async with engine.connect() as connection:
        keys = list((await connection.execute(text("SELECT search_key FROM people"))).scalars())
    await engine.dispose()
    return keys


def test_the_search_key_is_backfilled_for_existing_people(tmp_path: Path) -> None:
    names: list[str] = []
    if BACKEND == "postgres":
        admin = os.environ.get("MNV_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
        names = list(asyncio.run(databases.create_postgres_databases(admin)))
        url = databases.with_database(admin, names[0])
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'search_key.db'}"
    try:
        upgrade(url)
        asyncio.run(_add_people(url))
        downgrade(url, "0007")  # the column goes: as before the migration, with the person still there
        upgrade(url)

        assert asyncio.run(_keys(url)) == ["河合康則|カワイヤスノリ"]
    finally:
        if names:
            asyncio.run(databases.drop_postgres_databases(admin, names))
