"""Arranging an import's tests: a tenant's people with numbers, files in a layout, and what the database holds."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry
from app.auth.principal import Principal
from app.vault import Vault
from app.vault.models import VaultNumber
from exchange.layouts import Layout
from tenants.listing import recount, stored_counts
from tenants.models import Department, Person, Relationship
from tests.exchange.samples import number
from tests.support.people import give_number, make_dependant, make_employee, make_payee
from tests.support.principals import principal_of
from tests.support.world import World

N = [number(k) for k in range(40)]  # valid My Numbers, each starting with 0


def admin(world: World) -> Principal:
    return principal_of(world.admin)


@dataclass
class Arranged:
    """Tenant A's people (see ``arrange``) and tenant B's employee."""

    kawai: Person  # 001, number N[1]
    yamada: Person  # 002, no number
    sato: Person  # 003, no number, dependant 佐藤 太郎
    sato_child: Person
    suzuki: Person  # 004, number N[2]
    ito: Person  # 005, number N[9]
    payee: Person  # 税理士 山田 一, no number
    stranger: Person  # tenant B: B900


async def arrange(db: AsyncSession, vault: Vault, world: World) -> Arranged:
    """Tenant A: employees 001–005 (some with numbers, one with a dependant) and a payee; tenant B: B900."""
    tenant = world.tenant.id
    department = Department(tenant_id=tenant, code="101", name="総務部")
    db.add(department)
    await db.flush()
    kawai = await make_employee(
        db, tenant, "001", "河合 康則", kana="カワイ ヤスノリ", birth_date=dt.date(1970, 4, 1), department=department
    )
    yamada = await make_employee(db, tenant, "002", "山田 一郎", kana="ヤマダ イチロウ")
    sato = await make_employee(db, tenant, "003", "佐藤 花子", kana="サトウ ハナコ")
    sato_child = await make_dependant(db, sato, "佐藤 太郎", Relationship.CHILD)
    sato_child.kana = "サトウ タロウ"
    suzuki = await make_employee(db, tenant, "004", "鈴木 次郎", kana="スズキ ジロウ")
    ito = await make_employee(db, tenant, "005", "伊藤 五郎", kana="イトウ ゴロウ")
    payee = await make_payee(db, tenant, "税理士 山田 一")
    payee.kana = "ヤマダ ハジメ"
    stranger = await make_employee(db, world.other_tenant.id, "B900", "山本 太郎", kana="ヤマモト タロウ")
    await give_number(db, vault, kawai, N[1])
    await give_number(db, vault, suzuki, N[2])
    await give_number(db, vault, ito, N[9])
    await give_number(db, vault, stranger, N[30])
    await db.commit()
    arranged = Arranged(kawai, yamada, sato, sato_child, suzuki, ito, payee, stranger)
    for person in vars(arranged).values():
        db.expunge(person)  # plain values from here on: a test's rollback does not expire them
    return arranged


def csv_file(layout: Layout, lines: list[str], encoding: str = "utf-8") -> bytes:
    """A CSV of the layout's header and these lines (CRLF), in ``encoding``."""
    return ("\r\n".join([",".join(layout.header), *lines]) + "\r\n").encode(encoding)


@dataclass(frozen=True)
class Snapshot:
    people: int
    numbers: int
    entries: int


async def snapshot(db: AsyncSession, tenant_id: uuid.UUID) -> Snapshot:
    """How many people, numbers (live or erased) and audit entries the tenant has."""

    async def count(model: type, *conditions: object) -> int:
        statement = select(func.count()).select_from(model).where(model.tenant_id == tenant_id, *conditions)  # type: ignore[attr-defined]
        return int((await db.execute(statement)).scalar_one())

    return Snapshot(await count(Person), await count(VaultNumber), await count(AuditEntry))


async def counters_match(db: AsyncSession, tenant_id: uuid.UUID) -> bool:
    """Whether the kept counters equal a full recount of the tenant's people."""
    return {k: v for k, v in (await recount(db, tenant_id)).items() if v} == await stored_counts(db, tenant_id)


def files_holding(directory: Path, numbers: list[str]) -> list[str]:
    """Database files (main, key store, their WAL) in which any of the numbers appears in clear."""
    return [path.name for path in sorted(directory.glob("*.db*")) for n in numbers if n.encode() in path.read_bytes()]
