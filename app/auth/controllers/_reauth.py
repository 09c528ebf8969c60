"""Re-authentication (step-up) before sensitive actions."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import sessions
from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal, signed_in_guard
from app.auth.schemas import ReauthForm
from app.auth.services import (
    AccountError,
    ClientInfo,
    check_second_factor,
    check_stepup_password,
    is_locked,
    load_account,
)
from app.auth.sessions import rotate_session
from app.config import Settings
from app.forms import Form
from app.http import safe_next
from app.vault import Vault


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
        account, tenant = await load_account(db_session, principal.account_tenant_id, principal.account_id)
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
