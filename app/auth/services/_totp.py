"""TOTP enrolment and recovery codes."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.models import Account, RecoveryCode
from app.auth.services._common import AccountError, ClientInfo, log_own
from app.auth.totp import (
    generate_recovery_codes,
    hash_recovery_code,
    new_totp_secret,
    recovery_code_salt,
    verify_totp,
)
from app.db import independent_session, utcnow
from app.tenancy import Tenant
from app.vault import Vault

TOTP_PURPOSE = "totp"


async def start_totp_enrolment(session: AsyncSession, vault: Vault, account: Account) -> str:
    """Create a new (not yet active) TOTP secret, sealed through the vault; return it for the QR code."""
    secret = new_totp_secret()
    account.totp_secret_sealed = await vault.seal_secret(
        session, account.tenant_id, account.id, TOTP_PURPOSE, secret.encode()
    )
    account.totp_enabled_at = None
    account.totp_last_step = None
    return secret


async def pending_totp_secret(session: AsyncSession, vault: Vault, account: Account) -> str | None:
    if account.totp_secret_sealed is None or account.totp_enabled:
        return None
    return (
        await vault.open_secret(session, account.tenant_id, account.id, TOTP_PURPOSE, account.totp_secret_sealed)
    ).decode()


async def confirm_totp_enrolment(
    session: AsyncSession, vault: Vault, *, account: Account, tenant: Tenant, code: str, client: ClientInfo
) -> list[str]:
    """Activate TOTP after a first good code; return ten fresh recovery codes (shown once)."""
    secret = await pending_totp_secret(session, vault, account)
    if secret is None:
        raise AccountError("登録手続きの有効期限が切れました。最初からやり直してください。")
    step = verify_totp(secret, code, last_used_step=None)
    if step is None:
        raise AccountError(
            "確認コードが正しくありません。認証アプリに表示されている6桁の数字を入力してください。", "code"
        )
    account.totp_enabled_at = utcnow()
    account.totp_last_step = step
    codes = await replace_recovery_codes(session, account)
    await log_own(
        session, account, tenant, client, AuditAction.SETTINGS_CHANGE, "二要素認証の設定", {"event": "totp_enabled"}
    )
    return codes


async def replace_recovery_codes(session: AsyncSession, account: Account) -> list[str]:
    existing = await session.execute(
        select(RecoveryCode).where(RecoveryCode.tenant_id == account.tenant_id, RecoveryCode.account_id == account.id)
    )
    for row in existing.scalars():
        await session.delete(row)
    codes = generate_recovery_codes(10)
    salt = recovery_code_salt(account.tenant_id, account.id)
    session.add_all(
        [
            RecoveryCode(tenant_id=account.tenant_id, account_id=account.id, code_hash=hash_recovery_code(c, salt=salt))
            for c in codes
        ]
    )
    await session.flush()
    return codes


async def unused_recovery_codes(session: AsyncSession, account: Account) -> int:
    rows = await session.execute(
        select(RecoveryCode.id).where(
            RecoveryCode.tenant_id == account.tenant_id,
            RecoveryCode.account_id == account.id,
            RecoveryCode.used_at.is_(None),
        )
    )
    return len(rows.all())


async def use_recovery_code(session: AsyncSession, account: Account, code: str) -> bool:
    """Spend an unused recovery code: looked up first (a wrong code writes nothing), then taken by a conditional
    update committed at once, so two parallel requests cannot both spend it."""
    code_hash = hash_recovery_code(code, salt=recovery_code_salt(account.tenant_id, account.id))
    mine = (RecoveryCode.tenant_id == account.tenant_id, RecoveryCode.account_id == account.id)
    found = await session.execute(
        select(RecoveryCode.id).where(*mine, RecoveryCode.code_hash == code_hash, RecoveryCode.used_at.is_(None))
    )
    code_id = found.scalar()
    if code_id is None:
        return False
    async with independent_session(session) as own:
        spend = (
            update(RecoveryCode)
            .where(*mine, RecoveryCode.id == code_id, RecoveryCode.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        spent = cast(CursorResult[Any], await own.execute(spend)).rowcount == 1
        await own.commit()
    return spent
