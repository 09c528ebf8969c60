"""Columns, their kinds, the Layout base class, and families grouped back from entries."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

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
    def whole_families(self) -> bool:
        """Whether a row is a whole family, so that choosing an employee brings every dependant into the file."""
        return False

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


def columns_of(entry_columns: Iterable[Column], *, name: Column) -> Mapping[str, str]:
    """An entry's value keys mapped to their headers (``name`` is the column holding the person's name)."""
    return MappingProxyType({**{column.key: column.name for column in entry_columns}, "name": name.name})


def text_of(values: Mapping[str, object], key: str) -> str:
    value = values.get(key)
    return value if isinstance(value, str) else ""


def int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def date_or_none(value: object) -> dt.date | None:
    return value if isinstance(value, dt.date) else None


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
