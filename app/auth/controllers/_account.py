"""The signed-in user's own account pages."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.controllers._common import enrol, enrolment_context, set_password, show_recovery_codes
from app.auth.controllers._sign_in import sign_in_page_for
from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal, signed_in_guard
from app.auth.schemas import CodeForm, NewPasswordForm
from app.auth.services import (
    ClientInfo,
    load_account,
    replace_recovery_codes,
    sign_out_everywhere,
    totp_required,
    unused_recovery_codes,
)
from app.auth.sessions import PREVIOUS_SIGN_IN_KEY, rotate_session, start_authenticated_session
from app.config import Settings
from app.forms import Form
from app.vault import Vault


class AccountController(Controller):
    """The signed-in user's own account: security settings, password, TOTP, re-authentication."""

    path = "/account"
    guards = [signed_in_guard]
    include_in_schema = False

    @get("/security", name="account_security")
    async def security_page(self, principal: Principal, db_session: AsyncSession, settings: Settings) -> Template:
        account, tenant = await load_account(db_session, principal.account_tenant_id, principal.account_id)
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
        account, tenant = await load_account(db_session, principal.account_tenant_id, principal.account_id)
        refused = await set_password(
            db_session, hasher, account=account, tenant=tenant, form=data, forced=False, client=client
        )
        if refused is not None:
            return refused
        account.session_epoch += 1  # other devices sign out; this one continues under a new id
        previous = request.session.get(PREVIOUS_SIGN_IN_KEY)
        rotate_session(request)
        start_authenticated_session(
            request,
            account_id=account.id,
            tenant_id=tenant.id,
            epoch=account.session_epoch,
            previous_sign_in=previous if isinstance(previous, (int, float)) else None,
        )
        request.session["flash"] = "パスワードを変更しました。"
        return Redirect(path="/account/security")

    @get("/totp", name="account_totp")
    async def totp_page(
        self, request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession, vault: Vault
    ) -> Template | Redirect:
        if not principal.stepup_fresh:
            return Redirect(path="/reauth", query_params={"next": "/account/totp"})
        account, _ = await load_account(db_session, principal.account_tenant_id, principal.account_id)
        if account.totp_enabled:
            return Redirect(path="/account/security")
        return Template(template_name="auth/enroll.html", context=await enrolment_context(request, vault, account))

    @post("/totp", name="account_totp_submit")
    async def totp_submit(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
        vault: Vault,
        client: ClientInfo,
        data: Annotated[CodeForm, Form],
    ) -> Template | Redirect:
        if not principal.stepup_fresh:
            return Redirect(path="/reauth", query_params={"next": "/account/totp"})
        account, tenant = await load_account(db_session, principal.account_tenant_id, principal.account_id)
        codes = await enrol(request, db_session, vault, account=account, tenant=tenant, code=data.code, client=client)
        if isinstance(codes, Template):
            return codes
        return show_recovery_codes(codes, "/account/security")

    @get("/recovery-codes", name="account_recovery_codes")
    async def recovery_codes_page(self, principal: Principal) -> Template | Redirect:
        if not principal.stepup_fresh:
            return Redirect(path="/reauth", query_params={"next": "/account/recovery-codes"})
        return Template(template_name="auth/recovery_codes_confirm.html")

    @post("/recovery-codes", name="account_recovery_codes_submit")
    async def recovery_codes_submit(self, principal: Principal, db_session: AsyncSession) -> Template | Redirect:
        if not principal.stepup_fresh:
            return Redirect(path="/reauth", query_params={"next": "/account/recovery-codes"})
        account, _ = await load_account(db_session, principal.account_tenant_id, principal.account_id)
        if not account.totp_enabled:
            return Redirect(path="/account/security")
        return show_recovery_codes(await replace_recovery_codes(db_session, account), "/account/security")

    @post("/sign-out-everywhere", name="account_sign_out_everywhere")
    async def sign_out_everywhere_submit(
        self, request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession, client: ClientInfo
    ) -> Redirect:
        account, tenant = await load_account(db_session, principal.account_tenant_id, principal.account_id)
        await sign_out_everywhere(db_session, account=account, tenant=tenant, client=client)
        rotate_session(request)
        request.clear_session()
        return Redirect(path=sign_in_page_for(principal))
