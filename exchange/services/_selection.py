"""Reading the people an export selects: the list's filters or ticked rows, in list order, families kept whole.

The selection is read along the masked list's department order (``tenants.services.list_ordering``: the
``ix_people_list_department_asc`` index), a batch at a time with ``app.paging.seek`` (keyset, constant memory at
any tenant size). That order keeps a family together (an employee, then their dependants: the placement columns a
dependant takes from its employee), so a batch is cut before its last family, which joins the next batch. Only the
columns a file needs are read (no ORM objects pile up in the session). A dependant chosen without their employee
gets the employee read by id, as the row that heads them in the file (``Member.selected`` False). For a file
whose row is a whole family (the 源泉徴収票 layout: the employee with the spouse and dependants in slots),
``whole_families`` brings every dependant of a chosen employee, chosen or not: an employee ticked or filtered alone
(種別=従業員) is a 源泉徴収票 row with its slots filled, never one with empty slots.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Subject
from app.auth.principal import Principal
from app.auth.scoping import scoped
from app.paging import seek
from app.text import japan_date
from app.vault import NumberField
from exchange.records import FamilyRecord, PersonRecord, Role
from tenants.models import CollectionStatus, Department, PayeeType, Person, PersonKind
from tenants.purposes import Audience
from tenants.services import list_ordering

ORDERING = list_ordering("department", "asc")
COLUMNS = (
    Person.id,
    Person.kind,
    Person.employee_code,
    Person.name,
    Person.kana,
    Person.birth_date,
    Person.relationship,
    Person.payee_type,
    Person.status,
    Person.registered_at,
    Person.admin_confirmed_at,
    Person.employee_id,
    Person.family_id,
    Person.family_rank,
    Person.list_department_id,
    Person.list_department_code,
    Person.list_owner_code,
    Person.department_section,
)


@dataclass(frozen=True, slots=True)
class Member:
    """One person as a file needs them; ``selected`` is False for an employee read only to head their dependants."""

    id: uuid.UUID
    kind: PersonKind
    name: str
    kana: str
    birth_date: dt.date | None
    relationship: str
    payee_type: PayeeType | None
    status: CollectionStatus
    registered_at: dt.datetime | None
    admin_confirmed_at: dt.datetime | None
    employee_code: str
    selected: bool = True

    @classmethod
    def of(cls, row: Any, *, selected: bool = True) -> Member:
        """From a row of ``COLUMNS``."""
        return cls(
            id=row.id,
            kind=PersonKind(row.kind),
            name=row.name,
            kana=row.kana or "",
            birth_date=row.birth_date,
            relationship=row.relationship.value if row.relationship is not None else "",
            payee_type=row.payee_type,
            status=CollectionStatus(row.status),
            registered_at=row.registered_at,
            admin_confirmed_at=row.admin_confirmed_at,
            employee_code=row.employee_code or "",
            selected=selected,
        )

    @property
    def field(self) -> NumberField:
        """The number a person gives (``tenants`` rule: corporations their corporate number)."""
        if self.kind is PersonKind.PAYEE and self.payee_type is PayeeType.CORPORATION:
            return NumberField.CORPORATE_NUMBER
        return NumberField.MY_NUMBER

    def record(self, number: str = "", *, skip: bool = False) -> PersonRecord:
        """The person as a file shows them, with their number (``""`` for none) in the right column."""
        corporate = self.field is NumberField.CORPORATE_NUMBER
        return PersonRecord(
            name=self.name,
            kana=self.kana,
            birth_date=self.birth_date,
            relationship=self.relationship,
            my_number="" if corporate else number,
            number_issued_on=japan_date(self.registered_at) if self.registered_at else None,
            corporate_number=number if corporate else "",
            status=self.status.value,
            registered_on=japan_date(self.registered_at) if self.registered_at else None,
            admin_confirmed_on=japan_date(self.admin_confirmed_at) if self.admin_confirmed_at else None,
            skip=skip,
        )


@dataclass(frozen=True, slots=True)
class Family:
    """An employee (or payee) with the dependants selected under them, and the department they are listed in."""

    head: Member
    dependants: tuple[Member, ...]
    department_code: str
    department_name: str

    @property
    def role(self) -> Role:
        return Role.PAYEE if self.head.kind is PersonKind.PAYEE else Role.EMPLOYEE

    @property
    def audience(self) -> Audience:
        """Whose purposes apply (``tenants.purposes``): payees', or employees' (with their dependants)."""
        return Audience.PAYEE if self.role is Role.PAYEE else Audience.EMPLOYEE

    @property
    def selected(self) -> list[Member]:
        """The family's members the selection chose (the head only when chosen itself)."""
        return [member for member in (self.head, *self.dependants) if member.selected]

    def record(self, numbers: dict[uuid.UUID, str] | None = None) -> FamilyRecord:
        """The family for a layout, with the opened numbers given (an unchosen head: no number, 処理スキップ ``*``)."""
        numbers = numbers or {}
        return FamilyRecord(
            head=self.head.record(numbers.get(self.head.id, ""), skip=not self.head.selected),
            role=self.role,
            employee_code=self.head.employee_code if self.role is Role.EMPLOYEE else "",
            department_code=self.department_code if self.role is Role.EMPLOYEE else "",
            department_name=self.department_name if self.role is Role.EMPLOYEE else "",
            dependants=tuple(member.record(numbers.get(member.id, "")) for member in self.dependants),
        )

    def subject(self, member: Member) -> Subject:
        """Whose number, for the log, named as the list names them (``tenants`` PersonContext.subject)."""
        dependant = member.kind is PersonKind.DEPENDANT
        return Subject(
            person_id=member.id,
            name=f"{self.head.name} > {member.name}" if dependant else member.name,
            department_code=self.department_code if self.role is Role.EMPLOYEE else "",
            department_name=self.department_name if self.role is Role.EMPLOYEE else "",
            employee_code=self.head.employee_code if self.role is Role.EMPLOYEE else "",
        )


@dataclass(frozen=True, slots=True)
class Batch:
    """Complete families of one read, and the selected dependants left out (no employee to put them under)."""

    families: list[Family]
    orphans: int = 0


def _family_key(row: Any) -> uuid.UUID:
    return row.family_id if row.family_id is not None else row.id


def _split(rows: list[Any]) -> tuple[list[Any], list[Any]]:
    """The rows up to the last family (complete) and the last family's rows (it may go on in the next read)."""
    last = _family_key(rows[-1])
    cut = len(rows)
    while cut > 0 and _family_key(rows[cut - 1]) == last:
        cut -= 1
    return rows[:cut], rows[cut:]


class FamilyReader:
    """The selection's families in list order, ``batch_size`` people a read; departments and heads read by id."""

    def __init__(
        self,
        session: AsyncSession,
        principal: Principal,
        statement: Select[Any],
        batch_size: int,
        *,
        whole_families: bool = False,
    ) -> None:
        self.session = session
        self.principal = principal
        self.statement = cast("Select[Any]", statement.with_only_columns(*COLUMNS))
        self.batch_size = batch_size
        self.whole_families = whole_families
        self._departments: dict[uuid.UUID, tuple[str, str]] = {}  # a tenant's departments: a few hundred at most

    async def batches(self) -> AsyncIterator[Batch]:
        """Batches of complete families; each selected person is in exactly one."""
        cursor: tuple[Any, ...] | None = None
        carried: list[Any] = []
        while True:
            rows = list(await seek(self.session, self.statement, ORDERING, cursor, self.batch_size))
            finished = len(rows) < self.batch_size
            if rows:
                cursor = tuple(getattr(rows[-1], sort.key) for sort in ORDERING)
            pending = carried + rows
            if finished:
                complete, carried = pending, []
            else:
                complete, carried = _split(pending)
            if complete:
                yield await self._families(complete)
            if finished:
                return

    async def _families(self, rows: list[Any]) -> Batch:
        groups: list[list[Any]] = []
        for row in rows:
            if groups and _family_key(groups[-1][0]) == _family_key(row):
                groups[-1].append(row)
            else:
                groups.append([row])
        missing = [
            group[0].family_id
            for group in groups
            if PersonKind(group[0].kind) is PersonKind.DEPENDANT and group[0].family_id is not None
        ]
        heads = await self._rows_by_id(missing)
        if self.whole_families:
            groups = await self._with_every_dependant(groups)
            rows = [row for group in groups for row in group]
        await self._load_departments(
            [row.list_department_id for row in rows if row.list_department_id is not None]
            + [row.list_department_id for row in heads.values() if row.list_department_id is not None]
        )
        families: list[Family] = []
        orphans = 0
        for group in groups:
            first = group[0]
            if PersonKind(first.kind) is PersonKind.DEPENDANT:
                head_row = heads.get(first.family_id) if first.family_id is not None else None
                if head_row is None or PersonKind(head_row.kind) is not PersonKind.EMPLOYEE:
                    orphans += len(group)
                    continue
                head, dependant_rows = Member.of(head_row, selected=False), group
                placed = head_row
            else:
                head, dependant_rows, placed = Member.of(first), group[1:], first
            code, name = self._department(placed.list_department_id)
            dependants = tuple(Member.of(row) for row in dependant_rows)
            families.append(Family(head, dependants, code or placed.list_department_code, name))
        return Batch(families, orphans)

    async def _with_every_dependant(self, groups: list[list[Any]]) -> list[list[Any]]:
        """Each group headed by a chosen employee with all of the employee's dependants, in family order."""
        heads = [group[0].id for group in groups if PersonKind(group[0].kind) is PersonKind.EMPLOYEE]
        if not heads:
            return groups
        statement = (
            scoped(Person, self.principal)
            .with_only_columns(*COLUMNS)
            .where(Person.employee_id.in_(heads), Person.kind == PersonKind.DEPENDANT)
        )
        families: dict[uuid.UUID, list[Any]] = {}
        for row in (await self.session.execute(statement)).all():
            families.setdefault(row.employee_id, []).append(row)
        for members in families.values():
            members.sort(key=lambda row: (row.family_rank, row.id))
        return [
            [group[0], *families.get(group[0].id, [])] if PersonKind(group[0].kind) is PersonKind.EMPLOYEE else group
            for group in groups
        ]

    async def _rows_by_id(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        if not ids:
            return {}
        statement = scoped(Person, self.principal).with_only_columns(*COLUMNS).where(Person.id.in_(set(ids)))
        return {row.id: row for row in (await self.session.execute(statement)).all()}

    async def _load_departments(self, ids: Sequence[uuid.UUID]) -> None:
        wanted = {department_id for department_id in ids if department_id not in self._departments}
        if not wanted:
            return
        statement = scoped(Department, self.principal).where(Department.id.in_(wanted))
        for department in (await self.session.execute(statement)).scalars():
            self._departments[department.id] = (department.code, department.name)

    def _department(self, department_id: uuid.UUID | None) -> tuple[str, str]:
        if department_id is None:
            return "", ""
        return self._departments.get(department_id, ("", ""))
