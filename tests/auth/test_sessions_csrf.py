"""Sessions store only what there is to keep and accept only ids they issued; CSRF tokens belong to one session;
``__Host-`` cookie names over TLS."""

from __future__ import annotations

import time
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import sessions
from app.config import Settings
from app.main import create_app
from tests.support.world import PASSWORD, World, post_form, second_device, sign_in, step_up


async def session_rows(db: AsyncSession) -> int:
    return int((await db.execute(text("SELECT count(*) FROM kv_store WHERE namespace = 'sessions'"))).scalar_one())


async def test_two_hundred_anonymous_requests_leave_no_session_row(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    paths = ["/", "/login", "/t/acme/login", "/no/such/page", "/admin", "/me", "/login/totp", "/static/app.css"]
    for n in range(200):
        response = await client.get(paths[n % len(paths)], follow_redirects=False)
        assert response.status_code < 500
    assert await session_rows(db) == 0
    assert "mnv_session" not in client.cookies


async def test_a_failed_sign_in_leaves_no_session_row(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    for _ in range(3):
        await post_form(client, "/login", {"tenant_code": "acme", "login_id": "viewer", "password": "wrong!!"})
    assert await session_rows(db) == 0


async def test_a_sign_in_stores_one_session_and_sign_out_removes_it(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.admin)  # password step, then TOTP: the pending session is replaced
    assert await session_rows(db) == 1
    await post_form(client, "/logout")
    assert await session_rows(db) == 0


async def test_a_session_id_not_in_the_issued_format_is_no_session(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    for forged in ("a" * 2000, "../../etc", "A" * 64, "0" * 63):
        client.cookies.set("mnv_session", forged, domain="testserver.local")
        response = await client.get("/login")
        assert response.status_code == 200
        response = await client.get("/admin", follow_redirects=False)
        assert response.status_code in (302, 303)
    assert await session_rows(db) == 0


async def test_a_csrf_pair_from_another_session_is_refused(client: AsyncTestClient[Litestar], world: World) -> None:
    attacker = httpx.Cookies()
    with second_device(client, attacker):
        await sign_in(client, world.employee)
        planted = client.cookies.get("mnv_csrf")
    await sign_in(client, world.viewer)
    assert planted and planted != client.cookies.get("mnv_csrf")
    client.cookies.set("mnv_csrf", planted, domain="testserver.local")
    response = await client.post("/account/sign-out-everywhere", data={"_csrf_token": planted}, follow_redirects=False)
    assert response.status_code == 403


async def test_a_csrf_pair_from_an_anonymous_visit_is_refused_once_signed_in(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    stranger = httpx.Cookies()
    with second_device(client, stranger):
        await client.get("/login")
        planted = client.cookies.get("mnv_csrf")
    await sign_in(client, world.viewer)
    client.cookies.set("mnv_csrf", planted or "", domain="testserver.local")
    response = await client.post("/logout", data={"_csrf_token": planted or ""}, follow_redirects=False)
    assert response.status_code == 403


async def test_the_token_changes_with_the_session_and_keeps_working(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await client.get("/login")
    anonymous = client.cookies.get("mnv_csrf")
    await sign_in(client, world.viewer)
    signed_in = client.cookies.get("mnv_csrf")
    assert anonymous != signed_in
    page = await client.get("/account/password")
    assert f'value="{signed_in}"' in page.text
    response = await post_form(client, "/logout")
    assert response.status_code == 302  # type: ignore[attr-defined]
    again = await post_form(client, "/login", {"tenant_code": "acme", "login_id": "viewer", "password": PASSWORD})
    assert again.status_code == 302  # type: ignore[attr-defined]


async def test_cookies_get_host_prefixed_names_over_tls(settings: Settings, world: World) -> None:
    tls_app = create_app(msgspec.structs.replace(settings, base_url="https://vault.example.jp"))
    async with AsyncTestClient(app=tls_app, base_url="https://testserver.local") as browser:
        page = await browser.get("/login")
        set_cookie = page.headers.get_list("set-cookie")
        assert any(c.startswith("__Host-mnv_csrf=") and "Secure" in c and "Path=/" in c for c in set_cookie)
        token = browser.cookies.get("__Host-mnv_csrf") or ""
        data = {"tenant_code": "acme", "login_id": "viewer", "password": PASSWORD, "_csrf_token": token}
        response = await browser.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 302
        cookies = response.headers.get_list("set-cookie")
        assert any(c.startswith("__Host-mnv_session=") and "Secure" in c and "Path=/" in c for c in cookies)
        assert not any(c.startswith("mnv_session=") for c in cookies)
        assert (await browser.get("/admin")).status_code == 200


class Clock:
    """``app.auth.sessions.now_ts`` under the test's control."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = time.time()
        monkeypatch.setattr(sessions, "now_ts", lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def count_session_writes(app: Litestar, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The session ids written to the session store from now on, one per write."""
    sessions_store = app.stores.get("sessions")
    store_class = type(sessions_store)  # slotted: the method is replaced on the class, counting this store only
    real_set = store_class.set
    written: list[str] = []

    async def counting_set(self: Any, key: str, *args: Any, **kwargs: Any) -> None:
        if self is sessions_store:
            written.append(key)
        await real_set(self, key, *args, **kwargs)

    monkeypatch.setattr(store_class, "set", counting_set)
    return written


class TestLastSeenIsWrittenAtMostOnceAMinute:
    async def test_two_reads_within_a_minute_write_the_session_once(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        clock = Clock(monkeypatch)
        await sign_in(client, world.viewer)
        written = count_session_writes(app, monkeypatch)
        clock.advance(61)

        assert (await client.get("/admin")).status_code == 200
        clock.advance(30)
        assert (await client.get("/admin")).status_code == 200

        assert len(written) == 1

    async def test_a_read_a_minute_after_the_last_write_writes_again(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        clock = Clock(monkeypatch)
        await sign_in(client, world.viewer)
        written = count_session_writes(app, monkeypatch)

        for _ in range(3):  # within the minute after sign-in: no write at all
            clock.advance(15)
            assert (await client.get("/admin")).status_code == 200
        assert written == []
        clock.advance(16)  # 61 s after the sign-in wrote last_seen
        assert (await client.get("/admin")).status_code == 200

        assert len(written) == 1

    async def test_reads_keep_an_active_session_alive_past_the_idle_timeout(
        self,
        app: Litestar,
        client: AsyncTestClient[Litestar],
        world: World,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        clock = Clock(monkeypatch)
        await sign_in(client, world.viewer)
        written = count_session_writes(app, monkeypatch)
        for _ in range(2 * settings.session_idle_minutes):  # one read every 59 s for longer than the idle timeout
            clock.advance(59)
            assert (await client.get("/admin", follow_redirects=False)).status_code == 200
        assert 0 < len(written) <= settings.session_idle_minutes + 1

        clock.advance(settings.session_idle_minutes * 60 + 1)
        response = await client.get("/admin", follow_redirects=False)
        assert response.status_code in (302, 303) and response.headers["location"].startswith("/login")

    async def test_a_changed_session_is_written_at_once(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        Clock(monkeypatch)
        await sign_in(client, world.admin)
        written = count_session_writes(app, monkeypatch)

        await step_up(client, world.admin, "/admin")  # stepup_at changes within the minute

        assert len(written) == 1
