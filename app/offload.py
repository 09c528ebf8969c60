"""A batch's CPU work off the event loop: sealing, hashing, checking and building the rows of many items.

Doing that for a thousand items takes tens to hundreds of milliseconds of pure Python; on the event loop it would
hold up every request of the process (``/healthz`` included) for that long. In a worker thread the loop gets the
GIL back every few milliseconds (``sys.getswitchinterval``), so requests keep being served while a bulk job runs.
A handful of items is cheaper inline than the hop to a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

MANY = 64  # items from which a batch's work goes to a worker thread


async def off_loop(items: int, fn: Callable[[*Ts], T], *args: *Ts) -> T:
    """``fn(*args)``, in a worker thread when it handles ``items >= MANY`` items, inline otherwise."""
    if items < MANY:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)
