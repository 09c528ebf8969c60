"""Numbers, people and actors for vault tests."""

from __future__ import annotations

import random
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, Subject
from app.db import new_id
from app.tenancy import Tenant, TenantStatus
from app.vault.numbers import corporate_number_check_digit, my_number_check_digit

ADMIN = Actor(user_id=uuid.UUID(int=1), login_id="admin", name="管理 花子", role="admin", organisation="テスト株式会社")
_rng = random.Random(20261122)


def my_number() -> str:
    """A random valid My Number (12 digits)."""
    base = "".join(_rng.choice("0123456789") for _ in range(11))
    return base + str(my_number_check_digit(base))


def corporate_number() -> str:
    """A random valid corporate number (13 digits)."""
    base = "".join(_rng.choice("0123456789") for _ in range(12))
    return str(corporate_number_check_digit(base)) + base


def person(name: str = "山田 太郎") -> Subject:
    return Subject(person_id=new_id(), name=name, department_code="D01", employee_code=f"E{_rng.randint(1, 9999)}")


async def make_tenant(db: AsyncSession, code: str | None = None) -> uuid.UUID:
    tenant = Tenant(code=code or f"t{_rng.randint(0, 10**9)}", name="テスト株式会社", status=TenantStatus.ACTIVE)
    db.add(tenant)
    await db.commit()
    return tenant.id


async def count(db: AsyncSession, sql: str, **params: object) -> int:
    return int((await db.execute(text(sql), params)).scalar() or 0)
