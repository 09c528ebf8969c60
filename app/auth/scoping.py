"""Tenant scoping in one place: every query on a tenant table starts from `scoped(...)`."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from litestar.exceptions import NotFoundException
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal

T = TypeVar("T")


def scoped(model: type[T], principal: Principal) -> Select[T]:  # type: ignore[type-var]
    """``SELECT model WHERE tenant_id = <the principal's tenant>``: the only way services read tenant rows."""
    return select(model).where(model.tenant_id == principal.tenant_id)  # type: ignore[attr-defined,return-value]


async def get_scoped(session: AsyncSession, model: type[T], principal: Principal, row_id: uuid.UUID | str) -> T:
    """One row of the principal's tenant, or 404 (another tenant's id looks exactly like a missing one)."""
    try:
        key = row_id if isinstance(row_id, uuid.UUID) else uuid.UUID(str(row_id))
    except ValueError:
        raise NotFoundException() from None
    statement = scoped(model, principal).where(model.id == key)  # type: ignore[attr-defined]
    row = (await session.execute(statement)).scalar_one_or_none()
    if row is None:
        raise NotFoundException()
    return row  # type: ignore[no-any-return]


def tenant_filter(model: Any, tenant_id: uuid.UUID) -> Any:
    return model.tenant_id == tenant_id
