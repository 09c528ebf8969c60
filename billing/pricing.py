"""The price of a month (issue 13, seed 003): quantities, proration, consumption tax. Owned by branch B1.

Interface other branches code against (bodies filled by B1):
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.tenancy import Tenant
from billing.models import PriceList


@dataclass(frozen=True, slots=True)
class BillLine:
    """One line: ``quantity`` × ``unit_price`` yen, or a prorated ``amount`` (tax-exclusive yen)."""

    item: str  # initial_fee, base, packs, verification, admin_seats
    description: str
    quantity: int
    unit_price: int
    amount: int


@dataclass(frozen=True, slots=True)
class Bill:
    """A month's lines and totals (yen): ``subtotal`` tax-exclusive, ``tax`` 10% rounded down once, ``total``."""

    month: dt.date
    period_start: dt.date
    period_end: dt.date
    member: bool
    lines: tuple[BillLine, ...]
    subtotal: int
    tax: int
    total: int


def packs_for(ids: int) -> int:
    """5-user packs beyond the included 50 that ``ids`` self-registration ids need (50→0, 51→1, 55→1, 56→2)."""
    raise NotImplementedError


async def price_list_for(session: AsyncSession, month: dt.date) -> PriceList:
    """The prices in force in ``month`` (the latest list effective on or before its first day)."""
    raise NotImplementedError


async def bill_for_month(
    session: AsyncSession, tenant: Tenant, month: dt.date, *, until: dt.date | None = None
) -> Bill:
    """What ``tenant`` owes for ``month`` (its first day); ``until``: count usage only up to this JST day (the
    current month's estimate on the contract page). An empty bill (no lines) when nothing is billable."""
    raise NotImplementedError
