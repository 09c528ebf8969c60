"""The list pages' queries read index ranges: checked on the plans the databases choose (EXPLAIN QUERY PLAN on
SQLite, EXPLAIN on PostgreSQL with sequential scans disabled), for a tenant of a few thousand people."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.vault import Vault
from tenants.models import LIST_SORTS
from tenants.services import EmployeeFilter, NumberFilters, list_numbers, list_payees, search_employees
from tests.conftest import BACKEND
from tests.support.lists import fill_tenant, plans, principal_for, recorded, small_cap
from tests.support.world import World

__all__ = ["small_cap"]  # a fixture

POSTGRES = BACKEND == "postgres"
EMPLOYEES = 1200  # with dependants and payees: about 3,060 people (more employees than COUNT_CAP)


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


@pytest.fixture
async def filled(db: AsyncSession, world: World) -> list[Any]:
    departments = await fill_tenant(db, world.tenant.id, EMPLOYEES)
    await fill_tenant(db, world.other_tenant.id, 200, seed=1)
    if POSTGRES:  # a plan that could read the table sequentially must show it; the tables are small
        await db.execute(text("SET enable_seqscan = off"))
    return departments


async def page_plans(db: AsyncSession, read: Callable[[], Awaitable[object]]) -> list[tuple[str, str]]:
    async with recorded(db) as found:
        await read()
    return await plans(db, found.statements)


def full_scans(plan: str) -> list[str]:
    """Lines of a plan that read all of ``people`` (or all of one of its indexes)."""
    if POSTGRES:
        return [line for line in plan.splitlines() if "Seq Scan on people" in line]
    return [line for line in plan.splitlines() if re.match(r"\s*SCAN people\b", line)]


def sorts_rows(plan: str) -> bool:
    """The plan sorts rows for ORDER BY (rather than reading them in index order)."""
    if POSTGRES:
        return bool(re.search(r"^\s*(->\s*)?(Incremental )?Sort\b", plan, re.MULTILINE))
    return "USE TEMP B-TREE FOR ORDER BY" in plan


def uses(plan: str, index: str) -> bool:
    """The plan reads this index (a name ending in ``_`` stands for any index whose name starts with it)."""
    name = re.escape(index) + (r"\w*" if index.endswith("_") else r"\b")
    return re.search(rf"(USING INDEX|using) {name}", plan) is not None


def page_query(found: list[tuple[str, str]]) -> tuple[str, str]:
    """The (last) statement that reads the page's rows in order."""
    ordered = [(sql, plan) for sql, plan in found if "ORDER BY" in sql and "LIMIT" in sql]
    assert ordered, [sql[:80] for sql, _ in found]
    return ordered[-1]


def assert_no_full_scan(found: list[tuple[str, str]]) -> None:
    for sql, plan in found:
        assert not full_scans(plan), f"{sql[:200]}\n{plan}"


async def test_a_page_of_the_masked_list_is_a_range_of_its_sort_index(
    db: AsyncSession, vault: Vault, world: World, filled: list[Any]
) -> None:
    principal = world_principal(world)
    for sort in LIST_SORTS:
        for order in ("asc", "desc"):
            filters = NumberFilters(sort=sort, order=order)
            first = await list_numbers(db, vault, principal, filters)
            for asked in (filters, replace(filters, page=3), replace(filters, **first.window.next_page())):
                found = await page_plans(db, lambda asked=asked: list_numbers(db, vault, principal, asked))  # type: ignore[misc]
                assert_no_full_scan(found)
                _sql, plan = page_query(found)
                assert uses(plan, f"ix_people_list_{sort}_{order}"), plan
                assert not sorts_rows(plan), plan


async def test_many_matching_rows_walk_the_sort_index(
    db: AsyncSession, vault: Vault, world: World, filled: list[Any], small_cap: int
) -> None:
    """More than COUNT_CAP (here 7) rows match: the page walks the sort's index, the filter checked on the way."""
    cases: list[dict[str, Any]] = [
        {"kind": "dependant"},
        {"status": "declined"},
        {"status": "unconfirmed", "sort": "code", "order": "desc"},
        {"kind": "employee", "sort": "registered"},
        {"department": str(filled[0].id)},
        {"department": str(filled[1].id), "order": "desc"},
        {"name": "やま", "sort": "code"},
        {"name": "たなか たろう", "order": "desc"},
    ]
    for case in cases:
        filters = NumberFilters(**case)
        found = await page_plans(db, lambda filters=filters: list_numbers(db, vault, world_principal(world), filters))  # type: ignore[misc]
        assert_no_full_scan(found)
        _sql, plan = page_query(found)
        # With the department pinned, either direction's index of the department sort reads it in order.
        pinned = "department" in case
        assert uses(plan, f"ix_people_list_{filters.sort}_{'' if pinned else filters.order}"), (case, plan)
        assert not sorts_rows(plan), (case, plan)
        if "name" in case:
            assert not hashes_every_match(plan), (case, plan)


def hashes_every_match(plan: str) -> bool:
    """PostgreSQL: the plan tests rows against a hash of every matching name (built by reading all of them, in
    every tenant), instead of testing each row it walks (a dependant's employee read by primary key)."""
    return "hashed SubPlan" in plan or "hashed subplan" in plan


async def test_few_matching_rows_are_found_by_their_own_index(
    db: AsyncSession, vault: Vault, world: World, filled: list[Any]
) -> None:
    """At most COUNT_CAP rows: their sort values read through the filter's index (no ORDER BY), the page cut in
    memory, its rows read by primary key."""
    cases: list[dict[str, Any]] = [
        {"kind": "payee"},
        {"status": "declined", "kind": "employee"},
        {"status": "registered", "kind": "payee"},
        {"department": str(filled[3].id), "sort": "code"},
        {"code": "E000123"},
        {"name": "山田"},
        {"name": "やまだ はな", "sort": "registered"},
    ]
    for case in cases:
        filters = NumberFilters(**case)
        found = await page_plans(db, lambda filters=filters: list_numbers(db, vault, world_principal(world), filters))  # type: ignore[misc]
        assert_no_full_scan(found)
        assert not [sql for sql, _ in found if "ORDER BY" in sql], case
        by_key = found[-1][1]  # the page's rows
        assert uses(by_key, "pk_people" if POSTGRES else "sqlite_autoindex_people_1"), (case, by_key)


async def test_the_employee_and_payee_lists_read_their_indexes(
    db: AsyncSession, vault: Vault, world: World, filled: list[Any]
) -> None:
    principal = world_principal(world)
    code_index = "uq_people_tenant_id_employee_code" if POSTGRES else "sqlite_autoindex_people_2"
    first = await search_employees(db, principal, EmployeeFilter(employment="all"))
    for filters in (
        EmployeeFilter(),
        EmployeeFilter(employment="all"),
        EmployeeFilter(employment="all", after=first.last_cursor, page=2),
    ):
        found = await page_plans(db, lambda filters=filters: search_employees(db, principal, filters))  # type: ignore[misc]
        assert_no_full_scan(found)
        _sql, plan = page_query(found)
        assert uses(plan, code_index) and not sorts_rows(plan), plan
    for filters in (
        EmployeeFilter(department_id=str(filled[2].id), employment="all"),
        EmployeeFilter(employment="retired"),
        EmployeeFilter(name="たなか"),
        EmployeeFilter(name="田中"),
    ):
        found = await page_plans(db, lambda filters=filters: search_employees(db, principal, filters))  # type: ignore[misc]
        assert_no_full_scan(found)
    found = await page_plans(db, lambda: list_payees(db, vault, principal))
    assert_no_full_scan(found)
    _sql, plan = page_query(found)
    assert uses(plan, "ix_people_list_payees") and not sorts_rows(plan), plan
    found = await page_plans(db, lambda: list_payees(db, vault, principal, query="やま"))
    assert_no_full_scan(found)


def world_principal(world: World) -> Any:
    return principal_for(world.admin)
