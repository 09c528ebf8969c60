"""Real-browser fixtures: the app served by uvicorn on a free loopback port, driven by Debian's Chromium.

Playwright is used through its sync API, so every e2e fixture and test is a plain (non-async) function. Sync
Playwright refuses to start inside a running event loop, and once it has started the test thread counts as being
inside one (``asyncio.run`` there fails): run coroutines through ``live_server.run_async``.

The server, its databases and the browser live for the whole e2e package (one start-up for all browser tests), so
tests seed their own uniquely named data; each page fixture is a fresh browser context (no cookies shared).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings, load_settings
from app.db import make_engine
from tests.conftest import BACKEND, TEST_MASTER_KEY
from tests.support import databases

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "test-artifacts"
STARTUP_SECONDS = 20.0
T = TypeVar("T")

# Report CSP violations as console errors, so the console listener below catches them with everything else.
# Init scripts are injected by the browser itself and are not subject to the page's CSP.
_CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || location.pathname}:${event.lineNumber}`);
});
"""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the browser tests when Chromium is absent, unless MNV_REQUIRE_BROWSER=1 demands it."""
    if CHROMIUM.exists():
        return
    e2e_items = [item for item in items if Path(str(item.path)).is_relative_to(Path(__file__).parent)]
    if not e2e_items:
        return
    if os.environ.get("MNV_REQUIRE_BROWSER") == "1":
        raise pytest.UsageError(
            f"MNV_REQUIRE_BROWSER=1 but {CHROMIUM} is missing: apt-get install chromium (browser tests cannot run)"
        )
    skip = pytest.mark.skip(reason=f"{CHROMIUM} not installed; set MNV_REQUIRE_BROWSER=1 to fail instead")
    for item in e2e_items:
        item.add_marker(skip)


def _run_in_fresh_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a worker thread: once sync Playwright has started, this thread counts as inside a loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass
class LiveServer:
    """The running app: where it answers, its settings, and a way to seed its database from a sync test."""

    base_url: str
    settings: Settings

    def url(self, path: str) -> str:
        """An absolute URL on the server for ``path``."""
        return self.base_url + path

    def run_async(self, coro_factory: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``coro_factory(session)`` on the server's main database in a fresh event loop; commit; return."""

        async def runner() -> T:
            engine = make_engine(self.settings.effective_database_url, pool_size=2)
            try:
                maker = async_sessionmaker(engine, expire_on_commit=False)
                async with maker() as session:
                    result = await coro_factory(session)
                    await session.commit()
                    return result
            finally:
                await engine.dispose()

        return _run_in_fresh_loop(runner())


@dataclass
class _Databases:
    main_url: str
    keystore_url: str
    postgres_names: tuple[str, str] | None = None
    admin_url: str = ""
    owner_url: str = ""  # PostgreSQL: the main database as the tables' owner (migrations)


def _create_databases(data_dir: Path) -> _Databases:
    if BACKEND != "postgres":
        return _Databases(
            f"sqlite+aiosqlite:///{data_dir / 'mnvault.db'}", f"sqlite+aiosqlite:///{data_dir / 'keystore.db'}"
        )
    admin_url = os.environ.get("MNV_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    if not _run_in_fresh_loop(databases.postgres_reachable(admin_url)):
        if os.environ.get("MNV_REQUIRE_POSTGRES") == "1":
            pytest.exit(f"PostgreSQL is required but unreachable at {admin_url}", returncode=3)
        pytest.skip("PostgreSQL unreachable; set MNV_REQUIRE_POSTGRES=1 to fail instead")
    names = _run_in_fresh_loop(databases.create_postgres_databases(admin_url))
    _run_in_fresh_loop(databases.ensure_application_role(admin_url))
    owner_url, keystore_url = (databases.with_database(admin_url, n) for n in names)
    # The app connects as the application role (row-level security applies), as in production.
    return _Databases(databases.as_application_role(owner_url), keystore_url, names, admin_url, owner_url)


def _wait_until_healthy(base_url: str, server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the e2e server thread exited during start-up (see the log above)")
        if server.started:
            try:
                with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.05)
    raise RuntimeError(f"the e2e server did not answer {base_url}/healthz within {STARTUP_SECONDS:.0f} s")


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app on fresh, migrated databases, served by uvicorn in a background thread on 127.0.0.1."""
    from app.main import create_app

    data_dir = tmp_path_factory.mktemp("e2e") / "var"
    data_dir.mkdir()
    dbs = _create_databases(data_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    try:
        databases.migrate(dbs.main_url, dbs.keystore_url, owner_url=dbs.owner_url)
        # Bound before the app is built, so base_url is known and no other process can take the port meanwhile.
        sock.bind(("127.0.0.1", 0))
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings = load_settings(
            {},
            data_dir=str(data_dir),
            database_url=dbs.main_url,
            migration_database_url=dbs.owner_url,
            keystore_url=dbs.keystore_url,
            master_key=TEST_MASTER_KEY,
            base_url=base_url,
            argon2_time_cost=1,
            argon2_memory_kib=64,
            argon2_parallelism=1,
            api_rate_per_minute=1_000_000,  # schemathesis makes some 1,600 calls a minute; the limit has its own test
            log_format="json",
            log_level="WARNING",
        )
        config = uvicorn.Config(
            create_app(settings),
            loop="asyncio",
            lifespan="on",
            log_level="warning",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="e2e-uvicorn", daemon=True)
        thread.start()
        _wait_until_healthy(base_url, server, thread)
        yield LiveServer(base_url=base_url, settings=settings)
    finally:
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=15)
        sock.close()
        if dbs.postgres_names is not None:
            _run_in_fresh_loop(databases.drop_postgres_databases(dbs.admin_url, dbs.postgres_names))


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, launched once for the e2e package (never a downloaded browser build)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class BrowserProblems:
    """Console errors, uncaught exceptions and CSP violations seen by one page."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


_PROBLEMS: dict[int, BrowserProblems] = {}  # keyed by id(page), for the page fixtures and the helpers below


def allow_console_error(page: Page, pattern: str) -> None:
    """Tolerate console errors matching ``pattern`` on ``page`` (e.g. the 404 of a page that is meant to be missing)."""
    _PROBLEMS[id(page)].allowed.append(re.compile(pattern))


def browser_problems(page: Page) -> list[str]:
    """The unexpected console errors, page errors and CSP violations recorded so far on ``page``."""
    return _PROBLEMS[id(page)].unexpected()


def _open_page(browser: Browser, live_server: LiveServer, **context_options: Any) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.base_url, locale="ja-JP", **context_options)
    context.set_default_timeout(10_000)
    context.add_init_script(_CSP_REPORTER)
    page = context.new_page()
    problems = BrowserProblems()
    _PROBLEMS[id(page)] = problems

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location or {}
            problems.errors.append(f"console: {message.text} ({location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.errors.append(f"page error: {error}"))
    try:
        yield page
    finally:
        unexpected = problems.unexpected()
        del _PROBLEMS[id(page)]
        context.close()
        if unexpected:
            pytest.fail("the browser reported errors:\n" + "\n".join(unexpected), pytrace=False)


@pytest.fixture
def phone_page(live_server: LiveServer, browser: Browser) -> Iterator[Page]:
    """A fresh page on a 360×740 touch phone (Japanese locale); relative URLs go to the live server."""
    yield from _open_page(
        browser,
        live_server,
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )


@pytest.fixture
def desktop_page(live_server: LiveServer, browser: Browser) -> Iterator[Page]:
    """A fresh page on a 1280×800 desktop (Japanese locale); relative URLs go to the live server."""
    yield from _open_page(browser, live_server, viewport={"width": 1280, "height": 800})


def assert_no_horizontal_overflow(page: Page) -> None:
    """Fail when the page is wider than the viewport (a sideways scroll bar on a phone)."""
    scroll_width, inner_width = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"page is {scroll_width}px wide in a {inner_width}px viewport"


def save_screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG as test-artifacts/<name>.png (to look at, not to compare)."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    path = ARTIFACTS_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
