"""Opening many people's numbers at once for a stated purpose (payroll software through the API, exports).

The same rules as one reveal (``_numbers.reveal_for_purpose``): the purpose must be one notified to each person's kind
(番号法: use within the notified purposes); the vault opens the numbers in one batch and writes one entry per number
returned, in the caller's transaction, before anything is handed back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from litestar.exceptions import NotFoundException
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.principal import Principal
from app.auth.scoping import scoped
from app.forms import FormInvalid
from app.vault import NumberField, Vault
from tenants.models import Person
from tenants.purposes import PURPOSES, audience_of, purposes_for_kind
from tenants.services._numbers_list import people_rows
from tenants.services._organisations import own_tenant
from tenants.services._records import number_field

MAX_REVEAL_BATCH = 100


class PeopleNotFound(NotFoundException):
    """Some ids name no person of the principal's tenant (another tenant's id looks exactly like a missing one)."""

    def __init__(self, ids: Sequence[uuid.UUID]) -> None:
        super().__init__()
        self.ids = list(ids)


@dataclass(frozen=True, slots=True)
class RevealedNumber:
    """One person's number, opened (and logged) for the purpose."""

    person_id: uuid.UUID
    field: NumberField
    number: str


@dataclass(frozen=True, slots=True)
class RevealedBatch:
    """The numbers opened, in the order asked, and the people asked for who have no number to open."""

    numbers: list[RevealedNumber]
    without_number: list[uuid.UUID]


async def reveal_numbers(
    session: AsyncSession,
    vault: Vault,
    principal: Principal,
    person_ids: Sequence[uuid.UUID],
    purpose: str,
    *,
    function: str,
    action: AuditAction = AuditAction.VIEW,
) -> RevealedBatch:
    """Open the numbers of up to ``MAX_REVEAL_BATCH`` people of the principal's tenant for a purpose notified to
    each one's kind; one audit entry per number returned (``action``, ``function``, the purpose), in the caller's
    transaction.

    FormInvalid (``ids`` or ``purpose``) for an empty or too large batch or a purpose not notified to someone's kind;
    PeopleNotFound (a 404) when an id is not one of the tenant's people. People without a live number are listed in
    ``without_number`` (nothing is logged for them).
    """
    wanted = list(dict.fromkeys(person_ids))
    if not wanted or len(wanted) > MAX_REVEAL_BATCH:
        raise FormInvalid({"ids": f"対象者の ID を1件以上{MAX_REVEAL_BATCH}件以下で指定してください。"})
    if purpose not in PURPOSES:
        raise FormInvalid({"purpose": "利用目的を一覧から指定してください（事業者が本人に通知した利用目的）。"})
    found = await session.execute(scoped(Person, principal).where(Person.id.in_(wanted)))
    people = {person.id: person for person in found.scalars()}
    missing = [person_id for person_id in wanted if person_id not in people]
    if missing:
        raise PeopleNotFound(missing)
    await _check_purpose(session, principal, list(people.values()), purpose)
    rows = await people_rows(session, None, principal, [people[person_id] for person_id in wanted])
    opened: dict[uuid.UUID, RevealedNumber] = {}
    for field in NumberField:
        subjects = [row.subject for row in rows if number_field(row.person) is field]
        if not subjects:
            continue
        numbers = await vault.reveal_many(
            session,
            tenant_id=principal.tenant_id,
            subjects=subjects,
            field=field,
            actor=principal.actor(),
            purpose=purpose,
            function=function,
            action=action,
        )
        opened.update({person_id: RevealedNumber(person_id, field, number) for person_id, number in numbers.items()})
    return RevealedBatch(
        numbers=[opened[person_id] for person_id in wanted if person_id in opened],
        without_number=[person_id for person_id in wanted if person_id not in opened],
    )


async def _check_purpose(session: AsyncSession, principal: Principal, people: list[Person], purpose: str) -> None:
    tenant = await own_tenant(session, principal)
    for kind in sorted({person.kind for person in people}):
        if purpose not in purposes_for_kind(tenant, kind):
            audience = audience_of(kind).label
            raise FormInvalid(
                {"purpose": f"この利用目的は{audience}に通知されていません。通知した利用目的を指定してください。"}
            )
