"""Export: plan a file (checks, counts, characters cp932 cannot hold), then stream it, logged in one transaction.

The two steps every caller takes (the export pages, the JSON API):

1. :func:`plan_export` checks the request (Japanese errors), the permission (numbers: admins and handlers, a fresh
   step-up, a purpose the tenant notified), reads the selection once in keyset batches (constant memory) and says
   how many people and rows the file carries, which characters cp932 cannot hold and which dependants the
   源泉徴収票 has no slot for. Nothing is decrypted or written.
2. :func:`stream_export` makes the file as the client reads it: the families in keyset batches, each batch's
   numbers opened by the vault's batch API (``Vault.reveal_many``, which writes one CSV出力 entry per person in
   the stream's transaction), the rows encoded in the BULK worker (``app.workers``). The transaction is the
   stream's own (the request's commits before the response starts): it commits after the last chunk is made and
   before that chunk is sent, and rolls back if the stream is abandoned, so an export the client did not receive
   whole leaves no entry and claims nothing. The file is never stored: no temporary file, one batch in memory.

An export without numbers (the list itself) needs no step-up and writes one entry for the whole file.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from dataclasses import replace as replace_issue
from typing import Any

from anyio import CancelScope
from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy import Select, func
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent
from app.audit.log import record, record_many
from app.auth.models import Role
from app.auth.principal import Principal, StepUpRequired
from app.auth.scoping import get_scoped, scoped
from app.db import independent_session, utcnow
from app.forms import FormInvalid
from app.text import JST
from app.vault import NumberField, Vault
from app.workers import BULK, off_loop, run_in_worker
from exchange.encoding import (
    EXCEL_MAX_ROWS,
    Action,
    CharacterIssue,
    Encoding,
    FileWriter,
    Unencodable,
    file_writer,
    scan_cp932,
)
from exchange.layouts import Layout, WithholdingLayout, layout_named
from exchange.records import FamilyRecord
from exchange.services._request import (
    LAYOUT_SHORT,
    MAX_LISTED,
    MAX_PERSON_IDS,
    ExportPlan,
    ExportRequest,
    ExportSelection,
    UnencodableCharacters,
    UnplacedDependant,
    as_written,
    check_request,
    default_withholding_year,
)
from exchange.services._selection import Family, FamilyReader, Member
from tenants.models import Department, Person
from tenants.purposes import Audience, notified_purposes
from tenants.services import KIND_FILTERS, STATUS_FILTERS, NumberFilters, own_tenant, selected_people

BATCH_PEOPLE = 1000  # people read, opened and written per batch (one IN list for the vault)
NUMBER_ROLES = frozenset({Role.ADMIN, Role.HANDLER})


# The selection -------------------------------------------------------------------------------------------------


async def _selection_statement(
    session: AsyncSession, principal: Principal, selection: ExportSelection, *, strict: bool
) -> Select[Any] | None:
    """The selected people (scoped, unordered); None when nobody can match. ``strict``: 404 for an id or
    department not of the tenant (the plan); the stream, after the plan, just reads who is still there."""
    if selection.person_ids:
        ids = _ids(selection.person_ids, strict=strict)
        by_id: Select[Any] = scoped(Person, principal).where(Person.id.in_(ids))
        if strict:
            found = await session.execute(by_id.with_only_columns(func.count()))
            if found.scalar_one() != len(ids):
                raise NotFoundException()
        return by_id
    department = selection.department
    if department:
        try:
            department = str(uuid.UUID(department))
        except ValueError:
            raise NotFoundException() from None
    filters = NumberFilters(department=department, kind=selection.kind, status=selection.status)
    statement = await selected_people(session, principal, filters)
    if statement is None and strict:
        raise NotFoundException()  # a department of another tenant looks exactly like a missing one
    return statement


@dataclass(frozen=True, slots=True)
class SelectionSummary:
    """A selection in words, for the pages: the ticked count, or the department, kind and status chosen."""

    ticked: int = 0
    department: str = ""  # "101 社長室"
    kind: str = ""  # 従業員 / 扶養家族 / 取引先
    status: str = ""  # 未登録 … 重複の疑い

    @property
    def text(self) -> str:
        if self.ticked:
            return f"一覧で選択した {self.ticked:,} 人"
        chosen = (("部門", self.department), ("種別", self.kind), ("状態", self.status))
        parts = [f"{label}：{value}" for label, value in chosen if value]
        return "、".join(parts) if parts else "全員"


async def describe_selection(
    session: AsyncSession, principal: Principal, selection: ExportSelection
) -> SelectionSummary:
    """The selection in words; NotFoundException for an id or department not of the principal's tenant (more
    than ``MAX_PERSON_IDS`` ids are counted, not read: ``plan_export`` refuses them)."""
    if len(selection.person_ids) > MAX_PERSON_IDS:
        return SelectionSummary(ticked=len(selection.person_ids))
    if selection.person_ids:
        await _selection_statement(session, principal, selection, strict=True)
        return SelectionSummary(ticked=len(_ids(selection.person_ids, strict=True)))
    department = ""
    if selection.department:
        try:
            department_id = uuid.UUID(selection.department)
        except ValueError:
            raise NotFoundException() from None
        found = await get_scoped(session, Department, principal, department_id)
        department = f"{found.code} {found.name}"
    return SelectionSummary(
        department=department,
        kind=KIND_FILTERS.get(selection.kind, ""),
        status=STATUS_FILTERS.get(selection.status, ""),
    )


def _ids(values: tuple[uuid.UUID | str, ...], *, strict: bool) -> list[uuid.UUID]:
    ids: set[uuid.UUID] = set()
    for value in values:
        try:
            ids.add(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            if strict:
                raise NotFoundException() from None
    return sorted(ids)


def _written(layout: Layout, family: Family, base: FamilyRecord | None = None) -> list[Member]:
    """The chosen people whose rows the file carries (a 源泉徴収票 row: the employee and the dependants in slots).

    ``base``: the family's record without numbers when the caller has it (made here only for a 源泉徴収票)."""
    chosen = [family.head] if family.head.selected else []
    if isinstance(layout, WithholdingLayout):
        base = base or family.record()
        placed = {id(person) for person in layout.placement(base)[0].values()}
        return chosen + [m for m, p in zip(family.dependants, base.dependants, strict=True) if id(p) in placed]
    return chosen + list(family.dependants)


# Planning -----------------------------------------------------------------------------------------------------


@dataclass
class _Survey:
    """What one pass over the selection found (lists kept to ``MAX_LISTED``)."""

    people: int = 0
    rows: int = 0
    payees_left_out: int = 0
    not_notified: int = 0
    orphans: int = 0
    heads: int = 0
    issues: list[CharacterIssue] = field(default_factory=list)
    issue_count: int = 0
    refused_count: int = 0
    unplaced: list[UnplacedDependant] = field(default_factory=list)
    unplaced_count: int = 0

    def add_issues(self, issues: list[CharacterIssue], replace_unencodable: bool) -> None:
        self.issue_count += len(issues)
        self.refused_count += sum(1 for issue in issues if issue.action is Action.REFUSED)
        room = MAX_LISTED - len(self.issues)
        self.issues.extend(as_written(issue, replace_unencodable) for issue in issues[: max(room, 0)])

    def add_unplaced(self, family: Family, base: FamilyRecord, layout: Layout) -> None:
        left = layout.unplaced(base)
        self.unplaced_count += len(left)
        for person in left[: max(MAX_LISTED - len(self.unplaced), 0)]:
            self.unplaced.append(
                UnplacedDependant(family.head.employee_code, family.head.name, person.name, person.relationship)
            )


def _survey_batch(
    layout: Layout, audiences: frozenset[Audience], families: list[Family], survey: _Survey, scan: bool, replace: bool
) -> None:
    """Count and check one batch of families (CPU work: run off the loop)."""
    rows: list[list[str]] = []
    owners: list[str] = []  # the person id of each row (a 源泉徴収票 row: its employee's)
    for family in families:
        if family.role not in layout.roles:
            survey.payees_left_out += len(family.selected)
            continue
        if family.audience not in audiences:
            survey.not_notified += len(family.selected)
            continue
        base = family.record()
        written = _written(layout, family, base)
        survey.people += len(written)
        survey.heads += 0 if family.head.selected else 1
        if isinstance(layout, WithholdingLayout):
            survey.add_unplaced(family, base, layout)
        family_rows = layout.rows(base)
        members = (family.head, *family.dependants)
        heads = [family.head] * len(family_rows)
        owners.extend(str(m.id) for m in (members if len(family_rows) == len(members) else heads))
        rows.extend(family_rows)
    if scan and rows:
        first = survey.rows + 2
        issues = [
            replace_issue(issue, person_id=owners[issue.line - first])
            for issue in scan_cp932(layout.columns, rows, first_line=first)
        ]
        survey.add_issues(issues, replace)
    survey.rows += len(rows)


async def _check_permission(session: AsyncSession, principal: Principal, request: ExportRequest) -> None:
    """Numbers: admins and handlers only (403), a fresh step-up (StepUpRequired), a purpose the tenant notified."""
    if not request.with_numbers:
        return
    if principal.role not in NUMBER_ROLES:
        raise PermissionDeniedException("番号を含む出力は管理者と事務取扱担当者だけが行えます。")
    if not principal.stepup_fresh:
        raise StepUpRequired()
    if not request.purpose:
        raise FormInvalid({"purpose": "番号を含めて出力するときは利用目的を選択してください。"})
    if request.purpose not in await export_purposes(session, principal):
        raise FormInvalid({"purpose": "利用目的を一覧から選択してください（本人に通知した利用目的だけを選べます）。"})


async def _audiences(session: AsyncSession, principal: Principal, request: ExportRequest) -> frozenset[Audience]:
    """Whose numbers the export may carry: the kinds of person the purpose was notified to (番号法: a number is
    used only within the purposes notified to its holder); everyone for an export without numbers."""
    if not request.with_numbers or not request.purpose:
        return frozenset(Audience)
    tenant = await own_tenant(session, principal)
    return frozenset(audience for audience in Audience if request.purpose in notified_purposes(tenant, audience))


async def export_purposes(session: AsyncSession, principal: Principal) -> list[str]:
    """The purposes an export with numbers may name: those the tenant notified to employees or to payees."""
    tenant = await own_tenant(session, principal)
    employees = notified_purposes(tenant, Audience.EMPLOYEE)
    return employees + [p for p in notified_purposes(tenant, Audience.PAYEE) if p not in employees]


def _filenames(request: ExportRequest, now: dt.datetime) -> tuple[str, str]:
    """The download's name in Japanese and its ASCII fallback, e.g. ``マイナンバー_基本_20261201-0930.csv``."""
    stamp = now.astimezone(JST).strftime("%Y%m%d-%H%M")
    extension = request.encoding.extension
    japanese = f"{'マイナンバー' if request.with_numbers else '対象者一覧'}_{LAYOUT_SHORT[request.layout]}"
    ascii_name = f"{'mynumber' if request.with_numbers else 'people'}_{request.layout}"
    return f"{japanese}_{stamp}.{extension}", f"{ascii_name}_{stamp}.{extension}"


def _layout(request: ExportRequest) -> Layout:
    return layout_named(request.layout, year=request.year or default_withholding_year())


async def plan_export(session: AsyncSession, principal: Principal, request: ExportRequest) -> ExportPlan:
    """Check an export and survey what it would carry; nothing is decrypted or written.

    Raises FormInvalid (Japanese, per field: ``layout``, ``encoding``, ``kind``, ``status``, ``person``, ``year``,
    ``purpose``, ``replace``), NotFoundException (a person id or department not of the principal's tenant),
    PermissionDeniedException (numbers asked by a role other than admin or handler) and StepUpRequired (numbers
    without a fresh step-up; token callers build their principal with ``stepup_fresh`` for a numbers scope).
    The plan's ``outcome`` says whether it can be downloaded (``UnencodableCharacters`` is what
    :func:`stream_export` raises for a blocked one). Reads the selection in keyset batches: constant memory.
    """
    check_request(request)
    await _check_permission(session, principal, request)
    layout = _layout(request)
    audiences = await _audiences(session, principal, request)
    statement = await _selection_statement(session, principal, request.selection, strict=True)
    survey = _Survey()
    if statement is not None:
        scan = request.encoding is Encoding.CP932
        reader = FamilyReader(session, principal, statement, BATCH_PEOPLE, whole_families=layout.whole_families)
        async for batch in reader.batches():
            survey.orphans += batch.orphans
            args = (layout, audiences, batch.families, survey, scan, request.replace_unencodable)
            await off_loop(sum(len(f.dependants) + 1 for f in batch.families), _survey_batch, *args)
    if request.encoding is Encoding.XLSX and survey.rows + 1 > EXCEL_MAX_ROWS:
        raise FormInvalid(
            {"encoding": f"Excel の1シートに入る{EXCEL_MAX_ROWS:,}行を超えます。CSV で出力してください。"}
        )
    now = utcnow()
    filename, ascii_filename = _filenames(request, now)
    return ExportPlan(
        request=request,
        layout=layout,
        tenant_id=principal.tenant_id,
        people=survey.people,
        rows=survey.rows,
        payees_left_out=survey.payees_left_out,
        audiences=audiences,
        not_notified=survey.not_notified,
        orphans=survey.orphans,
        heads=survey.heads,
        issues=tuple(survey.issues),
        issue_count=survey.issue_count,
        refused_count=survey.refused_count,
        unplaced=tuple(survey.unplaced),
        unplaced_count=survey.unplaced_count,
        filename=filename,
        ascii_filename=ascii_filename,
        created_at=now,
    )


# Streaming ----------------------------------------------------------------------------------------------------


def _encode(layout: Layout, writer: FileWriter, records: list[FamilyRecord]) -> bytes:
    """One batch's rows written (CPU work: run off the loop)."""
    return writer.write(list(layout.table(records)))


class ExportStream:
    """The file of a plan as an async iterator of ``bytes`` chunks (see :func:`stream_export`).

    ``people`` counts the people written so far; ``report`` lists (the first ``MAX_LISTED`` of ``report_count``)
    characters written otherwise than stored: 〓, a variation selector dropped, a compatibility ideograph written
    as its canonical twin. ``aclose()`` abandons it: the transaction rolls back, nothing is logged.
    """

    def __init__(
        self,
        session: AsyncSession,
        vault: Vault,
        principal: Principal,
        actor: Actor,
        plan: ExportPlan,
        batch_size: int,
    ) -> None:
        self._request_session = session
        self._vault = vault
        self._principal = principal
        self._actor = actor
        self._plan = plan
        self._batch_size = batch_size
        self._written: list[CharacterIssue] = []  # the writer's report, emptied into ``report`` after each batch
        self.people = 0
        self.report: list[CharacterIssue] = []
        self.report_count = 0
        self._chunks = self._produce()

    def __aiter__(self) -> ExportStream:
        return self

    async def __anext__(self) -> bytes:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        """Stop: a transaction in progress rolls back (no entry written), its session is closed."""
        await self._chunks.aclose()

    async def _produce(self) -> AsyncGenerator[bytes, None]:
        plan = self._plan
        session = independent_session(self._request_session)
        try:
            writer = file_writer(
                plan.layout.columns,
                plan.encoding,
                unencodable=Unencodable.REPLACE if plan.request.replace_unencodable else Unencodable.REFUSE,
                report=self._written,
                title="マイナンバー" if plan.request.with_numbers else "対象者一覧",
            )
            held = writer.start()  # a chunk is sent once the next is made: the last one only after the commit
            statement = await _selection_statement(session, self._principal, plan.request.selection, strict=False)
            if statement is not None:
                reader = FamilyReader(
                    session, self._principal, statement, self._batch_size, whole_families=plan.layout.whole_families
                )
                async for batch in reader.batches():
                    chunk = await self._batch(session, writer, batch.families)
                    if chunk:
                        yield held
                        held = chunk
            if not plan.request.with_numbers:
                await record(session, self._list_event())
            held += await run_in_worker(BULK, writer.finish)
            await session.commit()
        except BaseException:
            with CancelScope(shield=True):
                await session.rollback()
            raise
        finally:
            with CancelScope(shield=True):
                await session.close()
        yield held

    async def _batch(self, session: AsyncSession, writer: FileWriter, families: list[Family]) -> bytes:
        """Open, log and write one batch of families; the bytes the writer made ready."""
        layout = self._plan.layout
        audiences = self._plan.audiences
        kept = [family for family in families if family.role in layout.roles and family.audience in audiences]
        chosen = [(family, member) for family in kept for member in _written(layout, family)]
        numbers: dict[uuid.UUID, str] = {}
        if self._plan.request.with_numbers:
            numbers = await self._open(session, chosen)
        records = [family.record(numbers) for family in kept]
        numbers.clear()
        chunk = await off_loop(len(chosen), _encode, layout, writer, records)
        self.people += len(chosen)
        self._collect_report()
        return chunk

    async def _open(self, session: AsyncSession, chosen: list[tuple[Family, Member]]) -> dict[uuid.UUID, str]:
        """The numbers of these people, opened by the vault (one CSV出力 entry each); an entry for those without."""
        plan = self._plan
        subjects: dict[NumberField, list[tuple[Family, Member]]] = {}
        for family, member in chosen:
            if member.status.has_number:
                subjects.setdefault(member.field, []).append((family, member))
        numbers: dict[uuid.UUID, str] = {}
        for number_field, people in subjects.items():
            numbers.update(
                await self._vault.reveal_many(
                    session,
                    tenant_id=plan.tenant_id,
                    subjects=[family.subject(member) for family, member in people],
                    field=number_field,
                    actor=self._actor,
                    purpose=plan.request.purpose or "",
                    function=plan.function,
                    action=AuditAction.CSV_EXPORT,
                )
            )
        without = [
            AuditEvent(
                tenant_id=plan.tenant_id,
                action=AuditAction.CSV_EXPORT,
                actor=self._actor,
                function=plan.function,
                subject=family.subject(member),
                purpose=plan.request.purpose,
                detail={"number": "なし"},
            )
            for family, member in chosen
            if member.id not in numbers
        ]
        await record_many(session, without)
        return numbers

    def _collect_report(self) -> None:
        self.report_count += len(self._written)
        room = max(MAX_LISTED - len(self.report), 0)
        self.report.extend(self._written[:room])
        self._written.clear()

    def _list_event(self) -> AuditEvent:
        """The one entry of an export without numbers: what was written, for whom."""
        plan = self._plan
        selection = plan.request.selection
        chosen: dict[str, object] = (
            {"ticked": len(selection.person_ids)}
            if selection.ticked
            else {"department": selection.department, "kind": selection.kind, "status": selection.status}
        )
        detail = {
            "layout": plan.request.layout,
            "encoding": plan.encoding.value,
            "people": self.people,
            "selection": chosen,
        }
        return AuditEvent(
            tenant_id=plan.tenant_id,
            action=AuditAction.CSV_EXPORT,
            actor=self._actor,
            function=plan.function,
            detail=detail,
        )


def stream_export(
    session: AsyncSession,
    vault: Vault,
    principal: Principal,
    actor: Actor,
    plan: ExportPlan,
    *,
    batch_size: int | None = None,
) -> ExportStream:
    """The planned file, made as it is read (an async iterator of ``bytes``; iterate it once, to the end or not).

    ``session`` is the caller's (the request's): the stream works in a session of its own on the same engine,
    opened at the first chunk, committed after the last chunk is made and before it is handed over, rolled back
    when the stream is abandoned (``aclose()``, a cancelled task, a client gone) so that nothing is logged for an
    export the client did not get whole. ``actor`` is who the log names (the principal's ``actor()``, or an API
    token's). With numbers: one CSV出力 entry per person written (``Vault.reveal_many`` for those with a number,
    ``detail={"number": "なし"}`` for those without), purpose included; without: one entry for the file.

    Raises UnencodableCharacters at once for a blocked plan (cp932 without replacement: answer 422 with the
    list), and ValueError for a plan of another tenant. While streaming, a character cp932 cannot hold that
    appeared after the plan raises ``UnencodableText`` (the stream breaks off, nothing is logged).
    ``batch_size``: people read, opened and written at a time (``BATCH_PEOPLE`` when None).
    """
    if plan.blocked:
        raise UnencodableCharacters(plan)
    if plan.tenant_id != principal.tenant_id:
        raise ValueError("the plan belongs to another tenant")
    return ExportStream(session, vault, principal, actor, plan, batch_size or BATCH_PEOPLE)


__all__ = [
    "BATCH_PEOPLE",
    "ExportStream",
    "SelectionSummary",
    "describe_selection",
    "export_purposes",
    "plan_export",
    "stream_export",
]
