"""Retirement ends access: the account follows the 退職日 (one source of truth), sessions end at once, reinstatement
signs the employee in again, a future 退職日 ends access on that day (JST), and every self-service write passes one
guard that reads the date itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account
from app.config import Settings
from app.db import utcnow
from app.vault import Vault
from selfservice.guards import RETIRED_MESSAGE
from tenants.models import CollectionStatus, Person
from tenants.services import JST, access_ends_at
from tests.selfservice.test_employee_flow import Me, fresh, linked_employee
from tests.support.people import give_number, make_dependant, valid_my_number
from tests.support.world import World, post_form, second_device, sign_in, step_up


def jst_today() -> dt.date:
    return utcnow().astimezone(JST).date()


async def account_of(db: AsyncSession, me: Me) -> Account:
    statement = (
        select(Account)
        .where(Account.tenant_id == me.person.tenant_id, Account.id == me.persona.account.id)
        .execution_options(populate_existing=True)
    )
    return (await db.execute(statement)).scalar_one()


_ADMIN_JARS: dict[int, httpx.Cookies] = {}


async def as_admin(client: AsyncTestClient[Litestar], world: World, path: str, data: dict[str, str]) -> httpx.Response:
    """Post as the tenant's admin from another browser (signed in once); the employee's cookies stay untouched."""
    jar = _ADMIN_JARS.setdefault(id(world), httpx.Cookies())
    with second_device(client, jar):
        if not jar:
            await sign_in(client, world.admin)
            await step_up(client, world.admin)
        response = await post_form(client, path, data)
    assert isinstance(response, httpx.Response)
    return response


def edit_form(person: Person, retirement_date: str) -> dict[str, str]:
    return {
        "employee_code": person.employee_code or "",
        "name": person.name,
        "kana": "ヤマダ タロウ",
        "birth_date": "1985-04-01",
        "department_id": str(person.department_id or ""),
        "hire_date": "2015-04-01",
        "retirement_date": retirement_date,
    }


async def signed_in(client: AsyncTestClient[Litestar]) -> bool:
    response = await client.get("/me", follow_redirects=False)
    return response.status_code == 200


@pytest.fixture
async def me(db: AsyncSession, settings: Settings, vault: Vault, world: World) -> Me:
    return await linked_employee(db, settings, vault, world, "1001", "山田 太郎")


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


async def test_retiring_an_employee_ends_their_sessions_and_their_sign_in_at_once(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    await sign_in(client, me.persona)
    assert await signed_in(client)
    response = await as_admin(client, world, f"/admin/people/{me.person.id}/retire", {"retirement_date": ""})
    assert response.status_code == 400  # the date is required
    today = jst_today().isoformat()
    response = await as_admin(client, world, f"/admin/people/{me.person.id}/retire", {"retirement_date": today})
    assert response.status_code in (302, 303), response.text[:300]
    account = await account_of(db, me)
    assert account.is_disabled
    assert not await signed_in(client)  # the open session ended at once
    refused = await post_form(
        client,
        "/login",
        {"tenant_code": world.tenant.code, "login_id": me.persona.account.login_id, "password": me.persona.password},
    )
    assert refused.status_code == 400  # type: ignore[attr-defined]
    add = await post_form(client, "/me/dependants/new", {"name": "山田 花子", "kana": "ヤマダ ハナコ"})
    assert add.status_code in (302, 303, 401) and "/login" in add.headers.get("location", "/login")  # type: ignore[attr-defined]


async def test_a_past_retirement_date_typed_on_the_edit_form_is_a_retirement(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    await sign_in(client, me.persona)
    yesterday = (jst_today() - dt.timedelta(days=1)).isoformat()
    response = await as_admin(client, world, f"/admin/people/{me.person.id}/edit", edit_form(me.person, yesterday))
    assert response.status_code in (302, 303), response.text[:500]
    assert (await account_of(db, me)).is_disabled
    assert not await signed_in(client)
    person = await fresh(db, me.person)
    assert person.is_retired and person.retired_at is not None
    listed = await _admin_get(client, world, "/admin/people?employment=retired")
    assert "山田 太郎" in listed


async def _admin_get(client: AsyncTestClient[Litestar], world: World, path: str) -> str:
    with second_device(client, _ADMIN_JARS.setdefault(id(world), httpx.Cookies())):
        response = await client.get(path)
    return response.text


async def test_reinstatement_re_enables_the_account(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    today = jst_today().isoformat()
    await as_admin(client, world, f"/admin/people/{me.person.id}/retire", {"retirement_date": today})
    assert (await account_of(db, me)).is_disabled
    response = await as_admin(client, world, f"/admin/people/{me.person.id}/reinstate", {})
    assert response.status_code in (302, 303)
    assert not (await account_of(db, me)).is_disabled
    await sign_in(client, me.persona)
    assert await signed_in(client)
    person = await fresh(db, me.person)
    assert person.retirement_date is None and person.retired_at is None


async def test_a_future_retirement_date_ends_access_on_that_day_in_japan(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    day = jst_today() + dt.timedelta(days=10)
    response = await as_admin(
        client, world, f"/admin/people/{me.person.id}/edit", edit_form(me.person, day.isoformat())
    )
    assert response.status_code in (302, 303), response.text[:500]
    account = await account_of(db, me)
    assert account.disabled_at == access_ends_at(day) == dt.datetime.combine(day, dt.time(0), JST)
    assert not account.is_disabled  # still in service until that day
    await sign_in(client, me.persona)
    assert await signed_in(client)
    person = await fresh(db, me.person)
    assert not person.is_retired and person.retirement_scheduled
    # The day comes (00:00 JST): simulated by moving the account's end and the 退職日 to today.
    await db.execute(
        update(Account)
        .where(Account.tenant_id == account.tenant_id, Account.id == account.id)
        .values(disabled_at=utcnow() - dt.timedelta(seconds=1))
    )
    await db.execute(
        update(Person)
        .where(Person.tenant_id == person.tenant_id, Person.id == person.id)
        .values(retirement_date=jst_today())
    )
    await db.commit()
    assert not await signed_in(client)  # the session ended without anyone acting
    refused = await post_form(
        client,
        "/login",
        {"tenant_code": world.tenant.code, "login_id": me.persona.account.login_id, "password": me.persona.password},
    )
    assert refused.status_code == 400  # type: ignore[attr-defined]


async def test_the_guard_checks_the_date_itself_on_every_self_service_write(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, world: World, me: Me
) -> None:
    """The 退職日 has come but the account flag was never set (e.g. a record changed outside the app): every POST
    under /me is refused by the one guard, and nothing changes."""
    dependant = await make_dependant(db, me.person, "山田 次郎")
    await give_number(db, vault, dependant, valid_my_number(3))
    await db.commit()
    await sign_in(client, me.persona)
    await db.execute(
        update(Person)
        .where(Person.tenant_id == me.person.tenant_id, Person.id == me.person.id)
        .values(retirement_date=jst_today())
    )
    await db.commit()
    home = await client.get("/me")
    assert home.status_code == 200 and "退職済み" in home.text  # reads pass and say why nothing can be done
    posts = sorted(
        route.path
        for route in app.routes
        if route.path.startswith("/me")
        for handler in getattr(route, "route_handlers", [])
        if "POST" in handler.http_methods
    )
    assert len(posts) >= 8, posts
    data = {
        "number": valid_my_number(9),
        "name": "山田 三郎",
        "kana": "ヤマダ サブロウ",
        "relationship": "子",
        "birth_date": "2015-01-01",
        "reason": "other",
        "note": "",
    }
    for path in posts:
        target = path.replace("{person_id:str}", str(dependant.id))
        response = await post_form(client, target, data)
        assert response.status_code == 403, (target, response.status_code)  # type: ignore[attr-defined]
        assert RETIRED_MESSAGE in response.text  # type: ignore[attr-defined]
    assert (await fresh(db, dependant)).status is CollectionStatus.PROXY_REGISTERED
    people = (await db.execute(select(Person).where(Person.employee_id == me.person.id))).scalars().all()
    assert len(people) == 1
    for form_page in ("/me/number", "/me/dependants/new", f"/me/dependants/{dependant.id}/edit"):
        response = await client.get(form_page, follow_redirects=False)
        assert response.status_code in (302, 303) and response.headers["location"] == "/me"


async def test_an_invitation_for_an_employee_leaving_later_carries_the_end_of_access(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    from tests.selfservice.test_invitations import invite_as_admin

    day = jst_today() + dt.timedelta(days=3)
    newcomer = await fresh(db, me.person)
    newcomer.retirement_date = day
    newcomer.employee_code = "2002"
    await db.execute(update(Account).where(Account.id == me.persona.account.id).values(person_id=None))
    await db.commit()
    await invite_as_admin(client, world, newcomer)
    account = (
        await db.execute(
            select(Account)
            .where(Account.tenant_id == newcomer.tenant_id, Account.person_id == newcomer.id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    assert account.disabled_at == access_ends_at(day)
