"""PostgreSQL: the log table refuses UPDATE and DELETE, except a whole-tenant erase named in a local setting."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor
from app.audit.log import erase_tenant_log, record, verify_chain
from tests.audit.conftest import add_tenant, make_event
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="the append-only trigger exists on PostgreSQL only")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET purpose = '雇用保険'",
        "UPDATE audit_entries SET seq = seq + 100",
        "DELETE FROM audit_entries WHERE seq = 1",
        "DELETE FROM audit_entries",
    ],
)
async def test_the_trigger_refuses_changing_the_log(db: AsyncSession, tenant_id: uuid.UUID, statement: str) -> None:
    await record(db, make_event(tenant_id))
    await db.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        await db.execute(text(statement))
    await db.rollback()
    assert (await verify_chain(db, tenant_id)).entries == 1


async def test_the_erase_setting_opens_only_the_named_tenant(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    other = await add_tenant(db, "other")
    await record(db, make_event(tenant_id))
    await record(db, make_event(other))
    await db.commit()
    await db.execute(text("SELECT set_config('mnv.audit_erase', :t, true)"), {"t": str(other)})
    with pytest.raises(DBAPIError, match="append-only"):
        await db.execute(text("DELETE FROM audit_entries"))
    await db.rollback()
    await db.execute(text("SELECT set_config('mnv.audit_erase', :t, true)"), {"t": str(other)})
    with pytest.raises(DBAPIError, match="append-only"):
        await db.execute(text("UPDATE audit_entries SET purpose = 'x'"))
    await db.rollback()


async def test_erase_closes_the_exception_again(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    await record(db, make_event(tenant_id))
    await db.commit()
    assert await erase_tenant_log(db, tenant_id, Actor.system("ops")) == 1
    await record(db, make_event(tenant_id))
    with pytest.raises(DBAPIError, match="append-only"):
        await db.execute(text("DELETE FROM audit_entries"))
    await db.rollback()
