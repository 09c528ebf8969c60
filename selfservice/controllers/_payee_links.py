"""Payee links over HTTP: the admin page that issues them and the public phone page a payee opens.

The printable sheet needs the token, which is only known while the issuing response is on screen: that page
carries it in a form that posts it back (never in a URL) to ``…/link/sheet``, which renders the PDF only when the
token's hash is the payee's active link. One issuance, one mail, and the sheet can be printed again from the page.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, Router, get, post
from litestar.middleware.rate_limit import RateLimitConfig, get_remote_address
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor
from app.auth.principal import Principal, number_handlers
from app.auth.services import ClientInfo
from app.auth.totp import qr_svg_data_uri
from app.config import Settings
from app.forms import Form
from app.mail import Mailer, MailError, payee_link_mail
from app.vault import InvalidNumber, NumberAlreadyStored, Vault
from app.vault.numbers import is_repeated_digit
from app.workers import DOCUMENTS, IMAGES, run_in_worker
from selfservice import payees
from selfservice.letters import PayeeLinkSheet, contact_line, render_payee_link_sheet
from tenants.models import PayeeLink, Person
from tenants.purposes import purposes_for_kind
from tenants.services import get_payee, own_tenant
from tenants.services._records import RecordError

PAYEE_POSTS_PER_MINUTE = 20
PUBLIC_OPT = {"secret_path": True, "no_compression": True}
TEMPLATES = "selfservice/payee"


class PayeeNumberForm(msgspec.Struct):
    number: str = ""


class SheetForm(msgspec.Struct):
    token: str = ""


class ConfirmForm(msgspec.Struct):
    confirmation: str = ""  # the one-time token of the screen that showed the number


def payee_rate_limit() -> RateLimitConfig:
    """Per-client-address limit on the public payee posts (its own counter, apart from sign-in's)."""
    return RateLimitConfig(
        rate_limit=("minute", PAYEE_POSTS_PER_MINUTE),
        store="rate_limit",
        identifier_for_request=lambda request: f"payee-link::{get_remote_address(request)}",
        check_throttle_handler=lambda request: request.method == "POST",
        set_rate_limit_headers=False,
    )


# Admin --------------------------------------------------------------------------------------------------------


class PayeeLinkAdminController(Controller):
    """/admin/payees/{person_id}/link: see, issue, print and revoke a payee's one-time link."""

    path = "/admin/payees"
    guards = [number_handlers]
    include_in_schema = False

    @get("/{person_id:str}/link", name="payee_link_admin")
    async def link_page(
        self, db_session: AsyncSession, principal: Principal, vault: Vault, settings: Settings, person_id: str
    ) -> Template:
        person = await get_payee(db_session, principal, person_id)
        link = await payees.latest_link(db_session, person)
        numbers = await vault.number_info(db_session, person.tenant_id, [person.id])
        info = numbers.get(person.id)
        return Template(
            template_name=f"{TEMPLATES}/admin_link.html",
            context={
                "person": person,
                "link": link,
                "state": payees.link_state(link),
                "times": _link_times(link),
                "masked": info.masked if info else "",
                "refusal": payees.issue_refusal(person),
                "mail_enabled": Mailer(settings).enabled,
                "days": settings.payee_link_days,
            },
        )

    @post("/{person_id:str}/link", name="payee_link_issue", opt={"no_compression": True})
    async def issue(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        settings: Settings,
        person_id: str,
    ) -> Template | Redirect:
        person = await get_payee(db_session, principal, person_id)
        tenant = await own_tenant(db_session, principal)
        actor = principal.actor()
        try:
            issued = await payees.issue_link(db_session, settings, actor=actor, tenant=tenant, person=person)
        except RecordError as exc:
            flash(request, exc.message, "error")
            return Redirect(path=f"/admin/payees/{person.id}/link")
        await db_session.commit()  # the link is durable before it leaves by mail
        sheet = payees.link_sheet(
            tenant=tenant,
            person=person,
            url=issued.url,
            expires_at=issued.link.expires_at,
            contact=contact_line(principal.name, tenant.phone),
        )
        mail_result = await _mail_link(db_session, settings, actor=actor, person=person, sheet=sheet)
        return Template(
            template_name=f"{TEMPLATES}/admin_issued.html",
            context={
                "person": person,
                "url": issued.url,
                "token": issued.token,
                "qr": await run_in_worker(IMAGES, qr_svg_data_uri, issued.url),
                "expires": payees.japan_time_label(issued.link.expires_at),
                "revoked_previous": issued.revoked_previous,
                "mail_result": mail_result,
            },
        )

    @post("/{person_id:str}/link/sheet", name="payee_link_sheet", status_code=200)
    async def sheet(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        settings: Settings,
        person_id: str,
        data: Annotated[SheetForm, Form],
    ) -> Response[bytes] | Redirect:
        person = await get_payee(db_session, principal, person_id)
        link = await payees.active_link_for_token(db_session, person, data.token)
        if link is None:
            flash(request, "このリンクは有効ではありません。新しいリンクを発行してください。", "error")
            return Redirect(path=f"/admin/payees/{person.id}/link")
        tenant = await own_tenant(db_session, principal)
        sheet = payees.link_sheet(
            tenant=tenant,
            person=person,
            url=payees.link_url(settings, tenant.code, data.token),
            expires_at=link.expires_at,
            contact=contact_line(principal.name, tenant.phone),
        )
        pdf = await run_in_worker(DOCUMENTS, render_payee_link_sheet, sheet, releasing=db_session)
        await payees.note_printed(db_session, actor=principal.actor(), person=person)
        return Response(
            content=pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": 'attachment; filename="payee-link.pdf"'},
        )

    @post("/{person_id:str}/link/revoke", name="payee_link_revoke")
    async def revoke(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, person_id: str
    ) -> Redirect:
        person = await get_payee(db_session, principal, person_id)
        if await payees.revoke_links(db_session, actor=principal.actor(), person=person):
            flash(request, "リンクを無効にしました。", "success")
        else:
            flash(request, "有効なリンクはありません。", "info")
        return Redirect(path=f"/admin/payees/{person.id}/link")


def _link_times(link: PayeeLink | None) -> dict[str, str]:
    if link is None:
        return {}
    times = {
        "created": link.created_at,
        "expires": link.expires_at,
        "used": link.used_at,
        "revoked": link.revoked_at,
        "locked": link.locked_at,
    }
    return {key: payees.japan_time_label(value) for key, value in times.items() if value is not None}


async def _mail_link(
    db_session: AsyncSession, settings: Settings, *, actor: Actor, person: Person, sheet: PayeeLinkSheet
) -> dict[str, str]:
    """Mail the link when SMTP is set up and the payee has an address; say what happened either way."""
    mailer = Mailer(settings)
    if not mailer.enabled:
        return {"category": "info", "message": "メール送信は設定されていません。書面またはURLでお知らせください。"}
    if not person.email:
        return {"category": "info", "message": "メールアドレスが登録されていないため、メールは送信していません。"}
    subject, body = payee_link_mail(sheet)
    try:
        await mailer.send(person.email, subject, body)
    except MailError as exc:
        return {"category": "warning", "message": str(exc)}
    await payees.note_mailed(db_session, actor=actor, person=person)
    return {"category": "success", "message": f"{person.email} にリンクをメールで送信しました。"}


# Public -------------------------------------------------------------------------------------------------------


def unavailable_page(exc: payees.LinkUnavailable) -> Template:
    """The page saying why a payee link cannot be used (404 unknown, 423 locked, 410 otherwise)."""
    status = {payees.LinkState.NONE: 404, payees.LinkState.LOCKED: 423}.get(exc.state, 410)
    return Template(
        template_name=f"{TEMPLATES}/unavailable.html",
        context={"state": exc.state.value, "company": exc.tenant.name if exc.tenant else ""},
        status_code=status,
    )


async def _resolve(db_session: AsyncSession, tenant_code: str, token: str) -> payees.ResolvedLink | Template:
    """The usable link of a public address, or the page saying why it cannot be used (404 or 410)."""
    try:
        return await payees.resolve_link(db_session, tenant_code, token)
    except payees.LinkUnavailable as exc:
        return unavailable_page(exc)


def _offers_documents(resolved: payees.ResolvedLink) -> bool:
    """Whether the payee is asked for identity documents through the link (the tenant's 本人確認オプション;
    not for a corporation's number, which is public)."""
    return resolved.tenant.verification_enabled and not resolved.is_corporation


async def _documents_open(db_session: AsyncSession, tenant_code: str, token: str) -> bool:
    """Whether the link's identity-document pages are open (``payees.resolve_documents_link``) and offered."""
    try:
        resolved = await payees.resolve_documents_link(db_session, tenant_code, token)
    except payees.LinkUnavailable:
        return False
    return _offers_documents(resolved)


def _enter_page(resolved: payees.ResolvedLink, token: str, *, error: str = "", status_code: int = 200) -> Template:
    return Template(
        template_name=f"{TEMPLATES}/enter.html",
        context={
            "resolved": resolved,
            "purpose": "、".join(purposes_for_kind(resolved.tenant, resolved.person.kind)),
            "corporation": resolved.is_corporation,
            "pending": payees.entered_through_link(resolved),
            "expires": payees.japan_time_label(resolved.link.expires_at),
            "error": error,
            # Offered with the option; a payee whose number is kept already may go straight to the documents
            # (typing it again would replace it, and with it the verification made for it).
            "documents": payees.documents_path(resolved.tenant.code, token) if _offers_documents(resolved) else "",
        },
        status_code=status_code,
    )


class PayeeLinkController(Controller):
    """/p/{tenant_code}/{token}: a payee enters and confirms their number; no account, no sign-in."""

    include_in_schema = False

    @get("/{tenant_code:str}/{token:str}", name="payee_link", opt=PUBLIC_OPT)
    async def open_link(self, db_session: AsyncSession, tenant_code: str, token: str) -> Template | Redirect:
        try:
            resolved = await payees.resolve_link(db_session, tenant_code, token)
        except payees.LinkUnavailable as exc:
            # A link used for the number still leads to the identity documents (本人確認書類) and their result.
            if exc.state is payees.LinkState.USED and await _documents_open(db_session, tenant_code, token):
                return Redirect(path=payees.documents_path(tenant_code, token))
            return unavailable_page(exc)
        return _enter_page(resolved, token)

    @post("/{tenant_code:str}/{token:str}", name="payee_link_submit", opt=PUBLIC_OPT)
    async def submit(
        self,
        db_session: AsyncSession,
        vault: Vault,
        client: ClientInfo,
        tenant_code: str,
        token: str,
        data: Annotated[PayeeNumberForm, Form],
    ) -> Template:
        resolved = await _resolve(db_session, tenant_code, token)
        if isinstance(resolved, Template):
            return resolved
        actor = payees.payee_actor(resolved, ip=client.ip, user_agent=client.user_agent)
        try:
            shown = await payees.register_through_link(db_session, vault, resolved, actor=actor, number=data.number)
        except (InvalidNumber, NumberAlreadyStored, RecordError) as exc:
            reason = exc.code if isinstance(exc, InvalidNumber) else type(exc).__name__
            locked = await payees.note_failure(db_session, resolved, actor=actor, reason=reason)
            await db_session.commit()  # the failure and the count stay although the answer is an error
            if locked:
                return unavailable_page(payees.LinkUnavailable(payees.LinkState.LOCKED, resolved.tenant))
            return _enter_page(resolved, token, error=exc.message, status_code=400)
        return Template(
            template_name=f"{TEMPLATES}/confirm.html",
            context={
                "resolved": resolved,
                "number": shown.number,
                "confirmation": shown.token,
                "corporation": resolved.is_corporation,
                "repeated": is_repeated_digit(shown.number),
            },
        )

    @post("/{tenant_code:str}/{token:str}/confirm", name="payee_link_confirm", opt=PUBLIC_OPT)
    async def confirm(
        self,
        db_session: AsyncSession,
        vault: Vault,
        client: ClientInfo,
        tenant_code: str,
        token: str,
        data: Annotated[ConfirmForm, Form],
    ) -> Template:
        resolved = await _resolve(db_session, tenant_code, token)
        if isinstance(resolved, Template):
            return resolved
        actor = payees.payee_actor(resolved, ip=client.ip, user_agent=client.user_agent)
        try:
            await payees.confirm_through_link(db_session, vault, resolved, actor=actor, token=data.confirmation)
        except RecordError as exc:
            return _enter_page(resolved, token, error=exc.message, status_code=400)
        numbers = await vault.number_info(db_session, resolved.tenant.id, [resolved.person.id])
        info = numbers.get(resolved.person.id)
        return Template(
            template_name=f"{TEMPLATES}/done.html",
            context={
                "resolved": resolved,
                "masked": info.masked if info else "",
                "documents": (payees.documents_path(tenant_code, token) if _offers_documents(resolved) else ""),
                "expires": payees.japan_time_label(resolved.link.expires_at),
            },
        )


def public_router() -> Router:
    """The public payee pages under /p, with their own rate limit on posts."""
    return Router(
        path="/p",
        route_handlers=[PayeeLinkController],
        middleware=[payee_rate_limit().middleware],
        include_in_schema=False,
    )
