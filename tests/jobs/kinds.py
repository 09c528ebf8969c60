"""Job kinds for the tests (imported by the tests and by the ``mnvault worker`` subprocess test)."""

from __future__ import annotations

import asyncio

from app.jobs import JobContext, JobFailed, JobReport, JobResult, job_kind
from tenants.models import Department

DEPARTMENTS = "test-departments"
ECHO = "test-echo"
ECHO_ONCE = "test-echo-once"
BROKEN = "test-broken"
REFUSE = "test-refuse"
REFUSAL = "3行目の社員コードが見つかりません。ファイルを直してから、もう一度取り込んでください。"


@job_kind(DEPARTMENTS)
async def add_departments(ctx: JobContext) -> JobResult:
    """One department per payload line ``code,name``, each flushed in the work transaction, with progress.

    ``params``: ``pause`` (seconds after each line), ``hold`` (seconds to keep reporting afterwards, before the
    commit: a window for a cancel or a restart).
    """
    lines = [line for line in ctx.payload.decode().splitlines() if line]
    pause = float(ctx.params.get("pause", 0))
    for done, line in enumerate(lines, start=1):
        code, name = line.split(",", 1)
        ctx.session.add(Department(tenant_id=ctx.tenant_id, code=code, name=name))
        await ctx.session.flush()
        await ctx.progress(done, len(lines))
        if pause:
            await asyncio.sleep(pause)
    deadline = asyncio.get_running_loop().time() + float(ctx.params.get("hold", 0))
    while asyncio.get_running_loop().time() < deadline:
        await ctx.progress(len(lines), len(lines))
        await asyncio.sleep(0.05)
    report = "\r\n".join(f"{line},登録しました" for line in lines) + "\r\n"
    return JobResult(
        message=f"{len(lines)} 件の部門を登録しました。",
        summary={"行数": len(lines), "登録": len(lines)},
        report=JobReport(report.encode("cp932"), "text/csv; charset=Shift_JIS", "部門登録結果.csv"),
    )


async def _echo(ctx: JobContext) -> JobResult:
    await ctx.progress(1, 1)
    return JobResult(
        summary={"バイト数": len(ctx.payload)},
        report=JobReport(ctx.payload, "text/plain; charset=utf-8", "echo.txt"),
    )


job_kind(ECHO)(_echo)


@job_kind(ECHO_ONCE, report_once=True)
async def echo_once(ctx: JobContext) -> JobResult:
    """The echo, whose report is deleted by its first download."""
    return await _echo(ctx)


@job_kind(BROKEN)
async def broken(ctx: JobContext) -> JobResult:
    """Fails with an exception whose text holds the input (as a careless parser's would)."""
    ctx.session.add(Department(tenant_id=ctx.tenant_id, code="BROKEN", name="途中まで"))
    await ctx.session.flush()
    raise RuntimeError(f"cannot parse {ctx.payload.decode()!r}")


@job_kind(REFUSE)
async def refuse(ctx: JobContext) -> JobResult:
    """Gives up with a sentence for the user."""
    ctx.session.add(Department(tenant_id=ctx.tenant_id, code="REFUSED", name="途中まで"))
    await ctx.session.flush()
    raise JobFailed(REFUSAL)
