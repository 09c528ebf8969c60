"""連絡管理 in a real browser: a client's admin sends a 入社 notice with the new employee's My Number, the office's
staff member reveals it (the digits go when the countdown ends or on request), applies it to the records and the
client reads 登録完了 with the result; no number travels in a URL."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from playwright.sync_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role
from app.config import Settings
from app.vault import Vault
from partners.models import LinkPower
from tests.e2e.conftest import LiveServer, _open_page
from tests.e2e.seed import Login, fresh_numbers, seed, unique_code
from tests.e2e.steps import at_path, check_page, record_requests, sign_in
from tests.support.partners import make_link, make_office
from tests.support.world import make_persona, make_tenant


@dataclass(frozen=True)
class Notices:
    admin: Login
    staff: Login
    office_name: str
    client_name: str


def seed_notices(live_server: LiveServer) -> Notices:
    """A company with an admin, and an office with a staff member linked to it with 番号の取扱い."""

    async def work(session: AsyncSession, vault: Vault, settings: Settings) -> Notices:
        tenant = await make_tenant(session, vault, unique_code("e2e-ntc"), "イーツーイー連絡株式会社")
        admin = await make_persona(session, settings, vault, tenant, "admin", Role.ADMIN, name="岡 昌平")
        office = await make_office(session, settings, vault, code=unique_code("e2e-sr"), name="イーツーイー連絡事務所")
        await make_link(session, tenant, office.tenant, LinkPower.NUMBERS)
        staff = office.staff
        return Notices(
            admin=Login(tenant.code, admin.account.login_id, admin.password, admin.totp_secret),
            staff=Login(office.tenant.code, staff.account.login_id, staff.password, staff.totp_secret),
            office_name=office.tenant.name,
            client_name=tenant.name,
        )

    return seed(live_server, work)


def test_a_hire_notice_is_sent_revealed_and_applied(
    desktop_page: Page, browser: Browser, live_server: LiveServer
) -> None:
    page = desktop_page
    notices = seed_notices(live_server)
    (number,) = fresh_numbers(1)
    requests = record_requests(page)

    sign_in(page, notices.admin)
    expect(page).to_have_url(at_path("/admin"))
    page.get_by_role("navigation", name="メニュー").get_by_role("link", name="事務所への連絡").click()
    page.get_by_role("link", name="連絡を作成する").click()
    page.get_by_role("link", name="入社の連絡").click()
    page.get_by_label("社員コード").fill("E2001")
    page.get_by_label("氏名").fill("髙橋 𠮷子")
    page.get_by_label("フリガナ").fill("たかはし よしこ")
    page.get_by_label("生年月日").fill("H2.4.1")
    page.get_by_label("入社日").fill("2026/12/01")
    page.get_by_label("雇用形態").select_option(label="正社員")
    page.get_by_label("社会保険の資格取得").select_option(label="する")
    page.get_by_label("雇用保険の資格取得").select_option(label="する")
    page.get_by_label("マイナンバー").fill(number)
    check_page(page, "notices-1-new")
    page.get_by_role("button", name="送信する").click()
    expect(page.locator("h1")).to_have_text("入社の連絡")
    expect(page.locator("dl.summary")).to_contain_text("未処理")
    assert number not in page.content()

    office_page = contextlib.contextmanager(_open_page)
    with office_page(browser, live_server, viewport={"width": 1280, "height": 800}) as staff_page:
        _office_applies(staff_page, notices, number)

    page.reload()
    expect(page.locator("dl.summary")).to_contain_text("登録完了")
    expect(page.locator("main")).to_contain_text("代理登録しました")
    check_page(page, "notices-5-client-done")
    assert not [request for request in requests if number in request]


def _office_applies(page: Page, notices: Notices, number: str) -> None:
    requests = record_requests(page)
    sign_in(page, notices.staff)
    page.get_by_role("navigation", name="メニュー").get_by_role("link", name="連絡管理").click()
    row = page.locator("table.notices tbody tr").filter(has_text="髙橋 𠮷子")
    expect(row).to_contain_text(notices.client_name)
    expect(row).to_contain_text("未")
    check_page(page, "notices-2-office-list")
    row.get_by_role("link", name="表示").click()
    expect(page.locator("table.detail")).to_contain_text("＊＊＊＊ ＊＊＊＊ ＊＊＊＊")
    page.get_by_role("link", name="認証して表示").click()
    page.get_by_role("button", name="表示する").click()
    shown = page.locator("[data-number]")
    expect(shown).to_have_text(number)
    check_page(page, "notices-3-revealed")
    page.get_by_role("button", name="今すぐ隠す").click()
    expect(page.locator("[data-number]")).to_have_count(0)
    assert number not in page.content()
    page.get_by_role("link", name="連絡に戻る").click()
    page.get_by_label("住所").fill("東京都港区芝公園4-2-8")
    page.get_by_role("button", name="台帳に反映して保存").click()
    expect(page.locator(".flash-success")).to_contain_text("台帳に反映しました")
    expect(page.locator("dl.summary")).to_contain_text("登録済")
    check_page(page, "notices-4-applied")
    assert not [request for request in requests if number in request]
