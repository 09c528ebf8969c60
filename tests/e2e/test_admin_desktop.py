"""An admin with TOTP on a desktop: the progress chart, the masked list, and revealing one number that hides itself.

The admin pages are desktop pages, but must still fit a phone (wide tables scroll inside .table-wrap).
"""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LiveServer, allow_console_error, assert_no_horizontal_overflow
from tests.e2e.seed import SeededCompany, SeededPerson, seed_company_with_admin
from tests.e2e.steps import at_path, check_page, sign_in
from tests.support.cards import hides

REVEAL_PATH = re.compile(r"/admin/numbers/[0-9a-f-]{36}/reveal$")
PURPOSE = "源泉徴収票作成事務"


def masked(person: SeededPerson) -> str:
    return "*" * 10 + person.number[-2:]


def row_of(page: Page, person: SeededPerson) -> Locator:
    return page.locator("table.numbers tbody tr").filter(has_text=person.name)


def open_reveal(page: Page, person: SeededPerson) -> None:
    """From the list, the reveal page of one person, then the number shown for PURPOSE."""
    row_of(page, person).get_by_role("link", name="表示").click()
    expect(page).to_have_url(REVEAL_PATH)
    expect(page.get_by_role("heading", level=1)).to_have_text("マイナンバーの表示")
    assert hides(page.content(), person.number)
    page.get_by_label("利用目的").select_option(PURPOSE)
    # POST → redirect → GET: the number comes with the GET of the one-time result page (a reload asks again).
    with page.expect_response(lambda r: r.request.method == "GET" and r.url.endswith("/revealed")) as answer:
        page.get_by_role("button", name="表示する").click()
    response = answer.value
    assert response.status == 200
    assert "no-store" in response.headers.get("cache-control", "")
    assert "content-encoding" not in response.headers  # a page with a full number is never compressed
    expect(page.locator("[data-number]")).to_have_text(person.number)
    expect(page.locator(".person-facts")).to_contain_text(PURPOSE)


def expect_hidden(page: Page, person: SeededPerson) -> None:
    expect(page.locator("[data-number]")).to_have_count(0)
    expect(page.locator(".revealed-number.masked")).to_have_text(masked(person))
    expect(page.locator("[data-reveal-status]")).to_have_text("番号を非表示にしました。")
    expect(page.get_by_role("button", name="今すぐ隠す")).to_be_hidden()
    assert hides(page.content(), person.number)


def test_an_admin_sees_the_chart_and_masks_and_a_revealed_number_disappears(
    desktop_page: Page, live_server: LiveServer
) -> None:
    page = desktop_page
    page.clock.install()  # the reveal countdown runs on this clock, so 30 s can pass at once
    company = seed_company_with_admin(live_server)
    first, second = company.numbered()[:2]

    sign_in(page, company.login, screenshot="admin-desktop")
    expect(page).to_have_url(at_path("/admin"))
    expect(page.get_by_role("heading", level=1)).to_have_text("管理者ホーム")
    chart = page.locator("svg.progress-chart.wide")
    expect(chart).to_be_visible()
    expect(chart.locator("title").first).to_have_text("部門別の収集状況（登録済の人数と割合）")
    expect(chart.locator("g.bar")).to_have_count(3)  # 総務課, 営業部 and the whole company
    expect(chart.locator("g.bar.overall")).to_have_count(1)
    assert chart.locator("rect.registered").count() >= 2
    expect(chart.locator("rect.declined")).to_have_count(2)  # 営業部 and the overall bar
    expect(page.locator(".overall-progress")).to_contain_text("5人中 3人 登録済")
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 50, box
    check_page(page, "admin-1-home-desktop")

    page.get_by_role("navigation", name="メニュー").get_by_role("link", name="マイナンバー一覧").click()
    expect(page).to_have_url(at_path("/admin/numbers"))
    expect(page.locator("table.numbers tbody tr")).to_have_count(len(company.people))
    for person in company.people:
        row = row_of(page, person)
        if person.number:
            expect(row.locator(".masked")).to_have_text(masked(person))
    expect(row_of(page, company.people[3])).to_contain_text("提供拒否")
    expect(row_of(page, company.people[4])).to_contain_text("未登録")
    html = page.content()
    assert not [p.name for p in company.numbered() if p.number in html]
    check_page(page, "admin-2-numbers-desktop")

    # A purpose must be chosen first.
    allow_console_error(page, r"status of 400")
    row_of(page, first).get_by_role("link", name="表示").click()
    page.get_by_role("button", name="表示する").click()
    expect(page.locator(".field.has-error .error")).to_be_visible()
    expect(page.locator("[data-number]")).to_have_count(0)
    page.get_by_role("link", name="一覧へ戻る").click()

    open_reveal(page, first)
    countdown = page.locator("[data-countdown]")
    expect(countdown).to_have_text(str(live_server.settings.reveal_seconds))
    hide_now = page.get_by_role("button", name="今すぐ隠す")
    expect(hide_now).to_be_visible()
    check_page(page, "admin-3-revealed-desktop")
    hide_now.click()
    expect_hidden(page, first)
    expect(page.locator("[data-countdown-text]")).to_contain_text("表示を終了しました")
    check_page(page, "admin-4-hidden-desktop")

    # Left alone, the number counts down and disappears by itself.
    page.get_by_role("link", name="一覧へ戻る").click()
    open_reveal(page, second)
    expect(countdown).to_have_text(str(live_server.settings.reveal_seconds))  # the page's script has started
    page.clock.run_for(10_000)
    expect(countdown).to_have_text(str(live_server.settings.reveal_seconds - 10))
    expect(page.locator("[data-number]")).to_have_text(second.number)
    page.clock.run_for((live_server.settings.reveal_seconds - 10) * 1000 + 500)
    expect_hidden(page, second)


ADMIN_PAGES = ("/admin", "/admin/numbers", "/admin/people", "/admin/invitations", "/admin/corrections")


def test_the_admin_pages_fit_a_phone_with_wide_tables_scrolling_inside_their_frame(
    phone_page: Page, live_server: LiveServer
) -> None:
    page = phone_page
    company: SeededCompany = seed_company_with_admin(live_server)
    sign_in(page, company.login, screenshot="admin-phone")
    expect(page).to_have_url(at_path("/admin"))
    page.wait_for_load_state("load")  # measured with the style sheet applied
    # The chart keeps readable text on a phone (scaled to 294 px its labels would be under 6 px tall).
    label = page.locator("svg.progress-chart.narrow text.label").first
    label_box = label.bounding_box()
    assert label_box is not None and label_box["height"] >= 11, label_box
    for path in ADMIN_PAGES:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        check_page(page, "admin-phone" + path.replace("/", "-"))
    page.goto("/admin/numbers")
    wrap = page.locator(".table-wrap").first
    scroll_width, client_width = wrap.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert scroll_width > client_width  # the table is wider than the phone and scrolls inside its frame
    [person] = company.numbered()[:1]
    open_reveal(page, person)
    check_page(page, "admin-phone-revealed")
    page.get_by_role("button", name="今すぐ隠す").click()
    expect_hidden(page, person)


def test_the_operation_log_fits_a_1280_px_screen_with_the_ip_in_its_fold_out_row(
    desktop_page: Page, live_server: LiveServer
) -> None:
    """Issue 11: 操作履歴 on a 1280-px screen, 100 a page, without a sideways scroll (page or table); IP inside 詳細."""
    page = desktop_page
    company = seed_company_with_admin(live_server)
    sign_in(page, company.login)
    response = page.goto("/admin/log?per_page=100")
    assert response is not None and response.status == 200
    page.wait_for_load_state("load")
    assert_no_horizontal_overflow(page)
    wrap = page.locator(".table-wrap").first
    scroll_width, client_width = wrap.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert scroll_width <= client_width, f"the log table is {scroll_width}px in a {client_width}px frame"
    first = page.locator("table.log details").first
    first.locator("summary").click()
    expect(first).to_contain_text("IP")
    expect(first).to_contain_text("127.0.0.1")
    check_page(page, "admin-desktop-log")
