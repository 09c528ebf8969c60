"""The operator console: tenants and their first admin; the operator never reaches a number."""

from __future__ import annotations

import re

import httpx
import pyotp
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.models import Account
from app.tenancy import Tenant, TenantStatus
from tests.support.audit import entries
from tests.support.world import World, post_form, second_device, sign_in

VALID_TENANT = {
    "code": "takara",
    "name": "宝塚商事株式会社",
    "corporate_number": "7000012050002",
    "address": "兵庫県宝塚市",
    "representative": "河合 康則",
    "status": "trial",
    "admin_seats": "2",
    "is_member": "on",
}


async def test_the_operator_creates_a_tenant_with_keys_and_a_log_entry(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.operator)
    response = await post_form(client, "/operator/tenants/new", VALID_TENANT)
    assert response.status_code == 302, response.text  # type: ignore[attr-defined]
    tenant = (await db.execute(select(Tenant).where(Tenant.code == "takara"))).scalar_one()
    assert tenant.is_member and tenant.status is TenantStatus.TRIAL and tenant.trial_ends_on is not None
    logged = await entries(db, world.operator.tenant.id, AuditAction.SETTINGS_CHANGE)
    assert logged[-1].detail["tenant_id"] == str(tenant.id)
    listing = await client.get("/operator/tenants")
    assert "宝塚商事株式会社" in listing.text


async def test_a_wrong_corporate_number_is_explained_and_nothing_is_saved(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.operator)
    response = await post_form(client, "/operator/tenants/new", {**VALID_TENANT, "corporate_number": "1000012050002"})
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "法人番号" in response.text or "チェックデジット" in response.text  # type: ignore[attr-defined]
    assert 'value="宝塚商事株式会社"' in response.text  # type: ignore[attr-defined]
    assert (await db.execute(select(Tenant).where(Tenant.code == "takara"))).scalar_one_or_none() is None


async def test_a_taken_tenant_code_is_refused(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.operator)
    response = await post_form(client, "/operator/tenants/new", {**VALID_TENANT, "code": "acme"})
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "既に使われています" in response.text  # type: ignore[attr-defined]


async def test_a_suspended_tenant_cannot_sign_in(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.operator)
    response = await post_form(client, f"/operator/tenants/{world.tenant.id}/suspend")
    assert response.status_code == 302  # type: ignore[attr-defined]
    with second_device(client, httpx.Cookies()):
        refused = await post_form(
            client, "/login", {"tenant_code": "acme", "login_id": "viewer", "password": world.viewer.password}
        )
    assert refused.status_code == 400  # type: ignore[attr-defined]


async def test_the_first_admin_signs_in_changes_password_and_enrols_totp(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.operator)
    created = await post_form(client, "/operator/tenants/new", VALID_TENANT)
    tenant_path = created.headers["location"]  # type: ignore[attr-defined]
    shown = await post_form(client, f"{tenant_path}/admins", {"login_id": "boss", "name": "社長 一郎"})
    assert shown.status_code == 200  # type: ignore[attr-defined]
    match = re.search(r'id="one-time-password">([^<]+)<', shown.text)  # type: ignore[attr-defined]
    assert match
    one_time = match.group(1)
    with second_device(client, httpx.Cookies()):
        boss = client
        first = await post_form(boss, "/login", {"tenant_code": "takara", "login_id": "boss", "password": one_time})
        assert first.headers["location"] == "/login/password"  # type: ignore[attr-defined]
        weak = await post_form(boss, "/login/password", {"password": "password", "confirmation": "password"})
        assert weak.status_code == 400  # type: ignore[attr-defined]
        new_password = "shacho no atarashii pasuwaado"
        changed = await post_form(boss, "/login/password", {"password": new_password, "confirmation": new_password})
        assert changed.headers["location"] == "/login/enroll"  # type: ignore[attr-defined]
        enrol_page = await boss.get("/login/enroll")
        secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', enrol_page.text)
        assert secret and "data:image/svg+xml" in enrol_page.text
        enrolled = await post_form(boss, "/login/enroll", {"code": pyotp.TOTP(secret.group(1)).now()})
        assert enrolled.status_code == 200  # type: ignore[attr-defined]
        codes = re.findall(r"<li>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</li>", enrolled.text)  # type: ignore[attr-defined]
        assert len(codes) == 10
        home = await boss.get("/admin")
        assert home.status_code == 200 and "社長 一郎" in home.text
    reused = await post_form(client, "/login", {"tenant_code": "takara", "login_id": "boss", "password": one_time})
    assert reused.status_code == 400  # type: ignore[attr-defined]
    account = (await db.execute(select(Account).where(Account.login_id == "boss"))).scalar_one()
    assert (
        account.totp_enabled
        and account.totp_secret_sealed
        and secret.group(1).encode() not in account.totp_secret_sealed
    )


async def test_the_operator_has_no_way_to_a_number(app: Litestar) -> None:
    from app.auth.models import Role

    reachable = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            allowed = set()
            for guard in handler.resolve_guards():
                allowed |= set(getattr(guard, "allowed_roles", set()))
            if Role.OPERATOR in allowed and any(
                word in route.path for word in ("number", "reveal", "people", "export", "/me")
            ):
                reachable.append(route.path)
    assert reachable == []
    import ast
    import pathlib

    operator_modules = [
        pathlib.Path("tenants/controllers/_operator.py"),
        pathlib.Path("tenants/services/_organisations.py"),
    ]
    for module in operator_modules:
        tree = ast.parse(module.read_text(encoding="utf-8"))
        called = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not called & {"reveal", "reveal_many", "store_number", "replace_number", "erase", "open_secret"}
