"""`mnvault demo`: an idempotent demo tenant with an admin, a handler and a viewer (demo data only)."""

from __future__ import annotations

import datetime as dt

from app.auth.passwords import hasher_from_settings
from app.auth.totp import new_totp_secret
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account, Role
from app.auth.services import TOTP_PURPOSE
from app.config import Settings
from app.db import utcnow
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.vault import Vault

DEMO_CODE = "demo"
DEMO_PASSWORD = "demo-password-2026"  # demo data only: printed by `mnvault demo`
DEMO_STAFF = (
    ("admin", "岡 昌平", Role.ADMIN, True),
    ("handler", "高山 史", Role.HANDLER, True),
    ("viewer", "鈴木 奈々子", Role.VIEWER, False),
)


async def ensure_demo_tenant(session: AsyncSession, vault: Vault) -> Tenant:
    tenant = (await session.execute(select(Tenant).where(Tenant.code == DEMO_CODE))).scalar_one_or_none()
    if tenant is None:
        tenant = Tenant(
            code=DEMO_CODE,
            kind=TenantKind.COMPANY,
            name="デモ商事株式会社",
            name_kana="デモショウジ",
            corporate_number="7000012050002",
            postal_code="665-0845",
            address="兵庫県宝塚市栄町2-1-2",
            representative="河合 康則",
            is_member=True,
            status=TenantStatus.ACTIVE,
            contract_ends_on=dt.date.today() + dt.timedelta(days=365),
            admin_seats=3,
        )
        session.add(tenant)
        await session.flush()
    await vault.create_tenant_keys(session, tenant.id)
    return tenant


async def ensure_demo_staff(session: AsyncSession, settings: Settings, vault: Vault, tenant: Tenant) -> list[str]:
    """Create the three demo accounts once; always print how to sign in with them."""
    hasher = hasher_from_settings(settings)
    lines: list[str] = []
    for login_id, name, role, with_totp in DEMO_STAFF:
        account = (
            await session.execute(select(Account).where(Account.tenant_id == tenant.id, Account.login_id == login_id))
        ).scalar_one_or_none()
        if account is None:
            account = Account(
                tenant_id=tenant.id,
                login_id=login_id,
                name=name,
                role=role,
                password_hash=hasher.hash(DEMO_PASSWORD),
                must_change_password=False,
            )
            session.add(account)
            await session.flush()
            if with_totp:
                account.totp_secret_sealed = await vault.seal_secret(
                    session, tenant.id, account.id, TOTP_PURPOSE, new_totp_secret().encode()
                )
                account.totp_enabled_at = utcnow()
        line = f"  {role.label:<8} ログインID: {login_id:<8} パスワード: {DEMO_PASSWORD}"
        if account.totp_enabled and account.totp_secret_sealed is not None:
            secret = await vault.open_secret(session, tenant.id, account.id, TOTP_PURPOSE, account.totp_secret_sealed)
            line += f"  TOTPシークレット: {secret.decode()}"
        lines.append(line)
    return lines


async def fill_demo(session: AsyncSession, settings: Settings, vault: Vault) -> list[str]:
    """Everything the demo needs, created once; prints the sign-in details every time."""
    tenant = await ensure_demo_tenant(session, vault)
    staff = await ensure_demo_staff(session, settings, vault, tenant)
    base = settings.effective_base_url
    return [
        f"デモ事業者: {tenant.name}（事業者コード: {tenant.code}）",
        f"ログインURL: {base}/t/{tenant.code}/login",
        *staff,
        "  TOTP シークレットを認証アプリ（または oathtool --totp -b SECRET）に登録してください。",
    ]
