"""Jobs on SAQ (a Redis job queue for asyncio) when ``MNV_JOB_QUEUE_URL`` is set.

SAQ carries only the job's id: the app puts it on the queue after the submitting transaction commits, and a
``mnvault worker`` process takes it and runs the job through :class:`~app.jobs.runner.JobRunner` (claim, run,
record), so the jobs table stays the source of truth. Each worker also sweeps: it fails interrupted jobs and puts
back on the queue a queued job the queue never got (a process that died between commit and enqueue); SAQ's job key
(``mnvault-job-<id>``) keeps one job from being queued twice, and the claim keeps it from running twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from typing import Any

from saq import Queue, Worker

from app.config import Settings
from app.db import utcnow
from app.jobs.dispatch import JobKey, register_dispatcher, unregister_dispatcher
from app.jobs.runner import JobRunner
from app.logs import get_logger

log = get_logger("jobs.queue")

SAQ_FUNCTION = "mnvault_run_job"
CANCEL_DEADLINE_SECONDS = 10.0  # a stopping worker gives a cancelled job this long to record its failure


def saq_job_key(job_id: uuid.UUID) -> str:
    """The SAQ key of a job: one queued SAQ job per jobs row."""
    return f"mnvault-job-{job_id}"


def make_queue(settings: Settings) -> Queue:
    """The SAQ queue named ``MNV_JOB_QUEUE_NAME`` at ``MNV_JOB_QUEUE_URL``."""
    return Queue.from_url(settings.job_queue_url, name=settings.job_queue_name)


async def enqueue_job(queue: Queue, tenant_id: uuid.UUID, job_id: uuid.UUID) -> bool:
    """Put a job's id on the queue (False when SAQ already holds it): no timeout, no retry — an interrupted job is
    failed, never run twice."""
    job = await queue.enqueue(
        SAQ_FUNCTION,
        key=saq_job_key(job_id),
        timeout=0,
        retries=1,
        kwargs={"job_id": str(job_id), "tenant_id": str(tenant_id)},
    )
    return job is not None


class SaqDispatcher:
    """The app side: after a commit, the submitted jobs' ids go on the queue."""

    def __init__(self, settings: Settings, database_url: Any) -> None:
        self.queue = make_queue(settings)
        self.database_url = database_url
        self._pending: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Connect to the queue and listen for committed jobs."""
        await self.queue.connect()
        self._loop = asyncio.get_running_loop()
        register_dispatcher(self.database_url, self)

    async def stop(self) -> None:
        """Finish the enqueues under way and disconnect."""
        unregister_dispatcher(self.database_url, self)
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self.queue.disconnect()

    def announce(self, jobs: list[JobKey]) -> None:
        """Enqueue in the background, on the loop the queue's connections belong to (callable from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._schedule, list(jobs))

    def _schedule(self, jobs: list[JobKey]) -> None:
        task = asyncio.get_running_loop().create_task(self.enqueue(jobs))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def enqueue(self, jobs: list[JobKey]) -> None:
        """Put each job on the queue; a failure is logged (the workers' sweep enqueues it later)."""
        for tenant_id, job_id in jobs:
            try:
                await enqueue_job(self.queue, tenant_id, job_id)
            except Exception as exc:
                log.warning("job enqueue failed", extra={"job_id": str(job_id), "error": type(exc).__name__})


async def run_saq_worker(runner: JobRunner, settings: Settings, stop: asyncio.Event) -> None:
    """Run SAQ workers (``MNV_JOB_CONCURRENCY`` jobs at once) and the sweep until ``stop`` is set.

    Jobs still running then are cancelled: each records itself failed (interrupted), nothing of it written.
    """
    queue = make_queue(settings)

    async def run_job(ctx: dict[str, Any], *, job_id: str, tenant_id: str) -> str | None:
        state = await runner.run_one(uuid.UUID(tenant_id), uuid.UUID(job_id))
        return None if state is None else state.value

    worker: Worker[Any] = Worker(
        queue,
        functions=[(SAQ_FUNCTION, run_job)],
        concurrency=settings.job_concurrency,
        shutdown_grace_period_s=0,
        cancellation_hard_deadline_s=CANCEL_DEADLINE_SECONDS,
    )
    worker.SIGNALS = []  # the caller owns the signals (it sets ``stop``)
    await queue.connect()
    sweeper = asyncio.get_running_loop().create_task(_sweep_loop(runner, queue, settings))
    working = asyncio.get_running_loop().create_task(worker.start())
    stopping = asyncio.get_running_loop().create_task(stop.wait())
    try:
        await asyncio.wait({working, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await worker.stop()
        for task in (sweeper, working, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await queue.disconnect()


async def _sweep_loop(runner: JobRunner, queue: Queue, settings: Settings) -> None:
    """Every ``MNV_JOB_POLL_SECONDS``: re-enqueue queued jobs the queue may have missed; now and then (and at once
    at start-up): fail interrupted jobs."""
    sweep_every = max(settings.job_poll_seconds, min(60.0, settings.job_stale_seconds / 4))
    grace = dt.timedelta(seconds=max(1.0, 2 * settings.job_poll_seconds))  # the app's own enqueue comes first
    next_sweep = 0.0
    at_startup = True
    while True:
        try:
            if time.monotonic() >= next_sweep:
                await runner.fail_interrupted(at_startup=at_startup)
                at_startup = False
                next_sweep = time.monotonic() + sweep_every
            for tenant_id, job_id in await runner.queued_before(utcnow() - grace):
                if await enqueue_job(queue, tenant_id, job_id):
                    log.info("queued job put back on the queue", extra={"job_id": str(job_id)})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next round tries again
            log.error("job sweep failed", extra={"error": type(exc).__name__})
        await asyncio.sleep(settings.job_poll_seconds)
