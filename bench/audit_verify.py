"""How fast ``mnvault audit verify`` checks a chain: entries per second on SQLite and PostgreSQL.

Run: ``.venv/bin/python -m bench.audit_verify [--entries N]`` (default 100,000). Fills one tenant's chain with N
realistic entries through the log's bulk append (``record_many``, 5,000 a transaction), then times
``verify_chain`` over it (the same code ``audit verify`` runs) and prints entries per second, CPU seconds, and how
much the process's peak resident memory grew while verifying (it reads constant-size pages). PostgreSQL at
``MNV_TEST_POSTGRES_URL`` is used when reachable (its own databases, dropped after).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import secrets
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.bench import bench_event
from app.audit.log import record_many, verify_chain
from app.bootstrap import migrate_all
from app.config import Settings, load_settings
from app.db import make_engine
from app.tenancy import Tenant
from app.vault import Vault
from bench.vault import DEFAULT_POSTGRES, drop_databases, postgres_databases, sqlite_settings

FILL_BATCH = 5_000


async def fill(sessions: async_sessionmaker[AsyncSession], vault: Vault, entries: int) -> uuid.UUID:
    """A tenant whose chain holds ``entries`` entries."""
    async with sessions() as session:
        tenant = Tenant(code=f"bench{secrets.token_hex(4)}", name="ベンチ株式会社")
        session.add(tenant)
        await session.flush()
        await vault.create_tenant_keys(session, tenant.id)
        await session.commit()
        tenant_id = tenant.id
    for first in range(0, entries, FILL_BATCH):
        async with sessions() as session, session.begin():
            await record_many(
                session, [bench_event(tenant_id, n) for n in range(first, min(first + FILL_BATCH, entries))]
            )
    return tenant_id


async def measure(name: str, settings: Settings, entries: int) -> None:
    await asyncio.to_thread(migrate_all, settings)
    engine = make_engine(settings.effective_database_url, pool_size=2)
    vault = Vault.from_settings(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        started = time.perf_counter()
        tenant_id = await fill(sessions, vault, entries)
        filled = time.perf_counter() - started
        print(f"{name}: {entries:,} entries appended in {filled:.1f} s ({entries / filled:,.0f} /s)", flush=True)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started, cpu_started = time.perf_counter(), time.process_time()
        async with sessions() as session:
            report = await verify_chain(session, tenant_id)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        if not report.ok or report.entries != entries:
            raise RuntimeError(f"verify failed: {report}")
        print(
            f"{name}: verified {report.entries:,} entries in {seconds:.2f} s = {report.entries / seconds:,.0f} "
            f"entries/s ({cpu:.2f} CPU s in this process = {report.entries / cpu:,.0f} entries per CPU second; "
            f"peak RSS grew {grown / 1024:.1f} MiB)",
            flush=True,
        )
    finally:
        await vault.close()
        await engine.dispose()


async def main(entries: int) -> None:
    print(f"audit verify bench: {os.cpu_count()} cores, {entries:,} entries", flush=True)
    with tempfile.TemporaryDirectory(prefix="mnv-bench-") as directory:
        await measure("SQLite", sqlite_settings(Path(directory)), entries)
    admin_url = os.environ.get("MNV_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    names = await postgres_databases(admin_url)
    if names is None:
        print(f"PostgreSQL: not reachable at {make_url(admin_url).render_as_string()}, skipped")
        return
    settings = load_settings(
        {},
        data_dir=tempfile.gettempdir(),
        database_url=make_url(admin_url).set(database=names[0]).render_as_string(hide_password=False),
        keystore_url=make_url(admin_url).set(database=names[1]).render_as_string(hide_password=False),
        master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        log_level="WARNING",
    )
    try:
        await measure("PostgreSQL", settings, entries)
    finally:
        await drop_databases(admin_url, names)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000, help="entries in the chain (default 100,000)")
    asyncio.run(main(parser.parse_args().entries))


if __name__ == "__main__":
    run()
