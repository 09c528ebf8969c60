"""The fields of each 連絡 (seed 002: マイナンバー更新, 入社, 退社, 住所・姓変更, 扶養異動, 保険変更) and their rules.

One description per kind (``NOTICE_FIELDS``) serves the client's form, the office's 台帳に反映 form (prefilled
from the notice, editable) and the notice's page, and one checker (:func:`check_notice_fields`) both forms: names,
kana, dates and codes go through the shared text rules (``app.forms.Checker``, ``tenants.services._people``), free
text that may hold a number is refused (it is kept in clear), and the My Number is checked by the vault's rule and
never kept in ``values`` (the caller seals it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from app.forms import Checker
from app.text import format_date, parse_date
from app.vault import InvalidNumber
from app.vault.numbers import normalize_my_number
from partners.models import NoticeKind
from tenants.models import Relationship
from tenants.services._employees import GENDER_CHOICES
from tenants.services._people import code_field, kana_field, name_field, text_field, today

YES_NO: Final = {"yes": "する", "no": "しない"}
EMPLOYMENT_TYPES: Final = {t: t for t in ("正社員", "契約社員", "パート・アルバイト", "嘱託", "その他")}
LEAVE_REASONS: Final = {r: r for r in ("自己都合", "会社都合", "定年", "契約期間満了", "その他")}
DEPENDANT_CHANGES: Final = {"add": "扶養追加", "remove": "扶養抹消"}
INSURANCE_CHANGES: Final = {"join": "加入する", "leave": "喪失する"}
INSURANCES: Final = {"both": "社会保険・雇用保険", "social": "社会保険", "employment": "雇用保険"}
RELATIONSHIPS: Final = {r.value: r.value for r in Relationship}
NUMBER_FIELD: Final = "number"


@dataclass(frozen=True, slots=True)
class NoticeField:
    """One field of a notice form: ``kind`` is text, name, kana, code, date, birth, address, choice or number."""

    name: str
    label: str
    kind: str = "text"
    required: bool = False
    choices: Mapping[str, str] | None = None
    hint: str = ""


EMPLOYEE_CODE = NoticeField("employee_code", "社員コード", "code", required=True)
NUMBER = NoticeField(
    NUMBER_FIELD, "マイナンバー", "number", hint="12桁。送信後は事務所の担当者だけが認証して表示できます。"
)

NOTICE_FIELDS: Final[dict[NoticeKind, tuple[NoticeField, ...]]] = {
    NoticeKind.NUMBER: (
        EMPLOYEE_CODE,
        NoticeField("dependant_name", "扶養家族の氏名", "name", hint="従業員本人の番号の場合は空欄。"),
        NoticeField(NUMBER_FIELD, "新しいマイナンバー", "number", required=True),
    ),
    NoticeKind.HIRE: (
        EMPLOYEE_CODE,
        NoticeField("name", "氏名", "name", required=True),
        NoticeField("kana", "フリガナ", "kana", required=True),
        NoticeField("birth_date", "生年月日", "birth", required=True),
        NoticeField("gender", "性別", "choice", choices=GENDER_CHOICES),
        NoticeField("address", "住所", "address"),
        NoticeField("hire_date", "入社日", "date", required=True),
        NoticeField("employment_type", "雇用形態", "choice", required=True, choices=EMPLOYMENT_TYPES),
        NoticeField("social_insurance", "社会保険の資格取得", "choice", required=True, choices=YES_NO),
        NoticeField("employment_insurance", "雇用保険の資格取得", "choice", required=True, choices=YES_NO),
        NUMBER,
    ),
    NoticeKind.LEAVE: (
        EMPLOYEE_CODE,
        NoticeField("retirement_date", "退職日", "date", required=True),
        NoticeField("reason", "退職理由", "choice", required=True, choices=LEAVE_REASONS),
    ),
    NoticeKind.ADDRESS_NAME: (
        EMPLOYEE_CODE,
        NoticeField("changed_on", "変更日", "date", required=True),
        NoticeField("new_address", "新しい住所", "address", hint="住所が変わらない場合は空欄。"),
        NoticeField("new_name", "新しい氏名", "name", hint="姓が変わらない場合は空欄。"),
        NoticeField("new_kana", "新しいフリガナ", "kana"),
    ),
    NoticeKind.DEPENDANT: (
        EMPLOYEE_CODE,
        NoticeField("change", "異動の内容", "choice", required=True, choices=DEPENDANT_CHANGES),
        NoticeField("changed_on", "異動日", "date", required=True),
        NoticeField("dependant_name", "扶養家族の氏名", "name", required=True),
        NoticeField("dependant_kana", "扶養家族のフリガナ", "kana"),
        NoticeField("relationship", "続柄", "choice", choices=RELATIONSHIPS, hint="扶養追加の場合は必須。"),
        NoticeField("dependant_birth_date", "扶養家族の生年月日", "birth", hint="扶養追加の場合は必須。"),
        NoticeField(NUMBER_FIELD, "扶養家族のマイナンバー", "number", hint="扶養追加の場合に入力（任意）。"),
    ),
    NoticeKind.INSURANCE: (
        EMPLOYEE_CODE,
        NoticeField("change", "変更の内容", "choice", required=True, choices=INSURANCE_CHANGES),
        NoticeField("insurance", "対象の保険", "choice", required=True, choices=INSURANCES),
        NoticeField("changed_on", "取得日・喪失日", "date", required=True),
    ),
}
MESSAGE_MAX: Final = 1000


@dataclass(frozen=True, slots=True)
class CheckedNotice:
    """A notice form that passed: ``values`` (text as it will be kept, dates as ``YYYY/MM/DD`` text), the parsed
    ``dates``, the normalised ``number`` (12 ASCII digits, or "") and the ``message``."""

    values: dict[str, str]
    dates: dict[str, dt.date]
    number: str
    message: str


def notice_kind(value: str) -> NoticeKind | None:
    """The kind named by ``value`` (``NoticeKind`` value), or None."""
    try:
        return NoticeKind(value)
    except ValueError:
        return None


def check_notice_fields(
    kind: NoticeKind,
    typed: Mapping[str, str],
    *,
    number_allowed: bool = True,
    number_on_file: bool = False,
    message: str = "",
) -> CheckedNotice:
    """Check one notice form of ``kind``; FormInvalid (``Checker.done``) with a Japanese message per field.

    ``number_allowed`` False (an office linked for ファイル・連絡のみ or 閲覧のみ): a typed number is refused.
    ``number_on_file`` (台帳に反映 of a notice that holds one): an empty number field is fine.
    """
    check = Checker()
    values: dict[str, str] = {}
    dates: dict[str, dt.date] = {}
    number = ""
    for field in NOTICE_FIELDS[kind]:
        raw = str(typed.get(field.name) or "")
        if field.kind == "number":
            number = _number(check, field, raw, allowed=number_allowed, on_file=number_on_file)
            continue
        value = _checked(check, field, raw)
        if field.kind in ("date", "birth") and isinstance(value, dt.date):
            dates[field.name] = value
            values[field.name] = format_date(value)
        else:
            values[field.name] = str(value or "")
    _cross_checks(check, kind, values, number)
    note = text_field(check, "message", message, "連絡事項", max_length=MESSAGE_MAX)
    check.done()
    return CheckedNotice(values, dates, number, note)


def _checked(check: Checker, field: NoticeField, raw: str) -> str | dt.date | None:
    if field.kind == "code":
        return code_field(check, field.name, raw, field.label) if raw.strip() or field.required else ""
    if field.kind == "name":
        return name_field(check, field.name, raw, field.label, required=field.required)
    if field.kind == "kana":
        return kana_field(check, field.name, raw, required=field.required)
    if field.kind in ("date", "birth"):
        return check.date(
            field.name, raw, field.label, required=field.required, birth=field.kind == "birth", today=today()
        )
    if field.kind == "choice":
        assert field.choices is not None
        if not raw and not field.required:
            return ""
        return check.choice(field.name, raw, field.label, field.choices)
    return text_field(check, field.name, raw, field.label, required=field.required, max_length=300)


def _number(check: Checker, field: NoticeField, raw: str, *, allowed: bool, on_file: bool) -> str:
    if not raw.strip():
        if field.required and not on_file:
            check.fail(field.name, f"{field.label}を入力してください。")
        return ""
    if not allowed:
        check.fail(
            field.name,
            "この事務所との連携は「番号の取扱い」ではないため、マイナンバーは送れません。番号欄を空欄にしてください。",
        )
        return ""
    try:
        return normalize_my_number(raw)
    except InvalidNumber as exc:
        check.fail(field.name, exc.message)
        return ""


def _cross_checks(check: Checker, kind: NoticeKind, values: dict[str, str], number: str) -> None:
    """What one field alone cannot say: 住所・姓変更 needs a change; 扶養追加 its 続柄 and 生年月日; 扶養抹消 takes
    no number."""
    if kind is NoticeKind.ADDRESS_NAME and not values.get("new_address") and not values.get("new_name"):
        check.fail("new_address", "新しい住所か新しい氏名のどちらかを入力してください。")
    if kind is NoticeKind.ADDRESS_NAME and values.get("new_kana") and not values.get("new_name"):
        check.fail("new_name", "フリガナを変える場合は新しい氏名も入力してください。")
    if kind is NoticeKind.DEPENDANT and values.get("change") == "add":
        if not values.get("relationship"):
            check.fail("relationship", "扶養追加の場合は続柄を選択してください。")
        if not values.get("dependant_birth_date"):
            check.fail("dependant_birth_date", "扶養追加の場合は扶養家族の生年月日を入力してください。")
    if kind is NoticeKind.DEPENDANT and values.get("change") == "remove" and number:
        check.fail(NUMBER_FIELD, "扶養抹消の連絡にはマイナンバーを入力しないでください。")


def stored_date(values: Mapping[str, str], name: str) -> dt.date | None:
    """A date kept in a notice's ``values`` (``YYYY/MM/DD`` text) as a date, or None."""
    text = values.get(name) or ""
    return parse_date(text) if text else None


def shown_values(kind: NoticeKind, values: Mapping[str, str]) -> list[tuple[str, str]]:
    """(label, shown text) of the notice's fields for its page, choices by their labels, the number left out."""
    rows: list[tuple[str, str]] = []
    for field in NOTICE_FIELDS[kind]:
        if field.kind == "number":
            continue
        value = values.get(field.name, "")
        if field.choices is not None:
            value = field.choices.get(value, value)
        rows.append((field.label, value))
    return rows
