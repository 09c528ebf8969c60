"""Two app processes (`mnvault serve`, separate ports) on one PostgreSQL database, as a deployment behind a load
balancer runs them: a session made on one is valid on the other and signing out on one ends it on both, the sign-in
rate limit counts across both, and the audit chain stays valid under concurrent writes from both. With Redis on
127.0.0.1 the same runs with the Redis stores (``MNV_STORE=redis``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from tests.conftest import BACKEND
from tests.support.api import make_token
from tests.support.audit import entries
from tests.support.world import World

PROJECT = Path(__file__).resolve().parent.parent
RATE_PER_MINUTE = 8
REDIS_URL = "redis://127.0.0.1:6379/15"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_reachable() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 6379), timeout=1):
        return True
    return False


@contextlib.contextmanager
def two_servers(settings: Settings, tmp_path: Path, store: str) -> Iterator[tuple[str, str]]:
    """Two `mnvault serve` processes on the test's databases; yields their base URLs."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MNV_")}
    env.update(
        {
            "MNV_DATA_DIR": str(tmp_path),
            "MNV_DATABASE_URL": settings.effective_database_url,
            "MNV_KEYSTORE_URL": settings.effective_keystore_url,
            "MNV_MASTER_KEY": settings.master_key,
            "MNV_ARGON2_TIME_COST": "1",
            "MNV_ARGON2_MEMORY_KIB": "64",
            "MNV_ARGON2_PARALLELISM": "1",
            "MNV_SIGNIN_RATE_PER_MINUTE": str(RATE_PER_MINUTE),
            "MNV_STORE": store,
            "MNV_LOG_LEVEL": "WARNING",
        }
    )
    if store == "redis":
        env["MNV_REDIS_URL"] = REDIS_URL
    ports = [_free_port(), _free_port()]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**env, "MNV_BASE_URL": f"http://127.0.0.1:{port}"},
            cwd=PROJECT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, process in zip(urls, processes, strict=True):
            _wait_until_up(url, process)
        yield urls[0], urls[1]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
            if process.poll() is None:
                process.kill()


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode() if process.stderr else ''}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _csrf(client: httpx.Client, base: str) -> str:
    page = client.get(f"{base}/login")
    match = re.search(r'name="_csrf_token"[^>]*value="([^"]+)"', page.text)
    return match.group(1) if match else str(client.cookies.get("mnv_csrf") or "")


def _sign_in(client: httpx.Client, base: str, world: World) -> None:
    persona = world.admin
    form = {"tenant_code": persona.tenant.code, "login_id": persona.account.login_id, "password": persona.password}
    first = client.post(f"{base}/login", data={**form, "_csrf_token": _csrf(client, base)})
    assert first.status_code in (302, 303), first.text[:500]
    if persona.totp_secret:
        second = client.post(
            f"{base}/login/totp", data={"code": persona.next_code(), "_csrf_token": _csrf(client, base)}
        )
        assert second.status_code in (302, 303), second.text[:500]


def _signed_in(client: httpx.Client, base: str) -> bool:
    return client.get(f"{base}/admin").status_code == 200


def _verify_chains(settings: Settings, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MNV_")}
    env.update(
        {
            "MNV_DATA_DIR": str(tmp_path),
            "MNV_DATABASE_URL": settings.effective_database_url,
            "MNV_KEYSTORE_URL": settings.effective_keystore_url,
            "MNV_MASTER_KEY": settings.master_key,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "audit", "verify"],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


PAYEES_PER_PROCESS = 12


def _scenario(one: str, two: str, world: World, token: str) -> list[int]:
    """Sessions and the rate limit across the processes, then concurrent writes through both; returns the statuses
    of the writes."""
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        _sign_in(browser, one, world)
        assert _signed_in(browser, one) and _signed_in(browser, two)  # the session is the store's, not a process's
        out = browser.post(f"{two}/logout", data={"_csrf_token": _csrf(browser, two)})
        assert out.status_code in (302, 303)
        assert not _signed_in(browser, one) and not _signed_in(browser, two)

    # Wrong passwords from one client address, alternating between the processes: one shared count.
    codes = []
    with httpx.Client(follow_redirects=False, timeout=30) as attacker:
        for attempt in range(RATE_PER_MINUTE + 2):
            base = (one, two)[attempt % 2]
            form = {"tenant_code": world.tenant.code, "login_id": "nobody", "password": "wrong password"}
            answer = attacker.post(f"{base}/login", data={**form, "_csrf_token": _csrf(attacker, base)})
            codes.append(answer.status_code)
    assert 429 in codes, codes
    assert codes.index(429) <= RATE_PER_MINUTE, codes  # not twice the limit (one count per process)

    # Both processes append to the tenant's chain at once: payees added through the API, in parallel.
    def add_payee(n: int) -> int:
        base = (one, two)[n % 2]
        body = {"kind": "payee", "payee_type": "individual", "name": f"並行 取引先{n:03d}"}
        headers = {"authorization": f"Bearer {token}"}
        return httpx.post(f"{base}/api/v1/people", json=body, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(add_payee, range(2 * PAYEES_PER_PROCESS)))


@pytest.mark.parametrize("store", ["database", "redis"])
async def test_two_processes_share_sessions_the_rate_limit_and_one_valid_chain(
    app: Litestar, world: World, db: AsyncSession, settings: Settings, tmp_path: Path, store: str
) -> None:
    if BACKEND != "postgres":
        pytest.skip("several processes on one database: PostgreSQL (SQLite is one process's file)")
    if store == "redis" and not _redis_reachable():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    if store == "redis":
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    token = await make_token(db, app.state["vault"], world.tenant, scopes=["people:read", "people:write"])

    def run() -> list[int]:
        with two_servers(settings, tmp_path, store) as (one, two):
            return _scenario(one, two, world, token)

    statuses = await asyncio.to_thread(run)
    assert statuses == [201] * (2 * PAYEES_PER_PROCESS), statuses
    added = [e for e in await entries(db, world.tenant.id) if "並行 取引先" in (e.subject_name or "")]
    assert len(added) == 2 * PAYEES_PER_PROCESS  # one entry per operation, none lost, none doubled
    verified = await asyncio.to_thread(_verify_chains, settings, tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"OK  {world.tenant.code}" in verified.stdout
