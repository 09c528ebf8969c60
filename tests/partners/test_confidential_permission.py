"""機密ファイルの閲覧 (seed 000): the client's admin sets it for handlers and viewers, the office admin for staff;
each change is an ACCOUNT_CHANGE entry and takes effect on the account's next request."""

from __future__ import annotations

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.models import Account
from app.config import Settings
from partners.models import LinkPower
from tests.support.audit import entries
from tests.support.partners import make_link, make_office
from tests.support.people import make_employee
from tests.support.world import World, post_form, second_device, sign_in


async def allowed(db: AsyncSession, account_id: object) -> bool:
    await db.commit()
    statement = select(Account.confidential_access).where(Account.id == account_id)
    return bool((await db.execute(statement.execution_options(populate_existing=True))).scalar_one())


async def test_a_client_admin_grants_and_takes_the_permission_of_a_handler(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    person = await make_employee(db, world.tenant.id, "E001", "山田 太郎")
    await db.commit()
    box = f"/admin/people/{person.id}/box"
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.handler)
        assert (await client.get(box)).status_code == 404
    await sign_in(client, world.admin)
    page = await client.get("/admin/accounts")
    assert "機密ファイルの閲覧" in page.text
    path = f"/admin/accounts/{world.handler.account.id}/confidential"
    assert (await post_form(client, path, {"allowed": "1"})).status_code == 302  # type: ignore[attr-defined]
    assert await allowed(db, world.handler.account.id)
    handler_jar = httpx.Cookies()
    with second_device(client, handler_jar):
        await sign_in(client, world.handler)
        assert (await client.get(box)).status_code == 200
    assert (await post_form(client, path, {"allowed": "0"})).status_code == 302  # type: ignore[attr-defined]
    with second_device(client, handler_jar):  # the open session loses it on its next request
        assert (await client.get(box)).status_code == 404
    changes = [
        e.detail
        for e in await entries(db, world.tenant.id, AuditAction.ACCOUNT_CHANGE)
        if e.detail.get("event") == "confidential_access_changed"
    ]
    assert [c["confidential_access"] for c in changes] == [True, False]
    assert all(c["login_id"] == "handler" for c in changes)


async def test_the_client_permission_route_refuses_admins_other_tenants_and_non_admins(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.admin)
    own = await post_form(client, f"/admin/accounts/{world.admin.account.id}/confidential", {"allowed": "0"})
    assert own.status_code == 302  # type: ignore[attr-defined]
    assert await allowed(db, world.admin.account.id) is False  # nothing changed: admins always may
    other = await post_form(client, f"/admin/accounts/{world.other_admin.account.id}/confidential", {"allowed": "1"})
    assert other.status_code == 404  # type: ignore[attr-defined]
    missing_csrf = await post_form(
        client, f"/admin/accounts/{world.viewer.account.id}/confidential", {"allowed": "1"}, csrf=False
    )
    assert missing_csrf.status_code == 403  # type: ignore[attr-defined]
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.handler)
        refused = await post_form(client, f"/admin/accounts/{world.viewer.account.id}/confidential", {"allowed": "1"})
        assert refused.status_code == 403  # type: ignore[attr-defined]
    assert await allowed(db, world.viewer.account.id) is False


async def test_an_office_admin_sets_the_permission_of_a_staff_member_which_opens_boxes_inside_clients(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.NUMBERS)
    person = await make_employee(db, world.tenant.id, "E001", "山田 太郎")
    await db.commit()
    staff_jar = httpx.Cookies()
    with second_device(client, staff_jar):
        await sign_in(client, office.staff)
        await post_form(client, f"/partner/clients/{world.tenant.id}/enter")
        assert (await client.get(f"/admin/people/{person.id}/box")).status_code == 404
    await sign_in(client, office.admin)
    edit = await client.get(f"/partner/staff/{office.staff.account.id}/edit")
    assert "機密ファイルの閲覧" in edit.text
    form = {"name": "山田 花子", "email": "", "role": "partner_staff", "confidential_access": "on"}
    saved = await post_form(client, f"/partner/staff/{office.staff.account.id}/edit", form)
    assert saved.status_code == 302  # type: ignore[attr-defined]
    assert await allowed(db, office.staff.account.id)
    listing = await client.get("/partner/staff")
    assert "機密ファイルの閲覧" in listing.text
    with second_device(client, staff_jar):
        assert (await client.get(f"/admin/people/{person.id}/box")).status_code == 200
    logged = [
        e.detail
        for e in await entries(db, office.tenant.id, AuditAction.ACCOUNT_CHANGE)
        if e.detail.get("event") == "confidential_access_changed"
    ]
    assert len(logged) == 1 and logged[0]["confidential_access"] is True
    # Unchecked: taken away.
    form.pop("confidential_access")
    await post_form(client, f"/partner/staff/{office.staff.account.id}/edit", form)
    assert await allowed(db, office.staff.account.id) is False
