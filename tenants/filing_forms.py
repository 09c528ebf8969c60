"""The filing forms as PDFs: 雇用保険被保険者個人番号登録・変更届, one A4 page per employee, laid out in memory.

The page follows the official form's boxes in its order: 届出区分 (1 新規 / 2 変更), 個人番号 (12 digit boxes),
変更前個人番号, 被保険者番号 (4-6-1), 被保険者氏名（カタカナ）, 性別 (1 男 / 2 女), 生年月日 (元号 code and YYMMDD
as the 雇用保険 forms write it: 2 大正, 3 昭和, 4 平成, 5 令和), 事業所番号 (4-6-1), 事業所名, then 届出日 (和暦) and
the 事業主's 住所・氏名・電話番号 addressed to the 公共職業安定所長.

A row of digit boxes is one text run with character spacing equal to the box width (the embedded font's digits
are all equally wide), so a reader copies or extracts the number as one word, not digit by digit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, PageBreak

from app.pdf import BOLD, CONTENT_HEIGHT, CONTENT_WIDTH, REGULAR, build_pdf
from app.text import ERAS, format_japanese_era, printable

TITLE = "雇用保険被保険者個人番号登録・変更届"
_BOX_WIDTH = 6.2 * mm
_BOX_HEIGHT = 8 * mm
_ROW_HEIGHT = 15 * mm
_LABEL_WIDTH = 50 * mm
_DIGIT_SIZE = 13
_INSURANCE_GROUPS = (4, 6, 1)


@dataclass(frozen=True, slots=True)
class EmploymentInsuranceFiling:
    """One employee's page; ``my_number`` is the opened number (held only while the PDF is laid out)."""

    kind: str  # 届出区分: "1" 新規, "2" 変更
    my_number: str
    previous_my_number: str
    insured_number: str  # 被保険者番号, 11 digits
    kana: str
    name: str
    gender: str  # "1" 男, "2" 女
    birth_date: dt.date

    def __repr__(self) -> str:  # a filing in a traceback or a log line never shows a number
        return f"EmploymentInsuranceFiling({self.name!r}, kind={self.kind})"


@dataclass(frozen=True, slots=True)
class FilingOffice:
    """The 事業主 as the form prints it: 適用事業所番号 (11 digits), 事業所名, 住所, 代表者, 電話番号."""

    number: str
    name: str
    address: str
    representative: str
    phone: str


def era_code(day: dt.date) -> tuple[str, str]:
    """生年月日 as the 雇用保険 forms write it: the 元号 code (1 明治 … 5 令和) and YYMMDD within the era.

    ValueError before 明治. Source: the 元号 table ``app.text.ERAS``; the codes are the forms' legend.
    """
    for index in range(len(ERAS) - 1, -1, -1):
        era = ERAS[index]
        if day >= era.first_day:
            year = day.year - era.first_day.year + 1
            return str(index + 1), f"{year:02d}{day.month:02d}{day.day:02d}"
    raise ValueError(f"{day} is before the first era (明治)")


class _FilingPage(Flowable):
    """The whole form of one employee, drawn on the frame (top-down)."""

    def __init__(self, filing: EmploymentInsuranceFiling, office: FilingOffice, filed_on: dt.date) -> None:
        super().__init__()
        self.filing = filing
        self.office = office
        self.filed_on = filed_on

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return CONTENT_WIDTH, CONTENT_HEIGHT - 1

    def draw(self) -> None:
        canvas: Canvas = self.canv
        top = CONTENT_HEIGHT - 1
        canvas.setFont(BOLD, 15)
        canvas.drawCentredString(CONTENT_WIDTH / 2, top - 8 * mm, TITLE)
        filing, office = self.filing, self.office
        era, yymmdd = era_code(filing.birth_date)
        rows = [
            ("1. 届出区分", lambda x, y: _boxes(canvas, x, y, filing.kind, 1, legend="1 新規　2 変更")),
            ("2. 個人番号", lambda x, y: _boxes(canvas, x, y, filing.my_number, 12)),
            (
                "3. 変更前個人番号",
                lambda x, y: _boxes(canvas, x, y, filing.previous_my_number, 12, legend="（変更の場合）"),
            ),
            ("4. 被保険者番号", lambda x, y: _boxes(canvas, x, y, filing.insured_number, 11, _INSURANCE_GROUPS)),
            ("5. 被保険者氏名（カタカナ）", lambda x, y: _text_box(canvas, x, y, filing.kana)),
            ("6. 性別", lambda x, y: _boxes(canvas, x, y, filing.gender, 1, legend="1 男　2 女")),
            ("7. 生年月日", lambda x, y: _birth_date(canvas, x, y, era, yymmdd)),
            ("8. 事業所番号", lambda x, y: _boxes(canvas, x, y, office.number, 11, _INSURANCE_GROUPS)),
            ("9. 事業所名", lambda x, y: _text_box(canvas, x, y, office.name)),
        ]
        y = top - 22 * mm
        for label, draw_value in rows:
            canvas.setFont(REGULAR, 10)
            canvas.drawString(0, y + 2.5 * mm, label)
            draw_value(_LABEL_WIDTH, y)
            y -= _ROW_HEIGHT
        self._employer(canvas, y - 4 * mm)

    def _employer(self, canvas: Canvas, y: float) -> None:
        office = self.office
        canvas.setFont(REGULAR, 10.5)
        canvas.drawString(0, y, "上記のとおり届けます。")
        canvas.drawString(0, y - 10 * mm, f"届出日　{format_japanese_era(self.filed_on)}")
        lines = [
            ("事業主　住所", office.address),
            ("　　　　氏名", f"{office.name}　{office.representative}".strip()),
            ("　　　　電話番号", office.phone),
        ]
        line_y = y - 22 * mm
        for label, value in lines:
            canvas.drawString(20 * mm, line_y, label)
            canvas.drawString(55 * mm, line_y, printable(value))
            line_y -= 8 * mm
        canvas.drawString(0, line_y - 6 * mm, "公共職業安定所長　殿")
        canvas.setFont(REGULAR, 8)
        canvas.drawString(
            0, 2 * mm, "個人番号を含む書類です。提出まで施錠して保管し、控えを残さない場合は速やかに廃棄してください。"
        )


def _boxes(
    canvas: Canvas,
    x: float,
    y: float,
    value: str,
    count: int,
    groups: Sequence[int] = (),
    *,
    legend: str = "",
) -> None:
    """``count`` digit boxes from (x, y), the value's digits one a box (one text run), groups split by bold lines."""
    canvas.setLineWidth(0.6)
    for index in range(count):
        canvas.rect(x + index * _BOX_WIDTH, y, _BOX_WIDTH, _BOX_HEIGHT)
    boundary = 0
    canvas.setLineWidth(1.8)
    for size in list(groups)[:-1]:  # the hyphens of 1234-567890-1: a bold line and a dash above it
        boundary += size
        line_x = x + boundary * _BOX_WIDTH
        canvas.line(line_x, y, line_x, y + _BOX_HEIGHT)
        canvas.line(line_x - 1 * mm, y + _BOX_HEIGHT + 1.5 * mm, line_x + 1 * mm, y + _BOX_HEIGHT + 1.5 * mm)
    canvas.setLineWidth(0.6)
    if value:
        glyph = pdfmetrics.stringWidth("0", REGULAR, _DIGIT_SIZE)
        text = canvas.beginText(x + (_BOX_WIDTH - glyph) / 2, y + 2.3 * mm)
        text.setFont(REGULAR, _DIGIT_SIZE)
        text.setCharSpace(_BOX_WIDTH - glyph)
        text.textOut(value[:count])
        canvas.drawText(text)
    if legend:
        canvas.setFont(REGULAR, 9)
        canvas.drawString(x + count * _BOX_WIDTH + 3 * mm, y + 2.5 * mm, legend)


def _text_box(canvas: Canvas, x: float, y: float, value: str) -> None:
    canvas.setLineWidth(0.6)
    canvas.rect(x, y, CONTENT_WIDTH - x, _BOX_HEIGHT)
    canvas.setFont(REGULAR, 12)
    canvas.drawString(x + 2 * mm, y + 2.4 * mm, printable(value))


def _birth_date(canvas: Canvas, x: float, y: float, era: str, yymmdd: str) -> None:
    _boxes(canvas, x, y, era, 1)
    start = x + _BOX_WIDTH + 3 * mm
    _boxes(canvas, start, y, yymmdd, 6, (2, 2, 2))
    canvas.setFont(REGULAR, 7)
    canvas.drawCentredString(x + _BOX_WIDTH / 2, y - 3 * mm, "元号")
    for group, label in enumerate(("年", "月", "日")):
        canvas.drawCentredString(start + (2 * group + 1) * _BOX_WIDTH, y - 3 * mm, label)
    canvas.setFont(REGULAR, 9)
    canvas.drawString(start + 6 * _BOX_WIDTH + 3 * mm, y + 2.5 * mm, "（2 大正　3 昭和　4 平成　5 令和）")


def render_employment_insurance_filings(
    filings: Sequence[EmploymentInsuranceFiling], office: FilingOffice, filed_on: dt.date
) -> bytes:
    """The PDF (A4, embedded Noto Sans JP), one page per filing in the order given, dated ``filed_on`` (JST)."""
    story: list[Flowable] = []
    for index, filing in enumerate(filings):
        if index:
            story.append(PageBreak())
        story.append(_FilingPage(filing, office, filed_on))
    return build_pdf(story, title=TITLE, author=office.name, subject=TITLE)
