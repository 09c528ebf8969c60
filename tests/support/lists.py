"""For list tests: a principal for a persona, a tenant filled quickly, and the plans of the statements a page runs."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.db import new_id, refresh_statistics, utcnow
from app.text import person_search_key, search_key
from tenants.listing import CountDeltas, apply_count_deltas, count_key, placement
from tenants.models import CollectionStatus, Department, Person, PersonKind
from tests.support.world import Persona

SURNAMES = [
    ("山田", "やまだ"), ("佐藤", "さとう"), ("鈴木", "すずき"), ("高橋", "たかはし"), ("田中", "たなか"),
    ("伊藤", "いとう"), ("渡辺", "わたなべ"), ("中村", "なかむら"), ("小林", "こばやし"), ("加藤", "かとう"),
    ("吉田", "よしだ"), ("山口", "やまぐち"), ("松本", "まつもと"), ("井上", "いのうえ"), ("木村", "きむら"),
    ("清水", "しみず"), ("森", "もり"), ("池田", "いけだ"), ("橋本", "はしもと"), ("石川", "いしかわ"),
]  # fmt: skip
GIVEN = [("太郎", "たろう"), ("花子", "はなこ"), ("一郎", "いちろう"), ("美咲", "みさき"), ("健太", "けんた")]


def principal_for(persona: Persona) -> Principal:
    """The principal a signed-in persona acts as (for calling services directly)."""
    return Principal(
        account_id=persona.account.id,
        tenant_id=persona.tenant.id,
        tenant_code=persona.tenant.code,
        tenant_name=persona.tenant.name,
        tenant_kind=persona.tenant.kind,
        login_id=persona.account.login_id,
        name=persona.account.name,
        role=persona.account.role,
        totp_enabled=persona.totp_secret is not None,
        person_id=persona.account.person_id,
        stepup_fresh=False,
    )


async def fill_tenant(db: AsyncSession, tenant_id: uuid.UUID, employees: int, *, seed: int = 0) -> list[Department]:
    """Departments and ``employees`` employees with 1–2 dependants each and a payee every 20, inserted in bulk with
    their placement columns and counters (as a bulk path must), then the planner's statistics refreshed."""
    rng = random.Random(seed)
    departments = [Department(tenant_id=tenant_id, code=f"D{n:02d}", name=f"部門{n:02d}") for n in range(20)]
    db.add_all(departments)
    await db.flush()
    rows: list[dict[str, Any]] = []
    deltas: CountDeltas = Counter()

    def add(kind: PersonKind, code: str | None, department: Department | None, owner: dict[str, Any] | None) -> dict:
        surname, given = rng.choice(SURNAMES), rng.choice(GIVEN)
        name, kana = f"{surname[0]} {given[0]}", f"{surname[1]} {given[1]}"
        status = rng.choice([CollectionStatus.NOT_REGISTERED, CollectionStatus.REGISTERED, CollectionStatus.DECLINED])
        registered_at = utcnow() - dt.timedelta(hours=rng.randrange(10_000)) if status.has_number else None
        person_id = new_id()
        row = {
            "tenant_id": tenant_id,
            "id": person_id,
            "kind": kind,
            "employee_code": code,
            "name": name,
            "kana": kana,
            "search_key": person_search_key(name, kana),
            "kana_key": search_key(kana),
            "department_id": department.id if department and kind is PersonKind.EMPLOYEE else None,
            "employee_id": owner["id"] if owner else None,
            "status": status,
            "registered_at": registered_at,
            **placement(
                person_id=person_id,
                kind=kind,
                employee_code=code,
                department_id=department.id if department else None,
                registered=registered_at is not None,
                owner_id=owner["id"] if owner else None,
                owner_code=owner["employee_code"] if owner else None,
                owner_department_id=owner["department_id"] if owner else None,
                department_code=department.code if department else None,
            ),
        }
        rows.append(row)
        deltas[count_key(tenant_id, row["list_department_id"], kind, status)] += 1
        return row

    for n in range(employees):
        department = departments[n % len(departments)] if n % 13 else None
        employee = add(PersonKind.EMPLOYEE, f"E{n:06d}", department, None)
        for _ in range(1 + n % 2):
            add(PersonKind.DEPENDANT, None, department, employee)
        if n % 20 == 0:
            add(PersonKind.PAYEE, None, None, None)
    for start in range(0, len(rows), 2000):
        await db.execute(insert(Person), rows[start : start + 2000])
    await apply_count_deltas(db, deltas)
    await db.commit()
    await refresh_statistics(db, ["people", "people_counts", "departments"])
    await db.commit()
    return departments


@dataclass
class Recorded:
    statements: list[tuple[str, Any]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def recorded(db: AsyncSession) -> AsyncIterator[Recorded]:
    """Record the statements run on ``db``'s engine inside the block."""
    found = Recorded()
    engine = db.get_bind()

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        found.statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def plans(db: AsyncSession, statements: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """``(statement, plan text)`` of each recorded SELECT (with or without a leading CTE) that reads ``people``
    (EXPLAIN QUERY PLAN / EXPLAIN)."""
    postgres = db.get_bind().dialect.name == "postgresql"
    connection = await db.connection()
    found = []
    for statement, parameters in statements:
        if not statement.lstrip().upper().startswith(("SELECT", "WITH")) or "people" not in statement:
            continue
        prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
        rows = (await connection.exec_driver_sql(prefix + statement, parameters)).all()
        found.append((statement, "\n".join(str(row[0] if postgres else row[-1]) for row in rows)))
    return found


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    """Lists treat more than 7 matching rows as "many" (their dense path), so small tenants exercise it."""
    import app.paging
    import tenants.services._numbers_list
    import tenants.services._search

    for module in (app.paging, tenants.services._numbers_list, tenants.services._search):
        monkeypatch.setattr(module, "COUNT_CAP", 7)
    return 7
