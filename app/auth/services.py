"""Sign-in rules: password, lockout, TOTP, recovery codes, password changes, one-time passwords, sign-out."""

from __future__ import annotations

import datetime as dt
import enum
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent, AuditResult
from app.audit.log import record
from app.auth.models import Account, RecoveryCode, Role
from app.auth.passwords import PasswordHasher, check_password_policy
from app.auth.totp import generate_recovery_codes, hash_recovery_code, new_totp_secret, verify_totp
from app.config import Settings
from app.db import utcnow
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.vault import Vault

TOTP_PURPOSE = "totp"
GENERIC_SIGN_IN_ERROR = (
    "事業者コード・ログインID・パスワードのいずれかが正しくないか、アカウントが一時的にロックされています。"
    "入力内容をご確認ください。"
)
ONE_TIME_PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"


class NextStep(enum.StrEnum):
    """What a partly signed-in session must do before it becomes a full sign-in."""

    TOTP = "totp"
    CHANGE_PASSWORD = "password"
    ENROLL_TOTP = "enroll"
    DONE = "done"


class FailureReason(enum.StrEnum):
    UNKNOWN_ID = "unknown_id"
    BAD_PASSWORD = "bad_password"
    LOCKED = "locked"
    DISABLED = "disabled"
    BAD_TOTP = "bad_totp"
    EXPIRED_PASSWORD = "expired_one_time_password"
    SUSPENDED = "tenant_suspended"


class AccountError(Exception):
    """A rule refused the request; ``message`` is Japanese and says what to fix."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip: str | None
    user_agent: str | None


_TWELVE_DIGITS = re.compile(r"\d{12,}")


def redact_typed_identifier(text: str) -> str:
    """What a person typed as a login id, safe for the log (someone may type a number there)."""
    normalized = unicodedata.normalize("NFKC", text).strip()[:64]
    compact = re.sub(r"[\s\-‐－ー]", "", normalized)
    return "（数字列のため省略）" if _TWELVE_DIGITS.search(compact) else normalized


def actor_for(account: Account, tenant: Tenant, client: ClientInfo) -> Actor:
    return Actor(
        user_id=account.id,
        login_id=account.login_id,
        name=account.name,
        role=account.role.label,
        organisation=tenant.name,
        ip=client.ip,
        user_agent=client.user_agent,
    )


async def _log_own(
    session: AsyncSession,
    account: Account,
    tenant: Tenant,
    client: ClientInfo,
    action: AuditAction,
    function: str,
    detail: dict[str, object],
) -> None:
    """Log something an account did for itself (signing in, its password, its second factor)."""
    actor = actor_for(account, tenant, client)
    await record(session, AuditEvent(tenant_id=tenant.id, action=action, actor=actor, function=function, detail=detail))


async def operator_tenant(session: AsyncSession) -> Tenant | None:
    return (await session.execute(select(Tenant).where(Tenant.kind == TenantKind.OPERATOR))).scalars().first()


async def _record_failure(
    session: AsyncSession,
    *,
    tenant: Tenant | None,
    account: Account | None,
    login_id: str,
    reason: FailureReason,
    client: ClientInfo,
) -> None:
    chain = tenant if tenant is not None else await operator_tenant(session)
    if chain is None:
        return
    actor = (
        actor_for(account, chain, client)
        if account is not None
        else Actor(
            user_id=None,
            login_id=redact_typed_identifier(login_id),
            name="",
            role="",
            organisation=chain.name if tenant is not None else "",
            ip=client.ip,
            user_agent=client.user_agent,
        )
    )
    detail: dict[str, object] = {"reason": reason.value}
    if tenant is None:
        detail["tenant"] = "unknown"
    await record(
        session,
        AuditEvent(
            tenant_id=chain.id,
            action=AuditAction.LOGIN_FAILED,
            actor=actor,
            function="ログイン",
            result=AuditResult.FAILURE,
            detail=detail,
        ),
    )


async def find_tenant_by_code(session: AsyncSession, code: str) -> Tenant | None:
    code = unicodedata.normalize("NFKC", code).strip().lower()
    if not code:
        return None
    return (await session.execute(select(Tenant).where(Tenant.code == code))).scalar_one_or_none()


async def find_account(session: AsyncSession, tenant_id: uuid.UUID, login_id: str) -> Account | None:
    login_id = unicodedata.normalize("NFKC", login_id).strip()
    return (
        await session.execute(select(Account).where(Account.tenant_id == tenant_id, Account.login_id == login_id))
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class SignIn:
    account: Account
    tenant: Tenant
    next_step: NextStep


def next_step_after_password(account: Account, tenant: Tenant) -> NextStep:
    if account.totp_enabled:
        return NextStep.TOTP
    return next_step_after_second_factor(account, tenant)


def next_step_after_second_factor(account: Account, tenant: Tenant) -> NextStep:
    if account.must_change_password:
        return NextStep.CHANGE_PASSWORD
    if totp_required(account, tenant) and not account.totp_enabled:
        return NextStep.ENROLL_TOTP
    return NextStep.DONE


def totp_required(account: Account, tenant: Tenant) -> bool:
    return account.role.requires_totp or (account.role is Role.EMPLOYEE and tenant.require_totp_for_employees)


async def _count_failure(session: AsyncSession, account: Account, settings: Settings) -> None:
    account.failed_attempts += 1
    if account.failed_attempts >= settings.lockout_threshold:
        account.locked_until = utcnow() + dt.timedelta(minutes=settings.lockout_minutes)
        account.failed_attempts = 0


def is_locked(account: Account) -> bool:
    return account.locked_until is not None and account.locked_until > utcnow()


async def sign_in_with_password(
    session: AsyncSession,
    settings: Settings,
    hasher: PasswordHasher,
    *,
    tenant_code: str,
    login_id: str,
    password: str,
    client: ClientInfo,
) -> SignIn:
    """Check the first factor. Failures are logged and committed, then raise AccountError (one message for all)."""
    tenant = await find_tenant_by_code(session, tenant_code)
    account = await find_account(session, tenant.id, login_id) if tenant is not None else None
    reason: FailureReason | None = None
    if tenant is None or account is None or account.password_hash is None:
        hasher.verify_dummy(password)
        reason = FailureReason.UNKNOWN_ID
    else:
        check = hasher.verify(account.password_hash, password)
        if is_locked(account):
            reason = FailureReason.LOCKED
        elif not check.ok:
            reason = FailureReason.BAD_PASSWORD
            await _count_failure(session, account, settings)
        elif account.is_disabled:
            reason = FailureReason.DISABLED
        elif tenant.kind is TenantKind.COMPANY and tenant.status in (TenantStatus.SUSPENDED, TenantStatus.ENDED):
            reason = FailureReason.SUSPENDED
        elif account.password_expires_at is not None and account.password_expires_at < utcnow():
            reason = FailureReason.EXPIRED_PASSWORD
        elif check.needs_rehash:
            account.password_hash = hasher.hash(password)
    if reason is not None:
        await _record_failure(session, tenant=tenant, account=account, login_id=login_id, reason=reason, client=client)
        await session.commit()
        raise AccountError(GENERIC_SIGN_IN_ERROR)
    assert tenant is not None and account is not None
    return SignIn(account=account, tenant=tenant, next_step=next_step_after_password(account, tenant))


async def load_account(session: AsyncSession, tenant_id: uuid.UUID, account_id: uuid.UUID) -> tuple[Account, Tenant]:
    row = (
        await session.execute(
            select(Account, Tenant)
            .join(Tenant, Tenant.id == Account.tenant_id)
            .where(Account.tenant_id == tenant_id, Account.id == account_id)
        )
    ).one_or_none()
    if row is None:
        raise AccountError("アカウントが見つかりません。もう一度ログインしてください。")
    return row[0], row[1]


async def check_second_factor(
    session: AsyncSession,
    settings: Settings,
    vault: Vault,
    *,
    account: Account,
    tenant: Tenant,
    code: str,
    client: ClientInfo,
) -> None:
    """Accept a TOTP code (never the same time step twice) or an unused recovery code; count failures."""
    if (
        not is_locked(account)
        and not account.is_disabled
        and await _second_factor_matches(session, vault, account, code)
    ):
        account.failed_attempts = 0
        return
    if not is_locked(account):
        await _count_failure(session, account, settings)
    await _record_failure(
        session,
        tenant=tenant,
        account=account,
        login_id=account.login_id,
        reason=FailureReason.LOCKED if is_locked(account) else FailureReason.BAD_TOTP,
        client=client,
    )
    await session.commit()
    raise AccountError(
        "確認コードが正しくありません。認証アプリの6桁のコード、またはリカバリーコードを入力してください。"
    )


async def _second_factor_matches(session: AsyncSession, vault: Vault, account: Account, code: str) -> bool:
    code = code.strip()
    if account.totp_secret_sealed is None:
        return False
    if re.fullmatch(r"[0-9\s]{6,8}", code):
        secret = (
            await vault.open_secret(session, account.tenant_id, account.id, TOTP_PURPOSE, account.totp_secret_sealed)
        ).decode()
        step = verify_totp(secret, code, last_used_step=account.totp_last_step)
        if step is None:
            return False
        account.totp_last_step = step
        return True
    return await use_recovery_code(session, account, code)


async def use_recovery_code(session: AsyncSession, account: Account, code: str) -> bool:
    result = await session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.tenant_id == account.tenant_id,
            RecoveryCode.account_id == account.id,
            RecoveryCode.code_hash == hash_recovery_code(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def complete_sign_in(session: AsyncSession, *, account: Account, tenant: Tenant, client: ClientInfo) -> None:
    account.failed_attempts = 0
    account.locked_until = None
    account.last_login_at = utcnow()
    await _log_own(session, account, tenant, client, AuditAction.LOGIN, "ログイン", {"totp": account.totp_enabled})


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
    if current_password is not None and (
        account.password_hash is None or not hasher.verify(account.password_hash, current_password).ok
    ):
        raise AccountError("現在のパスワードが正しくありません。", "current_password")
    validate_new_password(new_password, confirmation, login_id=account.login_id)
    if account.password_hash and hasher.verify(account.password_hash, new_password).ok:
        raise AccountError("現在と同じパスワードは使えません。別のパスワードを入力してください。", "password")
    account.password_hash = hasher.hash(new_password)
    account.must_change_password = False
    account.password_expires_at = None
    await _log_own(
        session, account, tenant, client, AuditAction.ACCOUNT_CHANGE, "パスワード変更", {"event": "password_changed"}
    )


def new_one_time_password() -> str:
    """12 characters from an alphabet without look-alikes (no 0/O, 1/l/I): typed from a paper letter."""
    return "".join(secrets.choice(ONE_TIME_PASSWORD_ALPHABET) for _ in range(12))


def issue_one_time_password(account: Account, hasher: PasswordHasher, valid_for: dt.timedelta) -> str:
    """Replace the account's password with a one-time one that must be changed at first sign-in."""
    password = new_one_time_password()
    account.password_hash = hasher.hash(password)
    account.must_change_password = True
    account.password_expires_at = utcnow() + valid_for
    account.failed_attempts = 0
    account.locked_until = None
    account.session_epoch = (account.session_epoch or 0) + 1
    return password


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
    await _log_own(
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
    session.add_all(
        [
            RecoveryCode(tenant_id=account.tenant_id, account_id=account.id, code_hash=hash_recovery_code(c))
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


async def sign_out_everywhere(session: AsyncSession, *, account: Account, tenant: Tenant, client: ClientInfo) -> None:
    """Invalidate every session of this account (each session carries the epoch it was started in)."""
    account.session_epoch += 1
    await _log_own(
        session,
        account,
        tenant,
        client,
        AuditAction.LOGOUT,
        "すべての端末からログアウト",
        {"event": "sign_out_everywhere"},
    )


async def check_stepup_password(
    session: AsyncSession,
    settings: Settings,
    hasher: PasswordHasher,
    *,
    account: Account,
    tenant: Tenant,
    password: str,
    client: ClientInfo,
) -> None:
    """Re-authentication counts towards the lockout like a sign-in: a stolen session cannot guess the password."""
    if not is_locked(account) and account.password_hash and hasher.verify(account.password_hash, password).ok:
        return
    if not is_locked(account):
        await _count_failure(session, account, settings)
    reason = FailureReason.LOCKED if is_locked(account) else FailureReason.BAD_PASSWORD
    await _record_failure(
        session, tenant=tenant, account=account, login_id=account.login_id, reason=reason, client=client
    )
    await session.commit()
    raise AccountError("パスワードが正しくありません。")
