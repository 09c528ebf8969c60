"""HTTP layer of identity verification for payees (取引先): the pages behind their one-time link
(/p/{tenant_code}/{token}/verification), the same choice of documents, camera form and status as the employee's.

Payees have no account: the link is their key (``selfservice.payees.resolve_documents_link``: revoked, locked,
expired or replaced links get today's refusal page; confirming the number does not end the link here). The actor of
every entry is the link's (``selfservice.payees.payee_actor``); the submission's ``submitted_by`` is the link's id.
No flash messages: a payee has no session, so each answer is the page itself (or a redirect to the status page).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.services import ClientInfo
from app.config import Settings
from app.vault import Vault
from selfservice import payees
from selfservice.controllers import PUBLIC_OPT, payee_rate_limit, unavailable_page
from verification import services
from verification.controllers import (
    MAX_BODY_BYTES,
    PagePaths,
    choice_page,
    status_context,
    take_upload,
    upload_form,
)

PAYEE_PATH = "/p/{tenant_code:str}/{token:str}/verification"


def payee_paths(tenant_code: str, token: str) -> PagePaths:
    """The pages of one payee link (the number is registered on the link's own page)."""
    status = payees.documents_path(tenant_code, token)
    return PagePaths(status=status, upload=f"{status}/upload", number=f"/p/{tenant_code}/{token}", payee=True)


async def _ready(db_session: AsyncSession, tenant_code: str, token: str) -> payees.ResolvedLink | Template | Redirect:
    """The link's payee when they may use these pages; the refusal page of an unusable link (404, 410, 423); the
    link's own page when there is nothing to verify here (the option is off, or the payee is a corporation)."""
    try:
        resolved = await payees.resolve_documents_link(db_session, tenant_code, token)
    except payees.LinkUnavailable as exc:
        return unavailable_page(exc)
    if resolved.is_corporation or not await services.verification_enabled(db_session, resolved.tenant.id):
        return Redirect(path=f"/p/{tenant_code}/{token}")
    return resolved


def _submitter(resolved: payees.ResolvedLink, client: ClientInfo) -> services.Submitter:
    return services.Submitter(
        tenant_id=resolved.tenant.id,
        actor=payees.payee_actor(resolved, ip=client.ip, user_agent=client.user_agent),
        submitted_by=resolved.link.id,
    )


class PayeeVerificationController(Controller):
    """A payee photographs their documents through their link and follows the review there."""

    path = PAYEE_PATH
    middleware = [payee_rate_limit().middleware]
    include_in_schema = False

    @get("/", name="payee_verification", opt=PUBLIC_OPT)
    async def status_page(
        self, db_session: AsyncSession, vault: Vault, tenant_code: str, token: str
    ) -> Template | Redirect:
        resolved = await _ready(db_session, tenant_code, token)
        if not isinstance(resolved, payees.ResolvedLink):
            return resolved
        context = await status_context(db_session, vault, resolved.person)
        return choice_page({**context, "company": resolved.tenant.name}, payee_paths(tenant_code, token))

    @get("/upload", name="payee_verification_upload", opt=PUBLIC_OPT)
    async def upload_form_page(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        tenant_code: str,
        token: str,
    ) -> Template | Redirect:
        resolved = await _ready(db_session, tenant_code, token)
        if not isinstance(resolved, payees.ResolvedLink):
            return resolved
        paths = payee_paths(tenant_code, token)
        return await upload_form(
            request, db_session, vault, settings, resolved.person, paths, company=resolved.tenant.name
        )

    @post("/upload", name="payee_verification_submit", opt=PUBLIC_OPT, request_max_body_size=MAX_BODY_BYTES)
    async def submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        state: State,
        client: ClientInfo,
        tenant_code: str,
        token: str,
    ) -> Template | Redirect:
        resolved = await _ready(db_session, tenant_code, token)
        if not isinstance(resolved, payees.ResolvedLink):
            return resolved
        paths = payee_paths(tenant_code, token)
        company = resolved.tenant.name
        try:
            page = await take_upload(
                request,
                db_session,
                vault,
                settings,
                state,
                _submitter(resolved, client),
                resolved.person,
                paths,
                company=company,
            )
        except services.VerificationRefused:
            # Under review already, done, or no number yet: the status page says which (nothing was kept).
            return Redirect(path=paths.status)
        if page is not None:
            return page
        return Redirect(path=paths.status)


PAYEE_ROUTES: list[Any] = [PayeeVerificationController]

__all__ = ["PAYEE_ROUTES", "PayeeVerificationController", "payee_paths"]
