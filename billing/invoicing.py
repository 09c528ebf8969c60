"""Monthly invoices (issue 13): closing a month, credit notes, the accounting CSV.

- :func:`close_month` writes one invoice per tenant with a non-empty bill (``billing.pricing.bill_for_month``) for a
  month that has ended: tenants in keyset batches of ``BATCH_TENANTS``, a commit per batch (constant memory),
  idempotent (a tenant with an invoice for the month is counted as already closed; the unique constraint
  (tenant_id, month, kind, sequence) makes two runs at once harmless), one operator-log entry per run.
- Invoices are immutable (migration 0024's triggers): :func:`correct_invoice` writes a credit note (適格返還請求書,
  negative lines) and a new invoice with the next sequence, recomputed from the current data.
- Numbers: ``{tenant code}-{YYYYMM}-{sequence:02d}``; a credit note ``CN-`` + the number of the invoice it cancels.
- Dates (JST): ``issued_on`` the day of closing, ``due_on`` the last day of the month after the billed month
  (翌月末), or after ``issued_on``'s month when that would not be later than ``issued_on`` (:func:`due_date`).
- The issuer (運営者) is copied from the single ``BillingProfile`` row; without a registration number nothing is
  issued.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import re
import uuid
import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor, AuditAction, AuditEvent
from app.audit.log import record
from app.db import new_id
from app.tenancy import Tenant, TenantKind
from app.text import today_in_japan
from billing.models import (
    TAX_RATE_PERCENT,
    BillingProfile,
    Invoice,
    InvoiceKind,
    InvoiceLine,
)
from billing.months import month_bounds, month_label
from billing.pricing import Bill, BillLine, bill_for_month
from billing.usage import reconcile
from exchange.encoding import CsvWriter, Unencodable
from exchange.layouts import Column, Kind

BATCH_TENANTS = 100  # tenants closed per transaction
CSV_BATCH = 500  # invoices read and written per CSV chunk
CLOSE_FUNCTION = "月次請求の締め"
CORRECT_FUNCTION = "請求書の訂正"
CREDIT_NOTE_PREFIX = "CN-"
PROFILE_MISSING = "運営者の請求情報（適格請求書発行事業者登録番号など）を設定してください"
NUMBER_CODE_LENGTH = 32 - len(CREDIT_NOTE_PREFIX) - len("-YYYYMM-NN")  # invoices.number is String(32)
MONTH_PATTERN = re.compile(r"(\d{4})-(\d{1,2})")

CSV_COLUMNS = (
    Column("請求書番号", Kind.CODE, "number"),
    Column("種別", Kind.CHOICE, "kind"),
    Column("事業者コード", Kind.CODE, "customer_code"),
    Column("事業者名", Kind.NAME, "customer_name"),
    Column("請求期間", Kind.TEXT, "period"),
    Column("発行日", Kind.DATE, "issued_on"),
    Column("支払期限", Kind.DATE, "due_on"),
    Column("税抜金額", Kind.ORDINAL, "subtotal"),
    Column("消費税", Kind.ORDINAL, "tax"),
    Column("合計", Kind.ORDINAL, "total"),
)


# One lock per month closed in this process (a few per year), per event loop (an asyncio.Lock belongs to one loop).
_CLOSE_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[dt.date, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _close_lock(month: dt.date) -> asyncio.Lock:
    """The lock serialising closes of ``month`` (its first day) within this process (a double-clicked 「締める」)."""
    locks = _CLOSE_LOCKS.setdefault(asyncio.get_running_loop(), {})
    lock = locks.get(month)
    if lock is None:
        lock = locks[month] = asyncio.Lock()
    return lock


class BillingRefused(ValueError):
    """Billing cannot do what was asked; the message (Japanese) says what to change."""


@dataclass(frozen=True, slots=True)
class CloseResult:
    """What closing a month did: invoices written now, and tenants that already had theirs (idempotent)."""

    month: dt.date
    created: int
    already_closed: int


@dataclass(frozen=True, slots=True)
class Issuer:
    """The operator's invoicing details as copied into each invoice."""

    name: str
    registration_number: str
    address: str
    phone: str
    bank_details: str


# --- Small rules ---------------------------------------------------------------------------------------------------


def _end_of_next_month(day: dt.date) -> dt.date:
    _, last = month_bounds(day)
    following = last + dt.timedelta(days=1)
    return following.replace(day=calendar.monthrange(following.year, following.month)[1])


def due_date(month: dt.date, issued_on: dt.date | None = None) -> dt.date:
    """支払期限 (JST date) of an invoice for the billed ``month`` issued on ``issued_on``.

    The last day of the month after the billed month (翌月末); when that is not later than ``issued_on`` (a month
    closed late), the last day of the month after ``issued_on`` instead, so an invoice is never due before (or on
    the day) it is issued. Without ``issued_on``: 翌月末 of ``month``. Rule: issue 13 (tester's report, fix A #5).
    """
    due = _end_of_next_month(month)
    if issued_on is not None and due <= issued_on:
        return _end_of_next_month(issued_on)
    return due


def invoice_number(code: str, month: dt.date, sequence: int, kind: InvoiceKind = InvoiceKind.INVOICE) -> str:
    """請求書番号: ``{code}-{YYYYMM}-{sequence:02d}``, a credit note with ``CN-`` in front.

    The number column holds 32 characters (unique per tenant): a tenant code longer than 19 characters is cut to
    its first 19 (``NUMBER_CODE_LENGTH``), so even a credit note fits.
    """
    number = f"{code[:NUMBER_CODE_LENGTH]}-{month:%Y%m}-{sequence:02d}"
    return CREDIT_NOTE_PREFIX + number if kind is InvoiceKind.CREDIT_NOTE else number


def refuse_open_month(month: dt.date, today: dt.date) -> None:
    """BillingRefused unless ``month`` has ended in Japan by ``today`` (a month is closed from its next day on)."""
    _, last = month_bounds(month)
    if today <= last:
        after = last + dt.timedelta(days=1)
        raise BillingRefused(
            f"{month_label(month)}はまだ終わっていないため締められません。"
            f"{after.year}年{after.month}月{after.day}日以降に実行してください。"
        )


async def issuer(session: AsyncSession) -> Issuer:
    """The operator's invoicing details (the single BillingProfile row). BillingRefused (PROFILE_MISSING) when there
    is none or it has no registration number or name."""
    profile = (await session.execute(select(BillingProfile).limit(1))).scalar_one_or_none()
    if profile is None or not profile.registration_number.strip() or not profile.issuer_name.strip():
        raise BillingRefused(PROFILE_MISSING)
    address = " ".join(
        part for part in (f"〒{profile.postal_code}" if profile.postal_code else "", profile.address) if part
    )
    return Issuer(profile.issuer_name, profile.registration_number, address, profile.phone, profile.bank_details)


def cli_actor(what: str) -> Actor:
    """The audit actor of a billing run started by ``what`` (a login id, or the command line)."""
    return Actor(user_id=None, login_id=what[:64], name=what[:100], role="system", organisation="")


async def _log_operator(session: AsyncSession, actor: str, function: str, detail: dict[str, object]) -> None:
    """An entry in the operator's own chain (as tenants' operator acts are logged); skipped with no operator."""
    operator = await session.execute(select(Tenant.id).where(Tenant.kind == TenantKind.OPERATOR).limit(1))
    operator_id = operator.scalar_one_or_none()
    if operator_id is None:
        return
    event = AuditEvent(
        tenant_id=operator_id,
        action=AuditAction.SETTINGS_CHANGE,
        actor=cli_actor(actor),
        function=function,
        detail=detail,
    )
    await record(session, event)


# --- Writing invoices ----------------------------------------------------------------------------------------------


def _lines(bill_lines: Sequence[BillLine], sign: int) -> list[BillLine]:
    return [BillLine(x.item, x.description, x.quantity, sign * x.unit_price, sign * x.amount) for x in bill_lines]


async def _write(
    session: AsyncSession,
    tenant: Tenant,
    bill: Bill,
    *,
    kind: InvoiceKind,
    sequence: int,
    details: Issuer,
    actor: str,
    today: dt.date,
    corrects: Invoice | None = None,
) -> Invoice:
    """One invoice or credit note and its lines (a credit note's lines and totals: the cancelled invoice's, negated)."""
    invoice_id = new_id()
    lines = list(bill.lines)
    subtotal, tax, total = bill.subtotal, bill.tax, bill.total
    if kind is InvoiceKind.CREDIT_NOTE:
        lines = _lines(lines, -1)
        subtotal, tax, total = -subtotal, -tax, -total
    invoice = Invoice(
        tenant_id=tenant.id,
        id=invoice_id,
        month=bill.month,
        kind=kind,
        sequence=sequence,
        number=invoice_number(tenant.code, bill.month, sequence, kind),
        corrects_id=corrects.id if corrects is not None else None,
        issued_on=today,
        due_on=due_date(bill.month, today),
        period_start=bill.period_start,
        period_end=bill.period_end,
        member=bill.member,
        subtotal=subtotal,
        tax=tax,
        total=total,
        tax_rate_percent=TAX_RATE_PERCENT,
        customer_code=tenant.code,
        customer_name=tenant.name,
        issuer_name=details.name,
        issuer_registration_number=details.registration_number,
        issuer_address=details.address,
        issuer_phone=details.phone,
        bank_details=details.bank_details,
        issued_by=actor[:100],
    )
    session.add(invoice)
    await session.flush()
    for position, line in enumerate(lines, start=1):
        session.add(
            InvoiceLine(
                tenant_id=tenant.id,
                invoice_id=invoice_id,
                position=position,
                item=line.item,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
                tax_rate_percent=TAX_RATE_PERCENT,
            )
        )
    await session.flush()
    return invoice


async def _has_invoice(session: AsyncSession, tenant_id: uuid.UUID, month: dt.date) -> bool:
    statement = select(Invoice.id).where(
        Invoice.tenant_id == tenant_id, Invoice.month == month, Invoice.kind == InvoiceKind.INVOICE
    )
    return (await session.execute(statement.limit(1))).first() is not None


async def _close_tenant(
    session: AsyncSession, tenant: Tenant, month: dt.date, details: Issuer, actor: str, today: dt.date
) -> str:
    """ "created", "closed" (an invoice exists, maybe written by a run at the same time) or "empty"."""
    if await _has_invoice(session, tenant.id, month):
        return "closed"
    try:
        async with session.begin_nested():
            await reconcile(session, tenant.id)
            bill = await bill_for_month(session, tenant, month)
            if not bill.lines:
                return "empty"
            await _write(
                session, tenant, bill, kind=InvoiceKind.INVOICE, sequence=1, details=details, actor=actor, today=today
            )
    except IntegrityError:  # another run wrote this tenant's invoice first
        return "closed"
    return "created"


async def close_month(sessions: async_sessionmaker[AsyncSession], month: dt.date, *, actor: str) -> CloseResult:
    """One invoice per billable tenant for ``month`` (its first day), in batches; closing twice adds nothing.

    ``actor``: who closes (a login id, or "mnvault billing close"), written on the invoices and in the operator's
    log (one entry per run, with the counts). Closes of one month are serialised within the process (an
    ``asyncio.Lock`` per month): parallel requests run one after the other, the later ones find the invoices.
    Raises BillingRefused (Japanese) for a month that has not ended in Japan yet, or when the operator's invoicing
    details (registration number) are not set; another process closing at the same time can still surface as
    ``OperationalError`` (database locked) or ``IntegrityError`` — the caller reports it as a busy close.
    """
    first = month.replace(day=1)
    today = today_in_japan()
    refuse_open_month(first, today)
    async with _close_lock(first):
        return await _close_month_locked(sessions, first, actor=actor, today=today)


async def _close_month_locked(
    sessions: async_sessionmaker[AsyncSession], first: dt.date, *, actor: str, today: dt.date
) -> CloseResult:
    async with sessions() as session:
        details = await issuer(session)
    counts = {"created": 0, "closed": 0, "empty": 0}
    after: uuid.UUID | None = None
    while True:
        async with sessions() as session:
            statement = select(Tenant).where(Tenant.kind == TenantKind.COMPANY).order_by(Tenant.id)
            if after is not None:
                statement = statement.where(Tenant.id > after)
            tenants = list((await session.execute(statement.limit(BATCH_TENANTS))).scalars())
            if not tenants:
                break
            for tenant in tenants:
                counts[await _close_tenant(session, tenant, first, details, actor, today)] += 1
            await session.commit()
            after = tenants[-1].id
    async with sessions() as session:
        detail: dict[str, object] = {"event": "billing_month_closed", "month": f"{first:%Y-%m}", **counts}
        await _log_operator(session, actor, CLOSE_FUNCTION, detail)
        await session.commit()
    return CloseResult(first, counts["created"], counts["closed"])


@dataclass(frozen=True, slots=True)
class CorrectionPreview:
    """What correcting an invoice would do: the invoice and its lines as issued, and the month recomputed now
    (``recomputed.lines`` empty: nothing billable now, only the credit note would be issued)."""

    invoice: Invoice
    lines: list[InvoiceLine]
    recomputed: Bill


async def _correctable(
    session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID
) -> tuple[Invoice, list[InvoiceLine]]:
    """The invoice and its lines when it can be corrected: LookupError (another tenant's or an unknown id),
    BillingRefused for a credit note or an invoice already cancelled."""
    original, lines = await invoice_with_lines(session, tenant_id, invoice_id)
    if original.kind is not InvoiceKind.INVOICE:
        raise BillingRefused("適格返還請求書（取消）は訂正できません。訂正する請求書を選んでください。")
    cancelled = await session.execute(
        select(Invoice.id).where(Invoice.tenant_id == tenant_id, Invoice.corrects_id == original.id).limit(1)
    )
    if cancelled.first() is not None:
        raise BillingRefused(f"請求書 {original.number} はすでに取り消されています。最新の請求書を訂正してください。")
    return original, lines


async def preview_correction(session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID) -> CorrectionPreview:
    """What :func:`correct_invoice` would issue for ``invoice_id`` of ``tenant_id``, without writing anything.

    Same errors as :func:`correct_invoice`: LookupError (→ 404) for an id the tenant has no invoice under,
    BillingRefused (Japanese) for a credit note or an invoice already cancelled.
    """
    original, lines = await _correctable(session, tenant_id, invoice_id)
    tenant = (await session.execute(select(Tenant).where(Tenant.id == tenant_id))).scalar_one()
    return CorrectionPreview(original, lines, await bill_for_month(session, tenant, original.month))


async def cancelled_among(session: AsyncSession, invoices: Sequence[Invoice]) -> set[uuid.UUID]:
    """The ids of ``invoices`` (one page) already cancelled by a credit note: one query on the page's ids."""
    ids = [invoice.id for invoice in invoices if invoice.kind is InvoiceKind.INVOICE]
    if not ids:
        return set()
    months = {invoice.month for invoice in invoices}  # a credit note is of its invoice's month (ix_invoices_month)
    tenants = {invoice.tenant_id for invoice in invoices}
    statement = select(Invoice.corrects_id).where(
        Invoice.month.in_(months), Invoice.tenant_id.in_(tenants), Invoice.corrects_id.in_(ids)
    )
    found = await session.execute(statement)
    return {corrects for corrects in found.scalars() if corrects is not None}


async def correct_invoice(
    session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID, actor: str
) -> tuple[Invoice, Invoice | None]:
    """Cancel an issued invoice with a credit note (its lines negated, ``corrects_id`` set) and issue the month's
    invoice again with the next sequence, recomputed from the current data (None when nothing is billable now).

    In the caller's transaction. LookupError for an id the tenant has no invoice under (→ 404); BillingRefused
    for a credit note, an invoice already cancelled, or a missing issuer profile.
    """
    original, lines = await _correctable(session, tenant_id, invoice_id)
    details = await issuer(session)
    tenant = (await session.execute(select(Tenant).where(Tenant.id == tenant_id))).scalar_one()
    today = today_in_japan()
    issued = Bill(
        original.month,
        original.period_start,
        original.period_end,
        original.member,
        tuple(BillLine(x.item, x.description, x.quantity, x.unit_price, x.amount) for x in lines),
        original.subtotal,
        original.tax,
        original.total,
    )
    credit = await _write(
        session,
        tenant,
        issued,
        kind=InvoiceKind.CREDIT_NOTE,
        sequence=original.sequence,
        details=details,
        actor=actor,
        today=today,
        corrects=original,
    )
    bill = await bill_for_month(session, tenant, original.month)
    reissued = None
    if bill.lines:
        sequence = original.sequence + 1
        reissued = await _write(
            session,
            tenant,
            bill,
            kind=InvoiceKind.INVOICE,
            sequence=sequence,
            details=details,
            actor=actor,
            today=today,
        )
    detail: dict[str, object] = {
        "event": "invoice_corrected",
        "tenant_id": str(tenant.id),
        "tenant_name": tenant.name,
        "cancelled": original.number,
        "credit_note": credit.number,
        "reissued": reissued.number if reissued is not None else "",
    }
    await _log_operator(session, actor, CORRECT_FUNCTION, detail)
    return credit, reissued


# --- Reading invoices ----------------------------------------------------------------------------------------------


async def tenant_invoices(session: AsyncSession, tenant_id: uuid.UUID, *, limit: int = 240) -> list[Invoice]:
    """A tenant's invoices and credit notes, newest month first (within a month: by sequence, the invoice before
    its credit note); at most ``limit`` (a few per month: 20 years by default)."""
    statement = (
        select(Invoice)
        .where(Invoice.tenant_id == tenant_id)
        .order_by(Invoice.month.desc(), Invoice.sequence.desc(), Invoice.kind.desc())
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def invoice_with_lines(
    session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID
) -> tuple[Invoice, list[InvoiceLine]]:
    """One invoice of the tenant and its lines; LookupError when the tenant has no such invoice (→ 404)."""
    invoice = (
        await session.execute(select(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.id == invoice_id))
    ).scalar_one_or_none()
    if invoice is None:
        raise LookupError("請求書が見つかりません。")
    lines = await session.execute(
        select(InvoiceLine)
        .where(InvoiceLine.tenant_id == tenant_id, InvoiceLine.invoice_id == invoice_id)
        .order_by(InvoiceLine.position)
    )
    return invoice, list(lines.scalars())


async def month_invoice(
    session: AsyncSession, tenant_id: uuid.UUID, month: dt.date
) -> tuple[Invoice, list[InvoiceLine]] | None:
    """The tenant's current invoice for ``month`` (the highest sequence), with its lines; None before closing."""
    statement = (
        select(Invoice.id)
        .where(Invoice.tenant_id == tenant_id, Invoice.month == month.replace(day=1))
        .where(Invoice.kind == InvoiceKind.INVOICE)
        .order_by(Invoice.sequence.desc())
        .limit(1)
    )
    found = (await session.execute(statement)).scalar_one_or_none()
    return None if found is None else await invoice_with_lines(session, tenant_id, found)


def _slash(day: dt.date) -> str:
    return f"{day:%Y/%m/%d}"


def _csv_row(invoice: Invoice) -> list[str]:
    return [
        invoice.number,
        invoice.kind.label,
        invoice.customer_code,
        invoice.customer_name,
        f"{_slash(invoice.period_start)}〜{_slash(invoice.period_end)}",
        _slash(invoice.issued_on),
        _slash(invoice.due_on),
        str(invoice.subtotal),
        str(invoice.tax),
        str(invoice.total),
    ]


async def month_csv(session: AsyncSession, month: dt.date) -> AsyncIterator[bytes]:
    """Every invoice and credit note of ``month`` as cp932 CSV for accounting, in chunks (constant memory).

    A header row, then one row per invoice (請求書番号, 種別, 事業者コード, 事業者名, 請求期間, 発行日, 支払期限,
    税抜金額, 消費税, 合計), CRLF, in keyset batches over (tenant, invoice id) on ``ix_invoices_month``. The project's
    cp932 rules (``exchange.encoding``): Windows forms, a character cp932 cannot hold written as 〓, typed cells
    neutralised against CSV injection.
    """
    first = month.replace(day=1)
    writer = CsvWriter(CSV_COLUMNS, unencodable=Unencodable.REPLACE)
    yield writer.start()
    after: tuple[uuid.UUID, uuid.UUID] | None = None
    while True:
        statement = select(Invoice).where(Invoice.month == first).order_by(Invoice.tenant_id, Invoice.id)
        if after is not None:
            statement = statement.where(tuple_(Invoice.tenant_id, Invoice.id) > tuple_(*after))
        invoices = list((await session.execute(statement.limit(CSV_BATCH))).scalars())
        if not invoices:
            break
        yield writer.write([_csv_row(invoice) for invoice in invoices])
        after = (invoices[-1].tenant_id, invoices[-1].id)
        if len(invoices) < CSV_BATCH:
            break


__all__ = [
    "BATCH_TENANTS",
    "CLOSE_FUNCTION",
    "PROFILE_MISSING",
    "BillingRefused",
    "CloseResult",
    "CorrectionPreview",
    "Issuer",
    "cancelled_among",
    "close_month",
    "correct_invoice",
    "due_date",
    "invoice_number",
    "invoice_with_lines",
    "issuer",
    "month_csv",
    "month_invoice",
    "preview_correction",
    "refuse_open_month",
    "tenant_invoices",
]
