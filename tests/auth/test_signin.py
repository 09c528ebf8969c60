"""Signing in: password, TOTP, recovery codes, lockout, rate limits, sessions, CSRF, step-up."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

import app.auth.sessions as sessions_module
from app.audit.events import AuditAction
from app.auth.models import Account
from app.auth.passwords import PasswordHasher, hasher_from_settings
from app.auth.services import replace_recovery_codes
from app.config import Settings
from app.db import utcnow
from app.main import create_app
from tests.support.audit import details, entries
from tests.support.world import PASSWORD, World, post_form, second_device, sign_in, step_up


async def _attempt(client: AsyncTestClient[Litestar], tenant: str, login_id: str, password: str) -> object:
    return await post_form(client, "/login", {"tenant_code": tenant, "login_id": login_id, "password": password})


async def test_the_sign_in_page_is_japanese_and_has_a_csrf_field(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/login")
    assert response.status_code == 200
    assert "事業者コード" in response.text and "ログインID" in response.text
    assert 'name="_csrf_token"' in response.text


async def test_the_tenant_sign_in_url_fills_in_the_tenant_code(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/t/acme/login")
    assert 'name="tenant_code" value="acme"' in response.text


async def test_an_admin_signs_in_with_password_and_totp(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.admin)
    response = await client.get("/admin")
    assert response.status_code == 200
    assert "岡 昌平" in response.text
    logins = await entries(db, world.tenant.id, AuditAction.LOGIN)
    assert len(logins) == 1 and logins[0].actor_login_id == "admin"


async def test_a_bad_password_and_an_unknown_id_get_the_same_answer(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    bad = await _attempt(client, "acme", "admin", "wrong password!!")
    unknown = await _attempt(client, "acme", "nobody", "wrong password!!")
    unknown_tenant = await _attempt(client, "nowhere", "admin", "wrong password!!")
    assert bad.status_code == unknown.status_code == unknown_tenant.status_code == 400  # type: ignore[attr-defined]
    for response in (bad, unknown, unknown_tenant):
        assert "いずれかが正しくない" in response.text  # type: ignore[attr-defined]
    reasons = [d["reason"] for d in details(await entries(db, world.tenant.id, AuditAction.LOGIN_FAILED))]
    assert reasons == ["bad_password", "unknown_id"]
    operator_chain = details(await entries(db, world.operator.tenant.id, AuditAction.LOGIN_FAILED))
    assert operator_chain == [{"reason": "unknown_id", "tenant": "unknown"}]


async def test_a_number_typed_as_login_id_never_reaches_the_log(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await _attempt(client, "acme", "1234 5678 9018", "whatever whatever")
    failed = await entries(db, world.tenant.id, AuditAction.LOGIN_FAILED)
    assert "123456789018" not in failed[0].actor_login_id.replace(" ", "")


async def test_five_failures_lock_the_account_even_for_the_right_password(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    for _ in range(5):
        await _attempt(client, "acme", "viewer", "not the password")
    locked = await _attempt(client, "acme", "viewer", PASSWORD)
    assert locked.status_code == 400  # type: ignore[attr-defined]
    reasons = [d["reason"] for d in details(await entries(db, world.tenant.id, AuditAction.LOGIN_FAILED))]
    assert reasons[-1] == "locked"


async def test_the_lock_expires(client: AsyncTestClient[Litestar], world: World, db: AsyncSession) -> None:
    for _ in range(5):
        await _attempt(client, "acme", "viewer", "not the password")
    await db.execute(
        update(Account)
        .where(Account.id == world.viewer.account.id)
        .values(locked_until=utcnow() - dt.timedelta(seconds=1))
    )
    await db.commit()
    response = await _attempt(client, "acme", "viewer", PASSWORD)
    assert response.status_code == 302  # type: ignore[attr-defined]


async def test_a_used_totp_code_cannot_be_replayed(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    code = world.handler.next_code()
    await _attempt(client, "acme", "handler", PASSWORD)
    first = await post_form(client, "/login/totp", {"code": code})
    assert first.status_code == 302  # type: ignore[attr-defined]
    await post_form(client, "/logout")
    await _attempt(client, "acme", "handler", PASSWORD)
    replay = await post_form(client, "/login/totp", {"code": code})
    assert replay.status_code == 400  # type: ignore[attr-defined]
    assert "確認コードが正しくありません" in replay.text  # type: ignore[attr-defined]
    reasons = [d["reason"] for d in details(await entries(db, world.tenant.id, AuditAction.LOGIN_FAILED))]
    assert reasons == ["bad_totp"]


async def test_a_recovery_code_works_exactly_once(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    account = await db.get(Account, (world.admin.tenant.id, world.admin.account.id))
    assert account is not None
    codes = await replace_recovery_codes(db, account)
    await db.commit()
    await _attempt(client, "acme", "admin", PASSWORD)
    first = await post_form(client, "/login/totp", {"code": codes[3].upper()})
    assert first.status_code == 302  # type: ignore[attr-defined]
    await post_form(client, "/logout")
    await _attempt(client, "acme", "admin", PASSWORD)
    again = await post_form(client, "/login/totp", {"code": codes[3]})
    assert again.status_code == 400  # type: ignore[attr-defined]


async def test_the_session_id_changes_at_sign_in(client: AsyncTestClient[Litestar], world: World) -> None:
    await _attempt(client, "acme", "viewer", "not the password")
    await client.get("/login")
    before = client.cookies.get("mnv_session")
    await sign_in(client, world.viewer)
    after = client.cookies.get("mnv_session")
    assert after and after != before
    await sign_in(client, world.admin)  # password step, then TOTP step: each a new id
    assert client.cookies.get("mnv_session") not in (before, after)


async def test_an_old_session_id_is_useless_after_sign_in(client: AsyncTestClient[Litestar], world: World) -> None:
    await client.get("/login")
    await _attempt(client, "acme", "admin", PASSWORD)  # pending session (TOTP step)
    planted = client.cookies.get("mnv_session")
    await post_form(client, "/login/totp", {"code": world.admin.next_code()})
    attacker = httpx.Cookies()
    attacker.set("mnv_session", planted or "", domain="testserver.local")
    with second_device(client, attacker):
        response = await client.get("/admin", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/login")


async def test_an_idle_session_ends(
    client: AsyncTestClient[Litestar], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sign_in(client, world.viewer)
    assert (await client.get("/admin")).status_code == 200
    real_now = sessions_module.now_ts
    monkeypatch.setattr(sessions_module, "now_ts", lambda: real_now() + 31 * 60)
    response = await client.get("/admin", follow_redirects=False)
    assert response.status_code in (302, 303) and response.headers["location"].startswith("/login")


async def test_a_session_ends_after_the_absolute_timeout_even_when_active(
    client: AsyncTestClient[Litestar], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sign_in(client, world.viewer)
    real_now = sessions_module.now_ts
    for minutes in range(20, 13 * 60, 20):  # a request every 20 minutes, for 13 hours
        monkeypatch.setattr(sessions_module, "now_ts", lambda m=minutes: real_now() + m * 60)
        response = await client.get("/admin", follow_redirects=False)
        if response.status_code != 200:
            break
    assert response.status_code in (302, 303)
    assert 12 * 60 <= minutes <= 12 * 60 + 20


async def test_a_form_without_csrf_token_is_refused(client: AsyncTestClient[Litestar], world: World) -> None:
    response = await post_form(
        client, "/login", {"tenant_code": "acme", "login_id": "admin", "password": PASSWORD}, csrf=False
    )
    assert response.status_code == 403  # type: ignore[attr-defined]


async def test_sign_out_everywhere_ends_other_sessions(client: AsyncTestClient[Litestar], world: World) -> None:
    phone = httpx.Cookies()
    with second_device(client, phone):
        await sign_in(client, world.viewer)
    await sign_in(client, world.viewer)
    response = await post_form(client, "/account/sign-out-everywhere")
    assert response.status_code == 302  # type: ignore[attr-defined]
    with second_device(client, phone):
        after = await client.get("/admin", follow_redirects=False)
    assert after.status_code in (302, 303) and after.headers["location"].startswith("/login")


async def test_security_settings_need_a_recent_reauthentication(
    client: AsyncTestClient[Litestar], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sign_in(client, world.admin)
    assert (await client.get("/admin/settings/", follow_redirects=False)).status_code == 200  # sign-in counts
    real_now = sessions_module.now_ts
    monkeypatch.setattr(sessions_module, "now_ts", lambda: real_now() + 6 * 60)
    response = await client.get("/admin/settings/", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/reauth?next=")
    bad = await post_form(client, "/reauth", {"password": "wrong", "next": "/admin/settings/"})
    assert bad.status_code == 400  # type: ignore[attr-defined]
    await step_up(client, world.admin, "/admin/settings/")
    assert (await client.get("/admin/settings/", follow_redirects=False)).status_code == 200


async def test_reauthentication_never_redirects_off_site(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.viewer)
    response = await post_form(client, "/reauth", {"password": PASSWORD, "next": "//evil.example/"})
    assert response.headers["location"] == "/"  # type: ignore[attr-defined]


async def test_sign_in_posts_are_rate_limited_per_address(settings: Settings, world: World) -> None:
    limited = create_app(msgspec_replace(settings, signin_rate_per_minute=3))
    async with AsyncTestClient(app=limited, base_url="http://testserver.local") as client:
        statuses = [
            (await _attempt(client, "acme", "viewer", "not the password")).status_code  # type: ignore[attr-defined]
            for _ in range(4)
        ]
    assert statuses == [400, 400, 400, 429]


async def test_a_password_hash_is_upgraded_when_parameters_change(
    settings: Settings, world: World, db: AsyncSession
) -> None:
    stronger = msgspec_replace(settings, argon2_time_cost=2)
    async with AsyncTestClient(app=create_app(stronger), base_url="http://testserver.local") as client:
        await sign_in(client, world.viewer)
    account = (
        await db.execute(
            select(Account).where(Account.id == world.viewer.account.id).execution_options(populate_existing=True)
        )
    ).scalar_one()
    assert "t=2" in (account.password_hash or "")
    assert hasher_from_settings(stronger).verify(account.password_hash or "", PASSWORD).ok


def msgspec_replace(settings: Settings, **changes: object) -> Settings:
    import msgspec

    return msgspec.structs.replace(settings, **changes)


def _redis_reachable() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _redis_reachable(), reason="no Redis on 127.0.0.1:6379")
async def test_sessions_and_rate_limits_can_live_in_redis(settings: Settings, world: World) -> None:
    on_redis = msgspec_replace(settings, store="redis", redis_url="redis://127.0.0.1:6379/15")
    async with AsyncTestClient(app=create_app(on_redis), base_url="http://testserver.local") as client:
        await sign_in(client, world.viewer)
        assert (await client.get("/admin")).status_code == 200
        await post_form(client, "/logout")
        assert (await client.get("/admin", follow_redirects=False)).status_code in (302, 303)


async def test_guessing_at_reauthentication_locks_the_account_and_ends_the_session(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.viewer)
    for _ in range(4):
        wrong = await post_form(client, "/reauth", {"password": "guess guess guess", "next": "/admin"})
        assert wrong.status_code == 400  # type: ignore[attr-defined]
    last = await post_form(client, "/reauth", {"password": "guess guess guess", "next": "/admin"})
    assert last.headers["location"] == "/login"  # type: ignore[attr-defined]
    assert (await client.get("/admin", follow_redirects=False)).status_code in (302, 303)
    refused = await _attempt(client, "acme", "viewer", PASSWORD)
    assert refused.status_code == 400  # type: ignore[attr-defined]
    reasons = [d["reason"] for d in details(await entries(db, world.tenant.id, AuditAction.LOGIN_FAILED))]
    assert reasons == ["bad_password"] * 4 + ["locked", "locked"]


async def test_a_sign_in_holds_no_pooled_connection_while_its_password_is_hashed(
    world: World, settings: Settings
) -> None:
    """The hash may queue behind others (50 sign-ins at once): meanwhile the sign-in holds no connection, so other
    requests still get one. Before, every pooled connection waited on a hash, and /healthz with them (bench.pages:
    /healthz p99 during 50 sign-ins 185 ms, 36 ms after)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.auth.services import sign_in_with_password
    from app.auth.services._common import ClientInfo
    from app.db import make_engine

    engine = make_engine(settings.effective_database_url, pool_size=1, max_overflow=0, pool_timeout=2)
    # A hasher of the test's own: the app's is shared by the whole process (hasher_from_settings caches it).
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    verify = hasher.verify_async
    answered: list[int] = []

    async def verify_while_another_request_runs(stored_hash: str, password: str):  # type: ignore[no-untyped-def]
        async with engine.connect() as connection:  # the pool's only connection: free, or a TimeoutError
            answered.append((await connection.execute(text("SELECT 1"))).scalar_one())
        return await verify(stored_hash, password)

    hasher.verify_async = verify_while_another_request_runs  # type: ignore[method-assign]
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            signed_in = await sign_in_with_password(
                session,
                settings,
                hasher,
                tenant_code="acme",
                login_id="admin",
                password=PASSWORD,
                client=ClientInfo(ip="192.0.2.1", user_agent="test"),
            )
            await session.commit()
    finally:
        await engine.dispose()
    assert answered == [1] and signed_in.account.login_id == "admin"
