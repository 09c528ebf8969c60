"""The log's tables as SQLAlchemy Core tables, shared by writing, verifying and checkpointing."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import String, Table, Uuid, column, table

from app.audit.models import DEFAULT_CHAIN, AuditChainHead, AuditEntry

ENTRIES = cast(Table, AuditEntry.__table__)
HEADS = cast(Table, AuditChainHead.__table__)
# The tenants table seen from here without importing the tenants package (app must not depend on features).
TENANTS = table("tenants", column("id", Uuid()), column("code", String()), column("kind", String()))


def head_filter(statement: Any, tenant_id: Any) -> Any:
    """Narrow a statement on the chain heads to one tenant's chain."""
    return statement.where(HEADS.c.tenant_id == tenant_id, HEADS.c.chain == DEFAULT_CHAIN)
