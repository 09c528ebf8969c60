"""Creating, migrating, truncating and dropping the test databases."""

from __future__ import annotations

import secrets

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.bootstrap import migrate_all
from app.config import load_settings
from app.db import make_engine


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def postgres_reachable(url: str) -> bool:
    try:
        connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    except (OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


async def create_postgres_databases(admin_url: str) -> tuple[str, str]:
    suffix = secrets.token_hex(4)
    names = (f"mnv_test_{suffix}", f"mnv_test_{suffix}_keys")
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        for name in names:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return names


async def drop_postgres_databases(admin_url: str, names: tuple[str, ...]) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        for name in names:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def migrate(main_url: str, keystore_url: str) -> None:
    migrate_all(load_settings({}, database_url=main_url, keystore_url=keystore_url, master_key="x"))


async def truncate_all(*urls: str) -> None:
    """Empty every table (PostgreSQL), keeping the schema and Alembic's version row."""
    for url in urls:
        engine = make_engine(url, pool_size=1)
        async with engine.begin() as connection:
            rows = await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'alembic%'")
            )
            tables = [f'"{r[0]}"' for r in rows]
            if tables:
                await connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        await engine.dispose()
