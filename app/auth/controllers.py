"""Sign-in, second factor, forced password change, TOTP enrolment, re-authentication, sign-out."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import sessions
from app.auth.models import Account, Role
from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal, principal_of, signed_in_guard
from app.auth.schemas import CodeForm, NewPasswordForm, ReauthForm, SignInForm
from app.auth.services import (
    AccountError,
    ClientInfo,
    NextStep,
    change_password,
    check_second_factor,
    check_stepup_password,
    complete_sign_in,
    confirm_totp_enrolment,
    is_locked,
    load_account,
    next_step_after_second_factor,
    pending_totp_secret,
    replace_recovery_codes,
    sign_in_with_password,
    sign_out_everywhere,
    start_totp_enrolment,
    totp_required,
    unused_recovery_codes,
)
from app.auth.sessions import rotate_session, start_authenticated_session
from app.auth.totp import provisioning_uri, qr_svg_data_uri
from app.config import Settings
from app.forms import Form
from app.http import safe_next
from app.tenancy import Tenant
from app.vault import Vault

PENDING_TTL_SECONDS = 600

STEP_PATHS = {
    NextStep.TOTP: "/login/totp",
    NextStep.CHANGE_PASSWORD: "/login/password",
    NextStep.ENROLL_TOTP: "/login/enroll",
}


def home_for(role: Role) -> str:
    """Where a fresh sign-in lands."""
    if role is Role.OPERATOR:
        return "/operator/tenants"
    if role is Role.EMPLOYEE:
        return "/me"
    return "/admin"


def signin_rate_limit(settings: Settings) -> RateLimitConfig:
    """Per-client-address limit on sign-in posts (accounts also lock after repeated failures)."""
    return RateLimitConfig(
        rate_limit=("minute", settings.signin_rate_per_minute),
        store="rate_limit",
        check_throttle_handler=lambda request: request.method == "POST",
        set_rate_limit_headers=False,
    )


def _pending(request: Request[Any, Any, Any]) -> tuple[uuid.UUID, uuid.UUID, NextStep, str]:
    data = request.session or {}
    try:
        if time.time() - float(data["pending_since"]) > PENDING_TTL_SECONDS:
            raise KeyError("expired")
        return (
            uuid.UUID(data["pending_tenant_id"]),
            uuid.UUID(data["pending_account_id"]),
            NextStep(data["pending_step"]),
            str(data.get("pending_next", "")),
        )
    except (KeyError, ValueError, TypeError):
        raise NotAuthorizedException() from None


async def _advance(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    *,
    account: Account,
    tenant: Tenant,
    step: NextStep,
    next_path: str,
    client: ClientInfo,
) -> Redirect:
    """Move a sign-in to its next step, or finish it: a new session id either way."""
    rotate_session(request)
    if step is NextStep.DONE:
        await complete_sign_in(db_session, account=account, tenant=tenant, client=client)
        start_authenticated_session(request, account_id=account.id, tenant_id=tenant.id, epoch=account.session_epoch)
        return Redirect(path=safe_next(next_path, home_for(account.role)))
    request.set_session(
        {
            "pending_account_id": str(account.id),
            "pending_tenant_id": str(tenant.id),
            "pending_step": step.value,
            "pending_since": time.time(),
            "pending_next": next_path,
        }
    )
    return Redirect(path=STEP_PATHS[step])


async def _pending_account(
    request: Request[Any, Any, Any], db_session: AsyncSession, expected: NextStep
) -> tuple[Account, Tenant, str] | Redirect:
    """The partly signed-in account, when the session is at the expected step (else where it should be)."""
    tenant_id, account_id, step, next_path = _pending(request)
    if step is not expected:
        return Redirect(path=STEP_PATHS.get(step, "/login"))
    account, tenant = await load_account(db_session, tenant_id, account_id)
    return account, tenant, next_path


async def _set_password(
    db_session: AsyncSession,
    hasher: PasswordHasher,
    *,
    account: Account,
    tenant: Tenant,
    form: NewPasswordForm,
    forced: bool,
    client: ClientInfo,
) -> Template | None:
    """Change the password; the form again with the Japanese error when it was refused."""
    try:
        await change_password(
            db_session,
            hasher,
            account=account,
            tenant=tenant,
            current_password=None if forced else form.current_password,
            new_password=form.password,
            confirmation=form.confirmation,
            client=client,
        )
    except AccountError as exc:
        return Template(
            template_name="auth/password.html",
            context={"forced": forced, "error": exc.message, "error_field": exc.field},
            status_code=400,
        )
    return None


async def _enrol(
    db_session: AsyncSession, vault: Vault, *, account: Account, tenant: Tenant, code: str, client: ClientInfo
) -> Template | list[str]:
    """Confirm TOTP enrolment: the recovery codes, or the enrolment page again with the error."""
    try:
        return await confirm_totp_enrolment(db_session, vault, account=account, tenant=tenant, code=code, client=client)
    except AccountError as exc:
        context = await _enrolment_context(db_session, vault, account)
        return Template(template_name="auth/enroll.html", context={**context, "error": exc.message}, status_code=400)


def _recovery_codes_page(codes: list[str], continue_to: str) -> Template:
    return Template(template_name="auth/recovery_codes.html", context={"codes": codes, "continue_to": continue_to})


class SignInController(Controller):
    include_in_schema = False

    @get("/login", name="login")
    async def login_page(self, request: Request[Any, Any, Any], next: str = "", code: str = "") -> Template:
        if principal_of(request) is not None and not next:
            return Template(template_name="auth/already_signed_in.html")
        return Template(
            template_name="auth/login.html",
            context={"form": {"tenant_code": code, "login_id": ""}, "next": safe_next(next, ""), "fixed_code": False},
        )

    @get("/t/{tenant_code:str}/login", name="tenant_login")
    async def tenant_login_page(self, tenant_code: str, next: str = "") -> Template:
        return Template(
            template_name="auth/login.html",
            context={
                "form": {"tenant_code": tenant_code, "login_id": ""},
                "next": safe_next(next, ""),
                "fixed_code": True,
            },
        )

    @post("/login", name="login_submit")
    async def login_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        settings: Settings,
        hasher: PasswordHasher,
        client: ClientInfo,
        data: Annotated[SignInForm, Form],
    ) -> Template | Redirect:
        try:
            signin = await sign_in_with_password(
                db_session,
                settings,
                hasher,
                tenant_code=data.tenant_code,
                login_id=data.login_id,
                password=data.password,
                client=client,
            )
        except AccountError as exc:
            return Template(
                template_name="auth/login.html",
                context={
                    "form": {"tenant_code": data.tenant_code, "login_id": data.login_id},
                    "next": safe_next(data.next, ""),
                    "error": exc.message,
                    "fixed_code": False,
                },
                status_code=400,
            )
        return await _advance(
            request,
            db_session,
            account=signin.account,
            tenant=signin.tenant,
            step=signin.next_step,
            next_path=safe_next(data.next, ""),
            client=client,
        )

    @get("/login/totp", name="login_totp")
    async def totp_page(self, request: Request[Any, Any, Any]) -> Template:
        _pending(request)
        return Template(template_name="auth/totp.html")

    @post("/login/totp", name="login_totp_submit")
    async def totp_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        settings: Settings,
        vault: Vault,
        client: ClientInfo,
        data: Annotated[CodeForm, Form],
    ) -> Template | Redirect:
        pending = await _pending_account(request, db_session, NextStep.TOTP)
        if isinstance(pending, Redirect):
            return pending
        account, tenant, next_path = pending
        try:
            await check_second_factor(
                db_session, settings, vault, account=account, tenant=tenant, code=data.code, client=client
            )
        except AccountError as exc:
            return Template(template_name="auth/totp.html", context={"error": exc.message}, status_code=400)
        return await _advance(
            request,
            db_session,
            account=account,
            tenant=tenant,
            step=next_step_after_second_factor(account, tenant),
            next_path=next_path,
            client=client,
        )

    @get("/login/password", name="login_password")
    async def forced_password_page(self, request: Request[Any, Any, Any]) -> Template:
        _pending(request)
        return Template(template_name="auth/password.html", context={"forced": True})

    @post("/login/password", name="login_password_submit")
    async def forced_password_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        hasher: PasswordHasher,
        client: ClientInfo,
        data: Annotated[NewPasswordForm, Form],
    ) -> Template | Redirect:
        pending = await _pending_account(request, db_session, NextStep.CHANGE_PASSWORD)
        if isinstance(pending, Redirect):
            return pending
        account, tenant, next_path = pending
        refused = await _set_password(
            db_session, hasher, account=account, tenant=tenant, form=data, forced=True, client=client
        )
        if refused is not None:
            return refused
        return await _advance(
            request,
            db_session,
            account=account,
            tenant=tenant,
            step=next_step_after_second_factor(account, tenant),
            next_path=next_path,
            client=client,
        )

    @get("/login/enroll", name="login_enroll")
    async def enroll_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, vault: Vault
    ) -> Template | Redirect:
        pending = await _pending_account(request, db_session, NextStep.ENROLL_TOTP)
        if isinstance(pending, Redirect):
            return pending
        account, _, _ = pending
        return Template(template_name="auth/enroll.html", context=await _enrolment_context(db_session, vault, account))

    @post("/login/enroll", name="login_enroll_submit")
    async def enroll_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        client: ClientInfo,
        data: Annotated[CodeForm, Form],
    ) -> Template | Redirect:
        pending = await _pending_account(request, db_session, NextStep.ENROLL_TOTP)
        if isinstance(pending, Redirect):
            return pending
        account, tenant, next_path = pending
        codes = await _enrol(db_session, vault, account=account, tenant=tenant, code=data.code, client=client)
        if isinstance(codes, Template):
            return codes
        await _advance(
            request, db_session, account=account, tenant=tenant, step=NextStep.DONE, next_path=next_path, client=client
        )
        return _recovery_codes_page(codes, safe_next(next_path, home_for(account.role)))

    @post("/logout", name="logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        rotate_session(request)
        request.clear_session()
        return Redirect(path="/login")


async def _enrolment_context(db_session: AsyncSession, vault: Vault, account: Account) -> dict[str, Any]:
    secret = await pending_totp_secret(db_session, vault, account)
    if secret is None:
        secret = await start_totp_enrolment(db_session, vault, account)
        await db_session.commit()
    uri = provisioning_uri(secret, account_name=account.login_id)
    return {"secret": secret, "qr": qr_svg_data_uri(uri)}


class AccountController(Controller):
    """The signed-in user's own account: security settings, password, TOTP, re-authentication."""

    path = "/account"
    guards = [signed_in_guard]
    include_in_schema = False

    @get("/security", name="account_security")
    async def security_page(self, principal: Principal, db_session: AsyncSession, settings: Settings) -> Template:
        account, tenant = await load_account(db_session, principal.tenant_id, principal.account_id)
        return Template(
            template_name="auth/security.html",
            context={
                "account": account,
                "totp_required": totp_required(account, tenant),
                "recovery_left": await unused_recovery_codes(db_session, account),
            },
        )

    @get("/password", name="account_password")
    async def password_page(self) -> Template:
        return Template(template_name="auth/password.html", context={"forced": False})

    @post("/password", name="account_password_submit")
    async def password_submit(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
        hasher: PasswordHasher,
        client: ClientInfo,
        data: Annotated[NewPasswordForm, Form],
    ) -> Template | Redirect:
        account, tenant = await load_account(db_session, principal.tenant_id, principal.account_id)
        refused = await _set_password(
            db_session, hasher, account=account, tenant=tenant, form=data, forced=False, client=client
        )
        if refused is not None:
            return refused
        account.session_epoch += 1  # other devices sign out; this one continues under a new id
        rotate_session(request)
        start_authenticated_session(request, account_id=account.id, tenant_id=tenant.id, epoch=account.session_epoch)
        request.session["flash"] = "パスワードを変更しました。"
        return Redirect(path="/account/security")

    @get("/totp", name="account_totp")
    async def totp_page(self, principal: Principal, db_session: AsyncSession, vault: Vault) -> Template | Redirect:
        if not principal.stepup_fresh:
            return Redirect(path="/reauth", query_params={"next": "/account/totp"})
        account, _ = await load_account(db_session, principal.tenant_id, principal.account_id)
        if account.totp_enabled:
            return Redirect(path="/account/security")
        return Template(template_name="auth/enroll.html", context=await _enrolment_context(db_session, vault, account))

    @post("/totp", name="account_totp_submit")
    async def totp_submit(
        self,
        principal: Principal,
        db_session: AsyncSession,
        vault: Vault,
        client: ClientInfo,
        data: Annotated[CodeForm, Form],
    ) -> Template | Redirect:
        if not principal.stepup_fresh:
            return Redirect(path="/reauth", query_params={"next": "/account/totp"})
        account, tenant = await load_account(db_session, principal.tenant_id, principal.account_id)
        codes = await _enrol(db_session, vault, account=account, tenant=tenant, code=data.code, client=client)
        if isinstance(codes, Template):
            return codes
        return _recovery_codes_page(codes, "/account/security")

    @get("/recovery-codes", name="account_recovery_codes")
    async def recovery_codes_page(self, principal: Principal) -> Template | Redirect:
        if not principal.stepup_fresh:
            return Redirect(path="/reauth", query_params={"next": "/account/recovery-codes"})
        return Template(template_name="auth/recovery_codes_confirm.html")

    @post("/recovery-codes", name="account_recovery_codes_submit")
    async def recovery_codes_submit(self, principal: Principal, db_session: AsyncSession) -> Template | Redirect:
        if not principal.stepup_fresh:
            return Redirect(path="/reauth", query_params={"next": "/account/recovery-codes"})
        account, _ = await load_account(db_session, principal.tenant_id, principal.account_id)
        if not account.totp_enabled:
            return Redirect(path="/account/security")
        return _recovery_codes_page(await replace_recovery_codes(db_session, account), "/account/security")

    @post("/sign-out-everywhere", name="account_sign_out_everywhere")
    async def sign_out_everywhere_submit(
        self, request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession, client: ClientInfo
    ) -> Redirect:
        account, tenant = await load_account(db_session, principal.tenant_id, principal.account_id)
        await sign_out_everywhere(db_session, account=account, tenant=tenant, client=client)
        rotate_session(request)
        request.clear_session()
        return Redirect(path="/login")


class ReauthController(Controller):
    """Step-up: password (and TOTP when enrolled) again before revealing, exporting, deleting, security changes."""

    guards = [signed_in_guard]
    include_in_schema = False

    @get("/reauth", name="reauth")
    async def reauth_page(self, principal: Principal, next: str = "") -> Template:
        return Template(
            template_name="auth/reauth.html", context={"next": safe_next(next), "needs_code": principal.totp_enabled}
        )

    @post("/reauth", name="reauth_submit")
    async def reauth_submit(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
        settings: Settings,
        hasher: PasswordHasher,
        vault: Vault,
        client: ClientInfo,
        data: Annotated[ReauthForm, Form],
    ) -> Template | Redirect:
        account, tenant = await load_account(db_session, principal.tenant_id, principal.account_id)
        context = {"next": safe_next(data.next), "needs_code": account.totp_enabled}
        try:
            await check_stepup_password(
                db_session, settings, hasher, account=account, tenant=tenant, password=data.password, client=client
            )
            if account.totp_enabled:
                await check_second_factor(
                    db_session, settings, vault, account=account, tenant=tenant, code=data.code, client=client
                )
        except AccountError as exc:
            if is_locked(account):  # locked by guessing here: this session ends too
                rotate_session(request)
                request.clear_session()
                return Redirect(path="/login")
            return Template(
                template_name="auth/reauth.html", context={**context, "error": exc.message}, status_code=400
            )
        rotate_session(request)
        session_data = dict(request.session)
        session_data["stepup_at"] = sessions.now_ts()
        request.set_session(session_data)
        return Redirect(path=safe_next(data.next))
