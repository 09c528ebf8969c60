"""Retention of exchanged files (seed 000: ファイルの保管期間は30日です) and of notices (seed 002:
連絡データの保管期間は180日間, ``NOTICE_KIND``: the row and its sealed number, with a 連絡削除 entry).

A file nobody kept (保存) is deleted ``MNV_EXCHANGE_KEEP_DAYS`` after its upload, blob and row, by ``mnvault purge``
and the periodic maintenance through ``app.retention``. Each file's removal is logged in its client's log (ファイル削除
by the system), and the run's count per client as 定期保守.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from app.blobs import BlobStore, blob_store_from_settings
from app.config import Settings
from app.retention import RemoveBatch, Removed, RetentionKind, register_retention
from app.vault import Vault
from partners.services import remove_expired_files, remove_expired_notices

KIND = "exchange_files"
NOTICE_KIND = "partner_notices"


def expired_exchange_files(settings: Settings) -> RemoveBatch:
    """The retention kind's batch: :func:`partners.services.remove_expired_files` with the blob store of
    ``settings`` (made on first use)."""
    stores: list[BlobStore] = []

    async def remove(session: AsyncSession, now: dt.datetime, limit: int) -> Removed:
        if not stores:
            stores.append(blob_store_from_settings(settings))
        return await remove_expired_files(session, stores[0], now, limit)

    return remove


def expired_notices(settings: Settings) -> RemoveBatch:
    """The notices' batch: :func:`partners.services.remove_expired_notices` with a vault of ``settings`` (made on
    first use: destroying the keys of the notices' numbers needs the key store)."""
    vaults: list[Vault] = []

    async def remove(session: AsyncSession, now: dt.datetime, limit: int) -> Removed:
        if not vaults:
            vaults.append(Vault.from_settings(settings))
        return await remove_expired_notices(session, vaults[0], now, limit)

    return remove


def register(settings: Settings) -> RetentionKind:
    """Register (or replace) the kind for the blob store of ``settings`` (the app and ``mnvault purge``), and the
    notices' kind."""
    register_retention(NOTICE_KIND, expired_notices(settings), label="連絡（送信から180日を過ぎたもの）")
    return register_retention(KIND, expired_exchange_files(settings), label="交換ファイル（保存されなかったもの）")
