"""The other lists read by index ranges: corrections, duplicates, the operator's companies and the operation log.

For each: walking 次へ then 前へ covers every row exactly once in the list's order, filters still narrow it, another
tenant's rows never show (and their ids are 404s), and on SQLite the queries read index ranges without a full scan
or a sort of table rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import app.audit.log as audit_log
from app.audit.events import Actor, AuditAction, AuditEvent, AuditResult
from app.audit.log import list_entries, record_many
from app.audit.log_page import LogFilter, log_page
from app.auth.models import Account, Role
from app.pager import PageRequest
from app.tenancy import Tenant, TenantKind, TenantStatus
from tenants import services
from tenants.models import CorrectionRequest, DuplicateStatus, NumberDuplicate, Person, PersonKind, RequestStatus
from tenants.services import _numbers, _organisations
from tests.conftest import BACKEND
from tests.support.page_plans import Plan, plans_of, principal_of, walk_pages
from tests.support.people import make_employee
from tests.support.world import World, post_form, sign_in

ACTOR = Actor(user_id=None, login_id="test", name="テスト", role="管理者", organisation="test")
START = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.UTC)


def ids_of(pages: list[Any], rows: Callable[[Any], list[Any]]) -> list[Any]:
    return [item for page in pages for item in rows(page)]


async def both_ways(
    read: Callable[[PageRequest], Awaitable[Any]], rows: Callable[[Any], list[Any]], wanted: list[Any]
) -> None:
    """Forwards from page 1 and backwards from the last page, every row exactly once, in order."""
    forwards = await walk_pages(read, PageRequest(), "next")
    assert ids_of(forwards, rows) == wanted
    backwards = await walk_pages(read, PageRequest(page=100_000), "prev")
    assert ids_of(list(reversed(backwards)), rows) == wanted


def assert_index_ranges(plans: list[Plan], tables: set[str]) -> None:
    assert plans
    for plan in plans:
        assert not plan.full_scans(tables), plan.sql + "\n" + plan.text
        assert not plan.tenant_wide(tables), plan.sql + "\n" + plan.text
        assert not plan.table_sorts(tables), plan.sql + "\n" + plan.text


sqlite_only = pytest.mark.skipif(BACKEND != "sqlite", reason="EXPLAIN QUERY PLAN is SQLite's")


# Corrections ------------------------------------------------------------------------------------------------------


async def add_requests(db: AsyncSession, tenant_id: uuid.UUID, count: int, prefix: str) -> list[uuid.UUID]:
    """``count`` pending requests, some created at the same moment (ties are ordered by id)."""
    ids = []
    for index in range(count):
        person = await make_employee(db, tenant_id, f"{prefix}{index:03d}", f"社員 {index:03d}")
        request = CorrectionRequest(
            tenant_id=tenant_id,
            person_id=person.id,
            requested_by=uuid.uuid4(),
            reason="reissued",
            created_at=START + dt.timedelta(minutes=index // 3),
        )
        db.add(request)
        await db.flush()
        ids.append(request.id)
    await db.commit()
    return ids


@pytest.fixture
async def corrections(db: AsyncSession, world: World) -> list[uuid.UUID]:
    await add_requests(db, world.other_tenant.id, 4, "X")
    return await add_requests(db, world.tenant.id, 55, "C")


async def test_pending_corrections_page_oldest_first_both_ways(
    db: AsyncSession, world: World, corrections: list[uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_numbers, "CORRECTIONS_PER_PAGE", 4)  # 14 pages: numbered ones, then cursors
    principal = principal_of(world.admin)
    decided = (await db.execute(select(CorrectionRequest).where(CorrectionRequest.id == corrections[5]))).scalar_one()
    decided.status, decided.decided_at = RequestStatus.REJECTED, START
    await db.commit()
    wanted = [i for i in sorted(corrections, key=lambda i: (corrections.index(i) // 3, i)) if i != corrections[5]]

    async def read(request: PageRequest) -> Any:
        return await services.correction_page(db, None, principal, request)

    await both_ways(read, lambda page: [row.request.id for row in page.rows], wanted)
    first = await read(PageRequest())
    assert str(first.total) == "54"
    assert str(await services.count_corrections(db, principal)) == "54"
    assert [c.request.id for c in await services.recent_decisions(db, principal)] == [corrections[5]]


async def test_another_companys_requests_never_show_and_are_not_found(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, corrections: list[uuid.UUID]
) -> None:
    foreign = (
        (await db.execute(select(CorrectionRequest).where(CorrectionRequest.tenant_id == world.other_tenant.id)))
        .scalars()
        .first()
    )
    assert foreign is not None
    await sign_in(client, world.admin)
    page = await client.get("/admin/corrections")
    assert page.status_code == 200 and "承認待ち（55件）" in page.text
    assert str(foreign.id) not in page.text and "X000" not in page.text
    assert 'href="/admin/corrections?page=2"' in page.text
    second = await client.get("/admin/corrections", params={"page": "2"})
    assert second.text.count("/approve") == 5
    assert (await post_form(client, f"/admin/corrections/{foreign.id}/reject")).status_code == 404  # type: ignore[attr-defined]


@sqlite_only
async def test_the_corrections_page_reads_index_ranges(
    db: AsyncSession, world: World, corrections: list[uuid.UUID]
) -> None:
    principal = principal_of(world.admin)
    first, plans = await plans_of(db, lambda: services.correction_page(db, None, principal, PageRequest()))
    cursor = PageRequest(page=2, after=first.window.last_cursor)
    _, more = await plans_of(db, lambda: services.correction_page(db, None, principal, cursor))
    _, recent = await plans_of(db, lambda: services.recent_decisions(db, principal))
    assert_index_ranges(plans + more + recent, {"correction_requests"})
    assert "ix_correction_requests_tenant_id_status_created_at" in plans[0].text + plans[1].text


# Duplicates -------------------------------------------------------------------------------------------------------


async def add_cases(db: AsyncSession, tenant_id: uuid.UUID, count: int, prefix: str) -> list[uuid.UUID]:
    people = [await make_employee(db, tenant_id, f"{prefix}{i:03d}", f"重複 {i:03d}") for i in range(count + 1)]
    ids = []
    for index in range(count):
        case = NumberDuplicate(
            tenant_id=tenant_id,
            person_id=people[index + 1].id,
            other_person_id=people[0].id,
            number_id=uuid.uuid4(),
            other_number_id=uuid.uuid4(),
            function="テスト",
            created_at=START + dt.timedelta(minutes=index // 2),
        )
        db.add(case)
        await db.flush()
        ids.append(case.id)
    await db.commit()
    return ids


async def test_open_duplicates_page_oldest_first_both_ways(
    db: AsyncSession, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_cases(db, world.other_tenant.id, 3, "X")
    cases = await add_cases(db, world.tenant.id, 29, "D")
    settled = (await db.execute(select(NumberDuplicate).where(NumberDuplicate.id == cases[3]))).scalar_one()
    settled.status, settled.resolved_at, settled.resolved_by = DuplicateStatus.SAME_PERSON, START, "テスト"
    await db.commit()
    monkeypatch.setattr(_numbers, "DUPLICATES_PER_PAGE", 2)
    principal = principal_of(world.admin)
    wanted = [i for i in sorted(cases, key=lambda i: (cases.index(i) // 2, i)) if i != cases[3]]

    async def read(request: PageRequest) -> Any:
        return await services.duplicate_page(db, None, principal, request)

    await both_ways(read, lambda page: [row.case.id for row in page.rows], wanted)
    assert str((await read(PageRequest())).total) == "28"
    assert await services.count_open_duplicates(db, principal) == 28
    latest = await services.list_duplicates(db, None, principal, settled=True, limit=20)
    assert [d.case.id for d in latest] == [cases[3]]


@sqlite_only
async def test_the_duplicates_page_reads_index_ranges(db: AsyncSession, world: World) -> None:
    await add_cases(db, world.tenant.id, 5, "D")
    principal = principal_of(world.admin)
    first, plans = await plans_of(db, lambda: services.duplicate_page(db, None, principal, PageRequest()))
    cursor = PageRequest(page=2, after=first.window.last_cursor or "x")
    _, more = await plans_of(db, lambda: services.duplicate_page(db, None, principal, cursor))
    _, settled = await plans_of(db, lambda: services.list_duplicates(db, None, principal, settled=True))
    _, counted = await plans_of(db, lambda: services.count_open_duplicates(db, principal))
    assert_index_ranges(plans + more + settled + counted, {"number_duplicates"})


# The operator's companies -----------------------------------------------------------------------------------------


async def add_tenants(db: AsyncSession, count: int) -> list[uuid.UUID]:
    ids = []
    for index in range(count):
        tenant = Tenant(
            code=f"c{index:03d}",
            name=f"{'山田' if index % 5 == 0 else '佐藤'}商事{index:03d}",
            kind=TenantKind.COMPANY,
            status=TenantStatus.ACTIVE,
            created_at=START + dt.timedelta(minutes=index // 3),
        )
        db.add(tenant)
        await db.flush()
        ids.append(tenant.id)
    await db.commit()
    return ids


async def test_the_operators_companies_page_newest_first_both_ways_and_search(
    db: AsyncSession, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await add_tenants(db, 40)
    monkeypatch.setattr(_organisations, "TENANTS_PER_PAGE", 3)
    principal = principal_of(world.operator)
    companies = (await db.execute(select(Tenant).where(Tenant.kind == TenantKind.COMPANY))).scalars().all()
    wanted = [t.id for t in sorted(companies, key=lambda t: (t.created_at, t.id), reverse=True)]
    assert set(created) <= set(wanted)

    async def read(request: PageRequest, query: str = "") -> Any:
        return await services.tenant_page(db, principal, request, query=query)

    await both_ways(read, lambda page: [t.id for t in page.tenants], wanted)
    yamada = [t.id for t in sorted(companies, key=lambda t: (t.created_at, t.id), reverse=True) if "山田" in t.name]
    await both_ways(lambda request: read(request, "山田"), lambda page: [t.id for t in page.tenants], yamada)
    assert str((await read(PageRequest(), "山田")).total) == str(len(yamada))
    assert (await read(PageRequest(), "100%")).tenants == []  # a % is a character, not a wildcard


async def test_only_the_operator_lists_companies(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.admin)
    assert (await client.get("/operator/tenants")).status_code == 403
    await post_form(client, "/logout")
    await sign_in(client, world.operator)
    page = await client.get("/operator/tenants", params={"q": "アクメ"})
    assert page.status_code == 200 and "アクメ商事" in page.text and "よその会社" not in page.text


@sqlite_only
async def test_the_companies_page_reads_index_ranges(db: AsyncSession, world: World) -> None:
    await add_tenants(db, 12)
    principal = principal_of(world.operator)
    first, plans = await plans_of(db, lambda: services.tenant_page(db, principal, PageRequest()))
    cursor = PageRequest(page=2, before=first.window.first_cursor)
    _, more = await plans_of(db, lambda: services.tenant_page(db, principal, cursor, query="山田"))
    assert_index_ranges(plans + more, {"tenants"})


# The operation log ------------------------------------------------------------------------------------------------


@pytest.fixture
async def log(db: AsyncSession, world: World, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Five batches an hour apart in each company, every action and result mixed."""
    actions, results = list(AuditAction), list(AuditResult)
    for hour in range(5):
        monkeypatch.setattr(audit_log, "utcnow", lambda hour=hour: START + dt.timedelta(hours=hour))
        events = []
        for tenant_id in (world.tenant.id, world.other_tenant.id):
            for index in range(30):
                events.append(
                    AuditEvent(
                        tenant_id=tenant_id,
                        action=actions[(index * 7 + hour) % len(actions)],
                        actor=ACTOR,
                        function="テスト",
                        result=results[index % 4 % 3],
                        detail={"n": index},
                    )
                )
        await record_many(db, events)
        await db.commit()
    monkeypatch.undo()
    return [e.seq for e in await list_entries(db, world.tenant.id, limit=10_000)]


LOG_FILTERS = [
    LogFilter(),
    LogFilter(action=AuditAction.LOGIN),
    LogFilter(result=AuditResult.FAILURE),
    LogFilter(action=AuditAction.VIEW, result=AuditResult.SUCCESS),
    LogFilter(since=START + dt.timedelta(hours=1), until=START + dt.timedelta(hours=3)),
    LogFilter(result=AuditResult.DENIED, since=START + dt.timedelta(hours=2)),
    LogFilter(until=START),
    LogFilter(since=START + dt.timedelta(hours=9)),
]


@pytest.mark.parametrize("narrowed", LOG_FILTERS)
async def test_the_log_pages_newest_first_both_ways_under_every_filter(
    db: AsyncSession, world: World, log: list[int], narrowed: LogFilter
) -> None:
    wanted = [
        e.seq
        for e in await list_entries(
            db,
            world.tenant.id,
            limit=10_000,
            action=narrowed.action,
            result=narrowed.result,
            since=narrowed.since,
            until=narrowed.until,
        )
    ]

    async def read(request: PageRequest) -> Any:
        return await log_page(db, world.tenant.id, narrowed, request, per_page=4)

    await both_ways(read, lambda page: [e.seq for e in page.entries], wanted)
    pages = await walk_pages(read, PageRequest(), "next")
    assert {e.tenant_id for page in pages for e in page.entries} <= {world.tenant.id}


async def test_the_log_page_links_keep_the_filter(
    client: AsyncTestClient[Litestar], world: World, log: list[int]
) -> None:
    await sign_in(client, world.viewer)
    page = await client.get("/admin/log", params={"result": "成功"})
    assert page.status_code == 200
    assert f'href="/admin/log?result={quote("成功")}&amp;page=2"' in page.text
    assert "<td>成功</td>" in page.text and "失敗</span>" not in page.text


@sqlite_only
@pytest.mark.parametrize("narrowed", LOG_FILTERS)
async def test_the_log_reads_index_ranges(db: AsyncSession, world: World, log: list[int], narrowed: LogFilter) -> None:
    first, plans = await plans_of(db, lambda: log_page(db, world.tenant.id, narrowed, PageRequest(), per_page=4))
    cursor = PageRequest(page=2, after=first.window.last_cursor or "x")
    _, more = await plans_of(db, lambda: log_page(db, world.tenant.id, narrowed, cursor, per_page=4))
    assert_index_ranges(plans + more, {"audit_entries"})
    keys = [plan for plan in plans + more if plan.sql.lstrip().startswith("SELECT keyset.seq") or "LIMIT" in plan.sql]
    used = "\n".join(plan.text for plan in keys)
    if narrowed.action is not None:
        assert "ix_audit_entries_tenant_id_action_result_seq (tenant_id=? AND action=? AND result=?" in used, used
    elif narrowed.result is not None:
        assert "ix_audit_entries_tenant_id_result_seq (tenant_id=? AND result=?" in used, used
    if narrowed.since is not None or narrowed.until is not None:
        assert "seq>?" in used or "seq<?" in used or "seq=?" in used or not first.entries, used


# Staff accounts (a small list: the plan's seats and the accounts disabled since) --------------------------------


@sqlite_only
async def test_the_staff_list_never_reads_the_employee_accounts(db: AsyncSession, world: World) -> None:
    for index in range(30):
        person = await make_employee(db, world.tenant.id, f"S{index:03d}", f"社員 {index:03d}")
        db.add(
            Account(
                tenant_id=world.tenant.id,
                login_id=f"s{index:03d}",
                name="社員",
                role=Role.EMPLOYEE,
                person_id=person.id,
            )
        )
    await db.commit()
    principal = principal_of(world.admin)
    staff, plans = await plans_of(db, lambda: services.list_staff(db, principal))
    tenant = (await db.execute(select(Tenant).where(Tenant.id == world.tenant.id))).scalar_one()
    _, seats = await plans_of(db, lambda: services.staff_seats(db, tenant))
    assert {a.role for a in staff} <= {Role.ADMIN, Role.HANDLER, Role.VIEWER} and len(staff) == 3
    for plan in plans + seats:
        assert not plan.full_scans({"accounts"}), plan.text
        assert "ix_accounts_tenant_id_role_login_id" in plan.text, plan.text
    people = (await db.execute(select(Person).where(Person.kind == PersonKind.EMPLOYEE))).scalars().all()
    assert len(people) == 30
