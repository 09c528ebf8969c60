"""The plans the databases choose for the statements the code really sends.

``captured(session)`` records the SQL and parameters sent while a block runs; ``plan_of`` asks the database how it
runs one of them: SQLite ``EXPLAIN QUERY PLAN``; PostgreSQL the *generic* plan (``plan_cache_mode =
force_generic_plan``, then ``PREPARE`` / ``EXPLAIN EXECUTE``), the plan asyncpg's prepared statements use from
their sixth execution on, made without knowing the parameters' values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class SentStatement:
    sql: str
    parameters: tuple[Any, ...]


@contextlib.contextmanager
def captured(session: AsyncSession) -> Iterator[list[SentStatement]]:
    """The statements sent through ``session``'s engine inside the block, in order."""
    engine = session.get_bind()
    sent: list[SentStatement] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append(SentStatement(statement, tuple(parameters or ())))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def sent_to(sent: list[SentStatement], table: str) -> SentStatement:
    """The one SELECT sent that reads ``table``."""
    matching = [s for s in sent if s.sql.lstrip().upper().startswith("SELECT") and f"FROM {table}" in s.sql]
    assert len(matching) == 1, [s.sql for s in sent]
    return matching[0]


async def plan_of(session: AsyncSession, statement: SentStatement) -> str:
    """How the database runs ``statement`` (PostgreSQL: its generic plan), as one text."""
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement.sql, statement.parameters)
        return "\n".join(str(row[-1]) for row in rows)
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    await raw.execute("SET plan_cache_mode = force_generic_plan")
    await raw.execute(f"PREPARE mnv_plan AS {statement.sql}")
    try:
        # A generic plan is made without the values: NULLs stand for them (EXPLAIN EXECUTE takes no parameters).
        arguments = ", ".join("NULL" for _ in statement.parameters)
        rows = await raw.fetch(f"EXPLAIN EXECUTE mnv_plan({arguments})" if arguments else "EXPLAIN EXECUTE mnv_plan")
    finally:
        await raw.execute("DEALLOCATE mnv_plan")
        await raw.execute("RESET plan_cache_mode")
    return "\n".join(str(row[0]) for row in rows)
