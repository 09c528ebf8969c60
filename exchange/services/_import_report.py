"""What an import's check tells: the counts and the report lines, kept with an upload or a job, shown and downloaded.

The report never holds a number or a cell's value: a line is the row number, the column's header, error or
warning, what kind (``exchange.checks.Code``) and a Japanese sentence saying what to fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import msgspec

from exchange.checks import ERROR, ReportLine
from exchange.encoding import Encoding, Unencodable, write_csv
from exchange.layouts import Column, Kind

MAX_REPORT_LINES = 100_000  # kept per report; beyond, only counted (``ImportReport.omitted``)
REPORT_PER_PAGE = 100  # lines a page of the report screen shows

LEVEL_LABELS = {"error": "エラー", "warning": "警告"}
SUMMARY_LABEL = "集計"
REPORT_COLUMNS = (
    Column("行", Kind.TEXT, "line"),
    Column("列", Kind.TEXT, "column"),
    Column("区分", Kind.TEXT, "level"),
    Column("内容", Kind.TEXT, "message"),
)


class ImportCounts(msgspec.Struct, kw_only=True):
    """The figures of a check: rows read, what a commit would do, and the problems found."""

    rows: int = 0  # data rows read (the header and blank rows not counted)
    skipped: int = 0  # rows with ``*`` in 処理スキップ
    to_register: int = 0  # numbers for people without one (new people included)
    to_replace: int = 0  # numbers for people who have another one
    unchanged: int = 0  # numbers the person already has
    people_to_add: int = 0
    people_to_update: int = 0
    errors: int = 0
    warnings: int = 0
    rows_with_errors: int = 0

    def labelled(self) -> list[tuple[str, str]]:
        """The figures as the report shows them: (label, figure with thousands separators)."""
        figures = [
            ("行数", self.rows),
            ("処理スキップ", self.skipped),
            ("登録する番号", self.to_register),
            ("置き換える番号", self.to_replace),
            ("変更のない番号", self.unchanged),
            ("追加する人", self.people_to_add),
            ("更新する人", self.people_to_update),
            ("エラー", self.errors),
            ("警告", self.warnings),
        ]
        return [(label, f"{value:,}") for label, value in figures]


class ImportReport(msgspec.Struct, kw_only=True):
    """The result of checking one file (``check_import``), serialisable with msgspec to keep beside a job.

    ``rejected`` is the one sentence when the file could not be read as the layout at all (header, encoding,
    kind); ``lines`` the problems row by row, in file order (at most ``MAX_REPORT_LINES``; ``omitted`` counts the
    rest).
    """

    layout: str
    kind: str = ""  # "csv" or "xlsx"
    encoding: str = ""  # "cp932", "utf-8-sig", "utf-8"; "" for xlsx
    rejected: str = ""
    counts: ImportCounts = msgspec.field(default_factory=ImportCounts)
    lines: list[ReportLine] = msgspec.field(default_factory=list)
    omitted: int = 0

    @property
    def has_errors(self) -> bool:
        return bool(self.rejected) or self.counts.errors > 0

    @property
    def has_warnings(self) -> bool:
        return self.counts.warnings > 0

    def committable(self, accepted_warnings: bool) -> bool:
        """Whether a commit may go ahead: no error, and the warnings (if any) accepted."""
        return not self.has_errors and (accepted_warnings or not self.has_warnings)

    def add(self, line: ReportLine) -> None:
        """Count a line and keep it (up to ``MAX_REPORT_LINES``)."""
        if line.level == ERROR:
            self.counts.errors += 1
        else:
            self.counts.warnings += 1
        if len(self.lines) < MAX_REPORT_LINES:
            self.lines.append(line)
        else:
            self.omitted += 1

    def pages(self, per_page: int = REPORT_PER_PAGE) -> int:
        """How many pages the lines fill (at least one)."""
        return max(1, math.ceil((len(self.lines) + bool(self.rejected)) / per_page))

    def page(self, number: int, per_page: int = REPORT_PER_PAGE) -> list[ReportLine]:
        """The lines of page ``number`` (1-based; out of range gives the nearest page)."""
        number = min(max(1, number), self.pages(per_page))
        start = (number - 1) * per_page
        return self.lines[start : start + per_page]

    def csv(self, encoding: Encoding = Encoding.CP932) -> Iterator[bytes]:
        """The report as a CSV file (行, 列, 区分, 内容), cp932 with CRLF by default, as chunks of bytes: first the
        counts (区分 「集計」, the figure's name in 列), then the problems row by row."""
        return write_csv(REPORT_COLUMNS, self._csv_rows(), encoding=encoding, unencodable=Unencodable.REPLACE)

    def _csv_rows(self) -> Iterator[list[str]]:
        for label, figure in self.counts.labelled():  # the counts first, as on the screen
            yield ["", label, SUMMARY_LABEL, figure]
        if self.rejected:
            yield ["", "", LEVEL_LABELS[ERROR], self.rejected]
        for line in self.lines:
            yield [str(line.line), line.column, LEVEL_LABELS.get(line.level, line.level), line.message]
        if self.omitted:
            yield ["", "", "", f"ほかに{self.omitted:,}件の指摘があります（表示しきれないため省略しました）。"]

    def encode(self) -> bytes:
        """The report as msgpack bytes (``decode_report`` reads them back)."""
        return msgspec.msgpack.encode(self)


def decode_report(data: bytes) -> ImportReport:
    """A report encoded by ``ImportReport.encode``."""
    return msgspec.msgpack.decode(data, type=ImportReport)


class ImportOutcome(msgspec.Struct, kw_only=True):
    """What a commit wrote, with the report of the check it made first."""

    report: ImportReport
    registered: int = 0  # numbers stored for people without one (new people included)
    replaced: int = 0
    people_added: int = 0
    people_updated: int = 0
    departments_added: int = 0
    flagged: int = 0  # numbers another person held (重複の疑い opened)


class ImportRefused(Exception):
    """A commit found errors (or warnings not accepted): nothing may stay written; ``report`` says why."""

    def __init__(self, report: ImportReport, message: str) -> None:
        super().__init__(message)
        self.report = report
        self.message = message
