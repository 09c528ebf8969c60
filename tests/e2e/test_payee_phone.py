"""A payee opens their one-time link on a 360 px phone, enters their number, confirms it, and the link is used up."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LiveServer, allow_console_error
from tests.e2e.seed import fresh_numbers, seed_payee_link, with_wrong_check_digit
from tests.e2e.steps import check_page, record_requests
from tests.support.cards import hides

CHECK_DIGIT_MESSAGE = "個人番号が正しくありません（チェックデジットが一致しません）。番号を確かめてください。"


def number_field(page: Page) -> Locator:
    field = page.get_by_label("マイナンバー（個人番号・12桁）")
    assert field.get_attribute("inputmode") == "numeric"
    assert field.get_attribute("autocomplete") == "off"
    return field


def grouped(number: str) -> str:
    return "".join(f"<span>{number[i : i + 4]}</span>" for i in range(0, 12, 4))


def test_a_payee_enters_and_confirms_their_number_through_a_one_time_link_on_a_phone(
    phone_page: Page, live_server: LiveServer
) -> None:
    page = phone_page
    link = seed_payee_link(live_server)
    [number] = fresh_numbers(1)
    wrong = with_wrong_check_digit(number)
    requests = record_requests(page)
    allow_console_error(page, r"status of (400|410)")  # the refused number and the used link answer so on purpose

    response = page.goto(link.url)
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("マイナンバー（個人番号）のご登録")
    expect(page.locator(".payee-page")).to_contain_text(link.tenant_name)
    expect(page.locator(".payee-page")).to_contain_text(f"{link.payee_name} 様")
    check_page(page, "payee-1-enter")

    number_field(page).press_sequentially(wrong)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="次へ（確認）").click()
    assert answer.value.status == 400
    expect(page.locator("#e-number")).to_have_text(CHECK_DIGIT_MESSAGE)
    expect(number_field(page)).to_have_value("")
    assert hides(page.content(), wrong)
    check_page(page, "payee-2-wrong-number")

    number_field(page).press_sequentially(number)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="次へ（確認）").click()
    assert answer.value.status == 200
    assert "content-encoding" not in answer.value.headers  # a page with a full number is never compressed
    expect(page.get_by_role("heading", level=1)).to_have_text("マイナンバー（個人番号）の確認")
    page.wait_for_load_state("load")  # measured with the style sheet applied
    entered = page.locator("#entered-number")
    expect(entered).to_have_text(number)  # grouped 4-4-4 by CSS gaps: a copy is the bare 12 digits
    assert entered.inner_text() == number and entered.locator("span").count() == 3
    lines = entered.evaluate("el => el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight)")
    assert lines < 1.5, f"the number wraps over {lines:.1f} lines"  # read at a glance, not pieced together
    check_page(page, "payee-3-confirm")
    page.get_by_role("button", name="確定する").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("ご登録ありがとうございました")
    expect(page.locator(".payee-page .masked")).to_have_text("*" * 10 + number[-2:])
    html = page.content()
    assert number not in html and grouped(number) not in html
    check_page(page, "payee-4-done")

    response = page.goto(link.url)
    assert response is not None and response.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("このリンクは使用済みです")
    expect(page.locator(".payee-page")).to_contain_text("番号のご登録はすでに完了しています")
    expect(page.get_by_label("マイナンバー（個人番号・12桁）")).to_have_count(0)
    check_page(page, "payee-5-used")
    assert not [r for r in requests if number in r or wrong in r]
