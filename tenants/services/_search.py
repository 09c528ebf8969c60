"""Name search by index: how a typed name becomes a condition each database answers from an index.

The stored keys (``app.text.search_key``: no spaces, katakana for hiragana, folded width and case) are
``people.search_key`` (name key + separator + kana key) and ``people.kana_key`` (the kana key alone). A query's key of

* **3 characters or more** matches anywhere in the name or the フリガナ, through a trigram index: ``pg_trgm``'s GIN
  index on PostgreSQL (``LIKE '%…%'``), an FTS5 trigram table on SQLite (``people_search_fts``, kept by triggers,
  migration 0012) — both rechecked with ``LIKE`` on the row;
* **1 or 2 characters** cannot use trigrams: it matches the *start* of the name key or of the kana key, as two index
  ranges in code-point order (``COLLATE "C"`` on PostgreSQL, SQLite's binary order).

On SQLite the FTS table serves every tenant; the tenant is applied by the caller's query (rows are then read by
primary key), so the work is the number of matching names, not the size of the tenant.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Integer, String, Uuid, and_, column, or_, select, table, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from app.text import search_key
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


def _trigram_hit(person: Any, key: str) -> ColumnElement[bool]:
    """SQLite: the person's search key is in the FTS5 trigram index's answer; PostgreSQL: true (GIN does it)."""
    phrase = '"' + key.replace('"', '""') + '"'
    found = select(_people_search.c.person_id).where(
        _people_search.c.seq.in_(
            select(_people_search_fts.c.rowid).where(_people_search_fts.c.search_key.match(phrase))
        )
    )
    return _ByDialect(true(), person.id.in_(found))


def _escaped(key: str) -> str:
    return key.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%").replace("_", _ESCAPE + "_")


def name_condition(text: str, person: Any = Person) -> ColumnElement[bool]:
    """People (``person``: ``Person`` or an alias) whose name or フリガナ matches the typed text, by index.

    3+ characters (after ``search_key``): anywhere in the name or the フリガナ; 1–2 characters: at the start of the
    name or of the フリガナ. Spaces, kana script, width and case are ignored; an empty text matches everyone.
    """
    key = search_key(text)
    if not key:
        return true()
    if len(key) >= TRIGRAM:
        anywhere = person.search_key.like(f"%{_escaped(key)}%", escape=_ESCAPE)
        return and_(_trigram_hit(person, key), anywhere)
    return or_(_starts_with(person.search_key, key), _starts_with(person.kana_key, key))
