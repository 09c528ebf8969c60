"""Pages at tenant sizes, served for real: alone and under a bounded load, with /healthz as the floor.

Run: ``.venv/bin/python -m bench.pages [--people 1000 10000 100000] [--database sqlite|postgres|both]
[--duration S] [--concurrency C] [--quick]``.

For each database (SQLite in a temp directory; PostgreSQL at ``MNV_TEST_POSTGRES_URL``, own databases created and
dropped) it fills one tenant per size with that many employees (0–3 dependants each, 1.5 on average; 20
departments; a realistic mix of statuses; 1 % payees) through the bulk path (``tenants.services.bulk``), serves the
app with ``mnvault serve`` (uvicorn, one worker, production settings: Argon2id m=64 MiB t=2) on a free loopback
port, signs in as each tenant's admin (password, then TOTP) and measures, per page: the median of sequential
requests alone, then ``C`` clients for ``S`` seconds (req/s, p50, p99, errors). Pages: the masked list (default,
by department, by status, name search, 社員コード descending, and a deep page reached through the page's own next
links), the admin home, the log, and ``/healthz``. Then 50 employees register at once on the largest tenant (sign
in → notice → number → confirm, Argon2 at the production cost) while ``/healthz`` is asked every 20 ms by a process
of its own with a plain blocking client (the server's answer time; a probe on the bench's own event loop, shared
with the 50 clients and delayed by them, is printed beside it).

The measured requests go through a lean keep-alive HTTP/1.1 client of the bench's own (``Connection``: one
connection per client, gzip asked for and left compressed), so the bench's CPU, which shares the 2 cores with the
server, is not what is measured; httpx, used before, spent about a millisecond a request and capped ``/healthz`` near
470 req/s. Sign-in and the registration flows still use httpx.
Clients come through a trusted proxy address with their own ``X-Forwarded-For``, so the per-address sign-in limit
applies as in production. The server logs at WARNING. A full run (both databases, 1k/10k/100k) takes 1–1.5 hours on
this 2-core machine when it is busy (about half of it filling 250,000 people per database through the bulk path, the
rest waiting on slow pages); ``--quick`` (1,000 and 5,000 people, SQLite, 3 s loads) takes 5–8 minutes.

The last line: ``RESULT list_growth=<largest/smallest> list_ms_100k=<ms> list_rps_share=<list rps / healthz rps>
home_ms_100k=<ms> healthz_p99_during_signins_ms=<ms>`` (the "100k" figures are the largest size of the run; with
both databases, the worse of the two).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import html
import http.client
import multiprocessing
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor
from app.auth.models import Account, Role
from app.auth.passwords import hasher_from_settings
from app.auth.services import TOTP_PURPOSE
from app.auth.totp import new_totp_secret
from app.bootstrap import migrate_all
from app.config import Settings, load_settings
from app.db import make_engine, utcnow
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.vault import Vault
from app.vault.numbers import my_number_check_digit
from bench.vault import DEFAULT_POSTGRES, drop_databases, postgres_databases
from tenants.models import Department, Person, PersonKind
from tenants.services._records import Channel
from tenants.services.bulk import DepartmentRecord, PersonRecord, write_people

PASSWORD = "bench-password-2026"
PROXY = "127.0.0.1"  # the bench's clients come through this trusted address, each with its own X-Forwarded-For
REGISTRANTS = 50
FILL_CHUNK = 10_000  # employees per transaction while filling
SURNAMES = [
    ("山田", "ヤマダ"), ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
    ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"),
    ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山口", "ヤマグチ"), ("松本", "マツモト"), ("井上", "イノウエ"),
    ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"), ("山崎", "ヤマザキ"),
    ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"), ("石川", "イシカワ"),
    ("山下", "ヤマシタ"), ("中島", "ナカジマ"), ("石井", "イシイ"), ("小川", "オガワ"), ("前田", "マエダ"),
]  # fmt: skip
GIVEN = [
    ("太郎", "タロウ"), ("花子", "ハナコ"), ("一郎", "イチロウ"), ("健太", "ケンタ"), ("美咲", "ミサキ"),
    ("翔太", "ショウタ"), ("陽子", "ヨウコ"), ("大輔", "ダイスケ"), ("由美", "ユミ"), ("直樹", "ナオキ"),
    ("康則", "ヤスノリ"), ("真奈美", "マナミ"), ("順子", "ジュンコ"), ("拓也", "タクヤ"), ("優子", "ユウコ"),
]  # fmt: skip
# How far each family's numbers have come (weights in %): the same path for the employee and their dependants.
PATHS: list[tuple[dict[str, object], int]] = [
    ({}, 20),
    ({"channel": Channel.PROXY}, 15),
    ({"channel": Channel.SELF}, 15),
    ({"channel": Channel.SELF, "self_confirmed": True}, 25),
    ({"channel": Channel.SELF, "self_confirmed": True, "admin_confirmed": True}, 20),
    ({"decline_reason": "本人の意思により提供しない"}, 5),
]
DEPARTMENTS = [DepartmentRecord(code=f"{100 + n}", name=f"第{n + 1}営業部") for n in range(20)]


# Filling ------------------------------------------------------------------------------------------------------


@dataclass
class Numbers:
    """Distinct valid My Numbers for one tenant."""

    prefix: int
    issued: int = 0

    def next(self) -> str:
        self.issued += 1
        base = f"{self.prefix * 10**8 + self.issued:011d}"
        return base + str(my_number_check_digit(base))


def people_records(employees: int, first: int, rng: random.Random, numbers: Numbers) -> Iterator[PersonRecord]:
    """Employees ``first``… each followed by 0–3 dependants, then 1 % payees; statuses by ``PATHS``."""
    paths = [path for path, weight in PATHS for _ in range(weight)]
    for n in range(first, first + employees):
        path = rng.choice(paths)
        surname, surname_kana = rng.choice(SURNAMES)
        given, given_kana = rng.choice(GIVEN)
        code = f"{n:07d}"

        def fields(path: dict[str, object] = path) -> dict[str, object]:
            return {**path, "number": numbers.next()} if "channel" in path else dict(path)

        yield PersonRecord(
            kind=PersonKind.EMPLOYEE,
            employee_code=code,
            name=f"{surname} {given}",
            kana=f"{surname_kana} {given_kana}",
            birth_date=dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(14_000)),
            department_code="" if rng.random() < 0.02 else rng.choice(DEPARTMENTS).code,
            hire_date=dt.date(2000, 4, 1) + dt.timedelta(days=rng.randrange(9_000)),
            **fields(),  # type: ignore[arg-type]
        )
        for d in range(rng.randrange(4)):
            other, other_kana = rng.choice(GIVEN)
            yield PersonRecord(
                kind=PersonKind.DEPENDANT,
                employee_code=code,
                name=f"{surname} {other}",
                kana=f"{surname_kana} {other_kana}",
                relationship="配偶者" if d == 0 else "子",
                birth_date=dt.date(1970, 1, 1) + dt.timedelta(days=rng.randrange(18_000)),
                **fields(),  # type: ignore[arg-type]
            )
    for n in range(max(1, employees // 100)):
        yield PersonRecord(
            kind=PersonKind.PAYEE,
            name=f"講師 {rng.choice(SURNAMES)[0]} {n}",
            payee_type="individual",
            payment_kind="講演料",
            number=numbers.next() if n % 2 else "",
        )


@dataclass
class Staff:
    """A tenant's admin as the bench signs in."""

    tenant_code: str
    login_id: str
    totp_secret: str
    tenant_id: uuid.UUID
    actor: Actor


async def make_tenant(sessions: async_sessionmaker[AsyncSession], settings: Settings, vault: Vault, code: str) -> Staff:
    """A company with its keys and an admin (production Argon2 cost, TOTP)."""
    async with sessions() as session:
        tenant = Tenant(code=code, name=f"ベンチ{code}株式会社", kind=TenantKind.COMPANY, status=TenantStatus.ACTIVE)
        session.add(tenant)
        await session.flush()
        await vault.create_tenant_keys(session, tenant.id)
        hasher = hasher_from_settings(settings)
        password_hash = await asyncio.to_thread(hasher.hash, PASSWORD)
        admin = Account(tenant_id=tenant.id, login_id="admin", name="ベンチ 管理者", role=Role.ADMIN,
                        password_hash=password_hash, must_change_password=False)  # fmt: skip
        session.add(admin)
        await session.flush()
        secret = new_totp_secret()
        admin.totp_secret_sealed = await vault.seal_secret(session, tenant.id, admin.id, TOTP_PURPOSE, secret.encode())
        admin.totp_enabled_at = utcnow()
        await session.commit()
        actor = Actor(user_id=admin.id, login_id="admin", name=admin.name, role="管理者", organisation=tenant.name)
        return Staff(code, "admin", secret, tenant.id, actor)


async def fill(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, staff: Staff, employees: int, seed: int
) -> float:
    """Fill the tenant through the bulk path, ``FILL_CHUNK`` employees a transaction; returns people per second."""
    rng = random.Random(seed)
    numbers = Numbers(prefix=seed % 1000)
    started, written = time.perf_counter(), 0
    for first in range(0, employees, FILL_CHUNK):
        count = min(FILL_CHUNK, employees - first)
        async with sessions() as session:
            report = await write_people(
                session,
                vault,
                tenant_id=staff.tenant_id,
                actor=staff.actor,
                departments=DEPARTMENTS if first == 0 else (),
                people=people_records(count, first + 1, rng, numbers),
            )
            await vault.commit(session)
        written += report.people
        rate = written / (time.perf_counter() - started)
        print(f"    {staff.tenant_code}: {written:,} people ({rate:,.0f}/s)", flush=True)
    return written / (time.perf_counter() - started)


async def add_registrants(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, vault: Vault, staff: Staff, count: int = REGISTRANTS
) -> list[str]:
    """``count`` new employees with accounts (production Argon2 cost), not yet registered; their login ids."""
    records = [
        PersonRecord(kind=PersonKind.EMPLOYEE, employee_code=f"R{n:04d}", name=f"新人 {n}", kana="シンジン")
        for n in range(count)
    ]
    hasher = hasher_from_settings(settings)
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        hashes = list(pool.map(lambda _: hasher.hash(PASSWORD), range(count)))
    async with sessions() as session:
        await write_people(session, vault, tenant_id=staff.tenant_id, actor=staff.actor, people=records)
        statement = select(Person.id).where(Person.tenant_id == staff.tenant_id, Person.employee_code.like("R%"))
        people = (await session.execute(statement.order_by(Person.employee_code))).scalars()
        for n, (person_id, password_hash) in enumerate(zip(people, hashes, strict=True)):
            account = Account(tenant_id=staff.tenant_id, login_id=f"r{n:04d}", name=f"新人 {n}", role=Role.EMPLOYEE,
                              person_id=person_id, password_hash=password_hash, must_change_password=False)  # fmt: skip
            session.add(account)
        await vault.commit(session)
    return [f"r{n:04d}" for n in range(count)]


# Serving --------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(settings: Settings, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "MNV_DATA_DIR": settings.data_dir,
        "MNV_DATABASE_URL": settings.effective_database_url,
        "MNV_MIGRATION_DATABASE_URL": settings.migration_database_url,
        "MNV_KEYSTORE_URL": settings.effective_keystore_url,
        "MNV_MASTER_KEY": settings.master_key,
        "MNV_PORT": str(port),
        "MNV_LOG_LEVEL": "WARNING",
        "MNV_TRUSTED_PROXIES": PROXY,
    }


def spawn_server(settings: Settings, port: int, log_path: Path, workers: int = 1) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    with log_path.open("ab") as log:
        return subprocess.Popen(command, env=server_environment(settings, port), stdout=log, stderr=log)  # noqa: S603


async def start_server(settings: Settings, log_path: Path, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    """``mnvault serve`` with ``workers`` worker processes on a free loopback port, once /healthz answers."""
    port = free_port()
    process = await asyncio.to_thread(spawn_server, settings, port, log_path, workers)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        for _ in range(300):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return process, base
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                break
            await asyncio.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not start; see {log_path}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def client_for(base: str, address: str, concurrency: int = 1) -> httpx.AsyncClient:
    """A browser-like client behind the proxy, as ``address``."""
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
    return httpx.AsyncClient(
        base_url=base, timeout=180, limits=limits, headers={"X-Forwarded-For": address}, follow_redirects=False
    )


async def post(client: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    """A form post with the CSRF token the server set (header form)."""
    if not client.cookies.get("mnv_csrf"):
        await client.get("/login")
    return await client.post(path, data=data, headers={"X-CSRFToken": client.cookies.get("mnv_csrf") or ""})


async def sign_in_admin(client: httpx.AsyncClient, staff: Staff) -> None:
    response = await post(
        client, "/login", {"tenant_code": staff.tenant_code, "login_id": staff.login_id, "password": PASSWORD}
    )
    assert response.headers.get("location") == "/login/totp", (response.status_code, response.text[:300])
    response = await post(client, "/login/totp", {"code": pyotp.TOTP(staff.totp_secret).now()})
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    assert (await client.get("/admin")).status_code == 200


# Measuring ------------------------------------------------------------------------------------------------------


@dataclass
class Load:
    """What ``C`` clients got from one page in a fixed time."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[int] = field(default_factory=Counter)
    elapsed: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class PageResult:
    alone_ms: float
    load: Load


def ascii_url(url: str) -> str:
    """``url`` with its non-ASCII characters percent-encoded in UTF-8, as a browser sends them."""
    return "".join(c if c.isascii() else urllib.parse.quote(c) for c in url)


class Connection:
    """One keep-alive HTTP/1.1 connection sending the signed-in client's GETs, as lean as a load generator can be.

    httpx costs about a millisecond of the bench's CPU per request; on this 2-core machine the clients and the
    server share the cores, so a heavy client would measure itself. This one writes the request bytes and reads the
    answer (Content-Length or chunked; gzip asked for and left compressed, as a browser's transfer would be).
    """

    def __init__(self, base: str, client: httpx.AsyncClient) -> None:
        parsed = urllib.parse.urlsplit(base)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        headers = {**{k: v for k, v in client.headers.items() if k.lower() == "x-forwarded-for"}, "Cookie": cookie}
        self.headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items() if value)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, url: str) -> int:
        """The status of ``GET url`` (the body read and dropped); 0 when the connection failed."""
        try:
            if self.writer is None or self.reader is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            request = (
                f"GET {ascii_url(url)} HTTP/1.1\r\nHost: {self.host}\r\nAccept-Encoding: gzip\r\n{self.headers}\r\n"
            )
            self.writer.write(request.encode())
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            headers = head.lower()
            length = re.search(rb"\r\ncontent-length: *(\d+)", headers)
            if length:
                await self.reader.readexactly(int(length.group(1)))
            elif b"transfer-encoding: chunked" in headers:
                while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                    await self.reader.readexactly(size + 2)
                await self.reader.readuntil(b"\r\n")
            if b"\r\nconnection: close" in headers:
                await self.close()
            return status
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            await self.close()
            return 0

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def alone(base: str, client: httpx.AsyncClient, url: str, repeat: int) -> float:
    """Median milliseconds of ``repeat`` sequential requests (after one warm-up)."""
    connection = Connection(base, client)
    try:
        await connection.get(url)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            status = await connection.get(url)
            times.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"{url}: HTTP {status}")
    finally:
        await connection.close()
    return statistics.median(times) * 1000


async def under_load(base: str, client: httpx.AsyncClient, url: str, concurrency: int, duration: float) -> Load:
    """``concurrency`` clients, each on its own keep-alive connection, asking for ``url`` until ``duration`` is over
    (those under way then finish)."""
    load = Load()
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        connection = Connection(base, client)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status = await connection.get(url)
                if status == 200:
                    load.latencies.append(time.perf_counter() - started)
                else:
                    load.errors[status] += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    load.elapsed = time.perf_counter() - started
    return load


def next_link(page: str) -> str | None:
    """The href of the page's 次へ link (rel="next" or the link text), unescaped."""
    for anchor in re.finditer(r"<a\b([^>]*)>(.*?)</a>", page, re.S):
        attributes, text = anchor.groups()
        href = re.search(r'href="([^"]*)"', attributes)
        if href and ('rel="next"' in attributes or "次へ" in text):
            return html.unescape(href.group(1))
    return None


async def deep_url(client: httpx.AsyncClient, start: str, hops: int) -> str:
    """The page reached from ``start`` by following its next links ``hops`` times (or as far as they go)."""
    url = start
    for _ in range(hops):
        found = next_link((await client.get(url)).text)
        if found is None:
            break
        url = found if found.startswith("/") else f"/admin/numbers{found}" if found.startswith("?") else found
    return url


async def page_urls(settings: Settings, client: httpx.AsyncClient, staff: Staff, hops: int) -> dict[str, str]:
    """The pages measured, the deep one found by following next links from the first."""
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            statement = select(Department.id).where(Department.tenant_id == staff.tenant_id, Department.code == "105")
            department = (await connection.execute(statement)).scalar_one()
    finally:
        await engine.dispose()
    return {
        "list": "/admin/numbers",
        "list by department": f"/admin/numbers?department={department}",
        "list by status": "/admin/numbers?status=self_confirmed",
        "list name search": "/admin/numbers?name=山田",
        "list code desc": "/admin/numbers?sort=code&order=desc",
        f"list deep (+{hops} next)": await deep_url(client, "/admin/numbers", hops),
        "home": "/admin",
        "log": "/admin/log",
        "healthz": "/healthz",
    }


async def measure_pages(
    base: str, client: httpx.AsyncClient, urls: dict[str, str], options: Options
) -> dict[str, PageResult]:
    """Each page alone, then under load, printed as it goes."""
    results: dict[str, PageResult] = {}
    for name, url in urls.items():
        ms = await alone(base, client, url, options.repeat)
        load = await under_load(base, client, url, options.concurrency, options.duration)
        results[name] = PageResult(ms, load)
        errors = ", ".join(f"{status or 'conn'}×{count}" for status, count in load.errors.items()) or "-"
        print(f"    {name:<24} alone {ms:9.1f} ms | {load.rps:8.1f} req/s  p50 {load.percentile(0.5):8.1f}"
              f"  p99 {load.percentile(0.99):8.1f} ms  errors {errors}", flush=True)  # fmt: skip
    return results


@dataclass
class Burst:
    flows_per_second: float
    completed: int
    sign_in_p50_ms: float
    sign_in_p99_ms: float
    healthz_p99_ms: float  # the prober in a process of its own: the server's answer time
    healthz_max_ms: float
    in_loop_p99_ms: float  # a prober on the flows' own event loop (its delays included), for comparison


class FlowFailed(Exception):
    """A registration stopped at ``step`` with an unexpected answer."""

    def __init__(self, step: str, status: int) -> None:
        super().__init__(f"{step}: HTTP {status}")
        self.step = step


def expect(step: str, response: httpx.Response, *, location: str | None = None, status: int = 302) -> None:
    if response.status_code != status or (
        location is not None and location not in response.headers.get("location", "")
    ):
        raise FlowFailed(step, response.status_code)


async def register(base: str, index: int, tenant_code: str, login_id: str, number: str) -> float:
    """One employee: sign in, read the notice, give the number, confirm it; returns the sign-in's seconds."""
    async with client_for(base, f"10.2.{index // 200}.{index % 200 + 1}") as client:
        await client.get("/login")
        started = time.perf_counter()
        credentials = {"tenant_code": tenant_code, "login_id": login_id, "password": PASSWORD}
        response = await post(client, "/login", credentials)
        signed_in = time.perf_counter() - started
        expect("sign-in", response)
        expect("notice", await client.get("/me/notice"), status=200)
        expect("notice read", await post(client, "/me/notice", {}), location="/me")
        expect("number form", await client.get("/me/number"), status=200)
        response = await post(client, "/me/number", {"number": number})
        expect("number", response, location="/confirm")
        confirm = response.headers["location"]
        page = await client.get(confirm)
        expect("confirmation page", page, status=200)
        token = re.search(r'name="confirmation"[^>]*value="([^"]*)"', page.text)
        if token is None:
            raise FlowFailed("confirmation token", page.status_code)
        expect("confirm", await post(client, confirm, {"confirmation": token.group(1)}), location="/me")
        return signed_in


def server_errors(log_path: Path, limit: int = 3) -> list[str]:
    """The last few distinct error lines the server logged (they never hold a number)."""
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if "rror" in line]
    distinct = list(dict.fromkeys(line[:240] for line in reversed(lines)))
    return distinct[:limit]


def probe_healthz(base: str, stop: Any, answer: Any, every: float = 0.02) -> None:
    """Ask ``/healthz`` every ``every`` seconds until ``stop`` is set, then send the answer times (seconds) to
    ``answer`` (a pipe's end).

    Runs in a process of its own (:func:`registration_burst`) with a plain blocking client, so what it measures is
    the server's answer time, not how long the bench's own event loop, busy with 50 clients, took to notice it."""
    address = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=60)
    headers = {"X-Forwarded-For": "10.3.0.1"}
    times: list[float] = []
    while not stop.is_set():
        started = time.perf_counter()
        connection.request("GET", "/healthz", headers=headers)
        connection.getresponse().read()
        times.append(time.perf_counter() - started)
        time.sleep(every)
    connection.close()
    answer.send(times)


async def registration_burst(base: str, staff: Staff, login_ids: list[str], numbers: Numbers) -> Burst:
    """All registrants at once while /healthz is asked every 20 ms: by a process of its own (the figure) and, for
    comparison, on the flows' event loop (that figure includes the bench's own scheduling delays)."""
    in_loop: list[float] = []
    done = asyncio.Event()

    async def probe_in_loop() -> None:
        async with client_for(base, "10.3.0.2") as client:
            while not done.is_set():
                started = time.perf_counter()
                await client.get("/healthz")
                in_loop.append(time.perf_counter() - started)
                await asyncio.sleep(0.02)

    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    receiving, sending = context.Pipe(duplex=False)
    prober_process = context.Process(target=probe_healthz, args=(base, stop, sending), daemon=True)
    prober_process.start()
    await asyncio.sleep(1.0)  # the child imported and asking before the burst starts
    prober = asyncio.create_task(probe_in_loop())
    started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(register(base, i, staff.tenant_code, login, numbers.next()) for i, login in enumerate(login_ids)),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - started
    done.set()
    stop.set()
    await prober
    probes = sorted(await asyncio.to_thread(receiving.recv))
    await asyncio.to_thread(prober_process.join)
    sign_ins = sorted(o for o in outcomes if isinstance(o, float))
    failures = Counter(str(o) for o in outcomes if not isinstance(o, float))
    if failures:
        print(f"    failed registrations: {dict(failures)}")
    in_loop.sort()
    return Burst(
        flows_per_second=len(sign_ins) / elapsed,
        completed=len(sign_ins),
        sign_in_p50_ms=statistics.median(sign_ins) * 1000 if sign_ins else float("nan"),
        sign_in_p99_ms=sign_ins[min(len(sign_ins) - 1, int(0.99 * len(sign_ins)))] * 1000 if sign_ins else 0.0,
        healthz_p99_ms=_p99(probes) * 1000,
        healthz_max_ms=probes[-1] * 1000,
        in_loop_p99_ms=_p99(in_loop) * 1000,
    )


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


# One database ---------------------------------------------------------------------------------------------------


@dataclass
class DatabaseRun:
    name: str
    fills: dict[int, float]  # people per second through the bulk path
    pages: dict[int, dict[str, PageResult]]
    burst: Burst


@dataclass(frozen=True)
class Options:
    sizes: list[int]
    duration: float
    concurrency: int
    repeat: int
    hops: int


async def run_database(name: str, settings: Settings, options: Options) -> DatabaseRun:
    """Fill, serve, measure every size, then the registration burst on the largest."""
    print(f"\n== {name} ==", flush=True)
    await asyncio.to_thread(migrate_all, settings)
    engine = make_engine(settings.effective_database_url, pool_size=4)
    vault = Vault.from_settings(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    staff: dict[int, Staff] = {}
    fills: dict[int, float] = {}
    try:
        for index, size in enumerate(options.sizes):
            staff[size] = await make_tenant(sessions, settings, vault, f"t{size}")
            started = time.perf_counter()
            rate = fills[size] = await fill(sessions, vault, staff[size], size, seed=index + 1)
            print(f"  filled t{size} in {time.perf_counter() - started:,.0f} s ({rate:,.0f} people/s)", flush=True)
        largest = staff[options.sizes[-1]]
        registrants = await add_registrants(sessions, settings, vault, largest)
    finally:
        await engine.dispose()
        await vault.close()
    process, base = await start_server(settings, Path(settings.data_dir) / "server.log")
    try:
        pages: dict[int, dict[str, PageResult]] = {}
        for size in options.sizes:
            print(f"  t{size} ({options.concurrency} clients × {options.duration:g} s per page)", flush=True)
            async with client_for(base, f"10.1.0.{len(pages) + 1}", options.concurrency) as client:
                await sign_in_admin(client, staff[size])
                urls = await page_urls(settings, client, staff[size], options.hops)
                pages[size] = await measure_pages(base, client, urls, options)
        print(f"  {REGISTRANTS} employees registering at once on t{options.sizes[-1]}", flush=True)
        burst = await registration_burst(base, largest, registrants, Numbers(prefix=999))
        if burst.completed < REGISTRANTS:
            for line in await asyncio.to_thread(server_errors, Path(settings.data_dir) / "server.log"):
                print(f"    server: {line}")
        print(f"    {burst.completed} flows, {burst.flows_per_second:.1f} flows/s; sign-in p50 "
              f"{burst.sign_in_p50_ms:.0f} ms p99 {burst.sign_in_p99_ms:.0f} ms; /healthz p99 "
              f"{burst.healthz_p99_ms:.0f} ms max {burst.healthz_max_ms:.0f} ms (asked on the bench's own loop: p99 "
              f"{burst.in_loop_p99_ms:.0f} ms)", flush=True)  # fmt: skip
    finally:
        await asyncio.to_thread(stop_server, process)
    return DatabaseRun(name, fills, pages, burst)


def report(runs: list[DatabaseRun], options: Options) -> str:
    """Print the tables and growth ratios; return the RESULT line."""
    small, large = options.sizes[0], options.sizes[-1]
    for run in runs:
        print(f"\n{run.name}: ms alone (median of {options.repeat}) | req/s, p99 ms with {options.concurrency} "
              f"clients for {options.duration:g} s")  # fmt: skip
        header = "".join(f" | {f't{size}':>28}" for size in options.sizes)
        print(f"{'page':<24}{header} | {'growth':>7}")
        for page in run.pages[small]:
            cells = ""
            for size in options.sizes:
                result = run.pages[size][page]
                cells += f" | {result.alone_ms:8.1f} {result.load.rps:8.1f} {result.load.percentile(0.99):9.1f}"
            growth = run.pages[large][page].alone_ms / run.pages[small][page].alone_ms
            print(f"{page:<24}{cells} | {growth:6.2f}×")
        fills = ", ".join(f"t{size} {rate:,.0f}" for size, rate in run.fills.items())
        burst = run.burst
        print(f"fill through the bulk path (people/s): {fills}")
        print(f"{REGISTRANTS} registrations at once: {burst.flows_per_second:.1f} flows/s ({burst.completed} done), "
              f"sign-in p50 {burst.sign_in_p50_ms:.0f} ms p99 {burst.sign_in_p99_ms:.0f} ms, /healthz p99 "
              f"{burst.healthz_p99_ms:.0f} ms max {burst.healthz_max_ms:.0f} ms (on the bench's loop: p99 "
              f"{burst.in_loop_p99_ms:.0f} ms)")  # fmt: skip
    list_growth = max(r.pages[large]["list"].alone_ms / r.pages[small]["list"].alone_ms for r in runs)
    list_ms = max(r.pages[large]["list"].alone_ms for r in runs)
    share = min(r.pages[large]["list"].load.rps / r.pages[large]["healthz"].load.rps for r in runs)
    home_ms = max(r.pages[large]["home"].alone_ms for r in runs)
    healthz = max(r.burst.healthz_p99_ms for r in runs)
    return (
        f"RESULT list_growth={list_growth:.2f} list_ms_100k={list_ms:.1f} list_rps_share={share:.3f} "
        f"home_ms_100k={home_ms:.1f} healthz_p99_during_signins_ms={healthz:.1f}"
    )


def postgres_settings(admin_url: str, names: tuple[str, str], directory: Path, master_key: str) -> Settings:
    def url(database: str) -> str:
        return make_url(admin_url).set(database=database).render_as_string(hide_password=False)

    from bench.vault import APPLICATION_ROLE

    application = make_url(url(names[0])).set(username=APPLICATION_ROLE, password=None)
    return load_settings(
        {},
        data_dir=str(directory),
        database_url=application.render_as_string(hide_password=False),
        migration_database_url=url(names[0]),
        keystore_url=url(names[1]),
        master_key=master_key,
    )


async def main(databases: list[str], options: Options) -> None:
    started = time.perf_counter()
    print(f"MyNumber Vault pages bench: {os.cpu_count()} cores; sizes {options.sizes}; {databases}", flush=True)
    runs: list[DatabaseRun] = []
    master_key = base64.b64encode(secrets.token_bytes(32)).decode()
    with tempfile.TemporaryDirectory(prefix="mnv-pages-") as directory:
        if "sqlite" in databases:
            settings = load_settings({}, data_dir=str(Path(directory) / "sqlite"), master_key=master_key)
            runs.append(await run_database("SQLite (WAL, two files)", settings, options))
        if "postgres" in databases:
            admin_url = os.environ.get("MNV_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
            names = await postgres_databases(admin_url)
            if names is None:
                print(f"PostgreSQL: not reachable at {make_url(admin_url).render_as_string()}, skipped")
            else:
                try:
                    settings = postgres_settings(admin_url, names, Path(directory), master_key)
                    runs.append(await run_database("PostgreSQL (main + key store databases)", settings, options))
                finally:
                    await drop_databases(admin_url, names)
    if not runs:
        raise SystemExit("no database measured")
    result = report(runs, options)
    print(f"\ndone in {time.perf_counter() - started:,.0f} s")
    print(result)


def run() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", help="employees per tenant (default 1000 10000 100000)")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default=None)
    parser.add_argument("--duration", type=float, default=None, help="seconds of load per page (default 20)")
    parser.add_argument("--concurrency", type=int, default=20, help="clients under load (default 20)")
    parser.add_argument("--repeat", type=int, default=None, help="sequential requests per page alone (default 9)")
    parser.add_argument("--hops", type=int, default=None, help="next links followed for the deep page (default 20)")
    parser.add_argument("--quick", action="store_true", help="1,000 and 5,000 people, SQLite, 3 s loads")
    args = parser.parse_args()
    quick = args.quick
    options = Options(
        sizes=sorted(args.people or ([1_000, 5_000] if quick else [1_000, 10_000, 100_000])),
        duration=args.duration or (3.0 if quick else 20.0),
        concurrency=args.concurrency,
        repeat=args.repeat or (5 if quick else 9),
        hops=args.hops or (10 if quick else 20),
    )
    database = args.database or ("sqlite" if quick else "both")
    asyncio.run(main(["sqlite", "postgres"] if database == "both" else [database], options))


if __name__ == "__main__":
    run()
