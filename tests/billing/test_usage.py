"""The usage ledger (issue 13): every path that issues, disables, re-enables or deletes an id keeps the counter equal
to a real count of active accounts, in the same transaction; the month's peak is the highest day."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account, Role
from app.auth.passwords import hasher_from_settings
from app.config import Settings
from app.db import new_id, utcnow
from app.tenancy import Tenant
from app.text import today_in_japan as jst_today
from app.vault import Vault
from billing.models import SeatCounter, SeatKind, SeatUsageDay
from billing.usage import (
    LEDGER_OPENING,
    active_ids,
    counted_ids,
    ids_changed,
    month_peak,
    reconcile,
    usage_days,
)
from selfservice.services import InvitationFilter, issue_for_scope, issue_invitations
from tenants.models import Person
from tenants.schemas import RetireForm, StaffForm
from tenants.services import add_staff, disable_staff, enable_staff, reinstate_employee, retire_employee
from tests.support.people import give_number, make_employee, valid_my_number
from tests.support.principals import principal_of
from tests.support.world import World, post_form, sign_in

SELF = SeatKind.SELF_REGISTRATION
ADMIN = SeatKind.ADMIN


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


async def assert_ledger_matches(db: AsyncSession, tenant_id: uuid.UUID) -> tuple[int, int]:
    """The counters equal a real COUNT of active accounts; returns (self-registration, admin) ids."""
    for kind in SeatKind:
        assert await active_ids(db, tenant_id, kind) == await counted_ids(db, tenant_id, kind), kind
    return await active_ids(db, tenant_id, SELF), await active_ids(db, tenant_id, ADMIN)


async def today_row(db: AsyncSession, tenant: Tenant, kind: SeatKind) -> SeatUsageDay:
    statement = select(SeatUsageDay).where(
        SeatUsageDay.tenant_id == tenant.id, SeatUsageDay.kind == kind, SeatUsageDay.day == jst_today()
    )
    return (await db.execute(statement.execution_options(populate_existing=True))).scalar_one()


async def employees(db: AsyncSession, tenant: Tenant, count: int, prefix: str = "E") -> list[Person]:
    people = [await make_employee(db, tenant.id, f"{prefix}{i:03d}", f"山田 {prefix}{i}") for i in range(count)]
    await db.commit()
    return people


async def test_the_world_is_counted_from_its_accounts(db: AsyncSession, world: World) -> None:
    assert await assert_ledger_matches(db, world.tenant.id) == (1, 3)  # emp001; admin, handler, viewer
    assert await assert_ledger_matches(db, world.other_tenant.id) == (0, 1)
    # the operator's own staff are never billed
    operator = world.operator.tenant
    assert await active_ids(db, operator.id, ADMIN) == 0


async def test_inviting_employees_issues_self_registration_ids(
    db: AsyncSession, settings: Settings, world: World
) -> None:
    people = await employees(db, world.tenant, 3)
    principal = principal_of(world.admin)
    hasher = hasher_from_settings(settings)
    await issue_invitations(db, settings, hasher, principal, [str(p.id) for p in people])
    await db.commit()
    assert await assert_ledger_matches(db, world.tenant.id) == (4, 3)
    # re-issuing a letter is not a new id
    await issue_invitations(db, settings, hasher, principal, [str(people[0].id)])
    await db.commit()
    assert await assert_ledger_matches(db, world.tenant.id) == (4, 3)
    row = await today_row(db, world.tenant, SELF)
    assert (row.peak, row.closing) == (4, 4)


async def test_the_bulk_invitation_across_the_filter_counts_every_id(
    db: AsyncSession, settings: Settings, world: World
) -> None:
    await employees(db, world.tenant, 7)
    principal = principal_of(world.admin)
    hasher = hasher_from_settings(settings)
    await issue_for_scope(db, settings, hasher, principal, "filter", [], InvitationFilter(state="pending"))
    await db.commit()
    assert await assert_ledger_matches(db, world.tenant.id) == (8, 3)


async def test_staff_added_disabled_and_enabled_again(db: AsyncSession, settings: Settings, world: World) -> None:
    tenant = await db.get(Tenant, world.tenant.id)
    assert tenant is not None
    tenant.admin_seats = 10
    await db.commit()
    principal = principal_of(world.admin)
    hasher = hasher_from_settings(settings)
    account, _password = await add_staff(db, hasher, principal, tenant, StaffForm(login_id="clerk", name="事務 花子"))
    await db.commit()
    assert await assert_ledger_matches(db, tenant.id) == (1, 4)
    await disable_staff(db, principal, account)
    await db.commit()
    assert await assert_ledger_matches(db, tenant.id) == (1, 3)
    row = await today_row(db, tenant, ADMIN)
    assert (row.peak, row.closing) == (4, 3)  # the day's most stays
    await enable_staff(db, principal, tenant, account)
    await db.commit()
    assert await assert_ledger_matches(db, tenant.id) == (1, 4)
    assert await month_peak(db, tenant.id, ADMIN, jst_today().replace(day=1)) == 4


async def test_retirement_disables_the_id_and_reinstatement_counts_it_again(
    db: AsyncSession, settings: Settings, world: World
) -> None:
    (person,) = await employees(db, world.tenant, 1)
    principal = principal_of(world.admin)
    await issue_invitations(db, settings, hasher_from_settings(settings), principal, [str(person.id)])
    await db.commit()
    assert await assert_ledger_matches(db, world.tenant.id) == (2, 3)
    person = await db.get(Person, (world.tenant.id, person.id))  # type: ignore[assignment]
    await retire_employee(db, principal, person, RetireForm(retirement_date=jst_today().isoformat()))
    await db.commit()
    assert await assert_ledger_matches(db, world.tenant.id) == (1, 3)
    await reinstate_employee(db, principal, person)
    await db.commit()
    assert await assert_ledger_matches(db, world.tenant.id) == (2, 3)
    # a 退職日 ahead: the access end is set, and the id stops counting when it is set (counter = disabled_at IS NULL)
    ahead = (jst_today() + dt.timedelta(days=10)).isoformat()
    await retire_employee(db, principal, person, RetireForm(retirement_date=ahead))
    await db.commit()
    assert await assert_ledger_matches(db, world.tenant.id) == (1, 3)


async def test_proxy_registered_numbers_never_count(db: AsyncSession, vault: Vault, world: World) -> None:
    people = await employees(db, world.tenant, 5)
    for seed, person in enumerate(people):
        await give_number(db, vault, person, valid_my_number(seed))
    await db.commit()
    assert await assert_ledger_matches(db, world.tenant.id) == (1, 3)


async def test_a_deleted_account_and_a_role_change_move_the_counts(db: AsyncSession, world: World) -> None:
    account = await db.get(Account, (world.tenant.id, world.viewer.account.id))
    assert account is not None
    account.role = Role.EMPLOYEE  # a change of role moves the id from one kind to the other
    await db.commit()
    assert await assert_ledger_matches(db, world.tenant.id) == (2, 2)
    await db.delete(account)
    await db.commit()
    assert await assert_ledger_matches(db, world.tenant.id) == (1, 2)


async def test_a_rolled_back_change_books_nothing(db: AsyncSession, world: World) -> None:
    tenant_id = world.tenant.id
    account = await db.get(Account, (tenant_id, world.handler.account.id))
    assert account is not None
    account.disabled_at = utcnow()
    await db.flush()
    assert await active_ids(db, tenant_id, ADMIN) == 2
    await db.rollback()
    assert await assert_ledger_matches(db, tenant_id) == (1, 3)


async def test_a_path_without_the_orm_books_through_ids_changed(db: AsyncSession, world: World) -> None:
    rows = [
        {"tenant_id": world.tenant.id, "id": new_id(), "login_id": f"raw{i}", "name": "直接", "role": Role.EMPLOYEE}
        for i in range(3)
    ]
    await db.execute(insert(Account), rows)
    await ids_changed(db, world.tenant.id, SELF, len(rows))
    await db.commit()
    assert await assert_ledger_matches(db, world.tenant.id) == (4, 3)


async def test_the_highest_day_counts_even_if_ids_were_disabled_later(
    db: AsyncSession, settings: Settings, world: World
) -> None:
    people = await employees(db, world.tenant, 4)
    principal = principal_of(world.admin)
    await issue_invitations(db, settings, hasher_from_settings(settings), principal, [str(p.id) for p in people])
    await db.commit()
    ids = [p.id for p in people]
    statement = select(Account).where(Account.tenant_id == world.tenant.id, Account.person_id.in_(ids))
    for account in (await db.execute(statement)).scalars():
        account.disabled_at = utcnow()
    await db.commit()
    assert await assert_ledger_matches(db, world.tenant.id) == (1, 3)
    month = jst_today().replace(day=1)
    assert await month_peak(db, world.tenant.id, SELF, month) == 5
    days = await usage_days(db, world.tenant.id, month, until=jst_today())
    assert days[-1].self_registration == 5 and days[-1].admin == 3


async def test_month_peak_reads_the_days_of_the_month_and_the_closing_before_it(db: AsyncSession, world: World) -> None:
    tenant_id = world.other_tenant.id
    await db.execute(update(SeatCounter).where(SeatCounter.tenant_id == tenant_id).values(active=0))
    await db.execute(SeatUsageDay.__table__.delete().where(SeatUsageDay.__table__.c.tenant_id == tenant_id))
    for day, peak, closing in [
        (LEDGER_OPENING, 0, 0),
        (dt.date(2026, 9, 20), 40, 40),
        (dt.date(2026, 10, 3), 58, 52),
        (dt.date(2026, 10, 30), 53, 12),
    ]:
        db.add(SeatUsageDay(tenant_id=tenant_id, kind=SELF, day=day, peak=peak, closing=closing))
    await db.commit()
    assert await month_peak(db, tenant_id, SELF, dt.date(2026, 8, 1)) == 0
    assert await month_peak(db, tenant_id, SELF, dt.date(2026, 9, 1)) == 40
    assert await month_peak(db, tenant_id, SELF, dt.date(2026, 10, 1)) == 58
    assert await month_peak(db, tenant_id, SELF, dt.date(2026, 10, 1), until=dt.date(2026, 10, 2)) == 40
    assert await month_peak(db, tenant_id, SELF, dt.date(2026, 11, 1)) == 12  # no change: the last closing
    days = await usage_days(db, tenant_id, dt.date(2026, 10, 1))
    assert [d.self_registration for d in days[:4]] == [40, 40, 58, 52]
    assert days[-1].self_registration == 12 and len(days) == 31


async def test_a_ledger_without_rows_reads_the_counter(db: AsyncSession, world: World) -> None:
    """Counters set by migration 0024 have no day rows: until the first change the counter is the month's."""
    tenant_id = world.other_tenant.id
    await db.execute(SeatUsageDay.__table__.delete().where(SeatUsageDay.__table__.c.tenant_id == tenant_id))
    await db.commit()
    assert await month_peak(db, tenant_id, ADMIN, dt.date(2026, 10, 1)) == 1


async def test_reconcile_recounts_from_the_accounts(db: AsyncSession, world: World) -> None:
    await db.execute(
        update(SeatCounter).where(SeatCounter.tenant_id == world.tenant.id, SeatCounter.kind == SELF).values(active=9)
    )
    await db.commit()
    differed = await reconcile(db, world.tenant.id)
    await db.commit()
    assert differed == {SELF: (9, 1)}
    assert await assert_ledger_matches(db, world.tenant.id) == (1, 3)
    assert await reconcile(db, world.tenant.id) == {}


async def test_the_web_pages_keep_the_ledger_in_the_requests_transaction(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(admin_seats=5))
    await db.commit()
    await sign_in(client, world.admin)
    response = await post_form(client, "/admin/accounts/", {"login_id": "j0011", "name": "新人 花子", "role": "viewer"})
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert await assert_ledger_matches(db, world.tenant.id) == (1, 4)
    response = await post_form(client, f"/admin/accounts/{world.viewer.account.id}/disable")
    assert response.status_code == 302  # type: ignore[attr-defined]
    assert await assert_ledger_matches(db, world.tenant.id) == (1, 3)
    row = await today_row(db, world.tenant, ADMIN)
    assert (row.peak, row.closing) == (4, 3)
