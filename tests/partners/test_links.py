"""Client links: invitation by the office's code, request by the client's code, consent, ending from either side."""

from __future__ import annotations

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.config import Settings
from partners.models import LinkPower, LinkSide, LinkStatus, PartnerLink
from partners.services import active_link_between
from tests.support.audit import entries
from tests.support.partners import make_office
from tests.support.world import World, post_form, second_device, sign_in


async def _links(db: AsyncSession) -> list[PartnerLink]:
    rows = await db.execute(select(PartnerLink).execution_options(populate_existing=True))
    return list(rows.scalars())


async def test_a_client_invites_an_office_which_accepts(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await sign_in(client, world.admin)
    unknown = await post_form(client, "/admin/partners/", {"office_code": "nowhere", "power": "numbers"})
    assert unknown.status_code == 400 and "事務所コード" in unknown.text  # type: ignore[attr-defined]
    company = await post_form(client, "/admin/partners/", {"office_code": "other", "power": "numbers"})
    assert company.status_code == 400  # a company's code is not an office's  # type: ignore[attr-defined]
    invited = await post_form(client, "/admin/partners/", {"office_code": office.tenant.code, "power": "view"})
    assert invited.status_code == 302  # type: ignore[attr-defined]
    again = await post_form(client, "/admin/partners/", {"office_code": office.tenant.code, "power": "view"})
    assert again.status_code == 400 and "既に連携中か申請中" in again.text  # type: ignore[attr-defined]
    (link,) = await _links(db)
    assert link.status is LinkStatus.PENDING and link.power is LinkPower.VIEW
    assert link.consented_by == world.admin.account.id and link.consented_at is not None
    assert link.requested_by_side is LinkSide.CLIENT
    with second_device(client, httpx.Cookies()):
        await sign_in(client, office.staff)  # staff cannot accept: only the office admin
        assert (await post_form(client, f"/partner/clients/{world.tenant.id}/accept")).status_code == 404  # type: ignore[attr-defined]
        await sign_in(client, office.admin)
        accepted = await post_form(client, f"/partner/clients/{world.tenant.id}/accept")
        assert accepted.status_code == 302  # type: ignore[attr-defined]
        home = await client.get("/partner")
        assert "アクメ商事株式会社" in home.text
    (link,) = await _links(db)
    assert link.status is LinkStatus.ACTIVE and link.activated_at is not None
    for tenant_id in (world.tenant.id, office.tenant.id):
        events = [e.detail["event"] for e in await entries(db, tenant_id, AuditAction.PARTNER_LINK)]
        assert events == ["link_invited", "link_accepted"]


async def test_an_office_requests_by_the_clients_code_and_the_client_consents_with_a_power(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await sign_in(client, office.admin)
    wrong = await post_form(client, "/partner/clients", {"client_code": "nowhere", "power": "numbers"})
    assert wrong.status_code == 400 and "事業者コード" in wrong.text  # type: ignore[attr-defined]
    bad_power = await post_form(client, "/partner/clients", {"client_code": "acme", "power": "all"})
    assert bad_power.status_code == 400 and "権限を選択してください" in bad_power.text  # type: ignore[attr-defined]
    asked = await post_form(client, "/partner/clients", {"client_code": "acme", "power": "numbers"})
    assert asked.status_code == 302  # type: ignore[attr-defined]
    (link,) = await _links(db)
    assert link.status is LinkStatus.PENDING and link.consented_by is None
    # The office cannot accept its own request, nor enter a client that has not consented.
    assert (await post_form(client, f"/partner/clients/{world.tenant.id}/accept")).status_code == 302  # type: ignore[attr-defined]
    assert (await post_form(client, f"/partner/clients/{world.tenant.id}/enter")).status_code == 404  # type: ignore[attr-defined]
    (link,) = await _links(db)
    assert link.status is LinkStatus.PENDING
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.other_admin)  # another company cannot consent for acme
        assert (await post_form(client, f"/admin/partners/{link.id}/accept", {"power": "view"})).status_code == 404  # type: ignore[attr-defined]
        await sign_in(client, world.admin)
        page = await client.get("/admin/partners")
        assert office.tenant.name in page.text and "同意して承認" in page.text
        consented = await post_form(client, f"/admin/partners/{link.id}/accept", {"power": "view"})
        assert consented.status_code == 302  # type: ignore[attr-defined]
    (link,) = await _links(db)
    assert link.status is LinkStatus.ACTIVE and link.power is LinkPower.VIEW
    assert (await active_link_between(db, world.tenant.id, office.tenant.id)) is not None
    assert (await active_link_between(db, world.other_tenant.id, office.tenant.id)) is None
    assert link.consented_by == world.admin.account.id and link.consented_by_name == "岡 昌平"
    for tenant_id in (world.tenant.id, office.tenant.id):
        events = [e.detail["event"] for e in await entries(db, tenant_id, AuditAction.PARTNER_LINK)]
        assert events == ["link_requested", "link_consented"]


async def test_either_side_ends_a_link_and_both_logs_say_so(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await sign_in(client, office.admin)
    for code in ("acme", "other"):
        await post_form(client, "/partner/clients", {"client_code": code, "power": "numbers"})
    ended = await post_form(client, f"/partner/clients/{world.other_tenant.id}/end")
    assert ended.status_code == 302  # type: ignore[attr-defined]
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.admin)
        (mine,) = [link for link in await _links(db) if link.tenant_id == world.tenant.id]
        await post_form(client, f"/admin/partners/{mine.id}/accept", {"power": "numbers"})
        assert (await post_form(client, f"/admin/partners/{mine.id}/end")).status_code == 302  # type: ignore[attr-defined]
        again = await post_form(client, f"/admin/partners/{mine.id}/end")
        assert again.status_code == 302  # type: ignore[attr-defined]
    links = {link.tenant_id: link for link in await _links(db)}
    assert links[world.tenant.id].ended_by_side is LinkSide.CLIENT
    assert links[world.other_tenant.id].ended_by_side is LinkSide.PARTNER
    assert all(link.status is LinkStatus.ENDED and link.ended_at for link in links.values())
    assert (await active_link_between(db, world.tenant.id, office.tenant.id)) is None
    office_events = [e.detail["event"] for e in await entries(db, office.tenant.id, AuditAction.PARTNER_LINK)]
    assert office_events.count("link_ended") == 2
    acme_events = [e.detail["event"] for e in await entries(db, world.tenant.id, AuditAction.PARTNER_LINK)]
    assert acme_events == ["link_requested", "link_consented", "link_ended"]
    # An ended link can be replaced by a new one (no limit on links over time).
    renewed = await post_form(client, "/partner/clients", {"client_code": "acme", "power": "view"})
    assert renewed.status_code == 302  # type: ignore[attr-defined]
