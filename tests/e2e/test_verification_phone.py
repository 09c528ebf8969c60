"""本人確認オプション on a 360 px phone: the employee photographs the card through the file chooser, an admin
approves, and the employee sees the result."""

from __future__ import annotations

import io
import uuid

from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account, Role
from app.auth.passwords import hasher_from_settings
from app.auth.principal import Principal
from app.blobs import blob_store_from_settings
from app.config import Settings
from app.db import utcnow
from app.tenancy import TenantKind
from app.vault import Vault
from tenants.services._records import Channel, register_number
from tests.e2e.conftest import LiveServer
from tests.e2e.seed import ADMIN, PASSWORD, Login, fresh_numbers, seed, unique_code
from tests.e2e.steps import at_path, check_page, sign_in
from tests.support.people import make_employee
from tests.support.world import make_persona, make_tenant
from verification import services
from verification.models import Verification


def photo(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1200, 760), color).save(out, "JPEG")
    return out.getvalue()


def seed_verifying_employee(live_server: LiveServer) -> tuple[Login, uuid.UUID, Login]:
    """A company with the option on, an employee with a registered number and the notice read, and an admin."""

    async def work(session: AsyncSession, vault: Vault, settings: Settings) -> tuple[Login, uuid.UUID, Login]:
        tenant = await make_tenant(session, vault, unique_code("e2e-ver"), "イーツーイー確認株式会社")
        tenant.verification_enabled = True
        person = await make_employee(session, tenant.id, "001", "山田 花子", kana="ヤマダ ハナコ")
        person.notice_acknowledged_at = utcnow()
        [number] = fresh_numbers(1)
        await register_number(session, vault, actor=ADMIN, person=person, number=number, channel=Channel.SELF)
        account = Account(
            tenant_id=tenant.id,
            login_id="emp001",
            name=person.name,
            role=Role.EMPLOYEE,
            person_id=person.id,
            password_hash=hasher_from_settings(settings).hash(PASSWORD),
            must_change_password=False,
        )
        session.add(account)
        admin = await make_persona(session, settings, vault, tenant, "admin", Role.ADMIN, name="岡 昌平")
        await session.flush()
        admin_login = Login(tenant.code, "admin", admin.password, admin.totp_secret)
        return Login(tenant.code, account.login_id), person.id, admin_login

    return seed(live_server, work)


def approve_as_admin(live_server: LiveServer, person_id: uuid.UUID) -> None:
    async def work(session: AsyncSession, vault: Vault, settings: Settings) -> None:
        verification = (
            await session.execute(select(Verification).where(Verification.person_id == person_id))
        ).scalar_one()
        admin = Principal(
            account_id=uuid.uuid4(),
            tenant_id=verification.tenant_id,
            tenant_code="",
            tenant_name="イーツーイー確認株式会社",
            tenant_kind=TenantKind.COMPANY,
            login_id="admin",
            name="岡 昌平",
            role=Role.ADMIN,
            totp_enabled=True,
            person_id=None,
            stepup_fresh=False,
        )
        store = blob_store_from_settings(settings)
        await services.approve_verification(session, vault, store, admin, verification, keep_days=0)

    seed(live_server, work)


def test_an_employee_uploads_the_card_from_a_phone_and_sees_the_approval(
    phone_page: Page, live_server: LiveServer
) -> None:
    page = phone_page
    login, person_id, _ = seed_verifying_employee(live_server)
    sign_in(page, login)
    expect(page).to_have_url(at_path("/me"))
    page.get_by_role("link", name="本人確認書類を提出する").click()
    expect(page).to_have_url(at_path("/me/verification"))
    expect(page.get_by_text("個人番号通知書」").first).to_be_visible()
    check_page(page, "verification-1-choose")
    page.get_by_label("個人番号カード（マイナンバーカード）").check()
    page.get_by_role("button", name="次へ（撮影する）").click()

    front = page.get_by_label("カメラで撮影").nth(0)  # the front from the camera, the back from the photo library
    back = page.get_by_label("写真・ファイルを選ぶ").nth(1)
    assert front.get_attribute("capture") == "environment" and front.get_attribute("accept") == "image/*"
    assert back.get_attribute("capture") is None and back.get_attribute("accept") == "image/*"
    check_page(page, "verification-2-upload")
    front.set_input_files(files=[{"name": "front.jpg", "mimeType": "image/jpeg", "buffer": photo("red")}])
    back.set_input_files(files=[{"name": "back.jpg", "mimeType": "image/jpeg", "buffer": photo("blue")}])
    page.get_by_role("button", name="提出する").click()

    expect(page).to_have_url(at_path("/me/verification"))
    expect(page.locator("#verification-status")).to_have_text("審査中")
    check_page(page, "verification-3-pending")

    approve_as_admin(live_server, person_id)
    page.reload()
    expect(page.locator("#verification-status")).to_have_text("承認")
    expect(page.get_by_text("本人確認が完了しました")).to_be_visible()
    check_page(page, "verification-4-approved")


def test_an_admin_reviews_the_images_side_by_side_and_the_employee_sees_the_rejection_reason(
    phone_page: Page, desktop_page: Page, live_server: LiveServer
) -> None:
    login, _, admin_login = seed_verifying_employee(live_server)
    phone = phone_page
    sign_in(phone, login)
    phone.goto("/me/verification/upload?number_document=mynumber_card")
    files = phone.get_by_label("カメラで撮影")
    files.nth(0).set_input_files(files=[{"name": "f.jpg", "mimeType": "image/jpeg", "buffer": photo("red")}])
    files.nth(1).set_input_files(files=[{"name": "b.jpg", "mimeType": "image/jpeg", "buffer": photo("blue")}])
    phone.get_by_role("button", name="提出する").click()
    expect(phone.locator("#verification-status")).to_have_text("審査中")

    admin = desktop_page
    sign_in(admin, admin_login)
    admin.goto("/admin/verifications")
    check_page(admin, "verification-admin-1-queue")
    admin.get_by_role("link", name="確認する").click()
    images = admin.locator(".verification-images img")
    expect(images).to_have_count(2)
    for n in range(2):
        expect(images.nth(n)).to_have_js_property("complete", True)
        assert images.nth(n).evaluate("img => img.naturalWidth") > 0  # decrypted and served by the review route
    check_page(admin, "verification-admin-2-review")
    admin.get_by_label("差戻しの理由").select_option(label="光の反射で文字が読み取れません")
    admin.get_by_label("コメント（従業員に表示されます。番号は書かないでください）").fill("窓から離れて撮ってください")
    admin.get_by_role("button", name="差し戻す").click()
    expect(admin.locator(".flash-success")).to_contain_text("差し戻しました")

    phone.reload()
    expect(phone.locator("#verification-status")).to_have_text("差戻し")
    expect(phone.locator("#verification-reason")).to_have_text("光の反射で文字が読み取れません")
    expect(phone.get_by_text("窓から離れて撮ってください")).to_be_visible()
    check_page(phone, "verification-5-rejected")
