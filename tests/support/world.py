"""Personas for tests: two companies, their staff and employees, and the operator; signing them in."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pyotp
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account, Role
from app.auth.passwords import hasher_from_settings
from app.auth.services import TOTP_PURPOSE
from app.auth.totp import new_totp_secret
from app.config import Settings
from app.db import utcnow
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.vault import Vault

PASSWORD = "correct horse battery staple"


@dataclass
class Persona:
    tenant: Tenant
    account: Account
    password: str = PASSWORD
    totp_secret: str | None = None
    _step_offset: int = field(default=0)

    @property
    def role(self) -> Role:
        return self.account.role

    def next_code(self) -> str:
        """A TOTP code for a time step not used before by this persona (replays are refused)."""
        assert self.totp_secret is not None
        self._step_offset += 1
        return pyotp.TOTP(self.totp_secret).at(time.time() + 30 * (self._step_offset - 1))


async def make_tenant(
    db: AsyncSession, vault: Vault, code: str, name: str, *, kind: TenantKind = TenantKind.COMPANY
) -> Tenant:
    tenant = Tenant(code=code, name=name, kind=kind, status=TenantStatus.ACTIVE)
    db.add(tenant)
    await db.flush()
    await vault.create_tenant_keys(db, tenant.id)
    return tenant


async def make_persona(
    db: AsyncSession,
    settings: Settings,
    vault: Vault,
    tenant: Tenant,
    login_id: str,
    role: Role,
    *,
    totp: bool | None = None,
    name: str | None = None,
) -> Persona:
    hasher = hasher_from_settings(settings)
    account = Account(
        tenant_id=tenant.id,
        login_id=login_id,
        name=name or f"{login_id} さん",
        role=role,
        password_hash=hasher.hash(PASSWORD),
        must_change_password=False,
    )
    db.add(account)
    await db.flush()
    secret = None
    if totp if totp is not None else role.requires_totp:
        secret = new_totp_secret()
        account.totp_secret_sealed = await vault.seal_secret(db, tenant.id, account.id, TOTP_PURPOSE, secret.encode())
        account.totp_enabled_at = utcnow()
    await db.flush()
    return Persona(tenant=tenant, account=account, totp_secret=secret)


@dataclass
class World:
    operator: Persona
    admin: Persona
    handler: Persona
    viewer: Persona
    employee: Persona
    other_admin: Persona

    @property
    def tenant(self) -> Tenant:
        return self.admin.tenant

    @property
    def other_tenant(self) -> Tenant:
        return self.other_admin.tenant


async def build_world(db: AsyncSession, settings: Settings, vault: Vault) -> World:
    operator_org = await make_tenant(db, vault, "operator", "運営者", kind=TenantKind.OPERATOR)
    acme = await make_tenant(db, vault, "acme", "アクメ商事株式会社")
    other = await make_tenant(db, vault, "other", "よその会社株式会社")
    world = World(
        operator=await make_persona(db, settings, vault, operator_org, "operator", Role.OPERATOR),
        admin=await make_persona(db, settings, vault, acme, "admin", Role.ADMIN, name="岡 昌平"),
        handler=await make_persona(db, settings, vault, acme, "handler", Role.HANDLER),
        viewer=await make_persona(db, settings, vault, acme, "viewer", Role.VIEWER),
        employee=await make_persona(db, settings, vault, acme, "emp001", Role.EMPLOYEE),
        other_admin=await make_persona(db, settings, vault, other, "admin", Role.ADMIN),
    )
    await db.commit()
    return world


async def csrf_token(client: AsyncTestClient[Litestar]) -> str:
    token = client.cookies.get("mnv_csrf")
    if not token:
        await client.get("/login")
        token = client.cookies.get("mnv_csrf")
    assert token, "no CSRF cookie was set"
    return token


async def post_form(
    client: AsyncTestClient[Litestar], path: str, data: dict[str, str] | None = None, *, csrf: bool = True
) -> object:
    payload = dict(data or {})
    if csrf:
        payload["_csrf_token"] = await csrf_token(client)
    return await client.post(path, data=payload, follow_redirects=False)


async def sign_in(client: AsyncTestClient[Litestar], persona: Persona) -> None:
    """Sign in through the real pages (password, then TOTP when enrolled) and check it landed."""
    response = await post_form(
        client,
        "/login",
        {"tenant_code": persona.tenant.code, "login_id": persona.account.login_id, "password": persona.password},
    )
    assert response.status_code in (302, 303), getattr(response, "text", "")[:500]  # type: ignore[attr-defined]
    if persona.totp_secret:
        assert response.headers["location"] == "/login/totp"  # type: ignore[attr-defined]
        response = await post_form(client, "/login/totp", {"code": persona.next_code()})
        assert response.status_code in (302, 303), getattr(response, "text", "")[:500]  # type: ignore[attr-defined]


async def step_up(client: AsyncTestClient[Litestar], persona: Persona, next_path: str = "/") -> None:
    data = {"password": persona.password, "next": next_path}
    if persona.totp_secret:
        data["code"] = persona.next_code()
    response = await post_form(client, "/reauth", data)
    assert response.status_code in (302, 303), getattr(response, "text", "")[:500]  # type: ignore[attr-defined]


def hidden_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


@contextlib.contextmanager
def second_device(client: AsyncTestClient[Litestar], jar: httpx.Cookies) -> Iterator[None]:
    """Use the same test client as another browser (its own cookie jar): one event loop, one engine."""
    own = httpx.Cookies(client.cookies)
    client.cookies = jar
    try:
        yield
    finally:
        jar.clear()
        jar.update(client.cookies)
        client.cookies = own
