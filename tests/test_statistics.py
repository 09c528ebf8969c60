"""The planner's statistics are kept: after migrations, by the maintenance task (SQLite; PostgreSQL leaves it to
autovacuum), and by SQLite connections as they close (PRAGMA optimize)."""

from __future__ import annotations

import uuid

import pytest
from litestar import Litestar
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import BIG_TABLES, make_engine, refresh_statistics
from app.vault.periodic import PeriodicMaintenance
from tenants.models import Person, PersonKind
from tests.support.world import World


def is_sqlite(db: AsyncSession) -> bool:
    return db.get_bind().dialect.name == "sqlite"


async def analyzed_tables(db: AsyncSession) -> set[str]:
    """Tables with statistics: SQLite's sqlite_stat1 rows; PostgreSQL's last (auto)analyze."""
    if is_sqlite(db):
        if not (await db.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"))).first():
            return set()
        return set((await db.execute(text("SELECT DISTINCT tbl FROM sqlite_stat1"))).scalars())
    query = text("SELECT relname FROM pg_stat_user_tables WHERE coalesce(last_analyze, last_autoanalyze) IS NOT NULL")
    return set((await db.execute(query)).scalars())


async def forget_statistics(db: AsyncSession) -> None:
    await db.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
    await db.commit()


async def add_people(db: AsyncSession, tenant_id: uuid.UUID, count: int) -> None:
    rows = [
        {"tenant_id": tenant_id, "kind": PersonKind.EMPLOYEE, "name": f"社員 {n}", "employee_code": f"S{n:05d}"}
        for n in range(count)
    ]
    await db.execute(insert(Person), rows)
    await db.commit()


async def test_migrations_leave_the_main_tables_analyzed(db: AsyncSession) -> None:
    # The test databases are migrated once per session by migrate_all, as `mnvault migrate` does.
    if is_sqlite(db):
        assert (await db.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"))).first()
    else:
        assert set(BIG_TABLES) <= await analyzed_tables(db)


async def test_refresh_statistics_analyzes_the_named_tables(db: AsyncSession, world: World) -> None:
    await add_people(db, world.tenant.id, 200)
    if is_sqlite(db):
        await forget_statistics(db)

    await refresh_statistics(db, ["people"])
    await db.commit()

    assert "people" in await analyzed_tables(db)
    if is_sqlite(db):
        stat = await db.execute(text("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_people_tenant_id_kind_status'"))
        people = (await db.execute(text("SELECT count(*) FROM people"))).scalar_one()
        assert stat.scalar_one().split()[0] == str(people)


async def test_the_maintenance_task_analyzes_unless_postgresql_autovacuum_does(
    app: Litestar, db: AsyncSession, world: World
) -> None:
    await add_people(db, world.tenant.id, 100)
    if is_sqlite(db):
        await forget_statistics(db)
        expected = True
    else:
        expected = (await db.execute(text("SELECT current_setting('autovacuum')"))).scalar() == "off"
        before = await last_analyze(db, "people")
    maintenance: PeriodicMaintenance = app.state["maintenance"]

    report = await maintenance.run_once()

    assert report.statistics is expected
    if is_sqlite(db):
        assert "people" in await analyzed_tables(db)  # (the empty big tables get no sqlite_stat1 row)
    else:
        assert (await last_analyze(db, "people") != before) is expected


async def last_analyze(db: AsyncSession, table: str) -> object:
    query = text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = :table")
    value = (await db.execute(query, {"table": table})).scalar()
    await db.commit()  # the statistics views keep one snapshot per transaction
    return value


async def test_a_closing_sqlite_connection_runs_pragma_optimize(
    settings: Settings, db: AsyncSession, world: World
) -> None:
    if not is_sqlite(db):
        pytest.skip("PRAGMA optimize is SQLite's")
    await add_people(db, world.tenant.id, 300)
    await forget_statistics(db)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    async with AsyncSession(engine) as session:
        await session.execute(
            select(Person.id).where(Person.tenant_id == world.tenant.id, Person.kind == PersonKind.PAYEE)
        )
    assert "people" not in await analyzed_tables(db)

    await engine.dispose()

    assert "people" in await analyzed_tables(db)
