"""Signing in: the password step, lockout, failed attempts, the second factor and the step-up password check."""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.audit.events import Actor, AuditAction, AuditEvent, AuditResult
from app.audit.guard import contains_digit_run
from app.audit.log import record
from app.auth.models import Account, Role
from app.auth.passwords import PasswordHasher
from app.auth.services._common import AccountError, ClientInfo, actor_for, log_own
from app.auth.services._totp import TOTP_PURPOSE, use_recovery_code
from app.auth.totp import verify_totp
from app.config import Settings
from app.db import independent_session, release_connection, utcnow
from app.tenancy import Tenant, TenantKind
from app.vault import Vault

GENERIC_SIGN_IN_ERROR = (
    "事業者コード・ログインID・パスワードのいずれかが正しくないか、アカウントが一時的にロックされています。"
    "入力内容をご確認ください。"
)

# A tenant erased at contract end (billing.tenant_erasure): said plainly once the password is right, since its
# people would otherwise keep trying; before that the generic message, as for everyone.
TENANT_ERASED_MESSAGE = "この事業者の契約は終了し、データは消去されました。"


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
    ERASED = "tenant_erased"


def redact_typed_identifier(text: str) -> str:
    """What a person typed as a login id, safe for the log (someone may type a number there)."""
    normalized = unicodedata.normalize("NFKC", text).strip()[:64]
    return "（数字列のため省略）" if contains_digit_run(normalized) else normalized


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


def _account_row(account: Account) -> Any:
    return update(Account).where(Account.tenant_id == account.tenant_id, Account.id == account.id)


async def _count_failure(session: AsyncSession, account: Account, settings: Settings) -> None:
    """One more failure, counted atomically (parallel guesses all count); the threshold locks the account."""
    added = _account_row(account).values(failed_attempts=Account.failed_attempts + 1).returning(Account.failed_attempts)
    failures = int((await session.execute(added.execution_options(synchronize_session=False))).scalar_one())
    locked_until = account.locked_until
    if failures >= settings.lockout_threshold:
        locked_until = utcnow() + dt.timedelta(minutes=settings.lockout_minutes)
        failures = 0
        lock = _account_row(account).values(locked_until=locked_until, failed_attempts=0)
        await session.execute(lock.execution_options(synchronize_session=False))
    # The request's own copy of the account sees what was committed (without marking it changed).
    set_committed_value(account, "failed_attempts", failures)
    set_committed_value(account, "locked_until", locked_until)


async def _refuse(
    session: AsyncSession,
    settings: Settings,
    *,
    tenant: Tenant | None,
    account: Account | None,
    login_id: str,
    reason: FailureReason,
    client: ClientInfo,
    count: bool,
    logged_as_locked_once_locked: bool = True,
) -> None:
    """Count the failure (when ``count``) and log it in a transaction of its own, committed before the request
    answers: nothing the request does afterwards (an error, a rollback) can undo a failed attempt or a lockout."""
    async with independent_session(session) as own:
        if count and account is not None:
            await _count_failure(own, account, settings)
            if logged_as_locked_once_locked and is_locked(account):
                reason = FailureReason.LOCKED
        await _record_failure(own, tenant=tenant, account=account, login_id=login_id, reason=reason, client=client)
        await own.commit()


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
    await release_connection(session)  # the hash may queue behind others: no pooled connection held meanwhile
    if tenant is None or account is None or account.password_hash is None:
        await hasher.verify_dummy_async(password)
        reason = FailureReason.UNKNOWN_ID
    else:
        check = await hasher.verify_async(account.password_hash, password)
        if is_locked(account):
            reason = FailureReason.LOCKED
        elif not check.ok:
            reason = FailureReason.BAD_PASSWORD
        elif tenant.erased_at is not None:
            reason = FailureReason.ERASED
        elif account.is_disabled:
            reason = FailureReason.DISABLED
        elif tenant.locked_out:
            reason = FailureReason.SUSPENDED
        elif account.password_expires_at is not None and account.password_expires_at < utcnow():
            reason = FailureReason.EXPIRED_PASSWORD
        elif check.needs_rehash:
            account.password_hash = await hasher.hash_async(password)
    if reason is not None:
        await _refuse(
            session,
            settings,
            tenant=tenant,
            account=account,
            login_id=login_id,
            reason=reason,
            client=client,
            count=reason is FailureReason.BAD_PASSWORD,
            logged_as_locked_once_locked=False,
        )
        raise AccountError(TENANT_ERASED_MESSAGE if reason is FailureReason.ERASED else GENERIC_SIGN_IN_ERROR)
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
    """Accept a TOTP code (never the same time step twice, even by parallel requests) or an unused recovery code;
    failures are counted and logged in their own committed transaction."""
    if (
        not is_locked(account)
        and not account.is_disabled
        and await _second_factor_matches(session, vault, account, code)
    ):
        account.failed_attempts = 0
        return
    locked = is_locked(account)
    await _refuse(
        session,
        settings,
        tenant=tenant,
        account=account,
        login_id=account.login_id,
        reason=FailureReason.LOCKED if locked else FailureReason.BAD_TOTP,
        client=client,
        count=not locked,
    )
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
        return await _claim_totp_step(session, account, step)
    return await use_recovery_code(session, account, code)


async def _claim_totp_step(session: AsyncSession, account: Account, step: int) -> bool:
    """Take a time step for this account with one conditional update, committed at once: of parallel requests
    sending the same code exactly one gets the row (RFC 6238 §5.2: a code is accepted once)."""
    async with independent_session(session) as own:
        claim = (
            _account_row(account)
            .where((Account.totp_last_step.is_(None)) | (Account.totp_last_step < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        claimed = cast(CursorResult[Any], await own.execute(claim)).rowcount == 1
        await own.commit()
    if claimed:
        set_committed_value(account, "totp_last_step", step)
    return claimed


async def complete_sign_in(
    session: AsyncSession, *, account: Account, tenant: Tenant, client: ClientInfo
) -> dt.datetime | None:
    """Finish a sign-in (counters reset, ログイン entry); returns the account's previous sign-in time, if any."""
    previous = account.last_login_at
    account.failed_attempts = 0
    account.locked_until = None
    account.last_login_at = utcnow()
    await log_own(session, account, tenant, client, AuditAction.LOGIN, "ログイン", {"totp": account.totp_enabled})
    return previous


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
    await release_connection(session)
    if (
        not is_locked(account)
        and account.password_hash
        and (await hasher.verify_async(account.password_hash, password)).ok
    ):
        return
    locked = is_locked(account)
    await _refuse(
        session,
        settings,
        tenant=tenant,
        account=account,
        login_id=account.login_id,
        reason=FailureReason.LOCKED if locked else FailureReason.BAD_PASSWORD,
        client=client,
        count=not locked,
    )
    raise AccountError("パスワードが正しくありません。")
