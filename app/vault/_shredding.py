"""Crypto-shredding after commit: erased numbers' keys leave the key store once the erasure is durable.

Also the other direction: keys written for numbers whose transaction rolled back are destroyed at once (a key
without a committed row must not linger). Anything a crash leaves behind is removed by the periodic maintenance
(``app.vault.maintenance.run_maintenance``, also ``mnvault purge``).
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from app.db import truncate_wal
from app.logs import get_logger
from app.vault.keystore import KeyStore

log = get_logger("vault")

_PENDING = "mnvault.vault.shred_pending"
_WRITTEN = "mnvault.vault.keys_written"
_TASK = "mnvault.vault.shred_task"
_HOOKED = "mnvault.vault.shred_hooked"

KeyRef = tuple[uuid.UUID, uuid.UUID]


class Shredder:
    """Queues keys on a session; on commit (by the vault or anyone) destroys them, on rollback forgets them.

    Keys written for the session's transaction are remembered too: on rollback they are destroyed, on commit
    forgotten. A key left behind by a crash is harmless until the periodic maintenance removes it.
    """

    def __init__(self, keystore: KeyStore) -> None:
        self.keystore = keystore
        self._tasks: set[asyncio.Task[None]] = set()

    def queue(self, session: AsyncSession, keys: list[KeyRef]) -> None:
        """Destroy these keys once the session's transaction commits."""
        session.info.setdefault(_PENDING, []).extend(keys)
        self._hook(session)

    def written(self, session: AsyncSession, keys: list[KeyRef]) -> None:
        """These keys were just written for the session's transaction: destroy them if it rolls back."""
        session.info.setdefault(_WRITTEN, []).extend(keys)
        self._hook(session)

    def _hook(self, session: AsyncSession) -> None:
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

    def _start(self, session: Session, keys: list[KeyRef], what: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside an event loop: the periodic maintenance removes the keys
            return
        bind = session.get_bind()
        main = bind if isinstance(bind, Engine) else bind.engine
        task = loop.create_task(self._shred(keys, main, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        session.info[_TASK] = task

    def _after_commit(self, session: Session) -> None:
        session.info.pop(_WRITTEN, None)
        keys = session.info.pop(_PENDING, None)
        if keys:
            self._start(session, keys, "erased")

    def _after_rollback(self, session: Session) -> None:
        if session.in_nested_transaction():
            # A savepoint rolled back (SQLAlchemy fires after_rollback for it too): the outer transaction may still
            # commit rows whose keys these are. A key written inside the savepoint is left to the purge's grace.
            return
        session.info.pop(_PENDING, None)
        keys = session.info.pop(_WRITTEN, None)
        if keys:
            self._start(session, keys, "rolled back")

    async def _shred(self, keys: list[KeyRef], main: Engine, what: str) -> None:
        try:
            await self.keystore.delete_many(keys)
            if what == "erased":  # the ciphertext's old page images leave the main database's WAL too
                await truncate_wal(AsyncEngine(main))
        except Exception as exc:  # the erasure is committed; the periodic maintenance finishes the job
            log.warning(
                "key shredding failed; the periodic maintenance will remove the keys",
                extra={"error": repr(exc), "keys": what},
            )
