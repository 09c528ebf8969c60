"""Migration 0032 copies an employee's 削除予定日 onto the dependants that go by it (marked inherited), keeps a
dependant's own date and its own 予定解除, on both databases, and goes back down."""

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

EMPLOYEE_DUE = dt.date(2020, 4, 1)
# name: (kind, employee, status, retirement_date, deletion_due_on, note, proposed)
PEOPLE: dict[str, tuple[str, str | None, str, dt.date | None, dt.date | None, str, bool]] = {
    "employee": ("employee", None, "登録済", dt.date(2010, 3, 31), EMPLOYEE_DUE, "延長", False),
    "blank": ("dependant", "employee", "登録済", None, None, "", False),
    "copied": ("dependant", "employee", "登録済", None, dt.date(2018, 1, 1), "", True),
    "cancelled": ("dependant", "employee", "登録済", None, None, "保管の依頼", False),
    "own": ("dependant", "employee", "登録済", None, dt.date(2040, 1, 1), "別途保管", False),
    "left": ("dependant", "employee", "登録済", dt.date(2015, 3, 31), dt.date(2023, 1, 1), "", True),
    "erased": ("dependant", "employee", "削除済", None, None, "", False),
    "employed": ("employee", None, "登録済", None, None, "", False),
    "with_employed": ("dependant", "employed", "登録済", None, None, "", False),
}
AFTER = {
    "employee": (EMPLOYEE_DUE, False),
    "blank": (EMPLOYEE_DUE, True),
    "copied": (EMPLOYEE_DUE, True),
    "cancelled": (None, False),
    "own": (dt.date(2040, 1, 1), False),
    "left": (dt.date(2023, 1, 1), False),
    "erased": (None, False),
    "employed": (None, False),
    "with_employed": (None, False),
}


async def _arrange(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    tenant_id = uuid.uuid4()
    ids = {name: uuid.uuid4() for name in PEOPLE}
    async with engine.begin() as connection:
        hexed = connection.dialect.name == "sqlite"

        def key(value: uuid.UUID | None) -> object:
            return value.hex if hexed and value is not None else value

        now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
        stamp = now.strftime("%Y-%m-%d %H:%M:%S") if hexed else now
        await connection.execute(
            text(
                "INSERT INTO tenants (id, code, kind, name, name_kana, postal_code, address, representative, phone,"
                " is_member, status, admin_seats, require_totp_for_employees, created_at, updated_at) VALUES"
                " (:id, 'm32', 'company', 'm', '', '', '', '', '', false, 'active', 2, false, :now, :now)"
            ),
            {"id": key(tenant_id), "now": stamp},
        )
        for name, (kind, owner, status, retired, due, note, proposed) in PEOPLE.items():
            await connection.execute(
                text(
                    "INSERT INTO people (tenant_id, id, kind, employee_code, name, kana, search_key, status, address,"
                    " payment_kind, email, admin_confirmed_by, decline_reason, created_at, updated_at, employee_id,"
                    " retirement_date, deletion_due_on, deletion_due_note, deletion_due_proposed) VALUES"
                    " (:t, :id, :kind, :code, :name, '', '', :status, '', '', '', '', '', :now, :now, :owner,"
                    " :retired, :due, :note, :proposed)"
                ),
                {
                    "t": key(tenant_id),
                    "id": key(ids[name]),
                    "kind": kind,
                    "code": name if kind == "employee" else None,
                    "name": name,
                    "status": status,
                    "now": stamp,
                    "owner": key(ids[owner]) if owner else None,
                    "retired": retired,
                    "due": due,
                    "note": note,
                    "proposed": proposed,
                },
            )
    await engine.dispose()


async def _dates(url: str) -> dict[str, tuple[dt.date | None, bool]]:
    engine = make_engine(url, pool_size=1)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(text("SELECT name, deletion_due_on, deletion_due_inherited FROM people"))
        ).all()
    await engine.dispose()
    return {
        name: (dt.date.fromisoformat(due) if isinstance(due, str) else due, bool(inherited))
        for name, due, inherited in rows
    }


def test_0032_copies_the_employees_date_onto_the_dependants_going_by_it(tmp_path: Path) -> None:
    admin = os.environ.get("MNV_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    names: tuple[str, ...] = ()
    if BACKEND == "postgres":
        names = asyncio.run(databases.create_postgres_databases(admin))
        url = databases.with_database(admin, names[0])
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'm32.db'}"
    try:
        upgrade(url, "0031")
        asyncio.run(_arrange(url))
        upgrade(url, "0032")
        assert asyncio.run(_dates(url)) == AFTER
        downgrade(url, "0031")
        upgrade(url, "head")
        assert asyncio.run(_dates(url)) == AFTER
    finally:
        if names:
            asyncio.run(databases.drop_postgres_databases(admin, names))
