"""The state of a tenant's chain as the 操作履歴 page shows it: 改ざんなし / 改ざん検出, from stored checks.

Verifying a chain reads every entry (a million entries take seconds), so no page verifies: two kinds of check are
stored in ``audit_chain_checks`` and the page reads them (two rows and the chain head, whatever the log's size).

- ``checkpoint``: the periodic maintenance (``app.vault.maintenance.run_maintenance``) verifies each chain from its
  last checkpoint to its end and writes a new checkpoint when intact (``write_checkpoints``); its outcome is kept
  here by :func:`note_checkpoint_run`, with the time the newest checkpoint was written.
- ``full``: the whole chain against its head and every checkpoint (``verify_chain``, what ``mnvault audit verify``
  does), run as a job (``audit_verify``) from the page's 今すぐ検証 button.

A break found by either is shown until a later full check finds the chain intact. The signed checkpoint file of one
tenant (:func:`tenant_checkpoint_document`) is the same format as ``mnvault audit checkpoint --out`` with that
tenant's head only, so ``mnvault audit verify --checkpoint FILE`` reads it.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.checkpoints import FILE_FORMAT, FILE_VERSION, CheckpointRun, _canonical, _public_bytes, _signing_key
from app.audit.keys import key_source
from app.audit.models import AuditChainCheck, AuditChainHead
from app.audit.verify import verify_chain
from app.db import utcnow
from app.jobs.kinds import JobContext, JobResult, job_kind

FULL = "full"
CHECKPOINT = "checkpoint"
VERIFY_JOB = "audit_verify"


@dataclass(frozen=True, slots=True)
class ChainState:
    """What the page shows: ``status`` is ``ok`` (改ざんなし), ``broken`` (改ざん検出) or ``unknown`` (未検証).

    ``first_bad_seq`` / ``reason``: the first break (when broken); ``checked_at``: the newest check (UTC);
    ``full_checked_at``: the newest full check; ``checkpoint_at`` / ``checkpoint_seq``: the newest checkpoint;
    ``unchecked``: entries appended since the last check (verified by the next maintenance run).
    """

    status: str
    first_bad_seq: int | None = None
    reason: str = ""
    checked_at: dt.datetime | None = None
    full_checked_at: dt.datetime | None = None
    checkpoint_at: dt.datetime | None = None
    checkpoint_seq: int | None = None
    unchecked: int = 0

    @property
    def label(self) -> str:
        return {"ok": "改ざんなし", "broken": "改ざん検出"}.get(self.status, "未検証")


async def chain_state(session: AsyncSession, tenant_id: uuid.UUID) -> ChainState:
    """The tenant's chain state from its stored checks and its head (three primary-key reads)."""
    rows = {
        row.kind: row
        for row in (await session.execute(select(AuditChainCheck).where(AuditChainCheck.tenant_id == tenant_id)))
        .scalars()
        .all()
    }
    head = await session.get(AuditChainHead, (tenant_id, "log"))
    head_seq = head.last_seq if head is not None else 0
    full, periodic = rows.get(FULL), rows.get(CHECKPOINT)
    if full is None and periodic is None:
        return ChainState("unknown", unchecked=head_seq)
    broken = [
        row
        for row in (full, periodic)
        if row is not None and not row.ok and (row is full or full is None or full.checked_at <= row.checked_at)
    ]
    newest = max((row for row in (full, periodic) if row is not None), key=lambda row: row.checked_at)
    checkpoint_rows = [row for row in (full, periodic) if row is not None and row.checkpoint_seq is not None]
    latest_checkpoint = max(checkpoint_rows, key=lambda row: row.checkpoint_seq or 0, default=None)
    through = max(row.through_seq for row in (full, periodic) if row is not None)
    common: dict[str, Any] = {
        "checked_at": newest.checked_at,
        "full_checked_at": full.checked_at if full is not None else None,
        "checkpoint_at": periodic.checkpoint_at if periodic is not None else None,
        "checkpoint_seq": latest_checkpoint.checkpoint_seq if latest_checkpoint is not None else None,
        "unchecked": max(0, head_seq - through),
    }
    if broken:
        first = min(broken, key=lambda row: row.first_bad_seq or 0)
        return ChainState("broken", first.first_bad_seq, first.reason, **common)
    return ChainState("ok", **common)


async def save_check(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    kind: str,
    *,
    ok: bool,
    entries: int,
    through_seq: int,
    first_bad_seq: int | None = None,
    reason: str = "",
    checkpoint_seq: int | None = None,
    checkpoint_written: bool = False,
) -> None:
    """Keep the outcome of one check (replacing the previous one of its kind) in the caller's transaction."""
    now = utcnow()
    row = await session.get(AuditChainCheck, (tenant_id, kind))
    if row is None:
        row = AuditChainCheck(tenant_id=tenant_id, kind=kind, checkpoint_at=None)
        session.add(row)
    row.checked_at = now
    row.ok = ok
    row.entries = entries
    row.through_seq = through_seq
    row.first_bad_seq = first_bad_seq
    row.reason = reason[:300]
    if checkpoint_seq is not None or row.checkpoint_seq is None:
        row.checkpoint_seq = checkpoint_seq
    if checkpoint_written:
        row.checkpoint_at = now
    await session.flush()


async def note_checkpoint_run(session: AsyncSession, run: CheckpointRun) -> None:
    """Keep what a checkpoint pass found for each tenant it read: a new checkpoint, or the first break."""
    for checkpoint in run.written:
        await save_check(
            session,
            checkpoint.tenant_id,
            CHECKPOINT,
            ok=True,
            entries=checkpoint.seq,
            through_seq=checkpoint.seq,
            reason="正常",
            checkpoint_seq=checkpoint.seq,
            checkpoint_written=True,
        )
    for tenant_id, (seq, reason) in run.broken.items():
        await save_check(
            session, tenant_id, CHECKPOINT, ok=False, entries=0, through_seq=seq, first_bad_seq=seq, reason=reason
        )


async def verify_and_save(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    """Verify the whole chain of one tenant (``verify_chain``) and keep the outcome; True when intact."""
    report = await verify_chain(session, tenant_id)
    head = await session.get(AuditChainHead, (tenant_id, "log"))
    await save_check(
        session,
        tenant_id,
        FULL,
        ok=report.ok,
        entries=report.entries,
        through_seq=head.last_seq if head is not None else 0,
        first_bad_seq=report.first_bad_seq,
        reason=report.reason,
        checkpoint_seq=report.checkpoint_seq,
    )
    return report.ok


@job_kind(VERIFY_JOB)
async def _verify_job(ctx: JobContext) -> JobResult:
    """The 今すぐ検証 job: the full check of the submitter's tenant, kept for the 操作履歴 page."""
    ok = await verify_and_save(ctx.session, ctx.tenant_id)
    if ok:
        return JobResult(message="操作履歴を検証しました。改ざんはありません。", summary={"検証結果": "改ざんなし"})
    return JobResult(
        message="操作履歴の改ざんを検出しました。操作履歴の画面で確認してください。",
        summary={"検証結果": "改ざん検出"},
    )


async def tenant_checkpoint_document(session: AsyncSession, tenant_id: uuid.UUID, tenant_code: str) -> dict[str, Any]:
    """The signed checkpoint file (``mnvault-audit-checkpoint`` v1) holding this tenant's newest checkpoint only.

    An auditor keeps it; ``mnvault audit verify --checkpoint FILE`` later proves the chain still reaches that head
    unchanged. ``heads`` is empty when the tenant has no checkpoint yet.
    """
    source = key_source(session)
    authentic = [c for c in await source.checkpoints(tenant_id) if c.authentic]
    version = await source.current_version()
    key = _signing_key(await source.signing_seed(version))
    heads = [
        {"tenant_id": str(c.tenant_id), "tenant_code": tenant_code, "seq": c.seq, "mac": c.mac} for c in authentic[-1:]
    ]
    body: dict[str, Any] = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "created_at": utcnow().astimezone(dt.UTC).isoformat(),
        "key_version": version,
        "public_key": base64.b64encode(_public_bytes(key.public_key())).decode(),
        "heads": heads,
    }
    return {**body, "signature": base64.b64encode(key.sign(_canonical(body))).decode()}
