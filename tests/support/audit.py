"""Reading the operation log in tests."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry


async def entries(db: AsyncSession, tenant_id: uuid.UUID, action: str | None = None) -> list[AuditEntry]:
    statement = (
        select(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id)
        .order_by(AuditEntry.seq)
        .execution_options(populate_existing=True)
    )
    rows = list((await db.execute(statement)).scalars())
    return [r for r in rows if action is None or r.action == action]


def details(rows: list[AuditEntry]) -> list[dict[str, Any]]:
    return [dict(r.detail or {}) for r in rows]
