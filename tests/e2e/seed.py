"""Seeding the live server's database for browser tests: each test gets a tenant of its own, built with the models
and services the pages use (numbers go through ``tenants.services._records``, never straight into a table).

Everything here runs inside ``live_server.run_async``; the vault is opened from the server's settings for the
duration of one seeding coroutine and closed after it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor
from app.auth.models import Account, Role
from app.auth.passwords import hasher_from_settings
from app.config import Settings
from app.vault import Vault
from selfservice.payees import issue_link
from tenants.models import CollectionStatus, Department, Person, Tenant
from tenants.services._records import Channel, confirm_by_admin, confirm_by_self, decline, register_number
from tests.e2e.conftest import LiveServer
from tests.support.people import make_department, make_employee, make_payee, valid_my_number
from tests.support.world import make_persona, make_tenant

T = TypeVar("T")
PASSWORD = "e2e-browser-password-2026"  # test data only
ADMIN = Actor(user_id=None, login_id="e2e-seed", name="E2E 準備", role="管理者", organisation="e2e")


def unique_code(prefix: str) -> str:
    """A tenant code no other test (or earlier run on the same server) uses: ``prefix-<8 hex>``."""
    return f"{prefix}-{secrets.token_hex(4)}"


def fresh_numbers(count: int) -> list[str]:
    """Distinct valid My Numbers (check digit right, not one repeated digit)."""
    numbers: list[str] = []
    while len(numbers) < count:
        number = valid_my_number()
        if number not in numbers:
            numbers.append(number)
    return numbers


def with_wrong_check_digit(number: str) -> str:
    """The same 12 digits with the last one off by one: fails only the check-digit test."""
    return number[:11] + str((int(number[11]) + 1) % 10)


def seed(live_server: LiveServer, work: Callable[[AsyncSession, Vault, Settings], Awaitable[T]]) -> T:
    """Run ``work(session, vault, settings)`` on the server's database with a vault of its own; commit; return."""
    settings = live_server.settings

    async def with_vault(session: AsyncSession) -> T:
        vault = Vault.from_settings(settings)
        try:
            return await work(session, vault, settings)
        finally:
            await vault.close()

    return live_server.run_async(with_vault)


@dataclass(frozen=True)
class Login:
    """How a seeded account signs in (``totp_secret`` for staff; compute codes with pyotp)."""

    tenant_code: str
    login_id: str
    password: str = PASSWORD
    totp_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SeededEmployee:
    login: Login
    name: str


@dataclass(frozen=True)
class SeededPerson:
    name: str
    number: str = field(default="", repr=False)
    status: CollectionStatus = CollectionStatus.NOT_REGISTERED


@dataclass(frozen=True)
class SeededCompany:
    login: Login
    people: list[SeededPerson]

    def numbered(self) -> list[SeededPerson]:
        return [p for p in self.people if p.number]


@dataclass(frozen=True)
class SeededPayeeLink:
    tenant_name: str
    payee_name: str
    url: str = field(repr=False)


def seed_employee(live_server: LiveServer) -> SeededEmployee:
    """A company with one employee (no number yet) who has an EMPLOYEE account with a known password."""

    async def work(session: AsyncSession, vault: Vault, settings: Settings) -> SeededEmployee:
        tenant = await make_tenant(session, vault, unique_code("e2e-emp"), "イーツーイー商事株式会社")
        employee = await make_employee(session, tenant.id, "001", "山田 花子", kana="ヤマダ ハナコ")
        account = Account(
            tenant_id=tenant.id,
            login_id="emp001",
            name=employee.name,
            role=Role.EMPLOYEE,
            person_id=employee.id,
            password_hash=hasher_from_settings(settings).hash(PASSWORD),
            must_change_password=False,
        )
        session.add(account)
        await session.flush()
        return SeededEmployee(login=Login(tenant.code, account.login_id), name=employee.name)

    return seed(live_server, work)


async def _employee_with(
    session: AsyncSession, vault: Vault, tenant: Tenant, department: Department, code: str, name: str, outcome: str
) -> SeededPerson:
    """An employee brought to ``outcome`` (none, registered, self_confirmed, admin_confirmed, declined)."""
    person = await make_employee(session, tenant.id, code, name, department=department)
    if outcome == "declined":
        await decline(session, actor=ADMIN, person=person, reason="本人の同意が得られないため", function="e2e")
        return SeededPerson(name, status=person.status)
    if outcome == "none":
        return SeededPerson(name, status=person.status)
    [number] = fresh_numbers(1)
    await register_number(session, vault, actor=ADMIN, person=person, number=number, channel=Channel.SELF)
    if outcome in ("self_confirmed", "admin_confirmed"):
        await confirm_by_self(session, actor=ADMIN, person=person, function="e2e")
    if outcome == "admin_confirmed":
        await confirm_by_admin(session, actor=ADMIN, person=person)
    await session.flush()
    return SeededPerson(name, number=number, status=person.status)


PEOPLE = (
    ("101", "001", "佐藤 一郎", "admin_confirmed"),
    ("101", "002", "鈴木 次郎", "self_confirmed"),
    ("101", "003", "高橋 三郎", "registered"),
    ("102", "004", "田中 四郎", "declined"),
    ("102", "005", "伊藤 五郎", "none"),
)


def seed_company_with_admin(live_server: LiveServer) -> SeededCompany:
    """A company with an admin enrolled in TOTP, two departments and employees in several collection states."""

    async def work(session: AsyncSession, vault: Vault, settings: Settings) -> SeededCompany:
        tenant = await make_tenant(session, vault, unique_code("e2e-adm"), "イーツーイー管理株式会社")
        admin = await make_persona(session, settings, vault, tenant, "admin", Role.ADMIN, name="岡 昌平")
        departments = {
            "101": await make_department(session, tenant.id, "101", "総務課"),
            "102": await make_department(session, tenant.id, "102", "営業部"),
        }
        people = [
            await _employee_with(session, vault, tenant, departments[dept], code, name, outcome)
            for dept, code, name, outcome in PEOPLE
        ]
        login = Login(tenant.code, admin.account.login_id, admin.password, admin.totp_secret)
        return SeededCompany(login=login, people=people)

    return seed(live_server, work)


def seed_payee_link(live_server: LiveServer) -> SeededPayeeLink:
    """A company with an individual payee and a fresh one-time link for them (the URL is known only now)."""

    async def work(session: AsyncSession, vault: Vault, settings: Settings) -> SeededPayeeLink:
        tenant = await make_tenant(session, vault, unique_code("e2e-pay"), "イーツーイー出版株式会社")
        payee: Person = await make_payee(session, tenant.id, "講師 佐々木 花子")
        issued = await issue_link(session, settings, actor=ADMIN, tenant=tenant, person=payee)
        return SeededPayeeLink(tenant_name=tenant.name, payee_name=payee.name, url=issued.url)

    return seed(live_server, work)
