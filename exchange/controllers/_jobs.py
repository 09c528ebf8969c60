"""Background job pages: the tenant's job list, a job's progress (page and JSON), cancel, report download.

For the tenant's admins and handlers. Everything is read from the jobs table, so the page survives a reload and a
server restart. The progress page refreshes itself through ``/static/job-progress.js`` polling the JSON status;
without JavaScript it is a plain page with a 「更新」 link (and a meta refresh inside ``<noscript>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, number_handlers
from app.http import PageNumber, attachment
from app.jobs import Job, JobState, get_job, job_page, job_status, request_cancel, take_report
from app.jobs.local import live_progress
from app.pager import PageRequest, page_links
from app.vault import Vault
from exchange.encoding import Encoding
from exchange.services import IMPORT_CHECK, IMPORT_STORE, REPORT_MEDIA_TYPE, decode_report, upload_waiting

PER_PAGE = 30


UPLOAD_GONE = (
    "このファイルは、取り込みが済んだか、取り消されたか、確認結果の保存期間（2時間）が過ぎたため、ここからは取り込めません。"
    "取り込みの結果は「処理状況の一覧」でご確認ください。取り込むには、ファイルをもう一度読み込んでください。"
)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What a finished job's page offers next: a link (an import's check: its report page, to commit), or a
    sentence saying why there is none."""

    link: str = ""
    note: str = ""


async def follow_up(request: Request[Any, Any, Any], principal: Principal, job: Job) -> FollowUp:
    """The next step of a succeeded import check: its report page while the file waits for its commit and the
    viewer is who uploaded it (the upload is theirs alone), else why not."""
    upload_id = str((job.params or {}).get("upload_id", ""))
    if job.kind != IMPORT_CHECK or job.state is not JobState.SUCCEEDED or not upload_id:
        return FollowUp()
    # The submitter: the client's own account, or (created_by None) a partner office's staff member in the actor.
    submitter = str(job.created_by or (job.actor or {}).get("user_id") or "")
    if submitter != str(principal.account_id):
        name = str((job.actor or {}).get("name", "")) or "読み込んだ方"
        return FollowUp(note=f"このファイルは、読み込んだ方（{name}）だけが確認結果を見て取り込めます。")
    if not await upload_waiting(request.app.stores.get(IMPORT_STORE), principal.tenant_id, upload_id):
        return FollowUp(note=UPLOAD_GONE)
    return FollowUp(link=f"/admin/imports/{upload_id}")


class JobController(Controller):
    path = "/admin/jobs"
    guards = [number_handlers]
    include_in_schema = False

    @get("/", name="job_list")
    async def job_list(
        self, db_session: AsyncSession, principal: Principal, page: PageNumber = "1", after: str = "", before: str = ""
    ) -> Template:
        found = await job_page(db_session, principal, PageRequest.parse(page, after, before), per_page=PER_PAGE)
        pager = page_links(found.window, None, lambda params: f"/admin/jobs?{urlencode(params)}", numbers=False)
        return Template(template_name="exchange/jobs.html", context={"jobs": found.jobs, "pager": pager})

    @get("/{job_id:str}", name="job_detail")
    async def job_detail(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, job_id: str
    ) -> Template:
        job = await get_job(db_session, principal, job_id)
        context = {
            "job": job,
            "status": job_status(job, live_progress(job.id)),
            "follow_up": await follow_up(request, principal, job),
        }
        return Template(template_name="exchange/job.html", context=context)

    @get("/{job_id:str}/status", name="job_status")
    async def job_status_json(
        self, db_session: AsyncSession, principal: Principal, job_id: str
    ) -> Response[dict[str, Any]]:
        job = await get_job(db_session, principal, job_id)
        return Response(content=job_status(job, live_progress(job.id)), media_type="application/json")

    @post("/{job_id:str}/cancel", name="job_cancel")
    async def job_cancel(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, job_id: str
    ) -> Redirect:
        job = await get_job(db_session, principal, job_id)
        state = await request_cancel(db_session, job)
        if state is JobState.CANCELLED:
            flash(request, "キャンセルしました。内容は保存されていません。", "success")
        elif state is JobState.RUNNING:
            flash(request, "キャンセルを受け付けました。確定前であれば取り消され、内容は保存されません。", "success")
        else:
            flash(request, "この処理はすでに終了しているため、キャンセルできません。", "error")
        return Redirect(path=f"/admin/jobs/{job.id}")

    @get("/{job_id:str}/report", name="job_report")
    async def job_report(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, vault: Vault, principal: Principal, job_id: str
    ) -> Response[bytes] | Redirect:
        job = await get_job(db_session, principal, job_id)
        report = await take_report(db_session, vault, job)
        if report is None:
            flash(request, "結果レポートはありません（保存期間を過ぎたか、ダウンロード後に削除されました）。", "error")
            return Redirect(path=f"/admin/jobs/{job.id}")
        content, media_type = report.content, report.media_type or "application/octet-stream"
        if media_type == REPORT_MEDIA_TYPE:  # an import check's report, kept whole for its page: as CSV here
            content, media_type = b"".join(decode_report(content).csv()), Encoding.CP932.media_type
        return Response(
            content=content,
            media_type=media_type,
            # The type as is: Litestar would add a second charset to a text/ type.
            headers={"Content-Type": media_type, "Content-Disposition": attachment(report.filename)},
        )


ROUTES: list[Any] = [JobController]
