"""An employee registers their own number and a dependant's on a 360 px phone, from sign-in to the masked home."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LiveServer, allow_console_error
from tests.e2e.seed import fresh_numbers, seed_employee, with_wrong_check_digit
from tests.e2e.steps import at_path, check_page, record_requests, sign_in
from tests.support.cards import hides

CONFIRM_PATH = re.compile(r"/me/people/[0-9a-f-]{36}/confirm$")
CHECK_DIGIT_MESSAGE = "個人番号が正しくありません（チェックデジットが一致しません）。番号を確かめてください。"


def number_field(page: Page) -> Locator:
    field = page.get_by_label("マイナンバー（12桁）")
    assert field.get_attribute("inputmode") == "numeric"
    assert field.get_attribute("autocomplete") == "off"
    return field


def test_an_employee_registers_and_confirms_their_number_and_a_dependants_on_a_phone(
    phone_page: Page, live_server: LiveServer
) -> None:
    page = phone_page
    employee = seed_employee(live_server)
    own, dependants = fresh_numbers(2)
    requests = record_requests(page)
    allow_console_error(page, r"status of 400")  # the refused post below is answered with 400 on purpose

    sign_in(page, employee.login, screenshot="employee")
    expect(page).to_have_url(at_path("/me/notice"))
    expect(page.get_by_role("heading", level=1)).to_have_text("利用目的の通知")
    check_page(page, "employee-1-notice")
    page.get_by_role("button", name="内容を確認しました").click()

    expect(page).to_have_url(at_path("/me"))
    expect(page.locator(".person-card")).to_have_count(1)
    check_page(page, "employee-2-home-empty")
    page.get_by_role("link", name="番号を登録する").click()

    expect(page).to_have_url(at_path("/me/number"))
    field = number_field(page)
    check_page(page, "employee-3-number")
    # The page's script checks as the employee types and keeps the form from being sent.
    field.press_sequentially(with_wrong_check_digit(own))
    expect(page.locator("#nc-number")).to_have_text(CHECK_DIGIT_MESSAGE)
    expect(field).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="確認画面へ").click()
    expect(field).to_be_focused()
    expect(page).to_have_url(at_path("/me/number"))
    assert not [r for r in requests if r.startswith("POST ") and r.endswith("/me/number")], requests
    check_page(page, "employee-4-number-js-error")
    # Sent anyway (the script bypassed): the server refuses it with the same Japanese sentence and no echo.
    with page.expect_navigation() as navigation:
        field.evaluate("input => input.form.submit()")
    response = navigation.value
    assert response is not None and response.status == 400
    expect(page.locator("#e-number")).to_have_text(CHECK_DIGIT_MESSAGE)
    expect(number_field(page)).to_have_value("")
    check_page(page, "employee-5-number-server-error")

    number_field(page).press_sequentially(own)
    expect(page.locator("#nc-number")).to_have_text("12桁の番号として正しい形式です。")
    page.get_by_role("button", name="確認画面へ").click()
    expect(page).to_have_url(CONFIRM_PATH)
    expect(page.locator(".confirm-number")).to_have_text(own)
    assert page.locator(".confirm-number").inner_text() == own  # 4-4-4 by CSS gaps: a copy is the 12 digits
    assert page.locator(".confirm-number span").count() == 3
    check_page(page, "employee-6-confirm-own")
    page.get_by_role("button", name="この番号で確定する").click()

    expect(page).to_have_url(at_path("/me"))
    expect(page.locator(".flash-success")).to_contain_text("番号を確定しました")
    assert hides(page.content(), own)
    check_page(page, "employee-7-home-own-confirmed")
    page.get_by_role("link", name="扶養家族を追加する").click()

    expect(page).to_have_url(at_path("/me/dependants/new"))
    page.get_by_label("氏名").fill("山田 翔")
    page.get_by_label("フリガナ").fill("ヤマダ ショウ")
    page.get_by_label("続柄").select_option("子")
    page.get_by_label("生年月日").fill("2015-06-01")
    number_field(page).press_sequentially(dependants)
    expect(page.locator("#nc-number")).to_have_text("12桁の番号として正しい形式です。")
    check_page(page, "employee-8-dependant-form")
    page.get_by_role("button", name="追加する").click()

    expect(page).to_have_url(CONFIRM_PATH)
    expect(page.locator(".confirm-number")).to_have_text(dependants)
    expect(page.get_by_text("山田 翔 さんのマイナンバー")).to_be_visible()
    check_page(page, "employee-9-confirm-dependant")
    # The full number is shown once: a reload no longer carries it, nor a button to confirm; it asks to type it again.
    page.reload()
    expect(page).to_have_url(re.compile(r"/me/dependants/[0-9a-f-]{36}/edit$"))
    expect(page.locator(".confirm-number")).to_have_count(0)
    expect(page.get_by_role("button", name="この番号で確定する")).to_have_count(0)
    expect(page.get_by_text("もう一度番号を入力してください")).to_be_visible()
    assert hides(page.content(), dependants)
    number_field(page).press_sequentially(dependants)
    page.get_by_role("button", name="保存する").click()
    expect(page).to_have_url(CONFIRM_PATH)
    expect(page.locator(".confirm-number")).to_have_text(dependants)
    page.get_by_role("button", name="この番号で確定する").click()

    expect(page).to_have_url(at_path("/me"))
    cards = page.locator(".person-card")
    expect(cards).to_have_count(2)
    expect(cards.nth(0).locator(".masked")).to_have_text("*" * 10 + own[-2:])
    expect(cards.nth(1).locator(".masked")).to_have_text("*" * 10 + dependants[-2:])
    expect(cards.nth(1)).to_contain_text("（子）")
    for card in (cards.nth(0), cards.nth(1)):
        expect(card.locator(".badge")).to_have_text("本人番号確認済")
    html = page.content()
    assert hides(html, own) and hides(html, dependants)
    check_page(page, "employee-10-home-masked")
    typed = (own, dependants, with_wrong_check_digit(own))
    assert not [r for r in requests if any(number in r for number in typed)]
