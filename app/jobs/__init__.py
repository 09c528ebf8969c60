"""Background jobs with progress (issue 10): the shared contract between job kinds and the runner.

A job kind's long work takes a ``Progress`` callback and calls it as it goes (``await progress(done, total)``:
rows done and rows in all). The runner stores the figures for the progress page and raises ``JobCancelled``
from inside the callback once the job's owner has cancelled it; work that has not committed yet must then
roll back and leave nothing written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Progress = Callable[[int, int], Awaitable[None]]


class JobCancelled(Exception):
    """The job's owner cancelled it before it committed; raised from a ``Progress`` callback."""


async def no_progress(done: int, total: int) -> None:
    """A ``Progress`` for work run inside a request (nothing to report, never cancelled)."""


__all__ = ["JobCancelled", "Progress", "no_progress"]
