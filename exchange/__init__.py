"""Payroll exchange, the file formats (issue 10): layouts, encodings, reading and checking — pure functions.

What is here (nothing touches the database, the vault or HTTP; numbers are plain ``str`` the caller opened):

- ``exchange.records``: ``FamilyRecord`` (an employee with dependants, or a payee), ``PersonRecord``, ``Role``,
  and ``Entry`` (one person read from a row, with the columns it came from).
- ``exchange.layouts``: the layouts ``seed`` (seed 003's CSV, exactly), ``full`` and ``withholding`` (源泉徴収票:
  one row per employee with spouse and dependant slots) as ordered ``Column``s with a ``Kind`` each;
  ``Layout.rows(family)`` for export, ``Layout.entries(line, values)`` and ``group_families`` for import,
  ``Layout.unplaced(family)`` for dependants a withholding row has no slot for; ``layout_named(name, year=)``.
- ``exchange.encoding``: ``write_csv`` (cp932 + CRLF by default, or UTF-8 with BOM) and ``write_xlsx``
  (openpyxl write-only workbook; pass ``row_count`` when known), streamed as bytes chunks in constant memory with
  no temporary file (``CsvWriter`` / ``XlsxWriter`` / ``file_writer``: the same, fed a batch at a time);
  ``scan_cp932`` lists the characters cp932 cannot hold before writing (refuse, 〓, variation selectors
  dropped — all reported as ``CharacterIssue``); ``neutralise`` against CSV injection; ``cp932_form``
  for comparing a name read back from cp932 with the stored one (〜 comes back as ～).
- ``exchange.reading``: ``open_rows(bytes_or_stream, layout)``: .xlsx or CSV by content, cp932 / UTF-8 by
  decoding, header matched exactly (``FileRejected`` with one Japanese sentence), ``SourceRow``s streamed with
  their row numbers and the ``*`` of 処理スキップ.
- ``exchange.checks``: ``FileChecker`` / ``check_rows``: per-row, per-column ``ReportLine``s in Japanese (error or
  warning) and the cleaned entries; ``Summary`` counts.

The export (``exchange.services``, with the database and the vault; pages in ``exchange.controllers``):
``plan_export`` checks a request and surveys the selection (the list's filters or ticked rows) in keyset batches:
counts, characters cp932 cannot hold, dependants without a 源泉徴収票 slot; ``stream_export`` makes the file as
it is read, numbers opened in batches by the vault, one CSV出力 entry per person, committed only once the last
chunk is made; ``exchange.controllers.download_response`` serves it (named, no-store, closed when the client goes).

What is left for the next round (issue 10):

- (done in ``exchange.services``: the export, the import's database checks and its commit in one transaction;
  the API's tokens, people and numbers;)
- background jobs with progress for big files and every .xlsx, the export and import pages, and the JSON API
  (``/api/v1``) with scoped tokens.

A round trip in four lines::

    chunks = write_file(layout.columns, layout.table(families), Encoding.CP932)
    opened = open_rows(b"".join(chunks), layout)
    checked = list(check_rows(layout, opened.rows))
    families_again = list(group_families(e for row in checked for e in row.entries))
"""

from exchange.checks import CheckedRow, Code, FileChecker, ReportLine, Summary, check_rows
from exchange.encoding import (
    CharacterIssue,
    CsvWriter,
    Encoding,
    FileWriter,
    Unencodable,
    UnencodableText,
    XlsxWriter,
    cp932_form,
    file_writer,
    neutralise,
    scan_cp932,
    write_csv,
    write_file,
    write_xlsx,
)
from exchange.layouts import LAYOUT_NAMES, Column, Kind, Layout, group_families, layout_named
from exchange.reading import FileRejected, OpenedFile, SourceRow, open_rows
from exchange.records import Entry, FamilyRecord, PersonRecord, Role

__all__ = [
    "LAYOUT_NAMES",
    "CharacterIssue",
    "CheckedRow",
    "Code",
    "Column",
    "CsvWriter",
    "Encoding",
    "Entry",
    "FamilyRecord",
    "FileChecker",
    "FileRejected",
    "FileWriter",
    "Kind",
    "Layout",
    "OpenedFile",
    "PersonRecord",
    "ReportLine",
    "Role",
    "SourceRow",
    "Summary",
    "Unencodable",
    "UnencodableText",
    "XlsxWriter",
    "check_rows",
    "cp932_form",
    "file_writer",
    "group_families",
    "layout_named",
    "neutralise",
    "open_rows",
    "scan_cp932",
    "write_csv",
    "write_file",
    "write_xlsx",
]
