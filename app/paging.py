"""Keyset ("seek") paging: a page is read as index ranges after (or before) the last row shown, not by a deep OFFSET.

An ordering is a list of columns, each ascending or descending, ending in a unique column. A page after a cursor is
"rows whose key tuple comes after the cursor's", which for mixed directions is a union of ranges: for each prefix
of columns equal to the cursor's values, the next column strictly after it. Columns of one direction next to each
other are compared as one row value. Each range is read as its own query with ``LIMIT`` (first the range nearest to
the cursor), so with an index whose column directions match the ordering, every query is one index range read and a
page costs the same at any depth and tenant size. A filter that is a union of such ranges (several states, each an
index range) is read by :func:`seek_union` as one query whose ordered, limited subqueries the database merges.

Cursors are the row's key values as URL-safe text (no secret is in them: they carry sort keys such as 社員コード and
ids, and every query is still scoped to the signed-in tenant). A cursor that does not decode is treated as absent.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class SortColumn:
    """One column of an ordering and its direction; ``key`` is the attribute name read off result rows."""

    column: Any
    key: str
    descending: bool = False


def _encode_value(value: Any) -> list[Any]:
    if value is None:
        return ["n"]
    if isinstance(value, bool):
        return ["i", int(value)]
    if isinstance(value, int):
        return ["i", value]
    if isinstance(value, uuid.UUID):
        return ["u", value.hex]
    if isinstance(value, dt.datetime):
        return ["t", value.isoformat()]
    if isinstance(value, dt.date):
        return ["d", value.isoformat()]
    return ["s", str(value)]


def _decode_value(tagged: Any) -> Any:
    tag = tagged[0]
    if tag == "n":
        return None
    value = tagged[1]
    decoders: dict[str, Any] = {
        "i": int,
        "u": uuid.UUID,
        "t": dt.datetime.fromisoformat,
        "d": dt.date.fromisoformat,
        "s": str,
    }
    return decoders[tag](value)


def encode_cursor(values: Sequence[Any]) -> str:
    """The cursor text of a row's key values (in ordering order)."""
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str, length: int) -> tuple[Any, ...] | None:
    """The key values of a cursor, or None when it is not one of ours (wrong shape, length or types)."""
    if not text or len(text) > 2000:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = tuple(_decode_value(item) for item in json.loads(raw))
    except (ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError):
        return None
    return values if len(values) == length else None


def row_cursor(row: Any, ordering: Sequence[SortColumn]) -> str:
    """The cursor of a result row (an ORM object or a Row with the ordering's attribute names)."""
    return encode_cursor([getattr(row, sort.key) for sort in ordering])


def _runs(ordering: Sequence[SortColumn], values: Sequence[Any]) -> list[tuple[int, int]]:
    """Spans of adjacent columns with one direction and no NULL cursor value: each is compared as one row value."""
    runs: list[tuple[int, int]] = []
    start = 0
    for index in range(1, len(ordering) + 1):
        end_of_run = (
            index == len(ordering)
            or ordering[index].descending != ordering[start].descending
            or values[index] is None
            or values[start] is None
        )
        if end_of_run:
            runs.append((start, index))
            start = index
    return runs


def _equal(sort: SortColumn, value: Any) -> ColumnElement[bool]:
    return sort.column.is_(None) if value is None else sort.column == value


def _beyond(sorts: Sequence[SortColumn], values: Sequence[Any], backwards: bool) -> ColumnElement[bool] | None:
    """Rows strictly after (or before) the values on this run of one direction; None when nothing can be."""
    if any(v is None for v in values):
        return None  # NULLs are one group, ordered only by the columns after them
    descending = sorts[0].descending != backwards
    left = sorts[0].column if len(sorts) == 1 else tuple_(*(s.column for s in sorts))
    right: Any = values[0] if len(sorts) == 1 else tuple_(*values)
    return left < right if descending else left > right


def _ordered(statement: Select[Any], ordering: Sequence[SortColumn], backwards: bool) -> Select[Any]:
    columns = []
    for sort in ordering:
        descending = sort.descending != backwards
        columns.append(sort.column.desc() if descending else sort.column.asc())
    return statement.order_by(*columns)


async def seek(
    session: AsyncSession,
    statement: Select[Any],
    ordering: Sequence[SortColumn],
    cursor: Sequence[Any] | None,
    limit: int,
    *,
    backwards: bool = False,
) -> list[Any]:
    """Up to ``limit`` rows of ``statement`` after the cursor (before it when ``backwards``), in display order.

    ``statement`` carries the filters; the ordering is applied here. With no cursor, the first (or last) page.
    Returns the result rows (``Row`` objects) in the ordering's direction.
    """
    if cursor is None:
        rows = list((await session.execute(_ordered(statement, ordering, backwards).limit(limit))).all())
        return rows[::-1] if backwards else rows
    found: list[Any] = []
    for condition in _range_conditions(ordering, cursor, backwards):
        query = _ordered(statement.where(condition), ordering, backwards).limit(limit - len(found))
        found.extend((await session.execute(query)).all())
        if len(found) >= limit:
            break
    return found[::-1] if backwards else found


def _range_conditions(ordering: Sequence[SortColumn], cursor: Sequence[Any], backwards: bool) -> list[Any]:
    """The ranges after (or before) the cursor, nearest first: equal on every run but the last one and beyond on
    that one; then one run shorter..."""
    runs = _runs(ordering, cursor)
    conditions = []
    for run_index in range(len(runs) - 1, -1, -1):
        start, end = runs[run_index]
        condition = _beyond(ordering[start:end], cursor[start:end], backwards)
        if condition is not None:
            conditions.append(and_(*(_equal(ordering[i], cursor[i]) for i in range(start)), condition))
    return conditions


async def seek_union(
    session: AsyncSession,
    statements: Sequence[Select[Any]],
    ordering: Sequence[SortColumn],
    cursor: Sequence[Any] | None,
    limit: int,
    *,
    backwards: bool = False,
    offset: int = 0,
) -> list[Any]:
    """The ordering keys of up to ``limit`` rows after the cursor in the union of ``statements``, in one query.

    For a filter that is a union of index ranges (a status among several, a department and several states), each
    statement is one such range: every (statement, cursor range) pair is read as an ordered, limited subquery, and
    the database merges at most ``limit + offset`` rows of each. ``offset`` (without a cursor) serves the first
    numbered pages. Returns rows with one attribute per ``SortColumn.key``, in display order; the caller reads the
    rows themselves by key (a primary-key lookup per row).
    """
    keys = [sort.column.label(sort.key) for sort in ordering]
    conditions: list[Any] = [None] if cursor is None else _range_conditions(ordering, cursor, backwards)
    arms = []
    for statement in statements:
        narrowed = statement.with_only_columns(*keys)
        for condition in conditions:
            arm = narrowed if condition is None else narrowed.where(condition)
            arms.append(_ordered(arm, ordering, backwards).limit(limit + offset))
    if not arms:
        return []
    if len(arms) == 1:
        query = arms[0].limit(limit).offset(offset) if offset else arms[0]
    else:
        merged = union_all(*(select(*arm.subquery().c) for arm in arms)).subquery("keyset")
        outer = [SortColumn(merged.c[sort.key], sort.key, sort.descending) for sort in ordering]
        query = _ordered(select(*merged.c), outer, backwards).limit(limit).offset(offset)
    rows = list((await session.execute(query)).all())
    return rows[::-1] if backwards else rows
