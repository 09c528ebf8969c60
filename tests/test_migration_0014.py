"""Migration 0014 fills people.account_state from the accounts already there, on both databases, and goes back down."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from pathlib import Path

from sqlalchemy import text

from app.db import make_engine
from app.migrate import downgrade, upgrade
from tests.conftest import BACKEND
from tests.support import databases

PEOPLE = {"none": 0, "one_time": 1, "in_use": 2, "ending": 3}


async def _arrange(url: str) -> dict[str, uuid.UUID]:
    engine = make_engine(url, pool_size=1)
    tenant_id = uuid.uuid4()
    ids = {name: uuid.uuid4() for name in PEOPLE}
    async with engine.begin() as connection:
        hexed = connection.dialect.name == "sqlite"

        def key(value: uuid.UUID) -> object:
            return value.hex if hexed else value

        def stamp(day: int) -> object:
            moment = dt.datetime(2026, 11, day, tzinfo=dt.UTC)
            return moment.strftime("%Y-%m-%d %H:%M:%S") if hexed else moment

        await connection.execute(
            text(
                "INSERT INTO tenants (id, code, kind, name, name_kana, postal_code, address, representative, phone,"
                " is_member, status, admin_seats, require_totp_for_employees, created_at, updated_at) VALUES"
                " (:id, 'm14', 'company', 'm', '', '', '', '', '', false, 'active', 2, false, :now, :now)"
            ),
            {"id": key(tenant_id), "now": stamp(30)},
        )
        for name, person_id in ids.items():
            await connection.execute(
                text(
                    "INSERT INTO people (tenant_id, id, kind, employee_code, name, kana, search_key, status, address,"
                    " payment_kind, email, admin_confirmed_by, decline_reason, created_at, updated_at) VALUES"
                    " (:t, :id, 'employee', :code, :name, '', '', '未登録', '', '', '', '', '', :now, :now)"
                ),
                {"t": key(tenant_id), "id": key(person_id), "code": name, "name": name, "now": stamp(30)},
            )
            if name == "none":
                continue
            await connection.execute(
                text(
                    "INSERT INTO accounts (tenant_id, id, login_id, name, email, role, must_change_password,"
                    " failed_attempts, session_epoch, person_id, disabled_at, created_at, updated_at) VALUES"
                    " (:t, :id, :login, :name, '', 'employee', :change, 0, 0, :person, :disabled, :now, :now)"
                ),
                {
                    "t": key(tenant_id),
                    "id": key(uuid.uuid4()),
                    "login": name,
                    "name": name,
                    "change": name == "one_time",
                    "person": key(person_id),
                    "disabled": stamp(1) if name == "ending" else None,
                    "now": stamp(30),
                },
            )
    await engine.dispose()
    return ids


async def _states(url: str) -> dict[str, int]:
    engine = make_engine(url, pool_size=1)
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT name, account_state FROM people"))).all()
    await engine.dispose()
    return {name: state for name, state in rows}


def test_0014_fills_the_account_state_of_existing_employees(tmp_path: Path) -> None:
    admin = os.environ.get("MNV_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    names: tuple[str, ...] = ()
    if BACKEND == "postgres":
        names = asyncio.run(databases.create_postgres_databases(admin))
        url = databases.with_database(admin, names[0])
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'm14.db'}"
    try:
        upgrade(url, "0011")
        asyncio.run(_arrange(url))
        upgrade(url, "0014")
        assert asyncio.run(_states(url)) == PEOPLE
        downgrade(url, "0011")
        upgrade(url, "head")
        assert asyncio.run(_states(url)) == PEOPLE
    finally:
        if names:
            asyncio.run(databases.drop_postgres_databases(admin, names))
