"""What an import's check makes of each row: the stored people it matched, the people to add, what happens to each
number, and the report lines (the plan the commit writes)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass
from dataclasses import field as _field
from typing import Any

from app.vault import NumberField
from exchange.checks import ERROR, NO_COLUMN, Code, Level, ReportLine
from exchange.records import Entry
from tenants.models import CollectionStatus, PayeeType, Person, PersonKind, Relationship
from tenants.services import bulk


class NumberAction(enum.StrEnum):
    """What a commit does with an entry's number."""

    NONE = "none"  # no number on the row
    REGISTER = "register"  # the person has none: 代理登録
    REPLACE = "replace"  # the person has another one: erased, then 代理登録
    UNCHANGED = "unchanged"  # the person has this one already


@dataclass(frozen=True, slots=True)
class Stored:
    """A person as the database has them: what the check compares and the commit updates."""

    id: uuid.UUID
    kind: PersonKind
    employee_code: str | None
    name: str
    kana: str
    birth_date: dt.date | None
    status: CollectionStatus
    relationship: Relationship | None
    payee_type: PayeeType | None
    department_id: uuid.UUID | None
    employee_id: uuid.UUID | None


STORED_COLUMNS = (
    Person.id,
    Person.kind,
    Person.employee_code,
    Person.name,
    Person.kana,
    Person.birth_date,
    Person.status,
    Person.relationship,
    Person.payee_type,
    Person.department_id,
    Person.employee_id,
)


def stored_from(row: Any) -> Stored:
    return Stored(
        row.id,
        PersonKind(row.kind),
        row.employee_code,
        row.name,
        row.kana or "",
        row.birth_date,
        CollectionStatus(row.status),
        row.relationship,
        row.payee_type,
        row.department_id,
        row.employee_id,
    )


@dataclass(slots=True)
class Target:
    """One entry of a row matched: a stored person (``stored``) or one to add (``record``), and what to write."""

    entry: Entry
    stored: Stored | None = None
    record: bulk.PersonRecord | None = None  # a person the commit adds (full layout)
    field: NumberField = NumberField.MY_NUMBER
    number: str = ""
    action: NumberAction = NumberAction.NONE
    changes: dict[str, Any] = _field(default_factory=dict)  # stored fields the commit updates (full layout)
    department_code: str = ""  # an employee's 部門コード to place them in (new, or changed)
    owner: Stored | None = None  # a stored dependant's employee, as stored (how the lists and the log name them)

    @property
    def number_column(self) -> str:
        key = "corporate_number" if self.field is NumberField.CORPORATE_NUMBER else "my_number"
        return self.entry.columns.get(key, NO_COLUMN)


@dataclass(slots=True)
class RowPlan:
    """A row after both steps: the people it holds and every report line (the file's, then the database's)."""

    line: int
    skip: bool
    targets: list[Target]
    report: list[ReportLine]

    @property
    def has_errors(self) -> bool:
        return any(line.level == ERROR for line in self.report)

    def add(self, column: str, code: Code, message: str, level: Level = ERROR) -> None:
        self.report.append(ReportLine(self.line, column, level, code, message))

    def has_error_in(self, column: str) -> bool:
        return any(line.column == column and line.level == ERROR for line in self.report)
