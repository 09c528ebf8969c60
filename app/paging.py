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

On top of :func:`seek`, :func:`read_window` serves a list page the way every list screen pages: the first
``NUMBERED_PAGES`` pages by number (a bounded OFFSET on the index), and "前へ/次へ" links with a cursor beyond. Its
cursors carry only the row's unique key (the last column of the ordering, an id or a 社員コード, never a name): the
other key values are read back from that row, so no personal data is in the URL and no value of the wrong type
reaches a query. The row is looked up in the whole list, not only among the rows the filters keep: a row that left
the filter since its page was shown (registered from the 未登録 list, retired from 在籍) still marks where the next
page starts. A cursor whose row is gone shows the first page. Totals come from the caller (counters), or from
:func:`capped_count`, which stops at ``COUNT_CAP``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, literal, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

T = TypeVar("T")

NUMBERED_PAGES = 5  # pages reachable by number (OFFSET ≤ 4 pages on the index); beyond, 前へ/次へ with a cursor
COUNT_CAP = 1000  # counts that must read rows stop here: "1,000件以上"
MAX_CURSOR = 2000  # characters; anything longer is not one of ours


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


_DECODERS: dict[str, tuple[type, Any]] = {  # tag: (JSON type required, decoder)
    "i": (int, int),
    "u": (str, uuid.UUID),
    "t": (str, dt.datetime.fromisoformat),
    "d": (str, dt.date.fromisoformat),
    "s": (str, str),
}


def _decode_value(tagged: Any) -> Any:
    """One tagged value; ValueError for anything ``_encode_value`` does not write."""
    if tagged == ["n"]:
        return None
    if not isinstance(tagged, list) or len(tagged) != 2 or tagged[0] not in _DECODERS:
        raise ValueError("not a cursor value")
    required, decoder = _DECODERS[tagged[0]]
    value = tagged[1]
    if not isinstance(value, required) or isinstance(value, bool):
        raise ValueError("not a cursor value")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:  # no database column holds it: it cannot bind
        raise ValueError("not a cursor value")
    return decoder(value)


def encode_cursor(values: Sequence[Any]) -> str:
    """The cursor text of a row's key values (in ordering order)."""
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str, length: int) -> tuple[Any, ...] | None:
    """The key values of a cursor, or None when it is not one of ours (wrong shape, length or types)."""
    if not text or len(text) > MAX_CURSOR:
        return None
    try:
        items = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(items, list) or len(items) != length:
            return None
        return tuple(_decode_value(item) for item in items)
    except (ValueError, TypeError, RecursionError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None


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
    # Each value bound with its column's type (a row value's members would otherwise be typed from Python values).
    right: Any = (
        values[0]
        if len(sorts) == 1
        else tuple_(*(literal(v, s.column.type) for s, v in zip(sorts, values, strict=True)))
    )
    return left < right if descending else left > right


def _ordered(statement: Select[Any], ordering: Sequence[SortColumn], backwards: bool) -> Select[Any]:
    columns = []
    for sort in ordering:
        descending = sort.descending != backwards
        columns.append(sort.column.desc() if descending else sort.column.asc())
    return statement.order_by(*columns)


async def rows_executor(session: AsyncSession, statement: Select[Any]) -> AsyncSession | AsyncConnection:
    """What runs ``statement``: the session's connection (in its transaction, pending changes flushed first, as
    the session's autoflush would) when it selects columns only, so its rows skip the ORM's per-row loading (an
    export of 50,000 people: 10.4-10.7 s against 10.8-12.8 s; a 50-row page: no difference); the session itself
    when it loads entities."""
    if any(description.get("expr") is description.get("entity") for description in statement.column_descriptions):
        return session
    await session.flush()
    return await session.connection()


async def seek(
    session: AsyncSession,
    statement: Select[Any],
    ordering: Sequence[SortColumn],
    cursor: Sequence[Any] | None,
    limit: int,
    *,
    backwards: bool = False,
    offset: int = 0,
) -> list[Any]:
    """Up to ``limit`` rows of ``statement`` after the cursor (before it when ``backwards``), in display order.

    ``statement`` carries the filters; the ordering is applied here. With no cursor, the first (or last) page,
    skipping ``offset`` rows (keep it small: OFFSET reads the rows it skips). Returns the result rows (``Row``
    objects) in the ordering's direction.
    """
    executor = await rows_executor(session, statement)
    if cursor is None:
        query = _ordered(statement, ordering, backwards).limit(limit)
        rows = list((await executor.execute(query.offset(offset) if offset else query)).all())
        return rows[::-1] if backwards else rows
    found: list[Any] = []
    for condition in _range_conditions(ordering, cursor, backwards):
        query = _ordered(statement.where(condition), ordering, backwards).limit(limit - len(found))
        found.extend((await executor.execute(query)).all())
        if len(found) >= limit:
            break
    return found[::-1] if backwards else found


# Pages of a list screen ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which page a list screen asks for: a page number (the first ``NUMBERED_PAGES``), or a cursor.

    ``after`` / ``before``: the cursor of the last / first row of the page the link was on; ``page`` is then only
    the number shown for the new page (links carry it; nothing is read by it).
    """

    page: int = 1
    after: str = ""
    before: str = ""

    @classmethod
    def parse(cls, page: object = "1", after: object = "", before: object = "") -> PageRequest:
        """From the query parameters ``page``, ``after`` and ``before``, leniently: a page that is not a page
        number (0, -1, a word, a list, over six digits) reads as the first page, and a cursor that is not text or
        is longer than ``MAX_CURSOR`` as none (a list screen never answers 400 for a link someone edited)."""

        def text(value: object) -> str:
            if isinstance(value, int) and not isinstance(value, bool):  # a page number a caller kept as an int
                value = str(value)
            return value.strip() if isinstance(value, str) and len(value) <= MAX_CURSOR else ""

        number = text(page)
        return cls(
            page=max(1, int(number)) if number.isdecimal() and len(number) < 7 else 1,  # ² is a digit, not a number
            after=text(after),
            before=text(before),
        )

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> PageRequest:
        """``parse`` of a request's query parameters (or any mapping of them)."""
        return cls.parse(params.get("page"), params.get("after"), params.get("before"))


@dataclass(frozen=True, slots=True)
class Total:
    """How many rows a list has: exact, or (``capped``) at least ``count`` when counting stopped at the cap."""

    count: int
    capped: bool = False

    @property
    def label(self) -> str:
        """``1,234 件`` or ``1,000 件以上``."""
        return f"{self.count:,} 件以上" if self.capped else f"{self.count:,} 件"


async def capped_count(session: AsyncSession, statement: Select[Any], cap: int | None = None) -> Total:
    """How many rows a SELECT returns, reading at most ``cap + 1`` of them (``COUNT_CAP`` by default; select only
    a key column in it)."""
    cap = COUNT_CAP if cap is None else cap
    counted = select(func.count()).select_from(statement.limit(cap + 1).subquery())
    count = int((await session.execute(counted)).scalar_one())
    return Total(cap, capped=True) if count > cap else Total(count)


@dataclass(frozen=True, slots=True)
class Window(Generic[T]):
    """One page of a list: its rows, where it stands, and the cursors of the links to its neighbours."""

    rows: list[T]
    page: int
    per_page: int
    total: Total
    has_previous: bool = False
    has_next: bool = False
    first_cursor: str = ""
    last_cursor: str = ""
    offset: int | None = None  # rows before this page, when known exactly (a page cut in memory)

    @property
    def pages(self) -> int:
        """How many pages the total makes (at least that many when the total is capped)."""
        return max(1, math.ceil(self.total.count / self.per_page))

    @property
    def numbered(self) -> list[int]:
        """The page numbers offered as links (the first ``NUMBERED_PAGES``)."""
        return list(range(1, min(self.pages, NUMBERED_PAGES) + 1))

    @property
    def more_pages(self) -> bool:
        """Pages beyond the numbered ones exist (reached with 次へ)."""
        return self.total.capped or self.pages > NUMBERED_PAGES

    @property
    def _before(self) -> int:
        return self.offset if self.offset is not None else (self.page - 1) * self.per_page

    @property
    def first_index(self) -> int:
        return self._before + 1 if self.rows else 0

    @property
    def last_index(self) -> int:
        return self._before + len(self.rows)

    def next_page(self) -> dict[str, Any]:
        """Query parameters of the 次へ link."""
        return {"after": self.last_cursor, "before": "", "page": self.page + 1}

    def previous_page(self) -> dict[str, Any]:
        """Query parameters of the 前へ link."""
        return {"before": self.first_cursor, "after": "", "page": max(1, self.page - 1)}

    def numbered_page(self, number: int) -> dict[str, Any]:
        """Query parameters of a page number's link."""
        return {"page": number, "after": "", "before": ""}


def _fits(value: Any, column: Any) -> bool:
    """A decoded cursor value of the column's Python type (so it binds), integers within 64 bits."""
    try:
        expected = column.type.python_type
    except NotImplementedError:
        return False
    if isinstance(value, int) and not isinstance(value, bool):
        return expected is int and -(2**63) <= value < 2**63
    return isinstance(value, expected)


_TYPED_COLUMNS = (int, uuid.UUID, dt.datetime, dt.date)


def cursor_binds(values: Sequence[Any], ordering: Sequence[SortColumn]) -> bool:
    """Whether a decoded cursor's values can each be compared with their column without a database error: NULL
    (for a column that can hold it), or the column's Python type for integer, uuid, date and time columns, text for
    text (and text enum) columns. A cursor is the client's text: a value of another type (text where the log's
    sequence number goes) is not one of ours, and binding it would fail on PostgreSQL."""
    for value, sort in zip(values, ordering, strict=True):
        if value is None:
            if getattr(getattr(sort.column, "expression", sort.column), "nullable", True):
                continue
            return False
        try:
            expected = sort.column.type.python_type
        except (NotImplementedError, AttributeError):
            continue
        if expected in _TYPED_COLUMNS and not isinstance(value, expected):
            return False
        if isinstance(expected, type) and issubclass(expected, str) and not isinstance(value, str):
            return False
    return True


async def _anchor(
    session: AsyncSession, scope: Select[Any], ordering: Sequence[SortColumn], text: str
) -> tuple[Any, ...] | None:
    """The ordering's values of the row a cursor names (by its unique key), read from the whole list ``scope``
    (whether or not the filters still keep it); None when the cursor is not one of ours or the row is gone."""
    decoded = decode_cursor(text, 1)
    unique = ordering[-1].column
    if decoded is None or decoded[0] is None or not _fits(decoded[0], unique):
        return None
    found = await session.execute(
        scope.where(unique == decoded[0]).with_only_columns(*(sort.column for sort in ordering)).limit(1)
    )
    row = found.first()
    return tuple(row) if row is not None else None


def _shown_page(request_page: int, total: Total, per_page: int) -> int:
    """The number shown for a page reached by a cursor: the link's number (at least 2), but never past the last
    page an exact total makes (the number is the client's; only the cursor says where the page is)."""
    page = max(2, request_page)
    if total.capped:
        return page
    return min(page, max(2, math.ceil(total.count / per_page)))


async def read_window(
    session: AsyncSession,
    statement: Select[Any],
    ordering: Sequence[SortColumn],
    request: PageRequest,
    *,
    per_page: int,
    total: Total,
    scope: Select[Any] | None = None,
    keys_from: Select[Any] | None = None,
) -> Window[Any]:
    """The page of ``statement`` (one entity selected, filters applied) that ``request`` asks for.

    ``ordering`` ends with a column unique in the list (the cursor names a row by it). Pages 1 to ``NUMBERED_PAGES``
    are read with a bounded OFFSET; a cursor page with :func:`seek` after/before the cursor's row, along the index
    that matches the ordering. One more row than the page is read to know whether a next (previous) page exists. A
    bad cursor, or one whose row is gone, reads the first page.

    ``scope``: the unfiltered list (``statement`` is ``scope`` when nothing filters). When filters leave at most
    ``COUNT_CAP`` rows (by ``total``), their ordering values are read once, without ORDER BY, through whatever
    index the filters use (``keys_from``: the same rows written so that an index answers them), the page is cut
    from them in memory and its rows are read by key: no walk along the sort's index past every row the filters
    drop, whatever plan the database would choose for an ORDER BY. Otherwise (many rows) a page walks the sort's
    index and meets a matching row every (list ÷ total) entries.
    """
    if scope is not None and statement is not scope and not total.capped and total.count <= COUNT_CAP:
        source = statement if keys_from is None else keys_from
        columns = [sort.column for sort in ordering]
        found = await session.execute(source.with_only_columns(*columns).limit(COUNT_CAP + 1))
        values = [tuple(row) for row in found.all()]
        if len(values) <= COUNT_CAP:
            return await _window_in_memory(session, scope, ordering, values, request, per_page=per_page)
    whole = statement if scope is None else scope
    return await _window_by_index(session, statement, whole, ordering, request, per_page=per_page, total=total)


def _window(
    entities: list[Any],
    ordering: Sequence[SortColumn],
    page: int,
    per_page: int,
    total: Total,
    *,
    previous: bool,
    more: bool,
) -> Window[Any]:
    unique = ordering[-1].key

    def cursor(entity: Any) -> str:
        return encode_cursor([getattr(entity, unique)])

    return Window(
        rows=entities,
        page=page,
        per_page=per_page,
        total=total,
        has_previous=previous and bool(entities),
        has_next=more and bool(entities),
        first_cursor=cursor(entities[0]) if entities else "",
        last_cursor=cursor(entities[-1]) if entities else "",
    )


async def _window_by_index(
    session: AsyncSession,
    statement: Select[Any],
    scope: Select[Any],
    ordering: Sequence[SortColumn],
    request: PageRequest,
    *,
    per_page: int,
    total: Total,
) -> Window[Any]:
    by_cursor = bool(request.after or request.before)
    anchor = await _anchor(session, scope, ordering, request.after or request.before) if by_cursor else None
    if anchor is not None:
        backwards = not request.after
        found = await seek(session, statement, ordering, anchor, per_page + 1, backwards=backwards)
        rows = [row[0] for row in found]
        page = _shown_page(request.page, total, per_page)
        if backwards and len(rows) > per_page:
            return _window(rows[1:], ordering, page, per_page, total, previous=True, more=True)
        if backwards and rows:  # reached the start of the list
            return _window(rows, ordering, 1, per_page, total, previous=False, more=True)
        if rows:
            return _window(rows[:per_page], ordering, page, per_page, total, previous=True, more=len(rows) > per_page)
    # By number; a bad or stale cursor (or nothing left beyond it) reads the first page.
    pages = max(1, math.ceil(total.count / per_page))
    page = 1 if by_cursor else min(request.page, pages, NUMBERED_PAGES)
    rows = [
        row[0] for row in await seek(session, statement, ordering, None, per_page + 1, offset=(page - 1) * per_page)
    ]
    if not rows and page > 1:  # fewer rows than the total said (changed since it was read): the first page
        page, rows = 1, [row[0] for row in await seek(session, statement, ordering, None, per_page + 1)]
    return _window(rows[:per_page], ordering, page, per_page, total, previous=page > 1, more=len(rows) > per_page)


def _sorted_in_memory(values: list[tuple[Any, ...]], ordering: Sequence[SortColumn]) -> list[tuple[Any, ...]]:
    """The rows' ordering values in the ordering's order (code-point order for text, as SQLite and a "C" collation
    compare; NULLs last — the list sorts give NULL keys a section of their own)."""
    ordered = list(values)
    for index in range(len(ordering) - 1, -1, -1):  # stable sorts, last column first
        ordered.sort(key=lambda row: (row[index] is None, row[index] if row[index] is not None else 0))
        if ordering[index].descending:
            ordered = _reverse_keeping_ties(ordered, index)
    return ordered


def _reverse_keeping_ties(rows: list[tuple[Any, ...]], index: int) -> list[tuple[Any, ...]]:
    """Descending on column ``index``, NULLs still last, rows with equal values kept in their (tail) order."""
    present = [row for row in rows if row[index] is not None]
    present.sort(key=lambda row: row[index], reverse=True)  # Python's sort stays stable when reversed
    return present + [row for row in rows if row[index] is None]


async def _window_in_memory(
    session: AsyncSession,
    scope: Select[Any],
    ordering: Sequence[SortColumn],
    values: list[tuple[Any, ...]],
    request: PageRequest,
    *,
    per_page: int,
) -> Window[Any]:
    """A page cut from at most ``COUNT_CAP`` rows' ordering values; its rows then read by their unique key."""
    ordered = _sorted_in_memory(values, ordering)
    keys = [row[-1] for row in ordered]
    total = Total(len(keys))
    cursor = request.after or request.before
    place = await _cursor_place(session, scope, ordering, ordered, cursor) if cursor else None
    if place is not None and request.after and place[1] < len(keys):
        start, end = place[1], place[1] + per_page
    elif place is not None and request.before and place[0] > 0:
        start, end = max(0, place[0] - per_page), place[0]
    else:  # by number; a bad or stale cursor (or nothing beyond it) reads the first page
        pages = max(1, math.ceil(len(keys) / per_page))
        page = 1 if cursor else min(request.page, pages, NUMBERED_PAGES)
        start, end = (page - 1) * per_page, page * per_page
    end = min(end, len(keys))
    page = math.ceil(start / per_page) + 1  # the page a link to it shows (start is exact: offset)
    chosen = keys[start:end]
    unique = ordering[-1].column
    found = await session.execute(scope.where(unique.in_(chosen))) if chosen else None
    by_key = {getattr(entity, ordering[-1].key): entity for entity in (found.scalars() if found else [])}
    entities = [by_key[key] for key in chosen if key in by_key]
    window = _window(entities, ordering, page, per_page, total, previous=start > 0, more=end < len(keys))
    return replace(window, offset=start)


async def _cursor_place(
    session: AsyncSession,
    scope: Select[Any],
    ordering: Sequence[SortColumn],
    ordered: list[tuple[Any, ...]],
    cursor: str,
) -> tuple[int, int] | None:
    """Where the cursor's row stands among the ``ordered`` rows: (the index of its row, the index of the first row
    after it), found among them, or else placed by its ordering values read from the whole list (a row the filters
    no longer keep: both indexes are then its place). None for a bad cursor or a row that is gone."""
    decoded = decode_cursor(cursor, 1)
    if decoded is None:
        return None
    for index, row in enumerate(ordered):
        if row[-1] == decoded[0]:
            return index, index + 1
    anchor = await _anchor(session, scope, ordering, cursor)
    if anchor is None:
        return None
    placed = _sorted_in_memory([*ordered, anchor], ordering)
    place = next(index for index, row in enumerate(placed) if row is anchor)
    return place, place


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
