"""The database step of an import's check: who each entry of a row is, what becomes of its number, and the report
lines only the tenant's people can give.

What each layout may do (the rule the README states):

- **seed** and **withholding** register numbers for people the tenant has: employees by 社員コード, dependants by
  name under their employee (spaces, kana script and width ignored: ``app.text.search_key``). An unknown
  社員コード or dependant is an error; a 社員名 / 氏名, フリガナ or 生年月日 different from the stored person's is a
  warning (the number is registered, the stored person is left as it is).
- **full** also adds the people the tenant does not have (employees by 社員コード, dependants under their employee,
  payees by 氏名 and フリガナ), their departments by 部門コード (with the 部門 name given), and updates the stored
  氏名, フリガナ, 生年月日, 続柄 and 部門 to the file's (a different 氏名, フリガナ or 生年月日 is the same warning
  first). 状態, 登録日 and 管理者確認日 are never applied.
- An empty cell never erases anything, and a number is never erased by an import: a row without one leaves the
  person's number as it is. A number the person already has is "unchanged"; another number replaces theirs
  (代理登録, the old one erased); a number another person holds is the duplicate rule's case: a warning, then
  stored flagged 重複の疑い for an admin to settle (``tenants.services.flag_duplicates``).

Everything is looked up a batch of rows at a time (one query per chunk of codes, names or numbers), always within
the signed-in tenant: another tenant's 社員コード is simply unknown.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as _field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import any_of
from app.text import person_search_key, search_key
from app.vault import NumberField, Vault
from app.workers import off_loop
from exchange.checks import NO_COLUMN, WARNING, CheckedRow, Code
from exchange.encoding import cp932_form
from exchange.layouts import FullLayout, Layout
from exchange.records import Entry, Role
from exchange.services._import_plan import STORED_COLUMNS, NumberAction, RowPlan, Stored, Target, stored_from
from tenants.models import CollectionStatus, Department, PayeeType, Person, PersonKind, Relationship
from tenants.services import bulk

QUERY_CHUNK = 1000  # values per IN list: a batch of rows in one statement
_EMPLOYEE_CODE = "社員コード"


@dataclass(slots=True)
class _Family:
    """The employee whose dependants' rows follow (carried from one batch to the next)."""

    code: str
    employee: Stored | None  # None: unknown, or added by this file (``new``)
    new: bool = False
    skipped: bool = False
    dependants: list[Stored] | None = None  # the stored ones, loaded when a dependant's row needs them
    seen: set[str] = _field(default_factory=set)  # name keys of the dependants matched or added so far
    keyed: dict[str, list[Stored]] | None = None  # the stored dependants by name key (made on first use)

    def matching(self, key: str, key_of: Callable[[str], str]) -> list[Stored]:
        """The stored dependants whose name has this search key."""
        if self.keyed is None:
            self.keyed = {}
            for dependant in self.dependants or []:
                self.keyed.setdefault(key_of(dependant.name), []).append(dependant)
        return self.keyed.get(key, [])


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), QUERY_CHUNK):
        yield values[start : start + QUERY_CHUNK]


# A number registered again for someone whose number the company gave up on: erased (after retirement and the
# retention period, or by request) or refused by the person (提供拒否). Either may be right, neither silently.
_NUMBER_GIVEN_UP = {
    CollectionStatus.ERASED: (
        "この方の番号は削除済みです（退職後の保管期間が過ぎたなど）。取り込むともう一度登録します。"
        "番号を使う事務がまだあるか確かめてください。"
    ),
    CollectionStatus.DECLINED: (
        "この方は番号の提供を拒否しています（提供拒否）。取り込むと代理登録として番号を登録します。"
        "ご本人から番号の提供を受けたか確かめてください。"
    ),
}


class Resolver:
    """The database step for one file, fed its checked rows a batch at a time in file order."""

    def __init__(self, session: AsyncSession, vault: Vault, tenant_id: uuid.UUID, layout: Layout, encoding: str):
        self.session = session
        self.vault = vault
        self.tenant_id = tenant_id
        self.adds_people = isinstance(layout, FullLayout)
        self.cp932 = encoding == "cp932"
        self.today = bulk.today()
        self.family: _Family | None = None
        self.payee_keys: set[str] = set()  # 氏名 + フリガナ keys of the payees' rows so far
        self.departments: dict[str, uuid.UUID] = {}  # 部門コード → id, the tenant's (tens or hundreds: kept)
        self.department_codes: dict[uuid.UUID, str] = {}
        self.new_departments: dict[str, str] = {}  # 部門コード → 部門 of the departments the file adds
        self._dependants: dict[uuid.UUID, list[Stored]] = {}  # the batch's employees' stored dependants
        self._keys: dict[str, str] = {}  # search keys of the batch's names (``_key``)

    # One batch ---------------------------------------------------------------------------------------------

    async def resolve(self, rows: Sequence[CheckedRow]) -> list[RowPlan]:
        """The rows' plans, in order (skipped rows carry no targets and no database lines)."""
        self._keys.clear()
        entries = [entry for row in rows for entry in row.entries]
        employees = await self._employees(
            {e.employee_code for e in entries if e.role is Role.EMPLOYEE and e.employee_code}
        )
        if any(e.role is Role.DEPENDANT for row in rows if not row.skip for e in row.entries):
            await self._load_dependants(employees)
        payees = await self._payees([e for row in rows if not row.skip for e in row.entries if e.role is Role.PAYEE])
        plans: list[RowPlan] = []
        for row in rows:
            plan = RowPlan(row.line, row.skip, [], list(row.report))
            for entry in row.entries:
                target = self._target(entry, plan, employees, payees)
                if target is not None and not row.skip:
                    plan.targets.append(target)
            plans.append(plan)
        await self._numbers(plans)
        await self._departments(plans)
        await self._new_people_rules(plans)
        return plans

    # Looking people up ---------------------------------------------------------------------------------------

    def _any(self, column: Any, values: Sequence[Any]) -> Any:
        """``column`` in ``values``: one array parameter on PostgreSQL (one prepared statement whatever the count)."""
        return any_of(column, values, dialect=self.session.get_bind().dialect.name)

    async def _select(self, *conditions: Any) -> list[Stored]:
        statement = select(*STORED_COLUMNS).where(Person.tenant_id == self.tenant_id, *conditions)
        return [stored_from(row) for row in await self.session.execute(statement)]

    async def _employees(self, codes: set[str]) -> dict[str, Stored]:
        found: dict[str, Stored] = {}
        for chunk in _chunks(sorted(codes)):
            for person in await self._select(
                Person.kind == PersonKind.EMPLOYEE, self._any(Person.employee_code, chunk)
            ):
                found[person.employee_code or ""] = person
        return found

    async def _load_dependants(self, employees: dict[str, Stored]) -> None:
        """The stored dependants of the batch's employees (and of the family carried from the last batch)."""
        wanted = {person.id for person in employees.values()}
        family = self.family
        if family is not None and family.employee is not None and family.dependants is None:
            wanted.add(family.employee.id)
        self._dependants = {employee_id: [] for employee_id in wanted}
        for chunk in _chunks(sorted(wanted)):
            for person in await self._select(Person.kind == PersonKind.DEPENDANT, self._any(Person.employee_id, chunk)):
                if person.employee_id is not None:
                    self._dependants[person.employee_id].append(person)
        if family is not None and family.employee is not None and family.dependants is None:
            family.dependants = self._dependants.get(family.employee.id, [])

    async def _payees(self, entries: list[Entry]) -> dict[str, list[Stored]]:
        keys = sorted({person_search_key(e.person.name, e.person.kana) for e in entries if e.person.name})
        found: dict[str, list[Stored]] = {}
        for chunk in _chunks(keys):
            statement = select(*STORED_COLUMNS, Person.search_key).where(
                Person.tenant_id == self.tenant_id, Person.kind == PersonKind.PAYEE, self._any(Person.search_key, chunk)
            )
            for row in await self.session.execute(statement):
                found.setdefault(row.search_key, []).append(stored_from(row))
        return found

    # Matching one entry -------------------------------------------------------------------------------------

    def _target(
        self, entry: Entry, plan: RowPlan, employees: dict[str, Stored], payees: dict[str, list[Stored]]
    ) -> Target | None:
        if entry.role is Role.EMPLOYEE:
            return self._employee(entry, plan, employees)
        if entry.role is Role.DEPENDANT:
            return None if plan.skip else self._dependant(entry, plan)
        self.family = None
        return None if plan.skip else self._payee(entry, plan, payees)

    def _employee(self, entry: Entry, plan: RowPlan, employees: dict[str, Stored]) -> Target | None:
        code = entry.employee_code
        if not code:
            self.family = None
            return None  # the file's check asked for it
        stored = employees.get(code)
        self.family = _Family(code, stored, new=stored is None and self.adds_people, skipped=plan.skip)
        if stored is not None:
            self.family.dependants = self._dependants.get(stored.id)
            target = self._target_for(entry, stored)
            if not plan.skip:
                self._compare(target, plan, name=True)
                if entry.department_code and self.adds_people:
                    target.department_code = entry.department_code
            return target
        if plan.skip:
            return None
        if not self.adds_people:
            plan.add(
                _EMPLOYEE_CODE,
                Code.UNKNOWN_CODE,
                "この社員コードの従業員が登録されていません。先に従業員を登録するか、"
                "「詳細」形式のファイルで従業員ごと取り込んでください。",
            )
            return None
        target = self._target_for(entry, None)
        target.department_code = entry.department_code
        person = entry.person
        target.record = bulk.PersonRecord(
            kind=PersonKind.EMPLOYEE,
            name=person.name,
            kana=person.kana,
            birth_date=person.birth_date,
            employee_code=code,
            department_code=entry.department_code,
            number=target.number,
        )
        return target

    def _dependant(self, entry: Entry, plan: RowPlan) -> Target | None:
        family = self.family
        key = self._key(entry.person.name)
        if family is None or family.code != entry.employee_code or not key:
            return None  # the file's check reported the row (no employee row above it, or no name)
        if family.employee is None and not family.new:
            plan.add(
                _EMPLOYEE_CODE,
                Code.UNKNOWN_CODE,
                "この扶養家族の従業員（社員コード）が登録されていません。先に従業員を登録してください。",
            )
            return None
        name_column = entry.columns.get("name", NO_COLUMN)
        if key in family.seen:
            plan.add(name_column, Code.SAME_PERSON_TWICE, "同じ扶養家族の行がこの従業員の下に2回あります。")
            return None
        family.seen.add(key)
        matches = [] if family.new else family.matching(key, self._key)
        if len(matches) > 1:
            plan.add(
                name_column,
                Code.AMBIGUOUS,
                "この従業員には同じ氏名の扶養家族が複数登録されているため、どの方か決められません。"
                "画面から登録してください。",
            )
            return None
        if matches:
            target = self._target_for(entry, matches[0])
            target.owner = family.employee
            self._compare(target, plan, name=False)
            return target
        if not self.adds_people:
            plan.add(
                name_column,
                Code.UNKNOWN_DEPENDANT,
                "この氏名の扶養家族が、社員コードの従業員の扶養家族として登録されていません"
                "（扶養家族は氏名で照合します）。氏名を確かめるか、先に扶養家族を登録してください。",
            )
            return None
        if family.skipped:
            plan.add(
                _EMPLOYEE_CODE,
                Code.SKIPPED_EMPLOYEE,
                "従業員の行が処理スキップ（*）のため、この扶養家族を追加できません。従業員の行の * を消してください。",
            )
            return None
        target = self._target_for(entry, None)
        person = entry.person
        target.record = bulk.PersonRecord(
            kind=PersonKind.DEPENDANT,
            name=person.name,
            kana=person.kana,
            birth_date=person.birth_date,
            relationship=person.relationship,
            employee_code=family.code,
            number=target.number,
        )
        return target

    def _payee(self, entry: Entry, plan: RowPlan, payees: dict[str, list[Stored]]) -> Target | None:
        person = entry.person
        if not person.name:
            return None
        key = person_search_key(person.name, person.kana)
        name_column = entry.columns.get("name", NO_COLUMN)
        if key in self.payee_keys:
            plan.add(name_column, Code.SAME_PERSON_TWICE, "同じ氏名・フリガナの取引先の行が2回あります。")
            return None
        self.payee_keys.add(key)
        matches = payees.get(key, [])
        if len(matches) > 1:
            plan.add(
                name_column,
                Code.AMBIGUOUS,
                "同じ氏名・フリガナの取引先が複数登録されているため、どの取引先か決められません。"
                "画面から登録してください。",
            )
            return None
        target = self._target_for(entry, matches[0] if matches else None)
        stored = target.stored
        if stored is None:
            corporate = target.field is NumberField.CORPORATE_NUMBER
            target.record = bulk.PersonRecord(
                kind=PersonKind.PAYEE,
                name=person.name,
                kana=person.kana,
                payee_type=(PayeeType.CORPORATION if corporate else PayeeType.INDIVIDUAL).value,
                number=target.number,
            )
        elif target.number and (stored.payee_type is PayeeType.CORPORATION) != (
            target.field is NumberField.CORPORATE_NUMBER
        ):
            message = (
                "この取引先は法人として登録されています。マイナンバーではなく法人番号を入力してください。"
                if stored.payee_type is PayeeType.CORPORATION
                else "この取引先は個人として登録されています。法人番号ではなくマイナンバーを入力してください。"
            )
            plan.add(target.number_column, Code.NUMBER_KIND, message)
            target.number = ""
        return target

    @staticmethod
    def _target_for(entry: Entry, stored: Stored | None) -> Target:
        person = entry.person
        if person.corporate_number:
            return Target(entry, stored, field=NumberField.CORPORATE_NUMBER, number=person.corporate_number)
        return Target(entry, stored, number=person.my_number)

    # Comparing with the stored person -----------------------------------------------------------------------

    def _key(self, text: str) -> str:
        """``search_key`` of a name or フリガナ, kept for the batch (a file repeats names: employees on their
        dependants' rows, surnames across a family; the keys go with the batch, no name outlives the import)."""
        key = self._keys.get(text)
        if key is None:
            key = self._keys[text] = search_key(text)
        return key

    def _same_text(self, typed: str, stored: str) -> bool:
        """Whether the file's text is the stored one, as searches compare (and as a cp932 file can carry it)."""
        key = self._key(typed)
        if key == self._key(stored):
            return True
        return self.cp932 and key == self._key(cp932_form(stored))

    def _compare(self, target: Target, plan: RowPlan, *, name: bool) -> None:
        """A warning for each of 氏名, フリガナ, 生年月日 the file gives differently; the full layout updates them."""
        stored = target.stored
        assert stored is not None
        person = target.entry.person
        columns = target.entry.columns
        after = "取り込むと、ファイルの内容に更新します。" if self.adds_people else "登録されている内容は変わりません。"
        differing: list[tuple[str, str, object]] = []
        if name and person.name and not self._same_text(person.name, stored.name):
            differing.append(("name", "氏名", person.name))
        if person.kana and not self._same_text(person.kana, stored.kana):
            differing.append(("kana", "フリガナ", person.kana))
        if person.birth_date is not None and person.birth_date != stored.birth_date:
            differing.append(("birth_date", "生年月日", person.birth_date))
        for key, label, value in differing:
            column = columns.get(key, NO_COLUMN)
            if plan.has_error_in(column):
                continue
            if not getattr(stored, key):  # nothing stored to differ from: the full layout fills it in
                if self.adds_people:
                    target.changes[key] = value
                continue
            plan.add(
                column,
                Code.DIFFERS_FROM_STORED,
                f"{label}が登録されている内容と違います。同じ方か確かめてください。{after}",
                WARNING,
            )
            if self.adds_people:
                target.changes[key] = value
        if self.adds_people and stored.kind is PersonKind.DEPENDANT and person.relationship:
            if stored.relationship is None or stored.relationship.value != person.relationship:
                target.changes["relationship"] = Relationship(person.relationship)

    # Numbers --------------------------------------------------------------------------------------------------

    async def _numbers(self, plans: list[RowPlan]) -> None:
        """Register, replace or leave each number, by the blind index of the tenant's live numbers."""
        by_field: dict[NumberField, list[tuple[RowPlan, Target]]] = {}
        for plan in plans:
            for target in plan.targets:
                if target.number:
                    by_field.setdefault(target.field, []).append((plan, target))
        for number_field, members in by_field.items():
            holders = await self.vault.find_holders(
                self.session, self.tenant_id, number_field, [target.number for _, target in members]
            )
            for (plan, target), held_by in zip(members, holders, strict=True):
                self._decide(plan, target, held_by)

    @staticmethod
    def _decide(plan: RowPlan, target: Target, held_by: frozenset[uuid.UUID]) -> None:
        stored = target.stored
        own = stored.id if stored is not None else None
        label = "法人番号" if target.field is NumberField.CORPORATE_NUMBER else "マイナンバー"
        if own is not None and own in held_by:
            target.action = NumberAction.UNCHANGED
            return
        if stored is not None and stored.status.has_number:
            target.action = NumberAction.REPLACE
            if stored.status is CollectionStatus.ADMIN_CONFIRMED:
                plan.add(
                    target.number_column,
                    Code.REPLACES_CONFIRMED,
                    f"管理者が確認済みの{label}を、このファイルの番号に置き換えます（確認済の状態は解除されます）。",
                    WARNING,
                )
        else:
            target.action = NumberAction.REGISTER
            if stored is not None and stored.status in _NUMBER_GIVEN_UP:
                plan.add(target.number_column, Code.NUMBER_GIVEN_UP, _NUMBER_GIVEN_UP[stored.status], WARNING)
        if held_by - {own}:
            plan.add(
                target.number_column,
                Code.HELD_BY_OTHER,
                f"この{label}は、別の方の番号としてすでに登録されています。取り込むと両方の方に「重複の疑い」が付き、"
                "管理者が同一人物か誤りかを確認するまで残ります。",
                WARNING,
            )

    # Departments ----------------------------------------------------------------------------------------------

    async def _departments(self, plans: list[RowPlan]) -> None:
        """Each employee's 部門コード: a department of the tenant, one the file adds (部門 given), or an error."""
        wanted = [(plan, t) for plan in plans for t in plan.targets if t.department_code]
        if not wanted:
            return
        await self._load_departments(
            codes={t.department_code for _, t in wanted},
            ids={t.stored.department_id for _, t in wanted if t.stored is not None and t.stored.department_id},
        )
        for plan, target in wanted:
            code = target.department_code
            if code not in self.departments and code not in self.new_departments:
                name = target.entry.department_name
                if not name:
                    plan.add(
                        target.entry.columns.get("department_code", NO_COLUMN),
                        Code.UNKNOWN_DEPARTMENT,
                        "この部門コードの部門が登録されていません。「部門」に部門名を入れると、新しい部門として追加します。",
                    )
                    target.department_code = ""
                    continue
                self.new_departments[code] = name
            stored = target.stored
            if stored is not None:
                current = self.department_codes.get(stored.department_id) if stored.department_id else None
                if current != code:
                    target.changes["department_code"] = code
                target.department_code = "" if current == code else code

    async def _load_departments(self, *, codes: set[str], ids: set[uuid.UUID | None]) -> None:
        codes = {code for code in codes if code not in self.departments}
        ids = {i for i in ids if i is not None and i not in self.department_codes}
        for column, keys in ((Department.code, codes), (Department.id, ids)):
            for chunk in _chunks(sorted(keys, key=str)):
                statement = select(Department.id, Department.code).where(
                    Department.tenant_id == self.tenant_id, column.in_(chunk)
                )
                for row in await self.session.execute(statement):
                    self.departments[row.code] = row.id
                    self.department_codes[row.id] = row.code

    # People to add ----------------------------------------------------------------------------------------------

    async def _new_people_rules(self, plans: list[RowPlan]) -> None:
        """A person the full layout adds must pass the add form's rules (フリガナ of an employee, 続柄 …)."""
        adding = [(plan, target) for plan in plans for target in plan.targets if target.record is not None]
        if not adding:
            return
        records = [target.record for _, target in adding if target.record is not None]
        found = await off_loop(len(records), _form_errors, records, self.today)
        for (plan, target), errors in zip(adding, found, strict=True):
            kind = PersonKind(target.record.kind).label if target.record is not None else ""
            for key, message in errors.items():
                column = target.number_column if key == "number" else target.entry.columns.get(key)
                column = column or target.entry.columns.get("name", NO_COLUMN)
                if not plan.has_error_in(column):
                    plan.add(column, Code.INVALID, f"（追加する{kind}）{message}")


def _form_errors(records: Sequence[bulk.PersonRecord], today: dt.date) -> list[dict[str, str]]:
    """The add forms' errors of each record (CPU work: run off the loop)."""
    return [bulk.check_person(record, today) for record in records]
