"""Creating, migrating, truncating and dropping the test databases."""

from __future__ import annotations

import os
import secrets

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

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


# The role the app connects as on PostgreSQL in the tests, as in production: it owns no table and cannot bypass
# row-level security (app.rls); migrations run as the admin URL's user, the tables' owner.
APPLICATION_ROLE = "mnv_app"


async def ensure_application_role(admin_url: str) -> None:
    """Create the cluster's application role once (login, no superuser, no BYPASSRLS; trust auth locally)."""
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", APPLICATION_ROLE)
        if not exists:
            try:
                await connection.execute(f"CREATE ROLE {APPLICATION_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB")
            except asyncpg.DuplicateObjectError:  # another test process created it meanwhile
                pass
    finally:
        await connection.close()


def as_application_role(url: str) -> str:
    """``url`` with the application role as its user (the database unchanged)."""
    return make_url(url).set(username=APPLICATION_ROLE, password=None).render_as_string(hide_password=False)


def as_owner(url: str) -> str:
    """``url`` with the admin URL's user (the tables' owner) instead of the application role."""
    admin = make_url(os.environ.get("MNV_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
    return make_url(url).set(username=admin.username, password=admin.password).render_as_string(hide_password=False)


async def as_table_owner(session: AsyncSession, *statements: str, **params: object) -> None:
    """Run ``statements`` (with ``params``) on ``session``'s PostgreSQL database as the tables' owner, in one
    transaction of its own: DDL, trigger changes and index maintenance the application's role may not do."""
    engine = make_engine(as_owner(session.get_bind().url.render_as_string(hide_password=False)), pool_size=1)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement), params)
    finally:
        await engine.dispose()


def migrate(main_url: str, keystore_url: str, *, owner_url: str = "") -> None:
    """Migrate both databases; ``owner_url`` (PostgreSQL): run the main database's migrations as that user and
    grant ``main_url``'s user (the application role) what it needs."""
    migrate_all(
        load_settings(
            {}, database_url=main_url, migration_database_url=owner_url, keystore_url=keystore_url, master_key="x"
        )
    )


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
