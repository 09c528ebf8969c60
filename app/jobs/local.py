"""What this process knows about the jobs it runs right now, beyond the rows.

On SQLite a job's own work transaction holds the database's write lock for as long as it writes, so neither its
progress figures nor a cancel request can be written to its row meanwhile. The runner keeps the figures here
(the status page of the same process reads them), and a cancel request for a job running here is also noted
here, where the job's next ``progress`` call sees it without waiting for the lock.
"""

from __future__ import annotations

import uuid

_RUNNING: set[uuid.UUID] = set()
_FIGURES: dict[uuid.UUID, tuple[int, int]] = {}
_CANCELS: set[uuid.UUID] = set()


def started_here(job_id: uuid.UUID) -> None:
    """The runner of this process starts the job."""
    _RUNNING.add(job_id)


def ended_here(job_id: uuid.UUID) -> None:
    """The job this process ran has ended: forget it."""
    _RUNNING.discard(job_id)
    _FIGURES.pop(job_id, None)
    _CANCELS.discard(job_id)


def note_progress(job_id: uuid.UUID, done: int, total: int) -> None:
    """The figures a job running here just reported."""
    if job_id in _RUNNING:
        _FIGURES[job_id] = (done, total)


def live_progress(job_id: uuid.UUID) -> tuple[int, int] | None:
    """``(done, total)`` last reported by a job running in this process, if it is."""
    return _FIGURES.get(job_id)


def cancel_here(job_id: uuid.UUID) -> bool:
    """Note a cancel request for a job running in this process (False when it does not run here)."""
    if job_id not in _RUNNING:
        return False
    _CANCELS.add(job_id)
    return True


def cancelled_here(job_id: uuid.UUID) -> bool:
    """Whether a cancel request for this job was noted in this process."""
    return job_id in _CANCELS
