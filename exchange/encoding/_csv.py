"""CSV files, streamed: cp932 with CRLF (the default) or UTF-8 with a BOM."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from exchange.encoding._common import BATCH_ROWS, Encoding, Neutraliser, batches
from exchange.encoding._cp932 import (
    Action,
    CharacterIssue,
    Unencodable,
    UnencodableText,
    cell_issues,
    encode_cp932,
    row_fits,
)
from exchange.layouts import Column

UTF8_BOM = b"\xef\xbb\xbf"


# CSV ----------------------------------------------------------------------------------------------------------


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
        if row_fits(cells):
            fixed.append(cells)
            continue
        row: list[str] = []
        for column, text in zip(columns, cells, strict=True):
            if row_fits((text,)):
                row.append(text)
                continue
            converted, issues = cell_issues(line, column, text, mode)
            refused = [issue for issue in issues if issue.action is Action.REFUSED]
            if refused:
                raise UnencodableText(refused)
            if report is not None:
                report.extend(issues)
            row.append(converted)
        fixed.append(row)
    return encode_cp932(_csv_text(fixed))


class CsvWriter:
    """A CSV file written batch by batch: ``start()`` (the header), ``write(rows)`` for each batch, ``finish()``.

    Each call returns that part's bytes, so a caller can encode its batches one at a time (in a worker thread,
    say) between reads from the database; ``write_csv`` is the same writer driven by an iterable. ``encoding``,
    ``unencodable`` and ``report``: see ``write_csv``. Calls must come one after the other, never at once.
    """

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        encoding: Encoding = Encoding.CP932,
        unencodable: Unencodable = Unencodable.REFUSE,
        report: list[CharacterIssue] | None = None,
    ) -> None:
        if encoding is Encoding.XLSX:
            raise ValueError("CsvWriter writes CSV; use XlsxWriter")
        self.columns = columns
        self.encoding = encoding
        self.unencodable = unencodable
        self.report = report
        self.line = 2  # the file's row number of the next row (the header is row 1)
        self._written = Neutraliser(columns)

    def start(self) -> bytes:
        """The header row (with the BOM in UTF-8)."""
        header = _csv_text([[column.name for column in self.columns]])
        if self.encoding is Encoding.UTF8_BOM:
            return UTF8_BOM + header.encode("utf-8")
        return encode_cp932(header)

    def write(self, rows: Sequence[Sequence[str]]) -> bytes:
        """The rows as CSV lines, typed cells neutralised (``UnencodableText`` in cp932 with ``REFUSE``)."""
        cells = [self._written(row) for row in rows]
        if self.encoding is Encoding.UTF8_BOM:
            data = _csv_text(cells).encode("utf-8")
        else:
            data = _cp932_batch(self.columns, cells, self.line, self.unencodable, self.report)
        self.line += len(rows)
        return data

    def finish(self) -> bytes:
        """Nothing more: a CSV file ends with its last line."""
        return b""


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
    are neutralised (``neutralise``). ``CsvWriter`` is the same writer for callers that have their rows in batches.
    """
    writer = CsvWriter(columns, encoding=encoding, unencodable=unencodable, report=report)
    yield writer.start()
    for batch in batches(rows, batch_rows):
        yield writer.write(batch)
