"""一括登録: many people (departments, employees, dependants, payees) and their numbers, a batch at a time.

The one path for writing people in numbers (the demo, benchmarks, imports): records are read from an iterable or
an async iterable ``BATCH_SIZE`` at a time, so memory stays flat whatever the count. Each batch is checked by the
forms' own rules (``employee_fields``, the dependant and payee form checks, the number rules) and against the
database (社員コード free, departments and employees named exist) before anything of it is written; then its rows go
in with core INSERTs: ids from ``app.db.new_id``, placement columns from ``tenants.listing.placement``, counters by
``tenants.listing.apply_count_deltas``, numbers through ``Vault.store_many`` with the duplicate rule
(``flag_duplicates``), one audit entry per number, confirmation and decline, appended in bulk.

Statuses and timestamps follow ``_records`` (register → 本人番号確認 → 管理者番号確認, or 提供拒否) as if each person
had gone through the pages. Everything is written in the caller's transaction and nothing is committed here: a
refused row in any batch raises :class:`BulkRefused` and the caller rolls back, so nothing is half-written. Between
batches the event loop gets a turn, so pages keep answering while a large fill runs in the same process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent, Subject
from app.audit.log import record_many
from app.auth.models import Role
from app.db import any_of, insert_many, new_id, refresh_statistics, utcnow
from app.forms import Checker, FormInvalid
from app.tenancy import Tenant
from app.text import clean_code
from app.vault import InvalidNumber, NumberBatchError, NumberField, StoredNumber, Vault
from app.vault.numbers import normalize_corporate_number, normalize_my_number
from app.workers import off_loop
from tenants.listing import CountDeltas, count_key, hold_people, placement
from tenants.listing import apply_count_deltas as apply_counts
from tenants.models import CollectionStatus, Department, PayeeType, Person, PersonKind, search_columns
from tenants.retention_rule import propose_due_date, tenant_purposes
from tenants.schemas import DepartmentForm, DependantForm, EmployeeForm, PayeeForm
from tenants.services._departments import department_fields
from tenants.services._dependants import _dependant_values
from tenants.services._duplicates import flag_duplicates
from tenants.services._employees import access_ends_at, employee_fields
from tenants.services._payees import _payee_values
from tenants.services._people import today
from tenants.services._records import ADMIN_CONFIRM_FUNCTION, Channel

BATCH_SIZE = 1000
INSERT_SLICE = 250  # people rows per INSERT statement
# What ``app.db.refresh_statistics`` is asked to refresh during a fill (the tables its queries read) and after it.
GROWING_TABLES = ("people", "vault_numbers")
WRITTEN_TABLES = ("people", "people_counts", "departments", "vault_numbers", "number_duplicates", "audit_entries")

DateInput = str | dt.date | None


class BulkRefused(Exception):
    """Rows were refused (nothing of their batch was written); the caller must roll back its transaction.

    ``problems`` name each row by its position in the input (0-based), the field and a Japanese message.
    """

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        super().__init__(f"{len(problems)} row(s) refused")
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class RowProblem:
    index: int  # position in the input: departments and people are counted separately
    field: str
    message: str
    departments: bool = False  # a department record (otherwise a person)


@dataclass(frozen=True, slots=True, kw_only=True)
class DepartmentRecord:
    """A department to create; a code the tenant already has is kept as it is."""

    code: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonRecord:
    """One person as typed (the forms' rules apply) and how far their number has come.

    ``employee_code``: an employee's own 社員コード, or a dependant's employee's (an employee given earlier in the
    input or already in the tenant). ``department_code``: an employee's 部門コード. A ``number`` is given through
    ``channel``: 代理登録 by the acting admin, or by the person themselves (じぶんで登録; 取引先登録 for payees, whose
    ``self_actor`` is then required), then optionally 本人番号確認 and 管理者番号確認 by the acting admin. A
    ``decline_reason`` records 提供拒否 instead of a number.
    """

    kind: PersonKind
    name: str
    kana: str = ""
    birth_date: DateInput = None
    employee_code: str = ""
    department_code: str = ""
    hire_date: DateInput = None
    retirement_date: DateInput = None
    email: str = ""
    relationship: str = ""
    payee_type: str = ""
    address: str = ""
    payment_kind: str = ""
    number: str = ""
    channel: Channel = Channel.PROXY
    self_confirmed: bool = False
    admin_confirmed: bool = False
    decline_reason: str = ""
    self_actor: Actor | None = None


@dataclass(slots=True)
class BulkReport:
    """What a fill wrote."""

    departments: int = 0
    employees: int = 0
    dependants: int = 0
    payees: int = 0
    numbers: int = 0
    flagged: int = 0  # numbers another person already held (重複の疑い opened)
    batches: int = 0

    @property
    def people(self) -> int:
        return self.employees + self.dependants + self.payees


async def write_people(
    session: AsyncSession,
    vault: Vault,
    *,
    tenant_id: uuid.UUID,
    actor: Actor,
    people: Iterable[PersonRecord] | AsyncIterable[PersonRecord],
    departments: Iterable[DepartmentRecord] = (),
    batch_size: int = BATCH_SIZE,
    log_additions: bool = False,
) -> BulkReport:
    """Create the departments, then the people batch by batch with their numbers; the caller commits.

    ``actor`` is the admin the log names for 代理登録, 管理者番号確認 and (with ``log_additions``, as the add forms
    do) each department and person added. ``people`` may be an async iterable, or a plain one, which is then read in
    a worker thread (it must not use the event loop or this session). BulkRefused when a row breaks a rule: roll
    back. Ends with ``refresh_statistics`` so the planner knows the new sizes.

    Memory stays flat in the number of people, except the vault's list of keys written in this transaction (to
    destroy them on a rollback): split very large fills over several transactions.
    """
    fill = await start_fill(session, vault, tenant_id=tenant_id, actor=actor, log_additions=log_additions)
    await fill.add_departments(list(departments))
    async for batch in _batches(people, batch_size):
        await fill.write(batch)
        await asyncio.sleep(0)  # a turn for the requests waiting on this process
    return await fill.finish()


class Growth:
    """The planner's statistics kept up with a transaction that grows the tables its own queries read.

    Plans made while the tables were small (foreign-key checks, the duplicate check by blind index) would go on
    scanning them as they grow: each batch slower than the last, quadratic in all (PostgreSQL: an import of 20,000
    numbers into an empty tenant spent 150 ms per batch of 1,000 on one lookup by its end). ``before_batch``
    refreshes its ``tables`` (``GROWING_TABLES`` by default) with ``app.db.refresh_statistics``, which counts the
    transaction's own rows, before the second batch and at each doubling of what was written after it: log2(N)
    times in all. ``wrote`` counts what was written.
    """

    def __init__(self, tables: Sequence[str] = GROWING_TABLES) -> None:
        self.tables = tables
        self.written = 0
        self.refresh_at = 1  # rows written when the statistics are next refreshed

    async def before_batch(self, session: AsyncSession) -> None:
        """Refresh the statistics when what was written reached the next doubling."""
        if self.written >= self.refresh_at:
            await refresh_statistics(session, self.tables)
            self.refresh_at = 2 * self.written

    def wrote(self, count: int) -> None:
        """Count rows written to the growing tables."""
        self.written += count


class Fill:
    """A fill in progress (:func:`start_fill`): departments and batches of people written in the caller's
    transaction, for a caller that makes its batches itself (an import writes new people beside its updates)."""

    def __init__(self, writer: _Writer) -> None:
        self._writer = writer

    @property
    def report(self) -> BulkReport:
        """What was written so far."""
        return self._writer.report

    @property
    def written(self) -> int:
        """How many people records were accepted so far: ``RowProblem.index`` counts from here for the next batch."""
        return self._writer.offset

    async def add_departments(self, records: Sequence[DepartmentRecord]) -> None:
        """Create the departments whose codes are new (BulkRefused for a bad code or name)."""
        await self._writer.add_departments(list(records))

    async def write(self, records: Sequence[PersonRecord]) -> None:
        """Check one batch completely, then write it (BulkRefused listing every refused row of the batch).

        A dependant's ``employee_code`` may name an employee of this batch, of an earlier one, or of the tenant.
        """
        await self._writer.write(list(records))

    async def finish(self) -> BulkReport:
        """The counters (once for the whole fill) and the planner's statistics; returns the report."""
        await self._writer.finish()
        await refresh_statistics(self._writer.session, WRITTEN_TABLES)
        return self._writer.report


async def start_fill(
    session: AsyncSession, vault: Vault, *, tenant_id: uuid.UUID, actor: Actor, log_additions: bool = False
) -> Fill:
    """Begin a fill of the tenant's people in the caller's transaction (its chain head taken first, as every
    writer of its people does); write batches with :meth:`Fill.write`, end with :meth:`Fill.finish`."""
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise ValueError(f"no tenant {tenant_id}")
    # What every writer of the tenant's people takes first (its chain head): the fill then never waits in a cycle
    # with a page that changes a status and logs it, and it reads department codes and employees nobody is moving.
    await hold_people(session, [tenant_id])
    return Fill(_Writer(session, vault, tenant, actor, log_additions))


def check_person(record: PersonRecord, now: dt.date | None = None) -> dict[str, str]:
    """The errors (by field: ``name``, ``kana``, ``relationship``, ``number`` …) the fill would refuse this record
    for by the forms' rules, before anything of the database is looked at (an import's check)."""
    _check_channel(record)
    return _check_record(record, now or today())[3]


async def _batches(
    records: Iterable[PersonRecord] | AsyncIterable[PersonRecord], size: int
) -> AsyncIterator[list[PersonRecord]]:
    """``size`` records at a time; a plain iterable (a file being parsed...) is read in a worker thread."""
    if isinstance(records, AsyncIterable):
        batch: list[PersonRecord] = []
        async for item in records:
            batch.append(item)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch
        return
    iterator = iter(records)
    while batch := await off_loop(size, lambda: list(itertools.islice(iterator, size))):
        yield batch


# Checking one record by the forms' rules ----------------------------------------------------------------------


def _date_text(value: DateInput) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, dt.date) else value


@dataclass(slots=True)
class _Row:
    """A record that passed the rules: its column values and its number, normalised."""

    index: int
    record: PersonRecord
    values: dict[str, Any]
    number_field: NumberField
    number: str
    id: uuid.UUID = field(default_factory=new_id)
    department: _Department | None = None  # the list department (a dependant's is its employee's)
    owner: _Owner | None = None  # a dependant's employee
    stored: StoredNumber | None = None
    status: CollectionStatus = CollectionStatus.NOT_REGISTERED  # as written
    list_department_id: uuid.UUID | None = None  # as written

    @property
    def kind(self) -> PersonKind:
        return self.record.kind

    @property
    def code(self) -> str:
        return str(self.values.get("employee_code") or "")


def _form_values(record: PersonRecord, now: dt.date) -> tuple[dict[str, Any], dict[str, str]]:
    """The record's column values by its kind's form rules, and the errors by field."""
    if record.kind is PersonKind.EMPLOYEE:
        check = Checker()
        form = EmployeeForm(
            employee_code=record.employee_code,
            name=record.name,
            kana=record.kana,
            birth_date=_date_text(record.birth_date),
            hire_date=_date_text(record.hire_date),
            retirement_date=_date_text(record.retirement_date),
            email=record.email,
        )
        return employee_fields(check, form, now), check.errors
    try:
        if record.kind is PersonKind.DEPENDANT:
            form_d = DependantForm(
                name=record.name,
                kana=record.kana,
                relationship=record.relationship,
                birth_date=_date_text(record.birth_date),
            )
            return _dependant_values(form_d), {}
        form_p = PayeeForm(
            payee_type=record.payee_type,
            name=record.name,
            kana=record.kana,
            address=record.address,
            payment_kind=record.payment_kind,
            email=record.email,
        )
        return _payee_values(form_p, None), {}
    except FormInvalid as exc:
        return {}, exc.errors


def _check_record(record: PersonRecord, now: dt.date) -> tuple[dict[str, Any], NumberField, str, dict[str, str]]:
    """Column values, number field, normalised number and errors of one record (no database)."""
    values, errors = _form_values(record, now)
    corporate = record.kind is PersonKind.PAYEE and values.get("payee_type") is PayeeType.CORPORATION
    number_field = NumberField.CORPORATE_NUMBER if corporate else NumberField.MY_NUMBER
    number = ""
    if record.number:
        try:
            number = normalize_corporate_number(record.number) if corporate else normalize_my_number(record.number)
        except InvalidNumber as exc:
            errors.setdefault("number", exc.message)
    if record.kind is PersonKind.DEPENDANT and not clean_code(record.employee_code):
        errors.setdefault("employee_code", "扶養家族の従業員の社員コードを入力してください。")
    reason = record.decline_reason.strip()
    if reason and record.number:
        errors.setdefault("decline_reason", "番号を登録する方は提供拒否にできません。")
    elif len(reason) > 500:
        errors.setdefault("decline_reason", "理由は500文字以内で入力してください。")
    if (record.self_confirmed or record.admin_confirmed) and not record.number:
        errors.setdefault("number", "確認する番号が登録されていません。")
    retired = values.get("retirement_date") is not None and access_ends_at(values["retirement_date"]) <= utcnow()
    if record.number and retired and record.channel is Channel.SELF:
        errors.setdefault("number", "退職済みのため登録できません。会社の担当者にお問い合わせください。")
    return values, number_field, number, errors


def _check_batch(records: Sequence[PersonRecord], offset: int, now: dt.date) -> tuple[list[_Row], list[RowProblem]]:
    """The rows that pass the rules, and the problems of those that do not (``offset``: the batch's place)."""
    rows: list[_Row] = []
    problems: list[RowProblem] = []
    codes: set[str] = set()
    for position, record in enumerate(records):
        _check_channel(record)
        values, number_field, number, errors = _check_record(record, now)
        code = values.get("employee_code") if record.kind is PersonKind.EMPLOYEE else None
        if code and code in codes:
            errors.setdefault("employee_code", "同じ社員コードが2回含まれています。")
        codes.add(code or "")
        index = offset + position
        problems += [RowProblem(index, f, m) for f, m in errors.items()]
        if not errors:
            rows.append(_Row(index, record, values, number_field, number))
    return rows, problems


def _check_channel(record: PersonRecord) -> None:
    """Programming errors, not input errors: a channel that does not exist for the kind."""
    payee = record.kind is PersonKind.PAYEE
    if (record.channel is Channel.PAYEE) != payee and record.channel is not Channel.PROXY:
        raise ValueError(f"channel {record.channel} is not for a {record.kind}")
    if payee and record.self_actor is None and (record.channel is Channel.PAYEE or record.self_confirmed):
        raise ValueError("a payee's own registration needs self_actor")


# The database side of a batch ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Department:
    id: uuid.UUID
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class _Owner:
    """A dependant's employee as the lists and the log name them."""

    id: uuid.UUID
    code: str
    name: str
    department_id: uuid.UUID | None
    deletion_due_on: dt.date | None = None  # a dependant without a date of its own goes by its employee's


class _Writer:
    """The state of one fill: the tenant, who acts, the departments seen so far, and the report."""

    def __init__(self, session: AsyncSession, vault: Vault, tenant: Tenant, actor: Actor, log_additions: bool) -> None:
        self.session = session
        self.vault = vault
        self.tenant = tenant
        self.actor = actor
        self.log_additions = log_additions
        self.purposes = tenant_purposes(tenant)  # the tenant's retention rule (削除予定日)
        self.report = BulkReport()
        self.offset = 0
        self.deltas: CountDeltas = Counter()
        self.growth = Growth()
        # Departments by code and id: a tenant has tens or hundreds, so they stay in memory.
        self.by_code: dict[str, _Department] = {}
        self.by_id: dict[uuid.UUID, _Department] = {}

    # Departments ------------------------------------------------------------------------------------------

    async def add_departments(self, records: list[DepartmentRecord]) -> None:
        """Create the departments whose codes are new (codes the tenant has are kept as they are)."""
        if not records:
            return
        problems: list[RowProblem] = []
        wanted: dict[str, str] = {}
        for index, record in enumerate(records):
            check = Checker()
            code, name = department_fields(check, DepartmentForm(code=record.code, name=record.name))
            if code in wanted and "code" not in check.errors:
                check.fail("code", "同じ部門コードが2回含まれています。")
            problems += [RowProblem(index, f, m, departments=True) for f, m in check.errors.items()]
            wanted.setdefault(code, name)
        if problems:
            raise BulkRefused(problems)
        await self._load_departments(codes=list(wanted))
        now = utcnow()
        rows: list[dict[str, Any]] = [
            {"tenant_id": self.tenant.id, "id": new_id(), "code": code, "name": name}
            | {"created_at": now, "updated_at": now}
            for code, name in wanted.items()
            if code not in self.by_code
        ]
        if not rows:
            return
        await self.session.execute(insert(_table(Department)), rows)
        for row in rows:
            self._remember(_Department(row["id"], row["code"], row["name"]))
        self.report.departments += len(rows)
        if self.log_additions:
            events = [
                AuditEvent(
                    tenant_id=self.tenant.id,
                    action=AuditAction.UPDATE,
                    actor=self.actor,
                    function="部門の追加",
                    detail={"event": "department_added", "code": row["code"]},
                )
                for row in rows
            ]
            await record_many(self.session, events)

    def _remember(self, department: _Department) -> None:
        self.by_code[department.code] = department
        self.by_id[department.id] = department

    async def _load_departments(self, *, codes: Iterable[str] = (), ids: Iterable[uuid.UUID | None] = ()) -> None:
        codes = {c for c in codes if c and c not in self.by_code}
        ids = {i for i in ids if i is not None and i not in self.by_id}
        for column, keys in ((Department.code, codes), (Department.id, ids)):
            if not keys:
                continue
            statement = select(Department.id, Department.code, Department.name).where(
                Department.tenant_id == self.tenant.id, column.in_(list(keys))
            )
            for row in await self.session.execute(statement):
                self._remember(_Department(row.id, row.code, row.name))

    # People -----------------------------------------------------------------------------------------------

    async def write(self, records: list[PersonRecord]) -> None:
        """Check one batch completely, then write it (BulkRefused listing every refused row of the batch)."""
        await self.growth.before_batch(self.session)
        rows, problems = await off_loop(len(records), _check_batch, records, self.offset, today())
        problems += await self._place(rows)
        if problems:
            raise BulkRefused(sorted(problems, key=lambda p: p.index))
        self.offset += len(records)
        self.growth.wrote(len(records))
        await self._store_numbers(rows)
        await self._insert(rows)
        await self._flag_duplicates(rows)
        await record_many(self.session, self._events(rows))
        for row in rows:
            self.deltas[count_key(self.tenant.id, row.list_department_id, row.kind, row.status)] += 1
        self.report.batches += 1

    async def finish(self) -> None:
        """The counters, once for the whole fill (a few dozen keys however many people)."""
        await apply_counts(self.session, self.deltas)
        self.deltas.clear()

    async def _place(self, rows: list[_Row]) -> list[RowProblem]:
        """Resolve departments, 社員コード and dependants' employees against the batch and the tenant."""
        problems: list[RowProblem] = []
        employees = [r for r in rows if r.kind is PersonKind.EMPLOYEE]
        dependants = [r for r in rows if r.kind is PersonKind.DEPENDANT]
        in_batch = {row.code: row for row in employees}
        taken = await self._existing_employees(list(in_batch))
        problems += [
            RowProblem(r.index, "employee_code", "この社員コードは既に使われています。別のコードを入力してください。")
            for r in employees
            if r.code in taken
        ]
        await self._load_departments(codes=[clean_code(r.record.department_code) for r in employees])
        for row in employees:
            code = clean_code(row.record.department_code)
            if not code:
                continue
            department = self.by_code.get(code)
            if department is None:
                problems.append(RowProblem(row.index, "department_code", f"部門コード「{code}」の部門がありません。"))
            else:
                row.department = department
                row.values["department_id"] = department.id
        owners = await self._existing_employees(
            [c for r in dependants if (c := clean_code(r.record.employee_code)) not in in_batch]
        )
        for row in employees:
            owners[row.code] = _Owner(
                row.id, row.code, row.values["name"], row.values["department_id"], self._proposal(row)
            )
        await self._load_departments(ids=[o.department_id for o in owners.values()])
        for row in dependants:
            code = clean_code(row.record.employee_code)
            owner = owners.get(code)
            if owner is None:
                message = f"社員コード「{code}」の従業員がいません。扶養家族より前に従業員を登録してください。"
                problems.append(RowProblem(row.index, "employee_code", message))
                continue
            row.owner = owner
            row.values["employee_id"] = owner.id
            row.department = self.by_id.get(owner.department_id) if owner.department_id else None
        return problems

    async def _existing_employees(self, codes: Sequence[str]) -> dict[str, _Owner]:
        """The tenant's employees with these codes (written by earlier batches too: same transaction)."""
        found: dict[str, _Owner] = {}
        dialect = self.session.get_bind().dialect.name
        for start in range(0, len(codes), 500):
            statement = select(
                Person.id, Person.employee_code, Person.name, Person.department_id, Person.deletion_due_on
            ).where(
                Person.tenant_id == self.tenant.id,
                Person.kind == PersonKind.EMPLOYEE,
                any_of(Person.employee_code, codes[start : start + 500], dialect=dialect),
            )
            for row in await self.session.execute(statement):
                found[row.employee_code] = _Owner(
                    row.id, row.employee_code, row.name, row.department_id, row.deletion_due_on
                )
        return found

    # Numbers ----------------------------------------------------------------------------------------------

    def _subject(self, row: _Row) -> Subject:
        """Named as the lists and the log name a person (``_records.PersonContext.subject``)."""
        name = row.values["name"]
        code = row.code
        if row.owner is not None:
            name, code = f"{row.owner.name} > {name}", row.owner.code
        department = row.department
        return Subject(
            person_id=row.id,
            name=name,
            department_code=department.code if department else "",
            department_name=department.name if department else "",
            employee_code=code,
        )

    def _self_actor(self, row: _Row) -> Actor:
        """The person giving their own number: the employee (for a dependant too), or the payee's given actor."""
        if row.record.self_actor is not None:
            return row.record.self_actor
        login_id, name = (row.owner.code, row.owner.name) if row.owner else (row.code, row.values["name"])
        return Actor(
            user_id=None, login_id=login_id, name=name, role=Role.EMPLOYEE.label, organisation=self.tenant.name
        )

    async def _store_numbers(self, rows: list[_Row]) -> None:
        """One ``store_many`` per number field and channel (the vault logs one entry per number)."""
        groups: dict[tuple[NumberField, Channel], list[_Row]] = {}
        for row in rows:
            if row.number:
                groups.setdefault((row.number_field, row.record.channel), []).append(row)
        for (number_field, channel), members in groups.items():
            try:
                stored = await self.vault.store_many(
                    self.session,
                    tenant_id=self.tenant.id,
                    entries=[(self._subject(r), r.number) for r in members],
                    field=number_field,
                    actor=self.actor,
                    actors=None if channel is Channel.PROXY else [self._self_actor(r) for r in members],
                    action=channel.action,
                    function=channel.function,
                    allow_duplicates=True,
                )
            except NumberBatchError as exc:
                problems = [RowProblem(members[e.index].index, "number", e.message) for e in exc.errors]
                raise BulkRefused(problems) from None
            for row, number in zip(members, stored, strict=True):
                row.stored = number
            self.report.numbers += len(stored)

    # Rows -------------------------------------------------------------------------------------------------

    def _status(self, row: _Row, now: dt.datetime) -> dict[str, Any]:
        """Status and timestamps as ``_records`` leaves them after the same steps."""
        record = row.record
        values: dict[str, Any] = {
            "status": CollectionStatus.NOT_REGISTERED,
            "registered_at": None,
            "self_confirmed_at": None,
            "admin_confirmed_at": None,
            "admin_confirmed_by": "",
            "declined_at": None,
            "decline_reason": "",
        }
        if row.stored is not None:
            proxy = record.channel is Channel.PROXY
            values["status"] = CollectionStatus.PROXY_REGISTERED if proxy else CollectionStatus.REGISTERED
            values["registered_at"] = row.stored.registered_at
            if record.self_confirmed:
                values["self_confirmed_at"] = now
                values["status"] = CollectionStatus.SELF_CONFIRMED
            if record.admin_confirmed:
                values.update(
                    admin_confirmed_at=now, admin_confirmed_by=self.actor.name, status=CollectionStatus.ADMIN_CONFIRMED
                )
        elif record.decline_reason.strip():
            values.update(
                status=CollectionStatus.DECLINED, declined_at=now, decline_reason=record.decline_reason.strip()
            )
        return values

    def _row_values(self, row: _Row, now: dt.datetime) -> dict[str, Any]:
        values = {**_EMPTY, **row.values, **self._status(row, now)}
        values.update(search_columns(values["name"], values["kana"]))
        retirement = values["retirement_date"]
        values.update(
            tenant_id=self.tenant.id,
            id=row.id,
            kind=row.kind,
            employee_code=values["employee_code"] or None,
            retired_at=now if retirement is not None and access_ends_at(retirement) <= now else None,
            created_at=now,
            updated_at=now,
        )
        owner = row.owner
        department = row.department
        values.update(self._deletion_due(row))
        values.update(
            placement(
                person_id=row.id,
                kind=row.kind,
                employee_code=values["employee_code"],
                department_id=values["department_id"],
                registered=values["registered_at"] is not None,
                owner_id=owner.id if owner else None,
                owner_code=owner.code if owner else None,
                owner_department_id=owner.department_id if owner else None,
                department_code=department.code if department else None,
            )
        )
        row.status, row.list_department_id = values["status"], values["list_department_id"]
        return values

    def _proposal(self, row: _Row) -> dt.date | None:
        """The 削除予定日 ``follow_retirement`` proposes from the row's 退職日 (None without one)."""
        retirement = row.values.get("retirement_date")
        return propose_due_date(retirement, self.purposes) if retirement is not None else None

    def _deletion_due(self, row: _Row) -> dict[str, Any]:
        """削除予定日 as the ORM paths leave it: proposed from the 退職日; a dependant's is its employee's, inherited
        (``tenants.due_following``): the proposal of an employee of the file, the stored date of one already kept."""
        if row.kind is PersonKind.DEPENDANT:
            due = row.owner.deletion_due_on if row.owner else None
            return {
                "deletion_due_on": due,
                "deletion_due_proposed": False,
                "deletion_due_inherited": due is not None,
                "deletion_due_note": "",
            }
        due = self._proposal(row)
        return {
            "deletion_due_on": due,
            "deletion_due_proposed": due is not None,
            "deletion_due_inherited": False,
            "deletion_due_note": "",
        }

    async def _insert(self, rows: list[_Row]) -> None:
        """Employees and payees, then dependants (their employee's row must exist first)."""
        now = utcnow()
        table = _table(Person)
        # Employees and payees first: a dependant's row refers to its employee's.
        ordered = sorted(rows, key=lambda r: r.kind is PersonKind.DEPENDANT)
        values = await off_loop(len(ordered), lambda: [self._row_values(r, now) for r in ordered])
        split = sum(1 for r in ordered if r.kind is not PersonKind.DEPENDANT)
        for part in (values[:split], values[split:]):
            # In slices: the driver's parameters are prepared on the event loop, a slice at a time.
            for start in range(0, len(part), INSERT_SLICE):
                await insert_many(self.session, table, part[start : start + INSERT_SLICE])
        kinds = Counter(r.kind for r in rows)
        self.report.employees += kinds[PersonKind.EMPLOYEE]
        self.report.dependants += kinds[PersonKind.DEPENDANT]
        self.report.payees += kinds[PersonKind.PAYEE]

    async def _flag_duplicates(self, rows: list[_Row]) -> None:
        """The duplicate rule on the numbers another person held, each case logged against who gave it."""
        flagged = [r for r in rows if r.stored is not None and r.stored.flagged]
        if not flagged:
            return
        statement = select(Person).where(Person.tenant_id == self.tenant.id, Person.id.in_([r.id for r in flagged]))
        people = {p.id: p for p in (await self.session.execute(statement)).scalars()}
        by_giver: dict[tuple[Actor, str], list[tuple[Person, StoredNumber]]] = {}
        for row in flagged:
            giver = self.actor if row.record.channel is Channel.PROXY else self._self_actor(row)
            assert row.stored is not None
            by_giver.setdefault((giver, row.record.channel.function), []).append((people[row.id], row.stored))
        for (giver, function), entries in by_giver.items():
            await flag_duplicates(self.session, self.vault, actor=giver, entries=entries, function=function)
        self.report.flagged += len(flagged)

    def _events(self, rows: list[_Row]) -> list[AuditEvent]:
        """Additions (when logged), 本人番号確認, 管理者番号確認 and 提供拒否 entries, in that order."""
        tenant_id = self.tenant.id
        events: list[AuditEvent] = []
        if self.log_additions:
            events += [
                AuditEvent(
                    tenant_id=tenant_id,
                    action=AuditAction.UPDATE,
                    actor=self.actor,
                    function=_ADDED[r.kind],
                    subject=self._subject(r),
                    detail={"event": "person_added", "kind": r.kind.value},
                )
                for r in rows
            ]
        events += [
            AuditEvent(
                tenant_id=tenant_id,
                action=AuditAction.SELF_CONFIRM,
                actor=self._self_actor(r),
                function=_self_channel(r).function,
                subject=self._subject(r),
            )
            for r in rows
            if r.stored is not None and r.record.self_confirmed
        ]
        events += [
            AuditEvent(
                tenant_id=tenant_id,
                action=AuditAction.ADMIN_CONFIRM,
                actor=self.actor,
                function=ADMIN_CONFIRM_FUNCTION,
                subject=self._subject(r),
            )
            for r in rows
            if r.stored is not None and r.record.admin_confirmed
        ]
        events += [
            AuditEvent(
                tenant_id=tenant_id,
                action=AuditAction.DECLINE,
                actor=self._self_actor(r),
                function=_self_channel(r).function,
                subject=self._subject(r),
                detail={"event": "declined"},
            )
            for r in rows
            if r.stored is None and r.record.decline_reason.strip()
        ]
        return events


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def _self_channel(row: _Row) -> Channel:
    return Channel.PAYEE if row.kind is PersonKind.PAYEE else Channel.SELF


_ADDED = {
    PersonKind.EMPLOYEE: "従業員の追加",
    PersonKind.DEPENDANT: "扶養家族の追加",
    PersonKind.PAYEE: "取引先の追加",
}

# Every column a bulk insert sets (one executemany needs the same keys in every row).
_EMPTY: dict[str, Any] = {
    "employee_code": None,
    "name": "",
    "kana": "",
    "birth_date": None,
    "department_id": None,
    "hire_date": None,
    "retirement_date": None,
    "social_insurance_acquired_on": None,
    "social_insurance_lost_on": None,
    "employment_insurance_acquired_on": None,
    "employment_insurance_lost_on": None,
    "employee_id": None,
    "relationship": None,
    "payee_type": None,
    "address": "",
    "payment_kind": "",
    "email": "",
    "identity_changed_at": None,
    "notice_acknowledged_at": None,
}
