"""Row-level security on PostgreSQL: defence in depth under the application's tenant-scoped queries.

Every table with a ``tenant_id`` column has row-level security enabled and forced, with one policy
(``tenant_isolation``) that shows and accepts only the rows whose ``tenant_id`` is in the transaction's tenant scope:
the setting ``app.tenant_id``, a comma-separated list of tenant ids, or ``*`` for every tenant.

- A connection starts with ``*`` (``make_engine`` sends it at connect): the system scope of sign-in pages, public
  links, the operator, background jobs and the command line.
- As soon as a request's principal is known (``app.auth.principal``, the API token check), its session is narrowed
  with ``SET LOCAL`` semantics (``set_config(..., true)``) to the principal's tenants: the company itself and the
  partner offices it is or was linked to; a partner's staff member inside a client: that client and the office; an
  office: itself and its clients. Every later transaction of that session is narrowed again when it begins.
- The application connects as a role that owns no table and has no ``BYPASSRLS`` (``MNV_DATABASE_URL``); migrations
  run as the owner (``MNV_MIGRATION_DATABASE_URL``), which grants the application's role what it needs
  (``grant_application_role``).

SQLite has no row-level security: there every function here does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

SCOPE_SETTING = "app.tenant_id"
ALL_TENANTS = "*"
POLICY = "tenant_isolation"
_SCOPE_INFO_KEY = "mnv_tenant_scope"

# The policy's two halves are functions called in scalar subqueries: PostgreSQL evaluates each once per statement
# (an InitPlan), not once per row, and ``tenant_id = ANY(<array>)`` can use an index leading with tenant_id. A
# missing or empty setting shows nothing.
FUNCTIONS_SQL = (
    f"""
    CREATE OR REPLACE FUNCTION mnv_all_tenants() RETURNS boolean LANGUAGE sql STABLE AS $$
      SELECT coalesce(current_setting('{SCOPE_SETTING}', true) = '{ALL_TENANTS}', false)
    $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION mnv_tenant_scope() RETURNS uuid[] LANGUAGE sql STABLE AS $$
      SELECT CASE WHEN s IS NULL OR s = '' OR s = '{ALL_TENANTS}' THEN NULL
             ELSE string_to_array(s, ',')::uuid[] END
      FROM (SELECT current_setting('{SCOPE_SETTING}', true) AS s) AS setting
    $$
    """,  # noqa: S608 - the module's constants, no input
)
# ANALYZE is the owner's right (PostgreSQL 15): the application's role refreshes statistics after bulk writes
# (app.db.refresh_statistics) through this function, which runs as the owner and does nothing else.
ANALYZE_FUNCTION_SQL = """
    CREATE OR REPLACE FUNCTION mnv_analyze(table_name text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
    BEGIN
      EXECUTE format('ANALYZE %I.%I', '{schema}', table_name);
    END
    $$
"""
POLICY_PREDICATE = "(SELECT mnv_all_tenants()) OR tenant_id = ANY ((SELECT mnv_tenant_scope())::uuid[])"


def tenant_tables(connection: Connection) -> list[str]:
    """The tables of the current schema with a ``tenant_id`` column (PostgreSQL catalog), sorted by name."""
    rows = connection.execute(
        text(
            "SELECT c.table_name FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = current_schema() AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE' "
            "ORDER BY c.table_name"
        )
    )
    return [row[0] for row in rows]


def protect_tenant_tables(connection: Connection) -> list[str]:
    """Enable and force row-level security with the ``tenant_isolation`` policy on every tenant table that lacks
    it (idempotent; PostgreSQL only: returns the tables it protected, [] on SQLite). Run by migrations."""
    if connection.dialect.name != "postgresql":
        return []
    for statement in FUNCTIONS_SQL:
        connection.execute(text(statement))
    schema = connection.execute(text("SELECT current_schema()")).scalar()
    connection.execute(text(ANALYZE_FUNCTION_SQL.replace("{schema}", str(schema).replace("'", "''"))))
    connection.execute(text("REVOKE ALL ON FUNCTION mnv_analyze(text) FROM PUBLIC"))
    mark_like_leakproof(connection)
    protected = []
    existing = {
        row[0]
        for row in connection.execute(text("SELECT tablename FROM pg_policies WHERE policyname = :p"), {"p": POLICY})
    }
    for table in tenant_tables(connection):
        connection.execute(text(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY'))
        connection.execute(text(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY'))
        if table not in existing:
            connection.execute(
                text(f'CREATE POLICY {POLICY} ON "{table}" USING ({POLICY_PREDICATE}) WITH CHECK ({POLICY_PREDICATE})')
            )
            protected.append(table)
    return protected


def mark_like_leakproof(connection: Connection) -> bool:
    """Let the trigram index answer ``LIKE`` under row-level security: True when done (the migrating role is a
    superuser), False otherwise (README: a superuser runs the statement once).

    Under a policy, PostgreSQL uses a condition of the query as an index condition only when its functions are
    LEAKPROOF (they may run before the policy's check); ``textlike``, the ``LIKE`` of the name search, is not marked
    so, and a name search of 3+ characters would read the tenant's rows instead of ``ix_people_search_trgm``. Its
    errors depend on the pattern and collation only, never on the row's text, which is what LEAKPROOF promises.
    Only in this database (pg_proc is per database).
    """
    if not connection.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar():
        return False
    connection.execute(text("ALTER FUNCTION pg_catalog.textlike(text, text) LEAKPROOF"))
    return True


def unprotect_tenant_tables(connection: Connection) -> None:
    """Undo ``protect_tenant_tables`` (a migration's downgrade)."""
    if connection.dialect.name != "postgresql":
        return
    for table in tenant_tables(connection):
        connection.execute(text(f'DROP POLICY IF EXISTS {POLICY} ON "{table}"'))
        connection.execute(text(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY'))
        connection.execute(text(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY'))
    connection.execute(text("DROP FUNCTION IF EXISTS mnv_analyze(text)"))
    connection.execute(text("DROP FUNCTION IF EXISTS mnv_tenant_scope()"))
    connection.execute(text("DROP FUNCTION IF EXISTS mnv_all_tenants()"))


def connect_arguments() -> dict[str, Any]:
    """asyncpg's connect arguments: every connection starts in the system scope (``*``)."""
    return {"server_settings": {SCOPE_SETTING: ALL_TENANTS}}


def scope_value(tenant_ids: Iterable[uuid.UUID] | None) -> str:
    """The setting's text for these tenants (None: every tenant)."""
    if tenant_ids is None:
        return ALL_TENANTS
    return ",".join(sorted({str(tenant_id) for tenant_id in tenant_ids}))


def enforces_row_level_security(session: AsyncSession) -> bool:
    """Whether ``session``'s database narrows rows to a scope (PostgreSQL); on SQLite there is nothing to narrow,
    so a caller need not even work out the scope (a query per signed-in request saved)."""
    return session.get_bind().dialect.name == "postgresql"


async def narrow_session(session: AsyncSession, tenant_ids: Sequence[uuid.UUID] | None) -> None:
    """Limit what ``session`` can read and write to ``tenant_ids`` (None: every tenant) for the transaction in
    progress and each one it begins later. PostgreSQL only; nothing on SQLite."""
    if not enforces_row_level_security(session):
        return
    value = scope_value(tenant_ids)
    session.sync_session.info[_SCOPE_INFO_KEY] = value
    if session.in_transaction():
        await session.execute(text("SELECT set_config(:name, :value, true)"), {"name": SCOPE_SETTING, "value": value})


async def widen_session(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Add ``tenant_id`` to a narrowed session's scope (a partner office creating the first row of a new client's
    link). Nothing to do for a session in the system scope or on SQLite."""
    value = session.sync_session.info.get(_SCOPE_INFO_KEY)
    if value is None or value == ALL_TENANTS:
        return
    tenants = [uuid.UUID(part) for part in value.split(",") if part]
    await narrow_session(session, [*tenants, tenant_id])


@event.listens_for(Session, "after_begin")
def _scope_new_transaction(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    value = session.info.get(_SCOPE_INFO_KEY)
    if value is not None and connection.dialect.name == "postgresql":
        connection.execute(text("SELECT set_config(:name, :value, true)"), {"name": SCOPE_SETTING, "value": value})


def grant_application_role(connection: Connection, application_url: str) -> str | None:
    """As the tables' owner: let the application's role (the user of ``application_url``) read and write every
    table and sequence of the schema, nothing more (no ownership, no DDL). Returns the role, or None when the
    application connects as the owner itself or the database is not PostgreSQL."""
    if connection.dialect.name != "postgresql":
        return None
    role = make_url(application_url).username
    owner = connection.execute(text("SELECT current_user")).scalar()
    if not role or role == owner:
        return None
    quoted = '"' + role.replace('"', '""') + '"'
    connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
    connection.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}"))
    connection.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}"))
    if connection.execute(text("SELECT to_regprocedure('mnv_analyze(text)')")).scalar() is not None:
        connection.execute(text(f"GRANT EXECUTE ON FUNCTION mnv_analyze(text) TO {quoted}"))
    return role
