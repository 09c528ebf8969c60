"""招待 over HTTP: the admin's invitation page, issuing printable letters (and mail)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.plugins.flash import flash
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal, number_handlers, stepup_guard
from app.config import Settings
from app.forms import Form, FormInvalid
from app.pager import PageRequest, page_links
from app.workers import DOCUMENTS, run_in_worker
from selfservice import services
from selfservice.letters import render_invitation_letters
from selfservice.schemas import InvitationForm
from tenants.services import list_departments, today


class InvitationController(Controller):
    """招待: issue login ids and one-time passwords to employees, as printable letters (and mail)."""

    path = "/admin/invitations"
    guards = [number_handlers]
    include_in_schema = False

    @get("/", name="selfservice_invitations")
    async def invitations_page(
        self,
        db_session: AsyncSession,
        principal: Principal,
        settings: Settings,
        department: str = "",
        status: str = "",
        page: str = "1",
        after: str = "",
        before: str = "",
    ) -> Template:
        filters = _filters(department, status, page, after, before)
        return Template(
            template_name="selfservice/invitations.html",
            context=await _invitation_context(db_session, principal, settings, filters, {}),
        )

    @post("/", name="selfservice_invitations_issue", guards=[stepup_guard], opt={"no_compression": True})
    async def issue(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        settings: Settings,
        hasher: PasswordHasher,
        data: Annotated[InvitationForm, Form],
    ) -> Response[bytes] | Template:
        filters = _filters(data.department, data.status, data.page, data.after, data.before)
        try:
            issued = await services.issue_for_scope(
                db_session, settings, hasher, principal, data.scope, data.person_ids, filters
            )
        except FormInvalid as exc:
            await db_session.rollback()  # nothing of a refused batch stays (a capacity check after a flush ends it)
            context = await _invitation_context(db_session, principal, settings, filters, exc.errors, data.person_ids)
            return Template(template_name="selfservice/invitations.html", context=context, status_code=400)
        letters = [item.letter for item in issued]
        pdf = await run_in_worker(DOCUMENTS, render_invitation_letters, letters, releasing=db_session)
        await db_session.commit()  # the accounts exist before any mail points to them
        report = await services.send_invitation_mails(settings, issued)
        _flash_issued(request, len(issued), report)
        filename = f"invitations-{today():%Y%m%d}.pdf"
        return Response(
            content=pdf,
            media_type="application/pdf",
            status_code=200,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


def _filters(department: str, status: str, page: str, after: str, before: str) -> services.InvitationFilter:
    request = PageRequest.parse(page, after, before)
    return services.InvitationFilter(
        department_id=department.strip(),
        state=status if status in services.STATE_FILTERS else "",
        page=request.page,
        after=request.after,
        before=request.before,
    )


async def _invitation_context(
    db_session: AsyncSession,
    principal: Principal,
    settings: Settings,
    filters: services.InvitationFilter,
    errors: dict[str, str],
    selected: list[str] | None = None,
) -> dict[str, Any]:
    found = await services.invitation_page(db_session, principal, filters)
    kept = {"department": filters.department_id, "status": filters.state}
    kept = {key: value for key, value in kept.items() if value}
    return {
        "rows": found.rows,
        "found": found,
        "filters": filters,
        "departments": await list_departments(db_session, principal),
        "state_filters": [(key, label) for key, (label, _) in services.STATE_FILTERS.items()],
        "pager": page_links(
            found.window, found.total, lambda params: f"/admin/invitations?{urlencode({**kept, **params})}"
        ),
        "sign_in_url": services.sign_in_url(settings, principal.tenant_code),
        "tenant_code": principal.tenant_code,
        "invitation_days": settings.invitation_days,
        "mail_enabled": bool(settings.smtp_host),
        "errors": errors,
        "selected": set(selected or []),
        "jst": services.JST,
    }


def _flash_issued(request: Request[Any, Any, Any], count: int, report: services.MailReport) -> None:
    flash(request, f"{count} 名のログイン情報を発行しました。ダウンロードした書面をお渡しください。", "success")
    if report.sent:
        flash(request, f"{report.sent} 名に招待メールを送信しました（初回パスワードは書面のみに記載）。", "success")
    if report.failed:
        flash(
            request, f"{report.failed} 名へのメールを送信できませんでした。書面またはURLでお知らせください。", "error"
        )
