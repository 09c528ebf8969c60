"""The commit of an import, a batch of planned rows at a time, in the caller's transaction (nothing committed here).

- Departments and people the file adds go through the one bulk path (``tenants.services.bulk``: core INSERTs with
  ids from the application, counters by delta, numbers by ``Vault.store_many``, one audit entry each in bulk).
- Stored people the full layout changes are loaded a batch at a time as ORM objects; their changes are set on
  them, whose flush keeps the list placement and the counters (``tenants.listing``), and logged as one 修正 entry
  each, in bulk.
- Numbers: the people named from plain rows (``tenants.services.person_subject``), the replaced numbers erased
  together (``Vault.erase_many``, one 削除 entry each), then every new number stored together
  (``Vault.store_many``: 代理登録, one entry each), the statuses set as a proxy registration sets them without
  loading the people (``tenants.services.mark_registered_many``: one UPDATE per chunk; the counters summed over
  the file and moved once by ``Applier.finish``), cases settled (``settle_superseded_many``) and the duplicate
  rule run on what another person held (``flag_duplicates``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent, Subject
from app.audit.log import record_many
from app.db import any_of
from app.vault import NumberField, StoredNumber, Vault
from exchange.checks import NO_COLUMN, Code, ReportLine
from exchange.services._import_plan import NumberAction, RowPlan, Target
from tenants.listing import CountDeltas, apply_count_deltas
from tenants.models import Department, Person, PersonKind
from tenants.services import (
    Channel,
    bulk,
    flag_duplicates,
    follow_retirement,
    mark_registered_many,
    note_identity_change,
    person_subject,
    settle_superseded_many,
)
from tenants.services._erasure_records import ErasedNumber, record_erasures

QUERY_CHUNK = 1000  # values per IN list: a batch of rows in one statement
NUMBER_TABLES = ("vault_numbers",)  # what registering numbers grows (and the duplicate checks read)
# What naming a stored person takes (``tenants.services.person_subject``): read as plain rows, not ORM objects.
_NAMED = (Person.id, Person.kind, Person.name, Person.employee_code, Person.department_id, Person.employee_id)
REPLACE_REASON = "番号の変更"  # what a proxy registration over a number writes in its 削除 entry
_UPDATED = {
    PersonKind.EMPLOYEE: "従業員情報の修正",
    PersonKind.DEPENDANT: "扶養家族情報の修正",
    PersonKind.PAYEE: "取引先情報の修正",
}


class ApplyFailed(Exception):
    """A batch could not be written although its check passed (the database changed meanwhile): roll back.

    ``lines`` are report lines for the rows refused, when the bulk path named them.
    """

    def __init__(self, lines: Sequence[ReportLine]) -> None:
        super().__init__(f"{len(lines)} row(s) refused while writing")
        self.lines = list(lines)


@dataclass(slots=True)
class Applied:
    """What the commit wrote so far."""

    registered: int = 0
    replaced: int = 0
    people_updated: int = 0
    flagged: int = 0


class Applier:
    """Writes the planned rows of one file, batch after batch, through ``fill`` and the vault."""

    def __init__(self, session: AsyncSession, vault: Vault, tenant_id: uuid.UUID, actor: Actor, fill: bulk.Fill):
        self.session = session
        self.vault = vault
        self.tenant_id = tenant_id
        self.actor = actor
        self.fill = fill
        self.applied = Applied()
        self.departments_added: set[str] = set()
        self._departments: dict[uuid.UUID, Department] = {}
        self.deltas: CountDeltas = Counter()
        self.growth = bulk.Growth(NUMBER_TABLES)  # the numbers table's statistics, as the file's numbers fill it
        self._department_ids: dict[str, uuid.UUID] = {}

    async def apply(self, plans: Sequence[RowPlan], new_departments: dict[str, str]) -> None:
        """Write one batch: new departments, new people (with their numbers), then the stored people's changes."""
        fresh = [
            bulk.DepartmentRecord(code=code, name=name)
            for code, name in new_departments.items()
            if code not in self.departments_added
        ]
        if fresh:
            await self.fill.add_departments(fresh)
            self.departments_added.update(record.code for record in fresh)
        targets = [target for plan in plans for target in plan.targets]
        await self._add_people([target for target in targets if target.record is not None])
        stored = [
            target
            for target in targets
            if target.stored is not None
            and (target.changes or target.action in (NumberAction.REGISTER, NumberAction.REPLACE))
        ]
        if stored:
            await self._update_stored(stored)

    async def _add_people(self, targets: list[Target]) -> None:
        if not targets:
            return
        start = self.fill.written
        try:
            await self.fill.write([target.record for target in targets if target.record is not None])
        except bulk.BulkRefused as exc:
            lines = []
            for problem in exc.problems:
                if problem.departments or not 0 <= problem.index - start < len(targets):
                    continue
                target = targets[problem.index - start]
                column = target.entry.columns.get("name", NO_COLUMN)
                lines.append(ReportLine(target.entry.line, column, "error", Code.INVALID, problem.message))
            raise ApplyFailed(lines) from None

    # Stored people ---------------------------------------------------------------------------------------------

    async def _update_stored(self, targets: list[Target]) -> None:
        changed = [t for t in targets if t.changes and t.stored is not None]
        if changed:
            ids = {t.stored.id for t in changed if t.stored is not None}
            ids |= {t.stored.employee_id for t in changed if t.stored is not None and t.stored.employee_id}
            await self._apply_changes(changed, await self._people(ids))
        numbered = [t for t in targets if t.action in (NumberAction.REGISTER, NumberAction.REPLACE)]
        if numbered:
            await self.growth.before_batch(self.session)
            await self._numbers(numbered, await self._subjects(numbered, changed=bool(changed)))
            self.growth.wrote(len(numbered))

    async def _people(self, ids: set[uuid.UUID]) -> dict[uuid.UUID, Person]:
        """The stored people the full layout changes (and their employees), as ORM objects: their flush keeps the
        list placement and the counters (``tenants.listing``)."""
        found: dict[uuid.UUID, Person] = {}
        ordered = sorted(ids)
        dialect = self.session.get_bind().dialect.name
        for start in range(0, len(ordered), QUERY_CHUNK):
            statement = select(Person).where(
                Person.tenant_id == self.tenant_id,
                any_of(Person.id, ordered[start : start + QUERY_CHUNK], dialect=dialect),
            )
            found.update((person.id, person) for person in (await self.session.execute(statement)).scalars())
        await self._load_departments({p.department_id for p in found.values() if p.department_id})
        return found

    async def _subjects(self, targets: list[Target], changed: bool) -> dict[uuid.UUID, Subject]:
        """The targets' people named as the lists name them, without loading them as ORM objects: as the check
        read them (in this transaction, the tenant's people held), or when the batch ``changed`` some stored people
        (a name, a department…) read again as they stand now, a chunk of ids a query."""
        if not changed:
            owners = [t.owner or t.stored for t in targets if t.stored is not None]
            await self._load_departments({o.department_id for o in owners if o.department_id})
            return {
                t.stored.id: self._named(t.stored, t.owner if t.stored.kind is PersonKind.DEPENDANT else None)
                for t in targets
                if t.stored is not None
            }
        ids = {t.stored.id for t in targets if t.stored is not None}
        ids |= {t.stored.employee_id for t in targets if t.stored is not None and t.stored.employee_id}
        ordered = sorted(ids)
        dialect = self.session.get_bind().dialect.name
        rows: dict[uuid.UUID, Any] = {}
        for start in range(0, len(ordered), QUERY_CHUNK):
            statement = select(*_NAMED).where(
                Person.tenant_id == self.tenant_id,
                any_of(Person.id, ordered[start : start + QUERY_CHUNK], dialect=dialect),
            )
            rows.update((row.id, row) for row in await self.session.execute(statement))
        await self._load_departments({row.department_id for row in rows.values() if row.department_id})
        subjects: dict[uuid.UUID, Subject] = {}
        for target in targets:
            if target.stored is None:
                continue
            row = rows[target.stored.id]
            subjects[row.id] = self._named(row, rows.get(row.employee_id) if row.employee_id else None)
        return subjects

    def _named(self, person: Any, employee: Any) -> Subject:
        """A person (and a dependant's employee) as rows with the columns of ``_NAMED``, named for the log."""
        owner = employee or person
        department = self._departments.get(owner.department_id) if owner.department_id else None
        return person_subject(person, employee, department)

    async def _load_departments(self, ids: set[uuid.UUID]) -> None:
        wanted = sorted(i for i in ids if i not in self._departments)
        for start in range(0, len(wanted), QUERY_CHUNK):
            statement = select(Department).where(
                Department.tenant_id == self.tenant_id, Department.id.in_(wanted[start : start + QUERY_CHUNK])
            )
            for department in (await self.session.execute(statement)).scalars():
                self._departments[department.id] = department

    async def _department_id(self, code: str) -> uuid.UUID:
        if code not in self._department_ids:
            statement = select(Department.id).where(Department.tenant_id == self.tenant_id, Department.code == code)
            self._department_ids[code] = (await self.session.execute(statement)).scalar_one()
        return self._department_ids[code]

    def _subject_of(self, person: Person, people: dict[uuid.UUID, Person]) -> Subject:
        """The person named as the lists and the log name them (a dependant under their employee)."""
        employee = people.get(person.employee_id) if person.employee_id else None
        owner = employee or person
        department = self._departments.get(owner.department_id) if owner.department_id else None
        return person_subject(person, employee, department)

    async def _apply_changes(self, targets: list[Target], people: dict[uuid.UUID, Person]) -> None:
        """The full layout's updates, as the edit forms make them (a confirmed number flagged when who changed)."""
        changed_people: list[tuple[Person, list[str], bool]] = []
        for target in targets:
            if not target.changes or target.stored is None:
                continue
            person = people[target.stored.id]
            values = dict(target.changes)
            if "department_code" in values:
                values["department_id"] = await self._department_id(values.pop("department_code"))
            changed = [name for name, value in values.items() if getattr(person, name) != value]
            if not changed:
                continue
            identity = note_identity_change(
                person,
                name=values.get("name", person.name),
                kana=values.get("kana", person.kana),
                birth_date=values.get("birth_date", person.birth_date),
            )
            for name in changed:
                setattr(person, name, values[name])
            changed_people.append((person, changed, identity and person.identity_warning))
        if not changed_people:
            return
        # 削除予定日 follows a 退職日 the file set or cleared (the rule every path shares).
        await follow_retirement(
            self.session, [p for p, changed, _ in changed_people if "retirement_date" in changed], self.actor
        )
        await self.session.flush()  # placement and counters follow (tenants.listing's hook)
        await self._load_departments({p.department_id for p, _, _ in changed_people if p.department_id})
        events = []
        for person, changed, warning in changed_people:
            detail: dict[str, object] = {"event": "person_updated", "fields": changed, "source": "import"}
            if warning:
                detail["identity_warning"] = True
            events.append(
                AuditEvent(
                    tenant_id=self.tenant_id,
                    action=AuditAction.UPDATE,
                    actor=self.actor,
                    function=_UPDATED[person.kind],
                    subject=self._subject_of(person, people),
                    detail=detail,
                )
            )
        await record_many(self.session, events)
        self.applied.people_updated += len(changed_people)

    async def _numbers(self, targets: list[Target], subjects: dict[uuid.UUID, Subject]) -> None:
        """Replaced numbers erased, then every number of the batch stored as 代理登録 (one entry each), the people's
        statuses set as a proxy registration sets them (``mark_registered_many``: counters summed for ``finish``)."""
        by_field: dict[NumberField, list[Target]] = {}
        for target in targets:
            by_field.setdefault(target.field, []).append(target)
        stored_numbers: list[StoredNumber] = []
        replaced: list[uuid.UUID] = []
        channel = Channel.PROXY
        for number_field, members in by_field.items():
            replacing = [t.stored.id for t in members if t.stored and t.action is NumberAction.REPLACE]
            if replacing:
                erased = await self.vault.erase_many(
                    self.session,
                    tenant_id=self.tenant_id,
                    subjects=[subjects[i] for i in replacing],
                    actor=self.actor,
                    function=channel.function,
                    reason=REPLACE_REASON,
                    field=number_field,
                )
                # Every erased number leaves its 削除記録 (the rule every erasure shares), in batches.
                kinds = {t.stored.id: t.stored.kind for t in members if t.stored}
                await record_erasures(
                    self.session,
                    self.tenant_id,
                    [ErasedNumber(subjects[person_id], kinds[person_id], number_id) for person_id, number_id in erased],
                    self.actor,
                    "replaced",
                )
                replaced += replacing
            stored_numbers += await self.vault.store_many(
                self.session,
                tenant_id=self.tenant_id,
                entries=[(subjects[t.stored.id], t.number) for t in members if t.stored],
                field=number_field,
                actor=self.actor,
                action=channel.action,
                function=channel.function,
                allow_duplicates=True,
            )
            self.applied.registered += len(members) - len(replacing)
            self.applied.replaced += len(replacing)
        await mark_registered_many(self.session, self.tenant_id, stored_numbers, channel, deltas=self.deltas)
        if replaced:
            await settle_superseded_many(self.session, self.vault, self.tenant_id, replaced)
        flagged = [number for number in stored_numbers if number.flagged]
        if flagged:
            people = await self._people({number.subject_id for number in flagged})
            await flag_duplicates(
                self.session,
                self.vault,
                actor=self.actor,
                entries=[(people[number.subject_id], number) for number in flagged],
                function=channel.function,
            )
            self.applied.flagged += len(flagged)

    async def finish(self) -> None:
        """The counters the batches' registrations moved, once for the whole file (before the commit)."""
        await apply_count_deltas(self.session, self.deltas)
        self.deltas.clear()
