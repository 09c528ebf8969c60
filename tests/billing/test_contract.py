"""Contracts (issue 13): trials on new tenants, the operator's activation and every contract change recorded, the
契約状況 page with used / included ids and this month's estimate, and invoice PDFs only for their own tenant."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import AuditAction
from app.config import Settings
from app.tenancy import Tenant, TenantStatus
from app.text import today_in_japan
from billing import invoicing, pricing
from billing.invoicing import close_month
from billing.models import ContractChange, ContractChangeKind, Invoice, InvoiceKind, InvoiceLine
from tests.billing.test_invoicing import set_profile
from tests.support.audit import entries
from tests.support.world import World, post_form, sign_in


async def changes(db: AsyncSession, tenant_id: uuid.UUID) -> list[ContractChange]:
    statement = (
        select(ContractChange)
        .where(ContractChange.tenant_id == tenant_id)
        .order_by(ContractChange.changed_at, ContractChange.kind)
        .execution_options(populate_existing=True)
    )
    return list((await db.execute(statement)).scalars())


async def fresh(db: AsyncSession, tenant: Tenant) -> Tenant:
    row = await db.get(Tenant, tenant.id, populate_existing=True)
    assert row is not None
    return row


async def set_terms(db: AsyncSession, tenant: Tenant, **values: object) -> None:
    row = await fresh(db, tenant)
    for key, value in values.items():
        setattr(row, key, value)
    await db.commit()


def location(response: object) -> str:
    assert isinstance(response, httpx.Response)
    assert response.status_code in (302, 303), response.text[:300]
    return response.headers["location"]


class TestTrials:
    async def test_a_new_tenant_starts_its_trial_for_the_configured_days(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
    ) -> None:
        await sign_in(client, world.operator)
        form = {"code": "takara", "name": "宝塚商事株式会社", "status": "trial", "admin_seats": "2"}
        location(await post_form(client, "/operator/tenants/new", form))
        tenant = (await db.execute(select(Tenant).where(Tenant.code == "takara"))).scalar_one()
        assert tenant.status is TenantStatus.TRIAL
        assert tenant.trial_ends_on == today_in_japan() + dt.timedelta(days=settings.trial_days)

    async def test_admins_see_the_days_left_on_every_page(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        ends = today_in_japan() + dt.timedelta(days=9)
        await set_terms(db, world.tenant, status=TenantStatus.TRIAL, trial_ends_on=ends)
        await sign_in(client, world.handler)
        for path in ("/admin", "/admin/people", "/admin/log"):
            page = await client.get(path)
            assert f"無料体験期間 残り10日（{ends:%Y/%m/%d} まで）" in page.text, path

    async def test_the_contract_page_says_there_is_no_limit_during_the_trial(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await set_terms(
            db, world.tenant, status=TenantStatus.TRIAL, trial_ends_on=today_in_japan() + dt.timedelta(days=5)
        )
        await sign_in(client, world.admin)
        page = await client.get("/admin/contract")
        assert page.status_code == 200
        assert "上限なし（無料体験中）" in page.text
        assert "無料体験期間中はすべての機能をご利用いただけます" in page.text


class TestOperatorActivation:
    async def test_activating_writes_a_change_per_field_and_the_operators_log(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await set_terms(
            db, world.tenant, status=TenantStatus.TRIAL, trial_ends_on=today_in_japan() - dt.timedelta(days=1)
        )
        await sign_in(client, world.operator)
        form = {
            "status": "active",
            "contract_starts_on": "",
            "contract_ends_on": "",
            "is_member": "on",
            "verification_enabled": "on",
            "packs": "2",
            "admin_seats": "5",
        }
        path = f"/operator/tenants/{world.tenant.id}"
        assert location(await post_form(client, f"{path}/contract", form)).startswith(path)
        tenant = await fresh(db, world.tenant)
        assert tenant.status is TenantStatus.ACTIVE and tenant.contract_starts_on == today_in_japan()
        assert tenant.is_member and tenant.verification_enabled
        assert (tenant.self_registration_packs, tenant.admin_seats) == (2, 5)
        kinds = {c.kind: (c.old_value, c.new_value) for c in await changes(db, world.tenant.id)}
        assert kinds[ContractChangeKind.STATUS] == ("無料体験中", "契約中")
        assert kinds[ContractChangeKind.PACKS] == ("0", "2")
        assert kinds[ContractChangeKind.ADMIN_SEATS] == ("2", "5")
        assert kinds[ContractChangeKind.MEMBER] == ("なし", "あり")
        assert kinds[ContractChangeKind.VERIFICATION] == ("なし", "あり")
        assert kinds[ContractChangeKind.CONTRACT_START] == ("", f"{today_in_japan():%Y/%m/%d}")
        logged = await entries(db, world.operator.tenant.id, AuditAction.SETTINGS_CHANGE)
        assert logged[-1].function == "契約の変更" and logged[-1].detail["tenant_id"] == str(world.tenant.id)
        page = await client.get(path)
        assert 'id="contract"' in page.text and "契約の変更履歴" in page.text

    async def test_activation_lifts_the_read_only_mode(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await set_terms(
            db, world.tenant, status=TenantStatus.TRIAL, trial_ends_on=today_in_japan() - dt.timedelta(days=1)
        )
        await sign_in(client, world.operator)
        form = {"status": "active", "packs": "0", "admin_seats": "2"}
        location(await post_form(client, f"/operator/tenants/{world.tenant.id}/contract", form))
        admin = httpx.Cookies()
        client.cookies = admin
        await sign_in(client, world.admin)
        page = await client.get("/admin")
        assert "無料体験期間が終了しました" not in page.text

    async def test_a_bad_form_changes_nothing_and_says_what_to_fix(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await sign_in(client, world.operator)
        form = {
            "status": "active",
            "contract_starts_on": "2026/12/01",
            "contract_ends_on": "2026/11/01",
            "packs": "x",
            "admin_seats": "1",
        }
        path = f"/operator/tenants/{world.tenant.id}"
        location(await post_form(client, f"{path}/contract", form))
        page = await client.get(path)
        assert "契約終了日は契約開始日より後の日付を入力してください。" in page.text
        assert "管理者ID数（含まれる2件を含む合計）は2〜1,000の範囲で指定してください" in page.text
        assert await changes(db, world.tenant.id) == []

    async def test_the_tenant_edit_form_and_the_verification_switch_write_changes_too(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await sign_in(client, world.operator)
        path = f"/operator/tenants/{world.tenant.id}"
        form = {"name": world.tenant.name, "status": "suspended", "admin_seats": "3", "is_member": "on"}
        location(await post_form(client, f"{path}/edit", form))
        location(await post_form(client, f"{path}/verification", {"enabled": "yes"}))
        location(await post_form(client, f"{path}/resume"))
        kinds = [(c.kind, c.new_value) for c in await changes(db, world.tenant.id)]
        assert (ContractChangeKind.STATUS, "利用停止") in kinds
        assert (ContractChangeKind.ADMIN_SEATS, "3") in kinds
        assert (ContractChangeKind.MEMBER, "あり") in kinds
        assert (ContractChangeKind.VERIFICATION, "あり") in kinds
        assert (ContractChangeKind.STATUS, "契約中") in kinds

    async def test_another_role_cannot_change_a_contract(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await sign_in(client, world.admin)
        response = await post_form(client, f"/operator/tenants/{world.tenant.id}/contract", {"status": "active"})
        assert isinstance(response, httpx.Response) and response.status_code == 403
        assert await changes(db, world.tenant.id) == []


def fake_bill(tenant: Tenant, month: dt.date) -> pricing.Bill:
    lines = (
        pricing.BillLine("base", "基本料金（会員）", 1, 1500, 1500),
        pricing.BillLine("packs", "追加ID（5ユーザ単位）", 2, 250, 500),
    )
    return pricing.Bill(month, month, month, True, lines, 2000, 200, 2200)


class TestContractPage:
    async def test_it_shows_used_and_included_ids_and_the_estimate(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        seen: dict[str, Any] = {}

        async def bill_for_month(session: Any, tenant: Tenant, month: dt.date, *, until: dt.date | None = None) -> Any:
            seen.update(month=month, until=until)
            return fake_bill(tenant, month)

        monkeypatch.setattr(pricing, "bill_for_month", bill_for_month)
        await set_terms(
            db,
            world.tenant,
            contract_starts_on=today_in_japan().replace(day=1),
            self_registration_packs=2,
            verification_enabled=True,
            admin_seats=5,
            is_member=True,
        )
        await sign_in(client, world.admin)
        page = await client.get("/admin/contract")
        assert page.status_code == 200
        text = page.text
        assert 'id="self-used">1<' in text  # the world's one employee account
        assert "60（基本50 ＋ 5 × 2パック）" in text
        assert 'id="admin-used">3<' in text  # admin, handler, viewer
        assert "5（基本4 ＋ 追加1）" in text
        assert "基本プラン（会員価格）" in text and "本人確認オプション" in text
        assert 'id="estimate-total">2,200円' in text and "消費税（10%）" in text
        assert seen == {"month": today_in_japan().replace(day=1), "until": today_in_japan()}

    @pytest.mark.parametrize("persona", ["handler", "viewer", "employee"])
    async def test_only_admins_reach_it(self, client: AsyncTestClient[Litestar], world: World, persona: str) -> None:
        await sign_in(client, getattr(world, persona))
        assert (await client.get("/admin/contract")).status_code == 403


class TestInvoicePdf:
    async def test_an_admin_downloads_only_its_own_tenants_invoices(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        started = dt.date(2026, 10, 1)
        for tenant in (world.tenant, world.other_tenant):
            await db.execute(
                update(Tenant)
                .where(Tenant.id == tenant.id)
                .values(status=TenantStatus.ACTIVE, contract_starts_on=started)
            )
        await db.commit()
        await set_profile(db)
        await close_month(async_sessionmaker(db.bind, expire_on_commit=False), started, actor="運営者")  # type: ignore[arg-type]
        (own,) = await invoicing.tenant_invoices(db, world.tenant.id)
        (foreign,) = await invoicing.tenant_invoices(db, world.other_tenant.id)
        await sign_in(client, world.admin)
        response = await client.get(f"/admin/contract/invoices/{own.id}.pdf")
        assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
        assert own.number in text and "T1234567890123" in text
        assert (await client.get(f"/admin/contract/invoices/{foreign.id}.pdf")).status_code == 404
        assert (await client.get(f"/admin/contract/invoices/{own.id}.txt")).status_code == 404
        assert (await client.get("/admin/contract/invoices/not-a-uuid.pdf")).status_code == 404

    async def test_the_page_lists_the_tenants_invoices(
        self, client: AsyncTestClient[Litestar], world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        invoice = Invoice(
            id=uuid.uuid4(),
            tenant_id=world.tenant.id,
            month=dt.date(2026, 11, 1),
            kind=InvoiceKind.INVOICE,
            number="ACME-202611-1",
            total=3300,
            due_on=dt.date(2026, 12, 31),
        )

        async def tenant_invoices(session: Any, tenant_id: uuid.UUID) -> list[Invoice]:
            return [invoice] if tenant_id == world.tenant.id else []

        monkeypatch.setattr(invoicing, "tenant_invoices", tenant_invoices)
        await sign_in(client, world.admin)
        page = await client.get("/admin/contract")
        assert "ACME-202611-1" in page.text and "3,300円" in page.text
        assert f"/admin/contract/invoices/{invoice.id}.pdf" in page.text


def test_the_demo_has_an_active_member_contract_and_a_tenant_in_its_trial(settings: Settings) -> None:
    import asyncio

    from app.db import make_engine
    from tests.test_cli import mnvault

    for _ in range(2):  # idempotent
        done = mnvault(settings, "demo")
        assert done.returncode == 0, done.stderr[-2000:]
    assert "無料体験中のデモ事業者" in done.stdout
    trial_block = done.stdout[done.stdout.index("無料体験中のデモ事業者") :]
    assert "従業員" not in trial_block  # the demo company's employee is printed with it, not under the trial one
    assert "運営者の請求情報" in done.stdout
    last_month = (today_in_japan().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    closed = mnvault(settings, "billing", "close", "--month", f"{last_month:%Y-%m}")
    assert closed.returncode == 0, closed.stdout + closed.stderr[-2000:]

    async def read() -> tuple[list[Tenant], int]:
        engine = make_engine(settings.effective_database_url, pool_size=1)
        async with engine.connect() as connection:
            from sqlalchemy.ext.asyncio import AsyncSession as Session

            async with Session(bind=connection) as session:
                found = list(
                    (await session.execute(select(Tenant).where(Tenant.code.in_(["demo", "otameshi"])))).scalars()
                )
                demo = next(t for t in found if t.code == "demo")
                rows = await changes(session, demo.id)
                items = set(
                    (await session.execute(select(InvoiceLine.item).where(InvoiceLine.tenant_id == demo.id))).scalars()
                )
        await engine.dispose()
        assert {"initial_fee", "base", "verification"} <= items  # the option held from the contract's first day
        return found, len(rows)

    found, change_rows = asyncio.run(read())
    tenants = {t.code: t for t in found}
    demo, trial = tenants["demo"], tenants["otameshi"]
    assert demo.status is TenantStatus.ACTIVE and demo.is_member and demo.verification_enabled
    assert demo.contract_starts_on == last_month
    assert change_rows == 5  # status, member, option, start, end: once, not again on the second run
    assert (
        trial.status is TenantStatus.TRIAL
        and trial.trial_ends_on is not None
        and trial.trial_ends_on > today_in_japan()
    )
