"""Number rules: normalising and checking My Numbers, corporate numbers and invoice registration numbers.

Pure functions, used by every form, import and API. Error messages say what to fix and never repeat the input.
"""

from __future__ import annotations

import operator
import re
from typing import Literal

from app.text import compact_number

InvalidCode = Literal["empty", "not_digits", "wrong_length", "check_digit"]

# 総務省令第85号 第五条: weights for the first 11 digits, left to right (Qn = n+1 / n-5 from the right).
MY_NUMBER_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
MY_NUMBER_LENGTH = 12
_MY_NUMBER_ZERO = ord("0") * sum(MY_NUMBER_WEIGHTS)
CORPORATE_NUMBER_LENGTH = 13

_ASCII_DIGITS = re.compile(r"[0-9]+")

_LABELS = {"my_number": "個人番号", "corporate_number": "法人番号", "invoice": "登録番号"}


class InvalidNumber(ValueError):
    """The input is not a valid number; ``code`` says why and ``message`` is the Japanese sentence to show."""

    def __init__(self, code: InvalidCode, message: str) -> None:
        super().__init__(message)
        self.code: InvalidCode = code
        self.message = message


def _invalid(kind: str, code: InvalidCode, length: int = 0, got: int = 0) -> InvalidNumber:
    label = _LABELS[kind]
    messages: dict[InvalidCode, str] = {
        "empty": f"{label}を入力してください。",
        "not_digits": f"{label}は数字だけで入力してください（数字以外の文字が含まれています）。",
        "wrong_length": f"{label}は{length}桁で入力してください（入力されたのは{got}桁です）。",
        "check_digit": f"{label}が正しくありません（チェックデジットが一致しません）。番号を確かめてください。",
    }
    if kind == "invoice" and code == "not_digits":
        messages["not_digits"] = "登録番号は「T」に続けて数字13桁で入力してください。"
    return InvalidNumber(code, messages[code])


def _digits(text: str, kind: str, length: int) -> str:
    if not isinstance(text, str):
        raise _invalid(kind, "not_digits")
    compact = compact_number(text)  # app.text: invisible characters and separators out, full-width digits ASCII
    if not compact:
        raise _invalid(kind, "empty")
    if not _ASCII_DIGITS.fullmatch(compact):
        raise _invalid(kind, "not_digits")
    if len(compact) != length:
        raise _invalid(kind, "wrong_length", length, len(compact))
    return compact


def _require_digits(value: str, length: int) -> None:
    if not isinstance(value, str) or len(value) != length or not _ASCII_DIGITS.fullmatch(value):
        raise ValueError(f"expected {length} ASCII digits")


def my_number_check_digit(first_eleven: str) -> int:
    """The check digit of a My Number from its first 11 digits: 11 − (Σ weight × digit mod 11), 0 for 0 or 1."""
    _require_digits(first_eleven, MY_NUMBER_LENGTH - 1)
    # On the digits' byte values (ASCII: digit + 48), less 48 × Σ weights: the same sum without an int() per digit.
    remainder = (sum(map(operator.mul, first_eleven.encode(), MY_NUMBER_WEIGHTS)) - _MY_NUMBER_ZERO) % 11
    return 0 if remainder <= 1 else 11 - remainder


def normalize_my_number(text: str) -> str:
    """Return the 12 ASCII digits of a My Number typed in any common form, or raise InvalidNumber."""
    number = _digits(text, "my_number", MY_NUMBER_LENGTH)
    if my_number_check_digit(number[:11]) != int(number[11]):
        raise _invalid("my_number", "check_digit")
    return number


def is_valid_my_number(text: str) -> bool:
    """Whether the text is a valid My Number (after normalisation)."""
    try:
        normalize_my_number(text)
    except InvalidNumber:
        return False
    return True


def corporate_number_check_digit(twelve: str) -> int:
    """The leading check digit of a corporate number: 9 − (Σ weight × digit mod 9), weights 1,2 from the right."""
    _require_digits(twelve, CORPORATE_NUMBER_LENGTH - 1)
    total = sum((1 if n % 2 == 1 else 2) * int(d) for n, d in enumerate(reversed(twelve), start=1))
    return 9 - total % 9


def normalize_corporate_number(text: str) -> str:
    """Return the 13 ASCII digits of a corporate number, or raise InvalidNumber."""
    number = _digits(text, "corporate_number", CORPORATE_NUMBER_LENGTH)
    if corporate_number_check_digit(number[1:]) != int(number[0]):
        raise _invalid("corporate_number", "check_digit")
    return number


def is_valid_corporate_number(text: str) -> bool:
    """Whether the text is a valid corporate number (after normalisation)."""
    try:
        normalize_corporate_number(text)
    except InvalidNumber:
        return False
    return True


def normalize_invoice_registration_number(text: str) -> str:
    """Return ``T`` + 13 digits of a qualified invoice issuer's registration number, or raise InvalidNumber."""
    if not isinstance(text, str):
        raise _invalid("invoice", "not_digits")
    compact = compact_number(text).upper()
    if not compact:
        raise _invalid("invoice", "empty")
    if not compact.startswith("T"):
        raise _invalid("invoice", "not_digits")
    digits = _digits(compact[1:], "invoice", CORPORATE_NUMBER_LENGTH)
    if corporate_number_check_digit(digits[1:]) != int(digits[0]):
        raise _invalid("invoice", "check_digit")
    return "T" + digits


def is_valid_invoice_registration_number(text: str) -> bool:
    """Whether the text is ``T`` followed by a valid corporate-style number."""
    try:
        normalize_invoice_registration_number(text)
    except InvalidNumber:
        return False
    return True


def mask_number(number: str) -> str:
    """All but the last 2 digits hidden."""
    return "*" * max(len(number) - 2, 0) + number[-2:]


def mask_my_number(number: str) -> str:
    """``**********`` + the last 2 digits of a (normalised) My Number."""
    return "*" * (MY_NUMBER_LENGTH - 2) + number[-2:]


def is_repeated_digit(number: str) -> bool:
    """Whether the number is one digit repeated (passes the formula, but the UI should ask to double-check)."""
    digits = compact_number(number)
    return len(digits) > 1 and len(set(digits)) == 1
