"""Password changes and the one-time passwords handed out on paper."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.models import Account
from app.auth.passwords import PasswordHasher, check_password_policy
from app.auth.services._common import AccountError, ClientInfo, log_own
from app.db import release_connection, utcnow
from app.tenancy import Tenant

ONE_TIME_PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"


def validate_new_password(password: str, confirmation: str, *, login_id: str) -> None:
    if password != confirmation:
        raise AccountError("確認用のパスワードが一致しません。同じパスワードを2回入力してください。", "confirmation")
    problems = check_password_policy(password, login_id=login_id)
    if problems:
        raise AccountError(problems[0], "password")


async def change_password(
    session: AsyncSession,
    hasher: PasswordHasher,
    *,
    account: Account,
    tenant: Tenant,
    current_password: str | None,
    new_password: str,
    confirmation: str,
    client: ClientInfo,
) -> None:
    """Set a new password (the current one is required unless this is the forced first change)."""
    await release_connection(session)  # up to three hashes: no pooled connection held while they queue
    if current_password is not None and (
        account.password_hash is None or not (await hasher.verify_async(account.password_hash, current_password)).ok
    ):
        raise AccountError("現在のパスワードが正しくありません。", "current_password")
    validate_new_password(new_password, confirmation, login_id=account.login_id)
    if account.password_hash and (await hasher.verify_async(account.password_hash, new_password)).ok:
        raise AccountError("現在と同じパスワードは使えません。別のパスワードを入力してください。", "password")
    account.password_hash = await hasher.hash_async(new_password)
    account.must_change_password = False
    account.password_expires_at = None
    await log_own(
        session, account, tenant, client, AuditAction.ACCOUNT_CHANGE, "パスワード変更", {"event": "password_changed"}
    )


def new_one_time_password() -> str:
    """12 characters from an alphabet without look-alikes (no 0/O, 1/l/I): typed from a paper letter."""
    return "".join(secrets.choice(ONE_TIME_PASSWORD_ALPHABET) for _ in range(12))


async def issue_one_time_password(account: Account, hasher: PasswordHasher, valid_for: dt.timedelta) -> str:
    """Replace the account's password with a one-time one that must be changed at first sign-in."""
    password = new_one_time_password()
    account.password_hash = await hasher.hash_async(password)  # off the event loop: bulk invitations hash many
    account.must_change_password = True
    account.password_expires_at = utcnow() + valid_for
    account.failed_attempts = 0
    account.locked_until = None
    account.session_epoch = (account.session_epoch or 0) + 1
    return password
