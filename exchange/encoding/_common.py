"""What every writer shares: the encodings, batches of rows, and the guard against CSV injection."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence

from exchange.layouts import Column

BATCH_ROWS = 2000
CHUNK_BYTES = 256 * 1024


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


# CSV injection ------------------------------------------------------------------------------------------------

FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")
QUOTE = "'"


def runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet could take the cell for a formula (OWASP CSV injection), or it starts with ``'``."""
    return bool(text) and (text[0] in FORMULA_STARTS or text[0] == QUOTE)


def neutralise(text: str) -> str:
    """A typed cell as written to CSV: ``'`` before a cell a spreadsheet would run (or one that starts with ``'``)."""
    return QUOTE + text if runs_as_formula(text) else text


def unneutralise(text: str) -> str:
    """A typed cell as read: the ``'`` that ``neutralise`` put in front taken off."""
    return text[1:] if text.startswith(QUOTE) else text


class Neutraliser:
    """The typed cells of each row guarded against formula injection (a row is checked against the column count).

    Called, it gives the row as CSV writes it (``neutralise``). ``marked`` gives it as a workbook writes it: a
    cell a spreadsheet would run keeps its text and is marked, for a cell style with Excel's quote prefix (shown
    as typed, kept as text when edited) instead of a visible ``'``; only a text starting with ``'`` itself gets
    the ``'`` that a reader takes off (``unneutralise``).
    """

    def __init__(self, columns: Sequence[Column]) -> None:
        self.width = len(columns)
        self.typed = [index for index, column in enumerate(columns) if column.typed]

    def __call__(self, cells: Sequence[str]) -> list[str]:
        row = self._checked(cells)
        for index in self.typed:
            if runs_as_formula(row[index]):
                row[index] = QUOTE + row[index]
        return row

    def marked(self, cells: Sequence[str]) -> tuple[list[str], list[int]]:
        """(the row, the indexes of its cells to write with the quote prefix)."""
        row = self._checked(cells)
        quoted = [index for index in self.typed if runs_as_formula(row[index])]
        for index in quoted:
            if row[index][0] == QUOTE:
                row[index] = QUOTE + row[index]
        return row, quoted

    def _checked(self, cells: Sequence[str]) -> list[str]:
        if len(cells) != self.width:
            raise ValueError(f"a row has {len(cells)} cells for {self.width} columns")
        return list(cells)


def batches(rows: Iterable[Sequence[str]], size: int) -> Iterator[list[Sequence[str]]]:
    batch: list[Sequence[str]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
