"""First-run set-up: the operator's organisation and its first account."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account, Role
from app.auth.passwords import PasswordHasher
from app.auth.services import issue_one_time_password
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.vault import Vault

OPERATOR_CODE = "operator"
OPERATOR_LOGIN_ID = "operator"


async def ensure_operator(session: AsyncSession, vault: Vault, hasher: PasswordHasher) -> list[str]:
    """Create the operator organisation and first operator account once; the password is printed only then."""
    tenant = (await session.execute(select(Tenant).where(Tenant.kind == TenantKind.OPERATOR))).scalars().first()
    if tenant is None:
        tenant = Tenant(code=OPERATOR_CODE, kind=TenantKind.OPERATOR, name="運営者", status=TenantStatus.ACTIVE)
        session.add(tenant)
        await session.flush()
    await vault.create_tenant_keys(session, tenant.id)
    existing = await session.execute(select(Account).where(Account.tenant_id == tenant.id))
    if existing.scalars().first() is not None:
        return ["運営者アカウントは作成済みです。"]
    account = Account(tenant_id=tenant.id, login_id=OPERATOR_LOGIN_ID, name="運営者", role=Role.OPERATOR)
    password = await issue_one_time_password(account, hasher, dt.timedelta(days=7))
    session.add(account)
    await session.flush()
    return [
        "運営者アカウントを作成しました（初回パスワードはこの一度だけ表示されます）:",
        f"  事業者コード: {tenant.code}",
        f"  ログインID:   {account.login_id}",
        f"  初回パスワード: {password}",
        "  初回ログイン時に新しいパスワードと二要素認証を設定してください。",
    ]
