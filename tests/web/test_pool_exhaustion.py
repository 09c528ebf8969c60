"""Connection pools sized from settings; when no connection comes free in time the answer is a 503 with
Retry-After (a Japanese page, or problem+json under /api/), logged, never a 500."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio.to_thread
import msgspec
import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings, SettingsError, load_settings
from app.db import make_engine, pool_options
from app.main import create_app
from tests.support.world import World, sign_in

POOL_TIMEOUT = 0.3


@get("/api/v1/pool-probe")
async def pool_probe(db_session: AsyncSession) -> dict[str, int]:
    return {"one": int((await db_session.execute(text("SELECT 1"))).scalar_one())}


@pytest.fixture
def one_connection(settings: Settings) -> Settings:
    return msgspec.structs.replace(
        settings, db_pool="queue", db_pool_size=1, db_max_overflow=0, db_pool_timeout=POOL_TIMEOUT
    )


@pytest.fixture
async def busy_client(one_connection: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(one_connection)
    app.register(pool_probe)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client


def app_engine(client: AsyncTestClient[Litestar]) -> AsyncEngine:
    engines = [value for value in client.app.state.dict().values() if isinstance(value, AsyncEngine)]
    assert len(engines) == 1
    return engines[0]


async def _hold(engine: AsyncEngine, held: threading.Event, release: threading.Event) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        held.set()
        await anyio.to_thread.run_sync(release.wait, 10)


@pytest.fixture
def held_connection(busy_client: AsyncTestClient[Litestar]) -> Iterator[None]:
    """The pool's only connection checked out by a task on the app's own event loop until the test ends."""
    held, release = threading.Event(), threading.Event()
    future = busy_client.blocking_portal.start_task_soon(_hold, app_engine(busy_client), held, release)
    assert held.wait(5)
    try:
        yield
    finally:
        release.set()
        future.result(timeout=10)


def test_the_pool_takes_its_size_overflow_and_timeout_from_settings() -> None:
    settings = load_settings({"MNV_DB_POOL_SIZE": "3", "MNV_DB_MAX_OVERFLOW": "0", "MNV_DB_POOL_TIMEOUT": "2.5"})
    engine = make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none", **pool_options(settings))
    pool = engine.sync_engine.pool
    assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 0, 2.5)  # type: ignore[attr-defined]
    defaults = load_settings({})
    assert (defaults.db_pool_size, defaults.db_max_overflow, defaults.db_pool_timeout) == (10, 10, 10.0)


async def test_sqlite_keeps_every_connection_it_may_open(tmp_path: Path) -> None:
    """The same limit (size + overflow), all of it kept: under a load above the pool's size, an overflow
    connection was opened and closed for nearly every request (a thread, the pragmas, PRAGMA optimize each time)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}", pool_size=2, max_overflow=3, pool_timeout=4)
    pool = engine.sync_engine.pool
    assert (pool.size(), pool._max_overflow, pool._timeout) == (5, 0, 4)  # type: ignore[attr-defined]
    opened: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda *_: opened.append(1))
    try:
        for _ in range(3):  # three bursts of five at once: five connections opened in all, none again
            connections = [await engine.connect() for _ in range(5)]
            for connection in connections:
                await connection.execute(text("SELECT 1"))
                await connection.close()
        assert len(opened) == 5 and pool.checkedin() == 5  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MNV_DB_POOL_SIZE", "0"),
        ("MNV_DB_MAX_OVERFLOW", "-1"),
        ("MNV_DB_POOL_TIMEOUT", "0"),
        ("MNV_DB_POOL_TIMEOUT", "x"),
    ],
)
def test_bad_pool_settings_are_refused_by_name(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


async def test_a_signed_in_page_gets_a_japanese_503_with_retry_after_when_no_connection_is_free(
    busy_client: AsyncTestClient[Litestar],
    world: World,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await sign_in(busy_client, world.viewer)
    assert (await busy_client.get("/admin")).status_code == 200
    request.getfixturevalue("held_connection")

    with caplog.at_level(logging.WARNING):
        response = await busy_client.get("/admin", headers={"accept": "text/html"}, follow_redirects=False)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "text/html" in response.headers["content-type"]
    assert "ただいま混み合っています" in response.text
    assert "Traceback" not in response.text and "QueuePool" not in response.text
    assert any(r.getMessage() == "database connection pool exhausted" for r in caplog.records)


@pytest.mark.usefixtures("held_connection")
async def test_an_api_path_gets_problem_json(busy_client: AsyncTestClient[Litestar]) -> None:
    response = await busy_client.get("/api/v1/pool-probe")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 503 and body["title"] == "ただいま混み合っています"


async def test_the_same_request_succeeds_once_the_connection_is_back(
    busy_client: AsyncTestClient[Litestar],
) -> None:
    held, release = threading.Event(), threading.Event()
    future = busy_client.blocking_portal.start_task_soon(_hold, app_engine(busy_client), held, release)
    assert held.wait(5)
    assert (await busy_client.get("/api/v1/pool-probe")).status_code == 503
    release.set()
    future.result(timeout=10)

    response = await busy_client.get("/api/v1/pool-probe")

    assert response.status_code == 200
    assert response.json() == {"one": 1}


@pytest.fixture
def short_busy_wait(monkeypatch: pytest.MonkeyPatch) -> int:
    """SQLite writers give up after 200 ms instead of 15 s (connections are opened after the patch)."""
    import app.db

    monkeypatch.setattr(app.db, "SQLITE_BUSY_MS", 200)
    return 200


@pytest.mark.usefixtures("short_busy_wait")
async def test_a_write_while_another_holds_sqlite_gets_a_japanese_503_not_a_500(
    settings: Settings, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Field trial: signing in while a 30,000-row import committed waited 15 s, then answered 500 (the session
    could not be saved: "database is locked"). A writer that waits past the busy timeout gets the same 503 as an
    exhausted pool, on pages and on the API."""
    if not settings.is_sqlite:
        pytest.skip("SQLite's single writer")
    import sqlite3

    async with AsyncTestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        await sign_in(client, world.viewer)
        await client.post("/logout", data={"_csrf_token": client.cookies.get("mnv_csrf") or ""})
        holder = sqlite3.connect(Path(settings.data_dir) / "mnvault.db", isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # a long import's commit holds the write lock
            with caplog.at_level(logging.WARNING):
                response = await client.post(
                    "/login",
                    data={
                        "tenant_code": world.admin.tenant.code,
                        "login_id": world.admin.account.login_id,
                        "password": world.admin.password,
                        "_csrf_token": client.cookies.get("mnv_csrf") or "",
                    },
                    headers={"accept": "text/html"},
                    follow_redirects=False,
                )
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert response.status_code == 503, response.text[:300]
        assert response.headers["retry-after"] == "5"
        assert "ただいま混み合っています" in response.text and "locked" not in response.text
        assert any(r.getMessage() == "database busy" for r in caplog.records)
        await sign_in(client, world.admin)  # once the lock is gone, the same sign-in goes through
