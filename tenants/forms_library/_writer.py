"""A Word document (.docx) laid out as Japanese business forms are: A4, 明朝 for Japanese text, a centred title,
articles numbered 第n条 with their captions in parentheses, blanks to fill in and signature blocks.

python-docx writes the file; everything stays in memory (``to_bytes``), nothing touches the disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO

import docx
from docx.document import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.styles.style import ParagraphStyle
from docx.text.paragraph import Paragraph

BLANK = "＿＿＿＿＿＿＿＿"  # what the tenant (or the person signing) writes in by hand
SHORT_BLANK = "＿＿＿＿"
MINCHO = "游明朝"
GOTHIC = "游ゴシック"
_FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass(frozen=True, slots=True)
class Items:
    """Numbered items （１）（２）… under the clause before them."""

    entries: tuple[str, ...]


Clause = str | Items


def _set_fonts(style: ParagraphStyle, *, latin: str, east_asian: str, size: float, bold: bool = False) -> None:
    """Explicit fonts on a style: ``w:eastAsia`` is what Word uses for kanji and kana (theme fonts removed)."""
    style.font.name = latin
    style.font.size = Pt(size)
    style.font.bold = bold
    r_pr = style.element.get_or_add_rPr()
    fonts = r_pr.get_or_add_rFonts()
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)
    fonts.set(qn("w:ascii"), latin)
    fonts.set(qn("w:hAnsi"), latin)
    fonts.set(qn("w:eastAsia"), east_asian)
    language = r_pr.find(qn("w:lang"))
    if language is None:
        language = OxmlElement("w:lang")
        r_pr.append(language)
    language.set(qn("w:eastAsia"), "ja-JP")


class FormWriter:
    """One form being written, top to bottom; ``to_bytes`` gives the finished .docx."""

    def __init__(self, title: str) -> None:
        self.document: Document = docx.Document()
        self._article = 0
        self._set_page()
        self._set_styles()
        self.document.core_properties.title = title
        self.document.core_properties.author = ""
        self.document.core_properties.comments = ""

    def _set_page(self) -> None:
        section = self.document.sections[0]
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.top_margin = section.bottom_margin = Mm(25)
        section.left_margin = section.right_margin = Mm(25)

    def _set_styles(self) -> None:
        styles = self.document.styles
        normal = styles["Normal"]
        assert isinstance(normal, ParagraphStyle)
        _set_fonts(normal, latin=MINCHO, east_asian=MINCHO, size=10.5)
        normal.paragraph_format.space_after = Pt(2)
        normal.paragraph_format.line_spacing = 1.25
        for name, size in (("Title", 16.0), ("Heading 1", 12.0), ("Heading 2", 10.5)):
            style = styles[name]
            assert isinstance(style, ParagraphStyle)
            _set_fonts(style, latin=GOTHIC, east_asian=GOTHIC, size=size, bold=True)
            style.font.color.rgb = None
            style.paragraph_format.space_before = Pt(12 if name != "Heading 2" else 6)
            style.paragraph_format.space_after = Pt(6 if name != "Heading 2" else 0)
            # The title style's bottom border line is Word's default look; a form has none.
            p_pr = style.element.pPr
            border = p_pr.find(qn("w:pBdr")) if p_pr is not None else None
            if border is not None:
                p_pr.remove(border)

    # Blocks ---------------------------------------------------------------------------------------------------

    def title(self, text: str) -> Paragraph:
        """The form's title, centred."""
        paragraph = self.document.add_paragraph(text, style="Title")
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        return paragraph

    def chapter(self, text: str) -> Paragraph:
        """A chapter heading (第1章　総則)."""
        return self.document.add_paragraph(text, style="Heading 1")

    def heading(self, text: str) -> Paragraph:
        """A section heading inside a letter or a policy."""
        return self.document.add_paragraph(text, style="Heading 2")

    def paragraph(self, text: str = "", *, align: str = "", indent: bool = False) -> Paragraph:
        """A paragraph of body text; ``align`` is "right" or "center"; ``indent`` starts it one character in."""
        paragraph = self.document.add_paragraph(text)
        if align == "right":
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        elif align == "center":
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        if indent:
            paragraph.paragraph_format.first_line_indent = Pt(10.5)
        return paragraph

    def items(self, entries: Sequence[str], *, numbered: bool = True) -> None:
        """Items （１）（２）… (or bullets ・), hanging one character under the clause."""
        for index, entry in enumerate(entries, start=1):
            mark = f"（{str(index).translate(_FULL_WIDTH_DIGITS)}）" if numbered else "・"
            paragraph = self.document.add_paragraph(f"{mark}{entry}")
            paragraph.paragraph_format.left_indent = Pt(10.5 * (3 if numbered else 2))
            paragraph.paragraph_format.first_line_indent = Pt(-10.5 * (2 if numbered else 1))

    def article(self, caption: str, *clauses: Clause) -> None:
        """The next 第n条: its caption （目的） on a line of its own, then its clauses (the 2nd on numbered ２, ３…)."""
        self._article += 1
        self.document.add_paragraph(f"（{caption}）", style="Heading 2")
        clause_number = 0
        for clause in clauses:
            if isinstance(clause, Items):
                self.items(clause.entries)
                continue
            clause_number += 1
            if clause_number == 1:
                mark = f"第{self._article}条"
            else:
                mark = str(clause_number).translate(_FULL_WIDTH_DIGITS)
            paragraph = self.document.add_paragraph(f"{mark}　{clause}")
            paragraph.paragraph_format.left_indent = Pt(10.5)
            paragraph.paragraph_format.first_line_indent = Pt(-10.5)

    def lines(self, rows: Sequence[tuple[str, str]], *, indent_mm: float = 70) -> None:
        """Label–value lines (住所　……), set to the right half of the page as a signature or addressee block."""
        for label, value in rows:
            paragraph = self.document.add_paragraph(f"{label}　{value}" if label else value)
            paragraph.paragraph_format.left_indent = Mm(indent_mm)

    def signature(self, *, date_blank: bool = True, with_birth_date: bool = False) -> None:
        """年月日, 住所, 氏名 and 印 to be filled in by the person signing."""
        self.paragraph()
        if date_blank:
            self.paragraph("　　　　年　　月　　日", align="right")
        rows = [("住　所", BLANK * 2)]
        if with_birth_date:
            rows.append(("生年月日", "　　　　年　　月　　日"))
        rows.append(("氏　名", f"{BLANK * 2}　印"))
        self.lines(rows, indent_mm=45)

    def page_break(self) -> None:
        self.document.add_page_break()

    def to_bytes(self) -> bytes:
        """The finished .docx, built in memory."""
        buffer = BytesIO()
        self.document.save(buffer)
        return buffer.getvalue()
