"""Who is asking: the principal loaded from the session on every request, and the guards that check it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent
from app.auth import sessions
from app.auth.models import Account, Role
from app.config import Settings
from app.tenancy import Tenant, TenantKind, TenantStatus

PRINCIPAL_STATE_KEY = "principal"
# The JSON API authenticates by token only (exchange): a session never makes an API principal.
_SKIP_PREFIXES = ("/static/", "/healthz", "/schema", "/api/")


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in account with its organisation, as seen by guards, services and templates."""

    account_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_code: str
    tenant_name: str
    tenant_kind: TenantKind
    login_id: str
    name: str
    role: Role
    totp_enabled: bool
    person_id: uuid.UUID | None
    stepup_fresh: bool
    ip: str | None = None
    user_agent: str | None = None
    # The organisation's contract terms as loaded with the principal (billing.contract.tenant_mode reads them).
    tenant_status: TenantStatus | None = None
    trial_ends_on: dt.date | None = None
    contract_ends_on: dt.date | None = None

    @property
    def role_label(self) -> str:
        return self.role.label

    @property
    def is_operator(self) -> bool:
        return self.role is Role.OPERATOR and self.tenant_kind is TenantKind.OPERATOR

    def event(self, action: AuditAction, function: str, detail: dict[str, Any] | None = None) -> AuditEvent:
        """An audit entry for something this principal did in their own organisation."""
        return AuditEvent(
            tenant_id=self.tenant_id, action=action, actor=self.actor(), function=function, detail=dict(detail or {})
        )

    def actor(self) -> Actor:
        """The audit snapshot of this principal (with the client address it is acting from)."""
        return Actor(
            user_id=self.account_id,
            login_id=self.login_id,
            name=self.name,
            role=self.role.label,
            organisation=self.tenant_name,
            ip=self.ip,
            user_agent=self.user_agent,
        )


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    value = connection.scope.get("state", {}).get(PRINCIPAL_STATE_KEY)
    return value if isinstance(value, Principal) else None


def require_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal = principal_of(connection)
    if principal is None:
        raise NotAuthorizedException()
    return principal


async def load_principal(
    session: AsyncSession,
    data: dict[str, Any],
    settings: Settings,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Principal | None:
    """Turn session data into a principal, or None when the session is incomplete, stale or revoked."""
    try:
        account_id = uuid.UUID(str(data["account_id"]))
        tenant_id = uuid.UUID(str(data["tenant_id"]))
    except (KeyError, ValueError):
        return None
    if sessions.session_expired(data, settings):
        return None
    row = (
        await session.execute(
            select(Account, Tenant)
            .join(Tenant, Tenant.id == Account.tenant_id)
            .where(Account.tenant_id == tenant_id, Account.id == account_id)
        )
    ).one_or_none()
    if row is None:
        return None
    account, tenant = row
    if account.is_disabled or account.session_epoch != data.get("epoch"):
        return None
    if tenant.locked_out:  # suspended, or erased at contract end (billing.tenant_erasure)
        return None
    return Principal(
        account_id=account.id,
        tenant_id=tenant.id,
        tenant_code=tenant.code,
        tenant_name=tenant.name,
        tenant_kind=tenant.kind,
        login_id=account.login_id,
        name=account.name,
        role=account.role,
        totp_enabled=account.totp_enabled,
        person_id=account.person_id,
        stepup_fresh=sessions.stepup_is_fresh(data, settings),
        ip=ip,
        user_agent=user_agent,
        tenant_status=tenant.status,
        trial_ends_on=tenant.trial_ends_on,
        contract_ends_on=tenant.contract_ends_on,
    )


class PrincipalMiddleware(ASGIMiddleware):
    """Loads the principal from the server-side session before any guard runs; ends stale sessions."""

    def __init__(self, settings: Settings, session_provider: Any) -> None:
        self.settings = settings
        self.session_provider = session_provider

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] == "http" and not scope.get("path", "").startswith(_SKIP_PREFIXES):
            data = scope.get("session")
            if isinstance(data, dict) and data.get("account_id"):
                db: AsyncSession = self.session_provider(scope["app"].state, scope)
                client = scope.get("client")
                agent = dict(scope.get("headers", [])).get(b"user-agent", b"")[:300].decode("latin-1")
                principal = await load_principal(
                    db, data, self.settings, ip=client[0] if client else None, user_agent=agent
                )
                if principal is None:
                    scope["session"] = {}
                else:
                    scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
                    sessions.touch_last_seen(data)
        await next_app(scope, receive, send)


def _deny_anonymous(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    raise NotAuthorizedException(headers={"x-next": quote(connection.url.path)})


def roles_guard(*roles: Role) -> Any:
    """A guard admitting the listed roles: anonymous → 401 (sign-in page), other roles → 403."""
    allowed = frozenset(roles)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = principal_of(connection)
        if principal is None:
            _deny_anonymous(connection)
            return
        if principal.role not in allowed:
            raise PermissionDeniedException()
        if principal.role is Role.OPERATOR and not principal.is_operator:
            raise PermissionDeniedException()

    guard.allowed_roles = allowed  # type: ignore[attr-defined]
    return guard


def home_for(role: Role) -> str:
    """Where a fresh sign-in lands (the role's home page path)."""
    if role is Role.OPERATOR:
        return "/operator/tenants"
    if role is Role.EMPLOYEE:
        return "/me"
    return "/admin"


class StepUpRequired(NotAuthorizedException):
    """The action needs a password (and TOTP) entered within the last few minutes."""

    detail = "再認証が必要です"


async def stepup_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Revealing, exporting, deleting and security changes: re-authenticate first (then come back)."""
    principal = principal_of(connection)
    if principal is None:
        _deny_anonymous(connection)
        return
    if not principal.stepup_fresh:
        raise StepUpRequired()


async def signed_in_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if principal_of(connection) is None:
        _deny_anonymous(connection)


signed_in_guard.allowed_roles = frozenset(Role)  # type: ignore[attr-defined]

operator_only = roles_guard(Role.OPERATOR)
admin_only = roles_guard(Role.ADMIN)
number_handlers = roles_guard(Role.ADMIN, Role.HANDLER)
company_staff = roles_guard(Role.ADMIN, Role.HANDLER, Role.VIEWER)
employees_only = roles_guard(Role.EMPLOYEE)
