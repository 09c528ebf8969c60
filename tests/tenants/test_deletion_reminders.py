"""The daily 削除予定日 reminder mail, against a real SMTP server on loopback: admins get counts and names, never a
number; once a day per tenant; nothing without SMTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import AuditAction
from app.config import Settings
from app.db import make_engine
from app.mail import Mailer
from app.tenancy import Tenant
from app.vault import Vault
from tenants.services import send_deletion_reminders
from tests.support.audit import entries
from tests.support.people import give_number, make_dependant, make_employee, valid_my_number
from tests.support.world import World
from tests.test_mail import Inbox, inbox, unix_lines

__all__ = ["inbox"]  # a fixture

TODAY = dt.date(2026, 12, 1)


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    opened = Vault.from_settings(settings)
    yield opened
    await opened.close()


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings.effective_database_url, pool_size=2)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def arrange(db: AsyncSession, vault: Vault, world: World) -> None:
    world.admin.account.email = "admin@acme.example.jp"
    db.add(world.admin.account)
    world.handler.account.email = "handler@acme.example.jp"  # handlers get no reminder
    db.add(world.handler.account)
    employee = await make_employee(db, world.tenant.id, "301", "退職 太郎")
    child = await make_dependant(db, employee, "退職 花子")
    future = await make_employee(db, world.tenant.id, "302", "まだ 先")
    for index, person in enumerate((employee, child, future)):
        await give_number(db, vault, person, valid_my_number(50 + index))
    employee.deletion_due_on = child.deletion_due_on = dt.date(2026, 1, 1)
    future.deletion_due_on = dt.date(2099, 1, 1)
    await db.commit()


async def test_admins_get_the_count_and_names_once_a_day_and_never_a_number(
    db: AsyncSession,
    vault: Vault,
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    inbox: tuple[Inbox, int],
) -> None:
    handler, port = inbox
    await arrange(db, vault, world)
    mailer = Mailer(Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_from="mnvault@example.jp"))

    sent = await send_deletion_reminders(sessions, mailer, "https://mnv.example.jp", today=TODAY)

    assert sent == 1 and [e.rcpt_tos for e in handler.envelopes] == [["admin@acme.example.jp"]]
    message = handler.message()
    assert message["Subject"] == "【アクメ商事株式会社】削除予定日を過ぎたマイナンバーがあります（2件）"
    body = unix_lines(message.get_content())
    assert "301 退職 太郎（削除予定日 2026/01/01）" in body and "301 退職 太郎 > 退職 花子" in body
    assert "まだ 先" not in body and "https://mnv.example.jp/admin/deletions?filter=past_due" in body
    for index in range(3):
        assert valid_my_number(50 + index) not in body
    [logged] = [e for e in await entries(db, world.tenant.id, AuditAction.UPDATE) if e.function == "削除予定日の通知"]
    assert logged.detail["count"] == 2 and logged.actor_name == "システム"

    assert await send_deletion_reminders(sessions, mailer, today=TODAY) == 0  # once a day
    assert await send_deletion_reminders(sessions, mailer, today=TODAY + dt.timedelta(days=1)) == 1
    other = (await db.execute(select(Tenant).where(Tenant.id == world.other_tenant.id))).scalar_one()
    assert other.deletion_reminder_on is not None  # checked, nothing past due, nothing sent


async def test_without_smtp_nothing_is_sent_or_marked(
    db: AsyncSession, vault: Vault, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await arrange(db, vault, world)
    assert await send_deletion_reminders(sessions, Mailer(Settings()), today=TODAY) == 0
    tenant = (await db.execute(select(Tenant).where(Tenant.id == world.tenant.id))).scalar_one()
    assert tenant.deletion_reminder_on is None
