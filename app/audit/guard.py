"""The content guard: no entry carries a My Number (a run of 12 digits).

Two kinds of text reach an entry. Values a client chose (a user agent, forwarded addresses, a login id typed by a
stranger, names and codes typed into forms) are *redacted*: a digit run is replaced and the length capped, so a
hostile header can never stop the operation being logged. Values the application itself composes (function,
purpose, role, detail) are *refused* on a digit run: one there means a number slipped into code, a bug to fail on.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MAX_DETAIL_CHARS = 8000
MAX_CLIENT_TEXT_CHARS = 512
REDACTED_DIGITS = "［数字列省略］"

# Entry columns whose value a client (or a person typing into a form) chose: redacted, never a reason to refuse.
CLIENT_FIELDS = frozenset(
    {
        "actor_login_id",
        "actor_name",
        "actor_organisation",
        "ip",
        "user_agent",
        "subject_name",
        "subject_department_code",
        "subject_department_name",
        "subject_employee_code",
    }
)

_DIGIT_RUN = re.compile(r"\d{12}")
# Kanji numerals people write a number in (〇一二三四五六七八九, and 零): read as the digits they stand for, so a run
# written in them, or mixed with ASCII or full-width digits, counts like any other (十, 百, 千 are not positional).
KANJI_DIGITS = "〇一二三四五六七八九零"
_KANJI_TO_ASCII = str.maketrans(KANJI_DIGITS, "01234567890")
# Removed before looking for a run: every space, hyphens and the dashes people type between digit groups
# (katakana ー and full-width forms included), and the zero-width characters NFKC leaves in place.
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d\uff70"
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_SPACES = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
_REMOVED = re.compile(f"[{re.escape(_SPACES + _DASHES + _INVISIBLE)}]+")
# Ids in a detail are hex UUIDs; with hyphens removed about one in thirteen would hold 12 decimal digits in a row.
# Keys of an entry's detail whose (text) values a person typed: redacted like CLIENT_FIELDS, wherever they appear.
CLIENT_DETAIL_KEYS = frozenset({"login_id", "code", "tenant_code", "tenant_name", "name", "department_code"})

# Digits with the separators people type between groups: one candidate run, however it is written.
_DIGIT = f"[\\d{KANJI_DIGITS}]"
_DIGIT_GROUP = re.compile(f"{_DIGIT}(?:[{re.escape(_SPACES + _DASHES + _INVISIBLE)}]*{_DIGIT})*")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)


class AuditContentError(ValueError):
    """An entry would carry what the log must never hold; the message names the field, never the value."""

    def __init__(self, field: str, problem: str = "12桁の数字（個人番号の可能性）は記録できません") -> None:
        self.field = field
        super().__init__(f"操作履歴の項目「{field}」に{problem}")


def contains_digit_run(text: str) -> bool:
    """True when ``text`` holds 12 or more digits in a row once normalized (NFKC, kanji numerals read as digits,
    spaces and hyphens removed): ASCII, full-width and kanji digits count alike, mixed or not."""
    folded = unicodedata.normalize("NFKC", text).translate(_KANJI_TO_ASCII)
    if _DIGIT_RUN.search(_REMOVED.sub("", folded)) is None:
        return False
    return _DIGIT_RUN.search(_REMOVED.sub("", _UUID.sub("#", folded))) is not None


# What people also type between digit groups in free text (1234.5678.9012, 1234/5678/9012, 1234_5678…, 1234、5678…),
# after NFKC (full-width ．／＿，become ASCII). Only for checking what a person typed into a form: an IPv4 address
# or a CIDR has 12 digits between dots, so the log's own redaction and refusals keep the narrower rule above.
_TYPED_SEPARATORS = re.compile(f"[{re.escape('._/,、・')}]+")


def looks_like_number(text: str) -> bool:
    """True when typed text may hold a My Number: :func:`contains_digit_run`, or a run of 12+ digits once the other
    separators people type between digit groups (. / _ , 、 ・) are also removed. For form fields and notes."""
    if contains_digit_run(text):
        return True
    return contains_digit_run(_TYPED_SEPARATORS.sub("", unicodedata.normalize("NFKC", text)))


def redact_client_text(text: str | None, limit: int = MAX_CLIENT_TEXT_CHARS) -> str | None:
    """Client-chosen text made safe for the log: every run of 12+ digits replaced, controls dropped, length capped.

    Text without a run is kept as it was typed (only capped); with one, the NFKC form is kept with each run
    (spaces, hyphens and zero-width characters between its digits included) replaced by 「［数字列省略］」.
    """
    if text is None:
        return None
    text = _printable(text[: limit * 4])
    if contains_digit_run(text):
        folded = unicodedata.normalize("NFKC", text)
        text = _DIGIT_GROUP.sub(_redact_group, folded)
        if contains_digit_run(text):  # runs split by something the group pattern does not join: drop every digit
            text = re.sub(_DIGIT, "＊", text)
    return text[:limit]


def redact_client_texts(values: Iterable[str | None]) -> dict[str | None, str | None]:
    """:func:`redact_client_text` of many values (a batch of entries), each distinct value once: their digit runs
    looked for in all of them together, each alone only when that finds one."""
    capped = {value: _printable(value[: MAX_CLIENT_TEXT_CHARS * 4]) for value in set(values) if value is not None}
    if contains_digit_run(_APART.join(text for text in capped.values() if text)):
        redacted: dict[str | None, str | None] = {value: redact_client_text(value) for value in capped}
    else:
        redacted = {value: text[:MAX_CLIENT_TEXT_CHARS] for value, text in capped.items()}
    redacted[None] = None
    return redacted


def _printable(text: str) -> str:
    if text.isprintable():  # the common case (all printable) skips the per-character pass
        return text
    return "".join(c if c.isprintable() or c == " " else " " for c in text)


def _redact_group(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() or c in KANJI_DIGITS for c in match.group(0))
    return REDACTED_DIGITS if digits >= 12 else match.group(0)


def redact_client_fields(
    fields: Mapping[str, str | None], known: dict[str | None, str | None] | None = None
) -> dict[str, str | None]:
    """The client-chosen fields of an entry redacted (see :data:`CLIENT_FIELDS`); other fields unchanged.

    ``known``: redactions already made (a batch of entries repeats its actor), added to as it goes.
    """
    if known is None:
        known = {}
    redacted: dict[str, str | None] = {}
    for field, value in fields.items():
        if field in CLIENT_FIELDS:
            if value not in known:
                known[value] = redact_client_text(value)
            value = known[value]
        redacted[field] = value
    return redacted


# Between the texts checked together: no run spans it (neither a digit nor removed), and NFKC never joins across it.
_APART = "\n#\n"


def check_texts(fields: Mapping[str, str | None]) -> None:
    """Refuse text fields that could carry a My Number (checked together; the culprit is named on a hit)."""
    check_texts_many([fields])


def check_texts_many(entries: Sequence[Mapping[str, str | None]]) -> None:
    """:func:`check_texts` for many entries: all their texts in one pass, each field alone only on a hit (to name
    it, for the first entry that has one)."""
    if contains_digit_run(_APART.join(value for fields in entries for value in fields.values() if value)):
        for fields in entries:
            for field, value in fields.items():
                if value and contains_digit_run(value):
                    raise AuditContentError(field)
        raise AuditContentError("text")


def _redact_detail(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: redact_client_text(item)
            if key in CLIENT_DETAIL_KEYS and isinstance(item, str)
            else _redact_detail(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_detail(item) for item in value]
    return value


def normalized_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """The detail as stored (a JSON round trip: ids become text); refused when too large or holding a digit run.

    Text values under :data:`CLIENT_DETAIL_KEYS` (a login id, a code or a name someone typed) are redacted first.
    """
    return normalized_details([detail])[0]


def normalized_details(details: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`normalized_detail` of many entries' details, their digit runs looked for in one pass."""
    encoded = [_encoded_detail(_redact_detail(detail)) for detail in details]
    if contains_digit_run(_APART.join(encoded)):
        raise AuditContentError("detail")
    return [json.loads(text) for text in encoded]


def _encoded_detail(detail: Any) -> str:
    try:
        encoded = json.dumps(
            detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str
        )
    except (TypeError, ValueError):
        raise AuditContentError("detail", "JSON にできない値は記録できません") from None
    if len(encoded) > MAX_DETAIL_CHARS:
        raise AuditContentError("detail", f"{MAX_DETAIL_CHARS} 文字を超える内容は記録できません")
    return encoded
