"""Rows of an import file checked in order: the rules across cells, rows and the whole file."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from app.text import INVISIBLE, today_in_japan
from exchange.checks._cells import ERROR, WARNING, CellReader, Code, Level, Problem
from exchange.layouts import FullLayout, Layout, SeedLayout
from exchange.reading import SourceRow
from exchange.records import Entry, Role

NO_COLUMN = "（見出しのない列）"
_INVISIBLE = re.compile(f"[{INVISIBLE}]")
_INVISIBLE_REMOVED = "に見えない文字（ゼロ幅スペースなど）があったため取り除きました。"


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One problem: the row number, the column (its header), error or warning, what kind, and the sentence."""

    line: int
    column: str
    level: Level
    code: Code
    message: str


@dataclass(frozen=True, slots=True)
class CheckedRow:
    """A row checked: the people it holds (values cleaned; a wrong value left empty) and its report lines."""

    line: int
    skip: bool
    entries: tuple[Entry, ...]
    report: tuple[ReportLine, ...]

    @property
    def has_errors(self) -> bool:
        return any(line.level == ERROR for line in self.report)


@dataclass(slots=True)
class Summary:
    """The counts of a check so far (registering and replacing are told apart by the database step)."""

    rows: int = 0
    skipped: int = 0
    rows_with_errors: int = 0
    errors: int = 0
    warnings: int = 0
    numbers: int = 0  # numbers on rows that are not skipped


@dataclass(slots=True)
class _Head:
    code: str
    name: str
    line: int


# Where a file's layout puts dependants (the hint of a repeated 社員コード: a dependant written as an employee).
_WHERE_DEPENDANTS_GO = {
    "seed": "扶養家族の行には扶養Noを入れます",
    "full": "扶養家族の行は区分を「扶養家族」にします",
    "withholding": "配偶者と扶養親族は、従業員の行の欄に入れます",
}


class FileChecker:
    """Checks the rows of one file in order; ``summary`` counts what it saw."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.summary = Summary()
        self._key = secrets.token_bytes(32)  # numbers seen are kept as keyed digests, for this file only
        self._numbers: dict[bytes, tuple[int, str]] = {}
        self._codes: dict[str, int] = {}
        self._head: _Head | None = None
        self._families = isinstance(layout, SeedLayout | FullLayout)
        self._keys = frozenset(column.key for column in layout.columns)
        self._cells = CellReader(today_in_japan())

    # One row --------------------------------------------------------------------------------------------------

    def check(self, row: SourceRow) -> CheckedRow:
        """The row's entries and report lines (report lines of a skipped row are dropped: it is left alone)."""
        report: list[ReportLine] = []
        values = self._values(row, report)
        entries = self.layout.entries(row.line, values)
        skip = bool(values.get("skip"))
        if row.extra:
            report.append(
                _line(row.line, NO_COLUMN, Code.EXTRA_CELLS, "見出しのない列に値があります。値を消してください。")
            )
        self._entry_rules(row.line, entries, report)
        self._family_rules(row.line, entries, skip, report)
        if skip:
            report = [line for line in report if line.code is Code.SKIP_MARK]
        else:
            self._number_rules(entries, report)
        self._count(skip, entries, report)
        return CheckedRow(row.line, skip, tuple(entries), tuple(report))

    def _values(self, row: SourceRow, report: list[ReportLine]) -> dict[str, object]:
        values: dict[str, object] = {}
        problems: list[Problem] = []
        invisible = _INVISIBLE.search("".join(row.values)) is not None
        for column, raw in zip(self.layout.columns, row.values, strict=True):
            values[column.key] = self._cells.parse(column, raw, problems)
            if column.informational:  # read, never applied: not checked
                problems.clear()
                continue
            if invisible and _INVISIBLE.search(raw):
                problems.append((WARNING, Code.INVISIBLE, f"{column.name}{_INVISIBLE_REMOVED}"))
            if problems:
                report.extend(ReportLine(row.line, column.name, level, code, text) for level, code, text in problems)
                problems.clear()
        return values

    # Rules over the people of a row ----------------------------------------------------------------------------

    def _entry_rules(self, line: int, entries: list[Entry], report: list[ReportLine]) -> None:
        columns = self._keys
        for entry in entries:
            person = entry.person
            name_column = entry.columns.get("name", "")
            if not person.name and not _reported(report, name_column):
                report.append(_line(line, name_column, Code.REQUIRED, f"{name_column}を入力してください。"))
            if entry.role is not Role.PAYEE and not entry.employee_code:
                if not _reported(report, "社員コード"):
                    report.append(_line(line, "社員コード", Code.REQUIRED, "社員コードを入力してください。"))
            if "corporate_number" in columns:
                self._payee_rules(line, entry, report)
            if "role" in columns:
                self._role_rules(line, entry, report)
            elif entry.role is Role.DEPENDANT and entry.dependant_no is None and "dependant_no" in columns:
                if not _reported(report, "扶養No"):
                    report.append(
                        _line(line, "扶養No", Code.REQUIRED, "扶養家族の行には扶養No（1, 2 …）を入れてください。")
                    )

    def _payee_rules(self, line: int, entry: Entry, report: list[ReportLine]) -> None:
        person = entry.person
        if entry.role is not Role.PAYEE and person.corporate_number:
            report.append(
                _line(line, "法人番号", Code.NUMBER_NOT_ALLOWED, "法人番号は取引先（法人）の行にだけ入力できます。")
            )
        if entry.role is Role.PAYEE and person.corporate_number and person.my_number:
            report.append(
                _line(
                    line,
                    "法人番号",
                    Code.NUMBER_NOT_ALLOWED,
                    "取引先の行にはマイナンバーか法人番号のどちらか一方だけを入力してください。",
                )
            )

    def _role_rules(self, line: int, entry: Entry, report: list[ReportLine]) -> None:
        if _reported(report, "区分"):
            return
        if entry.role is Role.DEPENDANT and entry.dependant_no is None:
            report.append(
                _line(line, "扶養No", Code.ROLE_MISMATCH, "扶養家族の行には扶養No（1, 2 …）を入れてください。")
            )
        elif entry.role is not Role.DEPENDANT and entry.dependant_no is not None:
            report.append(
                _line(
                    line,
                    "扶養No",
                    Code.ROLE_MISMATCH,
                    f"扶養Noは扶養家族の行にだけ入れてください（区分: {entry.role.value}）。",
                )
            )
        if entry.role is Role.PAYEE and entry.employee_code:
            report.append(
                _line(line, "社員コード", Code.ROLE_MISMATCH, "取引先の行には社員コードを入れないでください。")
            )
        if entry.role is not Role.DEPENDANT and entry.person.relationship:
            report.append(_line(line, "続柄", Code.ROLE_MISMATCH, "続柄は扶養家族の行にだけ入力できます。"))

    # Rules across rows ----------------------------------------------------------------------------------------

    def _family_rules(self, line: int, entries: list[Entry], skip: bool, report: list[ReportLine]) -> None:
        for entry in entries:
            if entry.role is Role.DEPENDANT:
                if self._families:
                    self._dependant_rules(line, entry, report)
                continue
            if entry.role is Role.PAYEE:
                self._head = None
                continue
            code = entry.employee_code
            first = self._codes.get(code) if code else None
            if first is not None and not skip:
                report.append(
                    _line(
                        line,
                        "社員コード",
                        Code.DUPLICATE_CODE,
                        f"社員コードが{first}行目の従業員と同じです。従業員は1人1行にしてください"
                        f"（{_WHERE_DEPENDANTS_GO.get(self.layout.name, '')}）。",
                    )
                )
            elif code and not skip:
                self._codes[code] = line
            self._head = _Head(code, entry.person.name, line)

    def _dependant_rules(self, line: int, entry: Entry, report: list[ReportLine]) -> None:
        head = self._head
        if head is None or not entry.employee_code or head.code != entry.employee_code:
            if entry.employee_code:
                report.append(
                    _line(
                        line,
                        "社員コード",
                        Code.ORPHAN,
                        "この扶養家族の従業員の行（同じ社員コードの行）が、すぐ上にありません。"
                        "扶養家族の行は従業員の行の下に続けて置いてください。",
                    )
                )
            return
        if entry.employee_name and head.name and entry.employee_name != head.name:
            report.append(
                ReportLine(
                    line,
                    "社員名",
                    WARNING,
                    Code.EMPLOYEE_NAME_MISMATCH,
                    f"社員名が{head.line}行目の従業員の行と違います（扶養家族は社員コードで従業員に結び付けます）。",
                )
            )

    def _number_rules(self, entries: list[Entry], report: list[ReportLine]) -> None:
        for entry in entries:
            for key, number in (
                ("my_number", entry.person.my_number),
                ("corporate_number", entry.person.corporate_number),
            ):
                if not number:
                    continue
                column = entry.columns.get(key, "")
                digest = hashlib.blake2b(number.encode(), key=self._key, digest_size=16).digest()
                first = self._numbers.get(digest)
                if first is None:
                    self._numbers[digest] = (entry.line, column)
                    continue
                label = "マイナンバー" if key == "my_number" else "法人番号"
                report.append(
                    _line(
                        entry.line,
                        column,
                        Code.DUPLICATE_IN_FILE,
                        f"この{label}は{first[0]}行目（{first[1]}）と同じです。同じ番号を2人に登録することはできません。",
                    )
                )

    def _count(self, skip: bool, entries: list[Entry], report: list[ReportLine]) -> None:
        summary = self.summary
        summary.rows += 1
        if skip:
            summary.skipped += 1
        if report:
            errors = sum(1 for line in report if line.level == ERROR)
            summary.errors += errors
            summary.warnings += len(report) - errors
            summary.rows_with_errors += 1 if errors else 0
        if not skip:
            for entry in entries:
                summary.numbers += bool(entry.person.my_number) + bool(entry.person.corporate_number)


def check_rows(layout: Layout, rows: Iterable[SourceRow]) -> Iterator[CheckedRow]:
    """Each row checked, in order (``FileChecker`` for the counts as well)."""
    checker = FileChecker(layout)
    for row in rows:
        yield checker.check(row)


def _line(line: int, column: str, code: Code, message: str) -> ReportLine:
    return ReportLine(line, column, ERROR, code, message)


def _reported(report: list[ReportLine], column: str) -> bool:
    return any(line.column == column and line.level == ERROR for line in report)
