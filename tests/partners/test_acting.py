"""Working inside a client: powers, isolation, revocation on the very next request, and who-did-what in the logs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.audit.models import AuditEntry
from app.config import Settings
from app.tenancy import Tenant, TenantStatus
from partners.models import LinkPower, LinkStatus, PartnerLink
from tests.support.audit import entries
from tests.support.partners import Office, make_link, make_office
from tests.support.people import make_employee, valid_my_number
from tests.support.world import World, post_form, second_device, sign_in

SECRET_NAME = "秘密 花子"  # the client's employee: no answer to an unlinked office may carry it


@dataclass(frozen=True)
class Case:
    name: str
    power: LinkPower | None  # None: no link of this office
    status: LinkStatus = LinkStatus.ACTIVE
    other_office: bool = False  # the link belongs to another office


CASES = [
    Case("numbers", LinkPower.NUMBERS),
    Case("view", LinkPower.VIEW),
    Case("files", LinkPower.FILES),
    Case("unlinked", None),
    Case("pending", LinkPower.NUMBERS, status=LinkStatus.PENDING),
    Case("ended", LinkPower.NUMBERS, status=LinkStatus.ENDED),
    Case("other_office", LinkPower.NUMBERS, other_office=True),
]


def client_routes(person_id: str) -> list[tuple[str, str]]:
    """Client pages a partner may reach once inside (GET), and one that writes (POST)."""
    return [
        ("GET", "/admin"),
        ("GET", "/admin/people"),
        ("GET", f"/admin/people/{person_id}"),
        ("GET", "/admin/numbers"),
        ("GET", "/admin/log"),
        ("GET", f"/admin/numbers/{person_id}/register"),
        ("POST", f"/admin/numbers/{person_id}/register"),
        ("GET", "/admin/accounts"),
        ("GET", "/admin/partners"),
    ]


def expected_status(case: Case, method: str, path: str) -> set[int]:
    if case.power is None or case.status is not LinkStatus.ACTIVE or case.other_office or case.power is LinkPower.FILES:
        return {404}  # no way in: the office's account is told nothing exists
    admin_only = path in ("/admin/accounts", "/admin/partners")
    handlers_only = "/register" in path
    if admin_only or (handlers_only and case.power is LinkPower.VIEW):
        return {403}
    return {302, 400} if method == "POST" else {200}


async def _arrange(app: Litestar, db: AsyncSession, settings: Settings, world: World, case: Case) -> Office:
    vault = app.state["vault"]
    office = await make_office(db, settings, vault)
    if case.power is not None:
        owner = office.tenant
        if case.other_office:
            owner = (await make_office(db, settings, vault, code="sr-other", name="よその事務所")).tenant
        await make_link(db, world.tenant, owner, case.power, status=case.status)
    return office


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_a_staff_member_reaches_a_client_only_through_an_active_link_with_the_power(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings, case: Case
) -> None:
    office = await _arrange(app, db, settings, world, case)
    person = await make_employee(db, world.tenant.id, "S001", SECRET_NAME)
    await db.commit()
    await sign_in(client, office.staff)
    entered = await post_form(client, f"/partner/clients/{world.tenant.id}/enter")
    can_enter = expected_status(case, "GET", "/admin") == {200}
    assert entered.status_code == (302 if can_enter else 404)  # type: ignore[attr-defined]
    problems = []
    for method, path in client_routes(str(person.id)):
        if method == "GET":
            response = await client.get(path, follow_redirects=False)
        else:
            response = await post_form(client, path, {"number": "123"})  # type: ignore[assignment]
        expected = expected_status(case, method, path)
        if response.status_code not in expected:
            problems.append(f"{method} {path} -> {response.status_code} (expected {sorted(expected)})")
        if 404 in expected and SECRET_NAME in response.text:
            problems.append(f"{method} {path} shows the client's data")
    # Another company's person id is not found, even inside a linked client.
    if can_enter:
        stranger = await make_employee(db, world.other_tenant.id, "X001", "他社 一郎")
        await db.commit()
        response = await client.get(f"/admin/people/{stranger.id}", follow_redirects=False)
        if response.status_code != 404:
            problems.append(f"another company's person -> {response.status_code}")
    assert problems == []
    # The office's own pages stay the office's, inside a client or not.
    home = await client.get("/partner")
    assert home.status_code == 200 and "事務所職員" in home.text


async def test_ending_the_link_takes_effect_on_the_very_next_request_of_an_open_session(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _arrange(app, db, settings, world, Case("numbers", LinkPower.NUMBERS))
    await make_employee(db, world.tenant.id, "S001", SECRET_NAME)
    await db.commit()
    await sign_in(client, office.staff)
    await post_form(client, f"/partner/clients/{world.tenant.id}/enter")
    open_page = await client.get("/admin/people")
    assert open_page.status_code == 200 and SECRET_NAME in open_page.text
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.admin)
        (link,) = list((await db.execute(select(PartnerLink))).scalars())
        assert (await post_form(client, f"/admin/partners/{link.id}/end")).status_code == 302  # type: ignore[attr-defined]
    gone = await client.get("/admin/people", follow_redirects=False)
    assert gone.status_code == 404 and SECRET_NAME not in gone.text
    assert (await client.get("/admin", follow_redirects=False)).status_code == 404
    back = await client.get("/partner")
    assert back.status_code == 200 and "アクメ商事株式会社" not in back.text
    # Entering again is refused too.
    assert (await post_form(client, f"/partner/clients/{world.tenant.id}/enter")).status_code == 404  # type: ignore[attr-defined]


async def test_disabling_the_staff_member_ends_the_session_inside_the_client(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _arrange(app, db, settings, world, Case("numbers", LinkPower.NUMBERS))
    await sign_in(client, office.staff)
    await post_form(client, f"/partner/clients/{world.tenant.id}/enter")
    assert (await client.get("/admin/people")).status_code == 200
    with second_device(client, httpx.Cookies()):
        await sign_in(client, office.admin)
        await post_form(client, f"/partner/staff/{office.staff.account.id}/disable")
    signed_out = await client.get("/admin/people", follow_redirects=False)
    assert signed_out.status_code in (302, 303)


async def test_partner_actions_show_the_staff_member_and_the_office_in_the_clients_log_and_the_offices_log(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _arrange(app, db, settings, world, Case("numbers", LinkPower.NUMBERS))
    other_office = await make_office(db, settings, app.state["vault"], code="sr-other", name="よその事務所")
    await make_link(db, world.other_tenant, other_office.tenant, LinkPower.NUMBERS)
    person = await make_employee(db, world.tenant.id, "S001", SECRET_NAME)
    stranger = await make_employee(db, world.other_tenant.id, "X001", "他社 一郎")
    await db.commit()
    number = valid_my_number(811)
    with second_device(client, httpx.Cookies()):  # another office works in another client meanwhile
        await sign_in(client, other_office.staff)
        await post_form(client, f"/partner/clients/{world.other_tenant.id}/enter")
        await post_form(client, f"/admin/numbers/{stranger.id}/register", {"number": valid_my_number(812)})
    await sign_in(client, office.staff)
    await post_form(client, f"/partner/clients/{world.tenant.id}/enter")
    registered = await post_form(client, f"/admin/numbers/{person.id}/register", {"number": number})
    assert registered.status_code == 302  # type: ignore[attr-defined]
    logged = [e for e in await entries(db, world.tenant.id) if e.actor_partner_id == office.tenant.id]
    assert [e.action for e in logged] == [AuditAction.PARTNER_ENTER, AuditAction.PROXY_REGISTER]
    for entry in logged:
        assert entry.actor_name == "山田 花子（山田社会保険労務士事務所）"
        assert entry.actor_organisation == "山田社会保険労務士事務所"
        assert entry.actor_user_id == office.staff.account.id
        assert entry.detail["partner_id"] == str(office.tenant.id)
        assert number not in str(entry.detail) and number not in entry.actor_name
    registration = [e for e in logged if e.subject_person_id == person.id]
    assert registration, [(e.action, e.function) for e in logged]
    # The client's admin reads it in the operation log.
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.admin)
        page = await client.get("/admin/log")
        assert "山田 花子（山田社会保険労務士事務所）" in page.text
    # The office's cross-client log: its own staff's entries only, with the client named.
    own_log = await client.get("/partner/log")
    assert own_log.status_code == 200
    assert "アクメ商事株式会社" in own_log.text and "山田 花子（山田社会保険労務士事務所）" in own_log.text
    assert "よその会社株式会社" not in own_log.text and number not in own_log.text


async def test_the_offices_log_reads_only_its_own_entries_from_the_partial_index(db: AsyncSession) -> None:
    from app.audit.models import PARTNER_ENTRY_SQL

    index = next(i for i in AuditEntry.__table__.indexes if i.name == "ix_audit_entries_actor_partner_id_occurred_at")
    assert [c.name for c in index.columns] == ["actor_partner_id", "occurred_at", "tenant_id", "seq"]
    assert PARTNER_ENTRY_SQL in str(index.dialect_options["postgresql"]["where"])


SESSION_PATHS = ("/partner", "/account", "/reauth", "/logout", "/login")
# The client's file exchange with its offices, its notices to them and the documents they publish to it: a staff
# member inside the client works with these from the office's own pages (/partner/files, /partner/notices,
# /partner/documents), so they do not exist for them there (partners.services.side_of, partners.services._documents).
OFFICE_EXCHANGES_AT_THE_OFFICE = ("/admin/files", "/admin/documents", "/admin/notices")


@pytest.mark.parametrize("power", ["view", "numbers", "ended"])
async def test_every_client_route_answers_an_acting_staff_member_as_the_links_power_says(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings, power: str
) -> None:
    """The route matrix inside a client: the link's role decides (403 above it); an ended link: 404 everywhere."""
    from app.auth.models import Role
    from tests.test_route_matrix import _request, concrete_path, guarded_routes

    office = await make_office(db, settings, app.state["vault"])
    link = await make_link(db, world.tenant, office.tenant, LinkPower.VIEW if power == "view" else LinkPower.NUMBERS)
    await sign_in(client, office.staff)
    assert (await post_form(client, f"/partner/clients/{world.tenant.id}/enter")).status_code == 302  # type: ignore[attr-defined]
    if power == "ended":
        link.status = LinkStatus.ENDED
        await db.commit()
    role = {"view": Role.VIEWER, "numbers": Role.HANDLER, "ended": Role.PARTNER_STAFF}[power]
    problems = []
    for route in guarded_routes(app):
        if route.path.startswith(SESSION_PATHS) or Role.PARTNER_STAFF in route.allowed:
            continue
        path, has_ids = concrete_path(route.path, world, world.admin)
        status = await _request(client, route, path)
        if role not in route.allowed:
            expected = {404} if role.is_partner else {403}
        elif has_ids or route.path.startswith(OFFICE_EXCHANGES_AT_THE_OFFICE):
            expected = {404}
        else:
            expected = {200, 201, 204, 302, 303, 400}
        if status not in expected:
            problems.append(f"{route.method} {route.path} -> {status} (expected {sorted(expected)})")
    assert problems == []


async def test_inside_a_client_whose_trial_ended_the_staff_member_is_read_only_too(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    """The client's contract decides (billing.readonly), not the office's: the principal carries the client's terms."""
    office = await _arrange(app, db, settings, world, Case("numbers", LinkPower.NUMBERS))
    person = await make_employee(db, world.tenant.id, "S001", SECRET_NAME)
    await db.execute(
        update(Tenant)
        .where(Tenant.id == world.tenant.id)
        .values(status=TenantStatus.TRIAL, trial_ends_on=dt.date(2020, 1, 31))
    )
    await db.commit()
    await sign_in(client, office.staff)
    await post_form(client, f"/partner/clients/{world.tenant.id}/enter")
    assert (await client.get("/admin/people")).status_code == 200  # reading still works
    refused = await post_form(
        client, f"/admin/numbers/{person.id}/register", {"my_number": valid_my_number(5), "purposes": "源泉徴収"}
    )
    assert refused.status_code in (302, 303)  # type: ignore[attr-defined]
    page = await client.get(refused.headers["location"])  # type: ignore[attr-defined]
    assert "無料体験期間が終了しました" in page.text
    stored = await db.execute(select(AuditEntry).where(AuditEntry.tenant_id == world.tenant.id))
    assert all(entry.action is not AuditAction.PROXY_REGISTER for entry in stored.scalars())
