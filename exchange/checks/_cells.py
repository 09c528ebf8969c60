"""One cell of an import file checked by its column's kind: the shared text rules, numbers, marks and choices."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Literal

from app.forms import Checker
from app.text import fold_width, strip_invisible
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
from exchange.layouts import NUMBER_KINDS, Column, Kind
from exchange.reading import SKIP_MARKS
from tenants.services import code_field, name_field

Level = Literal["error", "warning"]
ERROR: Level = "error"
WARNING: Level = "warning"


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
    EMPLOYEE_NAME_MISMATCH = "employee_name_mismatch"  # warning: a dependant's 社員名 is not its employee's
    # Left to the step that reads the database (defined here so that its lines fit the same report):
    UNKNOWN_CODE = "unknown_code"
    HELD_BY_OTHER = "held_by_other"
    DIFFERS_FROM_STORED = "differs_from_stored"
    # Also the database step's (exchange.services): what only the tenant's people can tell.
    UNKNOWN_DEPENDANT = "unknown_dependant"  # no dependant of that name under the employee (layouts that add none)
    SAME_PERSON_TWICE = "same_person_twice"  # two rows for one stored person (or one new one)
    AMBIGUOUS = "ambiguous"  # two stored people fit the row
    NUMBER_KIND = "number_kind"  # a corporate number for an individual payee, or the reverse
    UNKNOWN_DEPARTMENT = "unknown_department"
    REPLACES_CONFIRMED = "replaces_confirmed"  # warning: the number replaced was checked by an admin
    NUMBER_GIVEN_UP = "number_given_up"  # warning: a number for someone whose number was erased or refused
    SKIPPED_EMPLOYEE = "skipped_employee"  # a dependant to add under an employee row that is skipped


Problem = tuple[Level, Code, str]  # one problem of a cell: level, kind, message


_ORDINAL_MAX = 99


def _exponent(text: str) -> bool:
    """Whether the text is a number in Excel's exponent display (``1.23457E+11``, ``1E+11``)."""
    mantissa, mark, exponent = text.partition("E" if "E" in text else "e")
    if not mark or not exponent:
        return False
    digits = mantissa.replace(".", "", 1)
    return digits.isdigit() and digits.isascii() and exponent.lstrip("+").isdigit() and exponent.isascii()


_EMPTY: dict[Kind, object] = {
    Kind.SKIP: False,
    Kind.ORDINAL: None,
    Kind.DATE: None,
    Kind.BIRTH_DATE: None,
}
_TEXT_RULE_KINDS = frozenset({Kind.CODE, Kind.NAME, Kind.KANA, Kind.TEXT, Kind.DATE, Kind.BIRTH_DATE})


_CACHE_SIZE = 4096


class CellReader:
    """Reads the cells of one file by their column's kind; a wrong value gives "" / None and a problem.

    The shared text rules' result is kept per distinct value (a file repeats its employees' names and codes on
    every dependant's row, and its dates) for as long as the file's check: the reader dies with it, so no name
    outlives the import in memory. Numbers are never kept. Birth dates are checked against ``today`` (one day for
    the whole file).
    """

    def __init__(self, today: dt.date) -> None:
        self.today = today
        self._texts: dict[tuple[Kind, str, str], tuple[object, str | None]] = {}

    def parse(self, column: Column, raw: str, problems: list[Problem]) -> object:
        kind = column.kind
        if not raw:
            return _EMPTY.get(kind, "")
        if kind in _TEXT_RULE_KINDS:
            value, error = self._by_text_rules(kind, column.name, raw)
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

    def _by_text_rules(self, kind: Kind, label: str, raw: str) -> tuple[object, str | None]:
        """A name, フリガナ, code, department or date by the shared rules, and the error if any."""
        key = (kind, label, raw)
        if (known := self._texts.get(key)) is not None:
            return known
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
            value = check.date(label, raw, label, birth=kind is Kind.BIRTH_DATE, today=self.today)
        if len(self._texts) >= _CACHE_SIZE:
            self._texts.clear()
        self._texts[key] = result = (value, check.errors.get(label))
        return result


def _skip(raw: str, problems: list[Problem]) -> bool:
    text = strip_invisible(raw).strip()
    if text in SKIP_MARKS:
        return True
    if text:
        problems.append((ERROR, Code.SKIP_MARK, "処理スキップは「*」（この行を取り込まない）か空欄にしてください。"))
    return False


def _ordinal(column: Column, raw: str, problems: list[Problem]) -> int | None:
    text = fold_width(strip_invisible(raw)).strip()
    if not text:
        return None
    if text.isascii() and text.isdigit() and 1 <= int(text) <= _ORDINAL_MAX:
        return int(text)
    problems.append((ERROR, Code.ORDINAL, f"{column.name}は1〜{_ORDINAL_MAX}の数字にしてください。"))
    return None


def _choice(column: Column, raw: str, problems: list[Problem]) -> str:
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


def _number(column: Column, raw: str, problems: list[Problem]) -> str:
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


def _warn_repeated(column: Column, number: str, problems: list[Problem]) -> str:
    if is_repeated_digit(number):
        problems.append(
            (WARNING, Code.REPEATED_DIGIT, f"{column.name}が同じ数字の繰り返しです。番号を確かめてください。")
        )
    return number
