"""The tester's findings on issue 13 (billing): contract changes that raced, the dashboard's states and chart
axis, the confirmation pages' limits and the one admin-seat range message."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import Account, Role
from app.config import Settings
from app.db import make_engine
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.text import today_in_japan
from billing import usage
from billing.charts import bar_chart, ids_figure
from billing.contract import (
    CONTRACT_CONFLICT_MESSAGE,
    CapacityExceeded,
    ContractConflict,
    change_contract,
    check_self_registration_room,
)
from billing.models import ContractChange, ContractChangeKind, SeatKind
from billing.reports import tenants_by_status
from tests.support.people import make_employee
from tests.support.world import World, post_form, sign_in


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Separate sessions (each its own connection and transaction) on the test's database."""
    engine = make_engine(settings.effective_database_url, pool_size=4)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def post_and_follow(client: AsyncTestClient[Litestar], path: str, data: dict[str, str]) -> str:
    response = await post_form(client, path, data)
    assert isinstance(response, httpx.Response) and response.status_code in (302, 303)
    return html.unescape((await client.get(response.headers["location"])).text)


async def pack_changes(db: AsyncSession, tenant_id: uuid.UUID) -> list[ContractChange]:
    statement = (
        select(ContractChange)
        .where(ContractChange.tenant_id == tenant_id, ContractChange.kind == ContractChangeKind.PACKS)
        .order_by(ContractChange.changed_at, ContractChange.id)
    )
    return list((await db.execute(statement)).scalars())


# 3. Lost updates in contract changes -------------------------------------------------------------------------------


async def test_a_change_over_a_stale_read_is_refused_and_nothing_is_written(
    world: World, db: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as reader:
        tenant = await reader.get(Tenant, world.tenant.id)
        assert tenant is not None and tenant.self_registration_packs == 0
        await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(self_registration_packs=3))
        await db.commit()
        with pytest.raises(ContractConflict) as refused:
            await change_contract(reader, tenant, {"self_registration_packs": 2}, changed_by="管理 花子")
        assert refused.value.message == CONTRACT_CONFLICT_MESSAGE
        await reader.commit()
    fresh = await db.get(Tenant, world.tenant.id, populate_existing=True)
    assert fresh is not None and fresh.self_registration_packs == 3
    assert await pack_changes(db, world.tenant.id) == []


async def test_concurrent_pack_changes_never_record_a_stale_before_value(
    world: World, db: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async def change_to(packs: int, start: asyncio.Event) -> bool:
        async with sessions() as session:
            tenant = await session.get(Tenant, world.tenant.id)
            assert tenant is not None
            await start.wait()  # every one has read 0 packs
            try:
                await change_contract(session, tenant, {"self_registration_packs": packs}, changed_by="管理")
            except ContractConflict:
                await session.rollback()
                return False
            await session.commit()
            return True

    start = asyncio.Event()
    tasks = [asyncio.create_task(change_to(packs, start)) for packs in (1, 3, 2)]
    await asyncio.sleep(0.2)
    start.set()
    applied = await asyncio.gather(*tasks)
    rows = await pack_changes(db, world.tenant.id)
    assert sum(applied) == len(rows) >= 1
    assert [row.old_value for row in rows] == ["0", *[row.new_value for row in rows[:-1]]]
    fresh = await db.get(Tenant, world.tenant.id, populate_existing=True)
    assert fresh is not None and str(fresh.self_registration_packs) == rows[-1].new_value


async def test_the_pack_page_flashes_the_conflict(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing import contract_services

    async def conflicting(*_args: object, **_kwargs: object) -> list[ContractChange]:
        raise ContractConflict

    monkeypatch.setattr(contract_services, "change_contract", conflicting)
    await sign_in(client, world.admin)
    assert CONTRACT_CONFLICT_MESSAGE in await post_and_follow(client, "/admin/contract/packs", {"packs": "2"})


# 4. Display ---------------------------------------------------------------------------------------------------------


async def test_the_dashboard_counts_a_contract_past_its_end_as_ended(world: World, db: AsyncSession) -> None:
    yesterday = today_in_japan() - dt.timedelta(days=1)
    db.add_all(
        [
            Tenant(code="endedx", name="終了済み株式会社", status=TenantStatus.ACTIVE, contract_ends_on=yesterday),
            Tenant(code="runsx", name="継続株式会社", status=TenantStatus.ACTIVE, contract_ends_on=today_in_japan()),
            Tenant(code="overx", name="体験終了株式会社", status=TenantStatus.TRIAL, trial_ends_on=yesterday),
        ]
    )
    await db.commit()
    counts = {row.key: row.count for row in await tenants_by_status(db, today_in_japan())}
    statement = select(Tenant.status, func.count()).where(Tenant.kind == TenantKind.COMPANY).group_by(Tenant.status)
    stored = {status: int(count) for status, count in (await db.execute(statement)).all()}
    assert counts["ended"] == stored.get(TenantStatus.ENDED, 0) + 1
    assert counts["trial_over"] >= 1
    assert counts["active"] == stored[TenantStatus.ACTIVE] - 1
    assert sum(counts.values()) == sum(stored.values())


@pytest.mark.parametrize(
    ("values", "figures"),
    [([0] * 12, ["0", "1", "2"]), ([1, 0], ["0", "1", "2"]), ([3], ["0", "2", "4"]), ([7], ["0", "5", "10"])],
)
def test_chart_guides_are_distinct_integers(values: list[int], figures: list[str]) -> None:
    months = [dt.date(2026, 1 + i, 1) for i in range(len(values))]
    chart = bar_chart("c", "t", "件数", months, values, ids_figure)
    assert [line.figure for line in chart.grid] == figures


async def test_the_pack_page_refuses_below_zero_and_above_the_maximum(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await sign_in(client, world.admin)
    below = html.unescape((await client.get("/admin/contract/packs?remove=1")).text)
    assert "パック数は0より少なくできません。" in below
    assert "-1パック" not in below and 'name="packs"' not in below
    above = html.unescape((await client.get("/admin/contract/packs?add=99999999")).text)
    assert "パック数は最大2,000パックです。" in above
    assert "2000パック" not in above and 'name="packs"' not in above


async def test_one_seat_range_message_on_both_pages(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    message = "管理者ID数（含まれる2件を含む合計）は2〜1,000の範囲で指定してください。"
    await sign_in(client, world.admin)
    page = html.unescape((await client.get("/admin/contract/seats?total=1")).text)
    assert message in page
    assert message in await post_and_follow(client, "/admin/contract/seats", {"seats": "0"})
    assert message in await post_and_follow(client, "/admin/contract/seats", {"seats": "1001"})


# 2. Issuing ids at once ---------------------------------------------------------------------------------------------


async def set_active(db: AsyncSession, tenant_id: uuid.UUID, active: int) -> None:
    now = await usage.active_ids(db, tenant_id, SeatKind.SELF_REGISTRATION)
    await usage.ids_changed(db, tenant_id, SeatKind.SELF_REGISTRATION, active - now)
    await db.commit()


async def employee_count(db: AsyncSession, tenant_id: uuid.UUID) -> int:
    statement = (
        select(func.count()).select_from(Account).where(Account.tenant_id == tenant_id, Account.role == Role.EMPLOYEE)
    )
    return int((await db.execute(statement)).scalar_one())


def employee_account(tenant_id: uuid.UUID) -> Account:
    code = uuid.uuid4().hex[:10]
    return Account(tenant_id=tenant_id, login_id=f"e{code}", name=f"従業員 {code}", role=Role.EMPLOYEE)


async def test_a_flush_beyond_the_packs_is_refused_after_the_counter_moved(
    world: World, db: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The check after the flush: the counter moved since the check before writing (here: it was read as 0)."""
    await set_active(db, world.tenant.id, 50)
    before = await employee_count(db, world.tenant.id)
    async with sessions() as session:
        tenant = await session.get(Tenant, world.tenant.id)
        assert tenant is not None
        session.add(employee_account(world.tenant.id))
        with pytest.raises(CapacityExceeded) as refused:
            await session.flush()
        assert "じぶんで登録IDが上限（50）を超えます。追加ID（5ユーザ単位）をあと1パック追加してください。" in (
            refused.value.message
        )
        await session.rollback()
    assert await employee_count(db, world.tenant.id) == before
    assert await usage.active_ids(db, world.tenant.id, SeatKind.SELF_REGISTRATION) == 50


async def test_the_trial_has_no_limit_after_the_flush_either(
    world: World, db: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(status=TenantStatus.TRIAL))
    await db.commit()
    await set_active(db, world.tenant.id, 50)
    async with sessions() as session:
        session.add(employee_account(world.tenant.id))
        await session.commit()
    assert await usage.active_ids(db, world.tenant.id, SeatKind.SELF_REGISTRATION) == 51


async def test_two_batches_at_once_never_exceed_the_packs(
    world: World, db: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Both batches pass the check before writing (47 + 3 ≤ 50 each); only one may be written."""
    await set_active(db, world.tenant.id, 47)
    checked = asyncio.Barrier(2)

    async def issue(count: int) -> bool:
        async with sessions() as session:
            tenant = await session.get(Tenant, world.tenant.id)
            assert tenant is not None
            await check_self_registration_room(session, tenant, count)
            await session.commit()  # the read ends: the other batch writes meanwhile
            await checked.wait()
            session.add_all([employee_account(world.tenant.id) for _ in range(count)])
            try:
                await session.flush()
            except CapacityExceeded:
                await session.rollback()
                return False
            await session.commit()
            return True

    results = await asyncio.gather(issue(3), issue(2))
    assert sorted(results) == [False, True]
    active = await usage.active_ids(db, world.tenant.id, SeatKind.SELF_REGISTRATION)
    assert active in (49, 50)


async def test_the_invitation_page_answers_the_refusal_after_the_flush(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check before writing read a stale count (0): the flush's check refuses, the page answers 400, and
    nothing of the batch stays."""
    from billing import contract

    await set_active(db, world.tenant.id, 50)
    person = await make_employee(db, world.tenant.id, "901", "競合 太郎")
    await db.commit()
    before = await employee_count(db, world.tenant.id)
    real = contract.usage.active_ids

    async def stale(session: AsyncSession, tenant_id: uuid.UUID, kind: SeatKind) -> int:
        return 0 if kind is SeatKind.SELF_REGISTRATION else await real(session, tenant_id, kind)

    monkeypatch.setattr(contract.usage, "active_ids", stale)
    await sign_in(client, world.admin)
    response = await post_form(client, "/admin/invitations", {"person_id": str(person.id)})
    assert isinstance(response, httpx.Response) and response.status_code == 400
    assert "じぶんで登録IDが上限（50）を超えます。" in html.unescape(response.text)
    monkeypatch.undo()
    assert await employee_count(db, world.tenant.id) == before
    assert await usage.active_ids(db, world.tenant.id, SeatKind.SELF_REGISTRATION) == 50


async def test_a_staff_account_over_the_seats_after_the_flush_is_refused_and_not_written(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check before writing read a stale count (0 used): the re-read after the flush refuses."""
    from tenants.services import _staff

    await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(admin_seats=3))
    await db.commit()

    async def stale(_session: AsyncSession, tenant: Tenant) -> tuple[int, int]:
        return 0, tenant.admin_seats

    monkeypatch.setattr(_staff, "staff_seats", stale)
    await sign_in(client, world.admin)
    response = await post_form(client, "/admin/accounts/", {"login_id": "racer", "name": "競合 花子", "role": "viewer"})
    assert isinstance(response, httpx.Response) and response.status_code == 400
    assert "管理者IDの上限（3件）に達しています。" in html.unescape(response.text)
    statement = (
        select(func.count())
        .select_from(Account)
        .where(Account.tenant_id == world.tenant.id, Account.login_id == "racer")
    )
    assert (await db.execute(statement)).scalar_one() == 0
    assert await usage.active_ids(db, world.tenant.id, SeatKind.ADMIN) == 3
