"""連絡管理 pages (seed 002): the client's /admin/notices (create, list, status) and the office's /partner/notices
(list with filters, the notice, 処理区分, 認証 to reveal its number, 台帳に反映).

The service (``partners.services._notices``) decides who sees and may do what; a refused form comes back with
every field but the number, nothing written.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.datastructures import State, UploadFile
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.guard import looks_like_number
from app.auth.principal import Principal, number_handlers, partner_members, stepup_guard
from app.blobs import BlobStore, app_blob_store
from app.config import Settings
from app.forms import FormInvalid
from app.vault import Vault
from partners import services
from partners.models import NoticeKind, NoticeStatus
from partners.services._exchange_scope import MAX_FILES

CLIENT_PATH: Final = "/admin/notices"
OFFICE_PATH: Final = "/partner/notices"
MAX_BODY_BYTES: Final = MAX_FILES * 10 * 1024 * 1024 + 1024 * 1024
NUMBER_FIELD: Final = "number"


def _blob_store(state: State, settings: Settings) -> BlobStore:
    return app_blob_store(state, settings)


async def _list_page(
    db_session: AsyncSession, principal: Principal, base: str, query: dict[str, str], after: str
) -> Template:
    office_side = base == OFFICE_PATH
    query = dict(query)
    typed_code = (query.get("client_code") or "").strip() if office_side else ""
    refusal = ""
    if typed_code:  # the client chosen by its 事業者コード (an office may have any number of clients)
        try:
            chosen = await services.linked_client_by_code(db_session, principal, typed_code, field="client_code")
        except FormInvalid as exc:
            refusal, query["client_id"] = exc.message, ""
        else:
            query["client_id"] = str(chosen.id)
    filters = services.NoticeFilters.parse(query, office_side=office_side)
    if refusal:
        filters = replace(filters, client=None, refusal=refusal)
    page = await services.list_notices(db_session, principal, filters, after=after)
    shown_code = typed_code if refusal else ""
    if office_side and filters.client is not None:
        chosen_client = await services.linked_client(db_session, principal, filters.client)
        shown_code = chosen_client.code if chosen_client is not None else ""
    shown_query = filters.query()
    older = f"{base}?{urlencode({**shown_query, 'after': page.older})}" if page.older else None
    return Template(
        template_name="partners/notices.html",
        context={
            "page": page,
            "filters": filters,
            "query": shown_query,
            "client_code": shown_code,
            "kinds": services.KIND_CHOICES,
            "statuses": list(NoticeStatus),
            "base": base,
            "older": older,
            "office_side": office_side,
        },
        status_code=400 if page.refusal else 200,
    )


def _typed(form: Any, kind: NoticeKind) -> dict[str, str]:
    return {field.name: str(form.get(field.name) or "") for field in services.NOTICE_FIELDS[kind]}


def _shown_back(typed: dict[str, str]) -> dict[str, str]:
    """The typed fields to put back in a refused form: never the number, nor any text that may hold one."""
    return {name: value for name, value in typed.items() if name != NUMBER_FIELD and not looks_like_number(value)}


async def _new_page(
    db_session: AsyncSession,
    principal: Principal,
    kind: NoticeKind | None,
    *,
    values: dict[str, str] | None = None,
    chosen: str = "",
    message: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    offices = await services.sendable_offices(db_session, principal)
    return Template(
        template_name="partners/notice_new.html",
        context={
            "kind": kind,
            "kinds": services.KIND_CHOICES,
            "fields": services.NOTICE_FIELDS[kind] if kind else (),
            "values": values or {},
            "offices": offices,
            "chosen": chosen,
            "message": message,
            "errors": errors or {},
            "max_files": MAX_FILES,
            "base": CLIENT_PATH,
        },
        status_code=status_code,
    )


async def _detail_page(
    db_session: AsyncSession,
    principal: Principal,
    base: str,
    notice_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    row = await services.get_notice(db_session, principal, notice_id)
    office_side = base == OFFICE_PATH
    may_numbers = may_box = False
    if office_side:
        try:
            acting = await services.acting_handler(db_session, principal, row)
            may_numbers, may_box = True, services.may_change_boxes(acting)
        except FormInvalid:
            may_numbers = False
    return Template(
        template_name="partners/notice_detail.html",
        context={
            "row": row,
            "base": base,
            "files_base": "/partner/files" if office_side else "/admin/files",
            "office_side": office_side,
            "may_numbers": may_numbers,
            "may_box": may_box,
            "not_for_numbers": services.NOT_FOR_NUMBERS,
            "attachments": await services.notice_attachments(db_session, row),
            "fields": services.NOTICE_FIELDS[row.notice.kind],
            "values": values if values is not None else row.values,
            "errors": errors or {},
            "other_errors": [
                message
                for key, message in (errors or {}).items()
                if key not in {field.name for field in services.NOTICE_FIELDS[row.notice.kind]}
            ],
            "statuses": list(NoticeStatus),
        },
        headers={"Cache-Control": "no-store"},
        status_code=status_code,
    )


class ClientNoticesController(Controller):
    """/admin/notices: the client's notices to its offices (admins and handlers)."""

    path = CLIENT_PATH
    guards = [number_handlers]
    include_in_schema = False

    @get("/", name="client_notices")
    async def notice_list(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
    ) -> Template:
        query = {key: str(value) for key, value in request.query_params.items()}
        return await _list_page(db_session, principal, CLIENT_PATH, query, query.get("after", ""))

    @get("/new", name="client_notice_new")
    async def new(self, db_session: AsyncSession, principal: Principal, kind: str = "", office: str = "") -> Template:
        return await _new_page(db_session, principal, services.notice_kind(kind), chosen=office)

    @post("/", name="client_notice_send", request_max_body_size=MAX_BODY_BYTES)
    async def send(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
    ) -> Template | Redirect:
        services.side_of(principal)  # a staff member working inside the client sends from the office's pages: 404
        form = await request.form()
        kind = services.notice_kind(str(form.get("kind") or ""))
        if kind is None:
            return Redirect(path=f"{CLIENT_PATH}/new")
        typed = _typed(form, kind)
        office_id, message = str(form.get("office_id") or ""), str(form.get("message") or "")
        files = [
            (upload.filename or "", await upload.read())
            for upload in form.getall("files", [])
            if isinstance(upload, UploadFile)
        ]
        try:
            notice = await services.send_notice(
                db_session, vault, _blob_store(state, settings), settings, principal,
                kind=kind, to=office_id, typed=typed, message=message, files=files,
            )  # fmt: skip
        except FormInvalid as exc:
            await db_session.rollback()
            return await _new_page(
                db_session, principal, kind, values=_shown_back(typed), chosen=office_id,
                message="" if looks_like_number(message) else message, errors=exc.errors, status_code=400,
            )  # fmt: skip
        flash(request, f"{kind.label}の連絡を送信しました。", "success")
        return Redirect(path=f"{CLIENT_PATH}/{notice.id}")

    @get("/{notice_id:str}", name="client_notice")
    async def detail(self, db_session: AsyncSession, principal: Principal, notice_id: str) -> Template:
        return await _detail_page(db_session, principal, CLIENT_PATH, notice_id)


class OfficeNoticesController(Controller):
    """/partner/notices: the notices of the office's clients (office admins and staff)."""

    path = OFFICE_PATH
    guards = [partner_members]
    include_in_schema = False

    @get("/", name="partner_notices")
    async def notice_list(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
    ) -> Template:
        query = {key: str(value) for key, value in request.query_params.items()}
        return await _list_page(db_session, principal, OFFICE_PATH, query, query.get("after", ""))

    @get("/{notice_id:str}", name="partner_notice")
    async def detail(self, db_session: AsyncSession, principal: Principal, notice_id: str) -> Template:
        return await _detail_page(db_session, principal, OFFICE_PATH, notice_id)

    @post("/{notice_id:str}/status", name="partner_notice_status")
    async def status(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        settings: Settings,
        principal: Principal,
        notice_id: str,
    ) -> Redirect:
        row = await services.get_notice(db_session, principal, notice_id)
        form = await request.form()
        try:
            await services.set_notice_status(db_session, principal, row, str(form.get("status") or ""), settings)
        except FormInvalid as exc:
            await db_session.rollback()
            flash(request, exc.message, "error")
        else:
            flash(request, f"処理区分を「{row.notice.status.label}」にしました。", "success")
        return Redirect(path=f"{OFFICE_PATH}/{notice_id}")

    @get("/{notice_id:str}/reveal", name="partner_notice_reveal_confirm", guards=[stepup_guard])
    async def reveal_confirm(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        settings: Settings,
        principal: Principal,
        notice_id: str,
    ) -> Template | Redirect:
        row = await services.get_notice(db_session, principal, notice_id)
        try:
            await services.acting_handler(db_session, principal, row)
        except FormInvalid as exc:
            flash(request, exc.message, "error")
            return Redirect(path=f"{OFFICE_PATH}/{notice_id}")
        return _revealed_page(row, None, settings)

    @post("/{notice_id:str}/reveal", name="partner_notice_reveal", guards=[stepup_guard], opt={"no_compression": True})
    async def reveal(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
        notice_id: str,
    ) -> Template | Redirect:
        row = await services.get_notice(db_session, principal, notice_id)
        try:
            number = await services.reveal_notice_number(db_session, vault, principal, row)
        except FormInvalid as exc:
            await db_session.rollback()
            flash(request, exc.message, "error")
            return Redirect(path=f"{OFFICE_PATH}/{notice_id}")
        return _revealed_page(row, number, settings)

    @post("/{notice_id:str}/apply", name="partner_notice_apply")
    async def apply(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
        notice_id: str,
    ) -> Template | Redirect:
        row = await services.get_notice(db_session, principal, notice_id)
        form = await request.form()
        typed = _typed(form, row.notice.kind)
        try:
            applied = await services.apply_notice(
                db_session, vault, _blob_store(state, settings), settings, principal, row, typed,
                publish=bool(form.get("publish")), keep_attachments=bool(form.get("keep_attachments")),
                set_lost_dates=bool(form.get("lost_dates")),
            )  # fmt: skip
        except FormInvalid as exc:
            await db_session.rollback()
            return await _detail_page(
                db_session, principal, OFFICE_PATH, notice_id, values=_shown_back(typed), errors=exc.errors,
                status_code=400,
            )  # fmt: skip
        kept = f"添付ファイル{applied.kept}件を個人ボックスに保管しました。" if applied.kept else ""
        flash(request, f"台帳に反映しました。{applied.result}{kept}", "success")
        if applied.not_kept:
            flash(request, "個人ボックスに保管できなかった添付ファイル: " + "、".join(applied.not_kept), "error")
        return Redirect(path=f"{OFFICE_PATH}/{notice_id}")


def _revealed_page(row: services.NoticeRow, number: str | None, settings: Settings) -> Template:
    back = f"{OFFICE_PATH}/{row.notice.id}"
    return Template(
        template_name="partners/notice_revealed.html",
        context={
            "row": row,
            "number": number,
            "back": back,
            "action": f"{back}/reveal",
            "reveal_seconds": settings.reveal_seconds,
        },
        headers={"Cache-Control": "no-store"},
    )


NOTICE_ROUTES: list[Any] = [ClientNoticesController, OfficeNoticesController]
