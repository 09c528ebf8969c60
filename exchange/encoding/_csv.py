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
    written = Neutraliser(columns)
    for batch in batches(rows, batch_rows):
        cells = [written(row) for row in batch]
        if encoding is Encoding.UTF8_BOM:
            yield _csv_text(cells).encode("utf-8")
        else:
            yield _cp932_batch(columns, cells, line, unencodable, report)
        line += len(batch)
