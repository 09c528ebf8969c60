"""Downloads of an 操作履歴 search: CSV (cp932 by default, or UTF-8 with a BOM) and PDF (A4 landscape, seed 003
「操作履歴をPDFで出力」).

The CSV streams: entries are read ``DOWNLOAD_BATCH`` at a time by keyset (``iter_log``), encoded with
``exchange.encoding.CsvWriter`` (Windows cp932 codes; a character cp932 cannot hold is written as 〓, since a log
must never be refused for a name) in a worker thread, and sent; memory stays that of one batch whatever the number
of entries. The PDF is laid out in memory, so it holds at most ``PDF_MAX_ENTRIES`` entries (≈ 200 pages; more is
asked to be narrowed or taken as CSV). Every page of the PDF repeats the title, the company, the filters and the
column header, and carries 「n / N ページ」.

Who downloads and the audit entry are the controller's business (``tenants.controllers._log``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from io import BytesIO
from typing import Any

from anyio import CancelScope
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import independent_session
from app.pdf import BOLD, CREATOR, REGULAR, pdf_text, register_japanese_fonts, table_style
from app.text import JST
from app.workers import BULK, run_in_worker
from exchange.encoding import CsvWriter, Encoding, Unencodable
from exchange.layouts import Column, Kind
from tenants.services._log_search import LogSearch, iter_log

PDF_MAX_ENTRIES = 5000

COLUMNS: tuple[Column, ...] = (
    Column("NO", Kind.ORDINAL, "seq"),
    Column("操作日時", Kind.DATE, "occurred_at"),
    Column("部門コード", Kind.CODE, "subject_department_code"),
    Column("部門", Kind.TEXT, "subject_department_name"),
    Column("社員コード", Kind.CODE, "subject_employee_code"),
    Column("対象者", Kind.NAME, "subject_name"),
    Column("操作", Kind.CHOICE, "action"),
    Column("機能名", Kind.TEXT, "function"),
    Column("操作した人 (ユーザID)", Kind.CODE, "actor_login_id"),
    Column("操作した人 (ユーザ名)", Kind.NAME, "actor_name"),
    Column("役割", Kind.TEXT, "actor_role"),
    Column("利用目的", Kind.TEXT, "purpose"),
    Column("結果", Kind.CHOICE, "result"),
    Column("IP", Kind.TEXT, "ip"),
    Column("ユーザーエージェント", Kind.TEXT, "user_agent"),
)


def occurred_text(moment: dt.datetime) -> str:
    """``YYYY/MM/DD HH:MM:SS`` in JST (the log's time everywhere it is shown)."""
    return moment.astimezone(JST).strftime("%Y/%m/%d %H:%M:%S")


def entry_cells(row: Row[Any]) -> list[str]:
    """One entry as the CSV's cells (``COLUMNS``' order); never a number (an entry holds none)."""
    return [
        str(row.seq),
        occurred_text(row.occurred_at),
        row.subject_department_code or "",
        row.subject_department_name or "",
        row.subject_employee_code or "",
        row.subject_name or "",
        str(row.action.value if hasattr(row.action, "value") else row.action),
        row.function or "",
        row.actor_login_id or "",
        row.actor_name or "",
        row.actor_role or "",
        row.purpose or "",
        str(row.result.value if hasattr(row.result, "value") else row.result),
        row.ip or "",
        row.user_agent or "",
    ]


async def stream_log_csv(
    session: AsyncSession, tenant_id: uuid.UUID, search: LogSearch, encoding: Encoding
) -> AsyncIterator[bytes]:
    """The CSV of every entry matching ``search`` as chunks, read in a session of its own (closed at the end or
    when the client goes away). ``encoding``: ``Encoding.CP932`` or ``Encoding.UTF8_BOM``."""
    reader = independent_session(session)
    try:
        writer = CsvWriter(COLUMNS, encoding=encoding, unencodable=Unencodable.REPLACE)
        yield writer.start()
        async for batch in iter_log(reader, tenant_id, search):
            cells = [entry_cells(row) for row in batch]
            yield await run_in_worker(BULK, writer.write, cells)
        await reader.rollback()  # read only
    finally:
        with CancelScope(shield=True):
            await reader.close()


async def read_for_pdf(session: AsyncSession, tenant_id: uuid.UUID, search: LogSearch) -> list[list[str]] | None:
    """The cells of the PDF's entries; None when more than ``PDF_MAX_ENTRIES`` match (too many to print)."""
    rows: list[list[str]] = []
    async for batch in iter_log(session, tenant_id, search):
        rows.extend(entry_cells(row) for row in batch)
        if len(rows) > PDF_MAX_ENTRIES:
            return None
    return rows


# PDF ----------------------------------------------------------------------------------------------------------------

PDF_COLUMNS = (  # (header, index into entry_cells, width in mm): IP and user agent fit beside the rest on A4 landscape
    ("NO", 0, 13),
    ("操作日時", 1, 30),
    ("部門コード", 2, 15),
    ("部門", 3, 20),
    ("社員コード", 4, 17),
    ("対象者", 5, 28),
    ("操作", 6, 16),
    ("機能名", 7, 30),
    ("ユーザID", 8, 20),
    ("ユーザ名", 9, 20),
    ("利用目的", 11, 20),
    ("結果", 12, 9),
    ("IP", 13, 22),
)
PAGE = landscape(A4)
MARGIN_X = 10 * mm
MARGIN_TOP = 24 * mm
MARGIN_BOTTOM = 14 * mm


def _cell_style() -> ParagraphStyle:
    return ParagraphStyle("logcell", fontName=REGULAR, fontSize=6.5, leading=8, wordWrap="CJK")


class _NumberedCanvas(Canvas):
    """Keeps each page until the end so that every page can say 「n / N ページ」 (N known only then)."""

    header_lines: Sequence[str] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self._decorate(total)
            super().showPage()
        super().save()

    def _decorate(self, total: int) -> None:
        width, height = PAGE
        self.setFont(BOLD, 12)
        self.drawString(MARGIN_X, height - 12 * mm, self.header_lines[0])
        self.setFont(REGULAR, 7.5)
        for index, line in enumerate(self.header_lines[1:]):
            self.drawString(MARGIN_X, height - (16.5 + 3.6 * index) * mm, line)
        self.drawRightString(width - MARGIN_X, 7 * mm, f"{self._pageNumber} / {total} ページ")


def render_log_pdf(header_lines: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    """A4 landscape: ``header_lines`` (title, then small lines) and the table header on every page, page numbers.

    ``rows`` are ``entry_cells`` rows; the PDF is built in memory (callers bound ``rows``: ``PDF_MAX_ENTRIES``).
    """
    register_japanese_fonts()
    style = _cell_style()
    head_style = ParagraphStyle("loghead", parent=style, fontName=BOLD)
    data: list[list[Any]] = [[Paragraph(pdf_text(title), head_style) for title, _, _ in PDF_COLUMNS]]
    for cells in rows:
        data.append([Paragraph(pdf_text(cells[index]), style) for _, index, _ in PDF_COLUMNS])
    if not rows:
        data.append([Paragraph("該当する記録はありません。", style)] + [""] * (len(PDF_COLUMNS) - 1))
    table = LongTable(data, colWidths=[width * mm for _, _, width in PDF_COLUMNS], repeatRows=1)
    table.setStyle(
        table_style(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
                ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=PAGE,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title="操作履歴",
        author=header_lines[1] if len(header_lines) > 1 else "",
        creator=CREATOR,
        lang="ja-JP",
        initialFontName=REGULAR,
    )
    canvas_class = type("LogCanvas", (_NumberedCanvas,), {"header_lines": tuple(header_lines)})
    document.build([table], canvasmaker=canvas_class)
    return buffer.getvalue()
