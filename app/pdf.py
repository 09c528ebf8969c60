"""Shared PDF helpers: A4 documents in Japanese with reportlab's built-in CID fonts, QR codes, no temp files."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
from collections.abc import Callable, Sequence
from io import BytesIO
from typing import Final

from reportlab.graphics.barcode import qrencoder
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, SimpleDocTemplate

# Built into every PDF reader's Japanese support (Adobe-Japan1), so nothing is embedded and no font file ships.
GOTHIC: Final = "HeiseiKakuGo-W5"
MINCHO: Final = "HeiseiMin-W3"
# Base-14 monospace for credentials: equal widths make each character countable (callers avoid 0/O, 1/l/I).
MONOSPACE: Final = "Courier-Bold"
CREATOR: Final = "MyNumber Vault"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN: Final = 18 * mm
MARGIN_VERTICAL: Final = 15 * mm
_FRAME_PADDING: Final = 6  # SimpleDocTemplate's frame pads each side by 6 pt
CONTENT_WIDTH: Final = PAGE_WIDTH - 2 * MARGIN - 2 * _FRAME_PADDING
CONTENT_HEIGHT: Final = PAGE_HEIGHT - 2 * MARGIN_VERTICAL - 2 * _FRAME_PADDING


@functools.cache
def register_japanese_fonts() -> None:
    """Register the Japanese CID fonts with reportlab (once per process)."""
    for name in (GOTHIC, MINCHO):
        pdfmetrics.registerFont(UnicodeCIDFont(name))


@functools.cache
def styles() -> dict[str, ParagraphStyle]:
    """Paragraph styles for Japanese documents; CJK wrapping breaks anywhere, URLs included."""
    register_japanese_fonts()
    body = ParagraphStyle("body", fontName=MINCHO, fontSize=10.5, leading=16, wordWrap="CJK")
    return {
        "body": ParagraphStyle("body", parent=body, spaceAfter=4),
        "small": ParagraphStyle("small", parent=body, fontSize=9, leading=14),
        "title": ParagraphStyle("title", parent=body, fontName=GOTHIC, fontSize=20, leading=28, alignment=TA_CENTER),
        "strong": ParagraphStyle("strong", parent=body, fontName=GOTHIC),
        "heading": ParagraphStyle("heading", parent=body, fontName=GOTHIC, fontSize=12, leading=18),
        "label": ParagraphStyle("label", parent=body, fontName=GOTHIC, fontSize=9.5, leading=14),
        "step": ParagraphStyle("step", parent=body, spaceAfter=3),
        "value": ParagraphStyle("value", parent=body, fontName=GOTHIC, fontSize=11, leading=16),
        "code": ParagraphStyle("code", parent=body, fontName=MONOSPACE, fontSize=14, leading=18),
        "url": ParagraphStyle("url", parent=body, fontName=MONOSPACE, fontSize=9, leading=12),
        "addressee": ParagraphStyle("addressee", parent=body, fontName=GOTHIC, fontSize=15, leading=22),
        "sender": ParagraphStyle("sender", parent=body, fontName=GOTHIC, fontSize=10.5, alignment=TA_RIGHT),
        "caption": ParagraphStyle(
            "caption", parent=body, fontName=GOTHIC, fontSize=8.5, leading=12, alignment=TA_CENTER
        ),
        "mark": ParagraphStyle(
            "mark", parent=body, fontName=GOTHIC, fontSize=10, textColor=colors.HexColor("#b00020"), alignment=TA_LEFT
        ),
    }


class QrCode(Flowable):
    """A square QR code (error correction M, 4-module quiet zone included) encoding ``value``.

    Drawn once per document as a form XObject and reused, so a hundred letters with the same sign-in URL
    encode and store the code only once.
    """

    quiet_zone = 4

    def __init__(self, value: str, size: float = 34 * mm) -> None:
        super().__init__()
        self.value = value
        self.width = self.height = size
        self._form_name = "qr" + hashlib.sha256(value.encode()).hexdigest()[:24]

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        canvas = self.canv
        if not canvas.hasForm(self._form_name):
            canvas.beginForm(self._form_name, 0, 0, self.width, self.height)
            self._draw_modules(canvas)
            canvas.endForm()
        canvas.doForm(self._form_name)

    def _draw_modules(self, canvas: Canvas) -> None:
        encoder = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
        encoder.addData(self.value)
        encoder.make()
        count = encoder.getModuleCount()
        module = self.width / (count + 2 * self.quiet_zone)
        canvas.setFillColor(colors.white)
        canvas.rect(0, 0, self.width, self.height, stroke=0, fill=1)
        # One path filled once: adjacent rectangles filled separately show hairline seams in some viewers.
        path = canvas.beginPath()
        for row_index, row in enumerate(encoder.modules):
            y = self.height - (row_index + self.quiet_zone + 1) * module
            column = 0
            for dark, run in itertools.groupby(bool(m) for m in row):
                length = len(list(run))
                if dark:
                    path.rect((column + self.quiet_zone) * module, y, length * module, module)
                column += length
        canvas.setFillColor(colors.black)
        canvas.drawPath(path, stroke=0, fill=1)


def qr_code(url: str, size: float = 34 * mm) -> QrCode:
    """A QR code flowable for ``url`` of ``size`` points square."""
    return QrCode(url, size)


def japanese_date(day: dt.date) -> str:
    """A date the Japanese way: 2026年12月6日."""
    return f"{day.year}年{day.month}月{day.day}日"


PageDecorator = Callable[[Canvas, BaseDocTemplate], None]


def build_pdf(
    story: Sequence[Flowable], *, title: str, author: str, subject: str = "", on_page: PageDecorator | None = None
) -> bytes:
    """Lay out ``story`` on A4 pages (``on_page`` draws headers/footers) and return the PDF bytes, in memory."""
    register_japanese_fonts()
    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN_VERTICAL,
        bottomMargin=MARGIN_VERTICAL,
        title=title,
        author=author,
        subject=subject,
        creator=CREATOR,
        lang="ja-JP",
    )
    if on_page is None:
        document.build(list(story))
    else:
        document.build(list(story), onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()
