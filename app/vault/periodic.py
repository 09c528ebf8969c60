"""The maintenance task inside the app: every ``MNV_MAINTENANCE_SECONDS`` one run of ``run_maintenance``.

Erasure destroys keys right after the commit; this task is what makes it reliable (a crash, a failed shredding,
a key from a rolled-back registration), it writes the audit checkpoints, and it keeps the planner's statistics
fresh (``app.db.maintain_statistics``: ANALYZE on SQLite; on PostgreSQL only when autovacuum is off). Each run is
one audit entry in the operator's chain. ``mnvault purge`` does the same run from cron when the task is off (0).
Other housekeeping joins as ``steps`` (the composition root passes ``app.retention.run_retention``: expired
invitations, payee links, sessions, uploads and job reports).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.logs import get_logger
from app.vault.maintenance import MaintenanceReport
from app.vault.service import Vault

log = get_logger("vault.periodic")

# One more housekeeping step of each run, given the session factory (its failure is logged, the run goes on).
MaintenanceStep = Callable[[async_sessionmaker[AsyncSession]], Awaitable[object]]


class PeriodicMaintenance:
    """Starts with the app, runs every interval (first run one interval after start), stops with the app."""

    def __init__(
        self,
        vault: Vault,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        steps: Sequence[MaintenanceStep] = (),
    ) -> None:
        self.vault = vault
        self.steps = tuple(steps)
        self.sessions = sessions
        self.interval = settings.maintenance_seconds
        self.grace = dt.timedelta(minutes=settings.orphan_key_grace_minutes)
        self.runs = 0
        self.last: MaintenanceReport | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the loop (nothing when the interval is 0)."""
        if self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Cancel the loop and wait for it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> MaintenanceReport:
        """One run now: the extra steps first (each on its own), then the vault's maintenance."""
        for step in self.steps:
            try:
                await step(self.sessions)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("maintenance step failed", extra={"step": getattr(step, "__name__", ""), "error": repr(exc)})
        report = await self.vault.run_maintenance(self.sessions, orphan_grace=self.grace, trigger="periodic")
        self.runs += 1
        self.last = report
        return report

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one failed run must not end the task: the next one tries again
                log.error("periodic maintenance failed", extra={"error": repr(exc)})
