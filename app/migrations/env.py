"""Alembic environment: async engines, batch mode on SQLite, every package's models."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from app.db import make_engine
from app.schema import load_models

config = context.config
target_metadata = load_models()


def _url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("database URL missing for migrations")
    return str(url)


def include_object(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    """advanced-alchemy's store table has dialect-conditional DDL that autogenerate cannot compare: skip it."""
    table = getattr(obj, "table", obj)
    return getattr(table, "name", name) != "kv_store"


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(_url(), pool_size=1)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    asyncio.run(_run_async())


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
