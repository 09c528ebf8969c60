"""Erasing numbers (削除), early-deletion approvals and deletion certificates (削除証明書) (issue 11).

1. ``POST /admin/erasure/confirm`` (the deletion list's ticked rows, ``person_id`` each, CSRF) or
   ``GET /admin/erasure/confirm?person_id=…`` (「番号を削除」 on a row or a person's page, and the way back from the
   step-up): who, masked numbers, due dates; the reason, dependants too, 「予定日前の削除」. Admins only (seed 000:
   the admin decides disposal; handlers and viewers get 403), after a fresh step-up (``/reauth`` first, then
   back here with the same people).
2. ``POST /admin/erasure`` (CSRF): checks everything, then erases (or files early-deletion requests) in one
   transaction; the erased numbers' keys are destroyed before the answer (``vault.commit``).
3. ``/admin/erasure/requests``: pending early-deletion requests; a second admin approves (step-up) or rejects.
4. ``/admin/erasure/records`` (admins and handlers): deletion records newest first, a period filter, and the
   削除証明書 downloads (POST, CSRF: issuing is logged as 印刷).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.guard import looks_like_number
from app.auth.principal import Principal, admin_only, company_staff, number_handlers
from app.forms import Form, FormInvalid
from app.http import attachment
from app.pager import PageRequest, page_links
from app.text import DateRejected, format_date, parse_date
from app.vault import Vault
from tenants import services
from tenants.certificates import Certificate, person_certificate, range_certificate

ERASURE_PATH = "/admin/erasure"
CONFIRM_PATH = f"{ERASURE_PATH}/confirm"
REQUESTS_PATH = f"{ERASURE_PATH}/requests"
RECORDS_PATH = f"{ERASURE_PATH}/records"


class DecisionForm(msgspec.Struct, kw_only=True):
    note: str = ""


class PeriodForm(msgspec.Struct, kw_only=True):
    start: str = msgspec.field(default="", name="from")
    end: str = msgspec.field(default="", name="to")


def _confirm_link(ids: list[uuid.UUID]) -> str:
    return f"{CONFIRM_PATH}?{urlencode([('person_id', str(i)) for i in ids])}"


def _reasons() -> list[tuple[str, str]]:
    return list(services.ERASURE_REASONS.items())


async def _confirm_page(
    db_session: AsyncSession,
    vault: Vault,
    principal: Principal,
    ids: list[uuid.UUID],
    *,
    choice: services.ErasureChoice | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    targets = await services.erasure_targets(db_session, vault, principal, ids)
    return Template(
        template_name="tenants/erasure/confirm.html",
        context={
            "targets": targets,
            "choice": choice or services.ErasureChoice(),
            "errors": errors or {},
            "reasons": _reasons(),
            "not_due": any(not t.due for t in targets),
            "has_dependants": any(t.dependants for t in targets),
            "is_admin": principal.role.value == "admin",
        },
        status_code=status_code,
    )


def _chosen_ids(source: Any) -> list[uuid.UUID] | Template:
    """The ``person_id`` values of a query or form, or the page saying none (or too many) were chosen."""
    try:
        return services.parse_ids([str(v) for v in source.getall("person_id", [])])
    except FormInvalid as exc:
        return Template(template_name="tenants/erasure/nothing.html", context={"message": exc.message}, status_code=400)


def _pdf(certificate: Certificate) -> Response[bytes]:
    """The PDF as a download that no cache keeps."""
    return Response(
        content=certificate.pdf,
        status_code=200,
        media_type="application/pdf",
        headers={"Content-Disposition": attachment(certificate.filename), "Cache-Control": "no-store"},
    )


class ErasureController(Controller):
    path = ERASURE_PATH
    guards = [company_staff]
    include_in_schema = False

    @get("/confirm", name="erasure_confirm", guards=[admin_only])
    async def confirm_get(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, vault: Vault, principal: Principal
    ) -> Template | Redirect:
        """The confirmation page for the people in the query (a row's 「番号を削除」, the way back from /reauth)."""
        ids = _chosen_ids(request.query_params)
        if isinstance(ids, Template):
            return ids
        if not principal.stepup_fresh:
            return Redirect(path="/reauth", query_params={"next": _confirm_link(ids)})
        return await _confirm_page(db_session, vault, principal, ids)

    @post("/confirm", name="erasure_confirm_post", guards=[admin_only])
    async def confirm_post(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, vault: Vault, principal: Principal
    ) -> Template | Redirect:
        """The deletion list's ticked rows: the same page (step-up first when stale, then back with the people)."""
        ids = _chosen_ids(await request.form())
        if isinstance(ids, Template):
            return ids
        if not principal.stepup_fresh:
            return Redirect(path="/reauth", query_params={"next": _confirm_link(ids)})
        return await _confirm_page(db_session, vault, principal, ids)

    @post("/", name="erasure_perform", guards=[admin_only])
    async def perform(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, vault: Vault, principal: Principal
    ) -> Template | Redirect:
        """Erase (or file the early-deletion requests), all checked first; a stale step-up goes back to confirm."""
        form = await request.form()
        ids = _chosen_ids(form)
        if isinstance(ids, Template):
            return ids
        if not principal.stepup_fresh:
            return Redirect(path="/reauth", query_params={"next": _confirm_link(ids)})
        choice = services.ErasureChoice(
            reason=str(form.get("reason") or ""),
            reason_text=str(form.get("reason_text") or ""),
            include_dependants=form.get("include_dependants") == "1",
            early=form.get("early") == "1",
        )
        try:
            outcome = await services.erase_numbers(db_session, vault, principal, ids, choice)
        except FormInvalid as exc:
            if looks_like_number(choice.reason_text):  # what may be a number is never shown back
                choice = dataclasses.replace(choice, reason_text="")
            return await _confirm_page(
                db_session, vault, principal, ids, choice=choice, errors=exc.errors, status_code=400
            )
        except services.ErasureRefused as exc:
            return await _confirm_page(
                db_session, vault, principal, ids, choice=choice, errors={"person_id": exc.message}, status_code=400
            )
        await vault.commit(db_session)  # then the erased numbers' keys are destroyed
        if outcome.records:
            names = "、".join(f"{r.subject_name} さん" for r in outcome.records[:5])
            more = f"ほか{len(outcome.records) - 5}人" if len(outcome.records) > 5 else ""
            flash(request, f"{names}{more}の番号を削除しました（{len(outcome.records)}件）。", "success")
        if outcome.requests:
            flash(
                request,
                f"予定日前の削除を{len(outcome.requests)}件申請しました。別の管理者が承認すると削除されます。",
                "info",
            )
            return Redirect(path=REQUESTS_PATH)
        return Redirect(path=RECORDS_PATH)

    # Early-deletion requests -------------------------------------------------------------------------------

    @get("/requests", name="erasure_requests", guards=[number_handlers])
    async def request_list(
        self,
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        page: str = "1",
        after: str = "",
        before: str = "",
    ) -> Template:
        found = await services.early_request_page(db_session, vault, principal, PageRequest.parse(page, after, before))
        return Template(
            template_name="tenants/erasure/requests.html",
            context={
                "pending": found.rows,
                "total": found.total,
                "pager": page_links(found.window, found.total, lambda params: f"{REQUESTS_PATH}?{urlencode(params)}"),
                "decided": await services.recent_early_decisions(db_session, principal),
                "is_admin": principal.role.value == "admin",
            },
        )

    @get("/requests/{request_id:str}", name="erasure_request", guards=[admin_only])
    async def request_page(
        self, db_session: AsyncSession, vault: Vault, principal: Principal, request_id: str
    ) -> Template:
        row = await services.early_request_row(db_session, vault, principal, request_id)
        return _decision_page(row, principal, "", {})

    @post("/requests/{request_id:str}/approve", name="erasure_request_approve", guards=[admin_only])
    async def approve(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        request_id: str,
        data: Annotated[DecisionForm, Form],
    ) -> Template | Redirect:
        row = await services.early_request_row(db_session, vault, principal, request_id)
        if not principal.stepup_fresh:
            return Redirect(path="/reauth", query_params={"next": f"{REQUESTS_PATH}/{row.request.id}"})
        return await self._decide(request, db_session, vault, principal, row, data.note, approve=True)

    @post("/requests/{request_id:str}/reject", name="erasure_request_reject", guards=[admin_only])
    async def reject(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        request_id: str,
        data: Annotated[DecisionForm, Form],
    ) -> Template | Redirect:
        row = await services.early_request_row(db_session, vault, principal, request_id)
        return await self._decide(request, db_session, vault, principal, row, data.note, approve=False)

    @staticmethod
    async def _decide(
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        row: services.EarlyRequestRow,
        note: str,
        *,
        approve: bool,
    ) -> Template | Redirect:
        try:
            await services.decide_early_request(
                db_session, vault, principal, str(row.request.id), approve=approve, note=note
            )
        except FormInvalid as exc:
            return _decision_page(row, principal, note, exc.errors, status_code=400)
        except services.ErasureRefused as exc:
            return _decision_page(row, principal, note, {"decision": exc.message}, status_code=400)
        await vault.commit(db_session)
        name = row.target.row.display_name
        if approve:
            flash(request, f"{name} さんの予定日前の削除を承認し、番号を削除しました。", "success")
        else:
            flash(request, f"{name} さんの予定日前の削除の申請を却下しました。", "success")
        return Redirect(path=REQUESTS_PATH)

    # Deletion records and certificates ---------------------------------------------------------------------

    @get("/records", name="erasure_records", guards=[number_handlers])
    async def record_list(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        page: str = "1",
        after: str = "",
        before: str = "",
    ) -> Template:
        start_text = str(request.query_params.get("from") or "")
        end_text = str(request.query_params.get("to") or "")
        errors: dict[str, str] = {}
        period = _period(start_text, end_text, errors)
        found = await services.deletion_record_page(
            db_session, principal, period, PageRequest.parse(page, after, before)
        )
        filters = {"from": start_text, "to": end_text}
        return Template(
            template_name="tenants/erasure/records.html",
            context={
                "records": found.rows,
                "total": found.total,
                "pager": page_links(
                    found.window, found.total, lambda params: f"{RECORDS_PATH}?{urlencode({**filters, **params})}"
                ),
                "filters": filters,
                "period": period,
                "errors": errors,
                "reason_label": services.reason_label,
                "format_date": format_date,
            },
            status_code=400 if errors else 200,
        )

    @post("/records/{record_id:str}/certificate", name="erasure_record_certificate", guards=[number_handlers])
    async def record_certificate(
        self, db_session: AsyncSession, principal: Principal, record_id: str
    ) -> Response[bytes]:
        certificate = await person_certificate(db_session, principal, record_id)
        return _pdf(certificate)

    @post("/certificate", name="erasure_range_certificate", guards=[number_handlers])
    async def period_certificate(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: Annotated[PeriodForm, Form],
    ) -> Response[bytes] | Redirect:
        errors: dict[str, str] = {}
        period = _period(data.start, data.end, errors, required=True)
        if not errors:
            try:
                certificate = await range_certificate(db_session, principal, period)
            except FormInvalid as exc:
                errors = exc.errors
            else:
                return _pdf(certificate)
        flash(request, next(iter(errors.values())), "error")
        return Redirect(path=RECORDS_PATH, query_params={"from": data.start, "to": data.end})


def _decision_page(
    row: services.EarlyRequestRow, principal: Principal, note: str, errors: dict[str, str], status_code: int = 200
) -> Template:
    return Template(
        template_name="tenants/erasure/decision.html",
        context={
            "r": row,
            "note": "" if looks_like_number(note) else note,  # what may be a number is never shown back
            "errors": errors,
            "own": row.request.requested_by == principal.account_id,
        },
        status_code=status_code,
    )


def _period(start: str, end: str, errors: dict[str, str], *, required: bool = False) -> services.RecordRange:
    """A period from two typed dates (西暦 or 和暦); errors under ``from`` / ``to`` say what to fix."""
    days: list[dt.date | None] = []
    for key, label, text in (("from", "開始日", start), ("to", "終了日", end)):
        try:
            day = parse_date(text) if text.strip() else None
        except DateRejected as exc:
            errors[key] = f"{label}{exc.message}"
            day = None
        if day is None and required and key not in errors:
            errors[key] = f"{label}を入力してください（例: 2026/04/01、令和8年4月1日）。"
        days.append(day)
    first, last = days
    if first and last and first > last:
        errors["to"] = "終了日は開始日と同じ日かそれより後の日付にしてください。"
    return services.RecordRange(first, last) if not errors else services.RecordRange()
