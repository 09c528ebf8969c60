"""The office's cross-client log: its own staff's entries only, every one once across keyset pages."""

from __future__ import annotations

import re
import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent
from app.audit.log import record_many
from app.config import Settings
from partners.models import LinkPower, LinkStatus
from partners.services import ENTRIES_PER_PAGE
from tests.support.partners import make_link, make_office
from tests.support.world import World, sign_in


def _events(tenant_id: uuid.UUID, office_id: uuid.UUID, label: str, count: int) -> list[AuditEvent]:
    actor = Actor(uuid.uuid4(), "yamada", "山田 花子（事務所）", "社労士事務所・閲覧者", "事務所", partner_id=office_id)
    return [
        AuditEvent(tenant_id=tenant_id, action=AuditAction.VIEW, actor=actor, function=f"{label}-{n}")
        for n in range(count)
    ]


async def test_the_log_pages_through_every_entry_of_its_staff_once_and_nothing_else(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    # Its staff worked in both clients: one link still active, one ended since (the entries stay the office's).
    await make_link(db, world.tenant, office.tenant, LinkPower.VIEW)
    await make_link(db, world.other_tenant, office.tenant, LinkPower.VIEW, status=LinkStatus.ENDED)
    stranger = uuid.uuid4()
    # One batch per client: many entries share a time, so a page boundary falls inside a tie.
    await record_many(db, _events(world.tenant.id, office.tenant.id, "mine", ENTRIES_PER_PAGE - 10))
    await record_many(db, _events(world.other_tenant.id, office.tenant.id, "mine", 25))
    await record_many(db, _events(world.tenant.id, stranger, "theirs", 5))
    await db.commit()
    await sign_in(client, office.staff)
    seen: list[str] = []
    path = "/partner/log"
    pages = 0
    for _ in range(5):
        pages += 1
        page = await client.get(path)
        assert page.status_code == 200
        seen += re.findall(r"<td>(mine-\d+|theirs-\d+)</td>", page.text)
        older = re.search(r'href="(/partner/log\?after=[^"]+)"', page.text)
        if older is None:
            break
        path = older.group(1).replace("&amp;", "&")
    assert len(seen) == ENTRIES_PER_PAGE - 10 + 25 and not [s for s in seen if s.startswith("theirs")]
    assert pages == 2
    assert (await client.get("/partner/log?after=garbage")).status_code == 200
