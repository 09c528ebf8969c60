"""Shared PDF helpers: A4 documents in Japanese with an embedded font subset, QR codes, no temp files.

Every PDF embeds a subset of Noto Sans JP (TrueType outlines, SIL OFL 1.1, shipped in ``app/fonts`` with the
package): it covers JIS X 0213 and the 人名 characters beyond it (𠮷 U+20BB7, 髙, 﨑, 塚 U+FA10 …), so no viewer
font is relied on. Text goes through ``pdf_text`` (``app.text.printable``: a variation sequence prints as its base
kanji) before it is laid out.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import html
import itertools
import re
from collections.abc import Callable, Sequence
from io import BytesIO
from pathlib import Path
from typing import Final

from reportlab.graphics.barcode import qrencoder
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, SimpleDocTemplate, TableStyle

from app.text import format_date, printable

FONTS_DIR: Final = Path(__file__).resolve().parent / "fonts"
# Embedded as subsets (reportlab subsets TrueType fonts: only the glyphs a document uses are written).
REGULAR: Final = "NotoSansJP"
BOLD: Final = "NotoSansJP-Bold"
_FONT_FILES: Final = {REGULAR: "NotoSansJP-Regular.ttf", BOLD: "NotoSansJP-Bold.ttf"}
# The styles' names for the two weights: headings and labels in bold, body text in regular.
GOTHIC: Final = BOLD
MINCHO: Final = REGULAR
# Base-14 monospace for credentials: equal widths make each character countable (callers avoid 0/O, 1/l/I).
MONOSPACE: Final = "Courier-Bold"
CREATOR: Final = "MyNumber Vault"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN: Final = 18 * mm
MARGIN_VERTICAL: Final = 15 * mm
_FRAME_PADDING: Final = 6  # SimpleDocTemplate's frame pads each side by 6 pt
CONTENT_WIDTH: Final = PAGE_WIDTH - 2 * MARGIN - 2 * _FRAME_PADDING
CONTENT_HEIGHT: Final = PAGE_HEIGHT - 2 * MARGIN_VERTICAL - 2 * _FRAME_PADDING


_NON_BMP_TARGET = re.compile(r"> <([0-9A-F]{5,6})>$", re.MULTILINE)
_reportlab_to_unicode_cmap = ttfonts.makeToUnicodeCMap


def _to_unicode_cmap(fontname: str, subset: Sequence[int]) -> str:
    # reportlab writes a code point beyond the BMP (𠮷 U+20BB7) as bare hex, which no reader accepts: the
    # character could not be copied, searched or extracted. A ToUnicode target is UTF-16BE (surrogate pair).
    return _NON_BMP_TARGET.sub(
        lambda m: "> <" + chr(int(m.group(1), 16)).encode("utf-16-be").hex().upper() + ">",
        _reportlab_to_unicode_cmap(fontname, subset),
    )


@functools.cache
def register_japanese_fonts() -> None:
    """Register the embedded Japanese fonts with reportlab (once per process)."""
    ttfonts.makeToUnicodeCMap = _to_unicode_cmap
    for name, file_name in _FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(FONTS_DIR / file_name)))


def table_style(commands: Sequence[tuple[object, ...]]) -> TableStyle:
    """A TableStyle whose cells default to the embedded font (reportlab's default is the viewer's Helvetica)."""
    return TableStyle([("FONTNAME", (0, 0), (-1, -1), REGULAR), *commands])


def pdf_text(value: str) -> str:
    """A stored text as a Paragraph's markup: variation selectors dropped (``app.text.printable``), escaped."""
    return html.escape(printable(value), quote=False)


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
    """A date as every page and PDF shows it: YYYY/MM/DD (``app.text.format_date``)."""
    return format_date(day)


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
        initialFontName=REGULAR,  # not Helvetica: nothing in the document relies on a viewer's font
    )
    if on_page is None:
        document.build(list(story))
    else:
        document.build(list(story), onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()
