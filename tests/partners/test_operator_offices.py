"""The operator's offices: edit, suspend (its staff signed out at once, inside clients too) and resume; the list
pages 50 at a time and searches by name or code."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.config import Settings
from app.db import utcnow
from app.tenancy import Tenant, TenantKind, TenantStatus
from partners.models import LinkPower
from partners.services import OFFICES_PER_PAGE
from tests.support.audit import entries
from tests.support.partners import make_link, make_office
from tests.support.world import World, post_form, second_device, sign_in


async def office_row(db: AsyncSession, office_id: object) -> Tenant:
    await db.commit()
    statement = select(Tenant).where(Tenant.id == office_id).execution_options(populate_existing=True)
    return (await db.execute(statement)).scalar_one()


async def test_the_operator_edits_an_office_and_a_bad_registration_number_is_explained(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await sign_in(client, world.operator)
    path = f"/operator/partners/{office.tenant.id}"
    page = await client.get(path)
    assert page.status_code == 200 and "13990001" in page.text
    bad = await post_form(client, path, {"name": "新しい事務所", "registration_number": "123"})
    assert bad.status_code == 400 and "8桁の数字" in bad.text  # type: ignore[attr-defined]
    form = {"name": "新 社労士事務所", "registration_number": "１３９９-０００２", "address": "東京都港区1-1"}
    assert (await post_form(client, path, form)).status_code == 302  # type: ignore[attr-defined]
    row = await office_row(db, office.tenant.id)
    assert (row.name, row.partner_registration_number, row.address) == ("新 社労士事務所", "13990002", "東京都港区1-1")
    logged = [e for e in await entries(db, office.tenant.id) if e.detail.get("event") == "partner_updated"]
    assert len(logged) == 1 and set(logged[0].detail["fields"]) >= {"name", "partner_registration_number"}
    # A company's id, a malformed one and a missing one are not offices.
    for other in (world.tenant.id, "not-an-id", "00000000-0000-0000-0000-000000000000"):
        assert (await client.get(f"/operator/partners/{other}")).status_code == 404


async def test_a_suspended_offices_staff_are_signed_out_at_once_and_cannot_sign_in_until_resumed(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.NUMBERS)
    staff_jar, admin_jar = httpx.Cookies(), httpx.Cookies()
    with second_device(client, staff_jar):
        await sign_in(client, office.staff)
        await post_form(client, f"/partner/clients/{world.tenant.id}/enter")
        assert (await client.get("/admin/people")).status_code == 200
    with second_device(client, admin_jar):
        await sign_in(client, office.admin)
        assert (await client.get("/partner")).status_code == 200
    await sign_in(client, world.operator)
    suspended = await post_form(client, f"/operator/partners/{office.tenant.id}/suspend")
    assert suspended.status_code == 302  # type: ignore[attr-defined]
    assert (await office_row(db, office.tenant.id)).status is TenantStatus.SUSPENDED
    with second_device(client, staff_jar):  # inside the client: out on the next request
        assert (await client.get("/admin/people", follow_redirects=False)).status_code in (302, 303)
    with second_device(client, admin_jar):
        assert (await client.get("/partner", follow_redirects=False)).status_code in (302, 303)
    with second_device(client, httpx.Cookies()):
        refused = await post_form(
            client,
            "/login",
            {"tenant_code": office.tenant.code, "login_id": "yamada", "password": office.staff.password},
        )
        assert refused.status_code not in (302, 303), refused.headers  # type: ignore[attr-defined]
    list_page = await client.get("/operator/partners")
    assert "停止" in list_page.text
    resumed = await post_form(client, f"/operator/partners/{office.tenant.id}/resume")
    assert resumed.status_code == 302  # type: ignore[attr-defined]
    assert (await office_row(db, office.tenant.id)).status is TenantStatus.ACTIVE
    with second_device(client, httpx.Cookies()):
        await sign_in(client, office.staff)
        assert (await client.get("/partner")).status_code == 200
    events = [e.detail.get("status") for e in await entries(db, office.tenant.id, AuditAction.SETTINGS_CHANGE)]
    assert events[-2:] == ["suspended", "active"]


async def test_only_the_operator_edits_or_suspends_offices(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await sign_in(client, world.admin)
    assert (await post_form(client, f"/operator/partners/{office.tenant.id}/suspend")).status_code == 403  # type: ignore[attr-defined]
    with second_device(client, httpx.Cookies()):
        await sign_in(client, office.admin)
        assert (await post_form(client, f"/operator/partners/{office.tenant.id}/suspend")).status_code == 404  # type: ignore[attr-defined]
        assert (await client.get(f"/operator/partners/{office.tenant.id}")).status_code == 404
    assert (await office_row(db, office.tenant.id)).status is TenantStatus.ACTIVE


async def test_the_office_list_pages_fifty_at_a_time_and_searches_by_name_or_code(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    start = utcnow()
    for index in range(OFFICES_PER_PAGE + 5):
        db.add(
            Tenant(
                code=f"sr-{index:03d}",
                name=f"事務所{index:03d}",
                kind=TenantKind.PARTNER,
                status=TenantStatus.ACTIVE,
                created_at=start + dt.timedelta(seconds=index),
                updated_at=start,
            )
        )
    await db.commit()
    await sign_in(client, world.operator)
    first = await client.get("/operator/partners")
    codes = re.findall(r">(sr-\d{3})</a>", first.text)
    assert len(codes) == OFFICES_PER_PAGE and codes[0] == f"sr-{OFFICES_PER_PAGE + 4:03d}"
    following = re.search(r'href="(/operator/partners\?[^"]+)" rel="next"', first.text)
    assert following, "no link to the next page"
    second = await client.get(following.group(1).replace("&amp;", "&"))
    rest = re.findall(r">(sr-\d{3})</a>", second.text)
    assert len(rest) == 5 and not set(rest) & set(codes)
    found = await client.get("/operator/partners", params={"q": "sr-007"})
    assert re.findall(r">(sr-\d{3})</a>", found.text) == ["sr-007"]
    by_name = await client.get("/operator/partners", params={"q": "事務所01"})
    assert len(re.findall(r">(sr-\d{3})</a>", by_name.text)) == 10
