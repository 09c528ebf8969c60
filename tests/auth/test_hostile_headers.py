"""Sign-in under hostile headers: a number in User-Agent or X-Forwarded-For is redacted, never a reason to fail;
failures and lockouts are committed on their own; the session changes only after the sign-in committed; a TOTP
step is taken once even by parallel requests; X-Forwarded-For counts only from trusted proxies."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import app.auth.controllers._sign_in as sign_in_controller
from app.audit.events import AuditAction
from app.auth.models import Account
from app.auth.passwords import hasher_from_settings
from app.auth.services import AccountError, ClientInfo, sign_in_with_password
from app.clientaddr import resolve_client
from app.config import Settings, load_settings
from app.main import create_app
from tests.support.audit import details, entries
from tests.support.world import PASSWORD, World, post_form, sign_in

NUMBER_UA = "Mozilla/5.0 (X11; Linux) 1234 5678 9018 Chrome/120"
HOSTILE = [
    {"user-agent": NUMBER_UA},
    {"user-agent": "123456789018"},
    {"x-forwarded-for": "123456789018"},
    {"x-forwarded-for": "1.2.3.4, 1234-5678-9018", "user-agent": "UA/1.0 (1234 5678 9018)\t"},
]


async def _attempt(
    client: AsyncTestClient[Litestar], login_id: str, password: str, headers: dict[str, str]
) -> httpx.Response:
    token = client.cookies.get("mnv_csrf") or ""
    if not token:
        await client.get("/login")
        token = client.cookies.get("mnv_csrf") or ""
    data = {"tenant_code": "acme", "login_id": login_id, "password": password, "_csrf_token": token}
    return await client.post("/login", data=data, headers=headers, follow_redirects=False)


async def _failures(db: AsyncSession, account: Account) -> int:
    query = select(Account.failed_attempts).where(Account.tenant_id == account.tenant_id, Account.id == account.id)
    return int((await db.execute(query)).scalar_one())


@pytest.mark.parametrize("headers", HOSTILE)
async def test_a_wrong_password_with_a_number_in_the_headers_is_counted_and_logged(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, headers: dict[str, str]
) -> None:
    response = await _attempt(client, "viewer", "not the password", headers)
    assert response.status_code == 400
    assert "いずれかが正しくない" in response.text
    assert "mnv_session" not in response.headers.get("set-cookie", "")
    assert await _failures(db, world.viewer.account) == 1
    failed = await entries(db, world.tenant.id, AuditAction.LOGIN_FAILED)
    assert details(failed) == [{"reason": "bad_password"}]
    stored = f"{failed[0].user_agent} {failed[0].ip}"
    assert "9018" not in stored


@pytest.mark.parametrize("headers", HOSTILE)
async def test_the_right_password_with_a_number_in_the_headers_signs_in(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, headers: dict[str, str]
) -> None:
    response = await _attempt(client, "viewer", PASSWORD, headers)
    assert response.status_code == 302
    logins = await entries(db, world.tenant.id, AuditAction.LOGIN)
    assert len(logins) == 1
    assert "9018" not in f"{logins[0].user_agent} {logins[0].ip}"
    assert "［数字列省略］" in f"{logins[0].user_agent}" or "x-forwarded-for" in headers


async def test_hostile_guessing_still_locks_the_account(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    for _ in range(5):
        assert (await _attempt(client, "viewer", "not the password", {"user-agent": NUMBER_UA})).status_code == 400
    locked = await _attempt(client, "viewer", PASSWORD, {"user-agent": NUMBER_UA})
    assert locked.status_code == 400
    assert "mnv_session" not in locked.headers.get("set-cookie", "")
    reasons = [d["reason"] for d in details(await entries(db, world.tenant.id, AuditAction.LOGIN_FAILED))]
    assert reasons == ["bad_password"] * 5 + ["locked"]


async def test_a_number_typed_as_tenant_code_or_login_id_is_redacted(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    token = (await client.get("/login")) and client.cookies.get("mnv_csrf")
    for tenant_code, login_id in (("1234 5678 9018", "admin"), ("acme", "1234-5678-9018 さん")):
        data = {"tenant_code": tenant_code, "login_id": login_id, "password": "x", "_csrf_token": token or ""}
        assert (await client.post("/login", data=data)).status_code == 400
    rows = await entries(db, world.tenant.id, AuditAction.LOGIN_FAILED) + await entries(
        db, world.operator.tenant.id, AuditAction.LOGIN_FAILED
    )
    assert len(rows) == 2
    assert all("9018" not in f"{r.actor_login_id} {r.detail}" for r in rows)


async def test_a_failed_attempt_stays_recorded_when_the_request_rolls_back(
    settings: Settings, world: World, db: AsyncSession
) -> None:
    async with AsyncSession(bind=db.bind, expire_on_commit=False) as request_session:
        with pytest.raises(AccountError):
            await sign_in_with_password(
                request_session,
                settings,
                hasher_from_settings(settings),
                tenant_code="acme",
                login_id="viewer",
                password="not the password",
                client=ClientInfo(ip="192.0.2.1", user_agent=NUMBER_UA),
            )
        await request_session.rollback()
    assert await _failures(db, world.viewer.account) == 1
    assert len(await entries(db, world.tenant.id, AuditAction.LOGIN_FAILED)) == 1


async def test_no_new_session_when_the_sign_in_cannot_commit(
    client: AsyncTestClient[Litestar], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_completion(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the log could not be written")

    monkeypatch.setattr(sign_in_controller, "complete_sign_in", failing_completion)
    await client.get("/login")
    response = await _attempt(client, "viewer", PASSWORD, {})
    assert response.status_code == 500
    assert "システムエラー" in response.text
    assert "mnv_session" not in response.headers.get("set-cookie", "")
    assert (await client.get("/admin", follow_redirects=False)).status_code in (302, 303)


async def _pending_totp_client(app: Litestar, world: World) -> httpx.AsyncClient:
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver.local")
    await browser.get("/login")
    data = {
        "tenant_code": "acme",
        "login_id": "handler",
        "password": PASSWORD,
        "_csrf_token": browser.cookies.get("mnv_csrf") or "",
    }
    response = await browser.post("/login", data=data)
    assert response.status_code == 302 and response.headers["location"] == "/login/totp"
    return browser


async def test_one_totp_code_sent_by_eight_parallel_sign_ins_works_once(
    app: Litestar, world: World, db: AsyncSession
) -> None:
    # The app is started and served on this test's loop alone (not by a test client in a portal thread, whose
    # background tasks would share the engine's connections with this loop).
    async with app.lifespan():
        await _eight_parallel_sign_ins(app, world, db)


async def _eight_parallel_sign_ins(app: Litestar, world: World, db: AsyncSession) -> None:
    browsers = [await _pending_totp_client(app, world) for _ in range(8)]
    code = world.handler.next_code()

    async def send(browser: httpx.AsyncClient) -> int:
        data = {"code": code, "_csrf_token": browser.cookies.get("mnv_csrf") or ""}
        return (await browser.post("/login/totp", data=data)).status_code

    try:
        statuses = await asyncio.gather(*(send(b) for b in browsers))
    finally:
        for browser in browsers:
            await browser.aclose()
    assert sorted(statuses) == [302] + [400] * 7
    assert len(await entries(db, world.tenant.id, AuditAction.LOGIN)) == 1
    assert len(await entries(db, world.tenant.id, AuditAction.LOGIN_FAILED)) == 7
    step = select(Account.totp_last_step).where(Account.id == world.handler.account.id)
    assert (await db.execute(step)).scalar_one() is not None


@pytest.mark.parametrize(
    ("socket", "forwarded", "trusted", "expected"),
    [
        ("127.0.0.1", "203.0.113.7", "", "127.0.0.1"),
        ("198.51.100.2", "203.0.113.7", "10.0.0.0/8", "198.51.100.2"),
        ("10.0.0.5", "203.0.113.7", "10.0.0.0/8", "203.0.113.7"),
        ("10.0.0.5", "198.51.100.9, 203.0.113.7, 10.0.0.4", "10.0.0.0/8", "203.0.113.7"),
        ("10.0.0.5", "123456789018", "10.0.0.0/8", "10.0.0.5"),
        ("10.0.0.5", "203.0.113.7, junk", "10.0.0.0/8", "10.0.0.5"),
        ("::1", "2001:db8::7", "::1", "2001:db8::7"),
    ],
)
def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    socket: str, forwarded: str, trusted: str, expected: str
) -> None:
    networks = load_settings({}, trusted_proxies=trusted).trusted_proxy_networks
    assert resolve_client(socket, forwarded, networks) == expected


async def test_a_forged_forwarded_address_is_not_logged_without_a_trusted_proxy(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await _attempt(client, "viewer", "not the password", {"x-forwarded-for": "203.0.113.99"})
    failed = await entries(db, world.tenant.id, AuditAction.LOGIN_FAILED)
    assert failed[0].ip != "203.0.113.99"


async def test_a_trusted_proxy_gives_the_forwarded_address(settings: Settings, world: World, db: AsyncSession) -> None:
    import msgspec

    # No job runner: its polls would share the engine between the portal's loop and this test's (a hang).
    proxied = create_app(msgspec.structs.replace(settings, trusted_proxies="10.0.0.0/8", jobs_in_app=False))
    transport = httpx.ASGITransport(app=proxied, client=("10.0.0.5", 40000))
    async with (
        AsyncTestClient(app=proxied) as _,
        httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as browser,
    ):
        await _attempt(browser, "viewer", "not the password", {"x-forwarded-for": "203.0.113.99"})  # type: ignore[arg-type]
    failed = await entries(db, world.tenant.id, AuditAction.LOGIN_FAILED)
    assert failed[0].ip == "203.0.113.99"


def test_a_malformed_trusted_proxy_setting_stops_the_start() -> None:
    from app.config import SettingsError

    with pytest.raises(SettingsError, match="MNV_TRUSTED_PROXIES"):
        load_settings({"MNV_TRUSTED_PROXIES": "10.0.0.0/33"})


async def test_the_operator_creates_a_tenant_whose_name_holds_twelve_digits(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.operator)
    form = {
        "code": "digits",
        "name": "株式会社 1234 5678 9012",
        "corporate_number": "7000012050002",
        "status": "trial",
        "admin_seats": "2",
    }
    response = await post_form(client, "/operator/tenants/new", form)
    assert response.status_code == 302, response.text  # type: ignore[attr-defined]
    logged = await entries(db, world.operator.tenant.id, AuditAction.SETTINGS_CHANGE)
    assert logged[-1].detail["tenant_name"] == "株式会社 ［数字列省略］"


async def test_an_audited_action_with_hostile_headers_is_logged_redacted(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.admin)
    token = client.cookies.get("mnv_csrf") or ""
    headers = {"user-agent": "Evil/1.0 1234-5678-9018", "x-forwarded-for": "123456789018"}
    data = {"code": "123456789012", "name": "部門 1234 5678 9018", "_csrf_token": token}
    response = await client.post("/admin/departments", data=data, headers=headers, follow_redirects=False)
    assert response.status_code < 500
    for entry in await entries(db, world.tenant.id):
        stored = f"{entry.user_agent} {entry.ip} {entry.detail} {entry.subject_name}"
        assert "9018" not in stored and "9012" not in stored
