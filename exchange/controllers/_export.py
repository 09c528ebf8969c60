"""Export pages: choose layout, file kind, numbers and purpose; confirm what the file carries; download it.

Three steps, all working without JavaScript:

1. ``GET /admin/exports`` — the choices, for the selection the masked list sent (its filters from 「CSV出力」, or
   the ticked rows from 「選択した行を出力」, as query parameters: ids are not secret, every query is scoped).
2. ``GET /admin/exports/confirm`` — the plan: how many people and rows, the characters cp932 cannot hold (with
   the alternatives: UTF-8, Excel, or cp932 with 〓), dependants without a 源泉徴収票 slot. A GET, so that the
   step-up asked for numbers comes back to it with every choice (``/reauth?next=…``); it reads, never writes.
3. ``POST /admin/exports/download`` (CSRF) — plans again (the data may have moved) and streams the file.

Numbers: admins and handlers (``exchange.services.plan_export`` refuses others with 403), a fresh step-up and a
notified purpose; a viewer exports the list without numbers.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Stream, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role
from app.auth.principal import Principal, company_staff
from app.forms import FormInvalid
from app.vault import Vault
from exchange.controllers._download import DOWNLOAD_OPT, download_response
from exchange.encoding import Encoding
from exchange.services import (
    ENCODING_LABELS,
    LAYOUT_LABELS,
    ExportPlan,
    ExportRequest,
    Outcome,
    default_withholding_year,
    describe_selection,
    export_purposes,
    plan_export,
)

EXPORT_PATH = "/admin/exports"
LIST_PATH = "/admin/numbers"
NUMBER_ROLES = (Role.ADMIN, Role.HANDLER)


def _params(source: Any) -> tuple[dict[str, str], list[str]]:
    """Single values and the repeated ``person`` ids of a query or a form (a multi-dict)."""
    single = {key: str(source.get(key) or "") for key in source if key not in ("person", "_csrf_token")}
    return single, [str(value) for value in source.getall("person", [])]


def _link(path: str, pairs: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(pairs)}" if pairs else path


def _list_link(request: ExportRequest) -> str:
    """Back to the masked list, with the filters the export came from (ticked rows are not kept)."""
    return _link(LIST_PATH, [] if request.selection.ticked else request.selection.params())


async def _form_page(
    db_session: AsyncSession,
    principal: Principal,
    request: ExportRequest,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    summary = await describe_selection(db_session, principal, request.selection)
    can_numbers = principal.role in NUMBER_ROLES
    purposes = await export_purposes(db_session, principal) if can_numbers else []
    return Template(
        template_name="exchange/export.html",
        context={
            "export": request,
            "summary": summary,
            "selection_params": request.selection.params(),
            "layouts": LAYOUT_LABELS,
            "encodings": ENCODING_LABELS,
            "year": request.year or default_withholding_year(),
            "can_numbers": can_numbers,
            "purposes": [(p, p) for p in purposes],
            "errors": errors,
            "list_link": _list_link(request),
        },
        status_code=status_code,
    )


async def _confirm_page(
    db_session: AsyncSession, principal: Principal, plan: ExportPlan, status_code: int = 200
) -> Template:
    request = plan.request
    summary = await describe_selection(db_session, principal, request.selection)
    alternatives: list[tuple[str, list[tuple[str, str]]]] = []
    if plan.outcome is Outcome.UNENCODABLE:
        alternatives = [
            ("UTF-8（BOM付き）の CSV で出力", dataclasses.replace(request, encoding=Encoding.UTF8_BOM).params()),
            ("Excel（.xlsx）で出力", dataclasses.replace(request, encoding=Encoding.XLSX).params()),
            (
                "cp932 で出力（出力できない文字は「〓」に置き換え）",
                dataclasses.replace(request, replace_unencodable=True).params(),
            ),
        ]
    return Template(
        template_name="exchange/export_confirm.html",
        context={
            "plan": plan,
            "export": request,
            "summary": summary,
            "layout_label": LAYOUT_LABELS[request.layout],
            "encoding_label": ENCODING_LABELS[request.encoding.value],
            "hidden": request.params(),
            "alternatives": alternatives,
            "form_link": _link(EXPORT_PATH, request.params()),
            "list_link": _list_link(request),
        },
        status_code=status_code,
    )


class ExportController(Controller):
    path = EXPORT_PATH
    guards = [company_staff]
    include_in_schema = False

    @get("/", name="export_form")
    async def export_form(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
    ) -> Template | Redirect:
        """The choices for the selection the list sent; unreadable values fall back to the defaults, shown as errors.

        「選択した行を出力」 with no row ticked goes back to the list (never silently to everyone).
        """
        single, ids = _params(request.query_params)
        if single.get("ticked") and not ids:
            flash(request, "出力する行を一覧で選択してから「選択した行を出力」を押してください。", "error")
            return Redirect(path=LIST_PATH)
        try:
            export = ExportRequest.from_params(single, ids)
        except FormInvalid as exc:
            return await _form_page(db_session, principal, _fallback(single, ids), exc.errors, status_code=400)
        return await _form_page(db_session, principal, export, {})

    @get("/confirm", name="export_confirm")
    async def export_confirm(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
    ) -> Template:
        """What the file would carry, and the download button(s); numbers need a step-up first (then back here)."""
        single, ids = _params(request.query_params)
        try:
            export = ExportRequest.from_params(single, ids)
        except FormInvalid as exc:
            return await _form_page(db_session, principal, _fallback(single, ids), exc.errors, status_code=400)
        try:
            plan = await plan_export(db_session, principal, export)
        except FormInvalid as exc:
            return await _form_page(db_session, principal, export, exc.errors, status_code=400)
        return await _confirm_page(db_session, principal, plan)

    @post("/download", name="export_download", opt=DOWNLOAD_OPT)
    async def export_download(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, vault: Vault, principal: Principal
    ) -> Template | Redirect | Stream:
        """Plan again and stream the file (logged as CSV出力 once it is whole); a stale step-up goes back to confirm."""
        single, ids = _params(await request.form())
        try:
            export = ExportRequest.from_params(single, ids)
        except FormInvalid as exc:
            return await _form_page(db_session, principal, _fallback(single, ids), exc.errors, status_code=400)
        if export.with_numbers and principal.role in NUMBER_ROLES and not principal.stepup_fresh:
            confirm = _link(f"{EXPORT_PATH}/confirm", export.params())
            return Redirect(path="/reauth", query_params={"next": confirm})
        try:
            plan = await plan_export(db_session, principal, export)
        except FormInvalid as exc:
            return await _form_page(db_session, principal, export, exc.errors, status_code=400)
        if plan.outcome is not Outcome.READY:
            status = 422 if plan.outcome is Outcome.UNENCODABLE else 400
            return await _confirm_page(db_session, principal, plan, status_code=status)
        return download_response(db_session, vault, principal, principal.actor(), plan)


def _fallback(single: dict[str, str], ids: list[str]) -> ExportRequest:
    """The selection alone (defaults for every choice), to show the form again beside errors."""
    return ExportRequest.from_params({key: single.get(key, "") for key in ("department", "kind", "status")}, ids)


ROUTES: list[Any] = [ExportController]
