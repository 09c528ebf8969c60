"""設定 > APIトークン: tenant admins list, issue (with a recent step-up; the token is shown once) and revoke tokens."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, admin_only, stepup_guard
from app.forms import Form, FormInvalid
from app.pager import PageRequest, page_links
from app.vault import Vault
from exchange import services
from exchange.schemas import TokenForm

TOKENS_PATH = "/admin/settings/api-tokens"


async def _list_page(
    db_session: AsyncSession,
    principal: Principal,
    request: PageRequest,
    form: TokenForm,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    found = await services.token_page(db_session, principal.tenant_id, request)
    return Template(
        template_name="exchange/tokens/list.html",
        context={
            "tokens": [(token, services.token_state(token)) for token in found.tokens],
            "total": found.total,
            "pager": page_links(found.window, found.total, lambda params: f"{TOKENS_PATH}?{urlencode(params)}"),
            "scopes": services.SCOPES,
            "form": form,
            "errors": errors,
            "max_days": services.MAX_DAYS,
            "stepup_fresh": principal.stepup_fresh,
        },
        status_code=status_code,
    )


class ApiTokensController(Controller):
    path = TOKENS_PATH
    guards = [admin_only]
    include_in_schema = False

    @get("/", name="api_tokens")
    async def token_list(
        self, db_session: AsyncSession, principal: Principal, page: str = "1", after: str = "", before: str = ""
    ) -> Template:
        form = TokenForm(days=str(services.DEFAULT_DAYS))
        return await _list_page(db_session, principal, PageRequest.parse(page, after, before), form, {})

    @post("/", name="api_tokens_create", guards=[stepup_guard], opt={"no_compression": True})
    async def create(
        self, db_session: AsyncSession, vault: Vault, principal: Principal, data: Annotated[TokenForm, Form]
    ) -> Template:
        wanted = services.TokenRequest(name=data.name, scopes=data.scopes, days=data.days, networks=[data.networks])
        try:
            issued = await services.create_token(
                db_session,
                vault,
                tenant_id=principal.tenant_id,
                actor=principal.actor(),
                created_by=principal.account_id,
                request=wanted,
            )
        except FormInvalid as exc:
            return await _list_page(db_session, principal, PageRequest(), data, exc.errors, status_code=400)
        return Template(
            template_name="exchange/tokens/created.html",
            context={"token": issued.token, "text": issued.text, "scopes": services.SCOPES, "back": TOKENS_PATH},
        )

    @post("/{token_id:str}/revoke", name="api_tokens_revoke")
    async def revoke(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, token_id: str
    ) -> Redirect:
        token = await services.get_token(db_session, principal.tenant_id, token_id)
        if await services.revoke_token(db_session, tenant_id=principal.tenant_id, actor=principal.actor(), token=token):
            flash(request, f"APIトークン「{token.name}」を失効させました。以後は呼び出しに使えません。", "success")
        else:
            flash(request, f"APIトークン「{token.name}」はすでに失効しています。", "info")
        return Redirect(path=TOKENS_PATH)
