"""`mnvault demo`, self-service part: one employee who can sign in, and a fresh link for one payee."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor
from app.auth.models import Account, Role
from app.auth.passwords import hasher_from_settings
from app.config import Settings
from app.vault import Vault
from selfservice.payees import issue_link
from tenants.demo import DEMO_CODE, DEMO_PASSWORD
from tenants.models import PayeeType, Person, PersonKind, Tenant

DEMO_EMPLOYEE_CODE = "001"


async def ensure_demo_employee_account(session: AsyncSession, settings: Settings, tenant: Tenant) -> Account | None:
    """The first demo employee (still 未登録) signs in with the demo password and walks the whole flow."""
    employee = (
        await session.execute(
            select(Person).where(Person.tenant_id == tenant.id, Person.employee_code == DEMO_EMPLOYEE_CODE)
        )
    ).scalar_one_or_none()
    if employee is None:
        return None
    account = (
        await session.execute(select(Account).where(Account.tenant_id == tenant.id, Account.person_id == employee.id))
    ).scalar_one_or_none()
    if account is None:
        account = Account(
            tenant_id=tenant.id,
            login_id=DEMO_EMPLOYEE_CODE,
            name=employee.name,
            role=Role.EMPLOYEE,
            person_id=employee.id,
            password_hash=hasher_from_settings(settings).hash(DEMO_PASSWORD),
            must_change_password=False,
        )
        session.add(account)
        await session.flush()
    return account


async def fresh_demo_payee_link(session: AsyncSession, settings: Settings, tenant: Tenant) -> str | None:
    """A new one-time link for the first individual payee without a number (the token is known only now)."""
    payees = await session.execute(
        select(Person)
        .where(
            Person.tenant_id == tenant.id,
            Person.kind == PersonKind.PAYEE,
            Person.payee_type == PayeeType.INDIVIDUAL,
            Person.registered_at.is_(None),
        )
        .order_by(Person.created_at, Person.id)  # ids are time-ordered: the order of creation
    )
    payee = payees.scalars().first()
    if payee is None:
        return None
    actor = Actor(user_id=None, login_id="demo", name="デモデータ", role="システム", organisation=tenant.name)
    issued = await issue_link(session, settings, actor=actor, tenant=tenant, person=payee)
    return f"{payee.name}: {issued.url}"


async def fill_selfservice_demo(session: AsyncSession, settings: Settings, vault: Vault) -> list[str]:
    tenant = (await session.execute(select(Tenant).where(Tenant.code == DEMO_CODE))).scalar_one_or_none()
    if tenant is None:
        return []
    lines = []
    account = await ensure_demo_employee_account(session, settings, tenant)
    if account is not None:
        who = f"（{account.name}、スマートフォン向け）"
        lines.append(f"  従業員   ログインID: {account.login_id:<8} パスワード: {DEMO_PASSWORD}  {who}")
    link = await fresh_demo_payee_link(session, settings, tenant)
    if link is not None:
        lines.append(f"取引先の一回限りリンク（demo を実行するたびに再発行）: {link}")
    return lines
