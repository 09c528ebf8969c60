"""What the people modules share (departments, employees, dependants, payees, the masked list): Japan's calendar,
the pager, the field checks of the forms, lookups by kind, and the log of a change.

Numbers are not handled here (see ``_records``); editing who a person is only flags a confirmed number for review.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.audit.events import AuditAction
from app.audit.guard import looks_like_number
from app.audit.log import record
from app.auth.models import Role
from app.auth.principal import Principal
from app.auth.scoping import get_scoped, scoped
from app.forms import Checker, FormInvalid
from app.text import clean_code, today_in_japan
from tenants.models import Person, PersonKind
from tenants.services._records import log_person_event, note_identity_change
from tenants.services._search import name_condition

T = TypeVar("T")

PER_PAGE = 50
WRITERS = frozenset({Role.ADMIN, Role.HANDLER})

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def today() -> dt.date:
    """Today in Japan (birth dates are checked against the users' calendar, not the server's)."""
    return today_in_japan()


def require_writer(principal: Principal) -> None:
    """Only admins and handlers add, edit or retire (viewers read)."""
    if principal.role not in WRITERS:
        raise PermissionDeniedException()


# Lists --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, with what the pager needs."""

    items: list[T]
    total: int
    page: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


async def count_rows(session: AsyncSession, statement: Any) -> int:
    """How many rows a SELECT returns (counted by the database)."""
    return int((await session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one())


def counts_by_id(rows: Iterable[Any]) -> dict[uuid.UUID, int]:
    """``{id: count}`` from ``(id, count)`` rows of a GROUP BY."""
    return {row[0]: int(row[1]) for row in rows if row[0] is not None}


def name_matches(text: str, person: Any = Person) -> ColumnElement[bool]:
    """The one name filter of every list: name or フリガナ matches the typed text, by index (``_search``).

    Spaces, kana script and width are ignored (``app.text.search_key``); 3+ characters match anywhere, 1–2
    characters match the start of the name or of the フリガナ (trigrams need 3).
    """
    return name_condition(text, person)


async def is_taken(
    session: AsyncSession, principal: Principal, column: InstrumentedAttribute[Any], value: object, current: Any
) -> bool:
    """Whether another row of the tenant (not ``current``) already has this value of a column unique in the tenant."""
    model: Any = column.class_
    statement = scoped(model, principal).where(column == value)
    if current is not None:
        statement = statement.where(model.id != current.id)
    return (await session.execute(statement)).first() is not None


async def get_person(session: AsyncSession, principal: Principal, person_id: str) -> Person:
    """Any person of the principal's tenant (404 for another tenant's id)."""
    return await get_scoped(session, Person, principal, person_id)


async def get_of_kind(session: AsyncSession, principal: Principal, person_id: str, kind: PersonKind) -> Person:
    """A person of the principal's tenant and of this kind (404 otherwise)."""
    person = await get_person(session, principal, person_id)
    if person.kind is not kind:
        raise NotFoundException()
    return person


# Field checks shared by the forms -----------------------------------------------------------------------------


def text_field(
    check: Checker, field: str, value: str, label: str, *, required: bool = False, max_length: int = 100
) -> str:
    """Free text with runs of spaces made one; a run of 12 digits or more is refused (it may be a number)."""
    cleaned = check.text(field, value, label, required=required, max_length=max_length)
    if looks_like_number(cleaned):
        check.fail(field, f"{label}に12桁以上の数字は入力できません。マイナンバーはこの欄に入力しないでください。")
    return cleaned


def code_field(check: Checker, field: str, value: str, label: str) -> str:
    """A code (社員コード, 部門コード): at most 11 digits in a row."""
    code = check.code(field, value, label)
    if looks_like_number(code):
        check.fail(field, f"{label}は11桁以下の数字にしてください（12桁の数字は個人番号と区別できないため）。")
    return code


def name_field(
    check: Checker, field: str, value: str, label: str, *, required: bool = True, max_length: int = 100
) -> str:
    """A name by the shared rules (``app.text.clean_name``); a run of 12 digits or more is refused."""
    cleaned = check.name(field, value, label, required=required, max_length=max_length)
    if looks_like_number(cleaned):
        check.fail(field, f"{label}に12桁以上の数字は入力できません。マイナンバーはこの欄に入力しないでください。")
    return cleaned


def kana_field(check: Checker, field: str, value: str, *, required: bool) -> str:
    """フリガナ in full-width katakana (``app.text.clean_kana``: hiragana and half-width kana converted)."""
    return check.kana(field, value, required=required)


def email_field(check: Checker, value: str) -> str:
    """An e-mail address (optional), roughly checked."""
    email = check.text("email", clean_code(value), "メールアドレス", max_length=254)
    if email and not _EMAIL.fullmatch(email):
        check.fail("email", "メールアドレスの形式が正しくありません（例: taro@example.jp）。")
    return email


def in_order(check: Checker, values: dict[str, Any], first: str, then: str, message: str) -> None:
    """Fail ``then`` when both dates are given and it comes before ``first``."""
    start, end = values.get(first), values.get(then)
    if start is not None and end is not None and end < start:
        check.fail(then, message)


# Logging a change ---------------------------------------------------------------------------------------------


async def log_change(
    session: AsyncSession, principal: Principal, person: Person | None, function: str, detail: Mapping[str, object]
) -> None:
    """An 更新 entry for a change to a person (named as in the log) or, without one, to the tenant's lists."""
    if person is None:
        await record(session, principal.event(AuditAction.UPDATE, function, dict(detail)))
    else:
        await log_person_event(session, principal.actor(), person, AuditAction.UPDATE, function, detail=dict(detail))


async def add_person(
    session: AsyncSession, principal: Principal, kind: PersonKind, values: dict[str, Any], function: str
) -> Person:
    """Add a person of this kind to the principal's tenant, logged (the number is collected later)."""
    person = Person(tenant_id=principal.tenant_id, kind=kind, **values)
    try:
        async with session.begin_nested():  # two admins saving the same 社員コード at once: the second one is told
            session.add(person)
            await session.flush()
    except IntegrityError:
        raise FormInvalid(
            {"employee_code": "この社員コードは既に使われています。別のコードを入力してください。"}
        ) from None
    await log_change(session, principal, person, function, {"event": "person_added", "kind": kind.value})
    return person


async def apply_changes(
    session: AsyncSession, principal: Principal, person: Person, values: dict[str, Any], function: str
) -> list[str]:
    """Set the changed fields, flag a confirmed number when who the person is changed, and log which fields."""
    changed = [name for name, value in values.items() if getattr(person, name) != value]
    if not changed:
        return []
    identity_changed = note_identity_change(
        person,
        name=values.get("name", person.name),
        kana=values.get("kana", person.kana),
        birth_date=values.get("birth_date", person.birth_date),
    )
    for name in changed:
        setattr(person, name, values[name])
    detail: dict[str, object] = {"event": "person_updated", "fields": changed}
    if identity_changed and person.identity_warning:
        detail["identity_warning"] = True
    await log_change(session, principal, person, function, detail)
    return changed
