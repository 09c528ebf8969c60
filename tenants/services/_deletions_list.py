"""削除管理の一覧 (seed 000 マイナンバーの廃棄, seed 003 削除予定日): who may be erased, by extraction filter.

Columns as the seed's list: 削除, 部門コード, 部門, 社員コード, 対象者, 発行日, マイナンバー (masked, from the vault's
masks; nothing is decrypted), 退職日, 喪失日, 削除予定日, 操作. Filters as seed 000 (全て, 社会保険の被保険者,
雇用保険の被保険者, 退職日が…から…か月間, 個人番号未入力者) plus 削除予定日超過. Each filter reads along an index
leading with ``tenant_id`` (the code sort's, the 退職日 one, the partial 削除予定日 one, the status-and-code one)
and is paged with ``app.paging.read_window``; the total comes from the counters (全て, 未入力) or is counted up to
``COUNT_CAP`` (「1,000 件以上」).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.auth.scoping import scoped
from app.forms import clean_text
from app.paging import MAX_CURSOR, PageRequest, SortColumn, Total, Window, capped_count, read_window
from app.tenancy import Tenant
from app.text import format_date, parse_date, today_in_japan
from app.vault import Vault
from tenants.models import CollectionStatus, Person, PersonKind
from tenants.services._counts import count_people
from tenants.services._numbers_list import NumberRow, people_rows

PER_PAGE = 50
REMINDER_ROWS = 5
MAX_MONTHS = 120
EXTRACTIONS: dict[str, str] = {
    "all": "全て表示",
    "social_insurance": "社会保険の被保険者（取得日が入力されていて喪失日が未入力）",
    "employment_insurance": "雇用保険の被保険者（取得日が入力されていて喪失日が未入力）",
    "retired": "退職日が指定の日から指定の月数の間",
    "not_registered": "個人番号未入力者",
    "past_due": "削除予定日を過ぎた番号",
}
HOLDING = tuple(status for status in CollectionStatus if status.has_number)
_CODE_ORDER = ("code_section", "list_owner_code", "family_id", "family_rank", "id")


@dataclass(frozen=True, slots=True)
class DeletionFilters:
    """The list's GET parameters (lenient, except a 退職日 range that cannot be read: ``error`` says why)."""

    filter: str = "all"
    retired_from: str = ""
    months: int = 12
    page: int = 1
    after: str = ""
    before: str = ""
    error: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> DeletionFilters:
        """Read the filters; an unknown filter is 全て, a bad 退職日 or month count gives a Japanese ``error``."""

        def text(key: str, limit: int = 40) -> str:
            value = params.get(key)
            return clean_text(value)[:limit] if isinstance(value, str) else ""

        chosen = text("filter")
        chosen = chosen if chosen in EXTRACTIONS else "all"
        paging = PageRequest.from_query(params)
        retired_from, months_text, error = text("retired_from"), text("months", 4), ""
        months = 12
        if chosen == "retired":
            if not retired_from:
                error = "退職日の抽出では開始日を入力してください（例: 2014/08/01）。"
            elif _date(retired_from) is None:
                error = "開始日を正しい日付で入力してください（例: 2014/08/01 または 令和6年8月1日）。"
            if months_text:
                if months_text.isdecimal() and len(months_text) < 4 and 1 <= int(months_text) <= MAX_MONTHS:
                    months = int(months_text)
                else:
                    error = error or f"月数は1から{MAX_MONTHS}までの数字で入力してください。"
        return cls(
            filter=chosen,
            retired_from=retired_from,
            months=months,
            page=paging.page,
            after=paging.after,
            before=paging.before,
            error=error,
        )

    @property
    def paging(self) -> PageRequest:
        return PageRequest(page=self.page, after=self.after[:MAX_CURSOR], before=self.before[:MAX_CURSOR])

    def query(self, **changes: Any) -> str:
        """The query string with some values changed (cursors left out unless given)."""
        changed = replace(self, **{"after": "", "before": "", **changes})
        pairs: list[tuple[str, Any]] = [("filter", changed.filter)]
        if changed.filter == "retired":
            pairs += [("retired_from", changed.retired_from), ("months", changed.months)]
        pairs += [(name, getattr(changed, name)) for name in ("page", "after", "before") if getattr(changed, name)]
        return "?" + urlencode(pairs)

    def range(self) -> tuple[dt.date, dt.date] | None:
        """The 退職日 range [from, from + months) of the 退職日 filter, None when it cannot be read."""
        start = _date(self.retired_from)
        if start is None:
            return None
        return start, _add_months(start, self.months)


def _date(text: str) -> dt.date | None:
    try:
        return parse_date(text)
    except ValueError:
        return None


def _add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the month's last day when it has no such day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class DeletionRow:
    """One line of the list: the person named and placed as on the masked list, with the mask of the number."""

    row: NumberRow

    @property
    def person(self) -> Person:
        return self.row.person

    @property
    def department_code(self) -> str:
        return self.row.department.code if self.row.department else ""

    @property
    def department_name(self) -> str:
        return self.row.department.name if self.row.department else ""

    @property
    def retirement_date(self) -> str:
        owner = self.row.employee if self.person.kind is PersonKind.DEPENDANT and self.row.employee else self.person
        return format_date(owner.retirement_date)

    @property
    def lost_on(self) -> str:
        """喪失日: the social-insurance loss date, else the employment-insurance one (an employee's own)."""
        owner = self.row.employee if self.person.kind is PersonKind.DEPENDANT and self.row.employee else self.person
        return format_date(owner.social_insurance_lost_on or owner.employment_insurance_lost_on)

    @property
    def due_on(self) -> str:
        return format_date(self.person.deletion_due_on)

    @property
    def past_due(self) -> bool:
        due = self.person.deletion_due_on
        return due is not None and due <= today_in_japan()

    @property
    def erasable(self) -> bool:
        return self.person.status.has_number


@dataclass(frozen=True, slots=True)
class DeletionPage:
    window: Window[DeletionRow]
    filters: DeletionFilters

    @property
    def rows(self) -> list[DeletionRow]:
        return self.window.rows


def _by(*names: str) -> list[SortColumn]:
    return [SortColumn(getattr(Person, name), name) for name in names]


def past_due_condition(today: dt.date) -> list[Any]:
    """Numbers whose 削除予定日 is today or earlier (JST) and still held (the partial index's condition first)."""
    return [Person.deletion_due_on.is_not(None), Person.deletion_due_on <= today, Person.status.in_(HOLDING)]


def deletion_query(
    scope: Select[Any], filters: DeletionFilters, today: dt.date
) -> tuple[Select[Any], list[SortColumn]]:
    """The filtered people and their order, for one extraction (``scope``: the tenant's people)."""
    condition: list[Any]
    if filters.filter == "social_insurance":
        condition = [Person.social_insurance_acquired_on.is_not(None), Person.social_insurance_lost_on.is_(None)]
        return scope.where(*condition), _by(*_CODE_ORDER)
    if filters.filter == "employment_insurance":
        condition = [
            Person.employment_insurance_acquired_on.is_not(None),
            Person.employment_insurance_lost_on.is_(None),
        ]
        return scope.where(*condition), _by(*_CODE_ORDER)
    if filters.filter == "not_registered":
        return scope.where(Person.status == CollectionStatus.NOT_REGISTERED), _by(*_CODE_ORDER)
    if filters.filter == "retired":
        bounds = filters.range()
        assert bounds is not None
        condition = [
            Person.retirement_date.is_not(None),
            Person.retirement_date >= bounds[0],
            Person.retirement_date < bounds[1],
        ]
        return scope.where(*condition), _by("retirement_date", "id")
    if filters.filter == "past_due":
        return scope.where(*past_due_condition(today)), _by("deletion_due_on", "id")
    return scope, _by(*_CODE_ORDER)


async def list_deletions(
    session: AsyncSession, vault: Vault, principal: Principal, filters: DeletionFilters
) -> DeletionPage:
    """One page of the deletion list for the principal's tenant (masks only; 50 a page, keyset beyond page 10)."""
    empty: Window[DeletionRow] = Window(rows=[], page=1, per_page=PER_PAGE, total=Total(0))
    if filters.error:
        return DeletionPage(empty, filters)
    scope = scoped(Person, principal)
    statement, ordering = deletion_query(scope, filters, today_in_japan())
    total = await _total(session, principal, filters, statement)
    if total.count == 0:
        return DeletionPage(replace(empty, total=total), replace(filters, page=1))
    window = await read_window(
        session, statement, ordering, filters.paging, per_page=PER_PAGE, total=total, scope=scope
    )
    rows = await people_rows(session, vault, principal, window.rows)
    return DeletionPage(replace(window, rows=[DeletionRow(r) for r in rows]), replace(filters, page=window.page))


async def _total(
    session: AsyncSession, principal: Principal, filters: DeletionFilters, statement: Select[Any]
) -> Total:
    """全て and 個人番号未入力者 from the counters (exact, a few rows); the other extractions counted up to the cap."""
    if filters.filter == "all":
        return Total(await count_people(session, principal.tenant_id))
    if filters.filter == "not_registered":
        return Total(await count_people(session, principal.tenant_id, statuses=[CollectionStatus.NOT_REGISTERED]))
    return await capped_count(session, statement.with_only_columns(Person.id))


@dataclass(frozen=True, slots=True)
class PastDue:
    """The admin home's reminder: the first few numbers past their 削除予定日 and whether there are more."""

    rows: list[NumberRow]
    more: bool

    def __bool__(self) -> bool:
        return bool(self.rows)


async def past_due_numbers(session: AsyncSession, principal: Principal, limit: int = REMINDER_ROWS) -> PastDue:
    """The oldest-due numbers past their date (JST), ``limit`` of them, read from the partial 削除予定日 index."""
    statement = (
        scoped(Person, principal)
        .where(*past_due_condition(today_in_japan()))
        .order_by(Person.deletion_due_on, Person.id)
        .limit(limit + 1)
    )
    people = list((await session.execute(statement)).scalars())
    rows = await people_rows(session, None, principal, people[:limit])
    return PastDue(rows, len(people) > limit)


@dataclass(frozen=True, slots=True)
class DueLine:
    """One line of ``mnvault deletions due``: no number, only who and when."""

    employee_code: str
    name: str
    due_on: dt.date


async def past_due_lines(session: AsyncSession, tenant: Tenant, batch: int = 500) -> list[DueLine]:
    """Everyone of the tenant past their 削除予定日 (JST), oldest first, read in keyset batches of ``batch``."""
    lines: list[DueLine] = []
    cursor: tuple[dt.date, uuid.UUID] | None = None
    today = today_in_japan()
    while True:
        statement = select(Person).where(Person.tenant_id == tenant.id, *past_due_condition(today))
        if cursor is not None:
            statement = statement.where(
                (Person.deletion_due_on > cursor[0]) | ((Person.deletion_due_on == cursor[0]) & (Person.id > cursor[1]))
            )
        people = list(
            (await session.execute(statement.order_by(Person.deletion_due_on, Person.id).limit(batch))).scalars()
        )
        if not people:
            return lines
        owner_ids = {p.employee_id for p in people if p.employee_id is not None}
        owners: dict[uuid.UUID, Person] = {}
        if owner_ids:
            found = await session.execute(select(Person).where(Person.tenant_id == tenant.id, Person.id.in_(owner_ids)))
            owners = {p.id: p for p in found.scalars()}
        for person in people:
            owner = owners.get(person.employee_id) if person.employee_id else None
            name = f"{owner.name} > {person.name}" if owner else person.name
            code = (owner.employee_code if owner else person.employee_code) or ""
            assert person.deletion_due_on is not None
            lines.append(DueLine(code, name, person.deletion_due_on))
        last = people[-1]
        assert last.deletion_due_on is not None
        cursor = (last.deletion_due_on, last.id)
        session.expunge_all()
