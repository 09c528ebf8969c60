"""Reading an import file back: CSV (cp932 or UTF-8, detected) or .xlsx, header matched, rows streamed.

- The kind of file is decided by its content, never its name: a zip with a workbook is .xlsx (openpyxl's
  read-only mode), an Excel 97-2003 .xls is refused with a sentence saying how to save it, anything else is CSV.
- A CSV's encoding: a UTF-8 BOM is honoured; otherwise the whole file is decoded as UTF-8 (in chunks, nothing
  kept) and read as UTF-8 if that works, as cp932 if not. Bytes cp932 cannot read either stop the reading with
  the row where they are.
- The header row is matched exactly (spaces around a name are ignored, the order is free, empty trailing
  columns are ignored); missing, unknown or repeated columns are one error naming them all.
- Rows come one by one with their row number (the line where the row starts in a CSV, the Excel row number in a
  sheet), values in the layout's column order; blank rows are left out. ``SourceRow.skip`` is the seed's ``*``.
- A typed cell's ``'`` put in front by ``exchange.encoding.neutralise`` is taken off.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from openpyxl import load_workbook

from exchange.encoding import QUOTE, unneutralise
from exchange.layouts import SKIP_MARK, Kind, Layout

XLSX = "xlsx"
CSV = "csv"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 (.xls)
_DECODE_CHUNK = 1 << 20
SKIP_MARKS = frozenset({SKIP_MARK, "＊"})


class FileRejected(ValueError):
    """The file cannot be read as this layout; ``message`` is the Japanese sentence for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One row as read: its row number, its cells in the layout's column order, and any cells past the header."""

    line: int
    values: tuple[str, ...]
    skip: bool = False
    extra: tuple[str, ...] = ()  # non-empty cells in columns without a header (the checks report them)

    def __repr__(self) -> str:  # a row in a traceback or a log line never shows its cells (numbers among them)
        return f"SourceRow(line={self.line}, {len(self.values)} cells, skip={self.skip})"


@dataclass(slots=True)
class OpenedFile:
    """An import file whose header matched: what it is, and its rows (an iterator: read them once)."""

    kind: str  # "csv" or "xlsx"
    encoding: str  # "cp932", "utf-8-sig", "utf-8"; "" for xlsx
    rows: Iterator[SourceRow]


def _as_binary(source: bytes | IO[bytes]) -> IO[bytes]:
    return io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source


def detect_kind(stream: IO[bytes]) -> str:
    """``"xlsx"`` or ``"csv"`` from the first bytes (the stream is left at its start); FileRejected for .xls."""
    stream.seek(0)
    head = stream.read(8)
    stream.seek(0)
    if head.startswith(_OLE_MAGIC):
        raise FileRejected(
            "Excel 97-2003 形式（.xls）のファイルは読み込めません。"
            "Excel で「Excel ブック（.xlsx）」か「CSV」として保存し直してから読み込んでください。"
        )
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(stream) as archive:
                is_workbook = "xl/workbook.xml" in archive.namelist()
        except zipfile.BadZipFile:
            is_workbook = False
        stream.seek(0)
        if not is_workbook:
            raise FileRejected("Excel ブック（.xlsx）でも CSV でもないファイルです。")
        return XLSX
    if _binary(stream):
        raise FileRejected(_NOT_TEXT)
    return CSV


_NOT_TEXT = (
    "CSV（文字のファイル）としても Excel ブック（.xlsx）としても読めないファイルです（画像や圧縮ファイルなど）。"
    "取り込む CSV か Excel ブックを選択してください。"
)
_CONTROL_BYTES = frozenset(range(0x20)) - {0x09, 0x0A, 0x0D}  # never in a CSV of cp932 or UTF-8 text
_SNIFF_BYTES = 8192


def _binary(stream: IO[bytes]) -> bool:
    """Whether the file's first bytes hold a byte no text file has (NUL and the other control characters but
    tab, LF and CR): an image, an archive, random bytes (the stream is left at its start)."""
    stream.seek(0)
    head = stream.read(_SNIFF_BYTES)
    stream.seek(0)
    return any(byte in _CONTROL_BYTES for byte in head)


def _shown_names(names: Sequence[str], limit: int = 10, width: int = 20) -> str:
    """Header names for a message: each in 「」, long ones cut, at most ``limit`` of them."""
    shown = [f"「{(name[:width] + '…') if len(name) > width else (name or '（空欄）')}」" for name in names[:limit]]
    more = f" ほか{len(names) - limit}列" if len(names) > limit else ""
    return "、".join(shown) + more


def detect_encoding(stream: IO[bytes]) -> str:
    """``"utf-8-sig"`` (BOM), ``"utf-8"`` (the whole file decodes as UTF-8) or ``"cp932"``; stream left at start."""
    stream.seek(0)
    if stream.read(3) == codecs.BOM_UTF8:
        stream.seek(0)
        return "utf-8-sig"
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := stream.read(_DECODE_CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp932"
    finally:
        stream.seek(0)
    return "utf-8"


def match_header(layout: Layout, header: Sequence[str]) -> tuple[int, ...]:
    """For each of the layout's columns, its position in the file's header; FileRejected naming what is wrong."""
    names = [name.strip() for name in header]
    while names and not names[-1]:
        names.pop()
    expected = layout.header
    missing = [name for name in expected if name not in names]
    unknown = [name for name in dict.fromkeys(names) if name not in expected]
    repeated = [name for name in dict.fromkeys(names) if name and names.count(name) > 1]
    if missing or unknown or repeated:
        problems = []
        if missing:
            problems.append("足りない列: " + _shown_names(missing))
        if unknown:
            problems.append("この形式にない列: " + _shown_names(unknown))
        if repeated:
            problems.append("2回ある列: " + _shown_names(repeated))
        raise FileRejected(
            f"1行目の見出しが「{layout.title}」の形式と合いません（{'／'.join(problems)}）。"
            f"見出しは次のとおりにしてください: {','.join(expected)}"
        )
    return tuple(names.index(name) for name in expected)


def open_rows(source: bytes | IO[bytes], layout: Layout) -> OpenedFile:
    """The file's rows as ``layout`` (header checked now: FileRejected); a seekable binary stream or bytes."""
    stream = _as_binary(source)
    if detect_kind(stream) == XLSX:
        try:
            workbook = load_workbook(stream, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file; the user needs one sentence
            raise FileRejected(_DAMAGED_XLSX) from exc
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # read the rows once, without a first pass to measure a sheet that says no size
        return OpenedFile(XLSX, "", _rows(layout, _sheet_records(sheet), workbook.close))
    encoding = detect_encoding(stream)
    return OpenedFile(CSV, encoding, _rows(layout, _csv_records(_lines(stream, encoding)), lambda: None))


def _lines(stream: IO[bytes], encoding: str) -> Iterator[str]:
    """The file's lines decoded one by one, so that bytes the encoding cannot read are told with their line.

    Splitting the bytes at LF is safe in both encodings: 0x0A is never part of a cp932 or UTF-8 character.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    for number, raw in enumerate(stream, start=1):
        try:
            yield decoder.decode(raw)
        except UnicodeDecodeError:
            name = "cp932（Shift_JIS）" if encoding == "cp932" else "UTF-8"
            raise FileRejected(
                f"{number}行目に{name}として読めない文字があります。"
                "CSV は cp932（Shift_JIS）か UTF-8 で保存してください。"
            ) from None


def _csv_records(lines: Iterator[str]) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(lines, strict=True)
    start = 1
    try:
        for record in reader:
            yield start, record
            start = reader.line_num + 1
    except csv.Error as exc:
        raise FileRejected(f'{start}行目あたりが CSV として読めません（引用符「"」の閉じ忘れなど）。') from exc


NO_DATA_ROWS = (
    "見出しの行のほかに取り込む行がありません。2行目から1人1行で書いたファイルを選択してください"
    "（処理スキップに「*」のある行と空の行は数えません）。"
)
_DAMAGED_HINT = "ファイルが壊れていないか確かめ、Excel で開いて保存し直してください。"
_DAMAGED_XLSX = "Excel ブック（.xlsx）として読めません。" + _DAMAGED_HINT


def _sheet_records(sheet: Any) -> Iterator[tuple[int, list[str]]]:
    line = 0
    try:
        for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield line, _cells(values)
    except Exception as exc:  # a damaged sheet part: told with the row reached
        raise FileRejected(f"Excel ブックの{line + 1}行目あたりが読めません。{_DAMAGED_HINT}") from exc


def _cells(values: Sequence[object]) -> list[str]:
    return [_cell_text(value) for value in values]


def _cell_text(value: object) -> str:
    """A sheet cell as the text a CSV would hold (numbers without a useless ``.0``, dates ``YYYY/MM/DD``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%Y/%m/%d") if value.time() == dt.time() else value.strftime("%Y/%m/%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y/%m/%d")
    return str(value)


def _rows(layout: Layout, records: Iterator[tuple[int, list[str]]], close: Callable[[], None]) -> Iterator[SourceRow]:
    """Header matched eagerly (the first record), then a generator of the data rows."""
    try:
        first = next(records)
        positions = match_header(layout, first[1])
    except StopIteration:
        close()
        raise FileRejected("ファイルが空です（1行目に見出しが必要です）。") from None
    except FileRejected:
        close()
        raise
    return _data_rows(layout, records, positions, close)


def _data_rows(
    layout: Layout, records: Iterator[tuple[int, list[str]]], positions: tuple[int, ...], close: Callable[[], None]
) -> Iterator[SourceRow]:
    typed = [index for index, column in enumerate(layout.columns) if column.typed]
    skip_index = next((i for i, column in enumerate(layout.columns) if column.kind is Kind.SKIP), None)
    width = len(positions)
    in_order = positions == tuple(range(width))
    known = set(positions)
    try:
        for line, record in records:
            if not "".join(record).strip():
                continue
            if in_order and len(record) >= width:
                values = record[:width]
            else:
                values = [record[position] if position < len(record) else "" for position in positions]
            for index in typed:
                if values[index].startswith(QUOTE):
                    values[index] = unneutralise(values[index])
            extra: tuple[str, ...] = ()
            if len(record) > width:
                extra = tuple(cell for i, cell in enumerate(record) if i not in known and cell.strip())
            skip = skip_index is not None and values[skip_index].strip() in SKIP_MARKS
            yield SourceRow(line, tuple(values), skip, extra)
    finally:
        close()
