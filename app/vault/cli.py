"""The vault's command-line work (``mnvault keys rotate``, ``mnvault purge``), returning lines to print."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import Settings
from app.db import make_engine
from app.vault.service import Vault


async def run_rotate(settings: Settings, *, retire_old: bool, batch_size: int = 100) -> list[str]:
    """Add a master key version and re-wrap every tenant key (or finish and retire the old versions)."""
    vault = Vault.from_settings(settings)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        report = await vault.rotate_master_key(
            async_sessionmaker(engine, expire_on_commit=False), retire_old=retire_old, batch_size=batch_size
        )
    finally:
        await engine.dispose()
        await vault.close()
    lines = [
        f"現在の鍵の版: {report.current_version}",
        f"テナント鍵を再暗号化しました: {report.rewrapped} 件",
    ]
    if report.remaining:
        lines.append(f"古い版のままのテナント鍵が {report.remaining} 件あります。もう一度実行してください。")
    if report.retired:
        lines.append(f"古い版を鍵ファイルから削除しました: {', '.join(map(str, report.retired))}")
    elif retire_old and not report.remaining:
        lines.append("削除する古い版はありません。")
    return lines


async def run_purge(settings: Settings, *, older_than_minutes: int | None = None) -> list[str]:
    """One maintenance run (for cron): remove what has outlived its retention period (``app.retention``: the kinds
    registered in this process), destroy keys of erased and never-committed numbers, checkpoint, log it."""
    from app.retention import run_retention

    minutes = settings.orphan_key_grace_minutes if older_than_minutes is None else older_than_minutes
    vault = Vault.from_settings(settings)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        retention = await run_retention(sessions, trigger="cli")
        report = await vault.run_maintenance(
            sessions,
            orphan_grace=dt.timedelta(minutes=minutes),
            trigger="cli",
        )
    finally:
        await engine.dispose()
        await vault.close()
    return retention.lines() + report.lines()
