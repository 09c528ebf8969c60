"""What a file carries, as plain values: families (an employee or payee with dependants) and people.

The caller fills these from the database (numbers as plain ``str``, already opened by the vault) for an export, and
gets them back from an import (``exchange.checks``). Nothing here reads or writes anything.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class Role(enum.StrEnum):
    """What a row's person is; the value is the word of the full layout's 区分 column."""

    EMPLOYEE = "従業員"
    DEPENDANT = "扶養家族"
    PAYEE = "取引先"


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """One person as a file shows them.

    ``my_number`` (12 digits) and ``corporate_number`` (13 digits, corporate payees) are plain text given by the
    caller, "" when there is none. ``number_issued_on`` is the seed's マイナンバー発行日. ``status``,
    ``registered_on`` and ``admin_confirmed_on`` are written by the full layout for information and never applied
    by an import. ``skip`` writes ``*`` in 処理スキップ (the row is left alone when the file is imported back).
    """

    name: str
    kana: str = ""
    birth_date: dt.date | None = None
    relationship: str = ""  # 続柄 of a dependant (tenants.models.Relationship values)
    my_number: str = ""
    number_issued_on: dt.date | None = None
    corporate_number: str = ""
    status: str = ""  # tenants.models.CollectionStatus values
    registered_on: dt.date | None = None
    admin_confirmed_on: dt.date | None = None
    skip: bool = False

    def __repr__(self) -> str:  # a record in a traceback or a log line never shows a number
        numbers = "number" if self.my_number else "corporate_number" if self.corporate_number else "no number"
        return f"PersonRecord({self.name!r}, {numbers})"


@dataclass(frozen=True, slots=True)
class FamilyRecord:
    """An employee with their dependants in order (扶養No 1, 2 …), or a payee (no dependants, no 社員コード)."""

    head: PersonRecord
    role: Role = Role.EMPLOYEE
    employee_code: str = ""
    department_code: str = ""
    department_name: str = ""
    dependants: tuple[PersonRecord, ...] = ()

    def __post_init__(self) -> None:
        if self.role is Role.DEPENDANT:
            raise ValueError("a family is headed by an employee or a payee")
        if self.role is Role.PAYEE and self.dependants:
            raise ValueError("a payee has no dependants")


@dataclass(frozen=True, slots=True)
class Entry:
    """One person read from one row of an import file (a withholding row holds several).

    ``columns`` maps the record's fields (``"name"``, ``"my_number"`` …) to the column they came from, so a later
    check (database lookups) can write its report line against the right cell. ``slot`` names the withholding
    layout's slot ("控除対象配偶者", "控除対象扶養親族1" …), "" elsewhere.
    """

    line: int
    role: Role
    person: PersonRecord
    employee_code: str = ""
    employee_name: str = ""  # the 社員名 written on a dependant's row (seed and full layouts)
    dependant_no: int | None = None
    slot: str = ""
    department_code: str = ""
    department_name: str = ""
    columns: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
