"""The file layouts: ordered columns with a kind each, families turned into rows and rows back into entries.

Three layouts (``LAYOUT_NAMES``):

- **seed** — exactly the columns of the seed service's CSV (seed 003, 「CSVファイル出力機能で、給与ソフトと連携」):
  処理スキップ, 社員コード, 社員名, 扶養No, 扶養者名, マイナンバー発行日, マイナンバー. One row per employee, then
  one per dependant numbered 1, 2 … right under their employee, with 扶養No empty on the employee's row and the
  employee's 社員コード and 社員名 repeated on the dependants' rows. Dates are written ``YYYY/MM/DD`` as in the
  seed's sample (``2016/01/01``). マイナンバー発行日 is the date the service shows as 発行日 beside the masked
  number (the seed's list and self-registration screens); the sample shows it on every row, numbers or not.
  ``*`` in 処理スキップ leaves the row alone on import: the seed's sample is a template with ``*`` on every row
  and no numbers, to be cleared on the rows one fills in.
- **full** — the seed's columns and 区分 (従業員 / 扶養家族 / 取引先), 部門コード, 部門, フリガナ, 生年月日, 続柄,
  法人番号 (corporate payees), 状態, 登録日, 管理者確認日. Payees come after the employees with an empty
  社員コード; a payee's name is in 社員名. 状態, 登録日 and 管理者確認日 are information: an import reads them but
  never applies them.
- **withholding** — one row per employee as the 給与所得の源泉徴収票 needs the numbers; see ``WithholdingLayout``.

Every cell is text (``format_cell``); ``exchange.encoding`` writes it, ``exchange.checks`` reads it back.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from app.text import format_date
from exchange.records import Entry, FamilyRecord, PersonRecord, Role
from tenants.models import CollectionStatus, Relationship

SKIP_MARK = "*"


class Kind(enum.StrEnum):
    """What a column holds, which decides how it is written, read and checked."""

    SKIP = "skip"  # 処理スキップ: "*" or empty
    CODE = "code"  # 社員コード, 部門コード
    NAME = "name"
    KANA = "kana"
    TEXT = "text"  # 部門 (a department's name)
    ORDINAL = "ordinal"  # 扶養No
    DATE = "date"
    BIRTH_DATE = "birth_date"
    CHOICE = "choice"
    MY_NUMBER = "my_number"
    CORPORATE_NUMBER = "corporate_number"


# Cells typed by people: a spreadsheet could take one starting with "=" for a formula, so they are neutralised
# (exchange.encoding.neutralise). Numbers, dates, 扶養No and the fixed words are written by this service only.
TYPED_KINDS = frozenset({Kind.CODE, Kind.NAME, Kind.KANA, Kind.TEXT})
NUMBER_KINDS = frozenset({Kind.MY_NUMBER, Kind.CORPORATE_NUMBER})


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its header (matched exactly on import), its kind, and the value key it is filled from."""

    name: str
    kind: Kind
    key: str
    choices: tuple[str, ...] = ()
    informational: bool = False  # written on export, read but never applied on import

    @property
    def typed(self) -> bool:
        """Whether people type this cell (and a spreadsheet could run it): neutralised when written."""
        return self.kind in TYPED_KINDS


ROLE_CHOICES = tuple(role.value for role in Role)
RELATIONSHIP_CHOICES = tuple(relationship.value for relationship in Relationship)
STATUS_CHOICES = tuple(status.value for status in CollectionStatus)

SKIP = Column("処理スキップ", Kind.SKIP, "skip")
EMPLOYEE_CODE = Column("社員コード", Kind.CODE, "employee_code")
EMPLOYEE_NAME = Column("社員名", Kind.NAME, "employee_name")
DEPENDANT_NO = Column("扶養No", Kind.ORDINAL, "dependant_no")
DEPENDANT_NAME = Column("扶養者名", Kind.NAME, "dependant_name")
ISSUED_ON = Column("マイナンバー発行日", Kind.DATE, "number_issued_on")
MY_NUMBER = Column("マイナンバー", Kind.MY_NUMBER, "my_number")


def format_cell(column: Column, value: object) -> str:
    """A value as its cell shows it: dates ``YYYY/MM/DD``, ``*`` for a skipped row, "" for nothing."""
    if column.kind is Kind.SKIP:
        return SKIP_MARK if value else ""
    if value is None or value == "":
        return ""
    if column.kind in (Kind.DATE, Kind.BIRTH_DATE):
        if not isinstance(value, dt.date):
            raise TypeError(f"{column.name}: a date is expected")
        return format_date(value)
    return str(value)


class Layout:
    """A layout: its columns in order, the roles it carries, and the two directions between families and rows."""

    name: str = ""
    title: str = ""
    roles: frozenset[Role] = frozenset()
    columns: tuple[Column, ...] = ()

    @property
    def header(self) -> tuple[str, ...]:
        """The header row, in order."""
        return tuple(column.name for column in self.columns)

    def values(self, family: FamilyRecord) -> list[dict[str, object]]:
        """The family's rows as values keyed by ``Column.key`` (ValueError for a role the layout has no place for)."""
        raise NotImplementedError

    def entries(self, line: int, values: Mapping[str, object]) -> list[Entry]:
        """The people of one row read back (values keyed by ``Column.key``, already parsed by ``exchange.checks``)."""
        raise NotImplementedError

    def unplaced(self, family: FamilyRecord) -> tuple[PersonRecord, ...]:
        """Dependants the layout has no slot for (only the withholding layout has slots); shown to the user."""
        return ()

    def kept(self, family: FamilyRecord) -> FamilyRecord:
        """What of the family this layout carries: the family read back from its own rows, before any text."""
        entries = [entry for row in self.values(family) for entry in self.entries(0, row)]
        return next(group_families(entries))

    def rows(self, family: FamilyRecord) -> list[list[str]]:
        """The family's rows as text cells, in column order."""
        return [[format_cell(column, row.get(column.key)) for column in self.columns] for row in self.values(family)]

    def table(self, families: Iterable[FamilyRecord]) -> Iterator[list[str]]:
        """Every family's rows, one after the other (the header is not included)."""
        for family in families:
            yield from self.rows(family)

    def _check_role(self, family: FamilyRecord) -> None:
        if family.role not in self.roles:
            raise ValueError(f"the {self.name} layout has no place for a {family.role.name.lower()}")


def _columns_of(entry_columns: Iterable[Column]) -> dict[str, str]:
    return {column.key: column.name for column in entry_columns}


class SeedLayout(Layout):
    """Seed 003's CSV: employees and their dependants, one row each."""

    name = "seed"
    title = "基本（マイナンバー一覧）"
    roles = frozenset({Role.EMPLOYEE})
    columns = (SKIP, EMPLOYEE_CODE, EMPLOYEE_NAME, DEPENDANT_NO, DEPENDANT_NAME, ISSUED_ON, MY_NUMBER)

    def values(self, family: FamilyRecord) -> list[dict[str, object]]:
        self._check_role(family)
        head = family.head
        common = {"employee_code": family.employee_code, "employee_name": head.name}
        rows: list[dict[str, object]] = [{**common, **_number_values(head)}]
        for number, dependant in enumerate(family.dependants, start=1):
            rows.append(
                {**common, "dependant_no": number, "dependant_name": dependant.name, **_number_values(dependant)}
            )
        return rows

    def entries(self, line: int, values: Mapping[str, object]) -> list[Entry]:
        dependant_no = _int_or_none(values.get("dependant_no"))
        is_dependant = dependant_no is not None or bool(values.get("dependant_name"))
        name_column = DEPENDANT_NAME if is_dependant else EMPLOYEE_NAME
        person = PersonRecord(
            name=_text(values, name_column.key),
            my_number=_text(values, "my_number"),
            number_issued_on=_date_or_none(values.get("number_issued_on")),
            skip=bool(values.get("skip")),
        )
        return [
            Entry(
                line=line,
                role=Role.DEPENDANT if is_dependant else Role.EMPLOYEE,
                person=person,
                employee_code=_text(values, "employee_code"),
                employee_name=_text(values, "employee_name") if is_dependant else "",
                dependant_no=dependant_no,
                columns={**_columns_of((EMPLOYEE_CODE, ISSUED_ON, MY_NUMBER, DEPENDANT_NO)), "name": name_column.name},
            )
        ]


def _number_values(person: PersonRecord) -> dict[str, object]:
    return {"skip": person.skip, "number_issued_on": person.number_issued_on, "my_number": person.my_number}


ROLE = Column("区分", Kind.CHOICE, "role", choices=ROLE_CHOICES)
DEPARTMENT_CODE = Column("部門コード", Kind.CODE, "department_code")
DEPARTMENT_NAME = Column("部門", Kind.TEXT, "department_name")
KANA = Column("フリガナ", Kind.KANA, "kana")
BIRTH_DATE = Column("生年月日", Kind.BIRTH_DATE, "birth_date")
RELATIONSHIP = Column("続柄", Kind.CHOICE, "relationship", choices=RELATIONSHIP_CHOICES)
CORPORATE_NUMBER = Column("法人番号", Kind.CORPORATE_NUMBER, "corporate_number")
STATUS = Column("状態", Kind.CHOICE, "status", choices=STATUS_CHOICES, informational=True)
REGISTERED_ON = Column("登録日", Kind.DATE, "registered_on", informational=True)
ADMIN_CONFIRMED_ON = Column("管理者確認日", Kind.DATE, "admin_confirmed_on", informational=True)


class FullLayout(Layout):
    """Everything the service knows about a person that a payroll or HR file may want, one row per person."""

    name = "full"
    title = "詳細（部門・フリガナ・生年月日・続柄・取引先を含む）"
    roles = frozenset({Role.EMPLOYEE, Role.PAYEE})
    columns = (
        SKIP,
        ROLE,
        DEPARTMENT_CODE,
        DEPARTMENT_NAME,
        EMPLOYEE_CODE,
        EMPLOYEE_NAME,
        DEPENDANT_NO,
        DEPENDANT_NAME,
        KANA,
        BIRTH_DATE,
        RELATIONSHIP,
        ISSUED_ON,
        MY_NUMBER,
        CORPORATE_NUMBER,
        STATUS,
        REGISTERED_ON,
        ADMIN_CONFIRMED_ON,
    )

    def values(self, family: FamilyRecord) -> list[dict[str, object]]:
        self._check_role(family)
        head = family.head
        common = {
            "department_code": family.department_code,
            "department_name": family.department_name,
            "employee_code": family.employee_code,
            "employee_name": head.name,
        }
        rows: list[dict[str, object]] = [{**common, "role": family.role.value, **_person_values(head)}]
        for number, dependant in enumerate(family.dependants, start=1):
            rows.append(
                {
                    **common,
                    "role": Role.DEPENDANT.value,
                    "dependant_no": number,
                    "dependant_name": dependant.name,
                    "relationship": dependant.relationship,
                    **_person_values(dependant),
                }
            )
        return rows

    def entries(self, line: int, values: Mapping[str, object]) -> list[Entry]:
        dependant_no = _int_or_none(values.get("dependant_no"))
        role = _role(values.get("role"), dependant_no, _text(values, "employee_code"))
        name_column = DEPENDANT_NAME if role is Role.DEPENDANT else EMPLOYEE_NAME
        person = PersonRecord(
            name=_text(values, name_column.key),
            kana=_text(values, "kana"),
            birth_date=_date_or_none(values.get("birth_date")),
            relationship=_text(values, "relationship"),
            my_number=_text(values, "my_number"),
            number_issued_on=_date_or_none(values.get("number_issued_on")),
            corporate_number=_text(values, "corporate_number"),
            status=_text(values, "status"),
            registered_on=_date_or_none(values.get("registered_on")),
            admin_confirmed_on=_date_or_none(values.get("admin_confirmed_on")),
            skip=bool(values.get("skip")),
        )
        person_columns = (
            ROLE,
            DEPARTMENT_CODE,
            EMPLOYEE_CODE,
            DEPENDANT_NO,
            KANA,
            BIRTH_DATE,
            RELATIONSHIP,
            ISSUED_ON,
            MY_NUMBER,
            CORPORATE_NUMBER,
        )
        return [
            Entry(
                line=line,
                role=role,
                person=person,
                employee_code=_text(values, "employee_code"),
                employee_name=_text(values, "employee_name") if role is Role.DEPENDANT else "",
                dependant_no=dependant_no,
                department_code=_text(values, "department_code"),
                department_name=_text(values, "department_name"),
                columns={**_columns_of(person_columns), "name": name_column.name},
            )
        ]


def _person_values(person: PersonRecord) -> dict[str, object]:
    return {
        "skip": person.skip,
        "kana": person.kana,
        "birth_date": person.birth_date,
        "number_issued_on": person.number_issued_on,
        "my_number": person.my_number,
        "corporate_number": person.corporate_number,
        "status": person.status,
        "registered_on": person.registered_on,
        "admin_confirmed_on": person.admin_confirmed_on,
    }


def _role(value: object, dependant_no: int | None, employee_code: str) -> Role:
    """The row's 区分, or (when it is missing or wrong, which the checks report) what the other cells imply."""
    if isinstance(value, str) and value in ROLE_CHOICES:
        return Role(value)
    if dependant_no is not None:
        return Role.DEPENDANT
    return Role.EMPLOYEE if employee_code else Role.PAYEE


# The withholding layout ---------------------------------------------------------------------------------------

SPOUSE_SLOT = "控除対象配偶者"
DEPENDANT_SLOTS = tuple(f"控除対象扶養親族{n}" for n in range(1, 5))
UNDER_16_SLOTS = tuple(f"16歳未満の扶養親族{n}" for n in range(1, 5))
SLOT_FIELDS = (("name", "氏名", Kind.NAME), ("kana", "フリガナ", Kind.KANA), ("my_number", "個人番号", Kind.MY_NUMBER))


def _slot_columns(slot: str) -> tuple[Column, ...]:
    return tuple(Column(f"{slot} {label}", kind, f"{slot}.{key}") for key, label, kind in SLOT_FIELDS)


def under_16(birth_date: dt.date, year: int) -> bool:
    """Whether a dependant is under 16 on 31 December of ``year`` (born on or after 2 January, 15 years before).

    Source: 国税庁「給与所得の源泉徴収票等の法定調書の作成と提出の手引」— 令和6年分の16歳未満の扶養親族は
    平成21年1月2日以後に生まれた人 (a person is a year older on the day before their birthday).
    """
    return birth_date >= dt.date(year - 15, 1, 2)


class WithholdingLayout(Layout):
    """One row per employee with the numbers a 給与所得の源泉徴収票 (and the 給与支払報告書) carries.

    What the official record holds (国税庁「給与所得の源泉徴収票等の法定調書の作成と提出の手引」, the e-Tax /
    eLTAX 法定調書 CSV record 315 for 給与所得の源泉徴収票 and 給与支払報告書, and the municipalities' 光ディスク等
    レコード作成要領 that reproduce it): the receiver's 個人番号; the (源泉・特別)控除対象配偶者's 氏名, フリガナ and
    個人番号; four 控除対象扶養親族 slots (氏名, フリガナ, 区分, 個人番号) — a fifth and later dependant goes to
    (摘要) with its number in (備考) — and four 16歳未満の扶養親族 slots, whose numbers only the 給与支払報告書 for
    the municipality carries (the 手引's 備考 note 2), not the copy for the tax office or the employee.
    Popular products key such files by the employee: SmartHR's family files use 社員番号 and columns named
    「配偶者 続柄」「配偶者 姓」 (a slot, a space, the field); 弥生給与's マイナンバー import matches people by name
    (従業員名, 扶養親族等名, 個人番号; no space between family and given name). This layout keeps 社員コード as the
    key and names each slot's columns the SmartHR way (「控除対象扶養親族1 個人番号」).

    The service does not know who is 控除対象 (that depends on income, which payroll knows): the spouse slot takes
    the dependant whose 続柄 is 配偶者; the others go by age on 31 December of ``year`` into the 16歳未満 slots or the
    控除対象扶養親族 slots (a dependant without a birth date into the latter), in the family's order. Those beyond
    the four slots of their kind are returned by ``unplaced`` for the user to see; they are not written.
    On import the slots read back as the employee's dependants (the spouse slot's with 続柄 配偶者).
    """

    name = "withholding"
    title = "源泉徴収票（1人1行・配偶者と扶養親族の欄）"
    roles = frozenset({Role.EMPLOYEE})
    slots = (SPOUSE_SLOT, *DEPENDANT_SLOTS, *UNDER_16_SLOTS)
    columns = (
        SKIP,
        EMPLOYEE_CODE,
        Column("氏名", Kind.NAME, "name"),
        Column("フリガナ", Kind.KANA, "kana"),
        Column("生年月日", Kind.BIRTH_DATE, "birth_date"),
        Column("個人番号", Kind.MY_NUMBER, "my_number"),
        *(column for slot in (SPOUSE_SLOT, *DEPENDANT_SLOTS, *UNDER_16_SLOTS) for column in _slot_columns(slot)),
    )

    def __init__(self, year: int | None = None) -> None:
        self.year = year

    def placement(self, family: FamilyRecord) -> tuple[dict[str, PersonRecord], tuple[PersonRecord, ...]]:
        """The dependants by slot, and those left without one."""
        if self.year is None:
            raise ValueError("the withholding layout needs the year (16歳未満 is counted on 31 December)")
        placed: dict[str, PersonRecord] = {}
        left: list[PersonRecord] = []
        free = {"spouse": [SPOUSE_SLOT], "dependant": list(DEPENDANT_SLOTS), "under_16": list(UNDER_16_SLOTS)}
        for dependant in family.dependants:
            if dependant.relationship == Relationship.SPOUSE.value:
                group = "spouse"
            elif dependant.birth_date is not None and under_16(dependant.birth_date, self.year):
                group = "under_16"
            else:
                group = "dependant"
            if free[group]:
                placed[free[group].pop(0)] = dependant
            else:
                left.append(dependant)
        return placed, tuple(left)

    def unplaced(self, family: FamilyRecord) -> tuple[PersonRecord, ...]:
        return self.placement(family)[1]

    def values(self, family: FamilyRecord) -> list[dict[str, object]]:
        self._check_role(family)
        head = family.head
        row: dict[str, object] = {
            "skip": head.skip,
            "employee_code": family.employee_code,
            "name": head.name,
            "kana": head.kana,
            "birth_date": head.birth_date,
            "my_number": head.my_number,
        }
        for slot, dependant in self.placement(family)[0].items():
            row.update({f"{slot}.name": dependant.name, f"{slot}.kana": dependant.kana})
            row[f"{slot}.my_number"] = dependant.my_number
        return [row]

    def entries(self, line: int, values: Mapping[str, object]) -> list[Entry]:
        code = _text(values, "employee_code")
        skip = bool(values.get("skip"))
        head = PersonRecord(
            name=_text(values, "name"),
            kana=_text(values, "kana"),
            birth_date=_date_or_none(values.get("birth_date")),
            my_number=_text(values, "my_number"),
            skip=skip,
        )
        head_columns = {column.key: column.name for column in self.columns[1:6]}
        entries = [Entry(line=line, role=Role.EMPLOYEE, person=head, employee_code=code, columns=head_columns)]
        for slot in self.slots:
            texts = {key: _text(values, f"{slot}.{key}") for key, _label, _kind in SLOT_FIELDS}
            if not any(texts.values()):
                continue
            person = PersonRecord(
                name=texts["name"],
                kana=texts["kana"],
                my_number=texts["my_number"],
                relationship=Relationship.SPOUSE.value if slot == SPOUSE_SLOT else "",
                skip=skip,
            )
            columns = {key: f"{slot} {label}" for key, label, _kind in SLOT_FIELDS}
            entries.append(
                Entry(
                    line=line,
                    role=Role.DEPENDANT,
                    person=person,
                    employee_code=code,
                    employee_name=head.name,
                    slot=slot,
                    columns=columns,
                )
            )
        return entries


def _text(values: Mapping[str, object], key: str) -> str:
    value = values.get(key)
    return value if isinstance(value, str) else ""


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _date_or_none(value: object) -> dt.date | None:
    return value if isinstance(value, dt.date) else None


SEED = SeedLayout()
FULL = FullLayout()
LAYOUT_NAMES = ("seed", "full", "withholding")


def layout_named(name: str, *, year: int | None = None) -> Layout:
    """The layout called ``name`` (``LAYOUT_NAMES``); the withholding layout needs ``year`` to export.

    Raises ValueError for an unknown name.
    """
    if name == "seed":
        return SEED
    if name == "full":
        return FULL
    if name == "withholding":
        return WithholdingLayout(year)
    raise ValueError(f"unknown layout: {name!r}")


# Families from entries ----------------------------------------------------------------------------------------


def group_families(entries: Iterable[Entry]) -> Iterator[FamilyRecord]:
    """Entries read back (in file order) grouped into families: each dependant joins the employee above it.

    A dependant whose employee is not the last employee or payee read (``exchange.checks`` reports it) is left out.
    """
    head: Entry | None = None
    dependants: list[PersonRecord] = []
    for entry in entries:
        if entry.role is Role.DEPENDANT:
            if head is not None and head.role is Role.EMPLOYEE and head.employee_code == entry.employee_code:
                dependants.append(entry.person)
            continue
        if head is not None:
            yield _family(head, dependants)
        head, dependants = entry, []
    if head is not None:
        yield _family(head, dependants)


def _family(head: Entry, dependants: Sequence[PersonRecord]) -> FamilyRecord:
    return FamilyRecord(
        head=head.person,
        role=head.role,
        employee_code=head.employee_code,
        department_code=head.department_code,
        department_name=head.department_name,
        dependants=tuple(dependants),
    )
