"""Background jobs with progress (issue 10): the shared contract between job kinds and the runner.

A job kind's long work takes a ``Progress`` callback and calls it as it goes (``await progress(done, total)``:
rows done and rows in all). The runner stores the figures for the progress page and raises ``JobCancelled``
from inside the callback once the job's owner has cancelled it; work that has not committed yet must then
roll back and leave nothing written.

The rest of the package (re-exported here):

- ``job_kind(name, report_once=False)`` / ``register_job_kind``: a kind is ``async def run(ctx: JobContext) ->
  JobResult`` (``app.jobs.kinds``: what the context holds, how the work transaction is committed); ``JobFailed``
  fails it with a Japanese sentence.
- ``submit_job(session, vault, *, kind, title, payload=b"", params=None, principal=None, tenant_id=None,
  actor=None) -> Job`` in the caller's transaction (``app.jobs.services``), and the pages' reads: ``get_job``,
  ``job_page``, ``job_status``, ``request_cancel``, ``take_report``; ``expire_reports`` for the maintenance.
- Runners: ``app.jobs.runner`` (claim, run, sweep), ``app.jobs.worker`` (in the app, ``mnvault worker``),
  ``app.jobs.queue`` (SAQ on Redis).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Progress = Callable[[int, int], Awaitable[None]]


class JobCancelled(Exception):
    """The job's owner cancelled it before it committed; raised from a ``Progress`` callback."""


class JobFailed(Exception):
    """A job kind gives up with a Japanese sentence for its owner (``message``: what went wrong, what to do).

    The sentence is shown on the job's page as it is: never an input value (one holding 12 digits in a row is
    replaced by a generic sentence). Nothing of the job's work is written.
    """

    def __init__(self, message: str) -> None:
        super().__init__("job failed")
        self.message = message


async def no_progress(done: int, total: int) -> None:
    """A ``Progress`` for work run inside a request (nothing to report, never cancelled)."""


# The rest of the public API (defined in the modules below, which use the contract above).
from app.jobs.kinds import (  # noqa: E402
    Handler,
    JobContext,
    JobKind,
    JobReport,
    JobResult,
    job_kind,
    kind_named,
    register_job_kind,
    unregister_job_kind,
)
from app.jobs.local import live_progress  # noqa: E402
from app.jobs.models import Job, JobState  # noqa: E402
from app.jobs.services import (  # noqa: E402
    JobPage,
    ReportFile,
    expire_reports,
    get_job,
    job_page,
    job_status,
    request_cancel,
    submit_job,
    take_report,
)

__all__ = [
    "Handler",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobFailed",
    "JobKind",
    "JobPage",
    "JobReport",
    "JobResult",
    "JobState",
    "Progress",
    "ReportFile",
    "expire_reports",
    "get_job",
    "job_kind",
    "job_page",
    "job_status",
    "kind_named",
    "live_progress",
    "no_progress",
    "register_job_kind",
    "request_cancel",
    "submit_job",
    "take_report",
    "unregister_job_kind",
]
