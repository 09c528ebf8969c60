"""Scale-out on Citus: distribute every tenant table by ``tenant_id``, co-located, and make the shared tables
reference tables (issue 16, README "Scale-out on Citus").

The schema is made for it (tests/test_foundation.py): every tenant table's primary key, unique indexes and foreign
keys to other tenant tables lead with ``tenant_id``, so each tenant's rows, joins and transactions stay on one node,
and a tenant table references a shared table (``tenants``) only, which Citus copies to every node.

``distribute_if_citus`` runs at the end of ``mnvault migrate`` (migration 0031): it does nothing unless the
``citus`` extension is installed in the database (``CREATE EXTENSION citus`` by the database administrator, on the
coordinator), and distributes only the tables not yet distributed, so later migrations' new tables follow on the
next run.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.engine import Connection

# The first table distributed; every other tenant table is co-located with it (same shards for the same tenant).
ANCHOR_TABLE = "accounts"
# Tables of the main database that are neither a tenant's nor shared data to copy.
_NOT_DISTRIBUTED = ("alembic_version",)


def citus_installed(connection: Connection) -> bool:
    """True when the ``citus`` extension is installed in the connected database (PostgreSQL)."""
    if connection.dialect.name != "postgresql":
        return False
    return connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first() is not None


def distribution_plan(tenant_tables: Sequence[str], shared_tables: Sequence[str]) -> list[str]:
    """The statements that distribute a schema: shared tables as reference tables first (tenant tables' foreign
    keys point at them), then the anchor, then every other tenant table co-located with it."""
    statements = [f"SELECT create_reference_table('{name}')" for name in sorted(shared_tables)]
    ordered = sorted(tenant_tables, key=lambda name: (name != ANCHOR_TABLE, name))
    for name in ordered:
        colocate = "none" if name == ordered[0] else ordered[0]
        statements.append(f"SELECT create_distributed_table('{name}', 'tenant_id', colocate_with => '{colocate}')")
    return statements


def _schema_tables(connection: Connection) -> tuple[list[str], list[str]]:
    """(tenant tables, shared tables) of the current schema, not yet distributed or reference."""
    rows = connection.execute(
        text(
            "SELECT t.table_name, EXISTS (SELECT 1 FROM information_schema.columns c "
            "  WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = 'tenant_id') "
            "FROM information_schema.tables t "
            "WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
            "AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = t.table_name::regclass)"
        )
    )
    tenant: list[str] = []
    shared: list[str] = []
    for name, has_tenant in rows:
        if name in _NOT_DISTRIBUTED:
            continue
        (tenant if has_tenant else shared).append(name)
    return tenant, shared


def distribute_if_citus(connection: Connection) -> list[str] | None:
    """Distribute what is not yet distributed when Citus is installed; None (nothing done) otherwise. Returns the
    statements it ran."""
    if not citus_installed(connection):
        return None
    tenant, shared = _schema_tables(connection)
    if ANCHOR_TABLE not in tenant and tenant:
        # The anchor is distributed already: new tenant tables join its co-location group.
        statements = [f"SELECT create_reference_table('{name}')" for name in sorted(shared)]
        statements += [
            f"SELECT create_distributed_table('{name}', 'tenant_id', colocate_with => '{ANCHOR_TABLE}')"
            for name in sorted(tenant)
        ]
    else:
        statements = distribution_plan(tenant, shared)
    for statement in statements:
        connection.execute(text(statement))
    return statements
