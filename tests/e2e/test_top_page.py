"""The top page and the error page in a real browser, on a phone and on a desktop."""

from __future__ import annotations

from playwright.sync_api import Page
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.e2e.conftest import (
    LiveServer,
    allow_console_error,
    assert_no_horizontal_overflow,
    browser_problems,
    save_screenshot,
)


def test_the_top_page_fits_a_phone_in_japanese_with_a_tappable_login(phone_page: Page) -> None:
    response = phone_page.goto("/")
    assert response is not None and response.status == 200
    assert phone_page.locator("html").get_attribute("lang") == "ja"
    assert "マイナンバー" in phone_page.title()
    assert phone_page.get_by_role("heading", level=1).inner_text().startswith("マイナンバーを")
    save_screenshot(phone_page, "top-phone")
    assert_no_horizontal_overflow(phone_page)
    login = phone_page.get_by_role("link", name="ログイン")
    assert login.is_visible()
    box = login.bounding_box()
    assert box is not None and box["height"] >= 44, box
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360, box


def test_the_top_page_shows_the_four_cards_in_one_row_on_a_desktop(desktop_page: Page) -> None:
    desktop_page.goto("/")
    save_screenshot(desktop_page, "top-desktop")
    cards = desktop_page.locator(".cards .card")
    assert cards.count() == 4
    boxes = [cards.nth(i).bounding_box() for i in range(4)]
    assert all(box is not None for box in boxes)
    tops = {round(box["y"]) for box in boxes if box is not None}
    assert len(tops) == 1, boxes
    lefts = [box["x"] for box in boxes if box is not None]
    assert lefts == sorted(lefts) and lefts[-1] + boxes[-1]["width"] <= 1280  # type: ignore[index]
    assert [cards.nth(i).locator("h2").inner_text() for i in range(4)] == ["収集", "保管", "利用", "廃棄"]


def test_a_missing_page_says_so_in_japanese(phone_page: Page) -> None:
    allow_console_error(phone_page, r"status of 404")  # the browser logs the 404 of the page itself
    response = phone_page.goto("/no-such-page")
    assert response is not None and response.status == 404
    assert phone_page.locator("html").get_attribute("lang") == "ja"
    assert phone_page.get_by_role("heading", level=1).inner_text() == "ページが見つかりません"
    assert phone_page.get_by_role("link", name="トップページへ戻る").is_visible()
    save_screenshot(phone_page, "not-found-phone")
    assert_no_horizontal_overflow(phone_page)


def test_the_harness_records_csp_violations_and_script_errors(desktop_page: Page, live_server: LiveServer) -> None:
    from app.http import CONTENT_SECURITY_POLICY

    page_headers = {"content-type": "text/html", "content-security-policy": CONTENT_SECURITY_POLICY}
    probe = "<!doctype html><p style='color:red'>x</p><script>inline()</script><script src='/probe.js'></script>"
    desktop_page.route(live_server.url("/probe"), lambda route: route.fulfill(body=probe, headers=page_headers))
    desktop_page.route(
        live_server.url("/probe.js"),
        lambda route: route.fulfill(body="undefinedFunction();", content_type="text/javascript"),
    )
    desktop_page.goto("/probe")
    problems = browser_problems(desktop_page)
    assert any("CSP violation: style-src" in p for p in problems), problems
    assert any("CSP violation: script-src" in p for p in problems), problems
    assert any(p.startswith("page error:") and "undefinedFunction" in p for p in problems), problems
    allow_console_error(desktop_page, ".")  # all expected here; without this the fixture would fail the test


def test_the_harness_seeds_the_servers_own_database(live_server: LiveServer) -> None:
    async def migrated_heads(session: AsyncSession) -> int:
        return int(await session.scalar(text("SELECT count(*) FROM alembic_version")) or 0)

    assert live_server.run_async(migrated_heads) >= 1
