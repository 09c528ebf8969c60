"""Numbers and codes as typed or pasted: invisible characters and separators removed, full-width made ASCII.

The browser check (app/static/number-check.js) applies the same table; tests/text/number_cases.json holds the
inputs both must agree on.
"""

from __future__ import annotations

import re

from app.text._chars import NUMBER_SEPARATORS, SPACES, fold_width, strip_invisible

_SEPARATOR_RUN = re.compile(f"[{re.escape(NUMBER_SEPARATORS)}]+")
_SPACE_RUN = re.compile(f"[{SPACES}]+")


def compact_number(text: str) -> str:
    """The characters of a typed number without invisible characters and separators, full-width made ASCII.

    What remains is checked by the caller (digits only, length, check digit): ``"１２３４-５６７８ 9012\\u200b"``
    gives ``"123456789012"``; letters or other symbols are left in place for the caller to refuse.
    """
    return _SEPARATOR_RUN.sub("", fold_width(strip_invisible(text)))


def clean_code(text: str) -> str:
    """A code (社員コード, ログインID, 事業者コード…): invisible characters removed, full-width ASCII made ASCII,
    spaces trimmed (inner spaces stay, for the caller to refuse)."""
    return _SPACE_RUN.sub(" ", fold_width(strip_invisible(text))).strip()


INSURANCE_NUMBER_LENGTH = 11


def insurance_number(text: str) -> str:
    """A 雇用保険 被保険者番号 or 適用事業所番号 as typed (``"1234-567890-1"``, full-width, with spaces) as its
    11 ASCII digits; "" for a blank entry.

    ValueError when what remains is not 11 digits (the caller words the Japanese error). Source: the numbers are
    printed 4-6-1 on 雇用保険被保険者証 and the 適用事業所設置届 (11 digits, hyphens only for reading).
    """
    digits = compact_number(text)
    if not digits:
        return ""
    if len(digits) != INSURANCE_NUMBER_LENGTH or not (digits.isascii() and digits.isdigit()):
        raise ValueError("not 11 digits")
    return digits


def format_insurance_number(digits: str) -> str:
    """11 digits as printed on the 被保険者証: ``1234-567890-1`` (anything else is returned as it is)."""
    if len(digits) != INSURANCE_NUMBER_LENGTH:
        return digits
    return f"{digits[:4]}-{digits[4:10]}-{digits[10]}"
