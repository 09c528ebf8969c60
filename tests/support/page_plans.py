"""Query plans of what a service call runs (SQLite ``EXPLAIN QUERY PLAN``), to prove a page reads index ranges."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.pager import PageRequest, page_links
from tests.support.world import Persona


def principal_of(persona: Persona) -> Principal:
    """The principal a signed-in persona acts as (for calling services directly)."""
    account, tenant = persona.account, persona.tenant
    return Principal(
        account_id=account.id,
        tenant_id=tenant.id,
        tenant_code=tenant.code,
        tenant_name=tenant.name,
        tenant_kind=tenant.kind,
        login_id=account.login_id,
        name=account.name,
        role=account.role,
        totp_enabled=False,
        person_id=account.person_id,
        stepup_fresh=True,
    )


@dataclass
class Plan:
    """One SELECT that ran and its plan lines (id, parent, detail)."""

    sql: str
    lines: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(detail for _, _, detail in self.lines)

    def full_scans(self, tables: set[str]) -> list[str]:
        """Lines reading a whole table (``SCAN people``), as opposed to an index range (``SEARCH people USING``)."""
        found = []
        for _, _, detail in self.lines:
            match = re.match(r"SCAN (\w+)", detail)
            if match and match.group(1) in tables:
                found.append(detail)
        return found

    def tenant_wide(self, tables: set[str]) -> list[str]:
        """Index reads of one of ``tables`` bounded only by the tenant (and a kind, role or section), in a query
        without LIMIT: they read every such row of the tenant (a keyset read stops at its LIMIT instead)."""
        if re.search(r"\bLIMIT\b", self.sql):
            return []
        wide = r"\(tenant_id=\?(?: AND (?:kind|role|code_section|department_section)=\?)*\)"
        return [
            detail
            for _, _, detail in self.lines
            if (m := re.match(r"SEARCH (\w+) USING (?:COVERING )?INDEX \w+ " + wide + "$", detail))
            and m.group(1) in tables
        ]

    def table_sorts(self, tables: set[str], allowed: Callable[[str], bool] = lambda _: False) -> list[str]:
        """Temporary B-trees that sort rows read from one of ``tables`` (sorting the merged rows of subqueries, at
        most a page per range, is fine); ``allowed`` accepts a read (and the join under it) known to be small."""
        bad = []
        for node, parent, detail in self.lines:
            if "TEMP B-TREE" not in detail:
                continue
            siblings = [d for n, p, d in self.lines if p == parent and n != node and "TEMP B-TREE" not in d]
            reads = [d for d in siblings if (m := re.match(r"(?:SEARCH|SCAN) (\w+)", d)) and m.group(1) in tables]
            if reads and not any(allowed(d) for d in reads):
                bad.append(f"{detail} over {reads}")
        return bad


@contextmanager
def _captured(session: AsyncSession) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []
    engine = session.bind.sync_engine  # type: ignore[union-attr]

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


async def plans_of(session: AsyncSession, call: Callable[[], Awaitable[Any]]) -> tuple[Any, list[Plan]]:
    """Run ``call`` and return its result with the SQLite plan of every SELECT it ran."""
    with _captured(session) as statements:
        result = await call()
    connection = await session.connection()
    plans = []
    for sql, parameters in statements:
        rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
        lines = [tuple(row) for row in rows.all()]
        plans.append(Plan(sql, [(int(line[0]), int(line[1]), str(line[3])) for line in lines]))
    return result, plans


async def walk_pages(read: Callable[[PageRequest], Awaitable[Any]], start: PageRequest, rel: str) -> list[Any]:
    """Every page from ``start`` on, following the pager's 次へ (``next``) or 前へ (``prev``) links as a browser would;
    ``read`` returns a page with ``window`` (and ``total`` when the list counts)."""
    pages: list[Any] = []
    request = start
    while True:
        page = await read(request)
        pages.append(page)
        links = page_links(page.window, getattr(page, "total", None), lambda params: "/?" + urlencode(params))
        step = [link for link in links if link.rel == rel]
        if not step:
            return pages
        query = {key: values[0] for key, values in parse_qs(urlsplit(step[0].url or "").query).items()}
        request = PageRequest.from_query(query)
        assert len(pages) < 500, "the pager does not end"
