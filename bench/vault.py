"""Vault throughput beside the raw primitives measured in the same run.

Run: ``.venv/bin/python -m bench.vault [--seconds S]``. Prints seal+open and blind-index rates in memory, then
store / reveal / audit-append rates on SQLite and, when reachable at ``MNV_TEST_POSTGRES_URL``, on PostgreSQL
(it creates and drops its own databases). Each figure stands beside the raw AES-256-GCM or HMAC-SHA256 rate and
the ratio raw ÷ vault: how many raw operations one vault operation costs. Takes well under a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.bench import measure_appends
from app.audit.events import Actor, AuditAction, Subject
from app.bootstrap import migrate_all
from app.config import Settings, load_settings
from app.db import make_engine
from app.tenancy import Tenant
from app.vault import NumberField, Vault, crypto, sealing
from app.vault.numbers import my_number_check_digit, normalize_my_number
from app.vault.tenant_keys import TenantKeys

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
ACTOR = Actor(user_id=uuid.uuid4(), login_id="bench", name="ベンチ", role="admin", organisation="ベンチ株式会社")


@dataclass(frozen=True, slots=True)
class Raw:
    """The primitives' own rates on this machine, in this run."""

    aes_gcm: float
    hmac: float


def numbers(count: int) -> list[str]:
    """Distinct valid My Numbers."""
    bases = {f"{secrets.randbelow(10**11):011d}" for _ in range(count * 2)}
    return [b + str(my_number_check_digit(b)) for b in list(bases)[:count]]


def per_second(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds``."""
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(100):
            fn()
        calls += 100
    return calls / elapsed


async def per_second_async(fn: Callable[[int], Awaitable[int]], seconds: float) -> float:
    """Operations per second of ``fn(i)`` (which returns how many operations it did) over about ``seconds``."""
    done, i, started = 0, 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        done += await fn(i)
        i += 1
    return done / elapsed


def line(label: str, rate: float, raw_label: str = "", raw: float = 0.0) -> None:
    text = f"  {label:<44} {rate:>12,.0f} /s"
    if raw:
        text += f"   raw {raw_label:<12} {raw:>12,.0f} /s   ratio {raw / rate:>8,.1f}"
    print(text, flush=True)


def measure_in_memory(seconds: float) -> Raw:
    """Raw AES-GCM and HMAC beside the vault's sealing path and blind index, without a database."""
    key, nonce, plaintext, aad = crypto.new_key(), secrets.token_bytes(12), b"123456789018", b"a" * 60
    aead = AESGCM(key)
    raw_aes = per_second(lambda: aead.decrypt(nonce, aead.encrypt(nonce, plaintext, aad), aad), seconds)
    raw_hmac = per_second(lambda: hmac.new(key, b"my_number:123456789018", hashlib.sha256).digest(), seconds)
    keys = TenantKeys(uuid.uuid4(), 1, crypto.new_key(), crypto.new_key())
    number_id, subject_id = uuid.uuid4(), uuid.uuid4()

    def seal_and_open() -> None:
        s = sealing.seal_number(keys, number_id, subject_id, "my_number", "123456789018")
        sealing.open_number(keys, number_id, subject_id, "my_number", s.nonce, s.ciphertext, s.wrapped_key)

    print("in memory (no database)")
    line("raw AES-256-GCM seal+open", raw_aes)
    line("vault seal+open (new key, wrap, unwrap, AAD)", per_second(seal_and_open, seconds), "AES-GCM", raw_aes)
    line("raw HMAC-SHA256", raw_hmac)
    blind = per_second(
        lambda: crypto.blind_index(keys.index_key, "my_number", normalize_my_number("1234 5678 9018")), seconds
    )
    line("vault blind index (normalise + HMAC)", blind, "HMAC", raw_hmac)
    return Raw(raw_aes, raw_hmac)


async def measure_database(name: str, settings: Settings, raw: Raw, seconds: float) -> None:
    """End-to-end rates on one database: every operation with its key-store write and audit entry."""
    await asyncio.to_thread(migrate_all, settings)
    engine = make_engine(settings.effective_database_url, pool_size=4)
    vault = Vault.from_settings(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        tenant_id = await _tenant(sessions, vault)
        print(f"{name}")
        await _measure_numbers(sessions, vault, tenant_id, raw, seconds)
        appends = await measure_appends(engine, tenant_id, singles=200, bulk=5_000, batch=1_000)
        line("audit append (one per transaction)", appends.single_per_second, "HMAC", raw.hmac)
        line("audit append (record_many, 1,000 a batch)", appends.bulk_per_second, "HMAC", raw.hmac)
    finally:
        await vault.close()
        await engine.dispose()


async def _tenant(sessions: async_sessionmaker[AsyncSession], vault: Vault) -> uuid.UUID:
    async with sessions() as session:
        tenant = Tenant(code=f"bench{secrets.token_hex(4)}", name="ベンチ株式会社")
        session.add(tenant)
        await session.flush()
        await vault.create_tenant_keys(session, tenant.id)
        await session.commit()
        return tenant.id


async def _measure_numbers(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    tenant_id: uuid.UUID,
    raw: Raw,
    seconds: float,
) -> None:
    pool = numbers(60_000)
    people: list[Subject] = []

    async def store_one(i: int) -> int:
        subject = Subject(person_id=uuid.uuid4(), name=f"社員{i}")
        async with sessions() as session:
            await vault.store_number(
                session, tenant_id=tenant_id, subject=subject, field=NumberField.MY_NUMBER, number=pool.pop(),
                actor=ACTOR, action=AuditAction.PROXY_REGISTER, function="ベンチ",
            )  # fmt: skip
            await vault.commit(session)
        people.append(subject)
        return 1

    async def reveal_one(i: int) -> int:
        async with sessions() as session:
            await vault.reveal(
                session, tenant_id=tenant_id, subject=people[i % len(people)], field=NumberField.MY_NUMBER,
                actor=ACTOR, purpose="源泉徴収", function="ベンチ",
            )  # fmt: skip
            await vault.commit(session)
        return 1

    async def store_batch(i: int) -> int:
        batch = [(Subject(person_id=uuid.uuid4(), name=f"取込{i}-{n}"), pool.pop()) for n in range(500)]
        async with sessions() as session:
            await vault.store_many(
                session, tenant_id=tenant_id, entries=batch, field=NumberField.MY_NUMBER, actor=ACTOR, function="取込"
            )
            await vault.commit(session)
        people.extend(s for s, _ in batch)
        return len(batch)

    async def reveal_batch(i: int) -> int:
        subjects = [people[(i * 500 + n) % len(people)] for n in range(500)]
        async with sessions() as session:
            revealed = await vault.reveal_many(
                session, tenant_id=tenant_id, subjects=subjects, field=NumberField.MY_NUMBER, actor=ACTOR,
                purpose="源泉徴収", function="CSV出力", action=AuditAction.CSV_EXPORT,
            )  # fmt: skip
            await vault.commit(session)
        return len(revealed)

    line(
        "store_number (key store + audit, commit each)",
        await per_second_async(store_one, seconds),
        "AES-GCM",
        raw.aes_gcm,
    )
    line("reveal (audit, commit each)", await per_second_async(reveal_one, seconds), "AES-GCM", raw.aes_gcm)
    line("store_many (500 a batch)", await per_second_async(store_batch, seconds), "AES-GCM", raw.aes_gcm)
    line("reveal_many (500 a batch)", await per_second_async(reveal_batch, seconds), "AES-GCM", raw.aes_gcm)


def sqlite_settings(directory: Path) -> Settings:
    return load_settings(
        {},
        data_dir=str(directory),
        master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        log_level="WARNING",
    )


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


# The app connects as this role (owns no table, held by row-level security) as in production; the admin URL's user
# migrates and owns the tables.
APPLICATION_ROLE = "mnv_app"


async def postgres_databases(admin_url: str) -> tuple[str, str] | None:
    """Create a main and a key-store database; None when PostgreSQL is not reachable."""
    try:
        connection = await asyncpg.connect(_dsn(admin_url), timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    suffix = secrets.token_hex(4)
    names = (f"mnv_bench_{suffix}", f"mnv_bench_{suffix}_keys")
    try:
        for database in names:
            await connection.execute(f'CREATE DATABASE "{database}"')
        if not await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", APPLICATION_ROLE):
            try:
                await connection.execute(f"CREATE ROLE {APPLICATION_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB")
            except asyncpg.DuplicateObjectError:
                pass
    finally:
        await connection.close()
    return names


async def drop_databases(admin_url: str, names: tuple[str, str]) -> None:
    connection = await asyncpg.connect(_dsn(admin_url))
    try:
        for database in names:
            await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await connection.close()


async def main(seconds: float) -> None:
    started = time.perf_counter()
    print(f"MyNumber Vault bench: {os.cpu_count()} cores; ratio = raw rate ÷ vault rate", flush=True)
    raw = measure_in_memory(seconds)
    with tempfile.TemporaryDirectory(prefix="mnv-bench-") as directory:
        await measure_database("SQLite (WAL, two files)", sqlite_settings(Path(directory)), raw, seconds)
    admin_url = os.environ.get("MNV_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    names = await postgres_databases(admin_url)
    if names is None:
        print(f"PostgreSQL: not reachable at {make_url(admin_url).render_as_string()}, skipped")
    else:
        settings = load_settings(
            {},
            data_dir=tempfile.gettempdir(),
            database_url=make_url(admin_url).set(database=names[0]).render_as_string(hide_password=False),
            keystore_url=make_url(admin_url).set(database=names[1]).render_as_string(hide_password=False),
            master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
            log_level="WARNING",
        )
        try:
            await measure_database("PostgreSQL (main + key store databases)", settings, raw, seconds)
        finally:
            await drop_databases(admin_url, names)
    print(f"done in {time.perf_counter() - started:.1f} s")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="time per measurement (default 1.5)")
    asyncio.run(main(parser.parse_args().seconds))


if __name__ == "__main__":
    run()
