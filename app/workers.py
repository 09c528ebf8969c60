"""CPU-bound work off the event loop: worker threads in named pools, each with its own capacity.

The event loop never runs CPU work that takes milliseconds (a PDF, a hash, a decoded image): one request doing it
would hold up every other one, ``/healthz`` included. Such work runs in a worker thread through
``run_in_worker(pool, fn, *args)``; the pool's capacity bounds how many run at once, so a burst queues instead of
taking every core:

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
import os
import weakref
from collections.abc import Callable
from typing import Final, TypeVar, TypeVarTuple, Unpack

import anyio.to_thread
from anyio import CapacityLimiter

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


# A CapacityLimiter belongs to the event loop it was made in: one per (loop, pool), dropped with its loop.
_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, CapacityLimiter]] = (
    weakref.WeakKeyDictionary()
)


def limiter(pool: str) -> CapacityLimiter:
    """The running loop's limiter for ``pool``."""
    loop = asyncio.get_running_loop()
    limiters = _LIMITERS.setdefault(loop, {})
    found = limiters.get(pool)
    if found is None:
        found = limiters[pool] = CapacityLimiter(pool_capacity(pool))
    return found


async def run_in_worker(pool: str, fn: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
    """``fn(*args)`` in a worker thread of ``pool``; its exceptions propagate. The loop serves others meanwhile."""
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter(pool))


async def off_loop(items: int, fn: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
    """``fn(*args)`` for a batch of ``items`` items: in a ``BULK`` worker thread from ``MANY`` items, inline below."""
    if items < MANY:
        return fn(*args)
    return await run_in_worker(BULK, fn, *args)
