"""The employee's own home page: who they are, their dependants as cards with what to do next, the purpose notice."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from litestar.exceptions import NotFoundException
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.principal import Principal
from app.auth.scoping import get_scoped, scoped
from app.db import utcnow
from app.vault import NumberInfo, Vault
from tenants.models import CollectionStatus, CorrectionRequest, Person, PersonKind, RequestStatus
from tenants.services import list_dependants, today
from tenants.services._records import log_person_event

NOTICE_FUNCTION = "利用目的の通知"


def is_retired(person: Person, day: dt.date) -> bool:
    """Out of service on that day (JST): the 退職日 is that day or earlier (``Person.retired_on``, one rule)."""
    return person.retired_on(day)


@dataclass(frozen=True, slots=True)
class Action:
    """A next step offered on the home page: a link, or a button posting to ``href``."""

    label: str
    href: str
    post: bool = False
    primary: bool = True


@dataclass(frozen=True, slots=True)
class PersonCard:
    """The employee or a dependant as the home page shows them: status, masked number, what to do next."""

    person: Person
    number: NumberInfo | None
    message: str
    actions: tuple[Action, ...] = field(default=())


async def own_employee(session: AsyncSession, principal: Principal) -> Person | None:
    """The employee record the signed-in account belongs to (None when the account is not linked to one)."""
    if principal.person_id is None:
        return None
    statement = scoped(Person, principal).where(Person.id == principal.person_id, Person.kind == PersonKind.EMPLOYEE)
    return (await session.execute(statement)).scalar_one_or_none()


async def own_person(session: AsyncSession, principal: Principal, employee: Person | None, person_id: str) -> Person:
    """The employee or one of their dependants; anyone else (another employee, another tenant) is a 404."""
    person = await get_scoped(session, Person, principal, person_id)
    if employee is not None and (
        person.id == employee.id or (person.kind is PersonKind.DEPENDANT and person.employee_id == employee.id)
    ):
        return person
    raise NotFoundException()


def entry_path(person: Person) -> str:
    """Where the number of this person is typed (again)."""
    return "/me/number" if person.kind is PersonKind.EMPLOYEE else f"/me/dependants/{person.id}/edit"


async def person_cards(session: AsyncSession, vault: Vault, principal: Principal, employee: Person) -> list[PersonCard]:
    """The employee first, then each dependant, with masked numbers only."""
    people = [employee, *await list_dependants(session, principal, employee)]
    numbers = await vault.number_info(session, principal.tenant_id, [p.id for p in people])
    statement = scoped(CorrectionRequest, principal).where(
        CorrectionRequest.status == RequestStatus.PENDING, CorrectionRequest.person_id.in_([p.id for p in people])
    )
    pending = {r.person_id for r in (await session.execute(statement)).scalars()}
    retired = is_retired(employee, today())
    return [_card(p, numbers.get(p.id), correction_pending=p.id in pending, retired=retired) for p in people]


def _card(person: Person, number: NumberInfo | None, *, correction_pending: bool, retired: bool) -> PersonCard:
    base = f"/me/people/{person.id}"
    status = person.status
    if retired:
        return PersonCard(person, number, "退職済みのため、登録・変更はできません。")
    if status is CollectionStatus.REGISTERED:
        message = "入力した番号の確認（本人番号確認）がまだです。もう一度入力して確定してください。"
        return PersonCard(person, number, message, (Action("入力して確認する", entry_path(person)),))
    if status is CollectionStatus.PROXY_REGISTERED:
        message = "会社の担当者が代理で登録しました。確認のため、お手元の番号を入力してください。"
        return PersonCard(person, number, message, (Action("番号を入力する", entry_path(person)),))
    if status is CollectionStatus.SELF_CONFIRMED:
        message = "登録が完了しました。会社の担当者の確認をお待ちください。"
        return PersonCard(person, number, message, (Action("入力し直す", entry_path(person), primary=False),))
    if status is CollectionStatus.ADMIN_CONFIRMED:
        if correction_pending:
            return PersonCard(person, number, "修正を依頼しています。担当者の承認をお待ちください。")
        message = "会社の担当者が確認しました。番号が変わったときは修正を依頼してください。"
        return PersonCard(person, number, message, (Action("修正を依頼する", f"{base}/correction", primary=False),))
    if status is CollectionStatus.DECLINED:
        message = f"提供しないと届け出ています（理由：{person.decline_reason}）。"
        return PersonCard(person, number, message, (Action("取り下げて登録する", f"{base}/withdraw", post=True),))
    actions = (Action("番号を登録する", entry_path(person)), Action("提供しない", f"{base}/decline", primary=False))
    return PersonCard(person, number, "番号が登録されていません。", actions)


def notice_pending(employee: Person) -> bool:
    return employee.notice_acknowledged_at is None


async def acknowledge_notice(session: AsyncSession, principal: Principal, employee: Person) -> None:
    """Record (once, with the time) that the employee read the purpose notice; logged."""
    if employee.notice_acknowledged_at is not None:
        return
    employee.notice_acknowledged_at = utcnow()
    detail: dict[str, object] = {"event": "notice_acknowledged"}
    await log_person_event(session, principal.actor(), employee, AuditAction.UPDATE, NOTICE_FUNCTION, detail=detail)
