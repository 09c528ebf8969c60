"""The .xlsx workbook, streamed: openpyxl's write-only workbook for every part, the rows into the zip as they come."""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.writer.excel import ExcelWriter

from exchange.encoding._common import BATCH_ROWS, CHUNK_BYTES, Neutraliser, batches
from exchange.layouts import Column

SHEET_PART = "xl/worksheets/sheet1.xml"
TEXT_FORMAT = "@"
EXCEL_MAX_ROWS = 1_048_576  # the caller offers CSV beyond this (Excel would cut the sheet)
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
    quoted_style: int  # a text cell with Excel's quote prefix: a formula-like text shown as typed, never run


def _sheet(workbook: Workbook, columns: Sequence[Column], title: str, row_count: int | None) -> _Sheet:
    """A write-only worksheet set up (widths, text format, frozen header) and written empty by openpyxl."""
    sheet = workbook.create_sheet(title)
    if row_count is not None and row_count + 1 > EXCEL_MAX_ROWS:
        raise ValueError(f"an Excel sheet holds {EXCEL_MAX_ROWS:,} rows (header included)")
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
    quoted = WriteOnlyCell(sheet)
    quoted.number_format = TEXT_FORMAT
    quoted.quotePrefix = True
    out = io.BytesIO()
    writer = _InMemorySheetWriter(sheet, out=out)
    sheet._writer = writer
    writer.write_top()
    sheet.close()
    xml = out.getvalue()
    found = list(_EMPTY_SHEET_DATA.finditer(xml))
    if len(found) != 1:
        raise RuntimeError("openpyxl wrote an unexpected empty sheet")
    return _Sheet(xml[: found[0].start()], xml[found[0].end() :], header.style_id, cell.style_id, quoted.style_id)


class _RowWriter:
    """Rows as ``<row>`` elements of string cells (``t="str"``, the value in ``<v>``; empty cells left out).

    ``t="str"`` rather than openpyxl's inline strings: Excel and LibreOffice read both (SheetJS writes ``t="str"``
    by default), and openpyxl's read-only mode reads it as fast as a number, where each inline string costs it a
    rich-text object (about 8 times slower: 100,000 rows of 17 columns would take over 30 s to import).
    """

    def __init__(self, columns: Sequence[Column], style: int, quoted_style: int | None = None) -> None:
        self.starts = [f'<c r="{get_column_letter(index)}' for index in range(1, len(columns) + 1)]
        self.style = style
        self.quoted_style = style if quoted_style is None else quoted_style

    def __call__(self, number: int, cells: Sequence[str], quoted: Sequence[int] = ()) -> str:
        """Row ``number``; the cells at the indexes ``quoted`` take the quote prefix's style."""
        plain = f'{number}" s="{self.style}" t="str"><v>'
        prefixed = f'{number}" s="{self.quoted_style}" t="str"><v>'
        parts = [f'<row r="{number}">']
        for index, (start, text) in enumerate(zip(self.starts, cells, strict=True)):
            if not text:
                continue
            if _XML_SPECIAL.search(text):
                text = text.translate(_XML_ESCAPES)
            parts.append(f"{start}{prefixed if index in quoted else plain}{text}</v></c>")
        parts.append("</row>")
        return "".join(parts)


class XlsxWriter:
    """An .xlsx workbook written batch by batch: ``start()``, ``write(rows)`` for each batch, ``finish()``.

    Each call returns the bytes ready so far (``write`` returns ``b""`` until ``CHUNK_BYTES`` have gathered), so
    a caller can encode its batches one at a time (in a worker thread, say) between reads from the database;
    ``write_xlsx`` is the same writer driven by an iterable. ``row_count``: see ``write_xlsx``. Calls must come
    one after the other (from any thread), never at once.
    """

    def __init__(self, columns: Sequence[Column], *, title: str = "マイナンバー", row_count: int | None = None) -> None:
        self.columns = columns
        self.title = title
        self.row_count = row_count
        self._sink = _Chunks()
        self._archive = zipfile.ZipFile(self._sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        self._workbook = Workbook(write_only=True)
        self._part: Any = None
        self._row_xml = _RowWriter(columns, 0)
        self._written = Neutraliser(columns)
        self._number = 2  # the next row's number (the header is row 1)
        self._tail = b""

    def start(self) -> bytes:
        """The workbook's first bytes: the sheet's head and the header row (ValueError for a sheet too long)."""
        sheet = _sheet(self._workbook, self.columns, self.title, self.row_count)
        part_info = zipfile.ZipInfo(SHEET_PART, date_time=time.localtime()[:6])
        part_info.compress_type = zipfile.ZIP_DEFLATED
        self._part = self._archive.open(part_info, "w")
        self._part.write(sheet.head + b"<sheetData>")
        header = [column.name for column in self.columns]
        self._part.write(_RowWriter(self.columns, sheet.header_style)(1, header).encode())
        self._row_xml = _RowWriter(self.columns, sheet.cell_style, sheet.quoted_style)
        self._tail = sheet.tail
        return self._sink.take()

    def write(self, rows: Sequence[Sequence[str]]) -> bytes:
        """Add rows (typed cells neutralised); the bytes ready once ``CHUNK_BYTES`` have gathered, else ``b""``."""
        if self._part is None:
            raise RuntimeError("start() first")
        for batch in batches(rows, BATCH_ROWS // 4):
            first = self._number
            xml = "".join([self._row_xml(n, *self._written.marked(cells)) for n, cells in enumerate(batch, first)])
            if _NOT_XML.search(xml):
                raise ValueError(f"rows {first}-{first + len(batch) - 1}: a character XML cannot carry")
            self._part.write(xml.encode())
            self._number += len(batch)
            if self._number - 1 > EXCEL_MAX_ROWS:
                raise ValueError(f"an Excel sheet holds {EXCEL_MAX_ROWS:,} rows (header included)")
        return self._sink.take() if self._sink.size >= CHUNK_BYTES else b""

    def finish(self) -> bytes:
        """The rest of the workbook: the sheet's end, then every other part openpyxl makes, and the zip directory."""
        if self._part is None:
            raise RuntimeError("start() first")
        if self.row_count is not None and self._number - 2 != self.row_count:
            raise ValueError(f"{self._number - 2} rows written, {self.row_count} announced")
        self._part.write(b"</sheetData>" + self._tail)
        self._part.close()
        ExcelWriter(self._workbook, _Archive(self._archive)).write_data()
        self._archive.close()
        return self._sink.take()


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
    neutralised as in CSV. ``XlsxWriter`` is the same writer for callers that have their rows in batches.
    """
    writer = XlsxWriter(columns, title=title, row_count=row_count)
    yield writer.start()
    for batch in batches(rows, BATCH_ROWS // 4):
        chunk = writer.write(batch)
        if chunk:
            yield chunk
    yield writer.finish()
