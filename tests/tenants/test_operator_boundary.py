"""The operator never reaches a number — by any path.

Found: the operator raised a tenant's seats, created an admin, read its one-time password, signed in as it and
revealed numbers, and the tenant's log showed nothing. Now the operator creates an admin only while the tenant has
no active admin (first setup, or a recovery the tenant requested and the operator recorded), the act is written to
the tenant's own log and shown on its admins' home page, seat changes are in both logs, and a walk over every
operator route finds no way to a number.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.audit.models import AuditEntry
from app.auth.models import Account, Role
from app.config import Settings
from app.db import utcnow
from app.vault import Vault
from billing.controllers import CSV_FUNCTION as BILLING_CSV_FUNCTION
from tenants.services import OPERATOR_ADMIN_FUNCTION, SEATS_FUNCTION
from tests.support.audit import entries
from tests.support.cards import hides
from tests.support.people import give_number, make_employee, make_payee, valid_my_number
from tests.support.world import World, post_form, second_device, sign_in
from tests.tenants.test_operator_console import VALID_TENANT


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


@pytest.fixture
async def numbers(db: AsyncSession, vault: Vault, world: World) -> list[str]:
    """Numbers the tenant (acme) holds: two employees and a payee."""
    held = []
    for seed, code in ((1, "E1"), (2, "E2")):
        person = await make_employee(db, world.tenant.id, code, f"社員 {code}")
        number = valid_my_number(seed)
        await give_number(db, vault, person, number)
        held.append(number)
    payee = await make_payee(db, world.tenant.id, "講師 一郎")
    number = valid_my_number(7)
    await give_number(db, vault, payee, number)
    held.append(number)
    await db.commit()
    return held


async def admin_accounts(db: AsyncSession, tenant_id: object) -> int:
    statement = (
        select(func.count()).select_from(Account).where(Account.tenant_id == tenant_id, Account.role == Role.ADMIN)
    )
    return int((await db.execute(statement)).scalar_one())


def tenant_form(**changes: str) -> dict[str, str]:
    return {**VALID_TENANT, "code": "acme", "name": "アクメ商事株式会社", "status": "active", **changes}


async def test_the_operator_cannot_create_an_admin_while_the_tenant_has_an_active_one(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.operator)
    raised = await post_form(client, f"/operator/tenants/{world.tenant.id}/edit", tenant_form(admin_seats="50"))
    assert raised.status_code == 302, raised.text[:500]  # type: ignore[attr-defined]
    before = await admin_accounts(db, world.tenant.id)
    page = await client.get(f"/operator/tenants/{world.tenant.id}")
    assert "有効な管理者が 1 名います" in page.text and f"/operator/tenants/{world.tenant.id}/admins" not in page.text
    refused = await post_form(
        client,
        f"/operator/tenants/{world.tenant.id}/admins",
        {"login_id": "intruder", "name": "運営 太郎", "recovery_request": "代表者から電話で依頼"},
    )
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "有効な管理者がいるため、運営者は管理者を登録できません" in refused.text  # type: ignore[attr-defined]
    assert 'id="one-time-password"' not in refused.text  # type: ignore[attr-defined]
    assert await admin_accounts(db, world.tenant.id) == before


async def test_a_first_admin_made_by_the_operator_is_in_the_tenants_log_and_on_its_home_page(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.operator)
    created = await post_form(client, "/operator/tenants/new", VALID_TENANT)
    path = created.headers["location"]  # type: ignore[attr-defined]
    shown = await post_form(client, f"{path}/admins", {"login_id": "boss", "name": "社長 一郎"})
    assert shown.status_code == 200 and 'id="one-time-password"' in shown.text  # type: ignore[attr-defined]
    tenant_id = path.rsplit("/", 1)[1]
    logged = [e for e in await entries(db, __import__("uuid").UUID(tenant_id)) if e.function == OPERATOR_ADMIN_FUNCTION]
    assert len(logged) == 1
    assert logged[0].actor_role == Role.OPERATOR.label and logged[0].action == AuditAction.ACCOUNT_CHANGE
    assert logged[0].detail["login_id"] == "boss" and logged[0].detail["reason"] == "first_setup"
    again = await post_form(client, f"{path}/admins", {"login_id": "boss2", "name": "社長 二郎"})
    assert again.status_code == 400  # type: ignore[attr-defined]  # the tenant has an active admin now


async def test_a_recovery_needs_the_tenants_request_and_its_admins_see_it(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await db.execute(
        update(Account)
        .where(Account.tenant_id == world.tenant.id, Account.role == Role.ADMIN)
        .values(disabled_at=utcnow())
    )
    await db.commit()
    world.tenant.admin_seats = 5
    await db.commit()
    await sign_in(client, world.operator)
    page = await client.get(f"/operator/tenants/{world.tenant.id}")
    assert "復旧依頼の内容" in page.text
    path = f"/operator/tenants/{world.tenant.id}/admins"
    missing = await post_form(client, path, {"login_id": "rescue", "name": "復旧 花子"})
    assert missing.status_code == 400  # type: ignore[attr-defined]
    assert "事業者からの依頼が必要です" in missing.text  # type: ignore[attr-defined]
    request_text = "代表者 河合 康則 様より書面で依頼 11月30日受付"
    shown = await post_form(client, path, {"login_id": "rescue", "name": "復旧 花子", "recovery_request": request_text})
    assert shown.status_code == 200, shown.text[:500]  # type: ignore[attr-defined]
    password = re.search(r'id="one-time-password">([^<]+)<', shown.text)  # type: ignore[attr-defined]
    assert password
    logged = [e for e in await entries(db, world.tenant.id) if e.function == OPERATOR_ADMIN_FUNCTION]
    assert [e.detail["reason"] for e in logged] == ["recovery"] and logged[0].detail["request"] == request_text
    # An admin of the tenant (re-enabled here) sees it on the home page.
    await db.execute(
        update(Account)
        .where(Account.tenant_id == world.tenant.id, Account.id == world.admin.account.id)
        .values(disabled_at=None)
    )
    await db.commit()
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.admin)
        home = await client.get("/admin")
    assert "運営者による操作" in home.text and "rescue" in home.text and request_text in home.text


async def test_seat_changes_are_written_to_the_operators_and_the_tenants_logs(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.operator)
    response = await post_form(client, f"/operator/tenants/{world.tenant.id}/edit", tenant_form(admin_seats="9"))
    assert response.status_code == 302  # type: ignore[attr-defined]
    in_tenant = [e for e in await entries(db, world.tenant.id) if e.function == SEATS_FUNCTION]
    in_operator = [e for e in await entries(db, world.operator.tenant.id) if e.function == SEATS_FUNCTION]
    assert [e.detail["to"] for e in in_tenant] == [9] and [e.detail["to"] for e in in_operator] == [9]
    assert in_tenant[0].detail["from"] == 2 and in_tenant[0].actor_role == Role.OPERATOR.label
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.admin)
        home = await client.get("/admin")
    assert SEATS_FUNCTION in home.text and "2 → 9" in home.text


def _payload(world: World) -> dict[str, str]:
    """Every field any operator form takes, with values that would create an admin and raise seats."""
    return {
        **tenant_form(admin_seats="99"),
        "login_id": "intruder",
        "name": "アクメ商事株式会社",
        "email": "intruder@example.com",
        "role": "admin",
        "recovery_request": "代表者から電話で依頼",
        "q": "",
    }


async def test_every_operator_route_is_walked_and_none_leads_to_a_number(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, numbers: list[str]
) -> None:
    operator_routes = []
    for route in app.routes:
        if not route.path.startswith("/operator"):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods):
                operator_routes.append((method, route.path))
    assert len(operator_routes) >= 8, operator_routes
    known_parameters = {
        "{tenant_id:str}": str(world.tenant.id),
        "{month:str}": "2026-11",  # billing: a month's invoices and its CSV
        "{file_name:str}": f"{uuid.uuid4()}.pdf",  # billing: an invoice's PDF (none with this id: 404)
        "{invoice_id:str}": str(uuid.uuid4()),  # billing: an invoice's correction (none with this id: 404)
        "{office_id:str}": str(uuid.uuid4()),  # partners: an office's edit and suspension (none with this id: 404)
    }
    admins_before = await admin_accounts(db, world.tenant.id)
    await sign_in(client, world.operator)
    masks = ["*" * 10 + number[-2:] for number in numbers]
    for method, template in operator_routes:
        path = template
        for parameter, value in known_parameters.items():
            path = path.replace(parameter, value)
        assert "{" not in path, f"a new operator route parameter must be added to this walk: {template}"
        if method in ("GET", "HEAD"):
            response = await client.request(method, path, follow_redirects=False)
        else:
            response = await post_form(client, path, _payload(world))  # type: ignore[assignment]
        assert response.status_code < 500, (method, template, response.status_code)
        body = response.text
        compact = re.sub(r"<[^>]+>|[\s\-]", "", body)  # a 4-4-4 card splits the digits over spans
        for number, mask in zip(numbers, masks, strict=True):
            assert number not in compact, (method, template)
            assert mask not in body, (method, template)
        assert 'id="one-time-password"' not in body, (method, template)
    # The tenant still had an active admin the whole time: no admin was created, nothing was revealed anywhere.
    assert await admin_accounts(db, world.tenant.id) == admins_before
    revealed = await db.execute(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action.in_([AuditAction.REVEAL, AuditAction.VIEW, AuditAction.CSV_EXPORT]))
        .where(AuditEntry.function != BILLING_CSV_FUNCTION)  # the invoices' accounting CSV: amounts, no numbers
    )
    assert revealed.scalar_one() == 0
    # And outside /operator, every page that lists or shows numbers refuses the operator.
    for route in app.routes:
        path = route.path
        if path.startswith("/operator") or not any(w in path for w in ("number", "reveal", "people", "payee", "/me")):
            continue
        for handler in getattr(route, "route_handlers", []):
            if "GET" not in handler.http_methods:
                continue
            concrete = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
            response = await client.get(concrete, follow_redirects=False)
            assert response.status_code in (302, 303, 401, 403, 404), (path, response.status_code)
            for number, mask in zip(numbers, masks, strict=True):
                assert hides(response.text, number) and mask not in response.text, path


async def test_a_first_admin_whose_one_time_password_expired_unused_can_be_replaced_on_request(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    import datetime as dt

    await sign_in(client, world.operator)
    created = await post_form(client, "/operator/tenants/new", VALID_TENANT)
    path = created.headers["location"]  # type: ignore[attr-defined]
    await post_form(client, f"{path}/admins", {"login_id": "boss", "name": "社長 一郎"})
    await db.execute(
        update(Account).where(Account.login_id == "boss").values(password_expires_at=utcnow() - dt.timedelta(days=1))
    )
    await db.commit()
    without = await post_form(client, f"{path}/admins", {"login_id": "boss2", "name": "社長 一郎"})
    assert without.status_code == 400  # type: ignore[attr-defined]  # a replacement is a recovery: it needs the request
    shown = await post_form(
        client, f"{path}/admins", {"login_id": "boss2", "name": "社長 一郎", "recovery_request": "代表者より電話で依頼"}
    )
    assert shown.status_code == 200 and 'id="one-time-password"' in shown.text  # type: ignore[attr-defined]
