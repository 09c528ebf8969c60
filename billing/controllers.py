"""HTTP layer of billing, operator side (issue 13): dashboard, 請求 (months, invoices, CSV, PDFs), 請求情報, 料金表.

Every route is the operator's only (``operator_only``: anonymous → sign-in, any other role → 403). None of these
pages reads or shows a number: invoices, prices and counts only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

from anyio import CancelScope
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import AuditAction
from app.audit.log import record
from app.auth.principal import Principal, operator_only, stepup_guard
from app.db import independent_session
from app.forms import Form, FormInvalid
from app.http import attachment, error_response
from app.pager import PageRequest, page_links
from app.text import today_in_japan
from billing import invoicing
from billing.charts import bar_chart, ids_figure, yen_figure
from billing.invoice_pdf import render_invoice
from billing.months import BadMonth, month_key, month_label, month_start, months_back, parse_month, previous_month
from billing.operator import (
    PRICE_FIELDS,
    PriceForm,
    ProfileForm,
    billing_profile,
    price_form,
    price_label,
    price_schedule,
    profile_form,
    save_prices,
    save_profile,
)
from billing.reports import CHART_MONTHS, dashboard, month_invoices, month_summaries
from exchange.controllers import DOWNLOAD_OPT, ClosingStream

CSV_FUNCTION = "請求データのCSV出力"
PDF_FUNCTION = "請求書PDFの出力"
CSV_MEDIA_TYPE = "text/csv; charset=Shift_JIS"
CORRECT_BUSY = "同じ請求書の訂正が同時に行われました。月の請求一覧で結果を確認してください。"
CLOSE_BUSY = "別の締め処理が実行中です。しばらくしてから結果を確認してください。"
BUSY_WORDS = ("locked", "busy", "lock not available", "could not obtain lock", "deadlock")


def _database_busy(exc: OperationalError) -> bool:
    """Whether ``exc`` says the database is locked or busy (SQLite) or a lock could not be had (PostgreSQL)."""
    text = str(exc.orig).lower()
    return any(word in text for word in BUSY_WORDS)


def _invoice_keys(tenant_id: str, invoice_id: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The two ids of an invoice URL; NotFoundException (404) for anything that is not a UUID."""
    try:
        return uuid.UUID(tenant_id), uuid.UUID(invoice_id)
    except ValueError:
        raise NotFoundException() from None


async def _refused(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    tenant_id: uuid.UUID,
    invoice_id: uuid.UUID,
    reason: Exception | str,
) -> Redirect:
    """A correction that cannot be made: the reason as a flash, back on the invoice's month page."""
    try:
        invoice, _ = await invoicing.invoice_with_lines(session, tenant_id, invoice_id)
    except LookupError:
        raise NotFoundException() from None
    flash(request, str(reason), "error")
    return Redirect(path=f"/operator/billing/{month_key(invoice.month)}")


def _bad_month(request: Request[Any, Any, Any], exc: BadMonth) -> Response[Any]:
    return error_response(request, 400, title="月の指定が正しくありません", hint=exc.message)


class OperatorDashboardController(Controller):
    """/operator/dashboard: companies by status, trials ending this week, ids and revenue per month (SVG)."""

    path = "/operator/dashboard"
    guards = [operator_only]
    include_in_schema = False

    @get("/", name="operator_dashboard")
    async def show(self, db_session: AsyncSession) -> Template:
        today = today_in_japan()
        figures = await dashboard(db_session, today)
        ids_chart = bar_chart(
            "ids-chart",
            f"じぶんで登録IDの利用数（各月の最大、直近{CHART_MONTHS}か月）",
            "利用ID数",
            figures.id_months,
            figures.active_ids,
            ids_figure,
        )
        revenue_chart = bar_chart(
            "revenue-chart",
            f"売上（請求額の税込合計、取消を差し引き、直近{CHART_MONTHS}か月）",
            "売上（税込）",
            figures.revenue_months,
            figures.revenue,
            yen_figure,
        )
        return Template(
            template_name="billing/operator/dashboard.html",
            context={"figures": figures, "charts": [ids_chart, revenue_chart], "today": today},
        )


class OperatorBillingController(Controller):
    """/operator/billing: months to close, a month's invoices, the accounting CSV and each invoice's PDF."""

    path = "/operator/billing"
    guards = [operator_only]
    include_in_schema = False

    @get("/", name="operator_billing")
    async def months(self, db_session: AsyncSession) -> Template:
        to_close = previous_month(month_start(today_in_japan()))
        summaries = await month_summaries(db_session, months_back(to_close, 12)[::-1])
        return Template(
            template_name="billing/operator/months.html",
            context={
                "summaries": summaries,
                "to_close": summaries[0],
                "profile_missing": await billing_profile(db_session) is None,
            },
        )

    @post("/close", name="operator_billing_close", guards=[stepup_guard])
    async def close(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
    ) -> Redirect | Response[Any]:
        """Close a past month: one invoice per billable company (``billing.invoicing.close_month``, idempotent)."""
        form = await request.form()
        try:
            month = parse_month(str(form.get("month", "")))
        except BadMonth as exc:
            return _bad_month(request, exc)
        if month >= month_start(today_in_japan()):
            flash(request, f"{month_label(month)}分はまだ締められません（月が終わってから締めます）。", "error")
            return Redirect(path="/operator/billing")
        # close_month writes in its own transactions (batches), on the app's engine, not in this request's session.
        sessions = async_sessionmaker(db_session.bind, expire_on_commit=False)
        try:
            result = await invoicing.close_month(sessions, month, actor=principal.name)
        except invoicing.BillingRefused as exc:  # e.g. the issuer's registration number is not set yet
            flash(request, str(exc), "error")
            return Redirect(path="/operator/billing")
        except (OperationalError, IntegrityError) as exc:  # another close (another process) is writing the month
            if isinstance(exc, OperationalError) and not _database_busy(exc):
                raise
            flash(request, CLOSE_BUSY, "info")
            return Redirect(path=f"/operator/billing/{month_key(month)}")
        if result.created:
            message = f"{month_label(month)}分を締め、請求書を{result.created:,}件作成しました。"
            if result.already_closed:
                message += f"（{result.already_closed:,}件は作成済みでした）"
            flash(request, message, "success")
        else:
            flash(request, f"{month_label(month)}分は締め済みです（新しく作成した請求書はありません）。", "info")
        return Redirect(path=f"/operator/billing/{month_key(month)}")

    @get("/invoices/{tenant_id:str}/{file_name:str}", name="operator_invoice_pdf", opt=DOWNLOAD_OPT)
    async def invoice_pdf(
        self, db_session: AsyncSession, principal: Principal, tenant_id: str, file_name: str
    ) -> Response[bytes]:
        """``/operator/billing/invoices/<tenant id>/<invoice id>.pdf``: 404 for an unknown or another tenant's id."""
        if not file_name.endswith(".pdf"):
            raise NotFoundException()
        try:
            tenant_key, invoice_key = uuid.UUID(tenant_id), uuid.UUID(file_name.removesuffix(".pdf"))
        except ValueError:
            raise NotFoundException() from None
        try:
            invoice, lines = await invoicing.invoice_with_lines(db_session, tenant_key, invoice_key)
        except LookupError:
            raise NotFoundException() from None
        document = await render_invoice(db_session, invoice, lines)
        detail = {"event": "invoice_pdf", "invoice_id": str(invoice.id), "tenant_id": str(invoice.tenant_id)}
        await record(db_session, principal.event(AuditAction.PRINT, PDF_FUNCTION, detail))
        return Response(
            content=document.pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": attachment(document.filename), "Cache-Control": "no-store"},
        )

    @get("/invoices/{tenant_id:str}/{invoice_id:str}/correct", name="operator_invoice_correct_confirm")
    async def correct_confirm(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, tenant_id: str, invoice_id: str
    ) -> Template | Redirect:
        """The confirmation of 「訂正（取消して再発行）」: the invoice as issued and the month recomputed now.
        404 for an unknown id or another tenant's."""
        tenant_key, invoice_key = _invoice_keys(tenant_id, invoice_id)
        try:
            preview = await invoicing.preview_correction(db_session, tenant_key, invoice_key)
        except LookupError:
            raise NotFoundException() from None
        except invoicing.BillingRefused as exc:
            return await _refused(request, db_session, tenant_key, invoice_key, exc)
        return Template(
            template_name="billing/operator/correct.html",
            context={
                "preview": preview,
                "month_key": month_key(preview.invoice.month),
                "month_label": month_label(preview.invoice.month),
                "action": f"/operator/billing/invoices/{tenant_key}/{invoice_key}/correct",
            },
        )

    @post("/invoices/{tenant_id:str}/{invoice_id:str}/correct", name="operator_invoice_correct", guards=[stepup_guard])
    async def correct(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        tenant_id: str,
        invoice_id: str,
    ) -> Redirect:
        """Cancel the invoice with a credit note and issue it again (``billing.invoicing.correct_invoice``)."""
        tenant_key, invoice_key = _invoice_keys(tenant_id, invoice_id)
        try:
            async with db_session.begin_nested():
                credit, reissued = await invoicing.correct_invoice(db_session, tenant_key, invoice_key, principal.name)
        except LookupError:
            raise NotFoundException() from None
        except invoicing.BillingRefused as exc:
            return await _refused(request, db_session, tenant_key, invoice_key, exc)
        except IntegrityError:  # a correction of the same invoice at the same time (a double click) came first
            return await _refused(request, db_session, tenant_key, invoice_key, CORRECT_BUSY)
        message = f"請求書を取り消し、適格返還請求書 {credit.number} を発行しました。"
        if reissued is not None:
            message += f"訂正後の請求書 {reissued.number}（合計 {reissued.total:,}円）を再発行しました。"
        else:
            message += "現在の契約・利用では請求額がないため、再発行はしていません。"
        flash(request, message, "success")
        return Redirect(path=f"/operator/billing/{month_key(credit.month)}")

    @get("/{month:str}", name="operator_billing_month")
    async def month(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        month: str,
        page: str = "1",
        after: str = "",
        before: str = "",
    ) -> Template | Response[Any]:
        try:
            chosen = parse_month(month)
        except BadMonth as exc:
            return _bad_month(request, exc)
        found = await month_invoices(db_session, chosen, PageRequest.parse(page, after, before))
        cancelled = await invoicing.cancelled_among(db_session, found.invoices)
        key = month_key(chosen)
        return Template(
            template_name="billing/operator/month.html",
            context={
                "summary": (await month_summaries(db_session, [chosen]))[0],
                "invoices": found.invoices,
                "total": found.total,
                "pager": page_links(found.window, found.total, lambda p: f"/operator/billing/{key}?{urlencode(p)}"),
                "closable": chosen < month_start(today_in_japan()),
                "cancelled": cancelled,
            },
        )

    @get("/{month:str}/csv", name="operator_billing_csv", opt=DOWNLOAD_OPT)
    async def csv(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, month: str
    ) -> ClosingStream | Response[Any]:
        """Every invoice and credit note of the month as cp932 CSV (``billing.invoicing.month_csv``), streamed."""
        try:
            chosen = parse_month(month)
        except BadMonth as exc:
            return _bad_month(request, exc)
        detail = {"event": "invoices_csv", "month": month_key(chosen)}
        await record(db_session, principal.event(AuditAction.CSV_EXPORT, CSV_FUNCTION, detail))
        await db_session.commit()  # the log entry first: the file streams after the handler returns
        stamp = f"{chosen.year:04d}{chosen.month:02d}"
        headers = {
            "Content-Type": CSV_MEDIA_TYPE,
            "Content-Disposition": attachment(f"請求書_{stamp}.csv"),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        return ClosingStream(
            _csv_chunks(db_session, chosen), media_type=CSV_MEDIA_TYPE, headers=headers, status_code=200
        )


async def _csv_chunks(session: AsyncSession, month: dt.date) -> AsyncIterator[bytes]:
    """``month_csv`` read in a session of its own, closed when the file ends or the client goes away (the request's
    transaction has ended by then: it commits before the response starts)."""
    reader = independent_session(session)
    try:
        async for chunk in invoicing.month_csv(reader, month):
            yield chunk
        await reader.rollback()  # read only
    finally:
        with CancelScope(shield=True):
            await reader.close()


class OperatorBillingSettingsController(Controller):
    """/operator/billing/profile (請求情報) and /operator/billing/prices (料金表)."""

    path = "/operator/billing"
    guards = [operator_only]
    include_in_schema = False

    @get("/profile", name="operator_billing_profile", guards=[stepup_guard])
    async def profile(self, db_session: AsyncSession) -> Template:
        form = profile_form(await billing_profile(db_session))
        return Template(template_name="billing/operator/profile.html", context={"form": form, "errors": {}})

    @post("/profile", name="operator_billing_profile_save", guards=[stepup_guard])
    async def profile_save(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: Annotated[ProfileForm, Form],
    ) -> Template | Redirect:
        try:
            await save_profile(db_session, principal, data)
        except FormInvalid as exc:
            return Template(
                template_name="billing/operator/profile.html",
                context={"form": data, "errors": exc.errors},
                status_code=400,
            )
        flash(request, "請求情報を保存しました。これから発行する請求書に使われます。", "success")
        return Redirect(path="/operator/billing/profile")

    @get("/prices", name="operator_billing_prices")
    async def prices(self, db_session: AsyncSession) -> Template:
        schedule = await price_schedule(db_session)
        return _prices_page(schedule, price_form(schedule.scheduled or schedule.current), {})

    @post("/prices", name="operator_billing_prices_save")
    async def prices_save(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: Annotated[PriceForm, Form],
    ) -> Template | Redirect:
        try:
            saved = await save_prices(db_session, principal, data)
        except FormInvalid as exc:
            return _prices_page(await price_schedule(db_session), data, exc.errors, status_code=400)
        flash(
            request,
            f"料金表を保存しました。{month_label(saved.effective_from)}分の請求から適用されます"
            "（今月までの請求は変わりません）。",
            "success",
        )
        return Redirect(path="/operator/billing/prices")


def _prices_page(schedule: Any, form: PriceForm, errors: dict[str, str], status_code: int = 200) -> Template:
    return Template(
        template_name="billing/operator/prices.html",
        context={
            "schedule": schedule,
            "form": form,
            "errors": errors,
            "fields": [(name, price_label(name)) for name in PRICE_FIELDS],
            "month_label": month_label,
        },
        status_code=status_code,
    )


ROUTES: list[Any] = [OperatorDashboardController, OperatorBillingController, OperatorBillingSettingsController]
