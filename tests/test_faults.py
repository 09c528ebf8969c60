"""Faults a real deployment meets, and what the user sees: a PostgreSQL connection killed in the middle of a
registration fails that request cleanly (the Japanese error page), writes nothing, and the next request works
without a restart; a blob store that cannot write (disk full, not writable) is a clear 503 and leaves no rows."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.config import Settings
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


async def test_a_store_that_cannot_write_is_a_clear_503_and_leaves_no_rows(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    world: World,
    db: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno

    from app import blobs
    from partners.models import ExchangeFile, LinkPower
    from tests.partners.exchange_support import pdf, send
    from tests.support.partners import make_link, make_office

    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.FILES)

    def disk_full(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(blobs, "_write_atomically", disk_full)
    await sign_in(client, world.admin)
    refused = await send(client, "/admin/files/", [("入社連絡票.pdf", pdf("入社"))], office_id=office.tenant.id)
    assert refused.status_code == 503  # type: ignore[attr-defined]
    assert "ファイルを保存できませんでした" in refused.text  # type: ignore[attr-defined]
    assert "空き容量" in refused.text  # type: ignore[attr-defined]
    assert (await db.execute(select(ExchangeFile))).scalars().all() == []
    assert await entries(db, world.tenant.id, AuditAction.FILE_SEND) == []
    monkeypatch.undo()
    sent = await send(client, "/admin/files/", [("入社連絡票.pdf", pdf("入社"))], office_id=office.tenant.id)
    assert sent.status_code == 302  # type: ignore[attr-defined]
