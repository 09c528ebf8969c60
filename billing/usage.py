"""Active ids per tenant and day (issue 13): the usage ledger billing reads. Owned by branch B1."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import SeatKind


async def active_ids(session: AsyncSession, tenant_id: uuid.UUID, kind: SeatKind) -> int:
    """Ids of ``kind`` active now (the counter; constant cost at any tenant size)."""
    raise NotImplementedError


async def month_peak(session: AsyncSession, tenant_id: uuid.UUID, kind: SeatKind, month: dt.date) -> int:
    """The most ids of ``kind`` active on any day of ``month`` (its first day)."""
    raise NotImplementedError
