"""``mnvault audit verify`` and ``mnvault audit checkpoint``: check chains against their checkpoints, write them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.chain_state import note_checkpoint_run
from app.audit.checkpoints import (
    export_checkpoint_file,
    public_key,
    read_checkpoint_file,
    write_checkpoints,
)
from app.audit.keys import Checkpoint, key_source
from app.audit.log import TENANTS, ChainReport, verify_all, verify_chain
from app.db import make_engine

if TYPE_CHECKING:
    from app.config import Settings

T = TypeVar("T")


class UnknownTenant(LookupError):
    """The --tenant value names no tenant."""


@dataclass
class VerifyOutcome:
    """Lines to print, and the failure message when a chain is broken."""

    lines: list[str] = field(default_factory=list)
    failure: str | None = None


async def _with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` on the main database with the vault open (it is the audit key source)."""
    from app.vault import Vault

    vault = Vault.from_settings(settings)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with async_sessionmaker(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()
        await vault.close()


async def run_verify(
    settings: Settings,
    tenant: str | None,
    checkpoint_file: Path | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> VerifyOutcome:
    """Verify one tenant (id or code) or all tenants, against the key store's checkpoints and a checkpoint file.

    ``progress`` receives a line every ``PROGRESS_EVERY`` entries of a chain (the CLI prints it to stderr); the
    outcome ends with the total and the rate. CheckpointFileError when the file is unreadable or not signed by
    this deployment.
    """

    async def work(session: AsyncSession) -> VerifyOutcome:
        extra: list[Checkpoint] = []
        if checkpoint_file is not None:
            extra = await read_checkpoint_file(key_source(session), checkpoint_file)
        codes = await _tenant_codes(session)

        def report_progress(tenant_id: uuid.UUID, entries: int) -> None:
            if progress is not None:
                progress(f"… {codes.get(tenant_id, tenant_id)}: {entries:,} 件を確認しました")

        started = time.perf_counter()
        if tenant is None:
            reports = await verify_all(session, extra_checkpoints=extra, progress=report_progress)
        else:
            found = await _find_tenant(session, tenant)
            reports = [await verify_chain(session, found, extra_checkpoints=extra, progress=report_progress)]
        seconds = time.perf_counter() - started
        outcome = _outcome(reports, codes)
        total = sum(r.entries for r in reports)
        if total:
            outcome.lines.append(
                f"合計 {total:,} 件を {seconds:.1f} 秒で確認しました（{total / max(seconds, 1e-9):,.0f} 件/秒）"
            )
        if checkpoint_file is not None:
            outcome.lines.append(
                f"チェックポイントファイル {checkpoint_file}: {len(extra)} テナント分の署名を確認しました"
            )
        return outcome

    return await _with_session(settings, work)


async def run_checkpoint(settings: Settings, out: Path | None, *, accept_legacy: bool = False) -> VerifyOutcome:
    """Verify what is new since the last checkpoints, keep the new heads in the key store, optionally export."""

    async def work(session: AsyncSession) -> VerifyOutcome:
        run = await write_checkpoints(session, accept_legacy=accept_legacy)
        await note_checkpoint_run(session, run)  # what the 操作履歴 page shows, as after the periodic run
        await session.commit()
        codes = await _tenant_codes(session)
        outcome = VerifyOutcome()
        outcome.lines.append(
            f"チェックポイントを書き込みました: {len(run.written)} テナント（変更なし {run.unchanged}）"
        )
        for tenant_id, (seq, reason) in sorted(run.broken.items()):
            outcome.lines.append(f"NG  {codes.get(tenant_id, '?')} ({tenant_id}): 番号 {seq}: {reason}")
        if out is not None:
            document = await export_checkpoint_file(session, out)
            outcome.lines.append(
                f"署名付きチェックポイントファイルを書き出しました: {out}（{len(document['heads'])} テナント）"
            )
            outcome.lines.append(f"署名の公開鍵 (Ed25519): {document['public_key']}")
        else:
            outcome.lines.append(f"署名の公開鍵 (Ed25519): {await public_key(key_source(session))}")
        if run.broken:
            outcome.failure = (
                f"操作履歴の改ざんを検出しました（{len(run.broken)} テナント）。チェックポイントは書いていません"
            )
        return outcome

    return await _with_session(settings, work)


async def _find_tenant(session: AsyncSession, tenant: str) -> uuid.UUID:
    try:
        by_id = TENANTS.c.id == uuid.UUID(tenant)
    except ValueError:
        by_id = None
    condition = TENANTS.c.code == tenant if by_id is None else or_(by_id, TENANTS.c.code == tenant)
    found = (await session.execute(select(TENANTS.c.id).where(condition))).scalar()
    if found is None:
        raise UnknownTenant(f"テナント {tenant} が見つかりません（ID かコードを指定してください）")
    return found


async def _tenant_codes(session: AsyncSession) -> dict[uuid.UUID, str]:
    rows = (await session.execute(select(TENANTS.c.id, TENANTS.c.code))).all()
    return {row.id: row.code for row in rows}


def _outcome(reports: list[ChainReport], codes: dict[uuid.UUID, str]) -> VerifyOutcome:
    outcome = VerifyOutcome()
    for report in reports:
        name = f"{codes.get(report.tenant_id, '?')} ({report.tenant_id})"
        if report.ok:
            notes = []
            if report.checkpoint_seq is not None:
                notes.append(f"チェックポイント 番号 {report.checkpoint_seq} と一致")
            if report.legacy:
                notes.append(f"うち鍵のない旧形式 {report.legacy} 件（チェックポイントで固定済み）")
            suffix = f"（{'、'.join(notes)}）" if notes else ""
            outcome.lines.append(f"OK  {name}: {report.entries} 件{suffix}")
        else:
            outcome.lines.append(f"NG  {name}: 番号 {report.first_bad_seq}: {report.reason}")
    broken = [r for r in reports if not r.ok]
    if broken:
        first = broken[0]
        outcome.failure = (
            f"操作履歴の改ざんを検出しました（{len(broken)} テナント; "
            f"最初は {codes.get(first.tenant_id, first.tenant_id)} の番号 {first.first_bad_seq}）"
        )
    elif not reports:
        outcome.lines.append("操作履歴はまだありません。")
    return outcome
