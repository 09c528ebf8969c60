"""Deletion records (削除記録): the page that lists them, newest first, by keyset, within a period of JST days.

The records outlive the numbers and the people (``tenants.models.DeletionRecord``); the 削除証明書 is printed from
them (``tenants.certificates``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.auth.scoping import scoped
from app.pager import Count, KeysetPage, PageRequest, capped_count, read_page
from app.paging import SortColumn
from app.text import JST
from tenants.models import DeletionRecord
from tenants.services._erasure import (
    check_reader,
)

RECORDS_PER_PAGE = 50
_NEWEST_FIRST = [
    SortColumn(DeletionRecord.erased_at, "erased_at", descending=True),
    SortColumn(DeletionRecord.id, "id", descending=True),
]


@dataclass(frozen=True, slots=True)
class RecordRange:
    """A period of JST days (both ends included; either open)."""

    start: dt.date | None = None
    end: dt.date | None = None

    def clauses(self) -> list[Any]:
        """``erased_at`` bounds in UTC for the JST days."""
        found: list[Any] = []
        if self.start is not None:
            found.append(DeletionRecord.erased_at >= _jst_midnight(self.start))
        if self.end is not None:
            found.append(DeletionRecord.erased_at < _jst_midnight(self.end + dt.timedelta(days=1)))
        return found


def _jst_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=JST).astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class RecordPage:
    rows: list[DeletionRecord]
    total: Count
    window: KeysetPage


def records_in(principal: Principal, period: RecordRange) -> Select[Any]:
    """The tenant's deletion records in a period (one range of ``ix_deletion_records_tenant_id_erased_at``)."""
    return scoped(DeletionRecord, principal).where(*period.clauses())


async def deletion_record_page(
    session: AsyncSession, principal: Principal, period: RecordRange, page: PageRequest
) -> RecordPage:
    """Deletion records newest first, ``RECORDS_PER_PAGE`` a page by keyset, counted up to ``COUNT_CAP``."""
    check_reader(principal)
    statement = records_in(principal, period)
    total = await capped_count(session, statement)
    window = await read_page(session, [statement], _NEWEST_FIRST, page, per_page=RECORDS_PER_PAGE, total=total)
    ids = [key.id for key in window.keys]
    found: dict[uuid.UUID, DeletionRecord] = {}
    if ids:
        statement = scoped(DeletionRecord, principal).where(DeletionRecord.id.in_(ids))
        found = {record.id: record for record in (await session.execute(statement)).scalars()}
    return RecordPage([found[i] for i in ids if i in found], total, window)
