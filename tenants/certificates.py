"""削除証明書 (deletion certificate): a PDF, from the deletion records, for one person or a period (seed 000).

Layout of the seed: the title, 「以下のとおり特定個人情報を削除したことを証明します。」, a table (処理年月日 in 和暦 and
西暦, 担当者, 理由, 対象者, 結果) that splits across pages with its header repeated, then the issue date and the
tenant's 所在地, 電話番号, 名称 and 代表者. Issuing writes a 印刷 entry (機能名 削除証明書の発行); it can be issued
again at any time, since the records outlive the numbers. Numbers never appear: the records hold none.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Paragraph, Spacer, Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent, Subject
from app.audit.log import record
from app.auth.principal import Principal
from app.auth.scoping import get_scoped, scoped
from app.forms import FormInvalid
from app.pdf import CONTENT_WIDTH, PAGE_WIDTH, REGULAR, build_pdf, pdf_text, styles, table_style
from app.tenancy import Tenant
from app.text import format_date, format_japanese_era, today_in_japan
from app.workers import DOCUMENTS, run_in_worker
from tenants.models import DeletionRecord
from tenants.services import RecordRange, reason_label
from tenants.services._erasure import check_reader

CERTIFICATE_TITLE = "削除証明書"
CERTIFICATE_STATEMENT = "以下のとおり特定個人情報を削除したことを証明します。"
CERTIFICATE_FUNCTION = "削除証明書の発行"
MAX_CERTIFICATE_ROWS = 5000  # a period with more records is refused: issue it in shorter periods
_HEADER = ("処理年月日", "担当者", "理由", "対象者", "結果")
_WIDTHS = (0.21, 0.2, 0.22, 0.27, 0.1)
_HEADER_BACKGROUND = colors.HexColor("#e8eef5")


@dataclass(frozen=True, slots=True)
class Certificate:
    """A certificate ready to download: the PDF and its file name."""

    pdf: bytes
    filename: str
    rows: int


def render_deletion_certificate(records: Sequence[DeletionRecord], tenant: Tenant, issued_on: dt.date) -> bytes:
    """The PDF (A4, embedded Noto Sans JP) for these records, in the order given, issued on a JST date."""
    style = styles()
    cell = ParagraphStyle("cell", parent=style["small"], fontSize=9, leading=12)
    head = ParagraphStyle("head", parent=style["label"], fontSize=9, leading=12)
    story: list[Flowable] = [
        Paragraph(pdf_text(tenant.name), style["small"]),
        Spacer(1, 4 * mm),
        Paragraph(CERTIFICATE_TITLE, style["title"]),
        Spacer(1, 6 * mm),
        Paragraph(CERTIFICATE_STATEMENT, style["body"]),
        Spacer(1, 4 * mm),
    ]
    data: list[list[Flowable]] = [[Paragraph(label, head) for label in _HEADER]]
    for row in records:
        data.append([Paragraph(_cell_markup(text), cell) for text in certificate_row(row)])
    table = Table(data, colWidths=[CONTENT_WIDTH * w for w in _WIDTHS], repeatRows=1)
    table.setStyle(
        table_style(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("BACKGROUND", (0, 0), (-1, 0), _HEADER_BACKGROUND),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story += [
        table,
        Spacer(1, 10 * mm),
        Paragraph(pdf_text(issue_date_line(issued_on)), style["body"]),
        Spacer(1, 6 * mm),
    ]
    for label, value in (
        ("所在地", tenant.address),
        ("電話番号", tenant.phone),
        ("名称", tenant.name),
        ("代表者", tenant.representative),
    ):
        story.append(Paragraph(pdf_text(f"{label}　{value}"), style["body"]))
    return build_pdf(
        story, title=CERTIFICATE_TITLE, author=tenant.name, subject=CERTIFICATE_STATEMENT, on_page=_page_number
    )


def _cell_markup(text: str) -> str:
    """A cell's markup that wraps before a bracketed addition (「（2024/04/01）」, 「（承認：…）」), never inside it."""
    head, bracket, rest = text.partition("（")
    if not head or not bracket:
        return pdf_text(text)
    return f"{pdf_text(head)}<br/>{pdf_text(bracket + rest)}"


def _page_number(canvas: Canvas, document: BaseDocTemplate) -> None:
    """「削除証明書 - n -」 at the foot of every page (a certificate of many rows runs over several)."""
    canvas.saveState()
    canvas.setFont(REGULAR, 8)
    canvas.drawCentredString(PAGE_WIDTH / 2, 8 * mm, f"{CERTIFICATE_TITLE}　- {document.page} -")
    canvas.restoreState()


def certificate_row(row: DeletionRecord) -> tuple[str, str, str, str, str]:
    """The five cells of a record: 処理年月日 (和暦 and 西暦), 担当者 (and the approver), 理由, 対象者, 結果."""
    processed = f"{format_japanese_era(row.erased_at)}（{format_date(row.erased_at)}）"
    handler = row.handler_name + (f"（承認：{row.approver_name}）" if row.approver_name else "")
    return processed, handler, reason_label(row.reason, row.reason_text), row.subject_name, row.result.value


def issue_date_line(day: dt.date) -> str:
    """「発行日　令和…（YYYY/MM/DD）」: the issue line of every certificate (these and billing's tenant-level one)."""
    return f"発行日　{format_japanese_era(day)}（{format_date(day)}）"


async def person_certificate(session: AsyncSession, principal: Principal, record_id: str) -> Certificate:
    """The certificate of the person a record is about (every record of theirs), logged as 印刷.

    NotFoundException for another tenant's or an unknown record; PermissionDeniedException for a viewer.
    """
    check_reader(principal)
    chosen = await get_scoped(session, DeletionRecord, principal, record_id)
    statement = (
        scoped(DeletionRecord, principal)
        .where(DeletionRecord.person_id == chosen.person_id)
        .order_by(DeletionRecord.erased_at, DeletionRecord.id)
        .limit(MAX_CERTIFICATE_ROWS)
    )
    records = list((await session.execute(statement)).scalars())
    subject = Subject(
        person_id=chosen.person_id,
        name=chosen.subject_name,
        department_code=chosen.department_code,
        department_name=chosen.department_name,
        employee_code=chosen.employee_code,
    )
    detail = {"scope": "person", "records": len(records), "record_id": str(chosen.id)}
    tenant = await _tenant(session, principal.tenant_id)
    return await _issue(
        session,
        tenant,
        principal.actor(),
        records,
        subject,
        detail,
        f"削除証明書_{chosen.subject_name.replace(' > ', '・')}",
    )


async def range_certificate(session: AsyncSession, principal: Principal, period: RecordRange) -> Certificate:
    """The certificate of every deletion in a period (JST days), one row per record, logged as 印刷.

    FormInvalid (``from``): no record in the period, or more than ``MAX_CERTIFICATE_ROWS``.
    """
    check_reader(principal)
    tenant = await _tenant(session, principal.tenant_id)
    return await issue_range_certificate(session, tenant, principal.actor(), period)


async def issue_range_certificate(
    session: AsyncSession, tenant: Tenant, actor: Actor, period: RecordRange
) -> Certificate:
    """:func:`range_certificate` for a tenant and actor (the CLI's ``mnvault certificates issue``)."""
    statement = (
        select(DeletionRecord)
        .where(DeletionRecord.tenant_id == tenant.id, *period.clauses())
        .order_by(DeletionRecord.erased_at, DeletionRecord.id)
        .limit(MAX_CERTIFICATE_ROWS + 1)
    )
    records = list((await session.execute(statement)).scalars())
    if not records:
        raise FormInvalid({"from": "この期間の削除記録はありません。期間を確かめてください。"})
    if len(records) > MAX_CERTIFICATE_ROWS:
        raise FormInvalid({"from": f"削除記録が{MAX_CERTIFICATE_ROWS:,}件を超えます。期間を分けて発行してください。"})
    detail = {
        "scope": "range",
        "records": len(records),
        "from": period.start.isoformat() if period.start else None,
        "to": period.end.isoformat() if period.end else None,
    }
    stamp = "_".join(d.strftime("%Y%m%d") for d in (period.start, period.end) if d is not None)
    return await _issue(session, tenant, actor, records, None, detail, f"削除証明書_{stamp or '全期間'}")


async def _issue(
    session: AsyncSession,
    tenant: Tenant,
    actor: Actor,
    records: list[DeletionRecord],
    subject: Subject | None,
    detail: dict[str, object],
    name: str,
) -> Certificate:
    # reportlab holds the GIL: laid out in the documents worker (one at a time), the loop keeps serving.
    pdf = await run_in_worker(
        DOCUMENTS, render_deletion_certificate, records, tenant, today_in_japan(), releasing=session
    )
    event = AuditEvent(
        tenant_id=tenant.id,
        action=AuditAction.PRINT,
        actor=actor,
        function=CERTIFICATE_FUNCTION,
        subject=subject,
        detail=detail,
    )
    await record(session, event)
    return Certificate(pdf=pdf, filename=f"{name}.pdf", rows=len(records))


async def _tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    return (await session.execute(select(Tenant).where(Tenant.id == tenant_id))).scalar_one()
