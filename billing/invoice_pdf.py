"""The invoice PDF (issue 13): 請求書 / 適格返還請求書 in Japanese with reportlab.

Everything printed comes from the invoice's own rows (the issuer, the customer and the amounts were copied in when
it was issued and never change), so a reprint shows what was issued. The items a qualified invoice must carry
(インボイス制度, 消費税法第57条の4): the issuer's name and 登録番号, the date, the items, the amount per tax rate
with the rate, the tax per rate, and the customer's name. A credit note (適格返還請求書) names the invoice it
cancels. Text goes through ``app.pdf.pdf_text`` and the embedded Noto Sans JP subset, so names beyond cp932
(𠮷, 髙, 﨑) print as stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer, Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.pdf import CONTENT_WIDTH, build_pdf, japanese_date, pdf_text, styles, table_style
from app.workers import DOCUMENTS, run_in_worker
from billing.models import Invoice, InvoiceKind, InvoiceLine

INVOICE_TITLE = "請求書"
CREDIT_NOTE_TITLE = "適格返還請求書"
_HEADER_BACKGROUND = colors.HexColor("#e8eef5")
_LINE_HEADER = ("品目", "数量", "単価", "金額")
_LINE_WIDTHS = (0.52, 0.12, 0.18, 0.18)


def yen(amount: int) -> str:
    """Whole yen with thousands separators: 12,345円 (negative on a credit note: -1,650円)."""
    return f"{amount:,}円"


def invoice_title(invoice: Invoice) -> str:
    """請求書, or 適格返還請求書 for a credit note."""
    return CREDIT_NOTE_TITLE if invoice.kind is InvoiceKind.CREDIT_NOTE else INVOICE_TITLE


def invoice_pdf(invoice: Invoice, lines: Sequence[InvoiceLine], *, cancels_number: str = "") -> bytes:
    """The PDF (A4, embedded Noto Sans JP) of an issued invoice or credit note, from its own immutable rows.

    ``lines``: the invoice's lines (printed by ``position``); ``cancels_number``: for a credit note, the 請求書番号
    of the invoice it cancels (:func:`render_invoice` looks it up). Amounts are yen as stored (tax-exclusive lines,
    ``subtotal``, ``tax`` and ``total``); dates are JST days. Raises nothing of its own.
    """
    style = styles()
    story: list[Flowable] = [Paragraph(invoice_title(invoice), style["title"]), Spacer(1, 6 * mm)]
    story.append(_heading_block(invoice, cancels_number))
    story += [Spacer(1, 6 * mm), _amount_due(invoice), Spacer(1, 5 * mm)]
    story += [_lines_table(lines), Spacer(1, 3 * mm), _totals_table(invoice), Spacer(1, 6 * mm)]
    story += _payment(invoice)
    return build_pdf(
        story,
        title=f"{invoice_title(invoice)} {invoice.number}",
        author=invoice.issuer_name,
        subject=f"{invoice_title(invoice)}（{invoice.customer_name} 御中）",
    )


def _cell_styles() -> tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle]:
    style = styles()
    cell = ParagraphStyle("invoice-cell", parent=style["small"], fontSize=9.5, leading=13)
    number = ParagraphStyle("invoice-number", parent=cell, alignment=TA_RIGHT)
    head = ParagraphStyle("invoice-head", parent=style["label"], fontSize=9.5, leading=13)
    return cell, number, head


def _heading_block(invoice: Invoice, cancels_number: str) -> Table:
    """Left: the customer (御中) and the period; right: number, date and the issuer with its 登録番号."""
    style = styles()
    left: list[Flowable] = [
        Paragraph(pdf_text(f"{invoice.customer_name} 御中"), style["addressee"]),
        Spacer(1, 3 * mm),
        Paragraph(
            pdf_text(f"請求期間　{japanese_date(invoice.period_start)}〜{japanese_date(invoice.period_end)}"),
            style["body"],
        ),
    ]
    if invoice.kind is InvoiceKind.CREDIT_NOTE:
        statement = "下記の請求書を取り消し、次のとおり返還いたします。"
        if cancels_number:
            left.append(Paragraph(pdf_text(f"取消対象の請求書番号　{cancels_number}"), style["body"]))
    else:
        statement = "下記のとおりご請求申し上げます。"
    left.append(Paragraph(statement, style["body"]))
    right: list[Flowable] = [
        Paragraph(pdf_text(f"請求書番号　{invoice.number}"), style["small"]),
        Paragraph(pdf_text(f"発行日　{japanese_date(invoice.issued_on)}"), style["small"]),
        Spacer(1, 3 * mm),
        Paragraph(pdf_text(invoice.issuer_name), style["strong"]),
    ]
    for text in (invoice.issuer_address, f"電話　{invoice.issuer_phone}" if invoice.issuer_phone else ""):
        if text:
            right.append(Paragraph(pdf_text(text), style["small"]))
    right.append(Paragraph(pdf_text(f"登録番号　{invoice.issuer_registration_number}"), style["small"]))
    table = Table([[left, right]], colWidths=[CONTENT_WIDTH * 0.56, CONTENT_WIDTH * 0.44])
    table.setStyle(table_style([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _amount_due(invoice: Invoice) -> Table:
    style = styles()
    label = "ご返還金額（税込）" if invoice.kind is InvoiceKind.CREDIT_NOTE else "ご請求金額（税込）"
    value = ParagraphStyle("invoice-due", parent=style["addressee"], alignment=TA_RIGHT)
    table = Table(
        [[Paragraph(label, style["heading"]), Paragraph(pdf_text(yen(invoice.total)), value)]],
        colWidths=[CONTENT_WIDTH * 0.3, CONTENT_WIDTH * 0.3],
        hAlign="LEFT",
    )
    table.setStyle(
        table_style([("LINEBELOW", (0, 0), (-1, 0), 1, colors.black), ("VALIGN", (0, 0), (-1, -1), "BOTTOM")])
    )
    return table


def _lines_table(lines: Sequence[InvoiceLine]) -> Table:
    cell, number, head = _cell_styles()
    data: list[list[Flowable]] = [[Paragraph(text, head) for text in _LINE_HEADER]]
    for line in sorted(lines, key=lambda row: row.position):
        data.append(
            [
                Paragraph(pdf_text(line.description), cell),
                Paragraph(f"{line.quantity:,}", number),
                Paragraph(yen(line.unit_price), number),
                Paragraph(yen(line.amount), number),
            ]
        )
    if len(data) == 1:
        data.append(
            [Paragraph("（明細なし）", cell), Paragraph("", number), Paragraph("", number), Paragraph("", number)]
        )
    table = Table(data, colWidths=[CONTENT_WIDTH * w for w in _LINE_WIDTHS], repeatRows=1)
    table.setStyle(
        table_style(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("BACKGROUND", (0, 0), (-1, 0), _HEADER_BACKGROUND),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def _totals_table(invoice: Invoice) -> Table:
    """The amounts per tax rate, as a qualified invoice states them: 10%対象 小計, 消費税, 合計."""
    _, number, head = _cell_styles()
    rate = invoice.tax_rate_percent
    rows = [
        (f"{rate}%対象 小計（税抜）", yen(invoice.subtotal)),
        (f"消費税（{rate}%）", yen(invoice.tax)),
        ("合計（税込）", yen(invoice.total)),
    ]
    data = [[Paragraph(label, head), Paragraph(value, number)] for label, value in rows]
    table = Table(data, colWidths=[CONTENT_WIDTH * 0.26, CONTENT_WIDTH * 0.18], hAlign="RIGHT")
    table.setStyle(
        table_style(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("BACKGROUND", (0, 0), (0, -1), _HEADER_BACKGROUND),
            ]
        )
    )
    return table


def _payment(invoice: Invoice) -> list[Flowable]:
    style = styles()
    if invoice.kind is InvoiceKind.CREDIT_NOTE:
        return [Paragraph("返還の方法は別途ご連絡いたします。", style["body"])]
    story: list[Flowable] = [
        Paragraph(pdf_text(f"支払期限　{japanese_date(invoice.due_on)}"), style["strong"]),
        Spacer(1, 2 * mm),
        Paragraph("振込先", style["label"]),
    ]
    for text in (invoice.bank_details or "（振込先は別途ご連絡いたします）").splitlines():
        if text.strip():
            story.append(Paragraph(pdf_text(text), style["body"]))
    story.append(Paragraph("振込手数料はご負担くださいますようお願いいたします。", style["small"]))
    return story


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    """An invoice PDF ready to download: the bytes and the file name (請求書_<番号>.pdf)."""

    pdf: bytes
    filename: str
    invoice: Invoice


async def render_invoice(session: AsyncSession, invoice: Invoice, lines: Sequence[InvoiceLine]) -> InvoiceDocument:
    """The PDF of ``invoice`` laid out in the documents worker; a credit note's cancelled number looked up first.

    ``invoice`` and ``lines`` as ``billing.invoicing.invoice_with_lines`` returns them (the caller has checked the
    tenant). Raises nothing of its own.
    """
    cancels = await _cancelled_number(session, invoice.tenant_id, invoice.corrects_id)
    # reportlab holds the GIL: laid out in the documents worker (one at a time), the loop keeps serving.
    pdf = await run_in_worker(DOCUMENTS, _render, invoice, list(lines), cancels, releasing=session)
    return InvoiceDocument(pdf=pdf, filename=f"{invoice_title(invoice)}_{invoice.number}.pdf", invoice=invoice)


def _render(invoice: Invoice, lines: list[InvoiceLine], cancels: str) -> bytes:
    return invoice_pdf(invoice, lines, cancels_number=cancels)


async def _cancelled_number(session: AsyncSession, tenant_id: uuid.UUID, corrects_id: uuid.UUID | None) -> str:
    if corrects_id is None:
        return ""
    statement = select(Invoice.number).where(Invoice.tenant_id == tenant_id, Invoice.id == corrects_id)
    return (await session.execute(statement)).scalar_one_or_none() or ""
