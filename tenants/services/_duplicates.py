"""The duplicate rule: a number already held for another person is kept, flagged 重複の疑い, for an admin to settle.

Whoever typed it (an employee, for themselves or a dependant; a payee through a link) sees exactly what they would
for a fresh number, so nobody outside the company's handlers learns which numbers the company holds. Every input
path -- self, proxy, payee, and the import and API to come -- stores with ``allow_duplicate=True`` and then calls
:func:`flag_duplicates` with what it stored; admins may be told at once (they are authorised to see both people).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction
from app.auth.principal import Principal
from app.auth.scoping import get_scoped
from app.db import utcnow
from app.vault import StoredNumber, Vault
from tenants.models import DuplicateStatus, NumberDuplicate, Person
from tenants.services import _records
from tenants.services._erasure_records import ErasedNumber, record_erasures

FUNCTION = "重複の疑い"
RESOLVE_FUNCTION = "重複の確認"
MISTAKE_REASON = "重複登録の誤り"
_CHUNK = 500  # ids per IN list


def open_cases() -> tuple[ColumnElement[bool], ...]:
    """The condition every query on unsettled cases starts from."""
    return (NumberDuplicate.status == DuplicateStatus.OPEN,)


async def flag_duplicates(
    session: AsyncSession,
    vault: Vault,
    *,
    actor: Actor,
    entries: Sequence[tuple[Person, StoredNumber]],
    function: str,
) -> list[NumberDuplicate]:
    """THE duplicate rule, for every path: open a case for each other person holding a number just stored.

    ``entries`` are the people and what ``Vault.store_number``/``store_many`` (with ``allow_duplicate=True``)
    returned for them. One case per pair of numbers, each logged (重複の疑い) against the person who gave the
    number; nothing is refused and nothing is said to the person. Returns the cases opened (empty for a fresh
    number), so an admin's own page may name the other person.
    """
    entries = [(person, stored) for person, stored in entries if stored.flagged]
    if not entries:
        return []
    tenant_id = entries[0][0].tenant_id
    holders = await vault.other_holders(session, tenant_id, [stored.id for _, stored in entries])
    seen: set[frozenset[uuid.UUID]] = set()
    cases: list[NumberDuplicate] = []
    for person, stored in entries:
        for holder in holders.get(stored.id, []):
            pair = frozenset((stored.id, holder.number_id))
            if pair in seen:
                continue
            seen.add(pair)
            case = NumberDuplicate(
                tenant_id=tenant_id,
                person_id=person.id,
                other_person_id=holder.subject_id,
                number_id=stored.id,
                other_number_id=holder.number_id,
                function=function[:50],
                status=DuplicateStatus.OPEN,
                resolved_by="",
            )
            session.add(case)
            cases.append(case)
    await session.flush()
    for case in cases:
        person = next(p for p, s in entries if s.id == case.number_id)
        detail: dict[str, object] = {
            "event": "duplicate_suspected",
            "duplicate_id": str(case.id),
            "other_person_id": str(case.other_person_id),
            "field": _records.number_field(person).value,
        }
        await _records.log_person_event(session, actor, person, AuditAction.UPDATE, FUNCTION, detail=detail)
    return cases


async def settle_superseded(session: AsyncSession, vault: Vault, person: Person) -> int:
    """Close the person's open cases whose number is no longer live on either side (番号変更で解消)."""
    statement = select(NumberDuplicate).where(
        NumberDuplicate.tenant_id == person.tenant_id,
        *open_cases(),
        or_(NumberDuplicate.person_id == person.id, NumberDuplicate.other_person_id == person.id),
    )
    cases = list((await session.execute(statement)).scalars())
    if not cases:
        return 0
    people = {c.person_id for c in cases} | {c.other_person_id for c in cases}
    live = {info.id for info in (await vault.number_info(session, person.tenant_id, list(people))).values()}
    closed = 0
    for case in cases:
        if case.number_id not in live or case.other_number_id not in live:
            case.status = DuplicateStatus.SUPERSEDED
            case.resolved_at = utcnow()
            case.resolved_by = "システム"
            closed += 1
    await session.flush()
    return closed


async def settle_superseded_many(
    session: AsyncSession, vault: Vault, tenant_id: uuid.UUID, person_ids: Sequence[uuid.UUID]
) -> int:
    """:func:`settle_superseded` for many people at once (an import replacing numbers), a chunk of ids a query."""
    ids = list(dict.fromkeys(person_ids))
    cases: dict[uuid.UUID, NumberDuplicate] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for column in (NumberDuplicate.person_id, NumberDuplicate.other_person_id):
            statement = select(NumberDuplicate).where(
                NumberDuplicate.tenant_id == tenant_id, *open_cases(), column.in_(chunk)
            )
            cases.update((case.id, case) for case in (await session.execute(statement)).scalars())
    if not cases:
        return 0
    people = {c.person_id for c in cases.values()} | {c.other_person_id for c in cases.values()}
    live = {info.id for info in (await vault.number_info(session, tenant_id, list(people))).values()}
    closed = 0
    now = utcnow()
    for case in cases.values():
        if case.number_id not in live or case.other_number_id not in live:
            case.status = DuplicateStatus.SUPERSEDED
            case.resolved_at = now
            case.resolved_by = "システム"
            closed += 1
    await session.flush()
    return closed


async def open_duplicate_people(
    session: AsyncSession, tenant_id: uuid.UUID, person_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these people are on either side of an unsettled case (the list's 重複の疑い flag); one query."""
    if not person_ids:
        return set()
    wanted = list(person_ids)
    sides = [
        select(column).where(NumberDuplicate.tenant_id == tenant_id, *open_cases(), column.in_(wanted))
        for column in (NumberDuplicate.person_id, NumberDuplicate.other_person_id)
    ]
    return set((await session.execute(union_all(*sides))).scalars())


def duplicate_people_condition(tenant_id: uuid.UUID) -> ColumnElement[bool]:
    """``Person.id`` is on either side of an unsettled case (the list's 重複の疑い filter)."""
    mine = select(NumberDuplicate.person_id).where(NumberDuplicate.tenant_id == tenant_id, *open_cases())
    theirs = select(NumberDuplicate.other_person_id).where(NumberDuplicate.tenant_id == tenant_id, *open_cases())
    return or_(Person.id.in_(mine), Person.id.in_(theirs))


async def count_open_duplicates(session: AsyncSession, principal: Principal) -> int:
    """How many cases wait for an admin (the home page's attention item): counted in the database over the open
    range of ``ix_number_duplicates_tenant_id_status_created_at`` (a small set: what is left to settle)."""
    statement = select(func.count()).select_from(NumberDuplicate)
    statement = statement.where(NumberDuplicate.tenant_id == principal.tenant_id, *open_cases())
    return int((await session.execute(statement)).scalar_one())


@dataclass(frozen=True, slots=True)
class DuplicateResolution:
    """What an admin decided: the same person under two records, or a mistake (the wrong record's number goes)."""

    same_person: bool
    wrong_person_id: uuid.UUID | None = None


async def get_duplicate(session: AsyncSession, principal: Principal, duplicate_id: str) -> NumberDuplicate:
    """A case of the principal's tenant (404 for anyone else's)."""
    return await get_scoped(session, NumberDuplicate, principal, duplicate_id)


async def resolve_duplicate(
    session: AsyncSession, vault: Vault, principal: Principal, case: NumberDuplicate, resolution: DuplicateResolution
) -> Person | None:
    """Settle an open case; both people's entries say how. Returns the person whose number was erased, if any.

    同一人物 (e.g. a spouse who is both an employee and another employee's dependant): both records keep the
    number, linked by the case. 誤り: the wrong record's number is erased through the vault (logged as 削除) and that
    person is back to 未登録, so they enter their own number again (an employee on their phone, a payee through a
    new link). RecordError when the case is settled already or the named person is not one of the two.
    """
    if case.status is not DuplicateStatus.OPEN:
        raise _records.RecordError("この重複の疑いはすでに処理されています。")
    person = await get_scoped(session, Person, principal, case.person_id)
    other = await get_scoped(session, Person, principal, case.other_person_id)
    actor = principal.actor()
    erased: Person | None = None
    if resolution.same_person:
        case.status = DuplicateStatus.SAME_PERSON
    else:
        wrong = {person.id: person, other.id: other}.get(resolution.wrong_person_id)  # type: ignore[arg-type]
        if wrong is None:
            raise _records.RecordError("番号が誤っている方を選択してください。")
        context = await _records.context_of(session, wrong)
        erased_ids = await vault.erase(
            session,
            tenant_id=wrong.tenant_id,
            subject=context.subject,
            actor=actor,
            function=RESOLVE_FUNCTION,
            reason=MISTAKE_REASON,
            field=_records.number_field(wrong),
        )
        records = [ErasedNumber(context.subject, wrong.kind, number_id) for number_id in erased_ids]
        await record_erasures(session, wrong.tenant_id, records, actor, "mistake")
        _records.reopen(wrong)
        case.status = DuplicateStatus.MISTAKE
        case.erased_person_id = wrong.id
        erased = wrong
    case.resolved_at = utcnow()
    case.resolved_by = actor.name[:100]
    await session.flush()
    for who, partner in ((person, other), (other, person)):
        detail: dict[str, object] = {
            "event": "duplicate_resolved",
            "duplicate_id": str(case.id),
            "resolution": "same_person" if resolution.same_person else "mistake",
            "other_person_id": str(partner.id),
            "erased": erased is who,
        }
        await _records.log_person_event(session, actor, who, AuditAction.UPDATE, RESOLVE_FUNCTION, detail=detail)
    if erased is not None:
        await settle_superseded(session, vault, erased)
    return erased
