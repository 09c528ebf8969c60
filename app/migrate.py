"""Run the Alembic migrations of the main database from code (CLI, tests, start-up)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str, directory: Path = MIGRATIONS_DIR) -> Config:
    """Alembic configuration of one migration tree (the main database's, or the key store's)."""
    config = Config()
    config.set_main_option("script_location", str(directory))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(directory / "versions"))
    config.attributes["database_url"] = url
    return config


def run_environment(
    metadata: object, *, version_table: str = "alembic_version", include_object: Callable[..., bool] | None = None
) -> None:
    """The body of every env.py: async engine, batch mode on SQLite, online or offline."""
    from alembic import context

    from app.db import make_engine

    config = context.config
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("database URL missing for migrations")
    options: dict[str, Any] = {
        "target_metadata": metadata,
        "compare_type": True,
        "version_table": version_table,
        "include_object": include_object,
    }

    def configure(connection: Connection) -> None:
        context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite", **options)
        with context.begin_transaction():
            context.run_migrations()

    async def run_online() -> None:
        engine = make_engine(str(url), pool_size=1)
        async with engine.connect() as connection:
            await connection.run_sync(configure)
            await connection.commit()
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=str(url), literal_binds=True, render_as_batch=True, **options)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_online())


def _in_thread(fn: object, *args: object) -> None:
    """Alembic's env.py runs its own event loop; call it from a worker thread when one is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        fn(*args)  # type: ignore[operator]
        return
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(fn, *args).result()  # type: ignore[arg-type]


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``."""
    _in_thread(command.upgrade, alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Downgrade the database at ``url`` to ``revision``."""
    _in_thread(command.downgrade, alembic_config(url), revision)


def analyze(url: str, tables: Sequence[str]) -> None:
    """Refresh the planner's statistics of ``tables`` in the database at ``url`` (``app.db.refresh_statistics``)."""
    _in_thread(asyncio.run, _analyze(url, tables))


async def _analyze(url: str, tables: Sequence[str]) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.db import make_engine, refresh_statistics

    engine = make_engine(url, pool_size=1)
    try:
        async with AsyncSession(engine) as session:
            await refresh_statistics(session, tables)
            await session.commit()
    finally:
        await engine.dispose()


def grant_application_role(owner_url: str, application_url: str) -> None:
    """After migrating as the owner (``owner_url``): grant the application's role (``application_url``'s user)
    every table and sequence (``app.rls.grant_application_role``). Nothing when both are the same user or on
    SQLite."""
    if owner_url == application_url or not owner_url.startswith("postgresql"):
        return
    _in_thread(asyncio.run, _grant(owner_url, application_url))


async def _grant(owner_url: str, application_url: str) -> None:
    from app.db import make_engine
    from app.rls import grant_application_role as grant

    engine = make_engine(owner_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(grant, application_url)
    finally:
        await engine.dispose()
