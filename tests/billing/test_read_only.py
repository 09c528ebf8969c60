"""The read-only rule (issue 13): a trial past its end day, and an ended contract not yet erased, leave sign-in,
lists, exports and deletion working and refuse every other change (pages: back with a flash; API: 403 problem)."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account
from app.db import utcnow
from app.tenancy import Tenant, TenantStatus
from app.text import today_in_japan
from billing.contract import ModeKind, tenant_mode
from billing.readonly import still_allowed
from tenants.models import Person
from tests.support.api import bearer, make_token
from tests.support.people import make_employee
from tests.support.world import World, csrf_token, sign_in

TRIAL_OVER = "無料体験期間が終了しました。閲覧・出力・削除のみご利用いただけます。ご契約は運営者へお申し込みください。"


def refused_with(page: str, message: str = TRIAL_OVER) -> bool:
    """Whether the page carries the refusal's flash (the banner repeats the message on every admin page)."""
    return f'flash-warning" role="status">{message}' in page


async def set_terms(db: AsyncSession, tenant: Tenant, **values: object) -> None:
    row = await db.get(Tenant, tenant.id, populate_existing=True)
    assert row is not None
    for key, value in values.items():
        setattr(row, key, value)
    await db.commit()


async def end_trial(db: AsyncSession, world: World) -> None:
    await set_terms(db, world.tenant, status=TenantStatus.TRIAL, trial_ends_on=today_in_japan() - dt.timedelta(days=1))


async def end_contract(db: AsyncSession, world: World) -> dt.date:
    ended = today_in_japan() - dt.timedelta(days=3)
    await set_terms(db, world.tenant, status=TenantStatus.ENDED, contract_ends_on=ended)
    return ended


async def post(
    client: AsyncTestClient[Litestar], path: str, data: dict[str, str] | None = None, **kw: object
) -> httpx.Response:
    payload = {"_csrf_token": await csrf_token(client), **(data or {})}
    return await client.post(path, data=payload, follow_redirects=False, **kw)  # type: ignore[arg-type]


async def people_count(db: AsyncSession, world: World) -> int:
    statement = select(func.count()).select_from(Person).where(Person.tenant_id == world.tenant.id)
    return int((await db.execute(statement)).scalar_one())


class TestTheRule:
    def test_a_trial_is_normal_until_its_last_day_and_read_only_after(self) -> None:
        last = dt.date(2026, 12, 31)
        during = tenant_mode(TenantStatus.TRIAL, last, None, today=last, grace_days=30)
        assert during.kind is ModeKind.NORMAL
        assert during.banner == "無料体験期間 残り1日（2026/12/31 まで）"
        after = tenant_mode(TenantStatus.TRIAL, last, None, today=last + dt.timedelta(days=1), grace_days=30)
        assert after.read_only and after.refusal == TRIAL_OVER

    def test_an_ended_contract_is_read_only_with_its_grace_deadline(self) -> None:
        ended = tenant_mode(TenantStatus.ENDED, None, dt.date(2026, 11, 30), today=dt.date(2026, 12, 1), grace_days=30)
        assert ended.kind is ModeKind.ENDED
        assert ended.refusal == (
            "契約が終了しました（2026/11/30）。2026/12/30 までにデータの出力と削除証明書の取得を行ってください。"
        )
        past_end = tenant_mode(
            TenantStatus.ACTIVE, None, dt.date(2026, 11, 30), today=dt.date(2026, 12, 1), grace_days=30
        )
        assert past_end.kind is ModeKind.ENDED
        assert not tenant_mode(
            TenantStatus.ACTIVE, None, dt.date(2026, 12, 1), today=dt.date(2026, 12, 1), grace_days=30
        ).read_only

    @pytest.mark.parametrize(
        "path",
        [
            "/login",
            "/logout",
            "/account/password",
            "/account/totp",
            "/reauth",
            "/admin/exports/download",
            "/admin/erasure",
            "/admin/erasure/confirm",
            "/admin/erasure/records/x/certificate",
            "/admin/deletions/x/due",
            "/admin/log/download",
            "/admin/numbers/x/reveal",
            "/api/v1/numbers:read",
        ],
    )
    def test_these_changes_stay_allowed(self, path: str) -> None:
        assert still_allowed(path)

    @pytest.mark.parametrize(
        "path",
        [
            "/admin/people/new",
            "/admin/invitations",
            "/admin/imports",
            "/admin/settings",
            "/admin/accounts",
            "/me/number",
            "/api/v1/people",
            "/admin/numbers/x/register",
            "/admin/contract/packs",
            "/admin/exportsx",
        ],
    )
    def test_every_other_change_is_refused(self, path: str) -> None:
        assert not still_allowed(path)


class TestAfterTheTrial:
    async def test_sign_in_still_works_and_the_banner_says_why(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
    ) -> None:
        await end_trial(db, world)
        await sign_in(client, world.admin)
        page = await client.get("/admin")
        assert page.status_code == 200
        assert TRIAL_OVER in page.text

    async def test_a_form_post_goes_back_with_a_flash_and_writes_nothing(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
    ) -> None:
        await end_trial(db, world)
        await sign_in(client, world.admin)
        before = await people_count(db, world)
        referer = "http://testserver.local/admin/people/new"
        response = await post(
            client, "/admin/people/new", {"name": "新人 太郎", "employee_code": "999"}, headers={"referer": referer}
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/people/new"
        page = await client.get("/admin/people/new")
        assert refused_with(page.text)
        assert await people_count(db, world) == before

    async def test_a_foreign_referer_is_not_followed(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
    ) -> None:
        await end_trial(db, world)
        await sign_in(client, world.admin)
        response = await post(client, "/admin/settings", headers={"referer": "https://evil.example/x"})
        assert response.status_code == 303
        assert response.headers["location"] == "/admin"

    async def test_an_import_is_refused(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
    ) -> None:
        await end_trial(db, world)
        await sign_in(client, world.admin)
        token = await csrf_token(client)
        files = {"file": ("people.csv", "社員番号,氏名\n1,山田 太郎\n".encode("cp932"), "text/csv")}
        response = await client.post("/admin/imports", data={"_csrf_token": token}, files=files, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/admin"

    async def test_the_employee_sees_a_notice_and_cannot_register(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
    ) -> None:
        person = await make_employee(db, world.tenant.id, "001", "社員 一郎")
        employee = await db.get(Account, (world.tenant.id, world.employee.account.id))
        assert employee is not None
        employee.person_id = person.id
        await db.commit()
        await end_trial(db, world)
        await sign_in(client, world.employee)
        notice = await client.get("/me", follow_redirects=True)
        assert "現在、マイナンバーの新しい登録・変更はできません。" in notice.text
        await post(client, "/me/notice", {"purposes_acknowledged": "on"})
        home = await client.get("/me")
        assert home.status_code == 200
        assert "現在、マイナンバーの新しい登録・変更はできません。" in home.text
        response = await post(client, "/me/number", {"number": "123456789018"})
        assert response.status_code == 303
        assert response.headers["location"] == "/me"

    async def test_an_api_write_is_a_403_problem_in_japanese(
        self, app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
    ) -> None:
        token = await make_token(db, app.state["vault"], world.tenant)
        await end_trial(db, world)
        response = await client.post(
            "/api/v1/people", json={"kind": "payee", "name": "取引 先子"}, headers=bearer(token)
        )
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["detail"] == TRIAL_OVER
        listing = await client.get("/api/v1/people", headers=bearer(token))
        assert listing.status_code == 200

    async def test_exports_and_erasure_are_not_refused(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
    ) -> None:
        await end_trial(db, world)
        await sign_in(client, world.admin)
        for path in ("/admin/exports/download", "/admin/erasure/confirm", "/admin/log/download"):
            response = await post(client, path)
            follow = await client.get(response.headers["location"]) if response.status_code in (302, 303) else response
            assert response.status_code != 303 or not refused_with(follow.text), path

    async def test_other_tenants_are_unaffected(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
    ) -> None:
        await end_trial(db, world)
        await sign_in(client, world.other_admin)
        page = await client.get("/admin")
        assert TRIAL_OVER not in page.text


class TestAfterTheContract:
    async def test_an_ended_tenant_signs_in_read_only_until_erased(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
    ) -> None:
        ended = await end_contract(db, world)
        await sign_in(client, world.admin)
        message = f"契約が終了しました（{ended:%Y/%m/%d}）。"
        assert message in (await client.get("/admin")).text
        response = await post(client, "/admin/departments", {"code": "900", "name": "新部門"})
        assert response.status_code == 303
        assert refused_with((await client.get(response.headers["location"])).text, message)

    async def test_an_erased_tenant_cannot_sign_in(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
    ) -> None:
        await end_contract(db, world)
        await set_terms(db, world.tenant, erased_at=utcnow())
        token = await csrf_token(client)
        data = {
            "_csrf_token": token,
            "tenant_code": world.tenant.code,
            "login_id": world.admin.account.login_id,
            "password": world.admin.password,
        }
        response = await client.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 400 or response.headers.get("location") == "/login"


async def test_a_payee_link_cannot_register_for_a_read_only_tenant(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    await end_trial(db, world)
    path = f"/p/{world.tenant.code}/sometoken"
    response = await post(client, path, {"number": "123456789018"})
    assert response.status_code == 303
    assert response.headers["location"] == path
    other = await post(client, f"/p/{world.other_tenant.code}/sometoken", {"number": "123456789018"})
    assert other.status_code != 303 or other.headers["location"] != f"/p/{world.other_tenant.code}/sometoken"
