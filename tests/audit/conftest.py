"""Fixtures for the operation log: a tenant to write to, sessions of the test database, tamper helpers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor, AuditAction, AuditEvent, AuditResult, Subject
from app.config import Settings
from app.db import make_engine
from tenants.models import Tenant, TenantKind
from tests.support.databases import as_table_owner


def make_event(tenant_id: uuid.UUID, n: int = 0, **changes: object) -> AuditEvent:
    """An entry like the vault writes when a handler reveals a dependant's number."""
    values: dict[str, object] = {
        "tenant_id": tenant_id,
        "action": AuditAction.REVEAL,
        "actor": Actor(
            uuid.uuid4(), "tanaka", "田中 花子", "handler", "東野商事株式会社", "203.0.113.7", "Mozilla/5.0"
        ),
        "function": "マイナンバー表示",
        "subject": Subject(uuid.uuid4(), "東野二郎 > 東野順子", "D01", "総務部", f"E{n:05d}"),
        "purpose": "源泉徴収",
        "result": AuditResult.SUCCESS,
        "detail": {"field": "my_number", "n": n},
    }
    values.update(changes)
    return AuditEvent(**values)  # type: ignore[arg-type]


async def add_tenant(session: AsyncSession, code: str, kind: TenantKind = TenantKind.COMPANY) -> uuid.UUID:
    tenant = Tenant(code=code, name=f"{code} 株式会社", kind=kind)
    session.add(tenant)
    await session.commit()
    return tenant.id


@pytest.fixture
async def tenant_id(db: AsyncSession) -> uuid.UUID:
    return await add_tenant(db, "higashino")


@pytest.fixture
async def maker(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Independent sessions on the test database (one connection each), for concurrent writers."""
    engine = make_engine(settings.effective_database_url, pool_size=25)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def tamper(session: AsyncSession, *statements: str, **params: object) -> None:
    """Run raw SQL against the log as an attacker with database access would (trigger disabled on PostgreSQL)."""
    if session.get_bind().dialect.name != "postgresql":
        for statement in statements:
            await session.execute(text(statement), params)
        await session.commit()
        return
    # The app's role may not touch the trigger: the attacker here holds the tables' owner.
    await session.commit()
    await as_table_owner(
        session,
        "ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only",
        *statements,
        "ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only",
        **params,
    )
