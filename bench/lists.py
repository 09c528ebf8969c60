"""List pages at tenant sizes: the masked list, the employee list and the payee list, read through their services.

Run: ``.venv/bin/python -m bench.lists [--people 1000 100000] [--repeat 7] [--plans]``. For each size, fills one
tenant (beside a small other tenant) with that many employees, 1.5 dependants each on average and 1 % payees,
through core inserts with the placement columns and counters the bulk path writes, refreshes the planner's
statistics, then times each page (median of ``--repeat`` reads, in ms) on SQLite and, when reachable at
``MNV_TEST_POSTGRES_URL``, on PostgreSQL (own databases, dropped after). ``--plans`` prints the query plan of every
statement a page runs. The last line compares the largest size with the smallest: ``RESULT lists_growth=…``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import os
import random
import secrets
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.models import Role
from app.auth.principal import Principal
from app.bootstrap import migrate_all
from app.config import Settings, load_settings
from app.db import make_engine, new_id, refresh_statistics, utcnow
from app.tenancy import Tenant, TenantKind
from app.text import person_search_key, search_key
from app.vault import Vault
from bench.vault import DEFAULT_POSTGRES, drop_databases, postgres_databases
from tenants.listing import CountDeltas, apply_count_deltas, count_key, placement
from tenants.models import CollectionStatus, Department, Person, PersonKind
from tenants.services import EmployeeFilter, NumberFilters, list_numbers, list_payees, search_employees

SURNAMES = [
    ("山田", "ヤマダ"), ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
    ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"),
    ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山口", "ヤマグチ"), ("松本", "マツモト"), ("井上", "イノウエ"),
    ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"), ("山崎", "ヤマザキ"),
    ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"), ("石川", "イシカワ"),
    ("山下", "ヤマシタ"), ("中島", "ナカジマ"), ("石井", "イシイ"), ("小川", "オガワ"), ("前田", "マエダ"),
    ("岡田", "オカダ"), ("長谷川", "ハセガワ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"), ("近藤", "コンドウ"),
    ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト"), ("河合", "カワイ"),
]  # fmt: skip
GIVEN = [
    ("太郎", "タロウ"), ("花子", "ハナコ"), ("一郎", "イチロウ"), ("健太", "ケンタ"), ("美咲", "ミサキ"),
    ("翔太", "ショウタ"), ("陽子", "ヨウコ"), ("大輔", "ダイスケ"), ("由美", "ユミ"), ("直樹", "ナオキ"),
    ("康則", "ヤスノリ"), ("真奈美", "マナミ"), ("順子", "ジュンコ"), ("拓也", "タクヤ"), ("優子", "ユウコ"),
    ("誠", "マコト"), ("恵", "メグミ"), ("亮", "リョウ"), ("彩", "アヤ"), ("隆", "タカシ"),
]  # fmt: skip
STATUSES = [
    (CollectionStatus.NOT_REGISTERED, 70),
    (CollectionStatus.REGISTERED, 10),
    (CollectionStatus.PROXY_REGISTERED, 6),
    (CollectionStatus.SELF_CONFIRMED, 5),
    (CollectionStatus.ADMIN_CONFIRMED, 6),
    (CollectionStatus.DECLINED, 3),
]
DEPARTMENTS = 50
CHUNK = 5000


def _principal(tenant_id: uuid.UUID) -> Principal:
    return Principal(
        account_id=uuid.uuid4(),
        tenant_id=tenant_id,
        tenant_code="bench",
        tenant_name="ベンチ",
        tenant_kind=TenantKind.COMPANY,
        login_id="bench",
        name="ベンチ",
        role=Role.ADMIN,
        totp_enabled=True,
        person_id=None,
        stepup_fresh=False,
    )


def _person(
    rng: random.Random,
    tenant_id: uuid.UUID,
    kind: PersonKind,
    *,
    code: str | None = None,
    department: Department | None = None,
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    surname, surname_kana = owner["_surname"] if owner else rng.choice(SURNAMES)
    given, given_kana = rng.choice(GIVEN)
    name, kana = f"{surname}　{given}", f"{surname_kana} {given_kana}"
    if kind is PersonKind.PAYEE:
        name, kana = f"講師 {name}", kana
    status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
    registered_at = utcnow() - dt.timedelta(minutes=rng.randrange(500_000)) if status.has_number else None
    person_id = new_id()
    now = utcnow()
    row: dict[str, Any] = {
        "tenant_id": tenant_id,
        "id": person_id,
        "kind": kind,
        "employee_code": code,
        "name": name,
        "kana": kana,
        "search_key": person_search_key(name, kana),
        "kana_key": search_key(kana),
        "department_id": department.id if department else None,
        "employee_id": owner["id"] if owner else None,
        "status": status,
        "registered_at": registered_at,
        "retirement_date": dt.date(2020, 3, 31) if kind is PersonKind.EMPLOYEE and rng.random() < 0.05 else None,
        "created_at": now,
        "updated_at": now,
        **placement(
            person_id=person_id,
            kind=kind,
            employee_code=code,
            department_id=department.id if department else None,
            registered=registered_at is not None,
            owner_id=owner["id"] if owner else None,
            owner_code=owner["employee_code"] if owner else None,
            owner_department_id=owner["department_id"] if owner else None,
            department_code=(department.code if department else None),
        ),
    }
    row["_surname"] = (surname, surname_kana)
    return row


async def fill(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, employees: int, seed: int) -> None:
    """The tenant's departments and people (core inserts), their counters, and fresh planner statistics."""
    rng = random.Random(seed)
    async with sessions() as session:
        departments = [
            Department(tenant_id=tenant_id, code=f"D{n:03d}", name=f"部門{n:03d}") for n in range(DEPARTMENTS)
        ]
        session.add_all(departments)
        await session.commit()
        deltas: CountDeltas = Counter()
        batch: list[dict[str, Any]] = []

        async def flush() -> None:
            for row in batch:
                row.pop("_surname", None)
                deltas[count_key(tenant_id, row["list_department_id"], row["kind"], row["status"])] += 1
            await session.execute(insert(Person), batch)
            batch.clear()

        for n in range(employees):
            department = departments[n % DEPARTMENTS] if n % 97 else None
            employee = _person(rng, tenant_id, PersonKind.EMPLOYEE, code=f"E{n:07d}", department=department)
            batch.append(employee)
            for _ in range(2 if n % 2 == 0 else 1):
                batch.append(_person(rng, tenant_id, PersonKind.DEPENDANT, owner=employee))
            if n % 100 == 0:
                batch.append(_person(rng, tenant_id, PersonKind.PAYEE))
            if len(batch) >= CHUNK:
                await flush()
        await flush()
        await apply_count_deltas(session, deltas)
        await session.commit()
        await refresh_statistics(session, ["people", "people_counts", "departments"])
        await session.commit()


class Statements:
    """The statements an engine runs while active (to print their plans)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.seen: list[tuple[str, Any]] = []
        self.active = False
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if self.active and not statement.upper().startswith("EXPLAIN"):
            self.seen.append((statement, parameters))


async def plans(session: AsyncSession, statements: list[tuple[str, Any]]) -> list[str]:
    """The plan lines of each statement on people (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN)."""
    lines = []
    postgres = session.get_bind().dialect.name == "postgresql"
    connection = await session.connection()
    for statement, parameters in statements:
        if "people" not in statement:
            continue
        prefix = "EXPLAIN (COSTS OFF) " if postgres else "EXPLAIN QUERY PLAN "
        result = await connection.exec_driver_sql(prefix + statement, parameters)
        rows = result.all()
        lines.append("    " + " ".join(statement.split())[:160])
        lines += ["      " + str(row[-1] if not postgres else row[0])[:220] for row in rows]
    return lines


Page = Callable[[AsyncSession], Awaitable[object]]


def scenarios(vault: Vault, principal: Principal, deep: dict[str, str]) -> dict[str, Page]:
    def numbers(**params: Any) -> Page:
        return lambda s: list_numbers(s, vault, principal, NumberFilters.parse(params))

    def employees(**params: Any) -> Page:
        return lambda s: search_employees(s, principal, EmployeeFilter(**params))

    def payees(**params: Any) -> Page:
        return lambda s: list_payees(s, vault, principal, **params)

    return {
        "numbers default": numbers(),
        "numbers page 5": numbers(page="5"),
        "numbers deep (cursor)": numbers(after=deep["numbers"], page="200"),
        "numbers department desc": numbers(order="desc"),
        "numbers code": numbers(sort="code"),
        "numbers registered desc": numbers(sort="registered", order="desc"),
        "numbers dept filter": numbers(department=deep["department"]),
        "numbers kind=dependant": numbers(kind="dependant"),
        "numbers status=not_registered": numbers(status="not_registered"),
        "numbers status=declined": numbers(status="declined"),
        "numbers status=unconfirmed": numbers(status="unconfirmed"),
        "numbers name 2 chars (山田)": numbers(name="山田"),
        "numbers name 3 chars (ヤマダ)": numbers(name="やまだ"),
        "numbers name 5 chars (山田太郎)": numbers(name="山田 太郎"),
        "numbers code filter": numbers(code="E0000500"),
        "employees active": employees(),
        "employees all": employees(employment="all"),
        "employees retired": employees(employment="retired"),
        "employees department": employees(department_id=deep["department"]),
        "employees name 3 chars": employees(name="タナカ"),
        "employees deep (cursor)": employees(after=deep["employees"], page=100),
        "payees": payees(),
        "payees name": payees(query="講師"),
    }


async def measure(settings: Settings, people: list[int], repeat: int, show_plans: bool) -> dict[int, dict[str, float]]:
    await asyncio.to_thread(migrate_all, settings)
    engine = make_engine(settings.effective_database_url, pool_size=2)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    vault = Vault.from_settings(settings)
    recorder = Statements(engine)
    figures: dict[int, dict[str, float]] = {}
    try:
        async with sessions() as session:
            other = Tenant(code="other", name="他社")
            session.add(other)
            await session.commit()
        await fill(sessions, other.id, 500, seed=1)
        for size in people:
            async with sessions() as session:
                tenant = Tenant(code=f"t{size}", name=f"{size}人の会社")
                session.add(tenant)
                await session.commit()
            started = time.perf_counter()
            await fill(sessions, tenant.id, size, seed=size)
            print(f"  filled {size:,} employees (+ dependants, payees) in {time.perf_counter() - started:.1f} s")
            principal = _principal(tenant.id)
            deep = await _deep_cursors(sessions, vault, principal)
            figures[size] = {}
            for label, page in scenarios(vault, principal, deep).items():
                times = []
                for _ in range(repeat):
                    async with sessions() as session:
                        begin = time.perf_counter()
                        await page(session)
                        times.append((time.perf_counter() - begin) * 1000)
                figures[size][label] = statistics.median(times)
                print(f"  {size:>7,}  {label:<34} {figures[size][label]:8.1f} ms", flush=True)
                if show_plans:
                    async with sessions() as session:
                        recorder.seen.clear()
                        recorder.active = True
                        await page(session)
                        recorder.active = False
                        print("\n".join(await plans(session, list(recorder.seen))))
    finally:
        await vault.close()
        await engine.dispose()
    return figures


async def _deep_cursors(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, principal: Principal
) -> dict[str, str]:
    """A cursor deep in each list (walked with 次へ), and a department id."""
    async with sessions() as session:
        page = await list_numbers(session, vault, principal, NumberFilters(page=5))
        for _ in range(3):
            page = await list_numbers(
                session, vault, principal, NumberFilters(after=page.window.last_cursor, page=page.window.page + 1)
            )
        employees = await search_employees(session, principal, EmployeeFilter(page=5))
        department = page.rows[0].department if page.rows else None
        return {
            "numbers": page.window.last_cursor,
            "employees": employees.last_cursor,
            "department": str(department.id) if department else "",
        }


def _summary(name: str, figures: dict[int, dict[str, float]]) -> None:
    sizes = sorted(figures)
    if len(sizes) < 2:
        return
    small, large = figures[sizes[0]], figures[sizes[-1]]
    worst = max(small, key=lambda label: large[label] / max(small[label], 0.01))
    print(
        f"RESULT {name} lists_growth_default={large['numbers default'] / small['numbers default']:.2f} "
        f"list_ms_{sizes[-1]}={large['numbers default']:.1f} worst={worst!r}:{large[worst] / small[worst]:.2f}"
    )


async def main(people: list[int], repeat: int, show_plans: bool) -> None:
    print(f"List pages: {os.cpu_count()} cores; sizes {people} employees; median of {repeat} reads")
    with tempfile.TemporaryDirectory(prefix="mnv-bench-lists-") as directory:
        settings = load_settings(
            {}, data_dir=directory, master_key=base64.b64encode(secrets.token_bytes(32)).decode(), log_level="WARNING"
        )
        print("SQLite")
        sqlite_figures = await measure(settings, people, repeat, show_plans)
    admin_url = os.environ.get("MNV_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    names = await postgres_databases(admin_url)
    postgres_figures: dict[int, dict[str, float]] = {}
    if names is None:
        print("PostgreSQL: not reachable, skipped")
    else:
        settings = load_settings(
            {},
            data_dir=tempfile.gettempdir(),
            database_url=make_url(admin_url).set(database=names[0]).render_as_string(hide_password=False),
            keystore_url=make_url(admin_url).set(database=names[1]).render_as_string(hide_password=False),
            master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
            log_level="WARNING",
        )
        try:
            print("PostgreSQL")
            postgres_figures = await measure(settings, people, repeat, show_plans)
        finally:
            await drop_databases(admin_url, names)
    _summary("sqlite", sqlite_figures)
    _summary("postgresql", postgres_figures)


def run() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", default=[1000, 100_000], help="employees per tenant")
    parser.add_argument("--repeat", type=int, default=7, help="reads per page (median)")
    parser.add_argument("--plans", action="store_true", help="print the plan of every statement")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.people, arguments.repeat, arguments.plans))


if __name__ == "__main__":
    run()
