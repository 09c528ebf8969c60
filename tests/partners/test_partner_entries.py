"""A partner's entry in a client's chain: the office in the (hashed) detail and in its indexed column."""

from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import record, verify_chain
from tests.audit.conftest import add_tenant, make_event
from tests.support.audit import entries


async def test_a_partner_entry_names_the_office_and_the_chain_verifies(db: AsyncSession) -> None:
    client_id = await add_tenant(db, "client")
    office_id = uuid.uuid4()
    event = make_event(client_id, 1)
    acting = dataclasses.replace(event, actor=dataclasses.replace(event.actor, partner_id=office_id))
    await record(db, make_event(client_id, 0))
    await record(db, acting)
    await db.commit()
    own, partner = await entries(db, client_id)
    assert own.actor_partner_id is None and "partner_id" not in own.detail
    assert partner.actor_partner_id == office_id and partner.detail["partner_id"] == str(office_id)
    assert (await verify_chain(db, client_id)).ok
