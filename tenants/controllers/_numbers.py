"""マイナンバー一覧: the masked list, proxy registration, admin confirmation, reveal, and correction requests."""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, company_staff, number_handlers, stepup_guard
from app.forms import Form, FormInvalid
from app.pager import PageRequest, page_links
from app.vault import NumberField, Vault
from tenants import services
from tenants.services._records import RecordError, number_field

LIST_PATH = "/admin/numbers"


class NumberForm(msgspec.Struct, kw_only=True):
    number: str = ""


class PurposeForm(msgspec.Struct, kw_only=True):
    purpose: str = ""


class ApprovalForm(msgspec.Struct, kw_only=True):
    confirmed: str = ""  # sent only by the confirmation page's button


# A reveal is POST → redirect → GET: the POST leaves a one-time ticket (person and purpose, never the number) in the
# server-side session; the GET spends it, opens the number (logged) and shows it once. A reload finds no ticket and
# asks for the purpose again. The number is not in the URL, the session or any cache.
_REVEAL_TICKET = "reveal_ticket"
_TICKET_SECONDS = 60


class TokenForm(msgspec.Struct, kw_only=True):
    token: str = ""


# Session key: the confirmation token of the reveal page that showed a number in full (its hash and the number row).
_REVEAL_CONFIRM = "numbers_reveal_confirm"


def _number_label(row: services.NumberRow) -> str:
    return "法人番号" if number_field(row.person) is NumberField.CORPORATE_NUMBER else "個人番号"


def _register_page(row: services.NumberRow, errors: dict[str, str], status_code: int = 200) -> Template:
    # The typed number is never passed back to the template: after a failed post the field is empty.
    return Template(
        template_name="tenants/numbers/register.html",
        context={"row": row, "errors": errors, "number_label": _number_label(row)},
        status_code=status_code,
    )


async def _reveal_page(
    db_session: AsyncSession,
    principal: Principal,
    row: services.NumberRow,
    purpose: str,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    # Only the purposes notified to this kind of person can be chosen.
    purposes = await services.purposes_for(db_session, principal, row.person)
    return Template(
        template_name="tenants/numbers/reveal.html",
        context={"row": row, "purposes": [(p, p) for p in purposes], "purpose": purpose, "errors": errors},
        status_code=status_code,
    )


def _confirm_page(row: services.NumberRow, *, error: str = "", number_error: str = "") -> Template:
    return Template(
        template_name="tenants/numbers/confirm.html",
        context={"row": row, "error": error, "number_error": number_error},
        status_code=400,
    )


class NumbersController(Controller):
    path = LIST_PATH
    guards = [company_staff]
    include_in_schema = False

    @get("/", name="numbers_list")
    async def number_list(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, vault: Vault, principal: Principal
    ) -> Template:
        filters = services.NumberFilters.parse(request.query_params)
        page = await services.list_numbers(db_session, vault, principal, filters)
        return Template(
            template_name="tenants/numbers/list.html",
            context={
                "page": page,
                "filters": page.filters,
                "counts": page.counts,
                "departments": page.departments,
                "kinds": services.KIND_FILTERS,
                "statuses": services.STATUS_FILTERS,
                "sorts": services.SORTS,
                "orders": services.ORDERS,
                "per_page_options": [(str(n), f"{n}件") for n in services.PER_PAGE_CHOICES],
            },
        )

    @get("/{person_id:str}/register", name="numbers_register", guards=[number_handlers])
    async def register_page(
        self, db_session: AsyncSession, vault: Vault, principal: Principal, person_id: str
    ) -> Template:
        row = await services.number_row(db_session, vault, principal, person_id)
        return _register_page(row, {})

    @post("/{person_id:str}/register", name="numbers_register_submit", guards=[number_handlers])
    async def register_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        person_id: str,
        data: Annotated[NumberForm, Form],
    ) -> Template | Redirect:
        row = await services.number_row(db_session, vault, principal, person_id)
        try:
            registration = await services.proxy_register(db_session, vault, principal, row.person, data.number)
        except FormInvalid as exc:
            return _register_page(row, exc.errors, status_code=400)
        flash(request, f"{row.display_name} さんの番号（{registration.masked}）を代理登録しました。", "success")
        if registration.duplicate_of:
            others = "、".join(registration.duplicate_of)
            flash(
                request,
                f"同じ番号が {others} さんの番号としても登録されています（重複の疑い）。"
                "「重複の疑い」の画面で同一人物か誤りかを確認してください。",
                "warning",
            )
        if registration.repeated_digit:
            flash(
                request, "同じ数字の繰り返しの番号です。番号確認書類と照らして誤りがないか確認してください。", "warning"
            )
        return Redirect(path=LIST_PATH)

    @get("/{person_id:str}/confirm", name="numbers_confirm", guards=[number_handlers])
    async def confirm_page(
        self, db_session: AsyncSession, vault: Vault, principal: Principal, person_id: str
    ) -> Template:
        row = await services.number_row(db_session, vault, principal, person_id)
        return Template(template_name="tenants/numbers/confirm.html", context={"row": row})

    @post("/{person_id:str}/confirm", name="numbers_confirm_submit", guards=[number_handlers])
    async def confirm_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        person_id: str,
        data: Annotated[NumberForm, Form],
    ) -> Template | Redirect:
        row = await services.number_row(db_session, vault, principal, person_id)
        try:
            await services.confirm_number(db_session, vault, principal, row.person, data.number)
        except RecordError as exc:
            return _confirm_page(row, error=exc.message)
        except services.ConfirmationRefused as exc:
            await db_session.commit()  # the failed comparison stays in the log although the answer is a 400
            return _confirm_page(row, number_error=exc.message)
        request.session.pop(_REVEAL_CONFIRM, None)
        flash(request, f"{row.display_name} さんの番号を照合し、管理者確認済にしました（一致）。", "success")
        return Redirect(path=LIST_PATH)

    @post("/{person_id:str}/confirm/revealed", name="numbers_confirm_revealed", guards=[number_handlers])
    async def confirm_revealed(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        person_id: str,
        data: Annotated[TokenForm, Form],
    ) -> Template | Redirect:
        row = await services.number_row(db_session, vault, principal, person_id)
        kept = request.session.pop(_REVEAL_CONFIRM, None)  # one attempt per display, right or wrong
        try:
            await services.confirm_after_reveal(
                db_session, vault, principal, row.person, kept if isinstance(kept, dict) else None, data.token
            )
        except RecordError as exc:
            return _confirm_page(row, error=exc.message)
        request.session.pop(_REVEAL_CONFIRM, None)
        flash(request, f"{row.display_name} さんの番号を管理者確認済にしました。", "success")
        return Redirect(path=LIST_PATH)

    @get("/{person_id:str}/reveal", name="numbers_reveal", guards=[number_handlers, stepup_guard])
    async def reveal_page(
        self, db_session: AsyncSession, vault: Vault, principal: Principal, person_id: str
    ) -> Template:
        row = await services.number_row(db_session, vault, principal, person_id)
        return await _reveal_page(db_session, principal, row, "", {})

    @post(
        "/{person_id:str}/reveal",
        name="numbers_reveal_submit",
        guards=[number_handlers, stepup_guard],
    )
    async def reveal_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        person_id: str,
        data: Annotated[PurposeForm, Form],
    ) -> Template | Redirect:
        row = await services.number_row(db_session, vault, principal, person_id)
        try:
            await services.check_reveal(db_session, principal, row.person, data.purpose)
        except FormInvalid as exc:
            return await _reveal_page(db_session, principal, row, data.purpose, exc.errors, status_code=400)
        request.session[_REVEAL_TICKET] = {
            "person_id": str(row.person.id),
            "purpose": data.purpose,
            "issued_at": time.time(),
        }
        return Redirect(path=f"{LIST_PATH}/{row.person.id}/revealed")

    @get(
        "/{person_id:str}/revealed",
        name="numbers_revealed",
        guards=[number_handlers, stepup_guard],
        opt={"no_compression": True},
    )
    async def revealed(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        person_id: str,
    ) -> Template | Redirect:
        row = await services.number_row(db_session, vault, principal, person_id)
        ticket = request.session.pop(_REVEAL_TICKET, None)
        fresh = (
            isinstance(ticket, dict)
            and ticket.get("person_id") == str(row.person.id)
            and time.time() - float(ticket.get("issued_at", 0)) <= _TICKET_SECONDS
        )
        if not fresh:
            flash(request, "番号は一度だけ表示されます。もう一度表示するには利用目的を選んでください。", "info")
            return Redirect(path=f"{LIST_PATH}/{row.person.id}/reveal")
        assert isinstance(ticket, dict)
        purpose = str(ticket.get("purpose", ""))
        try:
            number = await services.reveal_for_purpose(db_session, vault, principal, row.person, purpose)
        except FormInvalid as exc:
            return await _reveal_page(db_session, principal, row, purpose, exc.errors, status_code=400)
        token = ""
        if row.number is not None and row.needs_admin_confirmation:
            token, kept = services.issue_confirmation(row.person.id, row.number.id)
            request.session[_REVEAL_CONFIRM] = kept
        return Template(
            template_name="tenants/numbers/revealed.html",
            context={
                "row": row,
                "number": number,
                "purpose": purpose,
                "number_label": _number_label(row),
                "confirm_token": token,
            },
        )


CORRECTIONS_PATH = "/admin/corrections"


class CorrectionsController(Controller):
    path = "/admin/corrections"
    guards = [number_handlers]
    include_in_schema = False

    @get("/", name="corrections_list")
    async def correction_list(
        self,
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        page: str = "1",
        after: str = "",
        before: str = "",
    ) -> Template:
        found = await services.correction_page(db_session, vault, principal, PageRequest.parse(page, after, before))
        return Template(
            template_name="tenants/numbers/corrections.html",
            context={
                "pending": found.rows,
                "total": found.total,
                "pager": page_links(
                    found.window, found.total, lambda params: f"/admin/corrections?{urlencode(params)}"
                ),
                "decided": await services.recent_decisions(db_session, principal),
            },
        )

    @get("/{request_id:str}/approve", name="corrections_approve_confirm", guards=[stepup_guard])
    async def approve_confirm(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        request_id: str,
    ) -> Template | Redirect:
        """The confirmation step: approving erases the current number, which cannot be undone."""
        try:
            correction = await services.pending_correction_row(db_session, vault, principal, request_id)
        except RecordError as exc:
            flash(request, exc.message, "error")
            return Redirect(path="/admin/corrections")
        return Template(template_name="tenants/numbers/correction_confirm.html", context={"c": correction})

    @post("/{request_id:str}/approve", name="corrections_approve", guards=[stepup_guard])
    async def approve(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        request_id: str,
        data: Annotated[ApprovalForm, Form],
    ) -> Redirect:
        if data.confirmed != "yes":  # not from the confirmation page: show it first, erase nothing
            await services.pending_correction_row(db_session, None, principal, request_id, allow_decided=True)
            return Redirect(path=f"/admin/corrections/{request_id}/approve")
        return await self._decide(request, db_session, vault, principal, request_id, approve=True)

    @post("/{request_id:str}/reject", name="corrections_reject")
    async def reject(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        request_id: str,
    ) -> Redirect:
        return await self._decide(request, db_session, vault, principal, request_id, approve=False)

    @staticmethod
    async def _decide(
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        request_id: str,
        *,
        approve: bool,
    ) -> Redirect:
        try:
            row = await services.decide_correction(db_session, vault, principal, request_id, approve=approve)
        except RecordError as exc:
            flash(request, exc.message, "error")
            return Redirect(path="/admin/corrections")
        if approve:
            message = f"{row.display_name} さんの修正依頼を承認し、元の番号を削除しました。再登録してください。"
        else:
            message = f"{row.display_name} さんの修正依頼を却下しました。"
        flash(request, message, "success")
        return Redirect(path="/admin/corrections")
