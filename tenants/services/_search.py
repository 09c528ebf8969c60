"""Name search by index: how a typed name becomes a condition each database answers from an index.

The stored keys (``app.text.search_key``: no spaces, katakana for hiragana, folded width and case) are
``people.search_key`` (name key + separator + kana key) and ``people.kana_key`` (the kana key alone). A query's key of

* **3 characters or more** matches anywhere in the name or the フリガナ, through a trigram index: ``pg_trgm``'s GIN
  index on PostgreSQL (``LIKE '%…%'``), an FTS5 trigram table on SQLite (``people_search_fts`` over
  ``people_search``, kept by triggers, migration 0012; its phrase query is the same substring test);
* **1 or 2 characters** cannot use trigrams: it matches the *start* of the name key or of the kana key, as two index
  ranges in code-point order (``COLLATE "C"`` on PostgreSQL, SQLite's binary order).

On SQLite the FTS table serves every tenant; the tenant is applied to its answer (rows are then read by primary
key), so the work is the number of matching names, not the size of the tenant.

Lists use :func:`name_filter`: it reads the matching ids through the index first, so a page never depends on the
planner choosing to start from the name index.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, Uuid, and_, column, literal, or_, select, table, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.visitors import InternalTraversal

from app.paging import COUNT_CAP
from app.text import KEY_SEPARATOR, search_key
from tenants.models import Person

TRIGRAM = 3  # characters a query needs to be looked up in the trigram index
_ESCAPE = "/"

# SQLite only (migration 0012): the copy of every person's search key, and its FTS5 trigram index.
_people_search = table(
    "people_search",
    column("seq", Integer),
    column("tenant_id", Uuid()),
    column("person_id", Uuid()),
    column("search_key", String()),
)
_people_search_fts = table("people_search_fts", column("rowid", Integer), column("search_key", String()))


class _ByDialect(ColumnElement[Any]):
    """One expression on PostgreSQL, another elsewhere (SQLite), chosen when the statement is compiled."""

    inherit_cache = True
    _traverse_internals = [
        ("postgresql", InternalTraversal.dp_clauseelement),
        ("other", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, postgresql: ColumnElement[Any], other: ColumnElement[Any]) -> None:
        self.postgresql = postgresql
        self.other = other
        self.type = other.type


@compiles(_ByDialect)
def _compile_other(element: _ByDialect, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.other, **kw))


@compiles(_ByDialect, "postgresql")
def _compile_postgresql(element: _ByDialect, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.postgresql, **kw))


def _codepoint_order(text_column: Any) -> ColumnElement[Any]:
    """The column compared in code-point order (the collation of the prefix indexes)."""
    return _ByDialect(text_column.collate("C"), text_column)


def _successor(key: str) -> str | None:
    """The smallest text after every text that starts with ``key`` (None: no such text)."""
    for end in range(len(key) - 1, -1, -1):
        code = ord(key[end]) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be stored: skip to the next character
            code = 0xE000
        if code <= 0x10FFFF:
            return key[:end] + chr(code)
    return None


def _starts_with(text_column: Any, key: str) -> ColumnElement[bool]:
    ordered = _codepoint_order(text_column)
    upper = _successor(key)
    return and_(ordered >= key, ordered < upper) if upper is not None else ordered >= key


def _fts_rows(key: str) -> Any:
    """SQLite: the ``people_search`` rows whose key contains ``key`` (3+ characters), found by the FTS5 index."""
    phrase = '"' + key.replace('"', '""') + '"'
    return _people_search.c.seq.in_(
        select(_people_search_fts.c.rowid).where(_people_search_fts.c.search_key.match(phrase))
    )


def _escaped(key: str) -> str:
    return key.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%").replace("_", _ESCAPE + "_")


def name_condition(text: str, person: Any = Person, *, indexed: bool = True) -> ColumnElement[bool]:
    """People (``person``: ``Person`` or an alias) whose name or フリガナ matches the typed text.

    3+ characters (after ``search_key``): anywhere in the name or the フリガナ; 1–2 characters: at the start of the
    name or of the フリガナ. Spaces, kana script, width and case are ignored; an empty text matches everyone.
    ``indexed``: the form a name index answers (trigram or prefix range); otherwise the same test as a plain
    predicate on the row, for a page that walks another index and meets many matching rows.
    """
    key = search_key(text)
    if not key:
        return true()
    if len(key) >= TRIGRAM:
        anywhere = person.search_key.like(f"%{_escaped(key)}%", escape=_ESCAPE)
        if not indexed:
            return anywhere
        # SQLite: the FTS5 trigram phrase is the same substring test; PostgreSQL: the GIN index answers the LIKE.
        return _ByDialect(anywhere, person.id.in_(select(_people_search.c.person_id).where(_fts_rows(key))))
    if not indexed:
        prefix = f"{_escaped(key)}%"
        return or_(person.search_key.like(prefix, escape=_ESCAPE), person.kana_key.like(prefix, escape=_ESCAPE))
    return or_(_starts_with(person.search_key, key), _starts_with(person.kana_key, key))


async def name_match_ids(session: AsyncSession, tenant_id: uuid.UUID, text: str, limit: int) -> list[uuid.UUID]:
    """Ids of up to ``limit`` people of the tenant whose name matches, read through the name index alone."""
    key = search_key(text)
    if len(key) >= TRIGRAM and session.get_bind().dialect.name != "postgresql":
        # From the FTS answer (people_search has no index by tenant, so nothing else can drive the read).
        statement: Any = select(_people_search.c.person_id).where(
            _fts_rows(key), _people_search.c.tenant_id == tenant_id
        )
    elif len(key) >= TRIGRAM:
        # PostgreSQL: the trigram index finds the matching rows, then the first ``limit`` are read. Asked with the
        # LIMIT alone, the planner expects to meet that many early and reads people sequentially until it has
        # (ヤマダ at 100,000 people: 40,000 rows, 12 ms); a materialized CTE is planned for all its rows (a bitmap
        # scan of the index) and still stops at the LIMIT.
        matches = (
            select(Person.id)
            .where(Person.tenant_id == tenant_id, name_condition(text))
            .cte("name_matches")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        statement = select(matches.c.id)
    else:
        statement = select(Person.id).where(Person.tenant_id == tenant_id, name_condition(text))
    return list((await session.execute(statement.limit(limit))).scalars())


@dataclass(frozen=True, slots=True)
class NameFilter:
    """A list's name filter: the condition to add, and whether more than ``COUNT_CAP`` people match."""

    condition: ColumnElement[bool]
    dense: bool


async def name_filter(session: AsyncSession, tenant_id: uuid.UUID, text: str, *, family: bool = False) -> NameFilter:
    """The name filter of a list page (``Person`` rows), bounded at any tenant size.

    The matching people are read through the name index, up to ``COUNT_CAP``: then the page is those ids (read by
    primary key, sorted in memory by the database: at most ``COUNT_CAP`` rows). More: the name test becomes a
    predicate on the rows the page walks along its sort index (many match, so a page is found quickly).
    ``family``: also the dependants of matching employees (the masked list shows them under their employee).
    """
    ids = await name_match_ids(session, tenant_id, text, COUNT_CAP + 1)
    if len(ids) <= COUNT_CAP:
        if family and ids:  # one IN list (an OR of two would not be read by index on SQLite)
            dependants = select(Person.id).where(Person.tenant_id == tenant_id, Person.employee_id.in_(ids))
            ids += list((await session.execute(dependants)).scalars())
        return NameFilter(Person.id.in_(ids), dense=False)
    match = name_condition(text, indexed=False)
    if family:
        match = or_(match, _employee_matches(search_key(text)))
    return NameFilter(match, dense=True)


def _employee_matches(key: str) -> ColumnElement[bool]:
    """Dependants whose employee's name matches ``key`` (a non-empty search key), tested on each row a page walks:
    the employee's stored key read by primary key, as a correlated scalar subquery. (An ``EXISTS`` here was turned
    by PostgreSQL into a hash of every matching name in the database, read by a sequential scan of ``people``: 50 ms
    at 100,000 people, growing with every tenant's size.) 1–2 characters: the start of the name key or of the kana
    key, both tested on ``|`` + the stored ``name|kana``."""
    employee = aliased(Person)
    stored = (
        select(employee.search_key)
        .where(employee.tenant_id == Person.tenant_id, employee.id == Person.employee_id)
        .scalar_subquery()
    )
    if len(key) >= TRIGRAM:
        test = stored.like(f"%{_escaped(key)}%", escape=_ESCAPE)
    else:
        test = (literal(KEY_SEPARATOR) + stored).like(f"%{KEY_SEPARATOR}{_escaped(key)}%", escape=_ESCAPE)
    # No "employee_id IS NOT NULL" beside it: PostgreSQL would answer that part from the (tenant, employee) index,
    # read every dependant of the tenant and sort them. An employee's own row finds no key (NULL: no match).
    return test
