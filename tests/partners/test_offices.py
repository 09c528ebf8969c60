"""The operator creates a 社労士事務所 with its first admin; the office admin manages its staff accounts."""

from __future__ import annotations

import re

import httpx
import pyotp
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.models import Account, Role
from app.config import Settings
from app.tenancy import Tenant, TenantKind
from tests.support.audit import entries
from tests.support.partners import make_office
from tests.support.world import World, post_form, second_device, sign_in, step_up

OFFICE = {
    "code": "sr-kawai",
    "name": "河合社会保険労務士事務所",
    "registration_number": "１３９９０００２",
    "address": "兵庫県宝塚市",
    "admin_login_id": "kawai",
    "admin_name": "河合 康則",
}


def one_time_password(html: str) -> str:
    match = re.search(r'id="one-time-password">([^<]+)<', html)
    assert match, html[:500]
    return match.group(1)


async def first_sign_in(client: AsyncTestClient[Litestar], code: str, login_id: str, password: str) -> str:
    """Password change and TOTP enrolment, as for company admins; returns where the sign-in lands."""
    first = await post_form(client, "/login", {"tenant_code": code, "login_id": login_id, "password": password})
    assert first.headers["location"] == "/login/password"  # type: ignore[attr-defined]
    new_password = "jimusho no atarashii pasuwaado"
    changed = await post_form(client, "/login/password", {"password": new_password, "confirmation": new_password})
    assert changed.headers["location"] == "/login/enroll"  # type: ignore[attr-defined]
    page = await client.get("/login/enroll")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)
    assert secret
    enrolled = await post_form(client, "/login/enroll", {"code": pyotp.TOTP(secret.group(1)).now()})
    assert enrolled.status_code == 200  # type: ignore[attr-defined]
    landing = re.search(r'href="(/[^"]*)"[^>]*>[^<]*(?:続ける|次へ|進む)', enrolled.text)  # type: ignore[attr-defined]
    return landing.group(1) if landing else ""


async def test_the_operator_creates_an_office_whose_first_admin_enrols_totp(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.operator)
    shown = await post_form(client, "/operator/partners/", OFFICE)
    assert shown.status_code == 200, shown.text  # type: ignore[attr-defined]
    password = one_time_password(shown.text)  # type: ignore[attr-defined]
    office = (await db.execute(select(Tenant).where(Tenant.code == "sr-kawai"))).scalar_one()
    assert office.kind is TenantKind.PARTNER and office.partner_registration_number == "13990002"
    admin = (await db.execute(select(Account).where(Account.tenant_id == office.id))).scalar_one()
    assert admin.role is Role.PARTNER_ADMIN and admin.role.requires_totp
    operator_log = await entries(db, world.operator.tenant.id, AuditAction.SETTINGS_CHANGE)
    assert operator_log[-1].detail["tenant_id"] == str(office.id)
    assert (await entries(db, office.id, AuditAction.ACCOUNT_CHANGE))[-1].detail["login_id"] == "kawai"
    listing = await client.get("/operator/partners")
    assert "河合社会保険労務士事務所" in listing.text
    with second_device(client, httpx.Cookies()):
        await first_sign_in(client, "sr-kawai", "kawai", password)
        home = await client.get("/partner")
        assert home.status_code == 200 and "河合 康則" in home.text
        assert (await client.get("/admin", follow_redirects=False)).status_code == 404


async def test_a_wrong_registration_number_or_a_taken_code_is_explained_and_nothing_saved(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.operator)
    wrong = await post_form(client, "/operator/partners/", {**OFFICE, "registration_number": "1399"})
    assert wrong.status_code == 400 and "社労士登録番号は8桁の数字" in wrong.text  # type: ignore[attr-defined]
    taken = await post_form(client, "/operator/partners/", {**OFFICE, "code": "acme"})
    assert taken.status_code == 400 and "既に使われています" in taken.text  # type: ignore[attr-defined]
    no_admin = await post_form(client, "/operator/partners/", {**OFFICE, "admin_name": ""})
    assert no_admin.status_code == 400 and "管理者の氏名" in no_admin.text  # type: ignore[attr-defined]
    assert (await db.execute(select(Tenant).where(Tenant.code == "sr-kawai"))).scalar_one_or_none() is None


async def test_only_the_operator_creates_offices(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.admin)
    refused = await post_form(client, "/operator/partners/", OFFICE)
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert (await db.execute(select(Tenant).where(Tenant.code == "sr-kawai"))).scalar_one_or_none() is None


async def test_the_office_admin_creates_staff_who_must_enrol_totp(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await sign_in(client, office.admin)
    page = await client.get("/partner/staff")
    for column in ("ID", "名前", "有効状態", "最終ログイン日時", "変更", "削除"):
        assert f"<th>{column}</th>" in page.text
    shown = await post_form(
        client, "/partner/staff/", {"login_id": "suzuki", "name": "鈴木 一", "role": "partner_staff"}
    )
    assert shown.status_code == 200  # type: ignore[attr-defined]
    password = one_time_password(shown.text)  # type: ignore[attr-defined]
    wrong_role = await post_form(client, "/partner/staff/", {"login_id": "x", "name": "x", "role": "admin"})
    assert wrong_role.status_code == 400 and "権限を選択してください" in wrong_role.text  # type: ignore[attr-defined]
    with second_device(client, httpx.Cookies()):
        await first_sign_in(client, office.tenant.code, "suzuki", password)
        assert (await client.get("/partner")).status_code == 200
        assert (await client.get("/partner/staff", follow_redirects=False)).status_code == 404
    account = (await db.execute(select(Account).where(Account.login_id == "suzuki"))).scalar_one()
    assert account.totp_enabled and account.role is Role.PARTNER_STAFF
    logged = await entries(db, office.tenant.id, AuditAction.ACCOUNT_CHANGE)
    assert "staff_added" in [entry.detail["event"] for entry in logged]


async def test_staff_are_changed_disabled_and_deleted_but_never_the_last_admin(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    staff_id = office.staff.account.id
    await sign_in(client, office.admin)
    changed = await post_form(
        client, f"/partner/staff/{staff_id}/edit", {"name": "山田 花江", "email": "", "role": "partner_staff"}
    )
    assert changed.status_code == 302  # type: ignore[attr-defined]
    bad = await post_form(client, f"/partner/staff/{staff_id}/edit", {"name": "", "role": "partner_staff"})
    assert bad.status_code == 400 and "氏名" in bad.text  # type: ignore[attr-defined]
    own = await post_form(
        client, f"/partner/staff/{office.admin.account.id}/edit", {"name": "社労 太郎", "role": "partner_staff"}
    )
    assert own.status_code == 400  # type: ignore[attr-defined]
    assert (await post_form(client, f"/partner/staff/{staff_id}/disable")).status_code == 302  # type: ignore[attr-defined]
    await db.refresh(office.staff.account)
    assert office.staff.account.disabled_at is not None
    # Another company's (or office's) account id is not found.
    other = await post_form(client, f"/partner/staff/{world.admin.account.id}/disable")
    assert other.status_code == 404  # type: ignore[attr-defined]
    await step_up(client, office.admin)
    reset = await post_form(client, f"/partner/staff/{staff_id}/reset-password")
    assert reset.status_code == 200  # type: ignore[attr-defined]
    deleted = await post_form(client, f"/partner/staff/{staff_id}/delete")
    assert deleted.status_code == 302  # type: ignore[attr-defined]
    db.expunge_all()
    assert (await db.execute(select(Account).where(Account.id == staff_id))).scalar_one_or_none() is None
    self_delete = await post_form(client, f"/partner/staff/{office.admin.account.id}/delete")
    assert self_delete.status_code == 302  # type: ignore[attr-defined]
    assert (await db.execute(select(Account).where(Account.id == office.admin.account.id))).scalar_one()
    events = [e.detail["event"] for e in await entries(db, office.tenant.id, AuditAction.ACCOUNT_CHANGE)]
    assert {"staff_updated", "staff_disabled", "password_reset", "staff_deleted"} <= set(events)
