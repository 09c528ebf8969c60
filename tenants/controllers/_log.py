"""操作履歴: the tenant's operation log, searched (seed 003; seed 000 ログ管理), downloaded, its chain's state shown.

Who may do what (a company's 組織的安全管理措置: the 事務取扱責任者 checks the 担当者' work):

- every management role (管理者, 事務取扱担当者, 閲覧者) reads and searches the log on screen;
- only 管理者 take it out of the service: the CSV and PDF downloads, the signed checkpoint file for an auditor, and
  the full verification (今すぐ検証). The log names every employee and every staff member's address and browser;
  handlers are the people it watches, and viewers sign in without a second factor, so neither exports it.

Every download writes its entry (CSV出力 or 印刷, 機能名 「操作履歴のダウンロード」, the filters in the detail) and
commits it *before* the first byte is sent: a download that cannot be logged does not start (fail closed), and one
that the client abandons is still on record.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain_state import VERIFY_JOB, chain_state, tenant_checkpoint_document
from app.audit.events import AuditAction, AuditEvent, AuditResult
from app.audit.guard import looks_like_number, redact_client_text
from app.audit.log import record
from app.audit.models import TEXT_LENGTHS
from app.auth.principal import Principal, admin_only, company_staff
from app.jobs.services import submit_job
from app.pager import PageRequest, page_links
from app.text import DateRejected, parse_date
from app.vault import Vault
from app.workers import DOCUMENTS, run_in_worker
from exchange.controllers import DOWNLOAD_OPT, ClosingStream, content_disposition
from exchange.encoding import Encoding
from tenants.services import JST
from tenants.services._log_export import PDF_MAX_ENTRIES, read_for_pdf, render_log_pdf, stream_log_csv
from tenants.services._log_search import (
    DEFAULT_PER_PAGE,
    OPERATION_BY_LABEL,
    OPERATIONS,
    PER_PAGE_CHOICES,
    LogSearch,
    TooManyNames,
    plan_search,
    search_log,
)

TOO_MANY_NAMES = "対象者名に当てはまる人が多すぎます。名前をもう少し詳しく入力するか、社員コードで絞り込んでください。"

FILTER_KEYS = ("since", "until", "department", "employee_code", "name", "actor", "operation", "result", "order")
DOWNLOAD_FUNCTION = "操作履歴のダウンロード"
FORMATS = {  # form value: (label, encoding or None for PDF)
    "csv": ("CSV（Shift_JIS）", Encoding.CP932),
    "csv-utf8": ("CSV（UTF-8）", Encoding.UTF8_BOM),
    "pdf": ("PDF", None),
}
MAX_NAME = 100


class LogFormError(ValueError):
    """The search has filters that cannot be read; ``errors`` are Japanese sentences saying what to fix."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _day(value: str, label: str, errors: list[str]) -> dt.date | None:
    if not value.strip():
        return None
    try:
        return parse_date(value)  # app.text: 西暦 or 和暦, as every date field
    except DateRejected:
        errors.append(f"{label}は 2026-04-01 や 令和8年4月1日 のように日付で入力してください。")
        return None


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), JST)


def _text(values: dict[str, str], key: str, label: str, limit: int, errors: list[str]) -> str:
    text = " ".join(values.get(key, "").split())
    if len(text) > limit:
        errors.append(f"{label}は{limit}文字以内で入力してください。")
        return ""
    if looks_like_number(text):
        errors.append(f"{label}に12桁の数字（個人番号の可能性）は入力できません。")
        return ""
    return text


def parse_search(values: dict[str, str]) -> tuple[LogSearch, dict[str, str], list[str]]:
    """The search from the form's values: (search, the values to show again, Japanese errors).

    An unknown 操作, 結果 or 並び順 is ignored (the form only offers valid ones); a bad date, a too long text or a
    12-digit run is an error (the search then reads nothing).
    """
    errors: list[str] = []
    since = _day(values.get("since", ""), "期間の開始日", errors)
    until = _day(values.get("until", ""), "期間の終了日", errors)
    if since and until and since > until:
        errors.append("期間の開始日は終了日と同じか前の日付にしてください。")
    department = _text(values, "department", "部門コード", TEXT_LENGTHS["subject_department_code"], errors)
    employee_code = _text(values, "employee_code", "社員コード", TEXT_LENGTHS["subject_employee_code"], errors)
    name = _text(values, "name", "対象者名", MAX_NAME, errors)
    actor = _text(values, "actor", "操作した人（ユーザID）", TEXT_LENGTHS["actor_login_id"], errors)
    operation = OPERATION_BY_LABEL.get(values.get("operation", "") or values.get("action", ""))  # older links: action
    result_text = values.get("result", "")
    result = AuditResult(result_text) if result_text in AuditResult._value2member_map_ else None
    oldest_first = values.get("order", "") == "old"
    search = LogSearch(
        since=_start_of(since) if since else None,
        until=_start_of(until + dt.timedelta(days=1)) if until else None,
        department_code=department,
        employee_code=employee_code,
        subject_name=name,
        actor_login_id=actor,
        operation=operation,
        result=result,
        oldest_first=oldest_first,
    )
    shown = {
        "since": since.isoformat() if since else values.get("since", "")[:20],
        "until": until.isoformat() if until else values.get("until", "")[:20],
        "department": department,
        "employee_code": employee_code,
        "name": name,
        "actor": actor,
        "operation": operation.label if operation else "",
        "result": result.value if result else "",
        "order": "old" if oldest_first else "",
    }
    return search, shown, errors


def _per_page(value: str) -> int:
    return int(value) if value in {str(n) for n in PER_PAGE_CHOICES} else DEFAULT_PER_PAGE


def _query(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {key: str(request.query_params.get(key, "")) for key in (*FILTER_KEYS, "action", "per_page")}


class OperationLogController(Controller):
    path = "/admin/log"
    guards = [company_staff]
    include_in_schema = False

    @get("/", name="operation_log")
    async def log_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
    ) -> Template:
        """The search form, the chain's state, and one page of matching entries (newest first by default)."""
        values = _query(request)
        search, shown, errors = parse_search(values)
        per_page = _per_page(values["per_page"])
        params = request.query_params
        page_request = PageRequest.from_query(params)
        found = None
        if not errors:
            try:
                found = await search_log(db_session, principal.tenant_id, search, page_request, per_page=per_page)
            except TooManyNames:
                errors.append(TOO_MANY_NAMES)
        kept = {key: value for key, value in shown.items() if value}
        if per_page != DEFAULT_PER_PAGE:
            kept["per_page"] = str(per_page)
        pager = []
        if found is not None:
            pager = page_links(
                found.window, found.total, lambda p: f"/admin/log?{urlencode({**kept, **p})}", numbers=False
            )
        return Template(
            template_name="tenants/log.html",
            context={
                "entries": found.entries if found else [],
                "total": found.total if found else None,
                "pager": pager,
                "filters": shown,
                "per_page": per_page,
                "per_page_choices": PER_PAGE_CHOICES,
                "errors": errors,
                "operations": [operation.label for operation in OPERATIONS],
                "results": [r.value for r in AuditResult],
                "formats": {key: label for key, (label, _) in FORMATS.items()},
                "chain": await chain_state(db_session, principal.tenant_id),
                "is_admin": principal.role.value == "admin",
                # Seed 000: the log limited to 削除 over a period leads to that period's 削除証明書.
                "may_certify": principal.role.value in {"admin", "handler"},
                "pdf_max": PDF_MAX_ENTRIES,
                "jst": JST,
            },
            status_code=400 if errors else 200,
        )

    @post("/download", name="operation_log_download", guards=[admin_only], opt=DOWNLOAD_OPT)
    async def download(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
    ) -> Response[Any] | ClosingStream:
        """The current search as CSV (cp932 or UTF-8 with BOM) or PDF; logged and committed before it is sent."""
        form = await request.form()
        values = {key: str(form.get(key, "")) for key in (*FILTER_KEYS, "format")}
        search, _, errors = parse_search(values)
        chosen = FORMATS.get(values["format"])
        if chosen is None:
            errors.append("ダウンロードの形式（CSV または PDF）を選んでください。")
        if errors:
            return _refusal(errors)
        assert chosen is not None
        label, encoding = chosen
        stamp = dt.datetime.now(JST).strftime("%Y%m%d_%H%M%S")
        try:
            if encoding is None:
                rows = await read_for_pdf(db_session, principal.tenant_id, search)
                if rows is None:
                    return _refusal(
                        [
                            f"PDF にできるのは {PDF_MAX_ENTRIES:,} 件までです。"
                            "期間などで絞り込むか、CSV でダウンロードしてください。"
                        ]
                    )
                await _log_download(db_session, principal, search, AuditAction.PRINT, label, len(rows))
                header = _pdf_header(principal, search)
                content = await run_in_worker(DOCUMENTS, render_log_pdf, header, rows, releasing=db_session)
                return Response(
                    content,
                    media_type="application/pdf",
                    status_code=200,
                    headers=_download_headers(f"操作履歴_{stamp}.pdf", f"operation_log_{stamp}.pdf"),
                )
            await plan_search(db_session, principal.tenant_id, search)  # a name matching too many: refused, not logged
        except TooManyNames:
            return _refusal([TOO_MANY_NAMES])
        await _log_download(db_session, principal, search, AuditAction.CSV_EXPORT, label, None)
        media_type = encoding.media_type
        headers = {
            "Content-Type": media_type,
            **_download_headers(f"操作履歴_{stamp}.csv", f"operation_log_{stamp}.csv"),
        }
        chunks = stream_log_csv(db_session, principal.tenant_id, search, encoding)
        return ClosingStream(chunks, media_type=media_type, headers=headers, status_code=200)

    @post("/verify", name="operation_log_verify", guards=[admin_only])
    async def verify(self, db_session: AsyncSession, vault: Vault, principal: Principal) -> Redirect:
        """今すぐ検証: the whole chain checked as a job (its page shows progress); the result shows here after."""
        job = await submit_job(db_session, vault, kind=VERIFY_JOB, title="操作履歴の検証（全件）", principal=principal)
        await vault.commit(db_session)
        return Redirect(path=f"/admin/jobs/{job.id}")

    @post("/checkpoint", name="operation_log_checkpoint", guards=[admin_only], opt=DOWNLOAD_OPT)
    async def checkpoint_file(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
    ) -> Response[bytes] | Redirect:
        """The signed checkpoint file of this tenant, for an auditor to keep (logged; 管理者 only)."""
        document = await tenant_checkpoint_document(db_session, principal.tenant_id, principal.tenant_code)
        if not document["heads"]:  # an empty signed file proves nothing to an auditor: back, saying why
            flash(request, NO_CHECKPOINT, "error")
            return Redirect(path="/admin/log")
        seq = document["heads"][0]["seq"]
        await record(
            db_session,
            AuditEvent(
                tenant_id=principal.tenant_id,
                action=AuditAction.CSV_EXPORT,
                actor=principal.actor(),
                function="チェックポイントファイルのダウンロード",
                detail={"checkpoint_seq": seq},
            ),
        )
        await db_session.commit()
        stamp = dt.datetime.now(JST).strftime("%Y%m%d_%H%M%S")
        content = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        return Response(
            content,
            media_type="application/json",
            status_code=200,
            headers=_download_headers(f"チェックポイント_{stamp}.json", f"audit_checkpoint_{stamp}.json"),
        )


NO_CHECKPOINT = (
    "チェックポイントはまだ作成されていません。定期保守（数分おき）が操作履歴を検証して作成した後に"
    "ダウンロードしてください（運用担当者は mnvault audit checkpoint でも作成できます）。"
)


def _download_headers(filename: str, ascii_filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": content_disposition(filename, ascii_filename),
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }


def _refusal(errors: list[str]) -> Response[str]:
    """A download that cannot be made: the reasons in Japanese, with a way back (nothing was logged)."""
    items = "".join(f"<li>{_escape(error)}</li>" for error in errors)
    body = (
        '<!doctype html><html lang="ja"><meta charset="utf-8"><title>操作履歴のダウンロード</title>'
        f'<h1>ダウンロードできません</h1><ul class="errors">{items}</ul><p><a href="/admin/log">操作履歴に戻る</a></p>'
    )
    return Response(body, media_type="text/html; charset=utf-8", status_code=400)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def _log_download(
    session: AsyncSession, principal: Principal, search: LogSearch, action: AuditAction, label: str, rows: int | None
) -> None:
    """The download's entry, committed now: nothing is sent unless it is on record."""
    filters = {key: redact_client_text(value, 200) or "" for key, value in search.described().items()}
    detail: dict[str, Any] = {"format": label, "filters": filters}
    if rows is not None:
        detail["entries"] = rows
    await record(
        session,
        AuditEvent(
            tenant_id=principal.tenant_id,
            action=action,
            actor=principal.actor(),
            function=DOWNLOAD_FUNCTION,
            detail=detail,
        ),
    )
    await session.commit()


def _pdf_header(principal: Principal, search: LogSearch) -> list[str]:
    printed = dt.datetime.now(JST).strftime("%Y/%m/%d %H:%M")
    conditions = "、".join(f"{key}: {value}" for key, value in search.described().items())
    return [
        "操作履歴（個人番号関係事務の処理記録）",
        f"{principal.tenant_name}　出力日時 {printed}　出力者 {principal.name}（{principal.login_id}）",
        f"条件: {conditions}",
    ]
