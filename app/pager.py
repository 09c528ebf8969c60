"""Pages of a list as the screens show them: numbered pages first, then 前へ/次へ by keyset cursor.

The first ``NUMBERED_PAGES`` pages are offered by number and read with an OFFSET of at most
``(NUMBERED_PAGES - 1) * per_page`` rows (a bounded cost); beyond them a page is read after (or before) the last
(first) row shown, with :mod:`app.paging`. Counts are exact when an index or a counter gives them cheaply, and
otherwise counted up to ``COUNT_CAP`` (「1,000 件以上」).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.paging import PageRequest, SortColumn, cursor_binds, decode_cursor, row_cursor, seek_union

__all__ = [
    "COUNT_CAP",
    "NUMBERED_PAGES",
    "Count",
    "KeysetPage",
    "PageRequest",
    "capped_count",
    "page_links",
    "read_page",
]

NUMBERED_PAGES = 10
COUNT_CAP = 1000


@dataclass(frozen=True, slots=True)
class Count:
    """How many rows match: exact, or at least ``value`` when counting stopped at the cap."""

    value: int
    capped: bool = False

    def __str__(self) -> str:
        return f"{self.value:,}" + ("以上" if self.capped else "")

    def __bool__(self) -> bool:
        return self.value > 0


async def capped_count(
    session: AsyncSession, statements: Select[Any] | Sequence[Select[Any]], cap: int = COUNT_CAP
) -> Count:
    """The rows of ``statements`` (one, or a union of index ranges), counting at most ``cap + 1`` of them: the
    count of a large set stops early, and each range reads at most ``cap + 1`` index entries that match."""
    parts = [statements] if isinstance(statements, Select) else list(statements)
    if not parts:
        return Count(0)
    arms = [part.with_only_columns(literal(1).label("one")).order_by(None).limit(cap + 1) for part in parts]
    if len(arms) == 1:
        limited = arms[0].subquery()
    else:
        limited = union_all(*(select(arm.subquery().c.one) for arm in arms)).limit(cap + 1).subquery()
    found = int((await session.execute(select(func.count()).select_from(limited))).scalar_one())
    return Count(cap, capped=True) if found > cap else Count(found)


@dataclass(frozen=True, slots=True)
class KeysetPage:
    """The ordering keys of one page's rows (display order) and where the page stands."""

    keys: list[Any]
    number: int | None  # None for a page reached by cursor whose number is not known
    has_previous: bool
    has_next: bool
    first_cursor: str
    last_cursor: str
    per_page: int

    @property
    def first_index(self) -> int | None:
        """The 1-based position of the first row, when the page number is known."""
        return None if self.number is None else (self.number - 1) * self.per_page + 1


async def read_page(
    session: AsyncSession,
    statements: Sequence[Select[Any]],
    ordering: Sequence[SortColumn],
    request: PageRequest,
    *,
    per_page: int,
    total: Count | None = None,
) -> KeysetPage:
    """One page of the union of ``statements`` (each an index range) in ``ordering``; see :func:`seek_union`.

    ``total`` (exact or capped) lets a number beyond the end show the last page. Each read costs at most
    ``NUMBERED_PAGES * per_page`` rows per range, whatever the size of the list.
    """
    after = decode_cursor(request.after, len(ordering)) if request.after else None
    before = decode_cursor(request.before, len(ordering)) if request.before else None
    if after is not None and not cursor_binds(after, ordering):
        after = None
    if before is not None and not cursor_binds(before, ordering):
        before = None
    if after is not None or before is not None:
        backwards = after is None
        keys = await seek_union(session, statements, ordering, after or before, per_page + 1, backwards=backwards)
        more = len(keys) > per_page
        keys = keys[1:] if more and backwards else keys[:per_page]
        number = request.page if request.page > 1 or not backwards else None
        return _page(keys, ordering, per_page, number, has_previous=more or not backwards, has_next=more or backwards)
    number = request.page
    if total is not None and not total.capped:
        number = min(number, max(1, -(-total.value // per_page)))
    if number > NUMBERED_PAGES:  # beyond the numbered pages and the end unknown: the last page
        keys = await seek_union(session, statements, ordering, None, per_page + 1, backwards=True)
        more = len(keys) > per_page
        return _page(keys[1:] if more else keys, ordering, per_page, None, has_previous=more, has_next=False)
    offset = (number - 1) * per_page
    keys = await seek_union(session, statements, ordering, None, per_page + 1, offset=offset)
    more = len(keys) > per_page
    return _page(keys[:per_page], ordering, per_page, number, has_previous=number > 1, has_next=more)


def _page(
    keys: list[Any],
    ordering: Sequence[SortColumn],
    per_page: int,
    number: int | None,
    *,
    has_previous: bool,
    has_next: bool,
) -> KeysetPage:
    first = row_cursor(keys[0], ordering) if keys else ""
    last = row_cursor(keys[-1], ordering) if keys else ""
    return KeysetPage(keys, number, has_previous and bool(keys), has_next and bool(keys), first, last, per_page)


@dataclass(frozen=True, slots=True)
class PageLink:
    """A pager entry: a page number or 前へ/次へ; ``url`` is None for the page shown."""

    label: str
    url: str | None
    rel: str = ""


def page_links(
    page: KeysetPage, total: Count | None, url: Callable[[dict[str, str]], str], *, numbers: bool = True
) -> list[PageLink]:
    """The pager: 前へ, the numbered pages (up to ``NUMBERED_PAGES``; without ``numbers``, none), 次へ.

    ``url`` turns page parameters (``page``, ``after``, ``before``) into a link that keeps the list's filters.
    """
    known = NUMBERED_PAGES if total is None or total.capped else max(1, -(-total.value // page.per_page))
    numbered = min(known, NUMBERED_PAGES)
    links: list[PageLink] = []
    if page.has_previous:
        links.append(PageLink("前へ", url(_towards(page, -1, numbered)), "prev"))
    if numbers:
        for n in range(1, numbered + 1):
            links.append(PageLink(str(n), None if n == page.number else url({"page": str(n)})))
    if page.number is not None and (page.number > numbered or not numbers):
        links.append(PageLink(str(page.number), None))
    if page.has_next:
        links.append(PageLink("次へ", url(_towards(page, 1, numbered)), "next"))
    return links if len(links) > 1 else []


def _towards(page: KeysetPage, step: int, numbered: int) -> dict[str, str]:
    target = None if page.number is None else page.number + step
    if target is not None and 1 <= target <= numbered:
        return {"page": str(target)}
    cursor = {"after": page.last_cursor} if step > 0 else {"before": page.first_cursor}
    return {**cursor, "page": str(target)} if target is not None and target > 1 else cursor
