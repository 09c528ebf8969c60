"""Issue 14's isolation matrix: EVERY route of an office's pages × {linked with 番号の取扱い, 閲覧のみ,
ファイル・連絡のみ, unlinked, link ended, another office's client} × {office admin, office staff}, filled with the
ids of one client's real rows (the client, an exchanged file, a notice with a My Number, a document, an account).

A client's rows are reached only through an ACTIVE link of the principal's own office, and only as far as the link's
power goes; everything else answers 404 and shows nothing of the client. The routes inside a client (/admin… after
「作業を始める」) have their own matrix in test_acting.py; a route added to the office's pages without a line here
fails ``test_the_matrix_names_every_office_route``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.models import Role
from app.config import Settings
from partners.models import ExchangeFile, LinkPower, LinkStatus, PartnerDocument, PartnerLink, PartnerNotice
from partners.services import UNKNOWN_CLIENT_CODE
from tests.partners.exchange_support import pdf, send
from tests.partners.test_documents import publish
from tests.support.audit import entries
from tests.support.partners import Office, make_link, make_office
from tests.support.people import make_employee, valid_my_number
from tests.support.world import World, csrf_token, sign_in
from tests.test_route_matrix import guarded_routes

FILE_NAME = "秘密の給与一覧.pdf"
PERSON = "秘密 花子"
NUMBER = valid_my_number(914)
SECRETS = (FILE_NAME, PERSON, NUMBER)
SHARED = ("/account", "/reauth")  # every signed-in account's own pages (tests/test_route_matrix.py)


@dataclass(frozen=True)
class Case:
    name: str
    power: LinkPower | None  # the power of the principal's office's ACTIVE link with the client; None: no such link
    own_rows: bool  # the client's rows (file, notice) are with the principal's office (else with another office)


CASES = [
    Case("numbers", LinkPower.NUMBERS, own_rows=True),
    Case("view", LinkPower.VIEW, own_rows=True),
    Case("files", LinkPower.FILES, own_rows=True),
    Case("unlinked", None, own_rows=False),  # linked with another company only; the client works with another office
    Case("ended", None, own_rows=True),  # the office's link with the client ended after the rows were made
    Case("other_office", None, own_rows=False),  # the client is linked (番号の取扱い) with another office only
]

ANY = {200, 302, 303, 400}
Rule = Callable[[Case, Role], set[int]]


def _linked(ok: set[int]) -> Rule:
    """``ok`` through an ACTIVE link of the office (any power), else 404."""
    return lambda case, role: ok if case.power is not None else {404}


def _admin(rule: Rule) -> Rule:
    """Office admins only: an office's staff member is told the page does not exist."""
    return lambda case, role: rule(case, role) if role is Role.PARTNER_ADMIN else {404}


def _numbers(ok: set[int], weaker: set[int]) -> Rule:
    """``ok`` through a 番号の取扱い link, ``weaker`` through another ACTIVE link, else 404."""
    return lambda case, role: {404} if case.power is None else ok if case.power is LinkPower.NUMBERS else weaker


def _enter(case: Case, role: Role) -> set[int]:
    # 番号の取扱い → 事務取扱担当者, 閲覧のみ → 閲覧者, ファイル・連絡のみ → no way in.
    return {302} if case.power in (LinkPower.NUMBERS, LinkPower.VIEW) else {404}


def _own_document(ok: set[int]) -> Rule:
    """The office's own documents (not the client's rows): ``ok`` for its own, 404 for another office's."""
    return lambda case, role: ok if case.own_rows else {404}


def _always(ok: set[int]) -> Rule:
    return lambda case, role: ok


# (method, route) → rule. Order of the walk: reads, then writes, then what deletes or ends (see _order).
MATRIX: dict[tuple[str, str], Rule] = {
    ("GET", "/partner"): _always({200}),
    ("GET", "/partner/clients"): _always({200}),
    ("GET", "/partner/log"): _always({200}),
    ("GET", "/partner/files"): _always({200}),
    ("GET", "/partner/files/send"): _always({400}),  # no 事業者コード typed
    ("GET", "/partner/notices"): _always({200}),
    ("GET", "/partner/documents"): _always({200}),
    ("GET", "/partner/staff"): _admin(_always({200})),
    ("POST", "/partner/staff"): _admin(_always({400})),
    ("POST", "/partner/clients"): _admin(_always({400})),
    ("POST", "/partner/documents"): _admin(_always({400})),
    ("POST", "/partner/leave"): _always({302}),
    # The client's rows.
    ("GET", "/partner/files/{file_id:str}"): _linked({200}),
    ("GET", "/partner/files/{file_id:str}/download"): _linked({200}),
    ("POST", "/partner/files/{file_id:str}/save"): _linked({302}),
    ("POST", "/partner/files/{file_id:str}/box"): _linked({302}),  # kept only with 番号の取扱い and 機密: see below
    ("POST", "/partner/files/{file_id:str}/delete"): _linked({302}),
    ("GET", "/partner/clients/{client_id:str}/files/new"): _linked({200}),
    ("POST", "/partner/clients/{client_id:str}/files"): _linked({400}),  # no file chosen
    ("POST", "/partner/clients/{client_id:str}/enter"): _enter,
    ("POST", "/partner/clients/{client_id:str}/accept"): _admin(_linked({302})),  # already active: told so
    ("POST", "/partner/clients/{client_id:str}/end"): _admin(_linked({302})),
    ("GET", "/partner/notices/{notice_id:str}"): _linked({200}),
    ("POST", "/partner/notices/{notice_id:str}/status"): _linked({302}),
    ("GET", "/partner/notices/{notice_id:str}/reveal"): _numbers({200}, {302}),
    ("POST", "/partner/notices/{notice_id:str}/reveal"): _numbers({200}, {302}),
    ("POST", "/partner/notices/{notice_id:str}/apply"): _numbers({302}, {400}),
    # The office's own rows: documents (its own, or another office's), staff accounts (a client's account here).
    ("GET", "/partner/documents/{document_id:str}"): _admin(_own_document({200})),
    ("POST", "/partner/documents/{document_id:str}"): _admin(_own_document({400})),
    ("GET", "/partner/documents/{document_id:str}/download"): _own_document({200}),
    ("POST", "/partner/documents/{document_id:str}/delete"): _admin(_own_document({302})),
    ("GET", "/partner/staff/{account_id:str}/edit"): _always({404}),
    ("POST", "/partner/staff/{account_id:str}/edit"): _always({404}),
    ("POST", "/partner/staff/{account_id:str}/disable"): _always({404}),
    ("POST", "/partner/staff/{account_id:str}/enable"): _always({404}),
    ("POST", "/partner/staff/{account_id:str}/delete"): _always({404}),
    ("POST", "/partner/staff/{account_id:str}/reset-password"): _always({404}),
}
# Lists filtered to the client: its rows appear only through an active link.
FILTERED = ("/partner/files?client_id={client}", "/partner/notices?period=all&client_id={client}")
# The same client chosen by its 事業者コード (the pickers): refused in Japanese (400) without an active link.
CODED = (
    "/partner/files?client_code={code}",
    "/partner/notices?period=all&client_code={code}",
    "/partner/files/send?client_code={code}",
)


def office_routes(app: Litestar) -> set[tuple[str, str]]:
    """Every route an office's account may reach, but the pages every account has (/account, /reauth, sign out)."""
    return {
        (route.method, route.path)
        for route in guarded_routes(app)
        if route.allowed & {Role.PARTNER_ADMIN, Role.PARTNER_STAFF}
        and not route.path.startswith(SHARED)
        and route.path != "/account/sign-out-everywhere"
    }


def _order(key: tuple[str, str]) -> tuple[int, str]:
    method, path = key
    if path.endswith("/end"):
        return 5, path  # ends the link: last
    if path.endswith("/delete"):
        return 4, path
    if path.endswith(("/enter", "/leave")):
        return 3 if path.endswith("/leave") else 2, path
    return (0 if method == "GET" else 1), path


def test_the_matrix_names_every_office_route(app: Litestar) -> None:
    routes = office_routes(app)
    assert len(routes) > 30
    assert sorted(routes - MATRIX.keys()) == [], "add the new office route to MATRIX with its rule"
    assert sorted(MATRIX.keys() - routes) == []


@dataclass(frozen=True)
class Arranged:
    office: Office  # the principal's office
    ids: dict[str, str]


async def _arrange(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, world: World, case: Case
) -> Arranged:
    vault = app.state["vault"]
    office = await make_office(db, settings, vault)
    other = await make_office(db, settings, vault, code="sr-other", name="よその社労士事務所")
    owner = office if case.own_rows else other
    link = await make_link(db, world.tenant, owner.tenant, LinkPower.NUMBERS)
    person = await make_employee(db, world.tenant.id, "S001", PERSON)
    await db.commit()
    # The client sends the owner office a file and a notice with a number (over 番号の取扱い), as its admin would.
    client.cookies = httpx.Cookies()
    await sign_in(client, world.admin)
    sent = await send(client, "/admin/files/", [(FILE_NAME, pdf("給与"))], office_id=owner.tenant.id)
    assert sent.status_code == 302  # type: ignore[attr-defined]
    notice = {"kind": "number", "office_id": str(owner.tenant.id), "employee_code": "S001", "number": NUMBER}
    noticed = await client.post("/admin/notices/", data={"_csrf_token": await csrf_token(client), **notice})
    assert noticed.status_code in (200, 302), noticed.text[:800]
    client.cookies = httpx.Cookies()
    await sign_in(client, owner.admin)
    assert (await publish(client, title="入社連絡票")).status_code == 302
    # Then the case: the power the link has now, or no link of the principal's office.
    if case.power is not None:
        await db.execute(update(PartnerLink).where(PartnerLink.id == link.id).values(power=case.power))
    elif case.name == "ended":
        await db.execute(update(PartnerLink).where(PartnerLink.id == link.id).values(status=LinkStatus.ENDED))
    elif case.name == "unlinked":
        await db.execute(update(PartnerLink).where(PartnerLink.id == link.id).values(status=LinkStatus.ENDED))
        await make_link(db, world.other_tenant, office.tenant, LinkPower.NUMBERS)  # an office with other clients
    await db.commit()
    file_id = (await db.execute(select(ExchangeFile.id))).scalar_one()
    notice_id = (await db.execute(select(PartnerNotice.id))).scalar_one()
    document_id = (await db.execute(select(PartnerDocument.id))).scalar_one()
    ids = {
        "client_id": str(world.tenant.id),
        "file_id": str(file_id),
        "notice_id": str(notice_id),
        "document_id": str(document_id),
        "account_id": str(world.admin.account.id),  # a client's account is never an office's to manage
        "person_id": str(person.id),
    }
    return Arranged(office, ids)


def _shown(html: str) -> list[str]:
    """The secrets a page shows, a number grouped 4-4-4 in spans too."""
    text = html + re.sub(r"\s+", "", re.sub(r"<[^>]+>", "", html))
    return [secret for secret in SECRETS if secret in text]


FORMS = {
    "/box": {"employee_code": "S001"},
    "/save": {"save_as": "normal"},
    "/status": {"status": "done"},
    "/apply": {"employee_code": "S001"},  # the number field left empty: the notice's number
}


async def _call(client: AsyncTestClient[Litestar], method: str, path: str) -> httpx.Response:
    if method == "GET":
        return await client.get(path, follow_redirects=False)
    form = next((data for suffix, data in FORMS.items() if path.endswith(suffix)), {})
    data = {"_csrf_token": await csrf_token(client), **form}
    return await client.post(path, data=data, follow_redirects=False)


@pytest.mark.parametrize("role", [Role.PARTNER_STAFF, Role.PARTNER_ADMIN], ids=["staff", "admin"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_every_office_route_reaches_a_clients_rows_only_through_an_active_link_with_the_power(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    world: World,
    db: AsyncSession,
    settings: Settings,
    case: Case,
    role: Role,
) -> None:
    arranged = await _arrange(app, client, db, settings, world, case)
    persona = arranged.office.admin if role is Role.PARTNER_ADMIN else arranged.office.staff
    client.cookies = httpx.Cookies()
    await sign_in(client, persona)  # a fresh sign-in: step-up is fresh too (認証 answers at once)
    problems: list[str] = []
    linked = case.power is not None
    for method, template in sorted(office_routes(app), key=_order):
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: arranged.ids[m.group(1)], template)
        response = await _call(client, method, path)
        expected = MATRIX[(method, template)](case, role)
        if response.status_code not in expected:
            problems.append(f"{method} {template} -> {response.status_code} (expected {sorted(expected)})")
        shown = _shown(response.text)
        if shown and (not linked or (NUMBER in shown and case.power is not LinkPower.NUMBERS)):
            problems.append(f"{method} {template} shows {shown}")
    for listing in FILTERED:
        # Read again after the walk (which may have deleted the file): an ended link must list nothing either.
        response = await client.get(listing.format(client=arranged.ids["client_id"]))
        if response.status_code not in (200, 400) or (not linked and any(s in response.text for s in SECRETS)):
            problems.append(f"GET {listing} -> {response.status_code} shows the client's rows")
    for listing in CODED:
        response = await client.get(listing.format(code=world.tenant.code), follow_redirects=False)
        refused = response.status_code == 400 and UNKNOWN_CLIENT_CODE in response.text
        if not linked and (not refused or any(s in response.text for s in SECRETS)):
            problems.append(f"GET {listing} -> {response.status_code} for a client without an active link")
    assert problems == []
    # What only 番号の取扱い may do left its mark only then: the notice applied (the number replaced) and 認証 logged.
    numbers_only = {AuditAction.NOTICE_APPLY, AuditAction.REVEAL}
    done = {e.action for e in await entries(db, world.tenant.id) if e.actor_partner_id == arranged.office.tenant.id}
    assert (done & numbers_only == numbers_only) is (case.power is LinkPower.NUMBERS), done
    assert done & numbers_only in (set(), numbers_only), done


async def test_the_matrix_sees_the_clients_rows_through_an_active_link(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    """The matrix's 404s mean something: through the same arrangement with a 番号の取扱い link, the rows are shown."""
    arranged = await _arrange(app, client, db, settings, world, CASES[0])
    client.cookies = httpx.Cookies()
    await sign_in(client, arranged.office.staff)
    ids = arranged.ids
    assert FILE_NAME in (await client.get("/partner/files")).text
    assert FILE_NAME in (await client.get(f"/partner/files?client_id={ids['client_id']}")).text
    assert PERSON in (await client.get(f"/partner/notices/{ids['notice_id']}")).text
    revealed = await client.post(
        f"/partner/notices/{ids['notice_id']}/reveal", data={"_csrf_token": await csrf_token(client)}
    )
    assert revealed.status_code == 200 and _shown(revealed.text) == [PERSON, NUMBER]
    assert str(uuid.UUID(ids["file_id"])) in (await client.get("/partner/files")).text
