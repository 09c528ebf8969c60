"""A tenant admin manages management accounts within the plan's seats."""

from __future__ import annotations

import re

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.models import Account
from tests.support.audit import entries
from tests.support.world import World, post_form, second_device, sign_in, step_up


async def test_an_admin_sees_the_accounts_of_their_tenant_only(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.admin)
    response = await client.get("/admin/accounts/")
    assert response.status_code == 200
    assert "handler" in response.text and "viewer" in response.text
    assert str(world.other_admin.account.id) not in response.text


async def test_seats_limit_new_accounts(client: AsyncTestClient[Litestar], world: World, db: AsyncSession) -> None:
    await sign_in(client, world.admin)  # admin, handler, viewer already use 3 of 2 seats (set by fixtures)
    response = await post_form(
        client, "/admin/accounts/", {"login_id": "extra", "name": "追加 太郎", "role": "handler"}
    )
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "上限" in response.text  # type: ignore[attr-defined]
    assert (await db.execute(select(Account).where(Account.login_id == "extra"))).scalar_one_or_none() is None


async def test_an_admin_adds_a_handler_within_the_seats(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    world.tenant.admin_seats = 5
    db.add(world.tenant)
    await db.commit()
    await sign_in(client, world.admin)
    response = await post_form(
        client, "/admin/accounts/", {"login_id": "j0011", "name": "新人 花子", "role": "handler"}
    )
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert re.search(r'id="one-time-password">[A-Za-z0-9]{12}<', response.text)  # type: ignore[attr-defined]
    duplicate = await post_form(client, "/admin/accounts/", {"login_id": "j0011", "name": "別人", "role": "viewer"})
    assert "既に使われています" in duplicate.text  # type: ignore[attr-defined]
    logged = await entries(db, world.tenant.id, AuditAction.ACCOUNT_CHANGE)
    assert logged[-1].detail == {"event": "staff_added", "login_id": "j0011", "role": "handler"}


async def test_disabling_an_account_ends_its_sessions(client: AsyncTestClient[Litestar], world: World) -> None:
    viewer = httpx.Cookies()
    with second_device(client, viewer):
        await sign_in(client, world.viewer)
    await sign_in(client, world.admin)
    response = await post_form(client, f"/admin/accounts/{world.viewer.account.id}/disable")
    assert response.status_code == 302  # type: ignore[attr-defined]
    with second_device(client, viewer):
        after = await client.get("/admin", follow_redirects=False)
    assert after.status_code in (302, 303)


async def test_an_admin_cannot_disable_themselves(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.admin)
    await post_form(client, f"/admin/accounts/{world.admin.account.id}/disable")
    page = await client.get("/admin/accounts/")
    assert "自分自身のアカウントは無効にできません" in page.text


async def test_a_password_reset_gives_a_one_time_password(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.admin)
    response = await post_form(client, f"/admin/accounts/{world.handler.account.id}/reset-password")
    assert response.status_code == 200  # type: ignore[attr-defined]
    handler = (
        await db.execute(
            select(Account).where(Account.id == world.handler.account.id).execution_options(populate_existing=True)
        )
    ).scalar_one()
    assert handler.must_change_password and handler.password_expires_at is not None


async def test_another_tenants_account_id_is_not_found(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    for action in ("disable", "enable", "reset-password"):
        response = await post_form(client, f"/admin/accounts/{world.other_admin.account.id}/{action}")
        assert response.status_code == 404, action  # type: ignore[attr-defined]


async def test_handlers_and_viewers_cannot_manage_accounts(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.handler)
    assert (await client.get("/admin/accounts/")).status_code == 403
    await post_form(client, "/logout")
    await sign_in(client, world.viewer)
    assert (await client.get("/admin/accounts/")).status_code == 403


async def test_the_purpose_notice_and_employee_totp_setting_are_saved(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.admin)
    response = await post_form(
        client,
        "/admin/settings/",
        {"require_totp_for_employees": "on", "purpose_notice": "源泉徴収票作成事務のために利用します。"},
    )
    assert response.status_code == 302  # type: ignore[attr-defined]
    await db.refresh(world.tenant)
    assert world.tenant.require_totp_for_employees
    assert world.tenant.purpose_notice == "源泉徴収票作成事務のために利用します。"
