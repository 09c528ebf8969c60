"""What the sign-in rules share: the refusal, the client, and logging what an account did for itself."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent
from app.audit.log import record
from app.auth.models import Account
from app.tenancy import Tenant


class AccountError(Exception):
    """A rule refused the request; ``message`` is Japanese and says what to fix."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip: str | None
    user_agent: str | None


def actor_for(account: Account, tenant: Tenant, client: ClientInfo) -> Actor:
    return Actor(
        user_id=account.id,
        login_id=account.login_id,
        name=account.name,
        role=account.role.label,
        organisation=tenant.name,
        ip=client.ip,
        user_agent=client.user_agent,
    )


async def log_own(
    session: AsyncSession,
    account: Account,
    tenant: Tenant,
    client: ClientInfo,
    action: AuditAction,
    function: str,
    detail: dict[str, object],
) -> None:
    """Log something an account did for itself (signing in, its password, its second factor)."""
    actor = actor_for(account, tenant, client)
    await record(session, AuditEvent(tenant_id=tenant.id, action=action, actor=actor, function=function, detail=detail))
