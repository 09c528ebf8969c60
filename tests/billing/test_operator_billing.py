"""The operator's billing pages: dashboard, 請求 (months, invoices, CSV, PDFs), 請求情報, 料金表.

Where a test asks for ``stand_ins``, ``billing.invoicing``'s reading and closing are replaced by small stand-ins
(rows arranged directly), so it checks the pages and their guards; the invoicing rules are in test_invoicing.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import AuditAction
from app.auth import sessions as sessions_module
from app.config import Settings
from app.tenancy import Tenant, TenantStatus
from app.text import today_in_japan
from app.vault import Vault
from billing import invoicing, usage
from billing.invoicing import CloseResult
from billing.models import (
    DEFAULT_PRICES,
    BillingProfile,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    PriceList,
    SeatKind,
)
from billing.months import month_key, next_month, previous_month
from billing.operator import registration_number
from billing.reports import active_ids_in_month
from tests.billing.test_billing_cli import active_contract
from tests.billing.test_invoicing import set_profile
from tests.support.audit import entries
from tests.support.cards import hides
from tests.support.people import give_number, make_employee, valid_my_number
from tests.support.world import World, csrf_token, post_form, sign_in, step_up

VALID_REGISTRATION = "T7000012050002"  # 7000012050002 passes the corporate-number check digit
PROFILE = {
    "issuer_name": "運営商工会議所",
    "postal_code": "100-0001",
    "address": "東京都千代田区千代田1-1",
    "phone": "03-1234-5678",
    "registration_number": VALID_REGISTRATION,
    "bank_details": "○○銀行 本店 普通 1234567\nカ）ウンエイ",
}
OPERATOR_PATHS = [
    "/operator/dashboard",
    "/operator/billing",
    "/operator/billing/2026-11",
    "/operator/billing/profile",
    "/operator/billing/prices",
]


def this_month() -> dt.date:
    return today_in_japan().replace(day=1)


async def add_invoice(
    db: AsyncSession,
    tenant: Tenant,
    month: dt.date,
    *,
    kind: InvoiceKind = InvoiceKind.INVOICE,
    subtotal: int = 10_000,
    corrects: Invoice | None = None,
) -> Invoice:
    tax = subtotal // 10
    suffix = "C" if kind is InvoiceKind.CREDIT_NOTE else ""
    invoice = Invoice(
        tenant_id=tenant.id,
        month=month,
        kind=kind,
        sequence=1,
        number=f"{tenant.code}-{month:%Y%m}-{suffix}1",
        corrects_id=corrects.id if corrects is not None else None,
        issued_on=next_month(month),
        due_on=next_month(month) + dt.timedelta(days=30),
        period_start=month,
        period_end=next_month(month) - dt.timedelta(days=1),
        member=True,
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
        customer_code=tenant.code,
        customer_name=tenant.name,
        issuer_name="運営商工会議所",
        issuer_registration_number=VALID_REGISTRATION,
        issuer_address="東京都千代田区千代田1-1",
        issuer_phone="03-1234-5678",
        bank_details="○○銀行 本店 普通 1234567",
    )
    db.add(invoice)
    await db.flush()
    db.add(
        InvoiceLine(
            tenant_id=tenant.id,
            invoice_id=invoice.id,
            position=1,
            item="base",
            description="基本料金",
            quantity=1,
            unit_price=subtotal,
            amount=subtotal,
        )
    )
    await db.commit()
    return invoice


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> list[dt.date]:
    """billing.invoicing's invoice reading and CSV replaced by direct queries; closing records the months asked for."""
    closed: list[dt.date] = []

    async def invoice_with_lines(
        session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID
    ) -> tuple[Invoice, list[InvoiceLine]]:
        invoice = (
            await session.execute(select(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.id == invoice_id))
        ).scalar_one_or_none()
        if invoice is None:
            raise LookupError(invoice_id)
        lines = (
            await session.execute(
                select(InvoiceLine).where(InvoiceLine.tenant_id == tenant_id, InvoiceLine.invoice_id == invoice_id)
            )
        ).scalars()
        return invoice, list(lines)

    async def month_csv(session: AsyncSession, month: dt.date) -> AsyncIterator[bytes]:
        yield "請求書番号,事業者,合計\r\n".encode("cp932")
        for row in (await session.execute(select(Invoice).where(Invoice.month == month))).scalars():
            yield f"{row.number},{row.customer_name},{row.total}\r\n".encode("cp932")

    async def close_month(sessions: async_sessionmaker[AsyncSession], month: dt.date, *, actor: str) -> CloseResult:
        closed.append(month)
        async with sessions() as session:
            found = (await session.execute(select(Invoice).where(Invoice.month == month))).scalars().first()
        return CloseResult(month=month, created=0 if found else 2, already_closed=2 if found else 0)

    monkeypatch.setattr(invoicing, "invoice_with_lines", invoice_with_lines)
    monkeypatch.setattr(invoicing, "month_csv", month_csv)
    monkeypatch.setattr(invoicing, "close_month", close_month)
    return closed


# Guards ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["admin", "handler", "viewer", "employee"])
async def test_only_the_operator_reaches_the_billing_pages(
    client: AsyncTestClient[Litestar], world: World, persona: str
) -> None:
    await sign_in(client, getattr(world, persona))
    for path in OPERATOR_PATHS:
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 403, path
    refused = await post_form(client, "/operator/billing/prices", {})
    assert refused.status_code == 403  # type: ignore[attr-defined]


async def test_anonymous_visitors_are_sent_to_sign_in(client: AsyncTestClient[Litestar], world: World) -> None:
    for path in OPERATOR_PATHS:
        response = await client.get(path, follow_redirects=False)
        assert response.status_code in (302, 303), path
        assert response.headers["location"].startswith("/login")


async def test_the_operator_sees_every_billing_page_and_the_navigation(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await sign_in(client, world.operator)
    for path in OPERATOR_PATHS:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert 'href="/operator/dashboard"' in response.text
        assert 'href="/operator/billing"' in response.text


# 請求情報 -------------------------------------------------------------------------------------------------------------


def test_the_registration_number_is_t_and_a_checked_corporate_number() -> None:
    assert registration_number(VALID_REGISTRATION) == VALID_REGISTRATION
    assert registration_number("Ｔ７０００－０１２０－５０００２") == VALID_REGISTRATION  # full-width, hyphens
    assert registration_number("t 7000012050002") == VALID_REGISTRATION


async def test_the_operator_saves_the_profile_and_the_change_is_logged(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.operator)
    response = await post_form(client, "/operator/billing/profile", {**PROFILE, "postal_code": "１０００００１"})
    assert response.status_code in (302, 303), response.text  # type: ignore[attr-defined]
    profile = (await db.execute(select(BillingProfile))).scalar_one()
    assert profile.registration_number == VALID_REGISTRATION
    assert profile.postal_code == "100-0001"
    assert profile.bank_details.startswith("○○銀行")
    logged = await entries(db, world.operator.tenant.id, AuditAction.SETTINGS_CHANGE)
    assert logged[-1].function == "請求情報の変更"
    assert "registration_number" in logged[-1].detail["fields"]
    assert "7000012050002" not in str(logged[-1].detail)
    again = await client.get("/operator/billing/profile")
    assert VALID_REGISTRATION in again.text
    # A second save updates the one row.
    response = await post_form(client, "/operator/billing/profile", {**PROFILE, "phone": "03-9999-0000"})
    assert response.status_code in (302, 303)  # type: ignore[attr-defined]
    rows = (await db.execute(select(BillingProfile))).scalars().all()
    assert len(rows) == 1


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("T1000012050002", "チェックデジット"),  # wrong check digit
        ("7000012050002", "「T」に続けて"),  # the T is missing
        ("T700001205000", "13桁"),  # one digit short
        ("", "登録番号を入力してください"),
    ],
)
async def test_a_wrong_registration_number_is_explained_and_nothing_is_saved(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, typed: str, message: str
) -> None:
    await sign_in(client, world.operator)
    response = await post_form(client, "/operator/billing/profile", {**PROFILE, "registration_number": typed})
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert message in response.text  # type: ignore[attr-defined]
    assert 'value="運営商工会議所"' in response.text  # type: ignore[attr-defined]
    assert (await db.execute(select(BillingProfile))).scalar_one_or_none() is None


async def test_every_missing_profile_field_gets_its_own_japanese_error(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await sign_in(client, world.operator)
    response = await post_form(
        client,
        "/operator/billing/profile",
        {"postal_code": "12-34", "phone": "電話", "registration_number": "T7000012050002"},
    )
    assert response.status_code == 400  # type: ignore[attr-defined]
    for message in ("請求元の名称を入力してください", "所在地を入力してください", "振込先を入力してください"):
        assert message in response.text  # type: ignore[attr-defined]
    assert "郵便番号は7桁" in response.text  # type: ignore[attr-defined]
    assert "電話番号は半角数字" in response.text  # type: ignore[attr-defined]


# 料金表 ---------------------------------------------------------------------------------------------------------------


def price_post(**changes: str) -> dict[str, str]:
    return {**{name: str(value) for name, value in DEFAULT_PRICES.items()}, **changes}


async def default_price_list(db: AsyncSession) -> None:
    """Migration 0024's first list (PostgreSQL's per-test truncation empties it; SQLite copies keep it)."""
    if (await db.execute(select(PriceList))).scalars().first() is None:
        db.add(PriceList(effective_from=dt.date(2000, 1, 1), changed_by="初期設定", **DEFAULT_PRICES))
        await db.commit()


async def test_a_price_change_applies_from_next_month_and_replaces_only_a_list_not_in_force(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await default_price_list(db)
    await sign_in(client, world.operator)
    response = await post_form(client, "/operator/billing/prices", price_post(base_monthly="3,500円"))
    assert response.status_code in (302, 303), response.text  # type: ignore[attr-defined]
    lists = (await db.execute(select(PriceList).order_by(PriceList.effective_from))).scalars().all()
    assert [p.effective_from for p in lists] == [dt.date(2000, 1, 1), next_month(this_month())]
    assert lists[0].base_monthly == 3_000  # the list in force never changes
    assert lists[1].base_monthly == 3_500
    # Saving again before it is in force replaces the scheduled list.
    response = await post_form(client, "/operator/billing/prices", price_post(base_monthly="３６００"))
    assert response.status_code in (302, 303)  # type: ignore[attr-defined]
    fresh = select(PriceList).order_by(PriceList.effective_from).execution_options(populate_existing=True)
    lists = (await db.execute(fresh)).scalars().all()
    assert len(lists) == 2 and lists[1].base_monthly == 3_600
    page = await client.get("/operator/billing/prices")
    assert "3,000円" in page.text and "3,600円" in page.text
    logged = await entries(db, world.operator.tenant.id, AuditAction.SETTINGS_CHANGE)
    assert logged[-1].function == "料金表の変更"
    assert logged[-1].detail["changes"] == {"base_monthly": [3_500, 3_600]}


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("pack_monthly", "", "を入力してください"),
        ("pack_monthly", "-1", "円単位の整数"),
        ("pack_monthly", "12.5", "円単位の整数"),
        ("pack_monthly", "10000001", "0〜10,000,000円の範囲"),
        ("pack_monthly", "五百", "円単位の整数"),
    ],
)
async def test_a_wrong_price_is_explained_and_nothing_is_saved(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, field: str, typed: str, message: str
) -> None:
    await default_price_list(db)
    await sign_in(client, world.operator)
    response = await post_form(client, "/operator/billing/prices", price_post(**{field: typed}))
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert message in response.text  # type: ignore[attr-defined]
    assert "じぶんで登録ID 5ユーザ追加 月額（非会員）" in response.text  # type: ignore[attr-defined]
    assert len((await db.execute(select(PriceList))).scalars().all()) == 1


# 請求 -----------------------------------------------------------------------------------------------------------------


async def test_the_months_page_sums_invoices_and_credit_notes(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    month = previous_month(this_month())
    cancelled = await add_invoice(db, world.tenant, month, subtotal=10_000)
    await add_invoice(db, world.tenant, month, kind=InvoiceKind.CREDIT_NOTE, subtotal=-10_000, corrects=cancelled)
    await add_invoice(db, world.other_tenant, month, subtotal=2_500)
    await sign_in(client, world.operator)
    page = await client.get("/operator/billing")
    assert page.status_code == 200
    assert f"{month.year}年{month.month:02d}月分を締める" in page.text
    assert "2,750円" in page.text  # 11,000 − 11,000 + 2,750
    detail = await client.get(f"/operator/billing/{month_key(month)}")
    assert detail.status_code == 200
    assert cancelled.number in detail.text and "よその会社株式会社" in detail.text
    assert f"/operator/billing/invoices/{world.tenant.id}/{cancelled.id}.pdf" in detail.text


async def test_a_bad_month_gets_a_japanese_400_page(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.operator)
    for path in ("/operator/billing/2026-13", "/operator/billing/november", "/operator/billing/2026-1/csv"):
        response = await client.get(path)
        assert response.status_code == 400, path
        assert "月の指定が正しくありません" in response.text


async def test_the_close_button_closes_the_previous_month_and_says_what_happened(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, stand_ins: list[dt.date]
) -> None:
    month = previous_month(this_month())
    await sign_in(client, world.operator)
    response = await post_form(client, "/operator/billing/close", {"month": month_key(month)})
    assert response.status_code in (302, 303)  # type: ignore[attr-defined]
    assert response.headers["location"] == f"/operator/billing/{month_key(month)}"  # type: ignore[attr-defined]
    page = await client.get(response.headers["location"])  # type: ignore[attr-defined]
    assert "請求書を2件作成しました" in page.text
    await add_invoice(db, world.tenant, month)
    await post_form(client, "/operator/billing/close", {"month": month_key(month)})
    page = await client.get(f"/operator/billing/{month_key(month)}")
    assert "締め済みです" in page.text
    assert stand_ins == [month, month]


async def test_the_current_month_cannot_be_closed(
    client: AsyncTestClient[Litestar], world: World, stand_ins: list[dt.date]
) -> None:
    await sign_in(client, world.operator)
    response = await post_form(client, "/operator/billing/close", {"month": month_key(this_month())})
    assert response.status_code in (302, 303)  # type: ignore[attr-defined]
    page = await client.get("/operator/billing")
    assert "まだ締められません" in page.text
    assert stand_ins == []


async def test_the_close_button_closes_the_month_once(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    month = previous_month(this_month())
    await sign_in(client, world.operator)
    refused = await post_form(client, "/operator/billing/close", {"month": month_key(month)})
    assert refused.status_code in (302, 303)  # type: ignore[attr-defined]
    assert "運営者の請求情報" in (await client.get("/operator/billing")).text  # not a 500: what to set first
    await active_contract(db, world)
    await set_profile(db)
    response = await post_form(client, "/operator/billing/close", {"month": month_key(month)})
    assert response.status_code in (302, 303)  # type: ignore[attr-defined]
    assert "請求書を1件作成しました" in (await client.get("/operator/billing")).text
    again = await post_form(client, "/operator/billing/close", {"month": month_key(month)})
    assert again.status_code in (302, 303)  # type: ignore[attr-defined]
    page = await client.get(f"/operator/billing/{month_key(month)}")
    assert "締め済みです" in page.text and f"{world.tenant.code}-{month:%Y%m}-01" in page.text


async def test_the_month_csv_is_cp932_named_by_the_month_and_logged(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, stand_ins: list[dt.date]
) -> None:
    month = previous_month(this_month())
    await add_invoice(db, world.tenant, month)
    await sign_in(client, world.operator)
    response = await client.get(f"/operator/billing/{month_key(month)}/csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=Shift_JIS"
    assert f"{month:%Y%m}" in response.headers["content-disposition"]
    assert response.headers["content-disposition"].startswith("attachment")
    text = response.content.decode("cp932")
    assert "アクメ商事株式会社" in text and "11000" in text
    logged = await entries(db, world.operator.tenant.id, AuditAction.CSV_EXPORT)
    assert logged[-1].detail["month"] == month_key(month)


async def test_the_operator_downloads_an_invoice_pdf(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, stand_ins: list[dt.date]
) -> None:
    invoice = await add_invoice(db, world.tenant, previous_month(this_month()), subtotal=12_250)
    await sign_in(client, world.operator)
    response = await client.get(f"/operator/billing/invoices/{world.tenant.id}/{invoice.id}.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    for expected in (VALID_REGISTRATION, "アクメ商事株式会社", "10%対象", "12,250円", "1,225円", "13,475円"):
        assert expected in text, expected


async def test_an_invoice_pdf_under_another_tenant_or_an_unknown_id_is_not_found(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, stand_ins: list[dt.date]
) -> None:
    invoice = await add_invoice(db, world.tenant, previous_month(this_month()))
    await sign_in(client, world.operator)
    for path in (
        f"/operator/billing/invoices/{world.other_tenant.id}/{invoice.id}.pdf",  # another tenant's id in the URL
        f"/operator/billing/invoices/{world.tenant.id}/{uuid.uuid4()}.pdf",
        f"/operator/billing/invoices/{world.tenant.id}/{invoice.id}",  # no .pdf
        f"/operator/billing/invoices/not-an-id/{invoice.id}.pdf",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path


async def test_an_admin_cannot_download_even_its_own_invoice_here(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, stand_ins: list[dt.date]
) -> None:
    invoice = await add_invoice(db, world.tenant, previous_month(this_month()))
    await sign_in(client, world.admin)
    response = await client.get(f"/operator/billing/invoices/{world.tenant.id}/{invoice.id}.pdf")
    assert response.status_code == 403


# Dashboard ------------------------------------------------------------------------------------------------------------


async def test_the_dashboard_shows_statuses_trials_and_two_svg_charts(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    today = today_in_japan()
    trial = Tenant(code="soon", name="もうすぐ終了株式会社", status=TenantStatus.TRIAL, trial_ends_on=today)
    later = Tenant(
        code="later", name="まだ先株式会社", status=TenantStatus.TRIAL, trial_ends_on=today + dt.timedelta(8)
    )
    db.add_all([trial, later])
    await db.commit()
    await add_invoice(db, world.tenant, previous_month(this_month()), subtotal=20_000)
    await sign_in(client, world.operator)
    response = await client.get("/operator/dashboard")
    assert response.status_code == 200
    text = response.text
    assert "契約中" in text and "無料体験中" in text
    assert "もうすぐ終了株式会社" in text and "まだ先株式会社" not in text
    assert text.count("<svg") >= 2 and text.count('role="img"') >= 2
    assert "<title" in text and "表で見る" in text
    assert "22,000円" in text  # the revenue of the previous month
    assert "<script" not in text


async def test_active_ids_per_month_sum_each_tenants_peak(world: World, db: AsyncSession) -> None:
    """The dashboard's one aggregate equals the sum of each company's billed peak (billing.usage.month_peak)."""
    month = this_month()
    before = previous_month(month)
    kind = SeatKind.SELF_REGISTRATION
    await usage.ids_changed(db, world.tenant.id, kind, 6, day=before + dt.timedelta(days=1))
    await usage.ids_changed(db, world.tenant.id, kind, -2, day=before + dt.timedelta(days=2))
    await usage.ids_changed(db, world.other_tenant.id, kind, 9, day=month)
    await db.commit()
    for each in (before, month):
        expected = 0
        for tenant_id in (world.tenant.id, world.other_tenant.id):
            expected += await usage.month_peak(db, tenant_id, kind, each)
        assert await active_ids_in_month(db, each) == expected
    assert await usage.month_peak(db, world.other_tenant.id, kind, before) < await usage.month_peak(
        db, world.other_tenant.id, kind, month
    )


async def test_the_operator_never_sees_a_number_on_the_billing_pages(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings, stand_ins: list[dt.date]
) -> None:
    vault = Vault.from_settings(settings)
    person = await make_employee(db, world.tenant.id, "E001", "番号 太郎", kana="バンゴウ タロウ")
    number = valid_my_number(3)
    await give_number(db, vault, person, number)
    await db.commit()
    await vault.close()
    invoice = await add_invoice(db, world.tenant, previous_month(this_month()))
    await sign_in(client, world.operator)
    month = month_key(previous_month(this_month()))
    for path in (*OPERATOR_PATHS, f"/operator/billing/{month}", f"/operator/billing/{month}/csv"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert hides(response.text, number) and number[-2:].rjust(12, "*") not in response.text, path
        assert "番号 太郎" not in response.text, path
    pdf = await client.get(f"/operator/billing/invoices/{world.tenant.id}/{invoice.id}.pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert hides(text, number)


async def test_a_double_clicked_close_never_answers_500(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    month = previous_month(this_month())
    await active_contract(db, world)
    await set_profile(db)
    await sign_in(client, world.operator)
    token = await csrf_token(client)
    data = {"month": month_key(month), "_csrf_token": token}
    answers = await asyncio.gather(
        *(client.post("/operator/billing/close", data=data, follow_redirects=False) for _ in range(5))
    )
    assert [a.status_code in (302, 303) for a in answers] == [True] * 5, [a.status_code for a in answers]
    found = await db.execute(select(Invoice).where(Invoice.month == month, Invoice.tenant_id == world.tenant.id))
    assert len(list(found.scalars())) == 1


@pytest.mark.parametrize(
    "error",
    [OperationalError("INSERT", {}, Exception("database is locked")), IntegrityError("INSERT", {}, Exception())],
)
async def test_a_close_running_elsewhere_is_a_flash_not_a_500(
    client: AsyncTestClient[Litestar], world: World, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    async def busy(*_args: object, **_kwargs: object) -> CloseResult:
        raise error

    monkeypatch.setattr(invoicing, "close_month", busy)
    month = previous_month(this_month())
    await sign_in(client, world.operator)
    response = await post_form(client, "/operator/billing/close", {"month": month_key(month)})
    assert response.status_code in (302, 303)  # type: ignore[attr-defined]
    assert response.headers["location"] == f"/operator/billing/{month_key(month)}"  # type: ignore[attr-defined]
    page = await client.get(response.headers["location"])  # type: ignore[attr-defined]
    assert "別の締め処理が実行中です。しばらくしてから結果を確認してください。" in page.text


async def test_another_database_error_while_closing_is_not_hidden(
    client: AsyncTestClient[Litestar], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> CloseResult:
        raise OperationalError("SELECT", {}, Exception("no such table: invoices"))

    monkeypatch.setattr(invoicing, "close_month", broken)
    await sign_in(client, world.operator)
    response = await post_form(client, "/operator/billing/close", {"month": month_key(previous_month(this_month()))})
    assert response.status_code == 500  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("referer", "back"),
    [
        ("http://testserver.local/operator/billing?x=1", "/operator/billing?x=1"),
        (None, "/operator/tenants"),  # the operator's home
        ("https://evil.example/operator/billing", "/operator/tenants"),
    ],
)
async def test_a_stale_step_up_on_a_post_comes_back_to_the_form_not_the_post_path(
    client: AsyncTestClient[Litestar],
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    stand_ins: list[dt.date],
    referer: str | None,
    back: str,
) -> None:
    await sign_in(client, world.operator)
    real_now = sessions_module.now_ts
    monkeypatch.setattr(sessions_module, "now_ts", lambda: real_now() + 6 * 60)  # the sign-in's step-up is stale
    data = {"month": month_key(previous_month(this_month())), "_csrf_token": await csrf_token(client)}
    headers = {"referer": referer} if referer else {}
    stale = await client.post("/operator/billing/close", data=data, headers=headers, follow_redirects=False)
    assert stale.status_code in (302, 303)
    assert stale.headers["location"] == f"/reauth?next={quote(back, safe='')}"
    await step_up(client, world.operator, back)
    assert (await client.get(back, follow_redirects=False)).status_code in (200, 302, 303)
    assert stand_ins == []


async def closed_month_with_invoice(db: AsyncSession, world: World) -> tuple[dt.date, Invoice]:
    """A real close of the previous month for an active acme (initial fee + base), then acme becomes a member."""
    month = previous_month(this_month())
    await active_contract(db, world)
    await set_profile(db)
    engine_sessions = async_sessionmaker(db.bind, expire_on_commit=False)
    assert (await invoicing.close_month(engine_sessions, month, actor="operator")).created == 1
    await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(is_member=True))
    await db.commit()
    found = await db.execute(select(Invoice).where(Invoice.tenant_id == world.tenant.id, Invoice.month == month))
    return month, found.scalar_one()


async def test_the_operator_corrects_an_invoice_from_the_month_page(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    month, invoice = await closed_month_with_invoice(db, world)
    await sign_in(client, world.operator)
    page = await client.get(f"/operator/billing/{month_key(month)}")
    confirm_path = f"/operator/billing/invoices/{world.tenant.id}/{invoice.id}/correct"
    assert f'href="{confirm_path}"' in page.text and "訂正（取消して再発行）" in page.text
    confirm = await client.get(confirm_path)
    assert confirm.status_code == 200
    assert invoice.number in confirm.text and "現在の請求書" in confirm.text and "計算し直した請求書" in confirm.text
    assert f"{invoice.total:,}円" in confirm.text and "差額" in confirm.text
    assert await invoicing.tenant_invoices(db, world.tenant.id) == [invoice]  # the confirmation writes nothing
    done = await post_form(client, confirm_path)
    assert done.status_code in (302, 303)  # type: ignore[attr-defined]
    assert done.headers["location"] == f"/operator/billing/{month_key(month)}"  # type: ignore[attr-defined]
    after = await client.get(done.headers["location"])  # type: ignore[attr-defined]
    code = world.tenant.code
    assert f"適格返還請求書 CN-{invoice.number} を発行しました" in after.text
    assert f"{code}-{month:%Y%m}-02" in after.text and "取消済み" in after.text
    assert f'href="{confirm_path}"' not in after.text
    numbers = [i.number for i in await invoicing.tenant_invoices(db, world.tenant.id)]
    assert sorted(numbers) == sorted([invoice.number, f"CN-{invoice.number}", f"{code}-{month:%Y%m}-02"])
    again = await post_form(client, confirm_path)  # the same (now cancelled) invoice: refused, not a 500
    assert again.status_code in (302, 303)  # type: ignore[attr-defined]
    assert "すでに取り消されています" in (await client.get(f"/operator/billing/{month_key(month)}")).text
    assert len(await invoicing.tenant_invoices(db, world.tenant.id)) == 3


async def test_a_correction_under_another_tenants_id_is_not_found(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    _, invoice = await closed_month_with_invoice(db, world)
    await sign_in(client, world.operator)
    for tenant_id, invoice_id in [
        (world.other_tenant.id, invoice.id),
        (world.tenant.id, uuid.uuid4()),
        (world.tenant.id, "not-an-id"),
    ]:
        path = f"/operator/billing/invoices/{tenant_id}/{invoice_id}/correct"
        assert (await client.get(path)).status_code == 404, path
        assert (await post_form(client, path)).status_code == 404, path  # type: ignore[attr-defined]
    assert len(await invoicing.tenant_invoices(db, world.tenant.id)) == 1


async def test_a_correction_needs_a_recent_step_up_and_comes_back_to_its_confirmation(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, invoice = await closed_month_with_invoice(db, world)
    await sign_in(client, world.operator)
    path = f"/operator/billing/invoices/{world.tenant.id}/{invoice.id}/correct"
    real_now = sessions_module.now_ts
    monkeypatch.setattr(sessions_module, "now_ts", lambda: real_now() + 6 * 60)
    data = {"_csrf_token": await csrf_token(client)}
    referer = {"referer": f"http://testserver.local{path}"}
    stale = await client.post(path, data=data, headers=referer, follow_redirects=False)
    assert stale.status_code in (302, 303)
    assert stale.headers["location"] == f"/reauth?next={quote(path, safe='')}"
    assert len(await invoicing.tenant_invoices(db, world.tenant.id)) == 1
    await step_up(client, world.operator, path)
    assert (await client.get(path)).status_code == 200
    assert (await post_form(client, path)).status_code in (302, 303)  # type: ignore[attr-defined]
    assert len(await invoicing.tenant_invoices(db, world.tenant.id)) == 3
