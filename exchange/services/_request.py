"""What an export is asked for: the request, its Japanese validation, the plan, and the outcomes that refuse it."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from app.forms import FormInvalid
from app.text import DateRejected, format_japanese_era, parse_year, today_in_japan
from exchange.encoding import GETA, Action, CharacterIssue, Encoding
from exchange.layouts import LAYOUT_NAMES, Layout
from tenants.purposes import Audience
from tenants.services import KIND_FILTERS, STATUS_FILTERS

MAX_PERSON_IDS = 1000  # ticked rows come from one list page (100 at most); the API may send more, not unbounded
MAX_LISTED = 100  # characters and dependants listed by name before the download; more are counted

LAYOUT_LABELS: dict[str, str] = {
    "seed": "基本（社員コード・社員名・扶養No・扶養者名・マイナンバー）",
    "full": "詳細（部門・フリガナ・生年月日・続柄・取引先を含む）",
    "withholding": "源泉徴収票（1人1行・配偶者と扶養親族の欄）",
}
LAYOUT_SHORT: dict[str, str] = {"seed": "基本", "full": "詳細", "withholding": "源泉徴収票"}
ENCODING_LABELS: dict[str, str] = {
    Encoding.CP932.value: "CSV（Shift_JIS / cp932）— 給与ソフト・Excel 向け",
    Encoding.UTF8_BOM.value: "CSV（UTF-8 BOM付き）",
    Encoding.XLSX.value: "Excel（.xlsx）",
}
ENCODING_SHORT: dict[str, str] = {
    Encoding.CP932.value: "CSV cp932",
    Encoding.UTF8_BOM.value: "CSV UTF-8",
    Encoding.XLSX.value: "Excel",
}
EARLIEST_YEAR = 2016  # the first year 源泉徴収票 carried numbers (平成28年分)
_TRUE = frozenset({"1", "true", "on", "yes"})
_FALSE = frozenset({"", "0", "false", "off", "no"})


def _era_year(year: int) -> str:
    """``令和8年`` for 2026: the 和暦 year of 31 December (the 年分's last day)."""
    return format_japanese_era(dt.date(year, 12, 31)).split("年")[0] + "年"


def default_withholding_year(today: dt.date | None = None) -> int:
    """The 年分 a 源泉徴収票 export most likely means: this year from the 年末調整 season (October), else last year."""
    today = today or today_in_japan()
    return today.year if today.month >= 10 else today.year - 1


@dataclass(frozen=True, slots=True)
class ExportSelection:
    """Who is exported: the masked list's filters (as ``/admin/numbers`` takes them), or the ticked rows.

    ``department`` is a department id of the tenant, ``kind`` a key of ``KIND_FILTERS`` (employee, dependant,
    payee), ``status`` a key of ``STATUS_FILTERS`` (未確認 and 重複の疑い included); "" means any. When
    ``person_ids`` is given the filters are not used: exactly those people (each of the tenant, else 404).
    """

    department: str = ""
    kind: str = ""
    status: str = ""
    person_ids: tuple[uuid.UUID | str, ...] = ()

    @property
    def ticked(self) -> bool:
        return bool(self.person_ids)

    def params(self) -> list[tuple[str, str]]:
        """The selection as query parameters (``person`` repeated for ticked rows), for links and hidden fields."""
        if self.person_ids:
            return [("person", str(person_id)) for person_id in self.person_ids]
        filters = (("department", self.department), ("kind", self.kind), ("status", self.status))
        return [(key, value) for key, value in filters if value]


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """An export as asked: layout (``LAYOUT_NAMES``), encoding, selection, numbers or not, purpose, replacement.

    ``purpose`` is required with numbers (one of the tenant's notified purposes); ``replace_unencodable`` writes
    〓 for what cp932 cannot hold instead of refusing; ``year`` is the withholding layout's 年分 (16歳未満 is
    counted on 31 December; ``default_withholding_year`` when None).
    """

    layout: str = "seed"
    encoding: Encoding = Encoding.CP932
    selection: ExportSelection = field(default_factory=ExportSelection)
    with_numbers: bool = False
    purpose: str | None = None
    replace_unencodable: bool = False
    year: int | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str], person_ids: Sequence[str] = ()) -> ExportRequest:
        """Read a request from form or query values (``layout``, ``encoding``, ``numbers``, ``purpose``,
        ``replace``, ``year``, ``department``, ``kind``, ``status``; ``person_ids`` from repeated ``person``).

        FormInvalid names each value that cannot be read (an unknown layout or encoding, a year that is not a
        number, a flag that is not 1/0/true/false); the rest is checked by ``plan_export``.
        """
        errors: dict[str, str] = {}
        layout = params.get("layout", "") or "seed"
        if layout not in LAYOUT_NAMES:
            errors["layout"] = "出力形式を一覧から選択してください。"
        try:
            encoding = Encoding(params.get("encoding", "") or Encoding.CP932.value)
        except ValueError:
            errors["encoding"] = "文字コード・ファイル形式を一覧から選択してください（cp932、utf-8-sig、xlsx）。"
            encoding = Encoding.CP932
        flags = {name: _flag(params.get(name, ""), name, errors) for name in ("numbers", "replace")}
        year = None
        try:
            year = parse_year(params.get("year", ""))
        except DateRejected as exc:
            errors["year"] = "年分" + exc.message
        if errors:
            raise FormInvalid(errors)
        selection = ExportSelection(
            department=params.get("department", "").strip(),
            kind=params.get("kind", "").strip(),
            status=params.get("status", "").strip(),
            person_ids=tuple(person_id.strip() for person_id in person_ids if person_id.strip()),
        )
        return cls(
            layout=layout,
            encoding=encoding,
            selection=selection,
            with_numbers=flags["numbers"],
            purpose=params.get("purpose", "").strip() or None,
            replace_unencodable=flags["replace"],
            year=year,
        )

    def params(self) -> list[tuple[str, str]]:
        """The request as form or query values (what ``from_params`` reads back)."""
        pairs = [("layout", self.layout), ("encoding", self.encoding.value)]
        if self.with_numbers:
            pairs.append(("numbers", "1"))
        if self.purpose:
            pairs.append(("purpose", self.purpose))
        if self.replace_unencodable:
            pairs.append(("replace", "1"))
        if self.year is not None:
            pairs.append(("year", str(self.year)))
        return pairs + self.selection.params()


def _flag(value: str, name: str, errors: dict[str, str]) -> bool:
    folded = value.strip().lower()
    if folded in _TRUE:
        return True
    if folded not in _FALSE:
        errors[name] = "1 か 0（true か false）で指定してください。"
    return False


def check_request(request: ExportRequest) -> None:
    """What can be checked without the database: the selection's filter values and the year (FormInvalid)."""
    errors: dict[str, str] = {}
    selection = request.selection
    if selection.kind and selection.kind not in KIND_FILTERS:
        errors["kind"] = "種別を一覧から選択してください。"
    if selection.status and selection.status not in STATUS_FILTERS:
        errors["status"] = "状態を一覧から選択してください。"
    if len(selection.person_ids) > MAX_PERSON_IDS:
        errors["person"] = f"選択できるのは{MAX_PERSON_IDS:,}人までです。部門・種別・状態で絞り込んで出力してください。"
    if request.layout == "withholding" and request.year is not None:
        latest = today_in_japan().year
        if not EARLIEST_YEAR <= request.year <= latest:
            errors["year"] = (
                f"年分は{EARLIEST_YEAR}年（平成28年）から{latest}年（{_era_year(latest)}）までで入力してください。"
            )
    if request.replace_unencodable and request.encoding is not Encoding.CP932:
        errors["replace"] = "「〓」への置き換えは cp932（Shift_JIS）の CSV だけで指定できます。"
    if errors:
        raise FormInvalid(errors)


@dataclass(frozen=True, slots=True)
class UnplacedDependant:
    """A dependant the withholding layout has no slot for (the 源泉徴収票 carries 4 of each kind): not written."""

    employee_code: str
    employee_name: str
    name: str
    relationship: str


class Outcome(enum.StrEnum):
    """Why a plan cannot be downloaded as asked."""

    READY = "ready"
    UNENCODABLE = "unencodable"  # cp932 without replacement and characters cp932 cannot hold
    EMPTY = "empty"  # nobody to export


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """What a download would carry, checked: counts, the characters cp932 cannot hold, dependants left out.

    ``people``: people whose rows the file carries (with numbers: one CSV出力 entry each); ``rows``: data rows
    (employees written only to head ticked dependants are rows, marked ``*`` in 処理スキップ, not people);
    ``payees_left_out``: payees a layout without payee rows leaves out; ``audiences``: the kinds of person the
    purpose was notified to (with numbers only those are exported; ``not_notified`` counts the people left out
    for it: 番号法 allows a number's use only within the purposes notified to its holder); ``orphans``: dependants
    without an employee to put them under. ``issues`` lists the first ``MAX_LISTED`` characters (``issue_count`` in all,
    ``refused_count`` of them cp932 cannot hold at all), as the chosen mode will write them; ``unplaced`` the
    first ``MAX_LISTED`` dependants without a withholding slot (``unplaced_count``).
    """

    request: ExportRequest
    layout: Layout
    tenant_id: uuid.UUID
    people: int
    rows: int
    payees_left_out: int
    audiences: frozenset[Audience]
    not_notified: int
    orphans: int
    heads: int
    issues: tuple[CharacterIssue, ...]
    issue_count: int
    refused_count: int
    unplaced: tuple[UnplacedDependant, ...]
    unplaced_count: int
    filename: str
    ascii_filename: str
    created_at: dt.datetime

    @property
    def encoding(self) -> Encoding:
        return self.request.encoding

    @property
    def media_type(self) -> str:
        return self.request.encoding.media_type

    @property
    def outcome(self) -> Outcome:
        if self.refused_count and self.request.encoding is Encoding.CP932 and not self.request.replace_unencodable:
            return Outcome.UNENCODABLE
        if self.people == 0:
            return Outcome.EMPTY
        return Outcome.READY

    @property
    def not_notified_to(self) -> str:
        """Who ``not_notified`` are (「取引先」 or 「従業員・扶養家族」)."""
        return "、".join(audience.label for audience in Audience if audience not in self.audiences)

    @property
    def blocked(self) -> bool:
        """cp932 was asked without replacement and some character cp932 cannot hold would be written."""
        return self.outcome is Outcome.UNENCODABLE

    @property
    def function(self) -> str:
        """The log's 機能 for this export (layout and file kind)."""
        what = "マイナンバー出力" if self.request.with_numbers else "一覧出力"
        return f"{what}（{LAYOUT_SHORT[self.request.layout]}・{ENCODING_SHORT[self.request.encoding.value]}）"


def as_written(issue: CharacterIssue, replace_unencodable: bool) -> CharacterIssue:
    """A scanned issue as the chosen mode writes it: refused, or (with replacement) written as 〓."""
    if replace_unencodable and issue.action is Action.REFUSED:
        return replace(issue, action=Action.REPLACED, replacement=GETA)
    return issue


class ExportRefused(Exception):
    """The export cannot be made as asked; ``message`` is one Japanese sentence saying what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnencodableCharacters(ExportRefused):
    """cp932 without replacement, and the file would hold characters cp932 cannot: the API answers 422 with
    ``plan.issues`` (the first ``MAX_LISTED``; ``plan.refused_count`` in all) unless replacement is asked."""

    def __init__(self, plan: ExportPlan) -> None:
        super().__init__(
            f"cp932（Shift_JIS）で出力できない文字が{plan.refused_count:,}か所あります。"
            "UTF-8 か Excel（.xlsx）で出力するか、「〓」に置き換えて出力してください。"
        )
        self.plan = plan

    @property
    def issues(self) -> tuple[CharacterIssue, ...]:
        return tuple(issue for issue in self.plan.issues if issue.action is Action.REFUSED)
