"""CPU-bound work off the event loop: worker threads in named pools, each with its own capacity.

The event loop never runs CPU work that takes milliseconds (a PDF, a hash, a decoded image): one request doing it
would hold up every other one, ``/healthz`` included. Such work runs in a worker thread through
``run_in_worker(pool, fn, *args)``; the pool's capacity bounds how many run at once, so a burst queues instead of
taking every core, and its threads run at a lower priority than the event loop's:

- ``ARGON2``: as many as cores (argon2-cffi releases the GIL: hashes run truly in parallel).
- ``DOCUMENTS``: one at a time (reportlab is pure Python and holds the GIL, so a second thread would not go
  faster; reportlab's font subsetting state is not meant for concurrent documents either).
- ``IMAGES``: as many as cores (QR codes: ~15 ms each with segno; photo decoding, where Pillow releases the GIL);
  kept apart from ``DOCUMENTS`` so a page with a QR code never queues behind a 1,000-letter PDF.
- ``BULK``: one at a time — a batch of a bulk job (sealing, hashing, checking and building the rows of many
  items: tens to hundreds of milliseconds of pure Python). In a worker thread the loop gets the GIL back every few
  milliseconds (``sys.getswitchinterval``), so requests keep being served while an import runs; a handful of items
  is cheaper inline than the hop to a thread (:func:`off_loop`).
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar, TypeVarTuple, Unpack

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import release_connection

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

ARGON2: Final = "argon2"
DOCUMENTS: Final = "documents"
IMAGES: Final = "images"
BULK: Final = "bulk"
MANY = 64  # items from which a batch's work goes to a worker thread (off_loop)


def pool_capacity(pool: str) -> int:
    """How many calls of ``pool`` run at once (ValueError for an unknown pool)."""
    if pool in (ARGON2, IMAGES):
        return os.cpu_count() or 1
    if pool in (DOCUMENTS, BULK):
        return 1
    raise ValueError(f"unknown worker pool {pool!r}")


# Worker threads run below the event loop's priority (Linux: a nice value per thread), so that on a machine with as
# many busy workers as cores the loop still gets a core when a request arrives: 50 sign-ins at once hashing on both
# cores of a 2-core machine otherwise held /healthz's p99 above 200 ms.
WORKER_NICENESS = 10

_EXECUTORS: dict[str, ThreadPoolExecutor] = {}
_EXECUTORS_LOCK = threading.Lock()


def _lower_priority() -> None:
    """Thread initialiser: lower this worker thread's scheduling priority (where the OS allows it per thread)."""
    try:
        thread = threading.get_native_id()  # a new thread starts with its creator's (the loop's) value
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + WORKER_NICENESS))
    except (AttributeError, OSError):  # not Linux, or not permitted: the work still runs, at normal priority
        pass


def executor(pool: str) -> ThreadPoolExecutor:
    """The process's threads of ``pool`` (``pool_capacity(pool)`` of them, started on first use, never shared with
    other work, so a queue of hashes never waits behind a PDF and the priority stays the pool's)."""
    with _EXECUTORS_LOCK:
        found = _EXECUTORS.get(pool)
        if found is None:
            found = _EXECUTORS[pool] = ThreadPoolExecutor(
                max_workers=pool_capacity(pool), thread_name_prefix=f"mnv-{pool}", initializer=_lower_priority
            )
        return found


async def run_in_worker(
    pool: str, fn: Callable[[Unpack[Ts]], T], *args: *Ts, releasing: AsyncSession | None = None
) -> T:
    """``fn(*args)`` in a worker thread of ``pool``; its exceptions propagate. The loop serves others meanwhile;
    calls beyond the pool's capacity queue in order.

    ``releasing``: the caller's session, whose connection goes back to the pool for the wait when its transaction
    has only read (``app.db.release_connection``; one that wrote keeps it): a queue of documents or photos must not
    hold the pool's connections while other requests need them."""
    if releasing is not None:
        await release_connection(releasing)
    return await asyncio.get_running_loop().run_in_executor(executor(pool), functools.partial(fn, *args))


async def off_loop(items: int, fn: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
    """``fn(*args)`` for a batch of ``items`` items: in a ``BULK`` worker thread from ``MANY`` items, inline below."""
    if items < MANY:
        return fn(*args)
    return await run_in_worker(BULK, fn, *args)
