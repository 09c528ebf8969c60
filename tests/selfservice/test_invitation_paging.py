"""Invitations for a company of 500: server-side paging, a department filter, "select all on this page" and "all
matching the filter" — plain HTML forms, no JavaScript needed."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account, Role
from app.tenancy import Tenant
from tenants.models import Department, Person, PersonKind
from tests.selfservice.test_invitations import pdf_pages
from tests.support.world import World, csrf_token, sign_in, step_up

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def company(db: AsyncSession, world: World) -> dict[str, Department]:
    """500 employees: 380 in 営業部 (S), 120 in 総務部 (G); the company pays for 550 self-registration ids."""
    tenant = await db.get(Tenant, world.tenant.id)
    assert tenant is not None
    tenant.self_registration_packs = 100  # 50 + 5 × 100 (billing.contract: issuing beyond the packs is refused)
    sales = Department(tenant_id=world.tenant.id, code="S", name="営業部")
    general = Department(tenant_id=world.tenant.id, code="G", name="総務部")
    db.add_all([sales, general])
    await db.flush()
    for index in range(500):
        department = general if index % 25 < 6 else sales
        db.add(
            Person(
                tenant_id=world.tenant.id,
                kind=PersonKind.EMPLOYEE,
                employee_code=f"E{index:04d}",
                name=f"社員 {index:04d}",
                kana="シャイン",
                department_id=department.id,
            )
        )
    await db.commit()
    return {"sales": sales, "general": general}


def listed_codes(html: str) -> list[str]:
    return re.findall(r'<td class="mono">(E\d{4})</td>', html)


def checkboxes(html: str) -> int:
    return len(re.findall(r'type="checkbox" name="person_id"', html))


async def accounts(db: AsyncSession, world: World) -> int:
    statement = (
        select(func.count())
        .select_from(Account)
        .where(Account.tenant_id == world.tenant.id, Account.role == Role.EMPLOYEE, Account.person_id.is_not(None))
    )
    return int((await db.execute(statement)).scalar_one())


async def issue(client: Client, data: dict[str, Any]) -> httpx.Response:
    payload = {"_csrf_token": await csrf_token(client), **data}
    return await client.post("/admin/invitations", data=payload, follow_redirects=False)


async def test_five_hundred_employees_are_paged_fifty_at_a_time(
    client: Client, world: World, company: dict[str, Department]
) -> None:
    await sign_in(client, world.admin)
    first = await client.get("/admin/invitations")
    assert first.status_code == 200
    assert listed_codes(first.text) == [f"E{i:04d}" for i in range(50)]
    assert checkboxes(first.text) == 50 and "500 名" in first.text
    assert 'href="/admin/invitations?page=10"' in first.text
    last = await client.get("/admin/invitations", params={"page": "10"})
    assert listed_codes(last.text) == [f"E{i:04d}" for i in range(450, 500)]
    beyond = await client.get("/admin/invitations", params={"page": "999"})
    assert listed_codes(beyond.text) == listed_codes(last.text)
    assert "<script" not in first.text.replace('<script src="/static/copy.js" defer></script>', "")


async def test_the_department_filter_narrows_the_list_and_keeps_it_in_the_pager(
    client: Client, world: World, company: dict[str, Department]
) -> None:
    await sign_in(client, world.admin)
    general = company["general"]
    response = await client.get("/admin/invitations", params={"department": str(general.id)})
    assert "120 名" in response.text and len(listed_codes(response.text)) == 50
    assert f'href="/admin/invitations?department={general.id}&amp;page=3"' in response.text
    assert all(int(code[1:]) % 25 < 6 for code in listed_codes(response.text))
    assert f'name="department" value="{general.id}"' in response.text  # the issuing form carries the filter


async def test_select_all_on_this_page_issues_the_fifty_shown(
    client: Client, db: AsyncSession, world: World, company: dict[str, Department]
) -> None:
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    response = await issue(client, {"scope": "page", "page": "2"})
    assert response.status_code == 200, response.text[:500]
    pages = pdf_pages(response.content)
    assert len(pages) == 50 and "E0050" in pages[0] and "E0099" in pages[-1]
    assert await accounts(db, world) == 50
    again = await client.get("/admin/invitations", params={"page": "2"})
    assert "このページの未招待・期限切れの全員（0 名）" in again.text  # an account in use is never reset in bulk


async def test_all_matching_the_filter_issues_every_page_of_it(
    client: Client, db: AsyncSession, world: World, company: dict[str, Department]
) -> None:
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    general = company["general"]
    page = await client.get("/admin/invitations", params={"department": str(general.id)})
    assert "条件に合う未招待・期限切れの全員（120 名）" in page.text
    response = await issue(client, {"scope": "filter", "department": str(general.id)})
    assert response.status_code == 200, response.text[:500]
    assert len(pdf_pages(response.content)) == 120
    assert await accounts(db, world) == 120
    none_left = await issue(client, {"scope": "filter", "department": str(general.id)})
    assert none_left.status_code == 400 and "条件に合う未招待・期限切れの従業員はいません" in none_left.text
    assert await accounts(db, world) == 120


async def test_ticked_boxes_still_issue_only_those(
    client: Client, db: AsyncSession, world: World, company: dict[str, Department]
) -> None:
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    people = (
        (await db.execute(select(Person).where(Person.tenant_id == world.tenant.id).order_by(Person.employee_code)))
        .scalars()
        .all()
    )
    response = await issue(client, {"scope": "selected", "person_id": [str(people[0].id), str(people[499].id)]})
    assert response.status_code == 200
    assert len(pdf_pages(response.content)) == 2 and await accounts(db, world) == 2
