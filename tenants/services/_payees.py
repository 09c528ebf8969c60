"""Payees (取引先・報酬支払先) of a tenant: an individual gives a My Number, a corporation its corporate number."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.auth.scoping import scoped
from app.forms import Checker
from app.paging import PageRequest, SortColumn, Total, Window, capped_count, read_window
from app.text import format_date
from app.vault import NumberInfo, Vault
from tenants.models import PayeeType, Person, PersonKind
from tenants.schemas import PayeeForm
from tenants.services._counts import count_people
from tenants.services._deletion_due import follow_retirement
from tenants.services._people import (
    PER_PAGE,
    add_person,
    apply_changes,
    email_field,
    get_of_kind,
    kana_field,
    name_field,
    require_writer,
    text_field,
)
from tenants.services._search import name_filter

PAYEE_TYPES = {t.value: t.label for t in PayeeType}
PAYMENT_KINDS = (
    "報酬・料金",
    "不動産の使用料",
    "不動産の譲受けの対価",
    "講演料",
    "原稿料",
    "税理士報酬",
    "弁護士報酬",
    "デザイン料",
    "その他",
)


# In フリガナ order (payees without フリガナ first), then by name: the payee index (tenant_id, kind, kana_key,
# search_key, id) read as a range.
PAYEE_ORDER = [
    SortColumn(Person.kana_key, "kana_key"),
    SortColumn(Person.search_key, "search_key"),
    SortColumn(Person.id, "id"),
]


@dataclass(frozen=True, slots=True)
class PayeeList:
    page: Window[Person]
    numbers: dict[uuid.UUID, NumberInfo]


async def list_payees(
    session: AsyncSession,
    vault: Vault,
    principal: Principal,
    *,
    query: str = "",
    page: int = 1,
    after: str = "",
    before: str = "",
) -> PayeeList:
    """Payees (name or フリガナ, ``name_matches``), 50 a page in フリガナ order, with their masked numbers.

    The total comes from the counters, or is counted up to ``COUNT_CAP`` with a search.
    """
    scope = statement = scoped(Person, principal).where(Person.kind == PersonKind.PAYEE)
    if query.strip():
        names = await name_filter(session, principal.tenant_id, query)
        statement = statement.where(names.condition)
        total = await capped_count(session, statement.with_only_columns(Person.id))
    else:
        total = Total(await count_people(session, principal.tenant_id, kinds=[PersonKind.PAYEE]))
    request = PageRequest(page=page, after=after, before=before)
    window = await read_window(session, statement, PAYEE_ORDER, request, per_page=PER_PAGE, total=total, scope=scope)
    numbers = await vault.number_info(session, principal.tenant_id, [p.id for p in window.rows])
    return PayeeList(page=window, numbers=numbers)


async def get_payee(session: AsyncSession, principal: Principal, person_id: str) -> Person:
    """A payee of the principal's tenant (404 for anyone else)."""
    return await get_of_kind(session, principal, person_id, PersonKind.PAYEE)


def payee_form(person: Person) -> PayeeForm:
    """The payee form filled from a stored payee (the edit page and partial updates start from it)."""
    return PayeeForm(
        payee_type=person.payee_type.value if person.payee_type else "",
        name=person.name,
        kana=person.kana,
        address=person.address,
        payment_kind=person.payment_kind,
        email=person.email,
        end_date=format_date(person.retirement_date),
    )


def _payee_values(form: PayeeForm, current: Person | None) -> dict[str, Any]:
    check = Checker()
    values: dict[str, Any] = {
        "payee_type": check.choice("payee_type", form.payee_type, "個人・法人の区分", PAYEE_TYPES),
        "name": name_field(check, "name", form.name, "氏名・名称", required=True),
        "kana": kana_field(check, "kana", form.kana, required=False),
        "address": text_field(check, "address", form.address, "住所・所在地", max_length=300),
        "payment_kind": text_field(check, "payment_kind", form.payment_kind, "支払の種類"),
        "email": email_field(check, form.email),
        # 取引終了日: a payee's end of the business relationship, in the column the 削除予定日 rule reads
        "retirement_date": check.date("end_date", form.end_date, "取引終了日"),
    }
    if (
        current is not None
        and current.status.has_number
        and "payee_type" not in check.errors
        and values["payee_type"] != current.payee_type
    ):
        check.fail("payee_type", "番号の登録後は個人・法人の区分を変更できません。番号を削除してから変更してください。")
    check.done()
    values["payee_type"] = PayeeType(values["payee_type"])
    return values


async def add_payee(session: AsyncSession, principal: Principal, form: PayeeForm) -> Person:
    """Add a payee (an individual gives a My Number, a corporation its corporate number)."""
    require_writer(principal)
    person = await add_person(session, principal, PersonKind.PAYEE, _payee_values(form, None), "取引先の追加")
    if person.retirement_date is not None:
        await follow_retirement(session, [person], principal.actor())
    return person


async def update_payee(session: AsyncSession, principal: Principal, person: Person, form: PayeeForm) -> list[str]:
    """Save the edited payee; returns the names of the fields that changed."""
    require_writer(principal)
    changed = await apply_changes(session, principal, person, _payee_values(form, person), "取引先情報の修正")
    if "retirement_date" in changed:
        await follow_retirement(session, [person], principal.actor())
    return changed
