"""Monthly invoices (issue 13): closing a month, credit notes, the accounting CSV. Owned by branch B1."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.models import Invoice, InvoiceLine


@dataclass(frozen=True, slots=True)
class CloseResult:
    """What closing a month did: invoices written now, and tenants that already had theirs (idempotent)."""

    month: dt.date
    created: int
    already_closed: int


async def close_month(sessions: async_sessionmaker[AsyncSession], month: dt.date, *, actor: str) -> CloseResult:
    """One invoice per billable tenant for ``month`` (its first day), in batches; closing twice adds nothing."""
    raise NotImplementedError


async def tenant_invoices(session: AsyncSession, tenant_id: uuid.UUID) -> list[Invoice]:
    """A tenant's invoices and credit notes, newest month first."""
    raise NotImplementedError


async def invoice_with_lines(
    session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID
) -> tuple[Invoice, list[InvoiceLine]]:
    """One invoice of the tenant and its lines; LookupError when the tenant has no such invoice (→ 404)."""
    raise NotImplementedError


def month_csv(session: AsyncSession, month: dt.date) -> AsyncIterator[bytes]:
    """Every invoice and credit note of ``month`` as cp932 CSV for accounting, in chunks (constant memory)."""
    raise NotImplementedError
