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

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from exchange.encoding._common import BATCH_ROWS, CHUNK_BYTES, FORMULA_STARTS, QUOTE, Encoding, neutralise, unneutralise
from exchange.encoding._cp932 import (
    GETA,
    Action,
    CharacterIssue,
    Unencodable,
    UnencodableText,
    cp932_form,
    encode_cp932,
    scan_cp932,
)
from exchange.encoding._csv import UTF8_BOM, CsvWriter, write_csv
from exchange.encoding._xlsx import EXCEL_MAX_ROWS, SHEET_PART, TEXT_FORMAT, XlsxWriter, write_xlsx
from exchange.layouts import Column


class FileWriter(Protocol):
    """A file written batch by batch (``CsvWriter``, ``XlsxWriter``): each call returns the bytes it made ready."""

    def start(self) -> bytes: ...

    def write(self, rows: Sequence[Sequence[str]]) -> bytes: ...

    def finish(self) -> bytes: ...


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


def file_writer(
    columns: Sequence[Column],
    encoding: Encoding,
    *,
    unencodable: Unencodable = Unencodable.REFUSE,
    report: list[CharacterIssue] | None = None,
    title: str = "マイナンバー",
    row_count: int | None = None,
) -> FileWriter:
    """``write_file``'s writer for callers with batches: ``XlsxWriter`` for xlsx, ``CsvWriter`` otherwise."""
    if encoding is Encoding.XLSX:
        return XlsxWriter(columns, title=title, row_count=row_count)
    return CsvWriter(columns, encoding=encoding, unencodable=unencodable, report=report)


__all__ = [
    "BATCH_ROWS",
    "CHUNK_BYTES",
    "EXCEL_MAX_ROWS",
    "FORMULA_STARTS",
    "GETA",
    "QUOTE",
    "SHEET_PART",
    "TEXT_FORMAT",
    "UTF8_BOM",
    "Action",
    "CharacterIssue",
    "CsvWriter",
    "Encoding",
    "FileWriter",
    "Unencodable",
    "UnencodableText",
    "XlsxWriter",
    "cp932_form",
    "encode_cp932",
    "file_writer",
    "neutralise",
    "scan_cp932",
    "unneutralise",
    "write_csv",
    "write_file",
    "write_xlsx",
]
