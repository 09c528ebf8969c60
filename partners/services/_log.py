"""The office's log of its staff's actions across its clients (its own 安全管理措置)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from litestar.exceptions import PermissionDeniedException
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry
from app.auth.principal import Principal
from app.tenancy import Tenant, TenantKind

ENTRIES_PER_PAGE = 50


@dataclass(frozen=True, slots=True)
class LogCursor:
    """Where an older page starts: the last entry shown (time, tenant, seq), exclusive."""

    occurred_at: dt.datetime
    tenant_id: uuid.UUID
    seq: int

    def encode(self) -> str:
        return f"{self.occurred_at.isoformat()}~{self.tenant_id}~{self.seq}"

    @classmethod
    def parse(cls, text: str) -> LogCursor | None:
        """The cursor of a link, or None when absent or malformed (then the newest page is shown)."""
        try:
            when, tenant, seq = text.split("~")
            occurred_at = dt.datetime.fromisoformat(when)
            return cls(
                occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=dt.UTC), uuid.UUID(tenant), int(seq)
            )
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class OfficeLogPage:
    """Entries newest first with each client's name; ``older``: the cursor of the next page (None: last page)."""

    entries: list[tuple[AuditEntry, str]]
    older: LogCursor | None


async def office_log(session: AsyncSession, principal: Principal, *, after: LogCursor | None = None) -> OfficeLogPage:
    """Entries written by the office's staff inside any client, newest first, ``ENTRIES_PER_PAGE`` a page.

    One range of ``ix_audit_entries_actor_partner_id_occurred_at`` (only partner entries are in it), keyset-paged on
    (occurred_at, tenant_id, seq): ``after`` continues below the last entry of the previous page. Only the office's
    own accounts (either role, at the office) read it; anyone else: PermissionDeniedException.
    """
    if (
        not principal.role.is_partner
        or principal.partner is not None
        or principal.tenant_kind is not TenantKind.PARTNER
    ):
        raise PermissionDeniedException()
    key = tuple_(AuditEntry.occurred_at, AuditEntry.tenant_id, AuditEntry.seq)
    statement = (
        select(AuditEntry, Tenant.name)
        .join(Tenant, Tenant.id == AuditEntry.tenant_id)
        .where(AuditEntry.actor_partner_id == principal.tenant_id)
    )
    if after is not None:
        statement = statement.where(key < tuple_(after.occurred_at, after.tenant_id, after.seq))
    statement = statement.order_by(
        AuditEntry.occurred_at.desc(), AuditEntry.tenant_id.desc(), AuditEntry.seq.desc()
    ).limit(ENTRIES_PER_PAGE + 1)
    rows = list((await session.execute(statement)).all())
    older = None
    if len(rows) > ENTRIES_PER_PAGE:
        last = rows[ENTRIES_PER_PAGE - 1][0]
        older = LogCursor(last.occurred_at, last.tenant_id, last.seq)
    return OfficeLogPage([(entry, str(name)) for entry, name in rows[:ENTRIES_PER_PAGE]], older)
