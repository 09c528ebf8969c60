"""The tenant-level 削除証明書 (issue 13): proof that a whole tenant was erased at contract end.

Printed from the operator's ``TenantErasure`` record (which outlives the tenant's data), in the layout of the
per-person certificate (``tenants.certificates``): title, statement, a two-column table, the issue date in 和暦 and
西暦, and the issuer — the operator's organisation. Numbers never appear: the record holds only counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer, Table
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent
from app.audit.log import record
from app.pdf import CONTENT_WIDTH, build_pdf, pdf_text, styles, table_style
from app.text import format_date, format_japanese_era, today_in_japan
from app.workers import DOCUMENTS, run_in_worker
from billing.models import TenantErasure
from billing.tenant_erasure import operator_organisation
from tenants.certificates import issue_date_line

TITLE = "削除証明書（契約終了に伴う全データ消去）"
STATEMENT = "以下の事業者の特定個人情報を、契約終了に伴いすべて消去したことを証明します。"
METHOD = (
    "暗号鍵の破棄による消去（マイナンバーごとの暗号鍵、本人確認書類画像の暗号鍵および事業者のデータ鍵をすべて破棄しました。"
    "バックアップに残る暗号文も復元できません。）"
)
PRINT_FUNCTION = "全データ消去の削除証明書の発行"
_LABEL_WIDTH = 0.28
_LABEL_BACKGROUND = colors.HexColor("#e8eef5")


@dataclass(frozen=True, slots=True)
class ErasureCertificate:
    """The PDF of a tenant's erasure and its file name."""

    pdf: bytes
    filename: str


def _moment(value: dt.date | dt.datetime) -> str:
    """和暦 and 西暦 (JST), with the time for a moment: ``令和8年12月1日（2026/12/01 09:30）``."""
    time = "minutes" if isinstance(value, dt.datetime) else ""
    return f"{format_japanese_era(value)}（{format_date(value, time=time)}）"


def certificate_rows(erasure: TenantErasure) -> list[tuple[str, str]]:
    """The table of the certificate: (label, value) pairs."""
    ended = _moment(erasure.contract_ended_on) if erasure.contract_ended_on else "—"
    erased = (
        f"マイナンバー {erasure.numbers_erased:,}件、本人確認書類画像 {erasure.documents_erased:,}件、"
        f"対象者 {erasure.people:,}名"
    )
    return [
        ("証明書番号", erasure.certificate_number),
        ("事業者名", erasure.tenant_name),
        ("事業者コード", erasure.tenant_code),
        ("契約終了日", ended),
        ("消去日時", _moment(erasure.erased_at)),
        ("消去したデータ", erased),
        ("消去の方法", METHOD),
        ("実施者", erasure.erased_by),
    ]


def render_tenant_erasure_certificate(erasure: TenantErasure, issuer: str, issued_on: dt.date) -> bytes:
    """The PDF (A4, Japanese) of a tenant's erasure, issued by ``issuer`` (the operator's name) on a JST date."""
    style = styles()
    cell = ParagraphStyle("cell", parent=style["small"], fontSize=10, leading=14)
    head = ParagraphStyle("head", parent=style["label"], fontSize=10, leading=14)
    story: list[Flowable] = [
        Paragraph(pdf_text(f"証明書番号　{erasure.certificate_number}"), style["small"]),
        Spacer(1, 4 * mm),
        Paragraph(TITLE, style["title"]),
        Spacer(1, 6 * mm),
        Paragraph(STATEMENT, style["body"]),
        Spacer(1, 4 * mm),
    ]
    data = [[Paragraph(pdf_text(label), head), Paragraph(pdf_text(value), cell)] for label, value in
            certificate_rows(erasure)]  # fmt: skip
    table = Table(data, colWidths=[CONTENT_WIDTH * _LABEL_WIDTH, CONTENT_WIDTH * (1 - _LABEL_WIDTH)])
    table.setStyle(
        table_style(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("BACKGROUND", (0, 0), (0, -1), _LABEL_BACKGROUND),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story += [
        table,
        Spacer(1, 10 * mm),
        Paragraph(pdf_text(issue_date_line(issued_on)), style["body"]),
        Spacer(1, 6 * mm),
        Paragraph(pdf_text(f"発行者　{issuer}"), style["body"]),
    ]
    return build_pdf(story, title=TITLE, author=issuer, subject=STATEMENT)


async def issue_erasure_certificate(session: AsyncSession, erasure: TenantErasure, actor: Actor) -> ErasureCertificate:
    """The certificate of ``erasure``, issued today (JST) by the operator's organisation; logged as 印刷 in the
    operator's chain (in the caller's transaction)."""
    operator = await operator_organisation(session)
    issued_on = today_in_japan()
    pdf = await run_in_worker(
        DOCUMENTS, render_tenant_erasure_certificate, erasure, operator.name, issued_on, releasing=session
    )
    detail = {
        "event": "tenant_erasure_certificate",
        "certificate_number": erasure.certificate_number,
        "tenant_id": str(erasure.erased_tenant_id),
        "tenant_name": erasure.tenant_name,
    }
    await record(
        session,
        AuditEvent(
            tenant_id=operator.id, action=AuditAction.PRINT, actor=actor, function=PRINT_FUNCTION, detail=detail
        ),
    )
    return ErasureCertificate(pdf=pdf, filename=f"削除証明書_{erasure.tenant_code}_{erasure.certificate_number}.pdf")
