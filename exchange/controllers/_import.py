"""Import pages: upload a file and its layout, read the check's report, then commit (issue 10).

Admins and handlers (事務取扱担当者) only; committing numbers asks for a recent re-authentication, as revealing
one does. A small CSV (``SYNC_MAX_ROWS`` rows) is checked and committed inside the request; bigger files and every
.xlsx (``needs_job``) by background jobs (``exchange.services.IMPORT_CHECK`` then ``IMPORT_COMMIT``), whose
progress page is ``/admin/jobs/{id}``; the check job's report is read from the job by the same report page.
Between the two steps the file waits sealed by the vault (``exchange.services.keep_upload``), never in clear.

An upload is at most ``MAX_UPLOAD_BYTES`` (20 MB: 100,000 rows of the full layout in cp932 take about 15 MB) and
stays in memory: ``app.http.keep_uploads_in_memory`` stops Litestar's multipart parser from spooling it to a
temporary file.
"""

from __future__ import annotations

import io
import uuid
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.plugins.flash import flash
from litestar.response import Redirect, Response, Template
from litestar.stores.base import Store
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, number_handlers, stepup_guard
from app.forms import Form, checkbox
from app.jobs import JobState, get_job, submit_job, take_report
from app.pager import PageLink, PageRequest
from app.vault import Vault
from exchange.encoding import Encoding
from exchange.layouts import FULL, SEED, WithholdingLayout
from exchange.reading import XLSX, FileRejected, detect_kind
from exchange.services import (
    IMPORT_CHECK,
    IMPORT_COMMIT,
    IMPORT_STORE,
    REPORT_PER_PAGE,
    SYNC_MAX_ROWS,
    ImportRefused,
    ImportReport,
    Upload,
    check_import,
    commit_import,
    decode_report,
    drop_upload,
    estimated_rows,
    keep_upload,
    load_upload,
    open_upload,
    save_report,
)

IMPORT_PATH = "/admin/imports"
JOBS_PATH = "/admin/jobs"
MAX_UPLOAD_BYTES = 20_000_000  # 100,000 rows of the full layout in cp932 (about 15 MB), held in memory
LAYOUT_CHOICES = [(layout.name, layout.title) for layout in (SEED, FULL, WithholdingLayout())]
LAYOUT_TITLES = dict(LAYOUT_CHOICES)
_REPORT_GONE = "確認結果の保存期間が過ぎました。お手数ですが、ファイルをもう一度読み込んでください。"


class CommitForm(msgspec.Struct, kw_only=True):
    accepted: str = ""  # the checkbox 「警告を確認しました」


def needs_job(data: bytes) -> bool:
    """Whether a file is for a background job rather than the request: every .xlsx, and CSV over ``SYNC_MAX_ROWS``."""
    try:
        kind = detect_kind(io.BytesIO(data))
    except FileRejected:
        return False  # the check says what is wrong with it
    return kind == XLSX or estimated_rows(data) > SYNC_MAX_ROWS


def _form_page(errors: dict[str, str], layout: str = "", status_code: int = 200) -> Template:
    return Template(
        template_name="exchange/import_form.html",
        context={
            "layouts": LAYOUT_CHOICES,
            "layout": layout,
            "errors": errors,
            "max_rows": SYNC_MAX_ROWS,
            "max_bytes": MAX_UPLOAD_BYTES,
        },
        status_code=status_code,
    )


def _pager(upload: Upload, number: int) -> list[PageLink]:
    pages = upload.report.pages(REPORT_PER_PAGE)
    if pages <= 1:
        return []
    base = f"{IMPORT_PATH}/{upload.id}"
    links = []
    if number > 1:
        links.append(PageLink("前へ", f"{base}?page={number - 1}", "prev"))
    first = max(1, min(number - 4, pages - 9))
    for n in range(first, min(pages, first + 9) + 1):
        links.append(PageLink(str(n), None if n == number else f"{base}?page={n}"))
    if number < pages:
        links.append(PageLink("次へ", f"{base}?page={number + 1}", "next"))
    return links


def _report_page(upload: Upload, page: str = "1", *, error: str = "", status_code: int = 200) -> Template:
    report = upload.report
    number = PageRequest.parse(page).page
    number = min(max(1, number), report.pages(REPORT_PER_PAGE))
    return Template(
        template_name="exchange/import_report.html",
        context={
            "upload": upload,
            "report": report,
            "counts": report.counts,
            "lines": report.page(number, REPORT_PER_PAGE),
            "page": number,
            "pager": _pager(upload, number),
            "layout_title": LAYOUT_TITLES.get(upload.layout, upload.layout),
            "error": error,
        },
        status_code=status_code,
    )


async def _upload(request: Request[Any, Any, Any]) -> tuple[str, UploadFile | None]:
    form = await request.form()
    layout = form.get("layout")
    file = form.get("file")
    return (layout if isinstance(layout, str) else ""), (file if isinstance(file, UploadFile) else None)


def _store(request: Request[Any, Any, Any]) -> Store:
    return request.app.stores.get(IMPORT_STORE)


def _job_title(verb: str, filename: str) -> str:
    return f"ファイルの{verb}（{filename or '名前のないファイル'}）"


async def _check_in_background(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    vault: Vault,
    principal: Principal,
    data: bytes,
    layout: str,
    filename: str,
) -> Redirect:
    """Submit the check job of a big file or a workbook and keep the file sealed for its commit; to its page."""
    upload_id = uuid.uuid4()
    job = await submit_job(
        db_session,
        vault,
        kind=IMPORT_CHECK,
        title=_job_title("取込の確認", filename),
        payload=data,
        params={"layout": layout, "upload_id": str(upload_id)},
        principal=principal,
    )
    await vault.commit(db_session)  # the job, before the store writes (on SQLite it would wait on this transaction)
    await keep_upload(
        _store(request),
        db_session,
        vault,
        principal,
        data=data,
        layout=layout,
        filename=filename,
        report=ImportReport(layout=layout),
        upload_id=upload_id,
        check_job=str(job.id),
    )
    flash(request, "ファイルを受け付けました。確認が終わると、確認結果を見て取り込めます。", "info")
    return Redirect(path=f"{JOBS_PATH}/{job.id}")


async def _checked(
    request: Request[Any, Any, Any], db_session: AsyncSession, vault: Vault, principal: Principal, upload_id: str
) -> Upload | Redirect:
    """The principal's upload with its check's report: its own, or (a big file) its check job's; a check job not
    succeeded yet sends to the job's page."""
    upload = await load_upload(_store(request), principal, upload_id)
    if not upload.check_job:
        return upload
    job = await get_job(db_session, principal, upload.check_job)
    if job.state is not JobState.SUCCEEDED:
        return Redirect(path=f"{JOBS_PATH}/{job.id}")
    kept = await take_report(db_session, vault, job)
    if kept is None:
        flash(request, _REPORT_GONE, "error")
        return Redirect(path=IMPORT_PATH)
    upload.report = decode_report(kept.content)
    return upload


async def _commit_in_background(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    vault: Vault,
    principal: Principal,
    upload: Upload,
    content: bytes,
    accepted: bool,
) -> Redirect:
    """Submit the commit job of a checked big file (the file goes sealed into the job); to its page."""
    job = await submit_job(
        db_session,
        vault,
        kind=IMPORT_COMMIT,
        title=_job_title("取込", upload.filename),
        payload=content,
        params={"layout": upload.layout, "accepted": accepted, "rows": upload.report.counts.rows},
        principal=principal,
    )
    await vault.commit(db_session)
    await drop_upload(_store(request), principal, upload)
    # No flash message: on SQLite the job's work transaction holds the write lock, and reading a flash message
    # writes the session; the job's page says what is going on.
    return Redirect(path=f"{JOBS_PATH}/{job.id}")


class ImportController(Controller):
    path = IMPORT_PATH
    guards = [number_handlers]
    include_in_schema = False

    @get("/", name="imports_form")
    async def form(self) -> Template:
        return _form_page({})

    @post("/", name="imports_upload", request_max_body_size=MAX_UPLOAD_BYTES)
    async def upload(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, vault: Vault, principal: Principal
    ) -> Template | Redirect:
        layout, file = await _upload(request)
        errors: dict[str, str] = {}
        if layout not in LAYOUT_TITLES:
            errors["layout"] = "ファイルの形式を選択してください。"
        data = await file.read() if file is not None else b""
        if file is None or not file.filename:
            errors["file"] = "取り込むファイル（CSV か Excel ブック）を選択してください。"
        elif not data:
            errors["file"] = "選択したファイルは空です（0 バイト）。中身のあるファイルを選択してください。"
        if errors:
            return _form_page(errors, layout, status_code=400)
        filename = file.filename if file is not None else ""
        if needs_job(data):
            return await _check_in_background(request, db_session, vault, principal, data, layout, filename)
        report = await check_import(db_session, vault, principal, data, layout)
        if report.rejected:
            return _form_page({"file": report.rejected}, layout, status_code=400)
        upload = await keep_upload(
            _store(request), db_session, vault, principal, data=data, layout=layout, filename=filename, report=report
        )
        return Redirect(path=f"{IMPORT_PATH}/{upload.id}")

    @get("/{upload_id:str}", name="imports_report")
    async def report(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        upload_id: str,
    ) -> Template | Redirect:
        upload = await _checked(request, db_session, vault, principal, upload_id)
        if isinstance(upload, Redirect):
            return upload
        return _report_page(upload, request.query_params.get("page", "1"))

    @get("/{upload_id:str}/report.csv", name="imports_report_csv")
    async def report_csv(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        upload_id: str,
    ) -> Response[bytes] | Redirect:
        upload = await _checked(request, db_session, vault, principal, upload_id)
        if isinstance(upload, Redirect):
            return upload
        encoding = Encoding.UTF8_BOM if request.query_params.get("encoding") == "utf-8" else Encoding.CP932
        name = f"取込チェック結果_{upload.layout}.csv"
        return Response(
            content=b"".join(upload.report.csv(encoding)),
            media_type=encoding.media_type,
            headers={
                "Content-Type": encoding.media_type,  # as is: Litestar would add a second charset to a text/ type
                "content-disposition": f"attachment; filename=\"import-report.csv\"; filename*=UTF-8''{quote(name)}",
            },
        )

    @get("/{upload_id:str}/commit", name="imports_commit_return")
    async def commit_return(self, request: Request[Any, Any, Any], principal: Principal, upload_id: str) -> Redirect:
        """Where the re-authentication comes back to: the report, to press 取り込む again."""
        upload = await load_upload(_store(request), principal, upload_id)
        return Redirect(path=f"{IMPORT_PATH}/{upload.id}")

    @post("/{upload_id:str}/commit", name="imports_commit", guards=[stepup_guard])
    async def commit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        upload_id: str,
        data: Annotated[CommitForm, Form],
    ) -> Template | Redirect:
        store = _store(request)
        upload = await _checked(request, db_session, vault, principal, upload_id)
        if isinstance(upload, Redirect):
            return upload
        accepted = checkbox(data.accepted)
        report: ImportReport = upload.report
        if not report.committable(accepted):
            message = (
                "エラーがあるため取り込めません。"
                if report.has_errors
                else "「警告を確認しました」にチェックを入れてください。"
            )
            return _report_page(upload, error=message, status_code=400)
        content = await open_upload(db_session, vault, principal, upload)
        if upload.check_job:
            return await _commit_in_background(request, db_session, vault, principal, upload, content, accepted)
        try:
            outcome = await commit_import(
                db_session, vault, principal, principal.actor(), content, upload.layout, accepted
            )
        except ImportRefused as exc:  # the people changed since the check: nothing of it may stay
            await db_session.rollback()  # before the store writes (on SQLite it would wait on this transaction)
            upload = await save_report(store, principal, upload, exc.report)
            return _report_page(upload, error=exc.message, status_code=400)
        await vault.commit(db_session)  # the import, then the erased numbers' keys; then the store may write
        await drop_upload(store, principal, upload)
        parts = [f"{outcome.registered:,}件の番号を代理登録しました"]
        if outcome.replaced:
            parts.append(f"{outcome.replaced:,}件の番号を置き換えました")
        if outcome.people_added:
            parts.append(f"{outcome.people_added:,}人を追加しました")
        if outcome.people_updated:
            parts.append(f"{outcome.people_updated:,}人の登録内容を更新しました")
        flash(request, "ファイルを取り込みました（" + "、".join(parts) + "）。", "success")
        if outcome.flagged:
            flash(
                request,
                f"{outcome.flagged:,}件の番号が別の方の番号としても登録されています（重複の疑い）。"
                "「重複の疑い」の画面で同一人物か誤りかを確認してください。",
                "warning",
            )
        return Redirect(path="/admin/numbers")

    @post("/{upload_id:str}/discard", name="imports_discard")
    async def discard(self, request: Request[Any, Any, Any], principal: Principal, upload_id: str) -> Redirect:
        store = _store(request)
        upload = await load_upload(store, principal, upload_id)
        await drop_upload(store, principal, upload)
        flash(request, "読み込んだファイルを破棄しました。", "info")
        return Redirect(path=IMPORT_PATH)


ROUTES: list[Any] = [ImportController]
