"""The 操作履歴 search on a million entries of one tenant: each filter alone and combined, newest first, page 1 and
page 500, and the CSV download of 100,000 entries in constant memory.

Run: ``nice -n 19 .venv/bin/python -m bench.audit_search [--entries 1000000] [--database sqlite postgres]
[--rounds 5]``. Not a timed test: it fills a fresh database per engine (SQLite in a temp directory; PostgreSQL at
``MNV_TEST_POSTGRES_URL``, own databases created and dropped) with one tenant of 2,000 employees in 20 departments
and ``--entries`` log rows written straight into ``audit_entries`` (realistic values, times a minute apart over two
years; the hashes are not a valid chain: verification is not measured here), ANALYZEs, then times
``tenants.services._log_search.search_log`` (the page's database work and the Python around it; no HTTP or
template), median of ``--rounds`` after a warm-up. Page 500 (50 a page) is read as the page does beyond its numbered
pages: by cursor after the 24,950th entry (found untimed). Then it streams the CSV (cp932) of a period holding
100,000 entries and of one holding 10,000 through ``stream_log_csv`` and reports the time and (in a second, untimed
run) the peak of Python allocations (tracemalloc) for each: equal peaks mean constant memory.

The last line: ``RESULT search_p95_ms=<x>`` (95th percentile of the per-case medians over every case and database;
the goal is under 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import functools
import os
import random
import secrets
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import AuditAction, AuditResult
from app.audit.models import AuditChainHead, AuditEntry
from app.bootstrap import migrate_all
from app.config import Settings, load_settings
from app.db import make_engine, refresh_statistics
from app.pager import PageRequest
from app.paging import encode_cursor, seek_union
from app.tenancy import Tenant, TenantStatus
from app.text import JST
from app.vault import Vault
from bench.vault import DEFAULT_POSTGRES, drop_databases, postgres_databases
from exchange.encoding import Encoding
from tenants.models import Department, Person, PersonKind
from tenants.services._log_export import stream_log_csv
from tenants.services._log_search import OPERATION_BY_LABEL, LogSearch, plan_search, search_log

EMPLOYEES = 2_000
DEPARTMENTS = 20
CHUNK = 10_000
PER_PAGE = 50
DEEP_PAGE = 500
START = dt.datetime(2024, 12, 1, tzinfo=dt.UTC)
STEP = dt.timedelta(seconds=63)  # a million entries over two years
SURNAMES = [
    ("山田", "ヤマダ"), ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
    ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"),
    ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山口", "ヤマグチ"), ("松本", "マツモト"), ("井上", "イノウエ"),
]  # fmt: skip
GIVEN = [
    ("太郎", "タロウ"), ("花子", "ハナコ"), ("一郎", "イチロウ"), ("美咲", "ミサキ"), ("健太", "ケンタ"),
    ("陽菜", "ヒナ"), ("翔", "ショウ"), ("さくら", "サクラ"), ("大輔", "ダイスケ"), ("結衣", "ユイ"),
    ("拓也", "タクヤ"), ("葵", "アオイ"), ("直樹", "ナオキ"), ("彩", "アヤ"), ("誠", "マコト"),
]  # fmt: skip
STAFF = [("admin1", "岡 昌平", "管理者"), ("admin2", "森 由美", "管理者"), ("hr1", "林 健", "事務取扱担当者"),
         ("hr2", "池田 愛", "事務取扱担当者"), ("hr3", "石川 純", "事務取扱担当者")]  # fmt: skip
# (action, weight, by the employee themselves, with a subject)
ACTIONS = [
    (AuditAction.VIEW, 38, False, True), (AuditAction.LOGIN, 20, True, False), (AuditAction.LOGOUT, 10, True, False),
    (AuditAction.SELF_CONFIRM, 5, True, True), (AuditAction.REGISTER, 5, True, True),
    (AuditAction.PROXY_REGISTER, 2, False, True), (AuditAction.ADMIN_CONFIRM, 4, False, True),
    (AuditAction.REVEAL, 5, False, True), (AuditAction.PRINT, 2, False, True),
    (AuditAction.CSV_EXPORT, 1, False, False),
    (AuditAction.LOGIN_FAILED, 2, True, False), (AuditAction.UPDATE, 3, False, True),
    (AuditAction.DELETE, 0.5, False, True), (AuditAction.SETTINGS_CHANGE, 0.5, False, False),
]  # fmt: skip
FUNCTIONS = {
    AuditAction.VIEW: "マイナンバー一覧", AuditAction.REVEAL: "マイナンバー表示", AuditAction.PRINT: "源泉徴収票の印刷",
    AuditAction.CSV_EXPORT: "給与ソフト用CSV出力", AuditAction.DELETE: "マイナンバー削除",
}  # fmt: skip
PURPOSES = ["給与所得・退職所得の源泉徴収票作成事務", "健康保険・厚生年金保険届出事務", "雇用保険届出事務"]


async def fill(sessions: async_sessionmaker[AsyncSession], vault: Vault, entries: int) -> tuple[Tenant, list[Any]]:
    """One tenant, its departments and employees (through the ORM: name keys and the FTS table kept), its log."""
    rng = random.Random(20261201)
    async with sessions() as session:
        tenant = Tenant(code=f"b{secrets.token_hex(4)}", name="ベンチ株式会社", status=TenantStatus.ACTIVE)
        session.add(tenant)
        await session.flush()
        await vault.create_tenant_keys(session, tenant.id)
        departments = [
            Department(tenant_id=tenant.id, code=f"D{i:02d}", name=f"部門{i:02d}") for i in range(DEPARTMENTS)
        ]
        session.add_all(departments)
        await session.flush()
        people = []
        for index in range(EMPLOYEES):
            (surname, surname_kana), (given, given_kana) = rng.choice(SURNAMES), rng.choice(GIVEN)
            people.append(
                Person(
                    tenant_id=tenant.id, kind=PersonKind.EMPLOYEE, employee_code=f"E{index:05d}",
                    name=f"{surname} {given}", kana=f"{surname_kana} {given_kana}", birth_date=dt.date(1985, 4, 1),
                    department_id=departments[index % DEPARTMENTS].id, hire_date=dt.date(2015, 4, 1),
                )
            )  # fmt: skip
        session.add_all(people)
        await session.commit()
    subjects = [
        (p.id, p.name, departments[i % DEPARTMENTS].code, departments[i % DEPARTMENTS].name, p.employee_code)
        for i, p in enumerate(people)
    ]
    weights = [weight for _, weight, _, _ in ACTIONS]
    written = 0
    while written < entries:
        rows = []
        for seq in range(written + 1, min(entries, written + CHUNK) + 1):
            action, _, by_self, with_subject = rng.choices(ACTIONS, weights)[0]
            subject = rng.choice(subjects)
            if by_self:
                login, name, role = subject[4], subject[1], "従業員"
            else:
                login, name, role = rng.choice(STAFF)
            roll = rng.random()
            result = AuditResult.SUCCESS if roll < 0.95 else AuditResult.FAILURE if roll < 0.98 else AuditResult.DENIED
            shown = subject if with_subject or by_self else (None, "", "", "", "")
            rows.append(
                {
                    "tenant_id": tenant.id, "seq": seq, "occurred_at": START + STEP * seq, "actor_user_id": None,
                    "actor_login_id": login, "actor_name": name, "actor_role": role,
                    "actor_organisation": "ベンチ株式会社", "ip": f"10.0.{seq % 256}.{seq % 199}",
                    "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0", "action": action,
                    "function": FUNCTIONS.get(action, action.value), "subject_person_id": shown[0],
                    "subject_name": shown[1], "subject_department_code": shown[2],
                    "subject_department_name": shown[3], "subject_employee_code": shown[4] or "",
                    "purpose": rng.choice(PURPOSES) if with_subject else None, "result": result, "detail": {},
                    "prev_hash": "0" * 64, "hash": f"{seq:064x}", "key_version": 1,
                }
            )  # fmt: skip
        async with sessions() as session:
            await session.execute(insert(AuditEntry), rows)
            await session.commit()
        written += len(rows)
        if written % 100_000 == 0:
            print(f"  {written:,} entries", flush=True)
    async with sessions() as session:
        await session.merge(
            AuditChainHead(tenant_id=tenant.id, chain="log", last_seq=entries, last_hash=f"{entries:064x}")
        )
        await refresh_statistics(session, ["audit_entries", "people"])
        await session.commit()
    return tenant, subjects


def cases(subjects: list[Any], entries: int) -> dict[str, LogSearch]:
    """Each filter alone and the combinations people use, with values that exist in the filled log."""
    last = START + STEP * entries
    month = (last - dt.timedelta(days=30)).astimezone(JST).replace(hour=0, minute=0, second=0, microsecond=0)
    year_ago = (last - dt.timedelta(days=365)).astimezone(JST).replace(hour=0, minute=0, second=0, microsecond=0)
    person = subjects[123]
    deleted = OPERATION_BY_LABEL["削除"]
    return {
        "全て": LogSearch(),
        "期間 (直近30日)": LogSearch(since=month),
        "期間 (1年前から30日)": LogSearch(since=year_ago, until=year_ago + dt.timedelta(days=30)),
        "部門": LogSearch(department_code="D07"),
        "社員コード": LogSearch(employee_code=person[4]),
        "対象者名": LogSearch(subject_name=person[1]),
        "操作した人 (職員)": LogSearch(actor_login_id="hr2"),
        "操作 閲覧 (多い)": LogSearch(operation=OPERATION_BY_LABEL["閲覧"]),
        "操作 削除 (まれ)": LogSearch(operation=deleted),
        "操作 番号確認 (2種)": LogSearch(operation=OPERATION_BY_LABEL["番号確認"]),
        "結果 失敗": LogSearch(result=AuditResult.FAILURE),
        "古い順": LogSearch(oldest_first=True),
        "部門 + 操作 閲覧": LogSearch(department_code="D07", operation=OPERATION_BY_LABEL["閲覧"]),
        "部門 + 操作 削除": LogSearch(department_code="D07", operation=deleted),
        "部門 + 期間": LogSearch(department_code="D07", since=year_ago, until=year_ago + dt.timedelta(days=30)),
        "操作した人 + 操作 表示": LogSearch(actor_login_id="hr2", operation=OPERATION_BY_LABEL["表示"]),
        "操作した人 + 部門 + 結果 成功": LogSearch(
            actor_login_id="admin1", department_code="D03", result=AuditResult.SUCCESS
        ),
        "社員コード + 期間": LogSearch(employee_code=person[4], since=year_ago),
        "対象者名 + 操作 閲覧": LogSearch(subject_name=person[1], operation=OPERATION_BY_LABEL["閲覧"]),
        "操作 削除 + 結果 成功 + 期間": LogSearch(operation=deleted, result=AuditResult.SUCCESS, since=year_ago),
        "全条件": LogSearch(
            since=year_ago,
            department_code=person[2],
            employee_code=person[4],
            subject_name=person[1],
            actor_login_id=person[4],
            operation=OPERATION_BY_LABEL["ログイン"],
            result=AuditResult.SUCCESS,
        ),
    }


async def timed(call: Callable[[], Awaitable[Any]], rounds: int) -> float:
    """Median milliseconds of ``call`` over ``rounds`` after one warm-up run."""
    await call()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def deep_cursor(session: AsyncSession, tenant_id: uuid.UUID, search: LogSearch) -> str | None:
    """The cursor of the last entry of page ``DEEP_PAGE - 1`` (read untimed), or None when there are fewer."""
    plan = await plan_search(session, tenant_id, search)
    ordering = search.ordering()
    cursor = None
    skip = (DEEP_PAGE - 1) * PER_PAGE
    while skip > 0:
        keys = await seek_union(session, plan.ranges, ordering, cursor, min(skip, 5000))
        if not keys:
            return None
        skip -= len(keys)
        cursor = (keys[-1].seq,)
        if skip > 0 and len(keys) < 5000:
            return None
    return None if cursor is None else encode_cursor(cursor)


async def measure(
    sessions: async_sessionmaker[AsyncSession], tenant: Tenant, subjects: list[Any], entries: int, rounds: int
) -> dict[str, tuple[float, float | None, str, str]]:
    results: dict[str, tuple[float, float | None, str, str]] = {}
    async with sessions() as session:
        for label, search in cases(subjects, entries).items():
            first = await search_log(session, tenant.id, search, PageRequest(), per_page=PER_PAGE)
            page1 = await timed(
                functools.partial(search_log, session, tenant.id, search, PageRequest(), per_page=PER_PAGE), rounds
            )
            cursor = await deep_cursor(session, tenant.id, search)
            deep = None
            if cursor is not None:
                request = PageRequest(page=DEEP_PAGE, after=cursor)
                deep = await timed(
                    functools.partial(search_log, session, tenant.id, search, request, per_page=PER_PAGE), rounds
                )
            results[label] = (page1, deep, str(first.total), first.driver)
            await session.rollback()
    return results


async def download(sessions: async_sessionmaker[AsyncSession], tenant: Tenant, entries: int, wanted: int) -> str:
    """Stream the CSV of the newest period holding about ``wanted`` entries: timed, then again under tracemalloc
    for the peak of Python allocations (tracemalloc slows Python several times, so it is not timed)."""
    search = LogSearch(since=START + STEP * (entries - wanted))

    async def stream() -> tuple[int, int]:
        size = lines = 0
        async with sessions() as session:
            async for chunk in stream_log_csv(session, tenant.id, search, Encoding.CP932):
                size += len(chunk)
                lines += chunk.count(b"\r\n")
        return size, lines

    started = time.perf_counter()
    size, lines = await stream()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    await stream()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_mb = peak / 1e6
    return (
        f"{lines - 1:>9,} entries  {size / 1e6:7.1f} MB  {seconds:6.1f} s  peak {peak_mb:6.1f} MB (Python allocations)"
    )


async def on_database(name: str, settings: Settings, entries: int, rounds: int) -> list[float]:
    await asyncio.to_thread(migrate_all, settings)
    engine = make_engine(settings.effective_database_url, pool_size=4)
    vault = Vault.from_settings(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        started = time.perf_counter()
        tenant, subjects = await fill(sessions, vault, entries)
        print(f"{name}: filled {entries:,} entries in {time.perf_counter() - started:.0f} s", flush=True)
        results = await measure(sessions, tenant, subjects, entries, rounds)
        downloads = [await download(sessions, tenant, entries, wanted) for wanted in (10_000, 100_000)]
    finally:
        await vault.close()
        await engine.dispose()
    print(f"\n{name}: milliseconds per search (median of {rounds}; {PER_PAGE} a page, newest first unless stated)")
    print(f"  {'filter':<34}{'page 1':>10}{'page 500':>10}  {'matches':>10}  driver")
    medians: list[float] = []
    for label, (page1, deep, total, driver) in results.items():
        medians.append(page1)
        deep_text = "—" if deep is None else f"{deep:.1f}"
        if deep is not None:
            medians.append(deep)
        print(f"  {label:<34}{page1:>10.1f}{deep_text:>10}  {total:>10}  {driver}", flush=True)
    print(f"\n{name}: CSV download (cp932), streamed")
    for line in downloads:
        print(f"  {line}", flush=True)
    print(flush=True)
    return medians


def sqlite_settings(directory: Path) -> Settings:
    return load_settings(
        {}, data_dir=str(directory), master_key=base64.b64encode(secrets.token_bytes(32)).decode(), log_level="WARNING"
    )


async def main(entries: int, databases: list[str], rounds: int) -> None:
    print(f"MyNumber Vault log search bench: {os.cpu_count()} cores, {entries:,} entries", flush=True)
    medians: list[float] = []
    if "sqlite" in databases:
        with tempfile.TemporaryDirectory(prefix="mnv-log-") as directory:
            medians += await on_database("SQLite", sqlite_settings(Path(directory)), entries, rounds)
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
                medians += await on_database("PostgreSQL", settings, entries, rounds)
            finally:
                await drop_databases(admin_url, names)
    ordered = sorted(medians)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0.0
    print(f"RESULT search_p95_ms={p95:.1f}")


def run() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="log entries of the tenant")
    parser.add_argument("--database", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per case (the median is shown)")
    args = parser.parse_args()
    asyncio.run(main(args.entries, args.database, args.rounds))


if __name__ == "__main__":
    run()
