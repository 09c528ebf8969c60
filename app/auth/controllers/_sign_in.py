"""Sign-in and its pending steps (second factor, forced password change, TOTP enrolment), and sign-out."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.controllers._common import enrol, enrolment_context, set_password, show_recovery_codes
from app.auth.models import Account, Role
from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal, home_for, principal_of
from app.auth.schemas import CodeForm, NewPasswordForm, SignInForm
from app.auth.services import (
    AccountError,
    ClientInfo,
    NextStep,
    check_second_factor,
    complete_sign_in,
    load_account,
    next_step_after_second_factor,
    sign_in_with_password,
)
from app.auth.sessions import rotate_session, start_authenticated_session
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


def sign_in_page_for(principal: Principal | None) -> str:
    """Where a signed-out person signs in again: employees get their company's QR sign-in page (they do not know
    the 事業者コード), everyone else the plain page."""
    if principal is not None and principal.role is Role.EMPLOYEE:
        return f"/t/{quote(principal.tenant_code, safe='')}/login"
    return "/login"


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
    """Move a sign-in to its next step, or finish it: a new session id either way, handed out only after the
    sign-in's transaction committed (a failed commit answers 500 with no new session: nothing to tell apart)."""
    previous = None
    if step is NextStep.DONE:
        previous = await complete_sign_in(db_session, account=account, tenant=tenant, client=client)
    await db_session.commit()
    rotate_session(request)
    if step is NextStep.DONE:
        start_authenticated_session(
            request,
            account_id=account.id,
            tenant_id=tenant.id,
            epoch=account.session_epoch,
            previous_sign_in=previous.timestamp() if previous is not None else None,
        )
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


async def _continue(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    *,
    account: Account,
    tenant: Tenant,
    next_path: str,
    client: ClientInfo,
) -> Redirect:
    """After the second factor or the forced password change: the next step, or the end of the sign-in."""
    step = next_step_after_second_factor(account, tenant)
    return await _advance(
        request, db_session, account=account, tenant=tenant, step=step, next_path=next_path, client=client
    )


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
                    "fixed_code": data.fixed_code == "1" and bool(data.tenant_code),
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
        return await _continue(request, db_session, account=account, tenant=tenant, next_path=next_path, client=client)

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
        refused = await set_password(
            db_session, hasher, account=account, tenant=tenant, form=data, forced=True, client=client
        )
        if refused is not None:
            return refused
        return await _continue(request, db_session, account=account, tenant=tenant, next_path=next_path, client=client)

    @get("/login/enroll", name="login_enroll")
    async def enroll_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, vault: Vault
    ) -> Template | Redirect:
        pending = await _pending_account(request, db_session, NextStep.ENROLL_TOTP)
        if isinstance(pending, Redirect):
            return pending
        account, _, _ = pending
        return Template(template_name="auth/enroll.html", context=await enrolment_context(request, vault, account))

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
        codes = await enrol(request, db_session, vault, account=account, tenant=tenant, code=data.code, client=client)
        if isinstance(codes, Template):
            return codes
        await _advance(
            request, db_session, account=account, tenant=tenant, step=NextStep.DONE, next_path=next_path, client=client
        )
        return show_recovery_codes(codes, safe_next(next_path, home_for(account.role)))

    @post("/logout", name="logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        principal = principal_of(request)
        rotate_session(request)
        request.clear_session()
        return Redirect(path=sign_in_page_for(principal))
