"""The daily 削除予定日 reminder mail (optional: only when SMTP is configured).

A step of the in-app maintenance (``app.vault.periodic``; the composition root passes it): once a JST day per
tenant, the tenant's admins with an e-mail address get how many numbers are past their 削除予定日 and who (社員コード
and 対象者, at most ``MAIL_NAMES``), with the link to the list. Never a number; nothing is erased (seed 000: only an
admin erases). Each mail sent is logged in the tenant's chain; a tenant is marked done for the day
(``Tenant.deletion_reminder_on``) even when nothing is past due, so a run costs one small query per tenant a day.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor, AuditAction, AuditEvent
from app.audit.log import record
from app.auth.models import Account, Role
from app.config import Settings
from app.logs import get_logger
from app.mail import Mailer, MailError
from app.paging import COUNT_CAP
from app.tenancy import Tenant, TenantKind
from app.text import today_in_japan
from tenants.models import Person
from tenants.services._deletions_list import past_due_condition

MAIL_NAMES = 10
REMINDER_FUNCTION = "削除予定日の通知"
REMINDER_ACTOR = Actor.system("deletion reminder")

log = get_logger("tenants.reminders")


async def _past_due(session: AsyncSession, tenant: Tenant, today: dt.date) -> tuple[int, list[str]]:
    """How many (up to ``COUNT_CAP + 1``) and the first ``MAIL_NAMES`` as 「社員コード 対象者（削除予定日）」."""
    condition = (Person.tenant_id == tenant.id, *past_due_condition(today))
    limited = select(Person.id).where(*condition).limit(COUNT_CAP + 1).subquery()
    count = int((await session.execute(select(func.count()).select_from(limited))).scalar_one())
    if not count:
        return 0, []
    first = (
        await session.execute(
            select(Person).where(*condition).order_by(Person.deletion_due_on, Person.id).limit(MAIL_NAMES)
        )
    ).scalars()
    people = list(first)
    owner_ids = {p.employee_id for p in people if p.employee_id is not None}
    owners: dict[uuid.UUID, Person] = {}
    if owner_ids:
        found = await session.execute(select(Person).where(Person.tenant_id == tenant.id, Person.id.in_(owner_ids)))
        owners = {p.id: p for p in found.scalars()}
    lines = []
    for person in people:
        owner = owners.get(person.employee_id) if person.employee_id else None
        name = f"{owner.name} > {person.name}" if owner else person.name
        code = (owner.employee_code if owner else person.employee_code) or "-"
        assert person.deletion_due_on is not None
        lines.append(f"{code} {name}（削除予定日 {person.deletion_due_on:%Y/%m/%d}）")
    return count, lines


def reminder_mail(tenant: Tenant, count: int, names: list[str], list_url: str) -> tuple[str, str]:
    """Subject and body: the count (「1,000件以上」 past the cap), the names, the link; no number."""
    figure = f"{COUNT_CAP:,}件以上" if count > COUNT_CAP else f"{count:,}件"
    more = "\n  ほか（一覧でご確認ください）" if count > len(names) else ""
    body = (
        f"""{tenant.name} マイナンバー管理担当者 各位

削除予定日を過ぎたマイナンバーが {figure} あります。
保存期間を過ぎた番号は、内容を確かめたうえで削除してください（自動では削除されません）。

  """
        + "\n  ".join(names)
        + more
        + f"""

削除管理：{list_url}

※ このメールにマイナンバーは記載していません。
※ このメールは毎日1回、削除予定日を過ぎた番号があるときに送信されます。
"""
    )
    return f"【{tenant.name}】削除予定日を過ぎたマイナンバーがあります（{figure}）", body


async def _admins(session: AsyncSession, tenant_id: uuid.UUID) -> list[Account]:
    statement = select(Account).where(
        Account.tenant_id == tenant_id, Account.role == Role.ADMIN, Account.disabled_at.is_(None), Account.email != ""
    )
    return list((await session.execute(statement.order_by(Account.login_id))).scalars())


async def send_deletion_reminders(
    sessions: async_sessionmaker[AsyncSession], mailer: Mailer, base_url: str = "", *, today: dt.date | None = None
) -> int:
    """Send today's reminders (JST) to every company tenant not yet done today; returns how many mails went out.

    Nothing when the mailer is disabled. A mail that cannot be sent is logged (address only) and the tenant is
    tried again at the next run.
    """
    if not mailer.enabled:
        return 0
    day = today or today_in_japan()
    async with sessions() as session:
        due = or_(Tenant.deletion_reminder_on.is_(None), Tenant.deletion_reminder_on < day)
        statement = select(Tenant.id).where(Tenant.kind == TenantKind.COMPANY, due).order_by(Tenant.code)
        tenant_ids = list((await session.execute(statement)).scalars())
    sent = 0
    list_url = base_url.rstrip("/") + "/admin/deletions?filter=past_due"
    for tenant_id in tenant_ids:
        async with sessions() as session:
            tenant = await session.get(Tenant, tenant_id)
            assert tenant is not None
            count, names = await _past_due(session, tenant, day)
            recipients = await _admins(session, tenant_id) if count else []
            failed = False
            for account in recipients:
                subject, body = reminder_mail(tenant, count, names, list_url)
                try:
                    await mailer.send(account.email, subject, body)
                except MailError:
                    failed = True
                    log.warning("deletion reminder not sent", extra={"tenant": tenant.code, "to": account.email})
                    continue
                sent += 1
                detail: dict[str, object] = {"event": "deletion_reminder_sent", "count": count, "to": account.login_id}
                await record(
                    session,
                    AuditEvent(
                        tenant_id=tenant_id,
                        action=AuditAction.UPDATE,
                        actor=REMINDER_ACTOR,
                        function=REMINDER_FUNCTION,
                        detail=detail,
                    ),
                )
            if not failed:
                tenant.deletion_reminder_on = day
            await session.commit()
    return sent


def deletion_reminder_step(settings: Settings) -> Callable[[async_sessionmaker[AsyncSession]], Awaitable[int]]:
    """The maintenance step (``app.vault.periodic.MaintenanceStep``) sending the reminders with the settings' SMTP."""
    mailer = Mailer(settings)

    async def deletion_reminders(sessions: async_sessionmaker[AsyncSession]) -> int:
        return await send_deletion_reminders(sessions, mailer, settings.base_url)

    return deletion_reminders
