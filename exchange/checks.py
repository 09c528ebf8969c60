"""Checking an import file before anything is written: one report line per problem, per row and column, in Japanese.

Every value goes through the rules every other path uses: names, フリガナ, codes and dates through
``app.forms.Checker`` (``app.text``: clean_name, clean_kana, parse_date) and ``tenants.services.code_field`` /
``name_field`` (no 12-digit run in a code or a name); numbers through ``app.vault.numbers`` (length, letters, check
digit). On top of those, what only a file has: a number Excel turned into ``1.23457E+11`` (unrecoverable) or whose
leading zero it dropped (11 digits), invisible characters pasted in, the same number twice in the file, a
dependant's row without its employee's row above it, an empty 社員コード, a 社員コード used by two employees.

``FileChecker`` is fed the rows in file order (it keeps what later rows need: the numbers seen, as keyed
digests, the employee codes, the current family) and gives for each a ``CheckedRow``: its entries (the people
it holds, values cleaned) and its report lines. Nothing is looked up in the database here: the checks that need it
— 社員コード unknown (``Code.UNKNOWN_CODE``), a number another person holds (``Code.HELD_BY_OTHER``), a name, フリガナ
or birth date different from the stored person's (``Code.DIFFERS_FROM_STORED``, a warning the user accepts) —
are the next step's, with ``ReportLine`` as their line too. A message never repeats a number or a cell's value.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from app.forms import Checker
from app.text import INVISIBLE, fold_width, strip_invisible, today_in_japan
from app.vault.numbers import (
    CORPORATE_NUMBER_LENGTH,
    MY_NUMBER_LENGTH,
    InvalidNumber,
    corporate_number_check_digit,
    is_repeated_digit,
    my_number_check_digit,
    normalize_corporate_number,
    normalize_my_number,
)
from exchange.layouts import NUMBER_KINDS, Column, FullLayout, Kind, Layout, SeedLayout
from exchange.reading import SKIP_MARKS, SourceRow
from exchange.records import Entry, Role
from tenants.services import code_field, name_field

Level = Literal["error", "warning"]
ERROR: Level = "error"
WARNING: Level = "warning"
NO_COLUMN = "（見出しのない列）"
_INVISIBLE = re.compile(f"[{INVISIBLE}]")
_INVISIBLE_REMOVED = "に見えない文字（ゼロ幅スペースなど）があったため取り除きました。"


class Code(enum.StrEnum):
    """What a report line is about (for filters and tests; the message says it in Japanese)."""

    INVALID = "invalid"  # a name, フリガナ, code or date the text rules refuse
    REQUIRED = "required"
    INVISIBLE = "invisible"  # warning: zero-width and other invisible characters removed
    SKIP_MARK = "skip_mark"
    CHOICE = "choice"
    ORDINAL = "ordinal"
    EXTRA_CELLS = "extra_cells"
    EXPONENT = "exponent"  # 1.23457E+11: Excel's display, the number is lost
    LOST_ZERO = "lost_zero"  # 11 digits (12 for a corporate number): Excel dropped the leading zero
    LETTERS = "letters"
    LENGTH = "length"
    CHECK_DIGIT = "check_digit"
    REPEATED_DIGIT = "repeated_digit"  # warning: one digit repeated passes the formula but is suspicious
    DUPLICATE_IN_FILE = "duplicate_in_file"
    DUPLICATE_CODE = "duplicate_code"
    ORPHAN = "orphan_dependant"
    ROLE_MISMATCH = "role_mismatch"
    NUMBER_NOT_ALLOWED = "number_not_allowed"
    NO_NUMBER = "no_number"  # warning (seed layout): nothing to register on this row
    EMPLOYEE_NAME_MISMATCH = "employee_name_mismatch"  # warning: a dependant's 社員名 is not its employee's
    # Left to the step that reads the database (defined here so that its lines fit the same report):
    UNKNOWN_CODE = "unknown_code"
    HELD_BY_OTHER = "held_by_other"
    DIFFERS_FROM_STORED = "differs_from_stored"


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


_ORDINAL_MAX = 99


def _exponent(text: str) -> bool:
    """Whether the text is a number in Excel's exponent display (``1.23457E+11``, ``1E+11``)."""
    mantissa, mark, exponent = text.partition("E" if "E" in text else "e")
    if not mark or not exponent:
        return False
    digits = mantissa.replace(".", "", 1)
    return digits.isdigit() and digits.isascii() and exponent.lstrip("+").isdigit() and exponent.isascii()


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
        self._today = today_in_japan()  # birth dates are checked against one day for the whole file

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
        problems: list[tuple[Level, Code, str]] = []
        invisible = _INVISIBLE.search("".join(row.values)) is not None
        for column, raw in zip(self.layout.columns, row.values, strict=True):
            values[column.key] = _parse(column, raw, problems, self._today)
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
        columns = {column.key: column for column in self.layout.columns}
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
                        "（扶養家族の行には扶養Noを入れます）。",
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
        if isinstance(self.layout, SeedLayout):
            for entry in entries:
                column = entry.columns.get("my_number", "")
                if not entry.person.my_number and not _reported(report, column):
                    report.append(
                        ReportLine(
                            entry.line,
                            column,
                            WARNING,
                            Code.NO_NUMBER,
                            "マイナンバーが空欄のため、この行では何も登録しません"
                            "（取り込まない行は処理スキップに * を入れます）。",
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


# One cell ---------------------------------------------------------------------------------------------------------


_EMPTY: dict[Kind, object] = {
    Kind.SKIP: False,
    Kind.ORDINAL: None,
    Kind.DATE: None,
    Kind.BIRTH_DATE: None,
}
_TEXT_RULE_KINDS = frozenset({Kind.CODE, Kind.NAME, Kind.KANA, Kind.TEXT, Kind.DATE, Kind.BIRTH_DATE})


def _parse(column: Column, raw: str, problems: list[tuple[Level, Code, str]], today: dt.date) -> object:
    """A cell's value by its column's kind; a wrong value gives "" / None and a problem."""
    kind = column.kind
    if not raw:
        return _EMPTY.get(kind, "")
    if kind in _TEXT_RULE_KINDS:
        value, error = _by_text_rules(kind, column.name, raw, today)
        if error is not None:
            problems.append((ERROR, Code.INVALID, error))
        return value
    if kind is Kind.SKIP:
        return _skip(raw, problems)
    if kind is Kind.ORDINAL:
        return _ordinal(column, raw, problems)
    if kind is Kind.CHOICE:
        return _choice(column, raw, problems)
    if kind in NUMBER_KINDS:
        return _number(column, raw, problems)
    raise ValueError(f"no rule for {kind}")


@lru_cache(maxsize=4096)
def _by_text_rules(kind: Kind, label: str, raw: str, today: dt.date) -> tuple[object, str | None]:
    """A name, フリガナ, code, department or date by the shared rules, and the error if any.

    Cached: a file repeats its employees' names and codes on every dependant's row, and its dates. Numbers never
    come here (a cache must not keep them).
    """
    check = Checker()
    value: object
    if kind is Kind.CODE:
        value = code_field(check, label, raw, label) if strip_invisible(raw).strip() else ""
    elif kind is Kind.NAME:
        value = name_field(check, label, raw, label, required=False)
    elif kind is Kind.KANA:
        value = check.kana(label, raw, label=label)
    elif kind is Kind.TEXT:
        value = check.text(label, raw, label, max_length=100)
    else:
        value = check.date(label, raw, label, birth=kind is Kind.BIRTH_DATE, today=today)
    return value, check.errors.get(label)


def _skip(raw: str, problems: list[tuple[Level, Code, str]]) -> bool:
    text = strip_invisible(raw).strip()
    if text in SKIP_MARKS:
        return True
    if text:
        problems.append((ERROR, Code.SKIP_MARK, "処理スキップは「*」（この行を取り込まない）か空欄にしてください。"))
    return False


def _ordinal(column: Column, raw: str, problems: list[tuple[Level, Code, str]]) -> int | None:
    text = fold_width(strip_invisible(raw)).strip()
    if not text:
        return None
    if text.isascii() and text.isdigit() and 1 <= int(text) <= _ORDINAL_MAX:
        return int(text)
    problems.append((ERROR, Code.ORDINAL, f"{column.name}は1〜{_ORDINAL_MAX}の数字にしてください。"))
    return None


def _choice(column: Column, raw: str, problems: list[tuple[Level, Code, str]]) -> str:
    text = strip_invisible(raw).strip()
    if not text or text in column.choices:
        return text
    listed = "」「".join(column.choices)
    problems.append((ERROR, Code.CHOICE, f"{column.name}は「{listed}」のどれかにしてください。"))
    return ""


_NUMBER_CODES = {
    "empty": Code.REQUIRED,
    "not_digits": Code.LETTERS,
    "wrong_length": Code.LENGTH,
    "check_digit": Code.CHECK_DIGIT,
}


def _number(column: Column, raw: str, problems: list[tuple[Level, Code, str]]) -> str:
    """The number's digits, or "" with the problem: Excel's exponent display, a lost leading zero, the rules."""
    corporate = column.kind is Kind.CORPORATE_NUMBER
    length = CORPORATE_NUMBER_LENGTH if corporate else MY_NUMBER_LENGTH
    if len(raw) == length and raw.isdigit() and raw.isascii() and _check_digit_fits(raw, corporate):
        return _warn_repeated(column, raw, problems)  # the common case, without the typing rules' work
    text = fold_width(strip_invisible(raw)).strip().removeprefix("'")
    if not text:
        return ""
    if _exponent(text):
        problems.append(
            (
                ERROR,
                Code.EXPONENT,
                f"{column.name}が Excel の指数表示（1.23457E+11 の形）になっていて、元の番号はこのファイルからは"
                "復元できません。Excel で列の書式を「文字列」にして、番号を入力し直してください。",
            )
        )
        return ""
    try:
        number = normalize_corporate_number(text) if corporate else normalize_my_number(text)
    except InvalidNumber as exc:
        digits = "".join(c for c in text if c.isdigit())
        if exc.code == "wrong_length" and digits.isascii() and len(digits) == length - 1 and digits == text:
            problems.append(
                (
                    ERROR,
                    Code.LOST_ZERO,
                    f"{column.name}が{length - 1}桁です。Excel で先頭の 0 が消えた可能性があります。"
                    "列の書式を「文字列」にして、先頭の 0 を付けて入力し直してください。",
                )
            )
        else:
            problems.append((ERROR, _NUMBER_CODES[exc.code], f"{column.name}: {exc.message}"))
        return ""
    return _warn_repeated(column, number, problems)


def _check_digit_fits(digits: str, corporate: bool) -> bool:
    if corporate:
        return corporate_number_check_digit(digits[1:]) == int(digits[0])
    return my_number_check_digit(digits[:11]) == int(digits[11])


def _warn_repeated(column: Column, number: str, problems: list[tuple[Level, Code, str]]) -> str:
    if is_repeated_digit(number):
        problems.append(
            (WARNING, Code.REPEATED_DIGIT, f"{column.name}が同じ数字の繰り返しです。番号を確かめてください。")
        )
    return number


__all__ = [
    "ERROR",
    "WARNING",
    "CheckedRow",
    "Code",
    "FileChecker",
    "Level",
    "ReportLine",
    "Summary",
    "check_rows",
]
