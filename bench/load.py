"""Load: employees registering their numbers while admins page through lists and export, on 1, 2 or 4 workers.

``python -m bench.load [--employees 200] [--admins 5] [--duration 60] [--workers 1 2 4] [--database sqlite|postgres]``
fills one company (``--people`` employees through the bulk path, plus the registrants with production-cost
passwords), serves it with ``mnvault serve --workers W`` and runs, for ``--duration`` seconds: every registrant
signing in and registering (sign-in → notice → number → confirm, started together), and ``--admins`` admins looping
over the masked list, its next page, the employee list, the log and an export of every number through the JSON API
(``GET /api/v1/exports/numbers``). It prints requests/s and p50/p95/p99 per request type, the errors, then checks
the audit chain (``mnvault audit verify``) and that the entries equal the operations done (one 登録 per registration,
one CSV出力 per person in each export). The last line: ``RESULT load_rps_<W>w=… …``.

Where the next limit is, once workers are added: the database's connections (``MNV_DB_POOL_SIZE`` ×
workers) and the per-tenant audit-chain lock (every entry of one tenant is appended one at a time).

Measured on the 2-core development machine while test suites shared it (PostgreSQL, app role under row-level
security, 200 registrants, 5 admins, 45 s): 1 worker 3.4 req/s, 2 workers 2.6, 4 workers 2.0, 0 errors, chain and
entry counts right each time. The limit there is CPU, before connections or the chain lock: each registrant's
sign-in hashes Argon2id at production cost (~150 ms of a core, in worker threads), 200 of them take both cores
for about a minute, and processes beyond the cores only add contention (the export, a CPU-bound stream, slows
most). On a host with more cores, add workers up to the core count; then watch connections (workers × (pool +
overflow) × 2 below ``max_connections``, or ``MNV_DB_POOL=null`` behind PgBouncer) and the per-tenant chain lock,
which serialises one tenant's audit appends (one company's burst) while other tenants proceed in parallel.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.audit.events import AuditAction
from app.audit.models import AuditEntry
from app.bootstrap import migrate_all
from app.config import Settings, load_settings
from app.db import make_engine
from app.tenancy import Tenant
from app.vault import Vault
from bench.pages import (
    Numbers,
    Staff,
    add_registrants,
    client_for,
    fill,
    make_tenant,
    next_link,
    postgres_settings,
    register,
    server_environment,
    sign_in_admin,
    start_server,
    stop_server,
)
from bench.vault import DEFAULT_POSTGRES, drop_databases, postgres_databases
from billing.pricing import PACK_SIZE
from exchange.services import TokenRequest, create_token
from tenants.purposes import DEFAULT_NOTIFIED, Audience


@dataclass
class Timings:
    """Latencies (seconds) and error statuses per request type."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)

    def timed(self, kind: str, seconds: float, ok: bool, status: int) -> None:
        self.latencies[kind].append(seconds)
        if not ok:
            self.errors[f"{kind} {status}"] += 1


@dataclass
class Run:
    workers: int
    seconds: float
    timings: Timings
    registrations: int
    exports: int
    exported_people: int
    chain_ok: bool
    entries_match: bool

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.timings.latencies.values())


async def admin_loop(
    base: str, cookies: httpx.Cookies, token: str, deadline: float, timings: Timings, index: int
) -> int:
    """One admin's browser until the deadline: list, next page, employees, log, an export; returns the exports done.
    The admins share the signed-in session of ``cookies`` (one TOTP code cannot be used twice)."""
    purpose = DEFAULT_NOTIFIED[Audience.EMPLOYEE][0]
    exports = 0
    async with client_for(base, f"10.9.0.{index + 1}") as client:
        client.cookies = httpx.Cookies(cookies)
        while time.perf_counter() < deadline:
            for kind, url in (("list", "/admin/numbers"), ("people", "/admin/people"), ("log", "/admin/log")):
                started = time.perf_counter()
                page = await client.get(url)
                timings.timed(kind, time.perf_counter() - started, page.status_code == 200, page.status_code)
                following = next_link(page.text) if kind == "list" else None
                if following:
                    started = time.perf_counter()
                    deeper = await client.get(following)
                    ok = deeper.status_code == 200
                    timings.timed("list next", time.perf_counter() - started, ok, deeper.status_code)
            started = time.perf_counter()
            export = await client.get(
                "/api/v1/exports/numbers",
                params={"purpose": purpose, "layout": "seed", "encoding": "cp932", "kind": "employee"},
                headers={"authorization": f"Bearer {token}"},
            )
            timings.timed("export", time.perf_counter() - started, export.status_code == 200, export.status_code)
            exports += export.status_code == 200
    return exports


async def registrations(base: str, staff: Staff, logins: list[str], timings: Timings) -> int:
    """Every registrant at once; returns how many finished."""

    async def one(index: int, login: str, number: str) -> bool:
        started = time.perf_counter()
        try:
            await register(base, 1000 + index, staff.tenant_code, login, number)
        except Exception as exc:  # a FlowFailed or a transport error: counted, shown
            timings.timed("registration flow", time.perf_counter() - started, False, getattr(exc, "step", 0) or 0)
            return False
        timings.timed("registration flow", time.perf_counter() - started, True, 200)
        return True

    numbers = Numbers(prefix=777)
    outcomes = await asyncio.gather(*(one(i, login, numbers.next()) for i, login in enumerate(logins)))
    return sum(outcomes)


async def count_entries(settings: Settings, staff: Staff, action: AuditAction) -> int:
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            statement = select(func.count()).where(AuditEntry.tenant_id == staff.tenant_id, AuditEntry.action == action)
            return int((await connection.execute(statement)).scalar_one())
    finally:
        await engine.dispose()


def verify_chain(settings: Settings) -> bool:
    """``mnvault audit verify`` over every tenant's chain (its output shown when it fails)."""
    env = server_environment(settings, 8000)
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "audit", "verify"], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        print((result.stdout + result.stderr)[-2000:])
    return result.returncode == 0


async def one_run(settings: Settings, args: argparse.Namespace, workers: int, label: str) -> Run:
    """A fresh company, the load on ``workers`` processes, the checks."""
    engine = make_engine(settings.effective_database_url, pool_size=4)
    vault = Vault.from_settings(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        staff = await make_tenant(sessions, settings, vault, label)
        async with sessions() as session:  # paid for every id the registrants get (billing.contract)
            tenant = await session.get(Tenant, staff.tenant_id)
            assert tenant is not None
            tenant.self_registration_packs = args.employees // PACK_SIZE + 1
            await session.commit()
        await fill(sessions, vault, staff, args.people, seed=workers)
        logins = await add_registrants(sessions, settings, vault, staff, count=args.employees)
        async with sessions() as session:
            issued = await create_token(
                session, vault, tenant_id=staff.tenant_id, actor=staff.actor, created_by=None,
                request=TokenRequest(name="bench", scopes=["numbers:read"]),
            )  # fmt: skip
            await session.commit()
    finally:
        await engine.dispose()
        await vault.close()
    before_exports = await count_entries(settings, staff, AuditAction.CSV_EXPORT)
    before_registers = await count_entries(settings, staff, AuditAction.REGISTER)
    process, base = await start_server(settings, Path(settings.data_dir) / "server.log", workers)
    timings = Timings()
    try:
        async with client_for(base, "10.9.1.1") as first:
            await sign_in_admin(first, staff)
            cookies = httpx.Cookies(first.cookies)
        started = time.perf_counter()
        deadline = started + args.duration
        admins = [admin_loop(base, cookies, issued.text, deadline, timings, i) for i in range(args.admins)]
        registered, *exports = await asyncio.gather(registrations(base, staff, logins, timings), *admins)
        elapsed = time.perf_counter() - started
    finally:
        await asyncio.to_thread(stop_server, process)
    exported = sum(exports)
    registered_entries = await count_entries(settings, staff, AuditAction.REGISTER) - before_registers
    export_entries = await count_entries(settings, staff, AuditAction.CSV_EXPORT) - before_exports
    per_export = args.people  # every filled employee has a number; the registrants' count grows during the run
    most = exported * (args.people + args.employees)  # the registrants' numbers join the export as they arrive
    matches = registered_entries == registered and exported * per_export <= export_entries <= most
    if not matches:
        print(f"entries: 登録 {registered_entries} for {registered} registrations, CSV出力 {export_entries}")
    return Run(
        workers=workers,
        seconds=elapsed,
        timings=timings,
        registrations=registered,
        exports=exported,
        exported_people=export_entries,
        chain_ok=await asyncio.to_thread(verify_chain, settings),
        entries_match=matches,
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def show(run: Run) -> None:
    rate = run.requests / run.seconds
    print(f"\n{run.workers} worker(s): {run.requests:,} requests in {run.seconds:.0f} s = {rate:.1f}/s")
    print(f"{'request':<20} {'count':>7} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}")
    for kind, values in sorted(run.timings.latencies.items()):
        print(
            f"{kind:<20} {len(values):>7} {statistics.median(values) * 1000:>9.1f} "
            f"{percentile(values, 0.95):>9.1f} {percentile(values, 0.99):>9.1f}"
        )
    print(f"errors: {dict(run.timings.errors) or 0}")
    print(f"registrations {run.registrations}, exports {run.exports} ({run.exported_people:,} CSV出力 entries); "
          f"chain verifies: {run.chain_ok}; entries match the operations: {run.entries_match}")  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    master_key = base64.b64encode(secrets.token_bytes(32)).decode()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="mnv-load-") as directory:
        admin_url = os.environ.get("MNV_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
        names = await postgres_databases(admin_url) if args.database == "postgres" else None
        if args.database == "postgres" and names is None:
            raise SystemExit(f"PostgreSQL not reachable at {make_url(admin_url).render_as_string()}")
        try:
            if names is not None:
                settings = postgres_settings(admin_url, names, Path(directory), master_key)
            else:
                settings = load_settings({}, data_dir=str(Path(directory) / "sqlite"), master_key=master_key)
            await asyncio.to_thread(migrate_all, settings)
            for workers in args.workers:
                print(f"== {args.database}, {workers} worker(s) ==", flush=True)
                run = await one_run(settings, args, workers, f"load{workers}")
                show(run)
                runs.append(run)
        finally:
            if names is not None:
                await drop_databases(admin_url, names)
    errors = sum(sum(run.timings.errors.values()) for run in runs)
    rates = " ".join(f"load_rps_{run.workers}w={run.requests / run.seconds:.1f}" for run in runs)
    verified = all(run.chain_ok and run.entries_match for run in runs)
    print(f"RESULT {rates} errors={errors} chain_and_entries_ok={str(verified).lower()}")


def run() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--employees", type=int, default=200, help="employees registering at once (default 200)")
    parser.add_argument("--admins", type=int, default=5, help="admins paging and exporting (default 5)")
    parser.add_argument("--people", type=int, default=2_000, help="employees already filled (default 2,000)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of admin load (default 60)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="worker processes to compare")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="postgres")
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    run()
