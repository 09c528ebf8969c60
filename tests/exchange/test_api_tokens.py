"""API tokens: the settings pages (admins, step-up to issue, shown once, revoke), the CLI, the stored hash."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth import sessions as sessions_module
from app.config import Settings
from exchange.models import ApiToken
from exchange.services import parse_token
from tests.exchange.test_api_auth import assert_problem
from tests.support.api import bearer, make_token
from tests.support.audit import entries
from tests.support.world import World, post_form, sign_in, step_up
from tests.test_cli import mnvault
from tests.vault.test_leaks import read_database_files

PAGE = "/admin/settings/api-tokens"
TOKEN = re.compile(r'id="api-token"[^>]*value="(mnv_[^"]+)"')
VALID = {"name": "給与ソフト", "scope": "people:read", "days": "30", "networks": ""}


async def _tokens(db: AsyncSession, world: World) -> list[ApiToken]:
    statement = select(ApiToken).where(ApiToken.tenant_id == world.tenant.id).order_by(ApiToken.created_at)
    return list((await db.execute(statement.execution_options(populate_existing=True))).scalars())


class TestSettingsPages:
    async def test_an_admin_issues_a_token_shown_once_that_works(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await sign_in(client, world.admin)
        assert "APIトークンの管理" in (await client.get("/admin/settings/")).text
        response = await post_form(client, f"{PAGE}/", {**VALID, "networks": "", "scope": "people:read"})
        assert response.status_code == 200, response.text  # type: ignore[attr-defined]
        match = TOKEN.search(response.text)  # type: ignore[attr-defined]
        assert match is not None and "一度しか表示されません" in response.text  # type: ignore[attr-defined]
        token = match.group(1)
        assert response.headers.get("content-encoding") is None  # type: ignore[attr-defined]
        listing = await client.get(PAGE)
        assert "給与ソフト" in listing.text and token not in listing.text and "未使用" in listing.text
        api = await client.get("/api/v1/people", headers=bearer(token))
        assert api.status_code == 200
        assert "未使用" not in (await client.get(PAGE)).text  # the last use is listed
        (row,) = await _tokens(db, world)
        assert row.scopes == ["people:read"] and row.created_by == world.admin.account.id
        (issued,) = [e for e in await entries(db, world.tenant.id, AuditAction.ACCOUNT_CHANGE)]
        assert issued.function == "APIトークンの発行" and issued.actor_name == world.admin.account.name
        assert issued.detail["token_id"] == str(row.id) and issued.detail["scopes"] == ["people:read"]

    async def test_issuing_needs_a_recent_step_up(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await sign_in(client, world.admin)
        real_now = sessions_module.now_ts
        monkeypatch.setattr(sessions_module, "now_ts", lambda: real_now() + 6 * 60)
        assert (await client.get(PAGE)).status_code == 200  # the list needs no step-up
        stale = await post_form(client, f"{PAGE}/", VALID)
        assert stale.status_code in (302, 303)  # type: ignore[attr-defined]
        assert stale.headers["location"].startswith("/reauth")  # type: ignore[attr-defined]
        assert await _tokens(db, world) == []
        await step_up(client, world.admin, PAGE)
        fresh = await post_form(client, f"{PAGE}/", VALID)
        assert fresh.status_code == 200 and TOKEN.search(fresh.text)  # type: ignore[attr-defined]

    async def test_only_admins_manage_tokens(self, client: AsyncTestClient[Litestar], world: World) -> None:
        await sign_in(client, world.handler)
        assert (await client.get(PAGE)).status_code == 403
        assert (await post_form(client, f"{PAGE}/", VALID)).status_code == 403  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("form", "field", "message"),
        [
            ({"name": ""}, "name", "トークンの名前を入力してください。"),
            ({"name": "給与 一二三四五六七八九〇一八"}, "name", "トークンの名前に12桁以上の数字は使えません。"),
            ({"scope": ""}, "scopes", "権限を1つ以上選んでください。"),
            ({"scope": "admin"}, "scopes", "権限は people:read"),
            ({"days": "366"}, "days", "有効期間（日数）は1〜365の範囲で入力してください。"),
            ({"days": "一年"}, "days", "半角数字"),
            ({"networks": "192.0.2.0/33"}, "networks", "CIDR"),
        ],
    )
    async def test_bad_input_is_refused_in_japanese_and_nothing_is_issued(
        self,
        client: AsyncTestClient[Litestar],
        world: World,
        db: AsyncSession,
        form: dict[str, str],
        field: str,
        message: str,
    ) -> None:
        await sign_in(client, world.admin)
        response = await post_form(client, f"{PAGE}/", {**VALID, **form})
        assert response.status_code == 400  # type: ignore[attr-defined]
        assert message in response.text and "mnv_" not in response.text  # type: ignore[attr-defined]
        assert await _tokens(db, world) == []

    async def test_names_are_unique_among_tokens_not_revoked(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await sign_in(client, world.admin)
        assert (await post_form(client, f"{PAGE}/", VALID)).status_code == 200  # type: ignore[attr-defined]
        again = await post_form(client, f"{PAGE}/", VALID)
        assert again.status_code == 400 and "この名前のトークンがすでにあります" in again.text  # type: ignore[attr-defined]
        (first,) = await _tokens(db, world)
        revoked = await post_form(client, f"{PAGE}/{first.id}/revoke")
        assert revoked.status_code in (302, 303)  # type: ignore[attr-defined]
        assert (await post_form(client, f"{PAGE}/", VALID)).status_code == 200  # type: ignore[attr-defined]

    async def test_revoking_stops_the_token_and_is_logged(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        token = await make_token(db, app.state["vault"], world.tenant)
        assert (await client.get("/api/v1/people", headers=bearer(token))).status_code == 200
        (row,) = await _tokens(db, world)
        await sign_in(client, world.admin)
        response = await post_form(client, f"{PAGE}/{row.id}/revoke")
        assert response.status_code in (302, 303)  # type: ignore[attr-defined]
        assert "失効" in (await client.get(PAGE)).text
        assert_problem(await client.get("/api/v1/people", headers=bearer(token)), 401)
        logged = [e for e in await entries(db, world.tenant.id, AuditAction.ACCOUNT_CHANGE)]
        assert [e.function for e in logged] == ["APIトークンの発行", "APIトークンの失効"]
        assert logged[1].actor_name == world.admin.account.name

    async def test_another_tenants_token_cannot_be_revoked(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        token = await make_token(db, app.state["vault"], world.other_tenant)
        parsed = parse_token(token)
        assert parsed is not None
        await sign_in(client, world.admin)
        response = await post_form(client, f"{PAGE}/{parsed[1]}/revoke")
        assert response.status_code == 404  # type: ignore[attr-defined]
        (theirs,) = (await db.execute(select(ApiToken).where(ApiToken.id == parsed[1]))).scalars()
        assert theirs.revoked_at is None


def test_the_cli_issues_a_token_on_its_last_line_lists_and_revokes_it(
    settings: Settings, app: Litestar, world: World
) -> None:
    scopes = "people:read,numbers:read"
    created = mnvault(
        settings, "tokens", "create", "--tenant", "acme", "--name", "給与ソフト", "--scopes", scopes, "--days", "30"
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert parse_token(token) is not None
    assert token not in created.stderr

    async def call() -> int:
        async with AsyncTestClient(app=app) as client:
            return (await client.get("/api/v1/people", headers=bearer(token))).status_code

    import asyncio

    assert asyncio.run(call()) == 200
    listed = mnvault(settings, "tokens", "list", "--tenant", "acme")
    assert listed.returncode == 0 and "給与ソフト" in listed.stdout and "有効" in listed.stdout
    assert "接続元 制限なし" in listed.stdout  # field trial: the list did not say where a token may be used from
    assert token not in listed.stdout
    revoked = mnvault(settings, "tokens", "revoke", "--tenant", "acme", "--name", "給与ソフト")
    assert revoked.returncode == 0, revoked.stderr
    assert asyncio.run(call()) == 401
    assert "失効" in mnvault(settings, "tokens", "list", "--tenant", "acme").stdout
    refused = mnvault(settings, "tokens", "create", "--tenant", "acme", "--name", "x", "--scopes", "everything")
    assert refused.returncode != 0 and "--scopes" in refused.stderr
    unknown = mnvault(settings, "tokens", "revoke", "--tenant", "nowhere", "--name", "x")
    assert unknown.returncode != 0 and "nowhere" in unknown.stderr


async def test_the_token_secret_is_never_stored_in_clear(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    if not settings.is_sqlite:
        pytest.skip("a file scan needs the SQLite files")
    tokens = [await make_token(db, app.state["vault"], world.tenant, name=f"連携{index}") for index in range(3)]
    for token in tokens:
        assert (await client.get("/api/v1/people", headers=bearer(token))).status_code == 200
    await db.close()
    names, content = read_database_files(Path(settings.data_dir))
    assert "mnvault.db" in names
    assert "連携0".encode() in content  # the scan does read the token rows
    for token in tokens:
        parsed = parse_token(token)
        assert parsed is not None
        secret = parsed[2]
        for form in (token.encode(), secret.encode(), secret.encode("utf-16-le")):
            assert form not in content
