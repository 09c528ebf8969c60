"""An employee reads who handled their and their dependant's numbers (番号の取扱い履歴) on a 360 px phone."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent, Subject
from app.audit.log import record_many
from app.auth.models import Account, Role
from app.auth.passwords import hasher_from_settings
from app.config import Settings
from app.db import utcnow
from app.vault import Vault
from tests.e2e.conftest import LiveServer
from tests.e2e.seed import PASSWORD, Login, SeededEmployee, seed, unique_code
from tests.e2e.steps import at_path, check_page, sign_in
from tests.support.people import make_dependant, make_employee
from tests.support.world import make_tenant

PARTNER = Actor(
    user_id=None,
    login_id="sr-long",
    name="長い名前の担当者 ながいなまえのたんとうしゃ",
    role="事務取扱担当者",
    organisation="とても長い名前の社会保険労務士法人東京中央事務所千代田オフィス",
)


def seed_history(live_server: LiveServer) -> SeededEmployee:
    """An employee (notice read) with a dependant and entries about both, with long names and functions."""

    async def work(session: AsyncSession, vault: Vault, settings: Settings) -> SeededEmployee:
        tenant = await make_tenant(session, vault, unique_code("e2e-hist"), "イーツーイー履歴株式会社")
        employee = await make_employee(session, tenant.id, "001", "山田 花子", kana="ヤマダ ハナコ")
        employee.notice_acknowledged_at = utcnow()
        child = await make_dependant(session, employee, "山田 翔")
        account = Account(
            tenant_id=tenant.id,
            login_id="emp001",
            name=employee.name,
            role=Role.EMPLOYEE,
            person_id=employee.id,
            password_hash=hasher_from_settings(settings).hash(PASSWORD),
            must_change_password=False,
        )
        session.add(account)
        await session.flush()
        staff = Actor(user_id=None, login_id="admin", name="岡 昌平", role="管理者", organisation=tenant.name)
        events = [
            AuditEvent(tenant.id, AuditAction.PROXY_REGISTER, staff, "代理登録", Subject(employee.id, employee.name)),
            AuditEvent(
                tenant.id,
                AuditAction.CSV_EXPORT,
                PARTNER,
                "給与ソフト用CSV出力（年末調整・源泉徴収票・扶養控除等申告書）",
                Subject(child.id, child.name),
                purpose="源泉徴収票作成事務・扶養控除等（異動）申告書の提出",
            ),
        ]
        await record_many(session, events)
        return SeededEmployee(login=Login(tenant.code, account.login_id), name=employee.name)

    return seed(live_server, work)


def test_an_employee_reads_the_history_of_their_numbers_on_a_phone(phone_page: Page, live_server: LiveServer) -> None:
    page = phone_page
    employee = seed_history(live_server)

    sign_in(page, employee.login)
    expect(page).to_have_url(at_path("/me"))
    page.get_by_role("link", name="番号の取扱い履歴を見る").click()

    expect(page).to_have_url(at_path("/me/history"))
    expect(page.get_by_role("heading", level=1)).to_have_text("番号の取扱い履歴")
    entries = page.locator(".history-entry")
    expect(entries).to_have_count(2)
    expect(entries.nth(0)).to_contain_text("CSV出力")
    expect(entries.nth(0)).to_contain_text("山田 翔")
    expect(entries.nth(0)).to_contain_text("社会保険労務士法人")
    expect(entries.nth(1)).to_contain_text("岡 昌平（管理者）")
    check_page(page, "employee-history")
