"""Browser steps shared by the e2e tests: signing in through the real pages and checking each page visited."""

from __future__ import annotations

import re
import time

import pyotp
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.e2e.conftest import assert_no_horizontal_overflow, save_screenshot
from tests.e2e.seed import Login

AXE = Axe()
BLOCKING_IMPACTS = ("serious", "critical")


def check_page(page: Page, name: str) -> None:
    """Every page visited: Japanese, no sideways scrolling in its viewport, no serious or critical accessibility
    violation (axe-core, WCAG 2.x A/AA rules), and a screenshot to look at."""
    page.wait_for_load_state("load")  # after a click the URL changes before the style sheet has applied
    assert page.locator("html").get_attribute("lang") == "ja"
    assert_no_horizontal_overflow(page)
    save_screenshot(page, name)
    violations = accessibility_violations(page)
    assert violations == [], f"{name}: {violations}"


def accessibility_violations(page: Page) -> list[str]:
    """The page's serious and critical axe-core violations as ``rule (impact): selectors — help`` lines."""
    results = AXE.run(page)
    found = []
    for violation in results.response["violations"]:
        if violation.get("impact") in BLOCKING_IMPACTS:
            targets = ", ".join(str(node.get("target")) for node in violation["nodes"][:5])
            found.append(f"{violation['id']} ({violation['impact']}): {targets} — {violation['help']}")
    return found


def record_requests(page: Page) -> list[str]:
    """``METHOD URL`` of every request the page makes from now on (to check that no number ever travels in a URL)."""
    requests: list[str] = []
    page.on("request", lambda request: requests.append(f"{request.method} {request.url}"))
    return requests


def sign_in(page: Page, login: Login, *, screenshot: str = "") -> None:
    """Sign in at /t/{code}/login with the password, then the current TOTP code when the account has one."""
    page.goto(f"/t/{login.tenant_code}/login")
    if screenshot:
        check_page(page, f"{screenshot}-login")
    page.get_by_label("ログインID").fill(login.login_id)
    page.get_by_label("パスワード").fill(login.password)
    page.get_by_role("button", name="ログイン").click()
    if login.totp_secret is None:
        return
    expect(page).to_have_url(at_path("/login/totp"))
    code = page.get_by_label("確認コード")
    assert code.get_attribute("inputmode") == "numeric"
    if screenshot:
        check_page(page, f"{screenshot}-totp")
    code.fill(pyotp.TOTP(login.totp_secret).at(time.time()))
    page.get_by_role("button", name="確認").click()


def at_path(path: str) -> re.Pattern[str]:
    """A matcher for ``expect(page).to_have_url``: this path on the server, without a query string."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}$")
