"""Faults a real deployment meets, and what the user sees: a PostgreSQL connection killed in the middle of a
registration fails that request cleanly (the Japanese error page), writes nothing, and the next request works
without a restart."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from tenants.models import CollectionStatus, Person
from tenants.services import _records
from tests.conftest import BACKEND
from tests.support.audit import entries
from tests.support.people import make_employee, valid_my_number
from tests.support.world import World, post_form, sign_in


async def test_a_connection_killed_during_a_registration_fails_cleanly_and_the_next_request_works(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    if BACKEND != "postgres":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    person = await make_employee(db, world.tenant.id, "901", "障害 太郎")
    await db.commit()
    number = valid_my_number(901)
    await sign_in(client, world.admin)
    original = _records.register_number

    async def killed_first(session: AsyncSession, *args: Any, **kwargs: Any) -> Any:
        # The server ends this request's own connection, as a failover or an administrator would.
        await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return await original(session, *args, **kwargs)

    monkeypatch.setattr(_records, "register_number", killed_first)
    failed = await post_form(client, f"/admin/numbers/{person.id}/register", {"number": number})
    assert failed.status_code == 500  # type: ignore[attr-defined]
    assert "システムエラーが発生しました" in failed.text and number not in failed.text  # type: ignore[attr-defined]
    monkeypatch.undo()

    stored = await db.execute(select(Person).where(Person.id == person.id).execution_options(populate_existing=True))
    assert stored.scalar_one().status is CollectionStatus.NOT_REGISTERED
    assert await entries(db, world.tenant.id, AuditAction.PROXY_REGISTER) == []

    again = await post_form(client, f"/admin/numbers/{person.id}/register", {"number": number})
    assert again.status_code == 302  # type: ignore[attr-defined]
    stored = await db.execute(select(Person).where(Person.id == person.id).execution_options(populate_existing=True))
    assert stored.scalar_one().status is CollectionStatus.PROXY_REGISTERED
    assert len(await entries(db, world.tenant.id, AuditAction.PROXY_REGISTER)) == 1
