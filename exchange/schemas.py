"""msgspec Structs of the exchange package: the JSON API's bodies and answers (documented in /schema/openapi.json,
with examples), and the API token form of the settings page."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec

from tenants.purposes import PURPOSES


def described(description: str, *examples: Any, enum: list[str] | None = None) -> msgspec.Meta:
    """A field's description and examples as the OpenAPI description shows them (``enum`` lists allowed values)."""
    schema: dict[str, Any] = {"description": description}
    if examples:
        schema["examples"] = list(examples)
    if enum is not None:
        schema["extra"] = {"enum": enum}
    return msgspec.Meta(extra_json_schema=schema)


Kind = Literal["employee", "dependant", "payee"]
Status = Literal[
    "not_registered",
    "registered",
    "proxy_registered",
    "self_confirmed",
    "admin_confirmed",
    "declined",
    "erased",
]
Field = Literal["my_number", "corporate_number"]
EXAMPLE_PERSON_ID = "0192c1b2-3e4f-7a8b-9c0d-1e2f3a4b5c6d"
EXAMPLE_DEPARTMENT_ID = "0192c1b2-0000-7000-8000-00000000d001"


# Reading people ---------------------------------------------------------------------------------------------------


class DepartmentRef(msgspec.Struct, kw_only=True):
    """The department a person is listed under (a dependant's is their employee's)."""

    id: uuid.UUID
    code: Annotated[str, described("部門コード", "D01")]
    name: Annotated[str, described("部門名", "総務部")]


class MaskedNumber(msgspec.Struct, kw_only=True):
    """The person's number as lists show it: all but the last 2 digits hidden. Never the number itself."""

    field: Annotated[Field, described("個人番号（my_number）か法人番号（corporate_number）か", "my_number")]
    masked: Annotated[str, described("マスクした番号（下2桁のみ）", "**********18")]
    registered_at: dt.datetime


class PersonRead(msgspec.Struct, kw_only=True):
    """A person (従業員・扶養家族・取引先) with the status of their number and its masked form."""

    id: uuid.UUID
    kind: Annotated[Kind, described("区分: employee（従業員）/ dependant（扶養家族）/ payee（取引先）", "employee")]
    kind_label: Annotated[str, described("区分の表示名", "従業員")]
    employee_code: Annotated[str | None, described("社員コード（従業員のみ）", "A0001")]
    employee_id: Annotated[uuid.UUID | None, described("扶養家族の従業員の ID（扶養家族のみ）")]
    name: Annotated[str, described("氏名（取引先は氏名・名称）", "山田 太郎")]
    kana: Annotated[str, described("フリガナ", "ヤマダ タロウ")]
    birth_date: dt.date | None
    relationship: Annotated[str | None, described("続柄（扶養家族のみ）", "子")]
    payee_type: Annotated[
        Literal["individual", "corporation"] | None, described("個人・法人の区分（取引先のみ）", "individual")
    ]
    department: DepartmentRef | None
    hire_date: dt.date | None
    retirement_date: dt.date | None
    social_insurance_acquired_on: dt.date | None
    social_insurance_lost_on: dt.date | None
    employment_insurance_acquired_on: dt.date | None
    employment_insurance_lost_on: dt.date | None
    email: str
    address: Annotated[str, described("住所・所在地（従業員と取引先）", "東京都千代田区丸の内1-1-1")]
    payment_kind: Annotated[str, described("支払の種類（取引先のみ）", "報酬・料金")]
    status: Annotated[Status, described("番号の状態", "proxy_registered")]
    status_label: Annotated[str, described("番号の状態の表示名", "代理登録済")]
    number: MaskedNumber | None
    duplicate_suspected: Annotated[bool, described("同じ番号が別の人にも登録されている（重複の疑い、未解決）", False)]
    needs_admin_confirmation: Annotated[bool, described("管理者による番号確認がまだ（またはやり直しが必要）", True)]


class PeoplePage(msgspec.Struct, kw_only=True):
    """One page of people in the list's order; ``next_cursor`` reads the next page (null: this is the last)."""

    items: list[PersonRead]
    next_cursor: Annotated[str | None, described("次のページのカーソル（cursor に渡す）。最後のページでは null")]
    total: Annotated[int, described("条件に合う人数（total_is_lower_bound が true なら少なくともこの人数）", 128)]
    total_is_lower_bound: bool


# Writing people ---------------------------------------------------------------------------------------------------

_DATE = "日付（YYYY-MM-DD、2024/04/01 や 令和6年4月1日 も可）"
_CLEAR = "。null か空文字で消去"


class PersonCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A person to add. Employees need 社員コード, 氏名, フリガナ; dependants ``employee_id``, 氏名, 続柄;
    payees ``payee_type`` and 氏名. Fields of another kind are refused. The number is registered separately."""

    kind: Annotated[Kind, described("区分", "employee")]
    employee_code: Annotated[
        str, described("社員コード（従業員: 必須、半角英数字と - _ .、テナント内で一意）", "A0001")
    ] = ""
    name: Annotated[str, described("氏名（必須）", "山田 太郎")] = ""
    kana: Annotated[str, described("フリガナ（従業員: 必須）", "ヤマダ タロウ")] = ""
    birth_date: Annotated[str, described("生年月日: " + _DATE, "1985-04-01")] = ""
    department_id: Annotated[str, described("部門の ID（従業員のみ、任意）", EXAMPLE_DEPARTMENT_ID)] = ""
    hire_date: Annotated[str, described("入社日: " + _DATE, "2015-04-01")] = ""
    retirement_date: Annotated[str, described("退職日: " + _DATE)] = ""
    social_insurance_acquired_on: Annotated[str, described("社会保険の取得日: " + _DATE)] = ""
    social_insurance_lost_on: Annotated[str, described("社会保険の喪失日: " + _DATE)] = ""
    employment_insurance_acquired_on: Annotated[str, described("雇用保険の取得日: " + _DATE)] = ""
    employment_insurance_lost_on: Annotated[str, described("雇用保険の喪失日: " + _DATE)] = ""
    email: Annotated[str, described("メールアドレス（従業員・取引先、任意）", "taro@example.jp")] = ""
    employee_id: Annotated[str, described("従業員の ID（扶養家族: 必須）", EXAMPLE_PERSON_ID)] = ""
    relationship: Annotated[
        str,
        described(
            "続柄（扶養家族: 必須）",
            "子",
            enum=["配偶者", "子", "父", "母", "祖父", "祖母", "兄弟姉妹", "孫", "その他"],
        ),
    ] = ""
    payee_type: Annotated[
        str, described("個人・法人の区分（取引先: 必須）", "individual", enum=["individual", "corporation"])
    ] = ""
    address: Annotated[str, described("住所・所在地（従業員と取引先）", "東京都千代田区丸の内1-1-1")] = ""
    payment_kind: Annotated[str, described("支払の種類（取引先のみ）", "報酬・料金")] = ""


Text = str | None | msgspec.UnsetType


class PersonUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The fields to change (others stay as they are). The kind and, for dependants, the employee cannot change."""

    employee_code: Annotated[Text, described("社員コード（従業員のみ）", "A0001")] = msgspec.UNSET
    name: Annotated[Text, described("氏名", "山田 太郎")] = msgspec.UNSET
    kana: Annotated[Text, described("フリガナ", "ヤマダ タロウ")] = msgspec.UNSET
    birth_date: Annotated[Text, described("生年月日: " + _DATE + _CLEAR, "1985-04-01")] = msgspec.UNSET
    department_id: Annotated[Text, described("部門の ID（従業員のみ）" + _CLEAR, EXAMPLE_DEPARTMENT_ID)] = msgspec.UNSET
    hire_date: Annotated[Text, described("入社日: " + _DATE + _CLEAR)] = msgspec.UNSET
    retirement_date: Annotated[Text, described("退職日: " + _DATE + _CLEAR, "2026-03-31")] = msgspec.UNSET
    social_insurance_acquired_on: Annotated[Text, described("社会保険の取得日: " + _DATE + _CLEAR)] = msgspec.UNSET
    social_insurance_lost_on: Annotated[Text, described("社会保険の喪失日: " + _DATE + _CLEAR)] = msgspec.UNSET
    employment_insurance_acquired_on: Annotated[Text, described("雇用保険の取得日: " + _DATE + _CLEAR)] = msgspec.UNSET
    employment_insurance_lost_on: Annotated[Text, described("雇用保険の喪失日: " + _DATE + _CLEAR)] = msgspec.UNSET
    email: Annotated[Text, described("メールアドレス" + _CLEAR, "taro@example.jp")] = msgspec.UNSET
    relationship: Annotated[Text, described("続柄（扶養家族のみ）", "子")] = msgspec.UNSET
    payee_type: Annotated[Text, described("個人・法人の区分（取引先のみ）", "individual")] = msgspec.UNSET
    address: Annotated[Text, described("住所・所在地（従業員と取引先）")] = msgspec.UNSET
    payment_kind: Annotated[Text, described("支払の種類（取引先のみ）", "報酬・料金")] = msgspec.UNSET


# Numbers ------------------------------------------------------------------------------------------------------------


class NumberRegistration(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The number to register for the person as 代理登録 (a corporation's payee: its 法人番号)."""

    number: Annotated[
        str,
        described(
            "個人番号（12桁）または法人番号（13桁）。全角数字・空白・ハイフンは取り除いて読みます", "123456789018"
        ),
    ]


class RegisteredNumber(msgspec.Struct, kw_only=True):
    """What a registration did: the mask, the new status, and what deserves a second look."""

    person_id: uuid.UUID
    field: Field
    masked: Annotated[str, described("マスクした番号", "**********18")]
    status: Status
    status_label: Annotated[str, described("番号の状態の表示名", "代理登録済")]
    duplicate_suspected: Annotated[bool, described("同じ番号が別の人にも登録されている（重複の疑いとして記録）", False)]
    warnings: Annotated[list[str], described("確認をお願いしたいこと（日本語）")]


class NumbersReadRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The people whose numbers to read, and why: a purpose the tenant notified to each one's kind."""

    ids: Annotated[
        list[uuid.UUID],
        msgspec.Meta(min_length=1, max_length=100),
        described("対象者の ID（1〜100件）", [EXAMPLE_PERSON_ID]),
    ]
    purpose: Annotated[
        str,
        described(
            "利用目的（事業者が本人に通知したもの。従業員・扶養家族と取引先で通知した目的が異なります）",
            PURPOSES[0],
            enum=list(PURPOSES),
        ),
    ]


class NumberRead(msgspec.Struct, kw_only=True):
    """One person's number, read for the purpose (logged as 閲覧)."""

    person_id: uuid.UUID
    field: Field
    number: Annotated[str, described("番号（半角数字のみ）", "123456789018")]


class NumbersRead(msgspec.Struct, kw_only=True):
    """The numbers read (in the order asked) and the people asked for who have no number registered."""

    purpose: str
    items: list[NumberRead]
    without_number: Annotated[list[uuid.UUID], described("番号が登録されていない対象者の ID")]


# Files: export and import -----------------------------------------------------------------------------------------


class UnencodableCharacter(msgspec.Struct, kw_only=True):
    """A character cp932 cannot hold, in whose row and which column (never the cell's value, never a number)."""

    person_id: Annotated[str, described("その行の対象者の ID（源泉徴収票形式では従業員の ID）", EXAMPLE_PERSON_ID)]
    line: Annotated[int, described("ファイルの行番号（見出しが1行目）", 2)]
    column: Annotated[str, described("列の見出し", "社員名")]
    character: Annotated[str, described("文字（異体字セレクタ付きの字はその組み合わせ）", "𠮷")]
    code_points: Annotated[str, described("文字のコードポイント", "U+20BB7")]
    action: Annotated[
        str,
        described(
            "cp932 での扱い: refused（書けない。replace=true で「〓」）、dropped（異体字セレクタを外し元の字で書く）、"
            "substituted（互換漢字を対応する字で書く）",
            "refused",
        ),
    ] = "refused"


class ImportLine(msgspec.Struct, kw_only=True):
    """One problem of the file: row, column, error or warning, its kind and a Japanese sentence (never a value)."""

    line: Annotated[int, described("行番号（見出しが1行目）", 3)]
    column: Annotated[str, described("列の見出し", "マイナンバー")]
    level: Annotated[Literal["error", "warning"], described("error（取り込めない）か warning（確認して受け入れる）")]
    code: Annotated[str, described("指摘の種類", "check_digit")]
    message: Annotated[str, described("直し方（日本語）", "マイナンバーのチェックデジットが正しくありません。")]


class ImportCountsRead(msgspec.Struct, kw_only=True):
    """The figures of a check: rows read, what a commit does, the problems found."""

    rows: int
    skipped: int
    to_register: int
    to_replace: int
    unchanged: int
    people_to_add: int
    people_to_update: int
    errors: int
    warnings: int
    rows_with_errors: int


class ImportWritten(msgspec.Struct, kw_only=True):
    """What a commit wrote (``commit=true`` only)."""

    registered: int
    replaced: int
    people_added: int
    people_updated: int
    departments_added: int
    flagged: Annotated[int, described("別の人にも登録されている番号（重複の疑いとして記録）", 0)]


class ImportResult(msgspec.Struct, kw_only=True):
    """The report of a check (``commit=false``) or of an applied commit (``commit=true``, with ``written``)."""

    layout: str
    committed: Annotated[bool, described("取り込んだか（commit=true で成功したときだけ true）", False)]
    committable: Annotated[bool, described("エラーがなく、警告があれば accept_warnings=true で取り込めるか", True)]
    rejected: Annotated[str, described("ファイルとして読めないときの理由（日本語）。読めたときは空文字", "")]
    counts: ImportCountsRead
    lines: Annotated[list[ImportLine], described("指摘（ファイルの順に最大 lines_limit 件）")]
    omitted_lines: Annotated[int, described("lines に入りきらなかった指摘の件数", 0)]
    written: ImportWritten | None = None


# The settings page ------------------------------------------------------------------------------------------------


class TokenForm(msgspec.Struct, kw_only=True):
    """The settings page's form for a new token: one checkbox per scope (a single tick arrives as a string)."""

    name: str = ""
    scope: list[str] | str = ""
    days: str = "90"
    networks: str = ""

    @property
    def scopes(self) -> list[str]:
        values = [self.scope] if isinstance(self.scope, str) else self.scope
        return [v for v in values if v]
