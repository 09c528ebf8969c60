"""The Citus distribution step (app.citus): its plan from the models, and nothing done without the extension."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.citus import ANCHOR_TABLE, citus_installed, distribute_if_citus, distribution_plan
from app.config import Settings
from app.db import make_engine
from app.schema import load_models
from tests.conftest import BACKEND


def _modelled() -> tuple[list[str], list[str]]:
    tables = [table for metadata in load_models() for table in metadata.tables.values()]
    return (
        [t.name for t in tables if "tenant_id" in t.c],
        [t.name for t in tables if "tenant_id" not in t.c],
    )


def test_the_plan_makes_shared_tables_reference_tables_before_colocated_tenant_tables() -> None:
    tenant, shared = _modelled()
    plan = distribution_plan(tenant, shared)
    assert len(plan) == len(tenant) + len(shared)
    references = [s for s in plan if "create_reference_table" in s]
    distributed = [s for s in plan if "create_distributed_table" in s]
    assert plan == references + distributed  # tenant tables' foreign keys point at reference tables
    assert "create_reference_table('tenants')" in " ".join(references)
    assert distributed[0] == f"SELECT create_distributed_table('{ANCHOR_TABLE}', 'tenant_id', colocate_with => 'none')"
    assert all(s.endswith(f"colocate_with => '{ANCHOR_TABLE}')") for s in distributed[1:])
    assert {s.split("'")[1] for s in distributed} == set(tenant)
    assert "audit_entries" in tenant and "vault_numbers" in tenant and "tenants" in shared


@pytest.mark.skipif(BACKEND != "postgres", reason="Citus is a PostgreSQL extension")
async def test_without_citus_the_step_does_nothing(settings: Settings) -> None:
    engine = make_engine(settings.effective_migration_database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            if await connection.run_sync(citus_installed):
                pytest.skip("this server has Citus")
            assert await connection.run_sync(distribute_if_citus) is None
            version = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            assert int(str(version)) >= 31  # migration 0031 ran (and skipped) on the way to the head
    finally:
        await engine.dispose()
