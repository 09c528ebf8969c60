"""Exchange file formats: rows per second writing and reading each encoding, and the peak memory of a write.

Run: ``.venv/bin/python -m bench.exchange [--rows N] [--layout seed|full|withholding]``. For each encoding
(cp932 CSV, UTF-8 CSV with BOM, .xlsx) it writes ``N`` rows (default 100,000) of made-up families through
``Layout.table`` and the streamed writer, then reads the bytes back through ``open_rows`` and ``FileChecker``
(the whole import path without the database), and prints rows/s for each step (by the wall clock, and by the
process's CPU time, steadier on a shared machine), the file size, and the peak
Python memory of the write (tracemalloc, run separately, as it slows the code it measures). No database; pure
formats. Files stay in memory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import tracemalloc
from collections.abc import Iterator

from app.vault.numbers import my_number_check_digit
from exchange import Encoding, FamilyRecord, FileChecker, PersonRecord, layout_named, open_rows, write_file
from exchange.layouts import Layout


def _number(n: int) -> str:
    first = f"{n:011d}"
    return first + str(my_number_check_digit(first))


def families(rows: int) -> Iterator[FamilyRecord]:
    """Families of an employee, a spouse and a child (3 rows each in the seed and full layouts)."""
    issued = dt.date(2016, 1, 1)
    for n in range(rows // 3 + 1):
        yield FamilyRecord(
            PersonRecord("河合 康則", "カワイ ヤスノリ", dt.date(1970, 4, 1), "", _number(3 * n), issued),
            employee_code=f"{n:06d}",
            department_code="101",
            department_name="社長室",
            dependants=(
                PersonRecord("河合 順子", "カワイ ジュンコ", dt.date(1972, 2, 3), "配偶者", _number(3 * n + 1), issued),
                PersonRecord("河合 真奈美", "カワイ マナミ", dt.date(2015, 5, 5), "子", _number(3 * n + 2), issued),
            ),
        )


def table(layout: Layout, rows: int) -> list[list[str]]:
    """Exactly ``rows`` rows of the layout (built before timing: the bench measures the formats, not the data)."""
    out: list[list[str]] = []
    for family in families(rows * 3 if layout.name == "withholding" else rows):
        out.extend(layout.rows(family))
        if len(out) >= rows:
            break
    return out[:rows]


class Timer:
    """Wall-clock and CPU seconds of a block (CPU time is the steadier figure on a machine shared by others)."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def rate(self, n: int) -> str:
        return f"{n / self.wall:8,.0f} ({n / self.cpu:8,.0f} cpu)"


def measure(layout: Layout, rows: list[list[str]], encoding: Encoding) -> str:
    with Timer() as written:
        data = b"".join(write_file(layout.columns, rows, encoding, row_count=len(rows)))
    with Timer() as read:
        count = sum(1 for _ in open_rows(data, layout).rows)
    with Timer() as checked:
        checker = FileChecker(layout)
        for row in open_rows(data, layout).rows:
            checker.check(row)
    if count != len(rows) or checker.summary.errors:
        raise SystemExit(f"{encoding}: read {count} rows, {checker.summary.errors} errors")

    tracemalloc.start()
    for _chunk in write_file(layout.columns, rows, encoding, row_count=len(rows)):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    n = len(rows)
    return (
        f"{encoding.value:10} write {written.rate(n)}  read {read.rate(n)}  read+check {checked.rate(n)} rows/s"
        f"  {len(data) / 1e6:5.1f} MB  write peak {peak / 1e6:4.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--layout", default="seed", choices=["seed", "full", "withholding"])
    args = parser.parse_args()
    layout = layout_named(args.layout, year=2025)
    rows = table(layout, args.rows)
    print(f"layout {layout.name}: {len(rows):,} rows of {len(layout.columns)} columns")
    for encoding in Encoding:
        print(measure(layout, rows, encoding), flush=True)


if __name__ == "__main__":
    main()
