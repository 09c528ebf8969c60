"""The admin home's reads at 1,000, 10,000 and 100,000 employees: counters and bounded index ranges only.

Run: ``.venv/bin/python -m bench.home [--people 1000 10000 100000] [--rounds N]``. For each size it fills a fresh
tenant (employees with 1.5 dependants on average in 20 departments, statuses spread as in a collection campaign,
payees, identity changes, pending corrections, one operation-log entry per person and the operator's first-admin
entry at the start) through the bulk path (``tenants.listing.placement`` + ``apply_count_deltas``), refreshes the
planner statistics, then times what ``/admin`` reads (progress per department, the status chips, 要対応, the
operator's acts), in-process, median of the rounds, on SQLite and (when reachable at ``MNV_TEST_POSTGRES_URL``) on
PostgreSQL. Beside it, ``recount`` (a GROUP BY over the tenant's people: what every view cost before the counters).
The last line: ``RESULT home_growth=<t_max/t_min> home_ms_max=<ms>`` per database.
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
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.models import AuditChainHead, AuditEntry
from app.auth.models import Role
from app.auth.principal import Principal
from app.bootstrap import migrate_all
from app.config import Settings, load_settings
from app.db import make_engine, new_id, refresh_statistics
from app.tenancy import Tenant, TenantKind, TenantStatus
from bench.vault import DEFAULT_POSTGRES, drop_databases, postgres_databases, sqlite_settings
from tenants import services
from tenants.listing import apply_count_deltas, count_deltas, placement, recount
from tenants.models import (
    OPERATOR_ADMIN_FUNCTION,
    CollectionStatus,
    CorrectionRequest,
    Department,
    Person,
    PersonKind,
)

DEPARTMENTS = 20
CHUNK = 5_000
STATUSES = [  # a campaign under way
    (CollectionStatus.NOT_REGISTERED, 40),
    (CollectionStatus.REGISTERED, 20),
    (CollectionStatus.PROXY_REGISTERED, 10),
    (CollectionStatus.SELF_CONFIRMED, 10),
    (CollectionStatus.ADMIN_CONFIRMED, 15),
    (CollectionStatus.DECLINED, 5),
]
START = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def _status(rng: random.Random) -> CollectionStatus:
    return rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]


def _person(tenant_id: uuid.UUID, rng: random.Random, kind: PersonKind, **values: Any) -> dict[str, Any]:
    status = _status(rng)
    moment = START + dt.timedelta(minutes=rng.randrange(500_000))
    row = {
        "tenant_id": tenant_id,
        "id": values.pop("id", None) or new_id(),
        "kind": kind,
        "status": status,
        "registered_at": moment if status.has_number else None,
        "declined_at": moment if status is CollectionStatus.DECLINED else None,
        "created_at": START,
        "updated_at": START,
        **values,
    }
    if status is CollectionStatus.ADMIN_CONFIRMED:
        row["admin_confirmed_at"] = moment
        if rng.random() < 0.002:
            row["identity_changed_at"] = moment + dt.timedelta(days=1)
    return row


def _people(tenant_id: uuid.UUID, departments: list[Department], employees: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(employees):
        department = departments[i % len(departments)]
        code = f"E{i:07d}"
        employee = _person(tenant_id, rng, PersonKind.EMPLOYEE, employee_code=code, department_id=department.id)
        employee["name"] = f"社員 {i}"
        employee.update(
            placement(
                person_id=employee["id"],
                kind=PersonKind.EMPLOYEE,
                employee_code=code,
                department_id=department.id,
                registered=employee["registered_at"] is not None,
                department_code=department.code,
            )
        )
        rows.append(employee)
        for j in range(rng.choice((0, 1, 2, 3))):
            child = _person(tenant_id, rng, PersonKind.DEPENDANT, employee_id=employee["id"], name=f"家族 {i}-{j}")
            child.update(
                placement(
                    person_id=child["id"],
                    kind=PersonKind.DEPENDANT,
                    employee_code=None,
                    department_id=None,
                    registered=child["registered_at"] is not None,
                    owner_id=employee["id"],
                    owner_code=code,
                    owner_department_id=department.id,
                    department_code=department.code,
                )
            )
            rows.append(child)
    for i in range(employees // 50):
        payee = _person(tenant_id, rng, PersonKind.PAYEE, name=f"取引先 {i}")
        payee.update(
            placement(
                person_id=payee["id"],
                kind=PersonKind.PAYEE,
                employee_code=None,
                department_id=None,
                registered=payee["registered_at"] is not None,
            )
        )
        rows.append(payee)
    return rows


def _log_rows(tenant_id: uuid.UUID, people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operator's first admin at seq 1, then one entry per person (enough to make a scan of the log show)."""
    base: dict[str, Any] = {
        "tenant_id": tenant_id,
        "actor_user_id": None,
        "actor_login_id": "bench",
        "actor_name": "ベンチ",
        "actor_role": "管理者",
        "actor_organisation": "ベンチ株式会社",
        "ip": None,
        "user_agent": None,
        "subject_department_code": "",
        "subject_department_name": "",
        "subject_employee_code": "",
        "purpose": None,
        "result": "成功",
        "detail": {},
        "prev_hash": "0" * 64,
        "hash": "0" * 64,
        "key_version": 1,
    }
    rows = [
        {
            **base,
            "seq": 1,
            "occurred_at": START,
            "action": "アカウント変更",
            "function": OPERATOR_ADMIN_FUNCTION,
            "subject_person_id": None,
            "subject_name": "",
            "detail": {"login_id": "admin", "reason": "initial"},
        }
    ]
    for seq, person in enumerate(people, start=2):
        rows.append(
            {
                **base,
                "seq": seq,
                "occurred_at": START + dt.timedelta(seconds=seq),
                "action": "修正",
                "function": "従業員の登録",
                "subject_person_id": person["id"],
                "subject_name": person["name"],
            }
        )
    return rows


async def _fill(sessions: async_sessionmaker[AsyncSession], employees: int) -> Principal:
    async with sessions() as session:
        tenant = Tenant(code=f"bench{secrets.token_hex(3)}", name="ベンチ株式会社", status=TenantStatus.ACTIVE)
        session.add(tenant)
        await session.flush()
        departments = [Department(tenant_id=tenant.id, code=f"D{i:02d}", name=f"部門 {i}") for i in range(DEPARTMENTS)]
        session.add_all(departments)
        await session.flush()
        people = _people(tenant.id, departments, employees, seed=employees)
        columns = sorted({key for row in people for key in row})
        for start in range(0, len(people), CHUNK):
            chunk = [{column: row.get(column) for column in columns} for row in people[start : start + CHUNK]]
            for row in chunk:
                row["search_key"] = row["name"]
            await session.execute(insert(Person), chunk)
        deltas: Counter[Any] = count_deltas(people)
        await apply_count_deltas(session, deltas)
        confirmed = [p for p in people if p["status"] is CollectionStatus.ADMIN_CONFIRMED][:20]
        for person in confirmed:
            session.add(
                CorrectionRequest(tenant_id=tenant.id, person_id=person["id"], requested_by=new_id(), reason="mistake")
            )
        log = _log_rows(tenant.id, people)
        for start in range(0, len(log), CHUNK):
            await session.execute(insert(AuditEntry), log[start : start + CHUNK])
        # apply_count_deltas made the chain head (it holds it); it now points past the entries written above
        await session.execute(
            update(AuditChainHead).where(AuditChainHead.tenant_id == tenant.id).values(last_seq=len(log))
        )
        await session.commit()
        await refresh_statistics(
            session, ["people", "people_counts", "audit_entries", "departments", "correction_requests"]
        )
        await session.commit()
        return Principal(
            account_id=new_id(),
            tenant_id=tenant.id,
            tenant_code=tenant.code,
            tenant_name=tenant.name,
            tenant_kind=TenantKind.COMPANY,
            login_id="admin",
            name="管理者",
            role=Role.ADMIN,
            totp_enabled=True,
            person_id=None,
            stepup_fresh=False,
        )


Read = Callable[[AsyncSession, Principal], Awaitable[object]]


async def _home(session: AsyncSession, principal: Principal) -> None:
    """What ``/admin`` reads."""
    await services.collection_progress(session, principal)
    await services.status_counts(session, principal)
    await services.needs_attention(session, principal)
    await services.operator_acts(session, principal)


async def _recount(session: AsyncSession, principal: Principal) -> object:
    return await recount(session, principal.tenant_id)


READS: dict[str, Read] = {
    "progress": services.collection_progress,
    "chips": services.status_counts,
    "要対応": services.needs_attention,
    "operator": services.operator_acts,
    "home": _home,
}


async def _median_ms(
    sessions: async_sessionmaker[AsyncSession], work: Read, principal: Principal, rounds: int
) -> float:
    times = []
    for _ in range(rounds):
        async with sessions() as session:
            started = time.perf_counter()
            await work(session, principal)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def measure(name: str, settings: Settings, sizes: list[int], rounds: int) -> dict[int, float]:
    await asyncio.to_thread(migrate_all, settings)
    engine = make_engine(settings.effective_database_url, pool_size=2)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    homes: dict[int, float] = {}
    print(name)
    print("  " + " ".join(f"{label:>10}" for label in ("employees", "people", *READS, "recount")))
    try:
        for employees in sizes:
            principal = await _fill(sessions, employees)
            async with sessions() as session:
                people = sum((await recount(session, principal.tenant_id)).values())
            figures = {label: await _median_ms(sessions, read, principal, rounds) for label, read in READS.items()}
            homes[employees] = figures["home"]
            counted = await _median_ms(sessions, _recount, principal, max(3, rounds // 5))
            cells = " ".join(f"{figure:8.1f}ms" for figure in (*figures.values(), counted))
            print(f"  {employees:>10,} {people:>10,} {cells}", flush=True)
    finally:
        await engine.dispose()
    return homes


async def main(sizes: list[int], rounds: int) -> None:
    print(f"Admin home reads, in-process, median of {rounds} ({os.cpu_count()} cores)", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="mnv-bench-home-") as directory:
        homes = await measure("SQLite", sqlite_settings(Path(directory)), sizes, rounds)
        results.append(("sqlite", homes))
    admin_url = os.environ.get("MNV_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    names = await postgres_databases(admin_url)
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
            results.append(("postgres", await measure("PostgreSQL", settings, sizes, rounds)))
        finally:
            await drop_databases(admin_url, names)
    parts = []
    for label, homes in results:
        smallest, largest = homes[min(homes)], homes[max(homes)]
        parts.append(f"{label}_home_growth={largest / smallest:.2f} {label}_home_ms_max={largest:.1f}")
    print("RESULT " + " ".join(parts))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, nargs="+", default=[1_000, 10_000, 100_000], help="employees per run")
    parser.add_argument("--rounds", type=int, default=21)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.people, arguments.rounds))
