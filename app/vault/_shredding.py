"""Crypto-shredding after commit: erased numbers' keys leave the key store once the erasure is durable."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.logs import get_logger
from app.vault.keystore import KeyStore

log = get_logger("vault")

_PENDING = "mnvault.vault.shred_pending"
_TASK = "mnvault.vault.shred_task"
_HOOKED = "mnvault.vault.shred_hooked"

KeyRef = tuple[uuid.UUID, uuid.UUID]


class Shredder:
    """Queues keys on a session; on commit (by the vault or anyone) destroys them, on rollback forgets them.

    A key left behind by a crash is harmless until ``mnvault purge`` removes it: its number is already erased.
    """

    def __init__(self, keystore: KeyStore) -> None:
        self.keystore = keystore
        self._tasks: set[asyncio.Task[None]] = set()

    def queue(self, session: AsyncSession, keys: list[KeyRef]) -> None:
        """Destroy these keys once the session's transaction commits."""
        session.info.setdefault(_PENDING, []).extend(keys)
        if not session.info.get(_HOOKED):
            event.listen(session.sync_session, "after_commit", self._after_commit)
            event.listen(session.sync_session, "after_rollback", self._after_rollback)
            session.info[_HOOKED] = True

    async def finish(self, session: AsyncSession) -> None:
        """Wait for the shredding started by the session's last commit."""
        task = session.info.pop(_TASK, None)
        if task is not None:
            await task

    async def wait(self) -> None:
        """Wait for every shredding started so far."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _after_commit(self, session: Session) -> None:
        keys = session.info.pop(_PENDING, None)
        if not keys:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # committed outside an event loop: `mnvault purge` removes the keys
            return
        task = loop.create_task(self._shred(keys))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        session.info[_TASK] = task

    @staticmethod
    def _after_rollback(session: Session) -> None:
        session.info.pop(_PENDING, None)

    async def _shred(self, keys: list[KeyRef]) -> None:
        try:
            await self.keystore.delete_many(keys)
        except Exception as exc:  # the erasure is committed; purge finishes the job
            log.warning("key shredding failed; mnvault purge will remove the keys", extra={"error": repr(exc)})
