"""The operation log page: every management role reads its own tenant's log, nobody else's."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.world import World, post_form, sign_in


async def test_a_viewer_reads_the_log_of_their_tenant(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.admin)
    await post_form(client, "/logout")
    await sign_in(client, world.other_admin)
    await post_form(client, "/logout")
    await sign_in(client, world.viewer)
    page = await client.get("/admin/log")
    assert page.status_code == 200
    assert "操作履歴" in page.text and "ログイン" in page.text
    assert "岡 昌平" in page.text  # acme's admin signed in: their entry is listed
    assert world.other_admin.account.name not in page.text


async def test_the_log_filters_by_action(client: AsyncTestClient[Litestar], world: World) -> None:
    await post_form(client, "/login", {"tenant_code": "acme", "login_id": "viewer", "password": "wrong password!"})
    await sign_in(client, world.viewer)
    failures = await client.get("/admin/log", params={"action": "ログイン失敗"})
    assert failures.text.count("<td>ログイン失敗</td>") == 1
    assert "<td>成功</td>" not in failures.text  # the successful sign-in is filtered out
    everything = await client.get("/admin/log")
    assert "<td>成功</td>" in everything.text


async def test_employees_and_the_operator_cannot_read_a_tenant_log(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await sign_in(client, world.employee)
    assert (await client.get("/admin/log")).status_code == 403
    await post_form(client, "/logout")
    await sign_in(client, world.operator)
    assert (await client.get("/admin/log")).status_code == 403
