"""GET pages change nothing (TOTP enrolment), recovery codes are stored salted, and the QR sign-in page stays
the page an employee uses."""

from __future__ import annotations

import hashlib
import re

import pyotp
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account, RecoveryCode, Role
from app.auth.services import replace_recovery_codes
from app.auth.totp import hash_recovery_code, normalize_recovery_code, recovery_code_salt
from app.config import Settings
from tests.support.world import PASSWORD, World, make_persona, post_form, sign_in, step_up


async def totp_columns(db: AsyncSession, account: Account) -> tuple[object, object]:
    query = select(Account.totp_secret_sealed, Account.totp_enabled_at).where(
        Account.tenant_id == account.tenant_id, Account.id == account.id
    )
    row = (await db.execute(query)).one()
    return row[0], row[1]


def shown_secret(html: str) -> str:
    match = re.search(r'id="totp-secret">([A-Z2-7]+)<', html)
    assert match, "no secret on the page"
    return match.group(1)


async def test_the_account_totp_page_writes_nothing_until_a_code_confirms_it(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.viewer)
    await step_up(client, world.viewer, "/account/totp")
    first = await client.get("/account/totp")
    again = await client.get("/account/totp")
    assert first.status_code == again.status_code == 200
    assert shown_secret(first.text) == shown_secret(again.text)
    assert await totp_columns(db, world.viewer.account) == (None, None)
    code = pyotp.TOTP(shown_secret(again.text)).now()
    response = await post_form(client, "/account/totp", {"code": code})
    assert response.status_code == 200  # type: ignore[attr-defined]
    sealed, enabled = await totp_columns(db, world.viewer.account)
    assert sealed is not None and enabled is not None


async def test_the_sign_in_enrolment_page_writes_nothing_until_a_code_confirms_it(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    newcomer = await make_persona(db, settings, app.state["vault"], world.tenant, "newadmin", Role.ADMIN, totp=False)
    await db.commit()
    response = await post_form(client, "/login", {"tenant_code": "acme", "login_id": "newadmin", "password": PASSWORD})
    assert response.headers["location"] == "/login/enroll"  # type: ignore[attr-defined]
    page = await client.get("/login/enroll")
    await client.get("/login/enroll")
    assert await totp_columns(db, newcomer.account) == (None, None)
    done = await post_form(client, "/login/enroll", {"code": pyotp.TOTP(shown_secret(page.text)).now()})
    assert done.status_code == 200 and "リカバリー" in done.text  # type: ignore[attr-defined]
    sealed, enabled = await totp_columns(db, newcomer.account)
    assert sealed is not None and enabled is not None


async def test_a_cross_site_get_cannot_reset_an_enrolment_under_way(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await sign_in(client, world.viewer)
    await step_up(client, world.viewer, "/account/totp")
    secret = shown_secret((await client.get("/account/totp")).text)
    for _ in range(3):
        await client.get("/account/totp")
    response = await post_form(client, "/account/totp", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200  # type: ignore[attr-defined]


async def test_recovery_codes_are_stored_salted_per_account(world: World, db: AsyncSession) -> None:
    first = await db.get(Account, (world.admin.tenant.id, world.admin.account.id))
    second = await db.get(Account, (world.handler.tenant.id, world.handler.account.id))
    assert first is not None and second is not None
    codes = await replace_recovery_codes(db, first)
    await db.commit()
    stored = set(
        (await db.execute(select(RecoveryCode.code_hash).where(RecoveryCode.account_id == first.id))).scalars()
    )
    unsalted = {hashlib.sha256(normalize_recovery_code(c).encode()).hexdigest() for c in codes}
    assert stored.isdisjoint(unsalted)
    assert stored == {hash_recovery_code(c, salt=recovery_code_salt(first.tenant_id, first.id)) for c in codes}
    other_salt = recovery_code_salt(second.tenant_id, second.id)
    assert stored.isdisjoint({hash_recovery_code(c, salt=other_salt) for c in codes})


async def test_the_qr_sign_in_page_stays_after_a_wrong_password(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    page = await client.get("/t/acme/login")
    assert 'name="fixed_code" value="1"' in page.text
    response = await post_form(
        client, "/login", {"tenant_code": "acme", "login_id": "emp001", "password": "wrong!!", "fixed_code": "1"}
    )
    assert response.status_code == 400  # type: ignore[attr-defined]
    html = response.text  # type: ignore[attr-defined]
    assert '事業者コード: <span class="mono">acme</span>' in html
    assert 'id="f-tenant_code"' not in html
    assert 'name="fixed_code" value="1"' in html


async def test_the_plain_sign_in_page_stays_plain_after_a_wrong_password(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    response = await post_form(client, "/login", {"tenant_code": "acme", "login_id": "emp001", "password": "wrong!!"})
    assert 'id="f-tenant_code"' in response.text  # type: ignore[attr-defined]


async def test_an_employee_signs_out_to_the_qr_sign_in_page(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.employee)
    response = await post_form(client, "/logout")
    assert response.headers["location"] == "/t/acme/login"  # type: ignore[attr-defined]
    await sign_in(client, world.viewer)
    response = await post_form(client, "/logout")
    assert response.headers["location"] == "/login"  # type: ignore[attr-defined]
