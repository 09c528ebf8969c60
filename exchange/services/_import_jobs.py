"""Imports as background jobs (``app.jobs``): the check of a big file or a workbook, then its commit.

Files over ``SYNC_MAX_ROWS`` rows and every .xlsx are checked and committed by the job runner instead of the
request (the import pages choose, ``exchange.controllers._import.needs_job``):

- ``import-check`` (``IMPORT_CHECK``): ``check_import`` in the work transaction (nothing written); the report is
  kept with the job, sealed (``JobReport`` of ``REPORT_MEDIA_TYPE``: the msgpack ``ImportReport``), shown by the
  import report page and downloaded as CSV from the job page. The file itself waits sealed in the uploads store
  (``keep_upload``) under the id the job's params name (``upload_id``).
- ``import-commit`` (``IMPORT_COMMIT``): ``commit_import`` in the work transaction, which the runner commits with
  the job's success: all or nothing; a cancel before that commit, a refusal or a restart leaves nothing written.

Both act as the account that submitted the job (looked up again when the job runs: a disabled account or one
that is no longer an admin or handler fails the job); the log names the job's actor snapshot. A job submitted by
a 社労士事務所's staff member inside the client runs as that staff member inside the client: their office account
and the office's link are checked again when the job runs (an active link with the power 番号の取扱い), and the
entries name the staff member and the office.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.auth.models import Account
from app.auth.principal import Principal, partner_acting_in_client
from app.jobs import JobContext, JobFailed, JobReport, JobResult, job_kind
from app.tenancy import Tenant
from exchange.layouts import LAYOUT_NAMES
from exchange.services._import import IMPORTERS, check_import, commit_import
from exchange.services._import_report import ImportCounts, ImportOutcome, ImportRefused

IMPORT_CHECK = "import-check"
IMPORT_COMMIT = "import-commit"
REPORT_MEDIA_TYPE = "application/vnd.mnvault.import-report+msgpack"  # the job's report: an ImportReport
REPORT_FILENAME = "取込チェック結果.csv"  # the name its CSV download carries
NOT_ALLOWED = (
    "取込を依頼したアカウントが無効になったか、取込の権限（管理者・事務取扱担当者）がなくなったため中止しました。"
    "内容は保存されていません。"
)
PARTNER_NOT_ALLOWED = (
    "取込を依頼した社労士事務所の職員のアカウントが無効になったか、顧問先との連携が終了した、"
    "または連携の権限が「番号の取扱い」でなくなったため中止しました。内容は保存されていません。"
)
BAD_LAYOUT = "ファイルの形式が正しくありません。内容は保存されていません。もう一度読み込んでください。"


async def _submitter(ctx: JobContext) -> Principal:
    """The account that submitted the job, as a principal of the job's tenant (JobFailed when it may not import)."""
    if ctx.actor.partner_id is not None:
        return await _partner_submitter(ctx)
    if ctx.created_by is None:
        raise JobFailed(NOT_ALLOWED)
    statement = (
        select(Account, Tenant)
        .join(Tenant, Tenant.id == Account.tenant_id)
        .where(Account.tenant_id == ctx.tenant_id, Account.id == ctx.created_by)
    )
    row = (await ctx.session.execute(statement)).one_or_none()
    if row is None or row[0].is_disabled or row[0].role not in IMPORTERS:
        raise JobFailed(NOT_ALLOWED)
    account, tenant = row
    return Principal(
        account_id=account.id,
        tenant_id=tenant.id,
        tenant_code=tenant.code,
        tenant_name=tenant.name,
        tenant_kind=tenant.kind,
        login_id=account.login_id,
        name=account.name,
        role=account.role,
        totp_enabled=account.totp_enabled,
        person_id=account.person_id,
        stepup_fresh=False,
        ip=ctx.actor.ip,
        user_agent=ctx.actor.user_agent,
    )


async def _partner_submitter(ctx: JobContext) -> Principal:
    """The office's staff member who submitted the job, inside the job's client through the office's link as it
    stands now (JobFailed unless the link is active with the power 番号の取扱い and the account still works)."""
    if ctx.actor.user_id is None or ctx.actor.partner_id is None:
        raise JobFailed(PARTNER_NOT_ALLOWED)
    acting = await partner_acting_in_client(
        ctx.session,
        office_id=ctx.actor.partner_id,
        account_id=ctx.actor.user_id,
        client_id=ctx.tenant_id,
        ip=ctx.actor.ip,
        user_agent=ctx.actor.user_agent,
    )
    if acting is None or acting.role not in IMPORTERS:
        raise JobFailed(PARTNER_NOT_ALLOWED)
    return acting


def _layout(ctx: JobContext) -> str:
    layout = str(ctx.params.get("layout", ""))
    if layout not in LAYOUT_NAMES:
        raise JobFailed(BAD_LAYOUT)
    return layout


def counts_summary(counts: ImportCounts) -> dict[str, Any]:
    """A check's counts as a job's summary (Japanese labels, counts only)."""
    return {
        "行数": counts.rows,
        "処理スキップ": counts.skipped,
        "登録する番号": counts.to_register,
        "置き換える番号": counts.to_replace,
        "変更のない番号": counts.unchanged,
        "追加する人": counts.people_to_add,
        "更新する人": counts.people_to_update,
        "エラー": counts.errors,
        "警告": counts.warnings,
    }


@job_kind(IMPORT_CHECK)
async def run_import_check(ctx: JobContext) -> JobResult:
    """Check an uploaded file (params: ``layout``, ``upload_id``); the report is kept with the job."""
    principal = await _submitter(ctx)
    report = await check_import(ctx.session, ctx.vault, principal, ctx.payload, _layout(ctx), ctx.progress)
    if report.rejected:  # the file as a whole cannot be imported: the job failed, and says why
        raise JobFailed(report.rejected)
    if report.has_errors:
        message = "確認しました。エラーがあるため取り込めません。確認結果をご覧ください。"
    else:
        message = "確認しました。確認結果を見てから取り込んでください（まだ何も登録していません）。"
    return JobResult(
        message=message,
        summary=counts_summary(report.counts),
        report=JobReport(report.encode(), REPORT_MEDIA_TYPE, REPORT_FILENAME),
    )


def outcome_summary(outcome: ImportOutcome) -> dict[str, Any]:
    """What a commit wrote, as a job's summary."""
    return {
        "行数": outcome.report.counts.rows,
        "代理登録した番号": outcome.registered,
        "置き換えた番号": outcome.replaced,
        "追加した人": outcome.people_added,
        "更新した人": outcome.people_updated,
        "追加した部門": outcome.departments_added,
        "重複の疑い": outcome.flagged,
    }


@job_kind(IMPORT_COMMIT)
async def run_import_commit(ctx: JobContext) -> JobResult:
    """Apply a checked file (params: ``layout``, ``accepted``) in the work transaction: all or nothing."""
    principal = await _submitter(ctx)
    accepted = bool(ctx.params.get("accepted", False))
    rows = ctx.params.get("rows", 0)
    try:
        outcome = await commit_import(
            ctx.session,
            ctx.vault,
            principal,
            ctx.actor,
            ctx.payload,
            _layout(ctx),
            accepted,
            ctx.progress,
            expected_rows=rows if isinstance(rows, int) else 0,
        )
    except ImportRefused as exc:
        raise JobFailed(exc.message + "（内容は保存されていません）") from None
    message = f"ファイルを取り込みました（{outcome.registered:,}件の番号を代理登録しました）。"
    if outcome.flagged:
        message += f"{outcome.flagged:,}件の番号が別の方の番号としても登録されています（重複の疑い）。"
    return JobResult(message=message, summary=outcome_summary(outcome))
