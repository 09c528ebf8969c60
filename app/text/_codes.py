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
