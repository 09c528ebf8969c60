"""TOTP enrolment and recovery codes."""

from __future__ import annotations

import base64
import secrets
from typing import Any, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
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


ENROLMENT_PURPOSE = "totp-enrolment"


def _enrolment_aead(vault: Vault) -> AESGCM:
    return AESGCM(vault.derive_secret(ENROLMENT_PURPOSE))


def _enrolment_ad(account: Account) -> bytes:
    return f"totp-enrolment:{account.tenant_id}:{account.id}".encode()


def new_totp_enrolment(vault: Vault, account: Account) -> tuple[str, str]:
    """A fresh TOTP secret for the QR code and its sealed form to keep in the (server-side) session until the
    first code confirms it. Nothing is written to the account: showing the enrolment page changes no state."""
    secret = new_totp_secret()
    nonce = secrets.token_bytes(12)
    sealed = nonce + _enrolment_aead(vault).encrypt(nonce, secret.encode(), _enrolment_ad(account))
    return secret, base64.urlsafe_b64encode(sealed).decode()


def open_totp_enrolment(vault: Vault, account: Account, sealed: object) -> str | None:
    """The secret of an enrolment started for this account, or None (absent, tampered, another account's)."""
    if not isinstance(sealed, str):
        return None
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        return _enrolment_aead(vault).decrypt(raw[:12], raw[12:], _enrolment_ad(account)).decode()
    except (ValueError, InvalidTag):
        return None


async def confirm_totp_enrolment(
    session: AsyncSession,
    vault: Vault,
    *,
    account: Account,
    tenant: Tenant,
    secret: str | None,
    code: str,
    client: ClientInfo,
) -> list[str]:
    """Activate TOTP with the secret shown on the enrolment page after a first good code (sealed through the
    vault, replacing any earlier secret); return ten fresh recovery codes (shown once). AccountError otherwise."""
    if secret is None:
        raise AccountError("登録手続きの有効期限が切れました。最初からやり直してください。")
    step = verify_totp(secret, code, last_used_step=None)
    if step is None:
        raise AccountError(
            "確認コードが正しくありません。認証アプリに表示されている6桁の数字を入力してください。", "code"
        )
    account.totp_secret_sealed = await vault.seal_secret(
        session, account.tenant_id, account.id, TOTP_PURPOSE, secret.encode()
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
