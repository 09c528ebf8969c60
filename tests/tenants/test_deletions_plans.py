"""The deletion list and the home's reminder read index ranges (no scan of the tenant's people), on a tenant of a
few thousand people, for every extraction and for a cursor page."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import refresh_statistics
from app.vault import Vault
from tenants.models import Person, PersonKind
from tenants.services import DeletionFilters, list_deletions, past_due_numbers
from tests.conftest import BACKEND
from tests.support.lists import fill_tenant, plans, principal_for, recorded
from tests.support.world import World

POSTGRES = BACKEND == "postgres"


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    opened = Vault.from_settings(settings)
    yield opened
    await opened.close()


@pytest.fixture
async def filled(db: AsyncSession, world: World) -> None:
    await fill_tenant(db, world.tenant.id, 1200)
    await fill_tenant(db, world.other_tenant.id, 200, seed=1)
    # Every 7th employee retired in 2015 and past due; every 3rd insured.
    retired = Person.kind == PersonKind.EMPLOYEE
    await db.execute(
        update(Person)
        .where(retired, Person.tenant_id == world.tenant.id, Person.employee_code.like("%7"))
        .values(retirement_date=dt.date(2015, 3, 31), deletion_due_on=dt.date(2023, 1, 1))
    )
    await db.execute(
        update(Person)
        .where(retired, Person.tenant_id == world.tenant.id, Person.employee_code.like("%3"))
        .values(social_insurance_acquired_on=dt.date(2016, 1, 1), employment_insurance_acquired_on=dt.date(2016, 1, 1))
    )
    await db.commit()
    await refresh_statistics(db, ["people"])
    await db.commit()
    if POSTGRES:
        await db.execute(text("SET enable_seqscan = off"))


def full_scans(plan: str) -> list[str]:
    if POSTGRES:
        return [line for line in plan.splitlines() if "Seq Scan on people" in line]
    return [line for line in plan.splitlines() if re.match(r"\s*SCAN people\b", line)]


async def read_plans(db: AsyncSession, call: Any) -> tuple[Any, list[tuple[str, str]]]:
    async with recorded(db) as found:
        result = await call()
    return result, await plans(db, found.statements)


FILTERS = [
    DeletionFilters(),
    DeletionFilters(filter="social_insurance"),
    DeletionFilters(filter="employment_insurance"),
    DeletionFilters(filter="not_registered"),
    DeletionFilters(filter="retired", retired_from="2015/01/01", months=12),
    DeletionFilters(filter="past_due"),
]


@pytest.mark.parametrize("filters", FILTERS, ids=[f.filter for f in FILTERS])
async def test_each_extraction_and_its_next_page_read_index_ranges(
    db: AsyncSession, vault: Vault, world: World, filled: None, filters: DeletionFilters
) -> None:
    principal = principal_for(world.admin)
    first, found = await read_plans(db, lambda: list_deletions(db, vault, principal, filters))
    assert first.rows, filters
    for sql, plan in found:
        assert not full_scans(plan), f"{sql[:300]}\n{plan}"
    if not first.window.has_next:
        return
    after = replace(filters, **first.window.next_page())
    second, found = await read_plans(db, lambda: list_deletions(db, vault, principal, after))
    assert second.rows and {r.person.id for r in second.rows}.isdisjoint({r.person.id for r in first.rows})
    for sql, plan in found:
        assert not full_scans(plan), f"{sql[:300]}\n{plan}"
    if filters.filter == "past_due":
        assert any("ix_people_deletion_due" in plan for _, plan in found), found


async def test_the_home_reminder_reads_the_partial_index(db: AsyncSession, world: World, filled: None) -> None:
    past_due, found = await read_plans(db, lambda: past_due_numbers(db, principal_for(world.admin)))
    assert len(past_due.rows) == 5 and past_due.more
    reminder = [plan for sql, plan in found if "deletion_due_on" in sql and "LIMIT" in sql]
    assert reminder and "ix_people_deletion_due" in reminder[0], reminder
    assert not full_scans(reminder[0])
