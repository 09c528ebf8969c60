"""Imports and exports of 100,000 numbers through the real services, each beside a floor measured in the same run.

Run: ``.venv/bin/python -m bench.bulk [--people N] [--database sqlite|postgres|both] [--peak-rows R]``.

For each database (SQLite in a temp directory; PostgreSQL at ``MNV_TEST_POSTGRES_URL``, its own two databases
created and dropped, the app and the floor connecting as the application role ``mnv_app`` under row-level security,
as in production) the bench fills two tenants through the bulk path (``tenants.services.bulk``) with the same
``N`` people (default 100,000: employees each with 0–3 dependants, 1.5 on average; 20 departments) and no numbers,
then measures:

- **CSV import**: a cp932 file in the **seed layout** (seed 003's columns: the layout that registers numbers for
  the people a tenant already has, employees by 社員コード and dependants by name under them) with one number per
  person, through ``exchange.services.check_import`` (reported alone) and ``commit_import`` + the commit (parse,
  validate, look up, seal, blind index, key store, insert, status, one 代理登録 entry per number) into tenant A;
- **xlsx import**: the same rows as an .xlsx workbook into tenant B (check and commit, as the background job runs);
- **CSV export**: tenant A's numbers in the seed layout, cp932, through the real export service (unseal, write,
  one CSV出力 entry per person; the stream read to its end as a download would); **xlsx export**: tenant B's;
- **floors**: the same cryptographic work with the bare driver (stdlib ``sqlite3`` / ``asyncpg``) in the same
  database files, into a third tenant: decode and parse the CSV, check digit, a fresh AES-256-GCM key per number
  sealing it, that key wrapped under the tenant data key, the HMAC-SHA256 blind index, then the number rows, the
  key-store rows and one audit row per number (HMAC chain over the same fields as ``app.audit.chain``) inserted
  1,000 at a time in one transaction per database; for export: select the rows and their keys, unwrap, open,
  write cp932 CSV rows, insert one audit row per number.

Peak memory, each in a child process (its peak RSS, ``VmHWM``: the honest figure; about 100 MB of it is the
interpreter and the app's modules): the real CSV export of tenant A's ``N`` numbers, and a streamed export of
``--peak-rows`` rows (default 1,000,000) from a **synthetic source** (filling a tenant with a million people would
take most of the run): families made in batches, each number sealed and opened by the vault's primitives
(``app.vault.sealing``), written through the export's cp932 writer a batch at a time, the bytes dropped as a
client reads them.

Prints a table per database (wall-clock seconds, rate, and the process's CPU seconds: every thread, SQLite's work
included, PostgreSQL's server not; the steadier figure on a shared machine) and, as its last line,
``RESULT import_ratio=<x> export_ratio=<y> import_s=<s> export_s=<s> xlsx_import_s=<s> xlsx_export_s=<s>
peak_mb=<m>``: wall clock, the worse of the databases; import = ``commit_import`` and the commit (it checks the
file again: the check alone is its own row), export = the stream read to its end (the plan is its own row), ratio
= real ÷ floor, peak = the synthetic million rows. Goals (issue 10): import ≤ 4× floor and < 10 s, export ≤ 4×
floor and < 4 s, xlsx < 30 s each, peak < 300 MB. Both databases take about 10 minutes (a good part of it filling
400,000 people), or over 13 minutes before the bulk paths were reworked.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import random
import resource
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor
from app.auth.models import Role
from app.auth.principal import Principal
from app.bootstrap import migrate_all
from app.config import Settings, load_settings
from app.db import make_engine, new_id, utcnow
from app.rls import connect_arguments
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.vault import Vault, sealing
from app.vault.numbers import my_number_check_digit
from app.vault.tenant_keys import TenantKeys
from bench.vault import APPLICATION_ROLE, DEFAULT_POSTGRES, _dsn, drop_databases, postgres_databases
from exchange import Encoding, FamilyRecord, write_file
from exchange import PersonRecord as FilePerson
from exchange.encoding import file_writer
from exchange.layouts import SEED
from exchange.services import ExportRequest, check_import, commit_import, export_purposes, plan_export, stream_export
from tenants.models import PersonKind
from tenants.services.bulk import DepartmentRecord, PersonRecord, write_people

DEFAULT_PEOPLE = 100_000
PEAK_ROWS = 1_000_000
FILL_CHUNK = 25_000  # people per fill transaction
FLOOR_BATCH = 1000
GOALS = {"import_ratio": 4.0, "export_ratio": 4.0, "import_s": 10.0, "export_s": 4.0, "xlsx_s": 30.0, "peak_mb": 300}
SURNAMES = [
    ("山田", "ヤマダ"), ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
    ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"),
    ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山口", "ヤマグチ"), ("松本", "マツモト"), ("井上", "イノウエ"),
]  # fmt: skip
GIVEN = [
    ("太郎", "タロウ"), ("花子", "ハナコ"), ("一郎", "イチロウ"), ("健太", "ケンタ"), ("美咲", "ミサキ"),
    ("翔太", "ショウタ"), ("陽子", "ヨウコ"), ("大輔", "ダイスケ"), ("由美", "ユミ"), ("直樹", "ナオキ"),
]  # fmt: skip
DEPARTMENTS = [DepartmentRecord(code=f"{100 + n}", name=f"第{n + 1}営業部") for n in range(20)]
PURPOSE = "源泉徴収票作成事務"
EXPORT_FUNCTION = "CSV出力"


# The people -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    kana: str
    birth_date: dt.date
    number: str
    relationship: str = ""


@dataclass(frozen=True, slots=True)
class Family:
    code: str
    department: str
    head: Member
    dependants: tuple[Member, ...]

    @property
    def size(self) -> int:
        return 1 + len(self.dependants)


def my_number(serial: int) -> str:
    base = f"{serial:011d}"
    return base + str(my_number_check_digit(base))


def families(people: int, seed: int = 7) -> list[Family]:
    """Employees each followed by 0–3 dependants (distinct names in a family), ``people`` persons in all."""
    rng = random.Random(seed)
    out: list[Family] = []
    serial = 10**9
    made = 0
    while made < people:
        surname, surname_kana = rng.choice(SURNAMES)
        given = rng.sample(GIVEN, 4)
        count = min(rng.randrange(4), people - made - 1)
        members = []
        for n, (name, kana) in enumerate(given[: count + 1]):
            serial += 1
            members.append(
                Member(
                    name=f"{surname} {name}",
                    kana=f"{surname_kana} {kana}",
                    birth_date=dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(20_000)),
                    number=my_number(serial),
                    relationship="" if n == 0 else "配偶者" if n == 1 else "子",
                )
            )
        out.append(Family(f"{len(out) + 1:07d}", rng.choice(DEPARTMENTS).code, members[0], tuple(members[1:])))
        made += len(members)
    return out


def fill_records(batch: Sequence[Family]) -> Iterator[PersonRecord]:
    """The people as the bulk path takes them (no numbers: the import registers them)."""
    for family in batch:
        head = family.head
        yield PersonRecord(
            kind=PersonKind.EMPLOYEE,
            employee_code=family.code,
            name=head.name,
            kana=head.kana,
            birth_date=head.birth_date,
            department_code=family.department,
        )
        for member in family.dependants:
            yield PersonRecord(
                kind=PersonKind.DEPENDANT,
                employee_code=family.code,
                name=member.name,
                kana=member.kana,
                birth_date=member.birth_date,
                relationship=member.relationship,
            )


def file_families(population: Sequence[Family]) -> Iterator[FamilyRecord]:
    """The people as an import file carries them (seed layout: codes, names, numbers)."""
    for family in population:
        yield FamilyRecord(
            FilePerson(family.head.name, my_number=family.head.number),
            employee_code=family.code,
            dependants=tuple(FilePerson(m.name, my_number=m.number) for m in family.dependants),
        )


def import_file(population: Sequence[Family], encoding: Encoding) -> bytes:
    rows = list(SEED.table(file_families(population)))
    return b"".join(write_file(SEED.columns, rows, encoding, row_count=len(rows)))


# Measuring --------------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """One database's measurements (seconds)."""

    name: str
    people: int
    check: float = 0.0
    imported: float = 0.0
    import_floor: float = 0.0
    xlsx_check: float = 0.0
    xlsx_imported: float = 0.0
    export_plan: float = 0.0
    exported: float = 0.0
    export_floor: float = 0.0
    xlsx_export_plan: float = 0.0
    xlsx_exported: float = 0.0
    service_peak: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of each measurement, by its field's name

    @property
    def import_ratio(self) -> float:
        return self.imported / self.import_floor

    @property
    def export_ratio(self) -> float:
        return self.exported / self.export_floor

    def table(self) -> str:
        n = self.people

        def row(label: str, name: str, floor: str = "") -> str:
            seconds = getattr(self, name)
            text = f"  {label:<44} {seconds:7.2f} s {n / seconds:>8,.0f} /s  cpu {self.cpu.get(name, 0):6.2f} s"
            if floor:
                wall = getattr(self, floor)
                text += f"   floor {wall:5.2f} s (cpu {self.cpu.get(floor, 0):5.2f} s)   ratio {seconds / wall:4.1f}"
            return text

        return "\n".join(
            [
                f"{self.name}: {n:,} numbers",
                row("CSV check (check_import)", "check"),
                row("CSV import (commit_import + commit)", "imported", "import_floor"),
                row("xlsx check", "xlsx_check"),
                row("xlsx import (commit_import + commit)", "xlsx_imported"),
                row("CSV export plan (plan_export)", "export_plan"),
                row("CSV export (stream_export, read to the end)", "exported", "export_floor"),
                row("xlsx export plan", "xlsx_export_plan"),
                row("xlsx export (stream_export)", "xlsx_exported"),
                f"  {'peak RSS of the CSV export in a child process':<44} {self.service_peak:7.0f} MB",
            ]
        )

    def record(self, **clocks: Clock) -> None:
        """Keep each clock's wall seconds in its field and its CPU seconds in ``cpu``."""
        for name, clock in clocks.items():
            setattr(self, name, clock.seconds)
            self.cpu[name] = clock.cpu


class Clock:
    """Wall-clock seconds of a block, and the CPU seconds of this process in it (every thread: the worker threads,
    SQLite's; not PostgreSQL's server), the steadier figure on a machine others share."""

    def __enter__(self) -> Clock:
        self.started, self.cpu_started = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
        self.cpu = time.process_time() - self.cpu_started


# Tenants and the fill -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Company:
    tenant_id: uuid.UUID
    principal: Principal
    actor: Actor


async def make_company(sessions: async_sessionmaker[AsyncSession], vault: Vault, code: str) -> Company:
    async with sessions() as session:
        tenant = Tenant(code=code, name=f"ベンチ{code}株式会社", kind=TenantKind.COMPANY, status=TenantStatus.ACTIVE)
        session.add(tenant)
        await session.flush()
        await vault.create_tenant_keys(session, tenant.id)
        await session.commit()
        return company_of(tenant)


def company_of(tenant: Tenant) -> Company:
    """The tenant with an admin principal (step-up fresh) as a page would build it; the account is not stored."""
    principal = Principal(
        account_id=uuid.UUID(int=1),
        tenant_id=tenant.id,
        tenant_code=tenant.code,
        tenant_name=tenant.name,
        tenant_kind=TenantKind.COMPANY,
        login_id="admin",
        name="ベンチ 管理者",
        role=Role.ADMIN,
        totp_enabled=True,
        person_id=None,
        stepup_fresh=True,
    )
    return Company(tenant.id, principal, principal.actor())


async def fill(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, company: Company, population: list[Family]
) -> None:
    """The people without numbers, through the bulk path, ``FILL_CHUNK`` people a transaction."""
    start = 0
    first = True
    while start < len(population):
        batch: list[Family] = []
        size = 0
        while start < len(population) and size < FILL_CHUNK:
            batch.append(population[start])
            size += population[start].size
            start += 1
        async with sessions() as session:
            await write_people(
                session,
                vault,
                tenant_id=company.tenant_id,
                actor=company.actor,
                departments=DEPARTMENTS if first else (),
                people=list(fill_records(batch)),
            )
            await vault.commit(session)
        first = False


# The real paths -------------------------------------------------------------------------------------------------


async def real_import(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, company: Company, data: bytes, people: int
) -> tuple[Clock, Clock]:
    """The clocks of the check and of the commit of one file."""
    async with sessions() as session:
        with Clock() as checked:
            report = await check_import(session, vault, company.principal, data, "seed")
        await session.rollback()
    counts = report.counts
    if report.rejected or counts.rows_with_errors or counts.to_register != people:
        raise SystemExit(f"check: {report.rejected or counts}")
    async with sessions() as session:
        with Clock() as committed:
            outcome = await commit_import(session, vault, company.principal, company.actor, data, "seed", False)
            await vault.commit(session)
    if outcome.registered != people:
        raise SystemExit(f"import registered {outcome.registered} of {people}")
    return checked, committed


async def real_export(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, company: Company, encoding: Encoding, people: int
) -> tuple[Clock, Clock, int]:
    """(plan clock, stream clock, bytes) of the tenant's numbers in the seed layout through the export service:
    ``plan_export`` (the page's preview: selection read, characters scanned) then ``stream_export`` read to the
    end as a download is (unseal, write, one CSV出力 entry per person, committed after the last chunk)."""
    async with sessions() as session:
        principal = company.principal
        request = ExportRequest(
            layout="seed",
            encoding=encoding,
            with_numbers=True,
            purpose=(await export_purposes(session, principal))[0],
        )
        with Clock() as planned:
            plan = await plan_export(session, principal, request)
        await session.commit()
        if people >= 0 and plan.people != people:
            raise SystemExit(f"export plan: {plan.people} people of {people}")
        size = 0
        with Clock() as streamed:
            async for chunk in stream_export(session, vault, principal, company.actor, plan):
                size += len(chunk)
    return planned, streamed, size


# Floors -------------------------------------------------------------------------------------------------------


AUDIT_COLUMNS = (
    "tenant_id", "seq", "occurred_at", "actor_user_id", "actor_login_id", "actor_name", "actor_role",
    "actor_organisation", "ip", "user_agent", "action", "function", "subject_person_id", "subject_name",
    "subject_department_code", "subject_department_name", "subject_employee_code", "purpose", "result", "detail",
    "prev_hash", "hash", "key_version",
)  # fmt: skip
NUMBER_COLUMNS = (
    "tenant_id", "id", "subject_id", "field", "ciphertext", "nonce", "tenant_key_version", "blind_index", "masked",
    "flagged", "registered_at", "erased_at", "erase_reason", "created_at", "updated_at",
)  # fmt: skip
KEY_COLUMNS = ("tenant_id", "number_id", "tenant_key_version", "wrapped_key", "created_at")


@dataclass
class FloorKeys:
    """The floor's own tenant keys and chain key (random; the floor never reads the app's)."""

    tenant_id: uuid.UUID
    data: AESGCM = field(default_factory=lambda: AESGCM(secrets.token_bytes(32)))
    index_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    chain_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    seq: int = 0
    head: str = "0" * 64


def aad(*parts: bytes) -> bytes:
    return b"mnv1" + b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def sealed(keys: FloorKeys, subject: uuid.UUID, number: str) -> tuple[uuid.UUID, bytes, bytes, bytes, bytes]:
    """Check digit, a fresh key sealing the number, the key wrapped, the blind index: (id, nonce, ct, wrapped, bi)."""
    if len(number) != 12 or not number.isdigit() or my_number_check_digit(number[:11]) != int(number[11]):
        raise ValueError("check digit")
    number_id = new_id()
    tenant = keys.tenant_id.bytes
    key, nonce, wrap_nonce = secrets.token_bytes(32), secrets.token_bytes(12), secrets.token_bytes(12)
    ciphertext = AESGCM(key).encrypt(nonce, number.encode(), aad(b"number", tenant, number_id.bytes, subject.bytes,
                                                                  b"my_number", b"1"))  # fmt: skip
    wrapped = wrap_nonce + keys.data.encrypt(wrap_nonce, key, aad(b"number-key", tenant, number_id.bytes, b"1"))
    blind = hmac.new(keys.index_key, b"my_number:" + number.encode(), hashlib.sha256).digest()
    return number_id, nonce, ciphertext, wrapped, blind


def opened(keys: FloorKeys, number_id: uuid.UUID, subject: uuid.UUID, nonce: bytes, ct: bytes, wrapped: bytes) -> str:
    tenant = keys.tenant_id.bytes
    key = keys.data.decrypt(wrapped[:12], wrapped[12:], aad(b"number-key", tenant, number_id.bytes, b"1"))
    plain = AESGCM(key).decrypt(nonce, ct, aad(b"number", tenant, number_id.bytes, subject.bytes, b"my_number", b"1"))
    return plain.decode()


def audit_row(keys: FloorKeys, now: dt.datetime, action: str, function: str, subject: uuid.UUID, name: str,
              code: str, number_id: uuid.UUID, purpose: str | None) -> dict[str, Any]:  # fmt: skip
    """One entry, chained: the same fields as ``app.audit.chain`` hashes, HMAC-SHA256 under the chain key."""
    keys.seq += 1
    row: dict[str, Any] = {
        "tenant_id": str(keys.tenant_id), "seq": keys.seq, "occurred_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_user_id": None, "actor_login_id": "admin", "actor_name": "ベンチ 管理者", "actor_role": "管理者",
        "actor_organisation": "ベンチ株式会社", "ip": None, "user_agent": None, "action": action,
        "function": function, "subject_person_id": str(subject), "subject_name": name,
        "subject_department_code": "", "subject_department_name": "", "subject_employee_code": code,
        "purpose": purpose, "result": "成功", "detail": {"field": "my_number", "number_id": str(number_id)},
        "prev_hash": keys.head, "v": 2, "k": 1,
    }  # fmt: skip
    encoded = json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    keys.head = row["hash"] = hmac.new(keys.chain_key, encoded.encode(), hashlib.sha256).hexdigest()
    return row


def parsed(data: bytes) -> Iterator[tuple[str, str, str]]:
    """(社員コード, name, number) of each row of the seed CSV."""
    reader = csv.reader(io.StringIO(data.decode("cp932")))
    next(reader)
    for row in reader:
        yield row[1], row[4] or row[2], row[6]


def batched(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def floor_rows(
    keys: FloorKeys, batch: list[tuple[str, str, str]], now: dt.datetime
) -> tuple[list[Any], list[Any], list[Any]]:
    """The number, key and audit rows of a batch (as dicts; each driver adapts the values)."""
    numbers, stored_keys, entries = [], [], []
    for code, name, number in batch:
        subject = new_id()
        number_id, nonce, ct, wrapped, blind = sealed(keys, subject, number)
        numbers.append((number_id, subject, ct, nonce, blind, f"********{number[-4:]}"))
        stored_keys.append((number_id, wrapped))
        entries.append(audit_row(keys, now, "代理登録", "代理登録", subject, name, code, number_id, None))
    return numbers, stored_keys, entries


def export_rows(keys: FloorKeys, rows: Sequence[Any], wrapped: dict[Any, bytes], now: dt.datetime,
                names: dict[Any, tuple[str, str]]) -> tuple[bytes, list[dict[str, Any]]]:  # fmt: skip
    """Open each row's number, write the batch as cp932 CSV, and its audit rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    entries = []
    for number_id, subject, nonce, ct in rows:
        number = opened(keys, number_id, subject, nonce, ct, wrapped[number_id])
        code, name = names[subject]
        writer.writerow(("", code, name, "", "", "", number))
        entries.append(audit_row(keys, now, "CSV出力", EXPORT_FUNCTION, subject, name, code, number_id, PURPOSE))
    return out.getvalue().encode("cp932"), entries


def sqlite_path(url: str) -> str:
    database = make_url(url).database
    assert database
    return database


def sqlite_connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", "secure_delete=ON"):
        connection.execute(f"PRAGMA {pragma}")
    return connection


def sqlite_floor(settings: Settings, tenant_id: uuid.UUID, data: bytes) -> tuple[Clock, Clock]:
    """(import clock, export clock) with stdlib sqlite3 in the app's own database files."""
    main = sqlite_connect(sqlite_path(settings.effective_database_url))
    keystore = sqlite_connect(sqlite_path(settings.effective_keystore_url))
    keys = FloorKeys(tenant_id)
    hex_tenant = tenant_id.hex
    numbers_sql = (
        f"INSERT INTO vault_numbers ({','.join(NUMBER_COLUMNS)}) VALUES ({','.join('?' * len(NUMBER_COLUMNS))})"
    )
    keys_sql = f"INSERT INTO number_keys ({','.join(KEY_COLUMNS)}) VALUES ({','.join('?' * len(KEY_COLUMNS))})"
    audit_sql = f"INSERT INTO audit_entries ({','.join(AUDIT_COLUMNS)}) VALUES ({','.join('?' * len(AUDIT_COLUMNS))})"

    def audit_values(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [
            (hex_tenant, e["seq"], stamp, None, *[e[c] for c in AUDIT_COLUMNS[4:12]],
             e["subject_person_id"].replace("-", ""), *[e[c] for c in AUDIT_COLUMNS[13:19]], json.dumps(e["detail"]),
             e["prev_hash"], e["hash"], 1)
            for e in entries
        ]  # fmt: skip

    names: dict[str, tuple[str, str]] = {}
    try:
        with Clock() as imported:
            now = utcnow()
            stamp = now.replace(tzinfo=None).isoformat(sep=" ")
            main.execute("BEGIN IMMEDIATE")
            keystore.execute("BEGIN IMMEDIATE")
            for batch in batched(parsed(data), FLOOR_BATCH):
                numbers, stored_keys, entries = floor_rows(keys, batch, now)
                keystore.executemany(keys_sql, [(hex_tenant, n.hex, 1, w, stamp) for n, w in stored_keys])
                main.executemany(
                    numbers_sql,
                    [(hex_tenant, n.hex, s.hex, "my_number", ct, nonce, 1, bi, masked, 0, stamp, None, None, stamp,
                      stamp) for n, s, ct, nonce, bi, masked in numbers],
                )  # fmt: skip
                main.executemany(audit_sql, audit_values(entries))
                for (_, s, *_rest), (code, name, _number) in zip(numbers, batch, strict=True):
                    names[s.hex] = (code, name)
            keystore.execute("COMMIT")
            main.execute("COMMIT")
        with Clock() as exported:
            now = utcnow()
            stamp = now.replace(tzinfo=None).isoformat(sep=" ")
            main.execute("BEGIN IMMEDIATE")
            size = 0
            rows = main.execute(
                "SELECT id, subject_id, nonce, ciphertext FROM vault_numbers WHERE tenant_id = ? AND erased_at IS NULL"
                " ORDER BY id",
                (hex_tenant,),
            )
            while batch := rows.fetchmany(FLOOR_BATCH):
                ids = [r[0] for r in batch]
                found = keystore.execute(
                    f"SELECT number_id, wrapped_key FROM number_keys WHERE tenant_id = ? AND number_id IN "
                    f"({','.join('?' * len(ids))})",
                    (hex_tenant, *ids),
                )
                wrapped = dict(found.fetchall())
                opened_rows = [(uuid.UUID(i), uuid.UUID(s), nonce, ct) for i, s, nonce, ct in batch]
                chunk, entries = export_rows(
                    keys, opened_rows, {uuid.UUID(k): w for k, w in wrapped.items()}, now,
                    {uuid.UUID(s): v for s, v in ((r[1], names[r[1]]) for r in batch)},
                )  # fmt: skip
                size += len(chunk)
                main.executemany(audit_sql, audit_values(entries))
            main.execute("COMMIT")
        return imported, exported
    finally:
        main.close()
        keystore.close()


def dollars(count: int) -> str:
    return ",".join(f"${i + 1}" for i in range(count))


async def postgres_floor(settings: Settings, tenant_id: uuid.UUID, data: bytes) -> tuple[Clock, Clock]:
    """(import clock, export clock) with asyncpg in the app's own databases."""
    main = await asyncpg.connect(_dsn(settings.effective_database_url), **connect_arguments())  # RLS: the app's scope
    keystore = await asyncpg.connect(_dsn(settings.effective_keystore_url))
    keys = FloorKeys(tenant_id)
    numbers_sql = f"INSERT INTO vault_numbers ({','.join(NUMBER_COLUMNS)}) VALUES ({dollars(len(NUMBER_COLUMNS))})"
    keys_sql = f"INSERT INTO number_keys ({','.join(KEY_COLUMNS)}) VALUES ($1, $2, $3, $4, $5)"
    audit_sql = f"INSERT INTO audit_entries ({','.join(AUDIT_COLUMNS)}) VALUES ({dollars(len(AUDIT_COLUMNS))})"

    def audit_values(entries: list[dict[str, Any]], now: dt.datetime) -> list[tuple[Any, ...]]:
        return [
            (tenant_id, e["seq"], now, None, *[e[c] for c in AUDIT_COLUMNS[4:12]], uuid.UUID(e["subject_person_id"]),
             *[e[c] for c in AUDIT_COLUMNS[13:19]], json.dumps(e["detail"]), e["prev_hash"], e["hash"], 1)
            for e in entries
        ]  # fmt: skip

    names: dict[uuid.UUID, tuple[str, str]] = {}
    try:
        with Clock() as imported:
            now = utcnow()
            async with main.transaction(), keystore.transaction():
                for batch in batched(parsed(data), FLOOR_BATCH):
                    numbers, stored_keys, entries = floor_rows(keys, batch, now)
                    await keystore.executemany(keys_sql, [(tenant_id, n, 1, w, now) for n, w in stored_keys])
                    await main.executemany(
                        numbers_sql,
                        [(tenant_id, n, s, "my_number", ct, nonce, 1, bi, masked, False, now, None, None, now, now)
                         for n, s, ct, nonce, bi, masked in numbers],
                    )  # fmt: skip
                    await main.executemany(audit_sql, audit_values(entries, now))
                    for (_, s, *_rest), (code, name, _number) in zip(numbers, batch, strict=True):
                        names[s] = (code, name)
        with Clock() as exported:
            now = utcnow()
            async with main.transaction():
                cursor = main.cursor(
                    "SELECT id, subject_id, nonce, ciphertext FROM vault_numbers WHERE tenant_id = $1"
                    " AND erased_at IS NULL ORDER BY id",
                    tenant_id,
                    prefetch=FLOOR_BATCH,
                )
                read: list[Any] = []
                async for record in cursor:
                    read.append(tuple(record))
                    if len(read) == FLOOR_BATCH:
                        await _postgres_export_batch(main, keystore, keys, read, now, names, audit_sql, audit_values)
                        read = []
                if read:
                    await _postgres_export_batch(main, keystore, keys, read, now, names, audit_sql, audit_values)
        return imported, exported
    finally:
        await main.close()
        await keystore.close()


async def _postgres_export_batch(main: Any, keystore: Any, keys: FloorKeys, batch: list[Any], now: dt.datetime,
                                 names: dict[uuid.UUID, tuple[str, str]], audit_sql: str,
                                 audit_values: Callable[..., Any]) -> None:  # fmt: skip
    found = await keystore.fetch(
        "SELECT number_id, wrapped_key FROM number_keys WHERE tenant_id = $1 AND number_id = ANY($2::uuid[])",
        keys.tenant_id,
        [r[0] for r in batch],
    )
    wrapped = {r[0]: r[1] for r in found}
    _chunk, entries = export_rows(keys, batch, wrapped, now, names)
    await main.executemany(audit_sql, audit_values(entries, now))


# Peak memory of a million-row export (child process) -------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM, MB). Not ``ru_maxrss``: on Linux that keeps the high-water mark of
    the process image before ``exec``, i.e. of the parent that forked the child (the whole bench)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_batches(rows: int) -> Iterator[list[list[str]]]:
    """Batches of about 1,000 seed-layout rows of made-up families, each number sealed and opened again by the
    vault's primitives (a fresh key, wrapped, unwrapped: what the export's reveal does per number)."""
    keys = TenantKeys(uuid.uuid4(), 1, secrets.token_bytes(32), secrets.token_bytes(32))
    made = 0
    while made < rows:
        batch = families(min(1000, rows - made), seed=made)
        records: list[FamilyRecord] = []
        for family in batch:
            opened_numbers = []
            for member in (family.head, *family.dependants):
                subject = new_id()
                s = sealing.seal_number(keys, new_id(), subject, "my_number", member.number)
                opened_numbers.append(
                    sealing.open_number(keys, s.number_id, subject, "my_number", s.nonce, s.ciphertext, s.wrapped_key)
                )
            records.append(
                FamilyRecord(
                    FilePerson(family.head.name, my_number=opened_numbers[0]),
                    employee_code=f"{made + len(records):07d}",
                    dependants=tuple(
                        FilePerson(m.name, my_number=n)
                        for m, n in zip(family.dependants, opened_numbers[1:], strict=True)
                    ),
                )
            )
        yield list(SEED.table(records))
        made += sum(f.size for f in batch)


def peak_child(rows: int) -> None:
    """In the child: ``rows`` synthetic rows through the export's cp932 writer a batch at a time (as
    ``stream_export`` drives it), the bytes dropped as a client reads them; prints the peak RSS."""
    baseline = peak_rss_mb()
    writer = file_writer(SEED.columns, Encoding.CP932)
    size = len(writer.start())
    for batch in synthetic_batches(rows):
        size += len(writer.write(batch))
    size += len(writer.finish())
    print(f"PEAK rows={rows} bytes={size} baseline_mb={baseline:.1f} peak_mb={peak_rss_mb():.1f}")


async def service_child(tenant_id: uuid.UUID) -> None:
    """In the child: the tenant's numbers streamed by the real export service (settings from the environment);
    prints the peak RSS."""
    settings = load_settings(dict(os.environ))
    engine = make_engine(settings.effective_database_url, pool_size=2)
    vault = Vault.from_settings(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as session:
            tenant = await session.get(Tenant, tenant_id)
            assert tenant is not None
            company = company_of(tenant)
        baseline = peak_rss_mb()
        _plan, _seconds, size = await real_export(sessions, vault, company, Encoding.CP932, -1)
        print(f"PEAK bytes={size} baseline_mb={baseline:.1f} peak_mb={peak_rss_mb():.1f}")
    finally:
        await vault.close()
        await engine.dispose()


def _child(arguments: list[str], environment: dict[str, str] | None = None) -> dict[str, str]:
    output = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.bulk", *arguments],
        check=True,
        capture_output=True,
        text=True,
        env=environment,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("PEAK "))
    return dict(part.split("=") for part in line.split()[1:])


def measure_peak(rows: int) -> tuple[float, float]:
    """(peak RSS MB, baseline MB) of a child process streaming ``rows`` synthetic rows."""
    values = _child(["--peak-child", str(rows)])
    return float(values["peak_mb"]), float(values["baseline_mb"])


def measure_service_peak(settings: Settings, tenant_id: uuid.UUID) -> float:
    """Peak RSS (MB) of a child process streaming the tenant's export through the real service."""
    environment = {
        **os.environ,
        "MNV_DATA_DIR": settings.data_dir,
        "MNV_DATABASE_URL": settings.effective_database_url,
        "MNV_KEYSTORE_URL": settings.effective_keystore_url,
        "MNV_MASTER_KEY": settings.master_key or "",
        "MNV_LOG_LEVEL": "WARNING",
    }
    return float(_child(["--service-child", str(tenant_id)], environment)["peak_mb"])


# One database ----------------------------------------------------------------------------------------------------


async def measure(name: str, settings: Settings, people: int, postgres: bool) -> Figures:
    await asyncio.to_thread(migrate_all, settings)
    engine = make_engine(settings.effective_database_url, pool_size=4)
    vault = Vault.from_settings(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    figures = Figures(name, people)
    try:
        population = families(people)
        csv_data = await asyncio.to_thread(import_file, population, Encoding.CP932)
        xlsx_data = await asyncio.to_thread(import_file, population, Encoding.XLSX)
        companies = [await make_company(sessions, vault, f"b{secrets.token_hex(3)}") for _ in range(3)]
        a, b, c = companies
        with Clock() as filled:
            await fill(sessions, vault, a, population)
            await fill(sessions, vault, b, population)
        print(f"  filled 2 × {people:,} people in {filled.seconds:.0f} s", flush=True)
        if postgres:
            floors = await postgres_floor(settings, c.tenant_id, csv_data)
        else:
            floors = await asyncio.to_thread(sqlite_floor, settings, c.tenant_id, csv_data)
        figures.record(import_floor=floors[0], export_floor=floors[1])
        print(f"  floor: import {figures.import_floor:.2f} s, export {figures.export_floor:.2f} s", flush=True)
        checked, committed = await real_import(sessions, vault, a, csv_data, people)
        figures.record(check=checked, imported=committed)
        print(f"  CSV: check {figures.check:.2f} s, import {figures.imported:.2f} s", flush=True)
        checked, committed = await real_import(sessions, vault, b, xlsx_data, people)
        figures.record(xlsx_check=checked, xlsx_imported=committed)
        print(f"  xlsx: check {figures.xlsx_check:.2f} s, import {figures.xlsx_imported:.2f} s", flush=True)
        planned, streamed, _ = await real_export(sessions, vault, a, Encoding.CP932, people)
        figures.record(export_plan=planned, exported=streamed)
        planned, streamed, _ = await real_export(sessions, vault, b, Encoding.XLSX, people)
        figures.record(xlsx_export_plan=planned, xlsx_exported=streamed)
        print(f"  export: CSV {figures.exported:.2f} s, xlsx {figures.xlsx_exported:.2f} s", flush=True)
        figures.service_peak = await asyncio.to_thread(measure_service_peak, settings, a.tenant_id)
        print(f"  export service in a child process: peak RSS {figures.service_peak:.0f} MB", flush=True)
    finally:
        await vault.close()
        await engine.dispose()
    return figures


def sqlite_settings(directory: Path) -> Settings:
    return load_settings(
        {}, data_dir=str(directory), master_key=base64.b64encode(secrets.token_bytes(32)).decode(), log_level="WARNING"
    )


async def main(people: int, database: str, peak_rows: int) -> None:
    started = time.perf_counter()
    print(f"MyNumber Vault bulk bench: {os.cpu_count()} cores, {people:,} people", flush=True)
    results: list[Figures] = []
    if database in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="mnv-bulk-") as directory:
            print("SQLite (WAL, main + key store files)", flush=True)
            results.append(await measure("SQLite", sqlite_settings(Path(directory)), people, postgres=False))
    if database in ("postgres", "both"):
        admin_url = os.environ.get("MNV_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
        names = await postgres_databases(admin_url)
        if names is None:
            print(f"PostgreSQL: not reachable at {make_url(admin_url).render_as_string()}, skipped")
        else:
            main_url = make_url(admin_url).set(database=names[0])
            settings = load_settings(
                {},
                data_dir=tempfile.gettempdir(),
                # The app's role (owns nothing, held by row-level security) as in production; the admin migrates.
                database_url=main_url.set(username=APPLICATION_ROLE, password=None).render_as_string(
                    hide_password=False
                ),
                migration_database_url=main_url.render_as_string(hide_password=False),
                keystore_url=make_url(admin_url).set(database=names[1]).render_as_string(hide_password=False),
                master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
                log_level="WARNING",
            )
            try:
                print("PostgreSQL (main + key store databases)", flush=True)
                results.append(await measure("PostgreSQL", settings, people, postgres=True))
            finally:
                await drop_databases(admin_url, names)
    peak, baseline = await asyncio.to_thread(measure_peak, peak_rows)
    print()
    for figures in results:
        print(figures.table())
    print(
        f"peak RSS of a streamed {peak_rows:,}-row cp932 export (child process, synthetic source): {peak:.0f} MB"
        f" (baseline {baseline:.0f} MB)"
    )
    print(f"done in {time.perf_counter() - started:.0f} s")
    if not results:
        return
    worst = {
        "import_ratio": max(f.import_ratio for f in results),
        "export_ratio": max(f.export_ratio for f in results),
        "import_s": max(f.imported for f in results),
        "export_s": max(f.exported for f in results),
        "xlsx_import_s": max(f.xlsx_imported for f in results),
        "xlsx_export_s": max(f.xlsx_exported for f in results),
    }
    print(
        f"RESULT import_ratio={worst['import_ratio']:.2f} export_ratio={worst['export_ratio']:.2f}"
        f" import_s={worst['import_s']:.2f} export_s={worst['export_s']:.2f}"
        f" xlsx_import_s={worst['xlsx_import_s']:.2f} xlsx_export_s={worst['xlsx_export_s']:.2f} peak_mb={peak:.0f}"
    )


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=DEFAULT_PEOPLE, help="people (and numbers) per tenant")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--peak-rows", type=int, default=PEAK_ROWS, help="rows of the streamed export measured")
    parser.add_argument("--peak-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--service-child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_child:
        peak_child(args.peak_child)
        return
    if args.service_child:
        asyncio.run(service_child(uuid.UUID(args.service_child)))
        return
    asyncio.run(main(args.people, args.database, args.peak_rows))


if __name__ == "__main__":
    run()
