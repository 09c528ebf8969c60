"""The operation log as the 操作履歴 page reads it: newest first, a page at a time by index ranges.

Filters by 操作 and 結果 pick ranges of ``ix_audit_entries_tenant_id_action_result_seq`` (an action alone: one range
per result, merged by the database) or ``ix_audit_entries_tenant_id_result_seq`` (a result alone). A date range becomes
a range of ``seq`` with two probes of ``ix_audit_entries_tenant_id_occurred_at`` (entries are appended under the
chain head's lock with the time taken there, so time never runs backwards along a chain). No page counts the log.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditResult
from app.audit.models import AuditEntry
from app.pager import KeysetPage, PageRequest, read_page
from app.paging import SortColumn

NEWEST_FIRST = [SortColumn(AuditEntry.seq, "seq", descending=True)]


@dataclass(frozen=True, slots=True)
class LogFilter:
    """What the page narrows the log to; ``until`` is exclusive."""

    action: AuditAction | None = None
    result: AuditResult | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class LogPage:
    entries: list[AuditEntry]
    window: KeysetPage


async def log_page(
    session: AsyncSession, tenant_id: uuid.UUID, filters: LogFilter, request: PageRequest, *, per_page: int = 50
) -> LogPage:
    """One page of one tenant's entries, newest first, narrowed by ``filters``.

    Costs a bounded number of index-range reads whatever the size of the log: at most ``len(AuditResult)`` ranges
    (an action without a result), each reading at most ``NUMBERED_PAGES * per_page`` entries.
    """
    ranges = await _ranges(session, tenant_id, filters)
    window = await read_page(session, ranges, NEWEST_FIRST, request, per_page=per_page)
    seqs = [key.seq for key in window.keys]
    if not seqs:
        return LogPage([], window)
    found = await session.execute(select(AuditEntry).where(AuditEntry.tenant_id == tenant_id, AuditEntry.seq.in_(seqs)))
    by_seq = {entry.seq: entry for entry in found.scalars()}
    return LogPage([by_seq[seq] for seq in seqs if seq in by_seq], window)


async def _ranges(session: AsyncSession, tenant_id: uuid.UUID, filters: LogFilter) -> list[Select[Any]]:
    base = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if filters.since is not None:
        first = await _seq_at(session, tenant_id, filters.since, first=True)
        if first is None:
            return []
        base = base.where(AuditEntry.seq >= first, AuditEntry.occurred_at >= filters.since)
    if filters.until is not None:
        last = await _seq_at(session, tenant_id, filters.until, first=False)
        if last is None:
            return []
        base = base.where(AuditEntry.seq <= last, AuditEntry.occurred_at < filters.until)
    if filters.action is not None:
        base = base.where(AuditEntry.action == filters.action)
    if filters.result is not None:
        return [base.where(AuditEntry.result == filters.result)]
    if filters.action is not None:  # one range per result of the action's index, merged newest first
        return [base.where(AuditEntry.result == result) for result in AuditResult]
    return [base]


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
