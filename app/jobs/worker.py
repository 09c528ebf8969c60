"""Where jobs run: inside the app process (the embedded default), or in ``mnvault worker`` processes.

- ``MNV_JOB_QUEUE_URL`` empty (default): the database is the queue. Each app process runs an
  :class:`EmbeddedRunner` (unless ``MNV_JOBS_IN_APP=false``), woken by a commit that submitted a job and polling
  every ``MNV_JOB_POLL_SECONDS``; ``mnvault worker`` runs the same runner in a process of its own.
- ``MNV_JOB_QUEUE_URL=redis://…``: app processes put job ids on SAQ (``app.jobs.queue``); ``mnvault worker``
  processes run them.

Stopping a process cancels the jobs it runs: each is recorded failed (interrupted), nothing of its work written.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.config import Settings
from app.db import make_engine, pool_options
from app.jobs.dispatch import JobKey, register_dispatcher, unregister_dispatcher
from app.jobs.runner import JobRunner
from app.jobs.services import expire_reports
from app.logs import get_logger
from app.vault import Vault

if TYPE_CHECKING:
    from app.jobs.queue import SaqDispatcher

log = get_logger("jobs.worker")


class EmbeddedRunner:
    """Runs queued jobs in this process: up to ``MNV_JOB_CONCURRENCY`` at once, woken by commits, polling."""

    def __init__(self, runner: JobRunner, settings: Settings) -> None:
        self.runner = runner
        self.concurrency = settings.job_concurrency
        self.poll = settings.job_poll_seconds
        self.sweep_every = max(self.poll, min(60.0, settings.job_stale_seconds / 4))
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._jobs: dict[uuid.UUID, asyncio.Task[None]] = {}

    def announce(self, jobs: list[JobKey]) -> None:
        """A commit submitted jobs: look now rather than at the next poll (callable from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        """Start the loop (its first round fails the jobs a previous life of this process left running)."""
        if self._loop_task is None:
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()  # an Event belongs to the loop it first waited in: a new one per start
            register_dispatcher(self.runner.engine.url, self)
            self._loop_task = self._loop.create_task(self._run_loop())

    async def stop(self) -> None:
        """Stop taking jobs; cancel the running ones (each records itself failed) and wait for them."""
        unregister_dispatcher(self.runner.engine.url, self)
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        running = list(self._jobs.values())
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    @property
    def running(self) -> int:
        """How many jobs this process runs now."""
        return len(self._jobs)

    async def _run_loop(self) -> None:
        next_sweep = 0.0
        at_startup = True
        while True:
            self._wake.clear()
            try:
                if time.monotonic() >= next_sweep:
                    await self.runner.fail_interrupted(at_startup=at_startup)
                    at_startup = False
                    next_sweep = time.monotonic() + self.sweep_every
                await self._fill()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again at the next poll
                log.error("job runner round failed", extra={"error": type(exc).__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)

    async def _fill(self) -> None:
        while len(self._jobs) < self.concurrency:
            key = await self.runner.claim_next()
            if key is None:
                return
            self._jobs[key[1]] = asyncio.get_running_loop().create_task(self._run(key))

    async def _run(self, key: JobKey) -> None:
        try:
            await self.runner.run_claimed(*key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the outcome could not be recorded: the sweep fails the job once stale
            log.error("job run failed", extra={"job_id": str(key[1]), "error": type(exc).__name__})
        finally:
            self._jobs.pop(key[1], None)
            self._wake.set()


class JobSystem:
    """The jobs side of an app process: the embedded runner, or the SAQ dispatcher (``app.state["jobs"]``)."""

    def __init__(self, engine: AsyncEngine, vault: Vault, settings: Settings) -> None:
        self.settings = settings
        self.runner = JobRunner(engine, vault, settings)
        self.embedded: EmbeddedRunner | None = None
        self.dispatcher: SaqDispatcher | None = None
        if settings.job_queue_url:
            from app.jobs.queue import SaqDispatcher

            self.dispatcher = SaqDispatcher(settings, engine.url)
        elif settings.jobs_in_app:
            self.embedded = EmbeddedRunner(self.runner, settings)

    async def start(self) -> None:
        """On app start-up."""
        if self.embedded is not None:
            await self.embedded.start()
        if self.dispatcher is not None:
            await self.dispatcher.start()

    async def stop(self) -> None:
        """On app shutdown (before the engine is disposed)."""
        if self.embedded is not None:
            await self.embedded.stop()
        if self.dispatcher is not None:
            await self.dispatcher.stop()


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """``mnvault worker``: run jobs in this process until ``stop`` is set (SAQ when configured, else the table).

    The job kinds must be registered first (``app.main.load_job_kinds``).
    """
    vault = Vault.from_settings(settings)
    engine = make_engine(settings.effective_database_url, **pool_options(settings))
    runner = JobRunner(engine, vault, settings)
    log.info(
        "job worker started",
        extra={"queue": "saq" if settings.job_queue_url else "database", "concurrency": settings.job_concurrency},
    )
    try:
        if settings.job_queue_url:
            from app.jobs.queue import run_saq_worker

            await run_saq_worker(runner, settings, stop)
        else:
            embedded = EmbeddedRunner(runner, settings)
            await embedded.start()
            try:
                await stop.wait()
            finally:
                await embedded.stop()
    finally:
        await engine.dispose()
        await vault.close()
        log.info("job worker stopped")


async def run_worker_until_signalled(settings: Settings) -> None:
    """:func:`run_worker` until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await run_worker(settings, stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def run_expire(settings: Settings) -> int:
    """``mnvault purge``'s step for jobs: delete expired reports; returns how many."""
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        return await expire_reports(async_sessionmaker(engine, expire_on_commit=False))
    finally:
        await engine.dispose()
