"""What one page of each list costs at 1,000 and at 100,000 employees: invitations, corrections, duplicates, the
operator's companies, the operation log and the staff accounts (the masked, employee and payee lists are measured by
``bench.pages``).

Run: ``.venv/bin/python -m bench.other_lists [--people 1000 100000] [--database sqlite postgres] [--invitations 500]``.
For each database and size it fills a fresh tenant through bulk inserts (placement columns and counters as the bulk
path keeps them; 25 % of employees retired, accounts in every invitation state; one dependant per two employees;
3 log entries per employee, up to 300,000, an hour apart per batch; 1 % correction requests, 0.5 % duplicates,
1 % as many companies), then times each page's service call (best of ``--rounds``, milliseconds; the database work
and the Python around it, no HTTP or template). It prints one table per database with the growth
(largest ÷ smallest size) per page, then the time to issue ``--invitations`` one-time passwords across a filter at
the production Argon2id cost.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import app.audit.log as audit_log
from app.audit.events import Actor, AuditAction, AuditEvent, AuditResult
from app.audit.log_page import LogFilter, log_page
from app.auth.models import Account, Role
from app.auth.passwords import hasher_from_settings
from app.auth.principal import Principal
from app.bootstrap import migrate_all
from app.config import Settings, load_settings
from app.db import make_engine, new_id, refresh_statistics, utcnow
from app.pager import PageRequest
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.vault import Vault
from bench.vault import DEFAULT_POSTGRES, drop_databases, postgres_databases
from billing.models import SeatKind
from billing.usage import ids_changed, seat_kind
from selfservice import services as selfservice
from selfservice.letters import render_invitation_letters
from tenants import services
from tenants.account_listing import ACCOUNT_ENDING, ACCOUNT_IN_USE, ACCOUNT_NONE, ACCOUNT_ONE_TIME
from tenants.listing import apply_count_deltas, count_key, placement
from tenants.models import CorrectionRequest, Department, NumberDuplicate, Person, PersonKind, Relationship

ACTOR = Actor(user_id=None, login_id="bench", name="ベンチ", role="管理者", organisation="ベンチ株式会社")
CHUNK = 5_000
DEPARTMENTS = 20
NOW = utcnow()
TODAY = NOW.astimezone(selfservice.JST).date()


def principal(tenant: Tenant, role: Role = Role.ADMIN) -> Principal:
    return Principal(
        account_id=uuid.uuid4(),
        tenant_id=tenant.id,
        tenant_code=tenant.code,
        tenant_name=tenant.name,
        tenant_kind=tenant.kind,
        login_id="bench",
        name="ベンチ",
        role=role,
        totp_enabled=True,
        person_id=None,
        stepup_fresh=True,
    )


def _arrangement(index: int) -> tuple[str, dict[str, Any] | None, dt.date | None]:
    """(state, account values, 退職日) of the index-th employee: 60 % in use, 5 % invited, 2 % expired, 25 % retired
    (two thirds with a disabled account), 8 % never invited."""
    slot = index % 100
    if slot < 60:
        return "active", {"must_change_password": False}, None
    if slot < 65:
        return "invited", {"must_change_password": True, "password_expires_at": NOW + dt.timedelta(days=10)}, None
    if slot < 67:
        return "expired", {"must_change_password": True, "password_expires_at": NOW - dt.timedelta(days=1)}, None
    retired = TODAY - dt.timedelta(days=400)
    if slot < 84:
        return "retired", {"must_change_password": False, "disabled_at": NOW - dt.timedelta(days=400)}, retired
    if slot < 92:
        return "retired", None, retired
    return "none", None, None


def _account_state(values: dict[str, Any] | None) -> int:
    if values is None:
        return ACCOUNT_NONE
    if values.get("disabled_at") is not None:
        return ACCOUNT_ENDING
    return ACCOUNT_ONE_TIME if values["must_change_password"] else ACCOUNT_IN_USE


async def fill(sessions: async_sessionmaker[AsyncSession], vault: Vault, people: int) -> Tenant:
    """A tenant of ``people`` employees (and half as many dependants), their accounts, requests, cases and log."""
    async with sessions() as session:
        tenant = Tenant(code=f"b{secrets.token_hex(4)}", name="ベンチ株式会社", status=TenantStatus.ACTIVE)
        session.add(tenant)
        await session.flush()
        await vault.create_tenant_keys(session, tenant.id)
        departments = [
            Department(tenant_id=tenant.id, code=f"D{i:02d}", name=f"部門{i:02d}") for i in range(DEPARTMENTS)
        ]
        session.add_all(departments)
        await session.commit()
    employee_ids: list[uuid.UUID] = []
    for start in range(0, people, CHUNK):
        async with sessions() as session:
            employee_ids.extend(
                await _employees(session, tenant.id, departments, range(start, min(people, start + CHUNK)))
            )
            await session.commit()
    async with sessions() as session:
        await _requests_and_cases(session, tenant.id, employee_ids)
        await _companies(session, max(10, people // 100))
        await session.commit()
    await _log(sessions, tenant.id, min(300_000, 3 * people))
    async with sessions() as session:
        await refresh_statistics(session, ["people", "accounts", "audit_entries", "correction_requests", "tenants"])
        await session.commit()
    return tenant


async def _employees(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    departments: list[Department],
    indexes: range,
    arrangement: Callable[[int], tuple[str, dict[str, Any] | None, dt.date | None]] = _arrangement,
) -> list[uuid.UUID]:
    people: list[dict[str, Any]] = []
    accounts: list[dict[str, Any]] = []
    ids: list[uuid.UUID] = []
    deltas: dict[Any, int] = {}
    for index in indexes:
        person_id = new_id()
        department = departments[index % len(departments)]
        _, account, retired = arrangement(index)
        code = f"E{index:07d}"
        values = placement(
            person_id=person_id,
            kind=PersonKind.EMPLOYEE,
            employee_code=code,
            department_id=department.id,
            registered=False,
            department_code=department.code,
        )
        people.append(
            {
                "tenant_id": tenant_id, "id": person_id, "kind": PersonKind.EMPLOYEE, "employee_code": code,
                "name": f"社員 {index}", "kana": "シャイン", "search_key": f"社員{index}",
                "department_id": department.id, "retirement_date": retired, "status": "未登録",
                "account_state": _account_state(account), **values,
            }
        )  # fmt: skip
        key = count_key(tenant_id, department.id, PersonKind.EMPLOYEE, "未登録")
        deltas[key] = deltas.get(key, 0) + 1
        ids.append(person_id)
        if account is not None:
            accounts.append(
                {"tenant_id": tenant_id, "id": new_id(), "login_id": code, "name": f"社員 {index}",
                 "role": Role.EMPLOYEE, "person_id": person_id, "password_hash": "x", **account}
            )  # fmt: skip
        if index % 2 == 0:
            child_id = new_id()
            child = placement(
                person_id=child_id, kind=PersonKind.DEPENDANT, employee_code=None, department_id=None,
                registered=False, owner_id=person_id, owner_code=code, owner_department_id=department.id,
                department_code=department.code,
            )  # fmt: skip
            people.append(
                {
                    "tenant_id": tenant_id, "id": child_id, "kind": PersonKind.DEPENDANT, "employee_code": None,
                    "name": f"家族 {index}", "kana": "", "search_key": f"家族{index}", "department_id": None,
                    "retirement_date": None, "status": "未登録", "employee_id": person_id,
                    "relationship": Relationship.CHILD, "account_state": 0, **child,
                }
            )  # fmt: skip
            key = count_key(tenant_id, department.id, PersonKind.DEPENDANT, "未登録")
            deltas[key] = deltas.get(key, 0) + 1
    now = utcnow()
    for row in people:
        row.setdefault("employee_id", None)
        row.setdefault("relationship", None)
        row.update(created_at=now, updated_at=now)
    for row in accounts:
        row.setdefault("password_expires_at", None)
        row.setdefault("disabled_at", None)
        row.update(created_at=now, updated_at=now)
    await session.execute(insert(Person), people)
    if accounts:
        await session.execute(insert(Account), accounts)
        # an INSERT without the ORM: the usage ledger is booked here (billing.usage's flush hook never sees it)
        issued: dict[SeatKind, int] = {}
        for row in accounts:
            kind = seat_kind(row["role"]) if row["disabled_at"] is None else None
            if kind is not None:
                issued[kind] = issued.get(kind, 0) + 1
        for kind, count in sorted(issued.items(), key=lambda item: item[0].value):
            await ids_changed(session, tenant_id, kind, count)
    await apply_count_deltas(session, deltas)
    return ids


async def _requests_and_cases(session: AsyncSession, tenant_id: uuid.UUID, employees: list[uuid.UUID]) -> None:
    now = utcnow()
    requests = [
        {"tenant_id": tenant_id, "id": new_id(), "person_id": person_id, "requested_by": uuid.uuid4(),
         "reason": "reissued", "note": "", "status": "承認待ち", "decided_by": "", "created_at": now, "updated_at": now}
        for person_id in employees[::100]
    ]  # fmt: skip
    cases = [
        {"tenant_id": tenant_id, "id": new_id(), "person_id": a, "other_person_id": b, "number_id": uuid.uuid4(),
         "other_number_id": uuid.uuid4(), "function": "ベンチ", "status": "重複の疑い", "resolved_by": "",
         "created_at": now, "updated_at": now}
        for a, b in zip(employees[1::200], employees[2::200], strict=False)
    ]  # fmt: skip
    await session.execute(insert(CorrectionRequest), requests)
    await session.execute(insert(NumberDuplicate), cases)


async def _companies(session: AsyncSession, count: int) -> None:
    now = utcnow()
    rows = [
        {"id": new_id(), "code": f"c{secrets.token_hex(5)}", "name": f"{'山田' if i % 50 == 0 else '佐藤'}商事{i}",
         "kind": TenantKind.COMPANY, "status": TenantStatus.ACTIVE, "created_at": now - dt.timedelta(minutes=i),
         "updated_at": now}
        for i in range(count)
    ]  # fmt: skip
    await session.execute(insert(Tenant), rows)


async def _log(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, entries: int) -> None:
    actions, results = list(AuditAction), list(AuditResult)
    original = audit_log.utcnow
    try:
        for batch, start in enumerate(range(0, entries, CHUNK)):
            audit_log.utcnow = lambda batch=batch: NOW - dt.timedelta(hours=1000 - batch)  # type: ignore[misc]
            events = [
                AuditEvent(
                    tenant_id=tenant_id,
                    action=actions[i % 7] if i % 1000 else AuditAction.REVEAL,  # 表示 is rare
                    actor=ACTOR,
                    function="ベンチ",
                    result=results[0] if i % 500 else results[1],  # 失敗 is rare
                    detail={"n": i},
                )
                for i in range(start, min(entries, start + CHUNK))
            ]
            async with sessions() as session:
                await audit_log.record_many(session, events)
                await session.commit()
    finally:
        audit_log.utcnow = original  # type: ignore[misc]


async def timed(call: Callable[[], Awaitable[Any]], rounds: int) -> float:
    """Best milliseconds of ``call`` over ``rounds`` (one warm-up run first): on a shared machine the fastest run is
    the one least disturbed by other work, and it is what the page costs."""
    await call()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return min(samples)


async def measure(
    sessions: async_sessionmaker[AsyncSession], tenant: Tenant, operator: Tenant, rounds: int
) -> dict[str, float]:
    """Milliseconds per page of each list."""
    admin, op = principal(tenant), principal(operator, Role.OPERATOR)
    figures: dict[str, float] = {}
    async with sessions() as session:
        department = (
            (await session.execute(select(Department).where(Department.tenant_id == tenant.id))).scalars().first()
        )
        assert department is not None
        dept = str(department.id)

        async def invitations(**values: Any) -> Any:
            return await selfservice.invitation_page(session, admin, selfservice.InvitationFilter(**values))

        deep = await invitations(page=10)
        pages: dict[str, Callable[[], Awaitable[Any]]] = {
            "invitations: all, page 1": lambda: invitations(),
            "invitations: all, after page 10": lambda: invitations(page=11, after=deep.window.last_cursor),
            "invitations: all, last page": lambda: invitations(page=100_000),
            "invitations: 未招待・期限切れ": lambda: invitations(state="pending"),
            "invitations: 招待中": lambda: invitations(state="invited"),
            "invitations: 利用中": lambda: invitations(state="active"),
            "invitations: 退職・無効": lambda: invitations(state="inactive"),
            "invitations: 部門, all": lambda: invitations(department_id=dept),
            "invitations: 部門, 未招待・期限切れ": lambda: invitations(department_id=dept, state="pending"),
            "corrections, page 1": lambda: services.correction_page(session, None, admin, PageRequest()),
            "corrections, last page": lambda: services.correction_page(session, None, admin, PageRequest(100_000)),
            "duplicates, page 1": lambda: services.duplicate_page(session, None, admin, PageRequest()),
            "duplicates (home count)": lambda: services.count_open_duplicates(session, admin),
            "companies (operator), page 1": lambda: services.tenant_page(session, op, PageRequest()),
            "companies, last page": lambda: services.tenant_page(session, op, PageRequest(100_000)),
            "companies, search 山田": lambda: services.tenant_page(session, op, PageRequest(), query="山田"),
            "log, page 1": lambda: log_page(session, tenant.id, LogFilter(), PageRequest()),
            "log, last page": lambda: log_page(session, tenant.id, LogFilter(), PageRequest(100_000)),
            "log, 操作 表示 (rare)": lambda: log_page(
                session, tenant.id, LogFilter(action=AuditAction.REVEAL), PageRequest()
            ),
            "log, 結果 失敗 (rare)": lambda: log_page(
                session, tenant.id, LogFilter(result=AuditResult.FAILURE), PageRequest()
            ),
            "log, 表示 + 失敗": lambda: log_page(
                session, tenant.id, LogFilter(action=AuditAction.REVEAL, result=AuditResult.FAILURE), PageRequest()
            ),
            "log, one day long ago": lambda: log_page(
                session,
                tenant.id,
                LogFilter(since=NOW - dt.timedelta(hours=1000), until=NOW - dt.timedelta(hours=976)),
                PageRequest(),
            ),
            "staff accounts": lambda: services.list_staff(session, admin),
        }
        for label, call in pages.items():
            figures[label] = await timed(call, rounds)
    return figures


async def issue_invitations(settings: Settings, count: int) -> float:
    """Seconds to issue ``count`` one-time passwords across a filter, production Argon2id cost, SQLite."""
    engine = make_engine(settings.effective_database_url, pool_size=2)
    vault = Vault.from_settings(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as session:
            tenant = Tenant(code=f"i{secrets.token_hex(4)}", name="招待株式会社", status=TenantStatus.ACTIVE)
            session.add(tenant)
            await session.flush()
            await vault.create_tenant_keys(session, tenant.id)
            department = Department(tenant_id=tenant.id, code="I", name="招待部")
            session.add(department)
            await session.flush()
            never_invited = lambda _index: ("none", None, None)  # noqa: E731
            await _employees(session, tenant.id, [department], range(1_000_000, 1_000_000 + count), never_invited)
            await session.commit()
        production = load_settings({}, database_url=settings.effective_database_url, master_key="x")
        hasher = hasher_from_settings(production)
        filters = selfservice.InvitationFilter(department_id=str(department.id), state="pending")
        async with sessions() as session:
            started = time.perf_counter()
            issued = await selfservice.issue_for_scope(
                session, production, hasher, principal(tenant), "filter", [], filters
            )
            await session.commit()
            elapsed = time.perf_counter() - started
        started = time.perf_counter()
        pdf = await asyncio.to_thread(render_invitation_letters, [item.letter for item in issued])
        rendering = time.perf_counter() - started
        print(
            f"Issuing {len(issued)} invitations across a filter (SQLite): {elapsed:.1f} s "
            f"({elapsed / max(1, len(issued)) * 1000:.0f} ms each; Argon2id m={production.argon2_memory_kib} KiB "
            f"t={production.argon2_time_cost}), then the letters' PDF: {rendering:.1f} s ({len(pdf) / 1e6:.1f} MB)",
            flush=True,
        )
        return elapsed
    finally:
        await vault.close()
        await engine.dispose()


async def on_database(name: str, settings: Settings, sizes: list[int], rounds: int) -> None:
    await asyncio.to_thread(migrate_all, settings)
    engine = make_engine(settings.effective_database_url, pool_size=4)
    vault = Vault.from_settings(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    results: dict[int, dict[str, float]] = {}
    try:
        async with sessions() as session:
            operator = Tenant(code=f"op{secrets.token_hex(3)}", name="運営", kind=TenantKind.OPERATOR)
            session.add(operator)
            await session.commit()
        for size in sizes:
            started = time.perf_counter()
            tenant = await fill(sessions, vault, size)
            print(f"{name}: filled {size:,} employees in {time.perf_counter() - started:.0f} s", flush=True)
            results[size] = await measure(sessions, tenant, operator, rounds)
    finally:
        await vault.close()
        await engine.dispose()
    print(f"\n{name}: milliseconds per page (best of {rounds})")
    header = "".join(f"{size:>12,}" for size in sizes)
    print(f"  {'page':<40}{header}{'growth':>10}")
    worst = 0.0
    for label in results[sizes[0]]:
        cells = [results[size][label] for size in sizes]
        growth = cells[-1] / cells[0] if cells[0] else 0.0
        worst = max(worst, growth)
        print(f"  {label:<40}" + "".join(f"{cell:>12.1f}" for cell in cells) + f"{growth:>9.1f}×", flush=True)
    print(f"  largest growth {worst:.1f}×\n", flush=True)


def sqlite_settings(directory: Path) -> Settings:
    return load_settings(
        {}, data_dir=str(directory), master_key=base64.b64encode(secrets.token_bytes(32)).decode(), log_level="WARNING"
    )


async def main(sizes: list[int], databases: list[str], rounds: int, invitations: int) -> None:
    print(f"MyNumber Vault lists bench: {os.cpu_count()} cores, sizes {sizes}", flush=True)
    if "sqlite" in databases:
        with tempfile.TemporaryDirectory(prefix="mnv-lists-") as directory:
            await on_database("SQLite", sqlite_settings(Path(directory)), sizes, rounds)
    if "postgres" in databases:
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
                await on_database("PostgreSQL", settings, sizes, rounds)
            finally:
                await drop_databases(admin_url, names)
    if invitations:
        with tempfile.TemporaryDirectory(prefix="mnv-invite-") as directory:
            settings = sqlite_settings(Path(directory))
            await asyncio.to_thread(migrate_all, settings)
            await issue_invitations(settings, invitations)


def run() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", default=[1_000, 100_000], help="employees per tenant")
    parser.add_argument("--database", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--rounds", type=int, default=15, help="timed runs per page (the best is shown)")
    parser.add_argument("--invitations", type=int, default=500, help="one-time passwords to issue (0: skip)")
    args = parser.parse_args()
    asyncio.run(main(sorted(args.people), args.database, args.rounds, args.invitations))


if __name__ == "__main__":
    run()
