"""The office's log of its staff's actions across its clients (its own 安全管理措置)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from litestar.exceptions import PermissionDeniedException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry
from app.auth.principal import Principal
from app.tenancy import Tenant, TenantKind

ENTRIES_PER_PAGE = 50


@dataclass(frozen=True, slots=True)
class OfficeLogPage:
    """Entries newest first with each client's name; ``older``: the cursor of the next page (None: last page)."""

    entries: list[tuple[AuditEntry, str]]
    older: dt.datetime | None


async def office_log(
    session: AsyncSession, principal: Principal, *, before: dt.datetime | None = None
) -> OfficeLogPage:
    """Entries written by the office's staff inside any client, newest first, ``ENTRIES_PER_PAGE`` a page.

    One range of ``ix_audit_entries_actor_partner_id_occurred_at`` (only partner entries are in it); ``before``
    (UTC, exclusive) continues from an older page. Only the office's own staff (either role) read it.
    """
    if (
        not principal.role.is_partner
        or principal.partner is not None
        or principal.tenant_kind is not TenantKind.PARTNER
    ):
        raise PermissionDeniedException()
    statement = select(AuditEntry, Tenant.name).join(Tenant, Tenant.id == AuditEntry.tenant_id)
    statement = statement.where(AuditEntry.actor_partner_id == principal.tenant_id)
    if before is not None:
        statement = statement.where(AuditEntry.occurred_at < before)
    rows = list(
        (await session.execute(statement.order_by(AuditEntry.occurred_at.desc()).limit(ENTRIES_PER_PAGE + 1))).all()
    )
    older = rows[ENTRIES_PER_PAGE - 1][0].occurred_at if len(rows) > ENTRIES_PER_PAGE else None
    return OfficeLogPage([(entry, str(name)) for entry, name in rows[:ENTRIES_PER_PAGE]], older)
