"""The JSON API fuzzed by schemathesis from its own OpenAPI description, as an outside client would call it: every
check (server errors, status codes, content types, headers and bodies against the schema, negative data refused,
ignored authentication, ...), at least 200 cases per operation with a fixed seed, against the live server with a
real token of a tenant that has departments, employees with and without numbers, dependants and a payee."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.vault import Vault
from tenants.services._records import Channel, register_number
from tests.e2e.conftest import LiveServer
from tests.e2e.seed import ADMIN, fresh_numbers, seed, unique_code
from tests.support.api import make_token
from tests.support.people import make_department, make_dependant, make_employee, make_payee
from tests.support.world import make_tenant

CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = 200
SEED = 20261201


def seed_api_tenant(live_server: LiveServer) -> str:
    """A company with people in several states and a token with every scope; returns the token's text."""

    async def work(session: AsyncSession, vault: Vault, settings: Settings) -> str:
        tenant = await make_tenant(session, vault, unique_code("e2e-api"), "イーツーイーAPI株式会社")
        department = await make_department(session, tenant.id, "101", "総務課")
        numbers = iter(fresh_numbers(3))
        for code, name in (("001", "佐藤 一郎"), ("002", "鈴木 次郎"), ("003", "髙橋 𠮷子")):
            employee = await make_employee(session, tenant.id, code, name, department=department)
            if code != "003":
                await register_number(
                    session, vault, actor=ADMIN, person=employee, number=next(numbers), channel=Channel.PROXY
                )
        await make_dependant(session, employee, "髙橋 一郎")
        await make_payee(session, tenant.id, "山田 税理士")
        await session.commit()
        return await make_token(session, vault, tenant, name="schemathesis")

    return seed(live_server, work)


def test_the_api_holds_against_schemathesis(live_server: LiveServer, tmp_path: Path) -> None:
    token = seed_api_tenant(live_server)
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{live_server.base_url}/schema/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "HOME": str(tmp_path)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path, check=False)
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert token not in result.stdout + result.stderr  # schemathesis filters the Authorization header it prints
