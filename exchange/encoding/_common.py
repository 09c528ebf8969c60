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


def neutralise(text: str) -> str:
    """A typed cell as written: ``'`` before a cell a spreadsheet would run (or one that starts with ``'``)."""
    if text and (text[0] in FORMULA_STARTS or text[0] == QUOTE):
        return QUOTE + text
    return text


def unneutralise(text: str) -> str:
    """A typed cell as read: the ``'`` that ``neutralise`` put in front taken off."""
    return text[1:] if text.startswith(QUOTE) else text


class Neutraliser:
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


def batches(rows: Iterable[Sequence[str]], size: int) -> Iterator[list[Sequence[str]]]:
    batch: list[Sequence[str]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
