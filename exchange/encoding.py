"""Writing rows as files, streamed: CSV in cp932 with CRLF (default), UTF-8 with a BOM, and .xlsx.

Every writer is a generator of ``bytes`` chunks that holds one batch of rows at a time, so a million rows take
the memory of a few thousand; nothing is written to disk (a number never lands in a temporary file).

**cp932** (what Japanese Excel and payroll software read): Python's ``cp932`` codec is Microsoft's table for
decoding, and encodes as Windows does with two exceptions this module corrects:

- U+2014 EM DASH (—, JIS X 0208's 1-1-29 in the JIS mapping) is written as 0x815C, which Windows reads as
  U+2015 ―. Python already writes the other JIS-mapping characters the Windows way: 〜 U+301C as 0x8160 (read
  back as ～ U+FF5E), − U+2212 as 0x817C (－ U+FF0D), ‖ U+2016 as 0x8161 (∥ U+2225), ¢ £ ¬ as 0x8191 0x8192
  0x81CA (￠ ￡ ￢). Japanese Excel shows the same glyph; ``cp932_form`` gives the text as it reads back, to
  compare an imported name with a stored one.
- The 388 IBM extension characters (髙, 﨑, 塚, ⅰ …) have two codes each: NEC-selected (0xED40–0xEEFC) and IBM
  (0xFA40–0xFC4B). Windows writes the IBM code; Python the NEC-selected one. Both read back the same in Excel,
  but the IBM code is what Excel itself saves and what strict Shift_JIS-based payroll software expects, so this
  module writes the IBM code (髙 → 0xFBFC, 﨑 → 0xFAB1).

Characters cp932 has no code for (𠮷, many 異体字, variation selectors) are never lost silently:
``scan_cp932`` lists them before writing, and writing either refuses (``UnencodableText``) or replaces each with
〓 (``Unencodable.REPLACE``), adding a ``CharacterIssue`` to the caller's report either way. Two fixes are made in
both modes and reported: a variation selector is dropped (葛󠄀 → 葛, the base character payroll software knows),
and a CJK compatibility ideograph cp932 lacks is written as its canonical twin when cp932 has that
(U+FA1F 﨟-style 異体字 → its unified character; canonically the same character).

**CSV injection** (OWASP): a typed cell (``Column.typed``: names, kana, codes, department names) that starts with
``= + - @``, their full-width forms, a tab or a CR is written with a leading ``'``, in CSV and xlsx; numbers, dates
and fixed words are never touched. A cell that starts with ``'`` gets one too, so ``unneutralise`` (used by
``exchange.reading``) gives back exactly the text: ``-太郎`` → ``'-太郎`` → ``-太郎``.

**xlsx**: openpyxl's write-only workbook makes every part of the file; the rows stream into the sheet's zip entry
as they arrive (see ``write_xlsx``). Every cell is a string cell with the text format ``@``, so leading zeros
survive and a cell edited in Excel stays text.
"""

from __future__ import annotations

import csv
import enum
import io
import re
import time
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.writer.excel import ExcelWriter

from app.text import without_variation_selectors
from exchange.layouts import NUMBER_KINDS, Column

BATCH_ROWS = 2000
CHUNK_BYTES = 256 * 1024
GETA = "〓"  # U+3013, the mark for a character that could not be written (0x81AC in cp932)
UTF8_BOM = b"\xef\xbb\xbf"


class Encoding(enum.StrEnum):
    """The file kinds an export can be written in."""

    CP932 = "cp932"
    UTF8_BOM = "utf-8-sig"
    XLSX = "xlsx"

    @property
    def media_type(self) -> str:
        if self is Encoding.XLSX:
            return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return "text/csv; charset=Shift_JIS" if self is Encoding.CP932 else "text/csv; charset=utf-8"

    @property
    def extension(self) -> str:
        return "xlsx" if self is Encoding.XLSX else "csv"


class Unencodable(enum.StrEnum):
    """What writing cp932 does with a character cp932 cannot hold."""

    REFUSE = "refuse"
    REPLACE = "replace"


class Action(enum.StrEnum):
    """What happened to one character in cp932."""

    REFUSED = "refused"  # not written: the caller must choose UTF-8, xlsx or replacement
    REPLACED = "replaced"  # written as 〓
    DROPPED = "dropped"  # a variation selector left out, the base character kept
    SUBSTITUTED = "substituted"  # a compatibility ideograph written as its canonical twin


@dataclass(frozen=True, slots=True)
class CharacterIssue:
    """One character of one cell that cp932 cannot hold as it is; ``line`` is the row number in the file."""

    line: int
    column: str
    char: str  # the character, or a base character with its variation selector
    action: Action
    replacement: str = ""
    text: str = ""  # the whole cell, to show which name it is ("" for number columns)

    @property
    def code_points(self) -> str:
        """``U+20BB7`` (``U+845B U+E0100`` for a variation sequence)."""
        return " ".join(f"U+{ord(c):04X}" for c in self.char)

    @property
    def message(self) -> str:
        """The Japanese sentence for the report."""
        where = f"{self.line}行目「{self.column}」の「{self.char}」（{self.code_points}）"
        if self.action is Action.DROPPED:
            return f"{where}は異体字セレクタを外し「{self.replacement}」として出力します。"
        if self.action is Action.SUBSTITUTED:
            return f"{where}は cp932 にないため、同じ字の標準の字形「{self.replacement}」で出力します。"
        if self.action is Action.REPLACED:
            return f"{where}は cp932（Shift_JIS）で出力できないため「{GETA}」に置き換えます。"
        return (
            f"{where}は cp932（Shift_JIS）で出力できません。"
            f"UTF-8 か Excel（.xlsx）で出力するか、「{GETA}」に置き換えて出力してください。"
        )


class UnencodableText(ValueError):
    """Writing cp932 with ``Unencodable.REFUSE`` met characters cp932 cannot hold; ``issues`` lists them."""

    def __init__(self, issues: Sequence[CharacterIssue]) -> None:
        self.issues = list(issues)
        self.message = (
            f"cp932（Shift_JIS）で出力できない文字が{len(self.issues)}か所あります。"
            f"UTF-8 か Excel（.xlsx）で出力するか、「{GETA}」に置き換えて出力してください。"
        )
        super().__init__(self.message)


# CSV injection ------------------------------------------------------------------------------------------------

FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")
QUOTE = "'"


def neutralise(text: str) -> str:
    """A typed cell as written: ``'`` before a cell a spreadsheet would run (or one that starts with ``'``)."""
    if text and (text[0] in FORMULA_STARTS or text[0] == QUOTE):
        return QUOTE + text
    return text


def unneutralise(text: str) -> str:
    """A typed cell as read: the ``'`` that ``neutralise`` put in front taken off."""
    return text[1:] if text.startswith(QUOTE) else text


# cp932 --------------------------------------------------------------------------------------------------------

_WINDOWS_FORMS = str.maketrans({"\u2014": "\u2015"})
_VARIATION_SELECTOR = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def _two_byte_codes(leads: Iterable[int]) -> Iterator[bytes]:
    for lead in leads:
        for trail in (*range(0x40, 0x7F), *range(0x80, 0xFD)):
            yield bytes((lead, trail))


def _ibm_codes() -> dict[str, bytes]:
    """Each character Python writes as a NEC-selected IBM extension code, with its IBM extension code."""
    ibm: dict[str, bytes] = {}
    for code in _two_byte_codes((0xFA, 0xFB, 0xFC)):
        try:
            ibm.setdefault(code.decode("cp932"), code)
        except UnicodeDecodeError:
            continue
    return {char: code for char, code in ibm.items() if char.encode("cp932")[0] in (0xED, 0xEE)}


_IBM_CODES = _ibm_codes()
_NEC_SELECTED = re.compile("[" + "".join(sorted(_IBM_CODES)) + "]")


def encode_cp932(text: str) -> bytes:
    """The text in cp932 as Windows writes it (IBM extension codes; — as 0x815C); UnicodeEncodeError otherwise."""
    text = text.translate(_WINDOWS_FORMS)
    if not _NEC_SELECTED.search(text):
        return text.encode("cp932")
    parts: list[bytes] = []
    start = 0
    for match in _NEC_SELECTED.finditer(text):
        parts.append(text[start : match.start()].encode("cp932"))
        parts.append(_IBM_CODES[match.group()])
        start = match.end()
    parts.append(text[start:].encode("cp932"))
    return b"".join(parts)


@lru_cache(maxsize=4096)
def _in_cp932(char: str) -> bool:
    try:
        char.translate(_WINDOWS_FORMS).encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


def cp932_form(text: str) -> str:
    """The text as it reads back from a cp932 file (variation selectors dropped, 〜 → ～ …; 〓 for the rest)."""
    converted, _changes = _cp932_text(text, Unencodable.REPLACE)
    return encode_cp932(converted).decode("cp932")


def _cp932_text(text: str, mode: Unencodable) -> tuple[str, list[tuple[str, Action, str]]]:
    """The text made writable in cp932, with each change: (character, action, what was written instead)."""
    out: list[str] = []
    changes: list[tuple[str, Action, str]] = []
    for char in text:
        if _VARIATION_SELECTOR.fullmatch(char):
            base = out[-1] if out else ""
            changes.append((base + char, Action.DROPPED, base))
        elif _in_cp932(char):
            out.append(char)
        elif (twin := unicodedata.normalize("NFC", char)) != char and all(_in_cp932(c) for c in twin):
            out.append(twin)
            changes.append((char, Action.SUBSTITUTED, twin))
        elif mode is Unencodable.REPLACE:
            out.append(GETA)
            changes.append((char, Action.REPLACED, GETA))
        else:
            out.append(char)
            changes.append((char, Action.REFUSED, ""))
    return "".join(out), changes


def _cell_issues(line: int, column: Column, text: str, mode: Unencodable) -> tuple[str, list[CharacterIssue]]:
    converted, changes = _cp932_text(text, mode)
    shown = "" if column.kind in NUMBER_KINDS else without_variation_selectors(text)
    issues = [CharacterIssue(line, column.name, char, action, written, shown) for char, action, written in changes]
    return converted, issues


def _row_fits(cells: Sequence[str]) -> bool:
    try:
        encode_cp932("\x1f".join(cells))
    except UnicodeEncodeError:
        return False
    return True


def scan_cp932(
    columns: Sequence[Column], rows: Iterable[Sequence[str]], *, first_line: int = 2
) -> list[CharacterIssue]:
    """Every character of these rows that cp932 cannot hold as it is, before writing (rows as ``Layout.rows``).

    ``first_line`` is the file's row number of the first row (2: the header is row 1). Issues of refused
    characters have ``Action.REFUSED``; those writing fixes anyway (variation selectors, compatibility
    ideographs) their own action.
    """
    issues: list[CharacterIssue] = []
    for line, cells in enumerate(rows, start=first_line):
        if _row_fits(cells):
            continue
        for column, text in zip(columns, cells, strict=True):
            if not _row_fits((text,)):
                issues.extend(_cell_issues(line, column, text, Unencodable.REFUSE)[1])
    return issues


# CSV ----------------------------------------------------------------------------------------------------------


class _Neutraliser:
    """``neutralise`` applied to the typed cells of each row (a row is checked against the column count)."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.width = len(columns)
        self.typed = [index for index, column in enumerate(columns) if column.typed]

    def __call__(self, cells: Sequence[str]) -> list[str]:
        if len(cells) != self.width:
            raise ValueError(f"a row has {len(cells)} cells for {self.width} columns")
        row = list(cells)
        for index in self.typed:
            text = row[index]
            if text and (text[0] in FORMULA_STARTS or text[0] == QUOTE):
                row[index] = QUOTE + text
        return row


def _batches(rows: Iterable[Sequence[str]], size: int) -> Iterator[list[Sequence[str]]]:
    batch: list[Sequence[str]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _csv_text(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def _cp932_batch(
    columns: Sequence[Column],
    batch: list[list[str]],
    first_line: int,
    mode: Unencodable,
    report: list[CharacterIssue] | None,
) -> bytes:
    try:
        return encode_cp932(_csv_text(batch))
    except UnicodeEncodeError:
        pass
    fixed: list[list[str]] = []
    for line, cells in enumerate(batch, start=first_line):
        if _row_fits(cells):
            fixed.append(cells)
            continue
        row: list[str] = []
        for column, text in zip(columns, cells, strict=True):
            if _row_fits((text,)):
                row.append(text)
                continue
            converted, issues = _cell_issues(line, column, text, mode)
            refused = [issue for issue in issues if issue.action is Action.REFUSED]
            if refused:
                raise UnencodableText(refused)
            if report is not None:
                report.extend(issues)
            row.append(converted)
        fixed.append(row)
    return encode_cp932(_csv_text(fixed))


def write_csv(
    columns: Sequence[Column],
    rows: Iterable[Sequence[str]],
    *,
    encoding: Encoding = Encoding.CP932,
    unencodable: Unencodable = Unencodable.REFUSE,
    report: list[CharacterIssue] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[bytes]:
    """A CSV file (header, then ``rows``), CRLF line ends, as chunks of bytes.

    ``encoding`` is ``Encoding.CP932`` (default) or ``Encoding.UTF8_BOM``. In cp932 a character cp932 cannot hold
    raises ``UnencodableText`` (``Unencodable.REFUSE``: scan with ``scan_cp932`` first, since bytes already sent
    stay sent) or is written as 〓 (``Unencodable.REPLACE``); each change is appended to ``report``. Typed cells
    are neutralised (``neutralise``).
    """
    if encoding is Encoding.XLSX:
        raise ValueError("write_csv writes CSV; use write_xlsx")
    header = [column.name for column in columns]
    if encoding is Encoding.UTF8_BOM:
        yield UTF8_BOM + _csv_text([header]).encode("utf-8")
    else:
        yield encode_cp932(_csv_text([header]))
    line = 2
    written = _Neutraliser(columns)
    for batch in _batches(rows, batch_rows):
        cells = [written(row) for row in batch]
        if encoding is Encoding.UTF8_BOM:
            yield _csv_text(cells).encode("utf-8")
        else:
            yield _cp932_batch(columns, cells, line, unencodable, report)
        line += len(batch)


# xlsx ---------------------------------------------------------------------------------------------------------

SHEET_PART = "xl/worksheets/sheet1.xml"
TEXT_FORMAT = "@"
_EMPTY_SHEET_DATA = re.compile(rb"<sheetData\s*/>|<sheetData>\s*</sheetData>")
# XML 1.0 cannot carry these at all; the text rules refuse them at input, so meeting one is a bug upstream.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_XML_SPECIAL = re.compile("[&<>\r]")


class _Chunks:
    """A write-only stream that keeps what was written until it is taken (the zip archive writes into it)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        self.size = 0
        return data


class _InMemorySheetWriter(WorksheetWriter):  # type: ignore[misc]
    """openpyxl's worksheet writer aimed at memory instead of a temporary file (it only writes an empty sheet)."""

    def cleanup(self) -> None:  # there is no temporary file to remove
        return None


class _Archive:
    """The zip archive as openpyxl's ExcelWriter sees it, the sheet part being already written."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive

    def writestr(self, name: str, data: Any) -> None:
        self._archive.writestr(name, data)

    def write(self, source: Any, name: str) -> None:
        if name != SHEET_PART:
            raise ValueError(f"unexpected part {name}")

    def namelist(self) -> list[str]:
        return self._archive.namelist()

    def close(self) -> None:
        self._archive.close()


def _column_width(column: Column) -> float:
    return max(8.0, min(40.0, len(column.name) * 2.2 + 2))


@dataclass(frozen=True, slots=True)
class _Sheet:
    """What openpyxl made of the sheet: its XML around the rows, and the style ids of the header and the cells."""

    head: bytes
    tail: bytes
    header_style: int
    cell_style: int


def _sheet(workbook: Workbook, columns: Sequence[Column], title: str, row_count: int | None) -> _Sheet:
    """A write-only worksheet set up (widths, text format, frozen header) and written empty by openpyxl."""
    sheet = workbook.create_sheet(title)
    if row_count is not None:  # openpyxl writes a <dimension> for a sheet that can tell its size
        size = f"A1:{get_column_letter(len(columns))}{row_count + 1}"
        sheet.calculate_dimension = lambda: size
    for index, column in enumerate(columns, start=1):
        dimension = sheet.column_dimensions[get_column_letter(index)]
        dimension.width = _column_width(column)
        dimension.number_format = TEXT_FORMAT
    sheet.freeze_panes = "A2"
    header = WriteOnlyCell(sheet)
    header.font = Font(bold=True)
    header.number_format = TEXT_FORMAT
    cell = WriteOnlyCell(sheet)
    cell.number_format = TEXT_FORMAT
    out = io.BytesIO()
    writer = _InMemorySheetWriter(sheet, out=out)
    sheet._writer = writer
    writer.write_top()
    sheet.close()
    xml = out.getvalue()
    found = list(_EMPTY_SHEET_DATA.finditer(xml))
    if len(found) != 1:
        raise RuntimeError("openpyxl wrote an unexpected empty sheet")
    return _Sheet(xml[: found[0].start()], xml[found[0].end() :], header.style_id, cell.style_id)


class _RowWriter:
    """Rows as ``<row>`` elements of string cells (``t="str"``, the value in ``<v>``; empty cells left out).

    ``t="str"`` rather than openpyxl's inline strings: Excel and LibreOffice read both (SheetJS writes ``t="str"``
    by default), and openpyxl's read-only mode reads it as fast as a number, where each inline string costs it a
    rich-text object (about 8 times slower: 100,000 rows of 17 columns would take over 30 s to import).
    """

    def __init__(self, columns: Sequence[Column], style: int) -> None:
        self.starts = [f'<c r="{get_column_letter(index)}' for index in range(1, len(columns) + 1)]
        self.style = style

    def __call__(self, number: int, cells: Sequence[str]) -> str:
        middle = f'{number}" s="{self.style}" t="str"><v>'
        parts = [f'<row r="{number}">']
        for start, text in zip(self.starts, cells, strict=True):
            if not text:
                continue
            if _XML_SPECIAL.search(text):
                text = text.translate(_XML_ESCAPES)
            parts.append(f"{start}{middle}{text}</v></c>")
        parts.append("</row>")
        return "".join(parts)


def write_xlsx(
    columns: Sequence[Column],
    rows: Iterable[Sequence[str]],
    *,
    title: str = "マイナンバー",
    row_count: int | None = None,
) -> Iterator[bytes]:
    """An .xlsx workbook of one sheet (header in bold, frozen), every cell text, as chunks of bytes.

    ``row_count`` (the number of rows, when the caller knows it) writes the sheet's size at its top, which spares
    a reader like openpyxl's read-only mode a first pass over the whole sheet to measure it; a different number
    of rows raises ValueError at the end (the file is then cut short, never wrong).

    openpyxl's write-only workbook makes every part (workbook, styles, the sheet's properties, views, columns and
    tail: openpyxl writes the empty sheet, in memory, never to its usual temporary file); the rows are serialised
    here into the sheet's deflated zip entry as they come (``_RowWriter``): openpyxl's own cell objects cost about
    30 µs a cell (5,000 rows/s for 7 columns), too slow for 100,000 rows of 17 columns. Typed cells are
    neutralised as in CSV.
    """
    sink = _Chunks()
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    workbook = Workbook(write_only=True)
    sheet = _sheet(workbook, columns, title, row_count)
    part_info = zipfile.ZipInfo(SHEET_PART, date_time=time.localtime()[:6])
    part_info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(part_info, "w") as part:
        part.write(sheet.head + b"<sheetData>")
        part.write(_RowWriter(columns, sheet.header_style)(1, [column.name for column in columns]).encode())
        row_xml = _RowWriter(columns, sheet.cell_style)
        written = _Neutraliser(columns)
        number = 2
        for batch in _batches(rows, BATCH_ROWS // 4):
            xml = "".join([row_xml(n, written(cells)) for n, cells in enumerate(batch, number)])
            if _NOT_XML.search(xml):
                raise ValueError(f"rows {number}-{number + len(batch) - 1}: a character XML cannot carry")
            part.write(xml.encode())
            number += len(batch)
            if sink.size >= CHUNK_BYTES:
                yield sink.take()
        if row_count is not None and number - 2 != row_count:
            raise ValueError(f"{number - 2} rows written, {row_count} announced")
        part.write(b"</sheetData>" + sheet.tail)
    yield sink.take()
    ExcelWriter(workbook, _Archive(archive)).write_data()
    archive.close()
    yield sink.take()


def write_file(
    columns: Sequence[Column],
    rows: Iterable[Sequence[str]],
    encoding: Encoding,
    *,
    unencodable: Unencodable = Unencodable.REFUSE,
    report: list[CharacterIssue] | None = None,
    title: str = "マイナンバー",
    row_count: int | None = None,
) -> Iterator[bytes]:
    """The file in ``encoding``: ``write_csv`` for cp932 and UTF-8, ``write_xlsx`` for xlsx (``row_count`` there)."""
    if encoding is Encoding.XLSX:
        return write_xlsx(columns, rows, title=title, row_count=row_count)
    return write_csv(columns, rows, encoding=encoding, unencodable=unencodable, report=report)
