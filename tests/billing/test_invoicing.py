"""Closing a month (issue 13): one invoice per billable tenant, idempotent, immutable, corrected by a credit note;
the accounting CSV in cp932; a tenant reaches only its own invoices."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import billing.invoicing as invoicing
from app.config import Settings
from app.db import make_engine
from app.tenancy import Tenant
from app.text import today_in_japan as jst_today
from billing.invoicing import (
    CLOSE_FUNCTION,
    PROFILE_MISSING,
    BillingRefused,
    close_month,
    correct_invoice,
    invoice_with_lines,
    month_csv,
    tenant_invoices,
)
from billing.models import DEFAULT_PRICES, BillingProfile, Invoice, InvoiceKind, PriceList
from billing.months import BadMonth, parse_month
from billing.pricing import bill_for_month
from tests.support.audit import entries
from tests.support.world import World

OCT = dt.date(2026, 10, 1)
ACTOR = "operator"


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings.effective_database_url, pool_size=2)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def set_contracts(db: AsyncSession, world: World) -> None:
    """acme: non-member from 2026-10-01 (initial fee + base); other: member from 2026-09-15 (base only in Oct)."""
    await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(contract_starts_on=OCT, is_member=False))
    await db.execute(
        update(Tenant)
        .where(Tenant.id == world.other_tenant.id)
        .values(contract_starts_on=dt.date(2026, 9, 15), is_member=True, name="よその会社𠮷田株式会社")
    )
    await db.commit()


async def set_profile(db: AsyncSession, registration_number: str = "T1234567890123") -> None:
    db.add(
        BillingProfile(
            issuer_name="マイナンバー保管サービス株式会社",
            postal_code="100-0001",
            address="東京都千代田区千代田1-1",
            phone="03-0000-0000",
            registration_number=registration_number,
            bank_details="みずほ銀行 本店 普通 1234567",
        )
    )
    await db.commit()


async def invoices_of_month(db: AsyncSession, month: dt.date) -> list[Invoice]:
    statement = select(Invoice).where(Invoice.month == month).order_by(Invoice.number)
    return list((await db.execute(statement.execution_options(populate_existing=True))).scalars())


@pytest.fixture
async def closed(db: AsyncSession, world: World, sessions: async_sessionmaker[AsyncSession]) -> list[Invoice]:
    await set_contracts(db, world)
    await set_profile(db)
    result = await close_month(sessions, OCT, actor=ACTOR)
    assert (result.created, result.already_closed) == (2, 0)
    return await invoices_of_month(db, OCT)


def test_invoice_numbers_fit_their_column() -> None:
    assert invoicing.invoice_number("acme", OCT, 1) == "acme-202610-01"
    assert invoicing.invoice_number("acme", OCT, 2, InvoiceKind.CREDIT_NOTE) == "CN-acme-202610-02"
    longest = invoicing.invoice_number("x" * 32, OCT, 99, InvoiceKind.CREDIT_NOTE)
    assert len(longest) == 32 and longest.startswith("CN-" + "x" * 19 + "-202610-")


def test_an_invoice_is_due_at_the_end_of_the_next_month_and_never_before_it_is_issued() -> None:
    sep, oct_end, nov_end = dt.date(2026, 9, 1), dt.date(2026, 10, 31), dt.date(2026, 11, 30)
    assert invoicing.due_date(sep, dt.date(2026, 10, 1)) == oct_end
    assert invoicing.due_date(sep, dt.date(2026, 10, 30)) == oct_end
    assert invoicing.due_date(sep, oct_end) == nov_end  # due on the day of issue: the month after the issue
    assert invoicing.due_date(sep, dt.date(2026, 12, 1)) == dt.date(2027, 1, 31)  # closed late
    assert invoicing.due_date(dt.date(2026, 12, 1), dt.date(2027, 1, 5)) == dt.date(2027, 1, 31)
    assert invoicing.due_date(dt.date(2026, 11, 1), dt.date(2027, 1, 31)) == dt.date(2027, 2, 28)


async def test_a_month_closed_late_is_due_after_its_issue(
    db: AsyncSession, world: World, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(contract_starts_on=dt.date(2026, 9, 1)))
    await db.commit()
    await set_profile(db)
    monkeypatch.setattr(invoicing, "today_in_japan", lambda: dt.date(2026, 12, 1))
    await close_month(sessions, dt.date(2026, 9, 1), actor=ACTOR)
    (september,) = await invoices_of_month(db, dt.date(2026, 9, 1))
    assert (september.issued_on, september.due_on) == (dt.date(2026, 12, 1), dt.date(2027, 1, 31))


async def test_parallel_closes_of_one_month_run_one_after_the_other(
    db: AsyncSession, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await set_contracts(db, world)
    await set_profile(db)
    results = await asyncio.gather(*(close_month(sessions, OCT, actor=ACTOR) for _ in range(5)))
    assert sorted((r.created, r.already_closed) for r in results) == [(0, 2)] * 4 + [(2, 0)]
    assert len(await invoices_of_month(db, OCT)) == 2


async def test_the_initial_fee_is_charged_once_even_when_the_contract_start_moves_back(
    db: AsyncSession, closed: list[Invoice], world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    acme = closed[0]
    sep = dt.date(2026, 9, 1)
    await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(contract_starts_on=sep))
    await db.commit()
    await close_month(sessions, sep, actor=ACTOR)
    september = [i for i in await invoices_of_month(db, sep) if i.tenant_id == world.tenant.id]
    _, lines = await invoice_with_lines(db, world.tenant.id, september[0].id)
    assert [line.item for line in lines] == ["base"]
    # Once October's invoice (with the fee) is cancelled by a credit note, the month of the start carries it again.
    _, reissued = await correct_invoice(db, world.tenant.id, acme.id, ACTOR)
    await db.commit()
    assert reissued is not None
    _, reissued_lines = await invoice_with_lines(db, world.tenant.id, reissued.id)
    assert [line.item for line in reissued_lines] == ["base"]  # the start (Sep) is not in October
    tenant = await db.get(Tenant, world.tenant.id, populate_existing=True)
    assert tenant is not None
    assert [line.item for line in (await bill_for_month(db, tenant, sep)).lines] == ["initial_fee", "base"]


def test_a_month_is_written_yyyy_mm() -> None:
    assert parse_month("2026-10") == OCT
    for bad in ("2026/10", "2026-13", "10-2026", ""):
        with pytest.raises(BadMonth, match="2026-11"):
            parse_month(bad)


async def test_closing_needs_the_operators_registration_number(
    db: AsyncSession, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await set_contracts(db, world)
    with pytest.raises(BillingRefused, match=PROFILE_MISSING):
        await close_month(sessions, OCT, actor=ACTOR)
    await set_profile(db, registration_number="")
    with pytest.raises(BillingRefused, match="適格請求書発行事業者登録番号"):
        await close_month(sessions, OCT, actor=ACTOR)
    assert await invoices_of_month(db, OCT) == []


async def test_a_month_that_has_not_ended_is_refused(
    db: AsyncSession, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await set_profile(db)
    with pytest.raises(BillingRefused, match="まだ終わっていない"):
        await close_month(sessions, jst_today().replace(day=1), actor=ACTOR)


async def test_closing_writes_one_invoice_per_billable_tenant(closed: list[Invoice], world: World) -> None:
    acme, other = closed
    assert acme.number == f"{world.tenant.code}-202610-01" and acme.kind is InvoiceKind.INVOICE
    assert (acme.subtotal, acme.tax, acme.total) == (13000, 1300, 14300)  # initial fee + base
    assert acme.issued_on == jst_today() and acme.due_on == invoicing.due_date(OCT, jst_today())
    assert acme.due_on > acme.issued_on
    assert (acme.period_start, acme.period_end) == (OCT, dt.date(2026, 10, 31))
    assert acme.issuer_registration_number == "T1234567890123"
    assert acme.issuer_address == "〒100-0001 東京都千代田区千代田1-1"
    assert acme.customer_name == "アクメ商事株式会社" and acme.issued_by == ACTOR
    assert other.member and (other.subtotal, other.tax, other.total) == (1500, 150, 1650)


async def test_closing_twice_adds_nothing(
    db: AsyncSession, closed: list[Invoice], sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    again = await close_month(sessions, OCT, actor=ACTOR)
    assert (again.created, again.already_closed) == (0, 2)
    assert [i.id for i in await invoices_of_month(db, OCT)] == [i.id for i in closed]
    logged = [e for e in await entries(db, world.operator.tenant.id) if e.function == CLOSE_FUNCTION]
    assert [(e.detail or {}).get("created") for e in logged] == [2, 0]
    assert [(e.detail or {}).get("closed") for e in logged] == [0, 2]


async def test_a_run_at_the_same_time_is_harmless(
    db: AsyncSession,
    closed: list[Invoice],
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def nothing_yet(*_args: object) -> bool:
        return False  # as if another run wrote the invoice after this one looked

    monkeypatch.setattr(invoicing, "_has_invoice", nothing_yet)
    monkeypatch.setattr(invoicing, "BATCH_TENANTS", 1)  # and the tenants one per batch
    again = await close_month(sessions, OCT, actor=ACTOR)
    assert (again.created, again.already_closed) == (0, 2)
    assert len(await invoices_of_month(db, OCT)) == 2


async def test_an_issued_invoice_cannot_be_changed_or_deleted(db: AsyncSession, closed: list[Invoice]) -> None:
    for statement in ("UPDATE invoices SET total = 0", "DELETE FROM invoices", "UPDATE invoice_lines SET amount = 0"):
        with pytest.raises(DBAPIError, match="immutable"):
            await db.execute(text(statement))
        await db.rollback()


async def test_a_price_change_for_the_next_month_leaves_the_closed_month_alone(
    db: AsyncSession, closed: list[Invoice], world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    db.add(PriceList(effective_from=dt.date(2026, 11, 1), changed_by=ACTOR, **{**DEFAULT_PRICES, "base_monthly": 9000}))
    await db.commit()
    tenant = await db.get(Tenant, world.tenant.id, populate_existing=True)
    assert tenant is not None
    assert (await bill_for_month(db, tenant, OCT)).subtotal == closed[0].subtotal
    assert (await close_month(sessions, OCT, actor=ACTOR)).created == 0
    assert [i.total for i in await invoices_of_month(db, OCT)] == [i.total for i in closed]


async def test_a_correction_is_a_credit_note_and_a_new_invoice(
    db: AsyncSession, closed: list[Invoice], world: World
) -> None:
    acme = closed[0]
    await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(is_member=True))
    await db.commit()
    credit, reissued = await correct_invoice(db, world.tenant.id, acme.id, ACTOR)
    await db.commit()
    assert credit.kind is InvoiceKind.CREDIT_NOTE and credit.corrects_id == acme.id
    assert credit.number == f"CN-{acme.number}"
    assert (credit.subtotal, credit.tax, credit.total) == (-13000, -1300, -14300)
    _, credit_lines = await invoice_with_lines(db, world.tenant.id, credit.id)
    assert [line.amount for line in credit_lines] == [-10000, -3000]
    assert reissued is not None and reissued.number == f"{world.tenant.code}-202610-02"
    assert (reissued.subtotal, reissued.tax, reissued.total) == (6500, 650, 7150)  # member prices now
    with pytest.raises(BillingRefused, match="すでに取り消されています"):
        await correct_invoice(db, world.tenant.id, acme.id, ACTOR)
    with pytest.raises(BillingRefused, match="訂正できません"):
        await correct_invoice(db, world.tenant.id, credit.id, ACTOR)
    listed = await tenant_invoices(db, world.tenant.id)
    assert [i.number for i in listed] == [reissued.number, acme.number, credit.number]


async def test_a_tenant_reaches_only_its_own_invoices(db: AsyncSession, closed: list[Invoice], world: World) -> None:
    acme, other = closed
    invoice, lines = await invoice_with_lines(db, world.tenant.id, acme.id)
    assert invoice.id == acme.id and [line.item for line in lines] == ["initial_fee", "base"]
    with pytest.raises(LookupError):
        await invoice_with_lines(db, world.tenant.id, other.id)
    with pytest.raises(LookupError):
        await correct_invoice(db, world.tenant.id, other.id, ACTOR)
    assert [i.id for i in await tenant_invoices(db, world.tenant.id)] == [acme.id]


async def test_the_accounting_csv_is_cp932_with_the_totals(db: AsyncSession, closed: list[Invoice]) -> None:
    data = b"".join([chunk async for chunk in month_csv(db, OCT)])
    assert b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("cp932"), newline="")))
    assert rows[0] == [
        "請求書番号",
        "種別",
        "事業者コード",
        "事業者名",
        "請求期間",
        "発行日",
        "支払期限",
        "税抜金額",
        "消費税",
        "合計",
    ]
    by_number = {row[0]: row for row in rows[1:]}
    acme = by_number[closed[0].number]
    assert acme[1] == "請求書" and acme[3] == "アクメ商事株式会社"
    assert acme[4] == "2026/10/01～2026/10/31"  # 〜 as Windows writes it
    assert acme[6] == f"{invoicing.due_date(OCT, jst_today()):%Y/%m/%d}"
    assert acme[7:] == ["13000", "1300", "14300"]
    other = by_number[closed[1].number]
    assert other[3] == "よその会社〓田株式会社"  # 𠮷 is not in cp932: the project's rule writes 〓
    assert other[9] == "1650"
    assert len(rows) == 3


async def test_a_month_without_invoices_is_a_header_only(db: AsyncSession, world: World) -> None:
    data = b"".join([chunk async for chunk in month_csv(db, dt.date(2020, 1, 1))])
    assert data.decode("cp932").count("\r\n") == 1
