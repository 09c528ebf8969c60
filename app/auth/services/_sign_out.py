"""Signing out of every device at once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.models import Account
from app.auth.services._common import ClientInfo, log_own
from app.tenancy import Tenant


async def sign_out_everywhere(session: AsyncSession, *, account: Account, tenant: Tenant, client: ClientInfo) -> None:
    """Invalidate every session of this account (each session carries the epoch it was started in)."""
    account.session_epoch += 1
    await log_own(
        session,
        account,
        tenant,
        client,
        AuditAction.LOGOUT,
        "すべての端末からログアウト",
        {"event": "sign_out_everywhere"},
    )
