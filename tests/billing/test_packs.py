"""Packs and seats (issue 13): the confirmation page with the new monthly price, adding and removing packs and
admin seats, and issuing ids beyond what is paid refused before anything is written (one by one and in bulk)."""

from __future__ import annotations

import datetime as dt
import html
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.models import Account, Role
from app.tenancy import Tenant, TenantStatus
from app.text import today_in_japan
from billing import usage
from billing.models import ContractChange, ContractChangeKind, SeatKind
from tests.support.audit import entries
from tests.support.people import make_employee
from tests.support.world import World, post_form, sign_in


async def set_terms(db: AsyncSession, tenant: Tenant, **values: object) -> Tenant:
    row = await db.get(Tenant, tenant.id, populate_existing=True)
    assert row is not None
    for key, value in values.items():
        setattr(row, key, value)
    await db.commit()
    return row


def active_ids_of(counts: dict[SeatKind, int]) -> Any:
    async def active_ids(session: Any, tenant_id: uuid.UUID, kind: SeatKind) -> int:
        return counts[kind]

    return active_ids


async def employee_accounts(db: AsyncSession, tenant_id: uuid.UUID) -> int:
    statement = (
        select(func.count()).select_from(Account).where(Account.tenant_id == tenant_id, Account.role == Role.EMPLOYEE)
    )
    return int((await db.execute(statement)).scalar_one())


async def pack_changes(db: AsyncSession, tenant_id: uuid.UUID) -> list[ContractChange]:
    statement = select(ContractChange).where(
        ContractChange.tenant_id == tenant_id, ContractChange.kind == ContractChangeKind.PACKS
    )
    return list((await db.execute(statement)).scalars())


def status(response: object) -> int:
    assert isinstance(response, httpx.Response)
    return response.status_code


class TestPacks:
    async def test_the_confirmation_shows_the_new_monthly_price_member_or_not(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await set_terms(db, world.tenant, self_registration_packs=1, is_member=True)
        await sign_in(client, world.admin)
        page = await client.get("/admin/contract/packs?add=2")
        assert page.status_code == 200
        assert "3パック（じぶんで登録ID 65件）" in page.text
        assert "750円（250円 × 3パック、会員価格）" in page.text
        assert 'name="packs" value="3"' in page.text
        await set_terms(db, world.tenant, is_member=False)
        page = await client.get("/admin/contract/packs?add=2")
        assert "1,500円（500円 × 3パック、一般価格）" in page.text

    async def test_adding_applies_after_the_post_with_a_change_and_a_log_entry(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await sign_in(client, world.admin)
        response = await post_form(client, "/admin/contract/packs", {"packs": "2"})
        assert status(response) in (302, 303)
        tenant = await set_terms(db, world.tenant)
        assert tenant.self_registration_packs == 2
        [change] = await pack_changes(db, world.tenant.id)
        assert (change.old_value, change.new_value) == ("0", "2")
        logged = await entries(db, world.tenant.id, AuditAction.SETTINGS_CHANGE)
        assert logged[-1].detail["event"] == "packs_changed" and logged[-1].detail["to"] == 2

    async def test_removing_below_the_active_ids_is_refused(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(usage, "active_ids", active_ids_of({SeatKind.SELF_REGISTRATION: 56, SeatKind.ADMIN: 3}))
        await set_terms(db, world.tenant, self_registration_packs=3)
        await sign_in(client, world.admin)
        page = await client.get("/admin/contract/packs?remove=2")
        assert "有効なじぶんで登録IDが56件あるため、55件分（1パック）には減らせません。" in page.text
        assert 'name="packs"' not in page.text
        response = await post_form(client, "/admin/contract/packs", {"packs": "1"})
        assert status(response) in (302, 303)
        assert (await set_terms(db, world.tenant)).self_registration_packs == 3
        ok = await post_form(client, "/admin/contract/packs", {"packs": "2"})
        assert status(ok) in (302, 303)
        assert (await set_terms(db, world.tenant)).self_registration_packs == 2

    @pytest.mark.parametrize("persona", ["handler", "viewer"])
    async def test_only_admins_change_packs(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, persona: str
    ) -> None:
        await sign_in(client, getattr(world, persona))
        assert status(await post_form(client, "/admin/contract/packs", {"packs": "5"})) == 403
        assert await pack_changes(db, world.tenant.id) == []


class TestSeats:
    async def test_extra_seats_are_priced_beyond_the_included_ones(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await set_terms(db, world.tenant, verification_enabled=True, admin_seats=4, is_member=False)
        await sign_in(client, world.admin)
        page = await client.get("/admin/contract/seats?add=2")
        assert "6件（うち追加分 2件）" in page.text
        assert "2,000円（1,000円 × 2件、一般価格）" in page.text
        assert status(await post_form(client, "/admin/contract/seats", {"seats": "6"})) in (302, 303)
        assert (await set_terms(db, world.tenant)).admin_seats == 6

    async def test_seats_below_the_active_staff_are_refused(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await set_terms(db, world.tenant, admin_seats=4)
        await sign_in(client, world.admin)
        page = await client.get("/admin/contract/seats?total=2")
        assert "有効な管理者IDが3件あるため、2件には減らせません。" in page.text
        assert status(await post_form(client, "/admin/contract/seats", {"seats": "2"})) in (302, 303)
        assert (await set_terms(db, world.tenant)).admin_seats == 4

    async def test_a_staff_account_beyond_the_seats_is_refused_with_a_link(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await set_terms(db, world.tenant, admin_seats=3)  # admin, handler, viewer already use them
        await sign_in(client, world.admin)
        response = await post_form(
            client, "/admin/accounts/", {"login_id": "extra", "name": "追加 花子", "role": "viewer"}
        )
        assert status(response) == 400
        assert isinstance(response, httpx.Response)
        assert "管理者IDの上限（3件）に達しています。" in response.text
        assert 'href="/admin/contract/seats?add=1"' in response.text
        statement = (
            select(func.count())
            .select_from(Account)
            .where(Account.tenant_id == world.tenant.id, Account.login_id == "extra")
        )
        assert (await db.execute(statement)).scalar_one() == 0


class TestIssuingBeyondCapacity:
    async def invite(self, client: AsyncTestClient[Litestar], data: dict[str, Any]) -> httpx.Response:
        response = await post_form(client, "/admin/invitations", data)
        assert isinstance(response, httpx.Response)
        return response

    async def test_one_by_one_is_refused_with_the_packs_needed_and_nothing_written(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(usage, "active_ids", active_ids_of({SeatKind.SELF_REGISTRATION: 54, SeatKind.ADMIN: 3}))
        await set_terms(db, world.tenant, self_registration_packs=1)
        people = [await make_employee(db, world.tenant.id, f"2{i:02}", f"社員 {i}号") for i in range(3)]
        await db.commit()
        before = await employee_accounts(db, world.tenant.id)
        await sign_in(client, world.admin)
        response = await self.invite(client, {"person_id": [str(p.id) for p in people]})
        assert response.status_code == 400
        text = html.unescape(response.text)
        assert "じぶんで登録IDが上限（55）を超えます。追加ID（5ユーザ単位）をあと1パック追加してください。" in text
        assert 'href="/admin/contract/packs?add=1"' in text
        assert await employee_accounts(db, world.tenant.id) == before
        fits = await self.invite(client, {"person_id": str(people[0].id)})
        assert fits.status_code == 200
        assert await employee_accounts(db, world.tenant.id) == before + 1

    async def test_across_the_filter_is_refused_before_any_batch_is_written(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(usage, "active_ids", active_ids_of({SeatKind.SELF_REGISTRATION: 45, SeatKind.ADMIN: 3}))
        for i in range(12):
            await make_employee(db, world.tenant.id, f"3{i:02}", f"社員 {i}号")
        await db.commit()
        before = await employee_accounts(db, world.tenant.id)
        await sign_in(client, world.admin)
        response = await self.invite(client, {"scope": "filter"})
        assert response.status_code == 400
        assert "追加ID（5ユーザ単位）をあと2パック追加してください。" in html.unescape(response.text)
        assert await employee_accounts(db, world.tenant.id) == before

    async def test_there_is_no_limit_during_the_trial(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(usage, "active_ids", active_ids_of({SeatKind.SELF_REGISTRATION: 500, SeatKind.ADMIN: 3}))
        await set_terms(
            db, world.tenant, status=TenantStatus.TRIAL, trial_ends_on=today_in_japan() + dt.timedelta(days=3)
        )
        person = await make_employee(db, world.tenant.id, "401", "体験 太郎")
        await db.commit()
        await sign_in(client, world.admin)
        assert (await self.invite(client, {"person_id": str(person.id)})).status_code == 200

    async def test_reinstating_a_retired_employee_beyond_the_packs_is_refused_and_nothing_changes(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        person = await make_employee(db, world.tenant.id, "501", "退職 次郎")
        person.retirement_date = dt.date(2024, 3, 31)
        person.retired_at = dt.datetime(2024, 3, 31, tzinfo=dt.UTC)
        account = await db.get(Account, (world.tenant.id, world.employee.account.id))
        assert account is not None
        account.person_id, account.disabled_at = person.id, dt.datetime(2024, 3, 31, tzinfo=dt.UTC)
        await db.commit()
        monkeypatch.setattr(usage, "active_ids", active_ids_of({SeatKind.SELF_REGISTRATION: 50, SeatKind.ADMIN: 3}))
        await sign_in(client, world.admin)
        response = await post_form(client, f"/admin/people/{person.id}/reinstate")
        assert status(response) in (302, 303)
        assert isinstance(response, httpx.Response)
        page = await client.get(response.headers["location"])
        assert "じぶんで登録IDが上限（50）を超えます。" in html.unescape(page.text)
        from tenants.models import Person

        again = await db.get(Person, (world.tenant.id, person.id), populate_existing=True)
        assert again is not None and again.retirement_date == dt.date(2024, 3, 31)
