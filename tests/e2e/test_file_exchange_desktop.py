"""The file exchange in a real browser: a client's admin sends a file with a Japanese name, the office's staff member
sees the badge and the notice, downloads it, and the client then sees 閲覧済."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role
from app.config import Settings
from app.vault import Vault
from partners.models import LinkPower
from tests.e2e.conftest import LiveServer, _open_page
from tests.e2e.seed import Login, seed, unique_code
from tests.e2e.steps import at_path, check_page, sign_in
from tests.support.partners import make_link, make_office
from tests.support.world import make_persona, make_tenant

FILE_NAME = "入社連絡票_山田.pdf"
CONTENT = b"%PDF-1.4\n% e2e exchange\n%%EOF\n"


@dataclass(frozen=True)
class Exchange:
    admin: Login
    staff: Login
    office_name: str
    client_name: str


def seed_exchange(live_server: LiveServer) -> Exchange:
    """A company with an admin, and an office with a staff member linked to it (ファイル・連絡のみ)."""

    async def work(session: AsyncSession, vault: Vault, settings: Settings) -> Exchange:
        tenant = await make_tenant(session, vault, unique_code("e2e-xch"), "イーツーイー交換株式会社")
        admin = await make_persona(session, settings, vault, tenant, "admin", Role.ADMIN, name="岡 昌平")
        office = await make_office(
            session, settings, vault, code=unique_code("e2e-sr"), name="イーツーイー社労士事務所"
        )
        await make_link(session, tenant, office.tenant, LinkPower.FILES)
        staff = office.staff
        return Exchange(
            admin=Login(tenant.code, admin.account.login_id, admin.password, admin.totp_secret),
            staff=Login(office.tenant.code, staff.account.login_id, staff.password, staff.totp_secret),
            office_name=office.tenant.name,
            client_name=tenant.name,
        )

    return seed(live_server, work)


def test_a_client_sends_a_file_and_the_office_downloads_it(
    desktop_page: Page, browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    page = desktop_page
    exchange = seed_exchange(live_server)

    sign_in(page, exchange.admin)
    expect(page).to_have_url(at_path("/admin"))
    page.get_by_role("navigation", name="メニュー").get_by_role("link", name="ファイル交換").click()
    expect(page).to_have_url(at_path("/admin/files"))
    page.get_by_role("link", name="ファイルを送信する").click()
    page.get_by_label("送信先の社労士事務所").select_option(label=exchange.office_name)
    page.get_by_label("ファイル").set_input_files({"name": FILE_NAME, "mimeType": "application/pdf", "buffer": CONTENT})
    page.get_by_label("メッセージ").fill("今月の入社分です。")
    check_page(page, "exchange-1-send")
    page.get_by_role("button", name="送信する").click()
    expect(page).to_have_url(at_path("/admin/files"))
    row = page.locator("table.files tbody tr").filter(has_text=FILE_NAME)
    expect(row).to_contain_text("送信")
    expect(row).to_contain_text("未読")

    # The office's staff member on a desktop of their own (the admin stays signed in: a TOTP code is used once).
    office_page = contextlib.contextmanager(_open_page)
    with office_page(browser, live_server, viewport={"width": 1280, "height": 800}) as staff_page:
        _office_downloads(staff_page, exchange, tmp_path)

    page.goto("/admin/files")
    row = page.locator("table.files tbody tr").filter(has_text=FILE_NAME)
    expect(row).to_contain_text("閲覧済")
    check_page(page, "exchange-3-read")


def _office_downloads(page: Page, exchange: Exchange, tmp_path: Path) -> None:
    """The staff member sees the notice and the badge, opens the file's page and downloads it."""
    sign_in(page, exchange.staff)
    expect(page).to_have_url(at_path("/partner"))
    expect(page.locator(".file-notice")).to_contain_text("新しいファイルが 1 件届いています")
    badge = page.get_by_role("navigation", name="メニュー").locator("[data-unread]")
    expect(badge).to_have_text("1")
    check_page(page, "exchange-2-office-home")
    page.locator(".file-notice").get_by_role("link").click()
    row = page.locator("table.files tbody tr").filter(has_text=FILE_NAME)
    expect(row).to_contain_text(exchange.client_name)
    row.get_by_role("link", name="表示").click()
    expect(page.locator(".message")).to_have_text("今月の入社分です。")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="ダウンロード").click()
    download = download_info.value
    assert download.suggested_filename == FILE_NAME
    saved = tmp_path / "downloaded.pdf"
    download.save_as(saved)
    assert saved.read_bytes() == CONTENT
    page.goto("/partner")
    expect(page.locator(".file-notice")).to_have_count(0)
