"""Time Argon2id hashing for several parameter sets on this machine.

Run: ``.venv/bin/python -m bench.argon2_params [--rounds N]``. Prints the median milliseconds per hash
(a sign-in verify costs the same as a hash), and how many sign-ins per second all cores can absorb.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from argon2 import PasswordHasher, Type

PASSWORD = "correct horse battery staple"


class ParameterSet(NamedTuple):
    label: str
    time_cost: int
    memory_kib: int
    parallelism: int = 1


PARAMETER_SETS = [
    ParameterSet("OWASP minimum m=19MiB t=2", 2, 19 * 1024),
    ParameterSet("OWASP alt. m=46MiB t=1", 1, 46 * 1024),
    ParameterSet("m=64MiB t=1", 1, 64 * 1024),
    ParameterSet("m=64MiB t=2", 2, 64 * 1024),
    ParameterSet("m=64MiB t=3 (old default)", 3, 64 * 1024),
    ParameterSet("m=64MiB t=4", 4, 64 * 1024),
    ParameterSet("m=128MiB t=2", 2, 128 * 1024),
    ParameterSet("RFC 9106 2nd m=64MiB t=3 p=4", 3, 64 * 1024, 4),
]


def time_one_hash(hasher: PasswordHasher) -> float:
    """Milliseconds for one hash."""
    start = time.perf_counter()
    hasher.hash(PASSWORD)
    return (time.perf_counter() - start) * 1000


def measure(params: ParameterSet, rounds: int) -> tuple[float, float, float]:
    """Fastest and median ms per hash run alone, and median ms per hash when every core hashes at once."""
    hasher = PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        type=Type.ID,
    )
    hasher.hash(PASSWORD)  # warm-up: first touch of the memory pages
    alone = [time_one_hash(hasher) for _ in range(rounds)]
    cores = os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=cores) as pool:
        loaded = list(pool.map(lambda _: time_one_hash(hasher), range(rounds * cores)))
    return min(alone), statistics.median(alone), statistics.median(loaded)


def main() -> None:
    """Print one line per parameter set."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"Argon2id, {cores} cores, {args.rounds} rounds; ms per hash")
    print("(min and median run alone; median with all cores hashing; other load on the machine inflates the last two)")
    print(f"{'parameters':34} {'min':>8} {'median':>8} {'busy':>8} {'sign-ins/s':>11}")
    for params in PARAMETER_SETS:
        fastest, median, busy = measure(params, args.rounds)
        per_second = cores * 1000 / busy
        print(f"{params.label:34} {fastest:8.1f} {median:8.1f} {busy:8.1f} {per_second:11.1f}")


if __name__ == "__main__":
    main()
