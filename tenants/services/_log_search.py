"""The 操作履歴 search (seed 003; seed 000 「組織的安全管理措置（ログ管理）」: 処理日・処理者・対象者 …):
filters read as index ranges, a page at a time, newest or oldest first, and every match in batches for downloads.

Each filter is an equality on a column of an index ``(tenant_id, column…, seq)`` (migration 0020): 社員コード,
部門コード, 操作した人 (login id), 対象者 (the person ids the name search finds), 操作 (and 結果). A search is read
from the *driver*: one of its filters, whose index ranges (one per value: each person, each action × result) are
merged in ``seq`` order by the database (``app.paging.seek_union``); the other filters are checked on the rows of
those ranges. The driver is the filter with the fewest entries, found by counting each candidate's ranges up to
``PROBE_CAP`` (index-only reads); 社員コード and 対象者名 always drive (one person's entries are few). A period
becomes a range of ``seq`` (two probes of ``ix_audit_entries_tenant_id_occurred_at``: entries are appended in
time order along a chain), which every driver's index applies as bounds on its last column.

Nothing counts the whole log: the total shown is counted up to ``COUNT_CAP`` (「1,000件以上」).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, String, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.audit.events import AuditAction, AuditResult
from app.audit.models import AuditEntry
from app.pager import Count, KeysetPage, PageRequest, capped_count, read_page
from app.paging import SortColumn, seek_union
from tenants.models import Person
from tenants.services._search import name_condition, name_match_ids

PER_PAGE_CHOICES = (20, 50, 100)
DEFAULT_PER_PAGE = 50
NAME_MATCH_LIMIT = 100  # people a 対象者名 may match; more: the user is asked to type more of the name
PROBE_CAP = 10_000  # entries counted per candidate driver (index only) to pick the smallest
DOWNLOAD_BATCH = 1000

ENTRIES = AuditEntry.__table__
# What the page and the downloads show: not the detail (JSON to parse), nor the chain's hashes.
SHOWN = [column for column in ENTRIES.c if column.name not in {"detail", "prev_hash", "hash", "key_version"}]


@dataclass(frozen=True, slots=True)
class Operation:
    """A choice of the 操作 filter: its label and the actions it stands for (番号確認: by the employee or an admin)."""

    label: str
    actions: tuple[AuditAction, ...]


def _operations() -> tuple[Operation, ...]:
    grouped = [
        Operation("登録", (AuditAction.REGISTER,)),
        Operation("代理登録", (AuditAction.PROXY_REGISTER,)),
        Operation("番号確認", (AuditAction.SELF_CONFIRM, AuditAction.ADMIN_CONFIRM)),
        Operation("閲覧", (AuditAction.VIEW,)),
        Operation("表示", (AuditAction.REVEAL,)),
        Operation("印刷", (AuditAction.PRINT,)),
        Operation("削除", (AuditAction.DELETE,)),
        Operation("CSV出力", (AuditAction.CSV_EXPORT,)),
        Operation("ログイン", (AuditAction.LOGIN, AuditAction.LOGIN_FAILED, AuditAction.LOGOUT)),
    ]
    covered = {action for operation in grouped for action in operation.actions}
    covered.discard(AuditAction.LOGIN_FAILED)
    covered.discard(AuditAction.LOGOUT)
    rest = [Operation(action.value, (action,)) for action in AuditAction if action not in covered]
    return (*grouped, *rest)


OPERATIONS: tuple[Operation, ...] = _operations()
OPERATION_BY_LABEL = {operation.label: operation for operation in OPERATIONS}


@dataclass(frozen=True, slots=True)
class LogSearch:
    """What the 操作履歴 search narrows the log to; every field optional.

    ``since`` (inclusive) and ``until`` (exclusive) are aware datetimes (the page gives JST midnights);
    ``department_code``, ``employee_code`` and ``actor_login_id`` match exactly; ``subject_name`` is typed text
    matched like the people search (``tenants.services._search``); ``operation`` one of ``OPERATIONS``.
    """

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    department_code: str = ""
    employee_code: str = ""
    subject_name: str = ""
    actor_login_id: str = ""
    operation: Operation | None = None
    result: AuditResult | None = None
    oldest_first: bool = False

    def ordering(self) -> list[SortColumn]:
        """The page's order: by ``seq`` (the chain's order, which is time order), newest first by default."""
        return [SortColumn(AuditEntry.seq, "seq", descending=not self.oldest_first)]

    def described(self) -> dict[str, str]:
        """The filters as Japanese labels and values (for a download's header and its audit entry's detail)."""
        shown = {
            "期間（開始）": self.since.date().isoformat() if self.since else "",
            "期間（終了）": (self.until - dt.timedelta(days=1)).date().isoformat() if self.until else "",
            "部門コード": self.department_code,
            "社員コード": self.employee_code,
            "対象者名": self.subject_name,
            "操作した人": self.actor_login_id,
            "操作": self.operation.label if self.operation else "",
            "結果": self.result.value if self.result else "",
        }
        kept = {key: value for key, value in shown.items() if value}
        kept["並び順"] = "古い順" if self.oldest_first else "新しい順"
        return kept


class TooManyNames(ValueError):
    """The 対象者名 matches more than ``NAME_MATCH_LIMIT`` people: the user is asked to type more of it."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How a search is read: the driver's index ranges (each with every filter applied); empty when none can match."""

    ranges: list[Select[Any]] = field(default_factory=list)
    driver: str = ""


async def plan_search(session: AsyncSession, tenant_id: uuid.UUID, search: LogSearch) -> Plan:
    """The index ranges that read ``search`` (see the module docstring).

    Raises TooManyNames when the 対象者名 matches more than ``NAME_MATCH_LIMIT`` people and no 社員コード narrows
    the search (with one, the name is tested on that employee's entries). Costs at most two probes
    for the period, one name lookup, and a capped count of at most ``PROBE_CAP`` index entries per candidate.
    """
    base = select(AuditEntry.seq).where(AuditEntry.tenant_id == tenant_id)
    bounds = await _seq_bounds(session, tenant_id, search)
    if bounds is None:
        return Plan()
    first, last = bounds
    if first is not None:
        base = base.where(AuditEntry.seq >= first)
    if last is not None:
        base = base.where(AuditEntry.seq <= last)
    person_ids: list[uuid.UUID] | None = None
    named_by_row = False
    if search.subject_name.strip():
        person_ids = await name_match_ids(session, tenant_id, search.subject_name, NAME_MATCH_LIMIT + 1)
        if len(person_ids) > NAME_MATCH_LIMIT:
            if not search.employee_code:
                raise TooManyNames(search.subject_name)
            # The 社員コード drives (one employee and their dependants' entries): the name is tested on those rows.
            person_ids, named_by_row = None, True
        elif not person_ids:
            return Plan()
    checks = _conditions(search, person_ids, hide_indexes=session.get_bind().dialect.name == "sqlite")
    if named_by_row:
        checks.append(_subject_named(search.subject_name))
    candidates = _candidates(search, person_ids)
    if len(candidates) == 1:
        name, owns = candidates[0]
    else:  # the candidate whose own ranges hold the fewest entries (counted from its index, up to PROBE_CAP)
        sizes = []
        for index, (_name, owns) in enumerate(candidates):
            probe = [base.where(*own) for own in owns]
            sizes.append(((await capped_count(session, probe, PROBE_CAP)).value, index))
        name, owns = candidates[min(sizes)[1]]
    return Plan([base.where(*own, *checks) for own in owns], name)


def _conditions(
    search: LogSearch, person_ids: list[uuid.UUID] | None, *, hide_indexes: bool
) -> list[ColumnElement[bool]]:
    """Every filter as a condition checked on the rows of the driver's ranges.

    ``hide_indexes`` (SQLite): the text columns are compared as expressions (``column || ''``), which no index
    answers, so SQLite can only read the driver's index (or the primary key's seq range), never start from another
    filter's index and sort. PostgreSQL's planner weighs the real statistics of each column and picks well (an
    expression would get a default selectivity and mislead it: measured in bench/audit_search.py). The period is
    not here: it is the range of seq (``_seq_bounds``; time order is chain order).
    """

    def _unindexed(column: Any) -> Any:
        return _as_expression(column) if hide_indexes else column

    checks: list[ColumnElement[bool]] = []
    if search.department_code:
        checks.append(_unindexed(AuditEntry.subject_department_code) == search.department_code)
    if search.employee_code:
        checks.append(_unindexed(AuditEntry.subject_employee_code) == search.employee_code)
    if search.actor_login_id:
        checks.append(_unindexed(AuditEntry.actor_login_id) == search.actor_login_id)
    if person_ids is not None:
        checks.append(AuditEntry.subject_person_id.in_(person_ids))
    if search.operation is not None:
        checks.append(_unindexed(AuditEntry.action).in_([action.value for action in search.operation.actions]))
    if search.result is not None:
        checks.append(_unindexed(AuditEntry.result) == search.result.value)
    return checks


def _subject_named(text: str) -> ColumnElement[bool]:
    """The entry's person's name matches ``text``, read by primary key for each entry the driver walks (a
    correlated scalar subquery: PostgreSQL cannot turn it into a hash of every matching name in the database)."""
    person = aliased(Person)
    matching = (
        select(func.count())
        .where(
            person.tenant_id == AuditEntry.tenant_id,
            person.id == AuditEntry.subject_person_id,
            name_condition(text, person, indexed=False),
        )
        .scalar_subquery()
    )
    return matching > 0


def _as_expression(column: Any) -> ColumnElement[str]:
    """The column's text as an expression (same value; no index is used for a condition on it)."""
    expression: ColumnElement[str] = column.op("||", return_type=String())(literal("", String()))
    return expression


Candidate = tuple[str, list[list[ColumnElement[bool]]]]


def _candidates(search: LogSearch, person_ids: list[uuid.UUID] | None) -> list[Candidate]:
    """Each filter that can drive the read: its name and its index ranges (the equalities of each range)."""
    if search.employee_code:
        return [("社員コード", [[AuditEntry.subject_employee_code == search.employee_code]])]
    if person_ids is not None:
        return [("対象者", [[AuditEntry.subject_person_id == pid] for pid in person_ids])]
    candidates: list[Candidate] = []
    if search.department_code:
        candidates.append(("部門", [[AuditEntry.subject_department_code == search.department_code]]))
    if search.actor_login_id:
        candidates.append(("操作した人", [[AuditEntry.actor_login_id == search.actor_login_id]]))
    results = [search.result] if search.result is not None else list(AuditResult)
    if search.operation is not None:
        ranges = [
            [AuditEntry.action == action, AuditEntry.result == result]
            for action in search.operation.actions
            for result in results
        ]
        candidates.append(("操作", ranges))
    elif search.result is not None:
        candidates.append(("結果", [[AuditEntry.result == search.result]]))
    if not candidates:
        candidates.append(("期間", [[]]))
    return candidates


async def _seq_bounds(
    session: AsyncSession, tenant_id: uuid.UUID, search: LogSearch
) -> tuple[int | None, int | None] | None:
    """The period as a range of seq (first, last; None for open), or None when no entry lies in it."""
    first = last = None
    if search.since is not None:
        first = await _seq_at(session, tenant_id, search.since, first=True)
        if first is None:
            return None
    if search.until is not None:
        last = await _seq_at(session, tenant_id, search.until, first=False)
        if last is None:
            return None
    if first is not None and last is not None and first > last:
        return None
    return first, last


async def _seq_at(session: AsyncSession, tenant_id: uuid.UUID, moment: dt.datetime, *, first: bool) -> int | None:
    """The first entry at or after ``moment`` (``first``), or the last one before it; None when there is none."""
    statement = select(AuditEntry.seq).where(AuditEntry.tenant_id == tenant_id)
    if first:
        statement = statement.where(AuditEntry.occurred_at >= moment)
        statement = statement.order_by(AuditEntry.occurred_at, AuditEntry.seq)
    else:
        statement = statement.where(AuditEntry.occurred_at < moment)
        statement = statement.order_by(AuditEntry.occurred_at.desc(), AuditEntry.seq.desc())
    found = (await session.execute(statement.limit(1))).scalar_one_or_none()
    return None if found is None else int(found)


@dataclass(frozen=True, slots=True)
class LogResults:
    """One page of the search: its entries (rows of ``audit_entries``), where it stands, and the capped total."""

    entries: list[Row[Any]]
    window: KeysetPage
    total: Count
    driver: str


async def search_log(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    search: LogSearch,
    request: PageRequest,
    *,
    per_page: int = DEFAULT_PER_PAGE,
) -> LogResults:
    """One page of the tenant's entries matching ``search`` (``per_page`` one of ``PER_PAGE_CHOICES``).

    The first pages by number, then 前へ/次へ by cursor (``app.pager``); the total is exact up to ``COUNT_CAP``.
    Raises TooManyNames (see ``plan_search``).
    """
    plan = await plan_search(session, tenant_id, search)
    total = await capped_count(session, plan.ranges)
    window = await read_page(session, plan.ranges, search.ordering(), request, per_page=per_page, total=total)
    entries = await _rows(session, tenant_id, [key.seq for key in window.keys])
    return LogResults(entries, window, total, plan.driver)


async def _rows(session: AsyncSession, tenant_id: uuid.UUID, seqs: Sequence[int]) -> list[Row[Any]]:
    """The entries of these seqs in this order, as plain rows (no ORM identity map to grow in a long download)."""
    if not seqs:
        return []
    found = await session.execute(select(*SHOWN).where(ENTRIES.c.tenant_id == tenant_id, ENTRIES.c.seq.in_(seqs)))
    by_seq = {row.seq: row for row in found}
    return [by_seq[seq] for seq in seqs if seq in by_seq]


async def iter_log(
    session: AsyncSession, tenant_id: uuid.UUID, search: LogSearch, *, batch: int = DOWNLOAD_BATCH
) -> AsyncIterator[list[Row[Any]]]:
    """Every entry matching ``search`` in its order, ``batch`` entries at a time (keyset on seq: constant memory).

    Raises TooManyNames before the first batch.
    """
    plan = await plan_search(session, tenant_id, search)
    ordering = search.ordering()
    cursor: tuple[int] | None = None
    while True:
        keys = await seek_union(session, plan.ranges, ordering, cursor, batch)
        if not keys:
            return
        yield await _rows(session, tenant_id, [key.seq for key in keys])
        if len(keys) < batch:
            return
        cursor = (keys[-1].seq,)
