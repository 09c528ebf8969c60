"""Row-level security on PostgreSQL (app.rls, issue 16): every tenant table forced, the app's role held by it, a
query that forgets its tenant filter still sees only the caller's rows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar import Litestar, Request, get
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import Account
from app.config import Settings
from app.db import make_engine
from app.rls import narrow_session
from app.schema import load_models
from tests.conftest import BACKEND
from tests.support.world import World, sign_in

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row-level security is PostgreSQL's")


@pytest.fixture
async def owner(settings: Settings) -> Any:
    engine = make_engine(settings.effective_migration_database_url, pool_size=1)
    async with async_sessionmaker(engine)() as session:
        yield session
    await engine.dispose()


async def test_every_tenant_table_forces_row_level_security(owner: AsyncSession) -> None:
    rows = (
        await owner.execute(
            text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                "EXISTS (SELECT 1 FROM pg_policies p "
                "        WHERE p.tablename = c.relname AND p.policyname = 'tenant_isolation') "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND EXISTS ("
                "  SELECT 1 FROM pg_attribute a"
                "  WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)"
            )
        )
    ).all()
    modelled = {
        table.name for metadata in load_models() for table in metadata.tables.values() if "tenant_id" in table.c
    }
    assert modelled <= {row[0] for row in rows}, "a model's tenant table is missing from the database"
    unprotected = [name for name, enabled, forced, policy in rows if not (enabled and forced and policy)]
    assert unprotected == []


async def test_the_application_role_owns_nothing_and_cannot_bypass(db: AsyncSession) -> None:
    role = (
        await db.execute(text("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"))
    ).one()
    assert role.rolsuper is False and role.rolbypassrls is False
    owned = (
        await db.execute(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND pg_get_userbyid(c.relowner) = current_user"
            )
        )
    ).scalar()
    assert owned == 0
    with pytest.raises(DBAPIError):
        await db.execute(text("ALTER TABLE accounts DISABLE ROW LEVEL SECURITY"))
    await db.rollback()


async def test_a_narrowed_session_sees_and_writes_only_its_tenants(db: AsyncSession, world: World) -> None:
    every = set((await db.execute(select(Account.tenant_id))).scalars())
    assert {world.tenant.id, world.other_tenant.id} <= every  # the system scope (*) sees every tenant

    await narrow_session(db, [world.tenant.id])
    seen = set((await db.execute(select(Account.tenant_id))).scalars())  # no tenant filter: forgotten on purpose
    assert seen == {world.tenant.id}
    assert (
        await db.execute(text("SELECT count(*) FROM accounts WHERE tenant_id = :t"), {"t": world.other_tenant.id})
    ).scalar() == 0
    changed = await db.execute(
        text("UPDATE accounts SET name = 'x' WHERE tenant_id = :t"), {"t": world.other_tenant.id}
    )
    assert changed.rowcount == 0  # type: ignore[attr-defined]
    await db.commit()
    # The next transaction of the same session is narrowed again.
    assert set((await db.execute(select(Account.tenant_id))).scalars()) == {world.tenant.id}
    with pytest.raises(DBAPIError, match="row-level security"):
        await db.execute(
            text(
                "INSERT INTO departments (tenant_id, id, code, name, created_at, updated_at) "
                "VALUES (:t, :i, 'X1', '盗み', now(), now())"
            ),
            {"t": world.other_tenant.id, "i": uuid.uuid4()},
        )
    await db.rollback()


async def test_an_empty_scope_shows_nothing(db: AsyncSession, world: World) -> None:
    await db.execute(text("SELECT set_config('app.tenant_id', '', true)"))
    assert (await db.execute(text("SELECT count(*) FROM accounts"))).scalar() == 0
    await db.rollback()


@get("/rls-probe")
async def forgetful_probe(request: Request[Any, Any, Any], db_session: AsyncSession) -> dict[str, list[str]]:
    """A handler that forgets the tenant filter."""
    tenants = (await db_session.execute(select(Account.tenant_id).distinct())).scalars()
    return {"tenants": sorted(str(t) for t in tenants)}


async def test_a_request_that_forgets_the_tenant_filter_gets_only_the_callers_rows(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    app.register(forgetful_probe)
    await sign_in(client, world.admin)
    response = await client.get("/rls-probe")
    assert response.status_code == 200
    assert response.json() == {"tenants": [str(world.tenant.id)]}


async def test_the_operator_sees_every_tenant(app: Litestar, client: AsyncTestClient[Litestar], world: World) -> None:
    app.register(forgetful_probe)
    await sign_in(client, world.operator)
    response = await client.get("/rls-probe")
    assert set(response.json()["tenants"]) >= {str(world.tenant.id), str(world.other_tenant.id)}


async def test_signing_in_as_someone_of_another_tenant_while_signed_in_works(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    """Sign-in pages find the account across tenants: they stay in the system scope whoever is signed in."""
    app.register(forgetful_probe)
    await sign_in(client, world.admin)
    await sign_in(client, world.other_admin)
    response = await client.get("/rls-probe")
    assert response.json() == {"tenants": [str(world.other_tenant.id)]}
