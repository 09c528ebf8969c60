"""Who is asking: the principal loaded from the session on every request, and the guards that check it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy import String, Uuid, column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent
from app.auth import sessions
from app.auth.models import Account, Role
from app.config import Settings
from app.rls import enforces_row_level_security, narrow_session
from app.tenancy import Tenant, TenantKind, TenantStatus

PRINCIPAL_STATE_KEY = "principal"
# The session key of the client company a partner's staff member is working in (partners/: entering a client).
ACTING_CLIENT_KEY = "acting_client_id"
# The JSON API authenticates by token only (exchange): a session never makes an API principal.
_SKIP_PREFIXES = ("/static/", "/healthz", "/schema", "/api/")
# Pages that find their account or link across tenants (signing in, perhaps as someone else while signed in; a
# payee's link): their requests stay in row-level security's system scope whoever is signed in (app.rls).
_SYSTEM_SCOPE_PREFIXES = ("/login", "/t/", "/p/")


@dataclass(frozen=True, slots=True)
class PartnerSeat:
    """A 社労士事務所's staff member as seen while working inside a client through a link.

    ``office_*``: the office (a tenant of kind partner) the account belongs to; ``role``: the account's own role
    there; ``link_id`` and ``power``: the active link this request was checked against (partners.models).
    """

    office_id: uuid.UUID
    office_code: str
    office_name: str
    role: Role
    link_id: uuid.UUID
    power: str


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
    # Set while a partner's staff member works inside a client (tenant_* is then the client's, role the link's).
    partner: PartnerSeat | None = None
    # The account may open files saved as 機密 (accounts.confidential_access; partners/ file exchange, seed 000).
    confidential_access: bool = False

    @property
    def role_label(self) -> str:
        if self.partner is not None:
            return f"{self.partner.office_name}・{self.role.label}"
        return self.role.label

    @property
    def account_tenant_id(self) -> uuid.UUID:
        """The organisation the account itself belongs to (the office, while a partner acts inside a client)."""
        return self.partner.office_id if self.partner is not None else self.tenant_id

    @property
    def is_partner_account(self) -> bool:
        """An account of a 社労士事務所, whether at the office or inside a client."""
        return self.partner is not None or self.role.is_partner

    @property
    def is_operator(self) -> bool:
        return self.role is Role.OPERATOR and self.tenant_kind is TenantKind.OPERATOR

    def event(self, action: AuditAction, function: str, detail: dict[str, Any] | None = None) -> AuditEvent:
        """An audit entry for something this principal did in their own organisation."""
        return AuditEvent(
            tenant_id=self.tenant_id, action=action, actor=self.actor(), function=function, detail=dict(detail or {})
        )

    def actor(self) -> Actor:
        """The audit snapshot of this principal (with the client address it is acting from).

        A partner's staff member inside a client is named with the office (「山田（○○事務所）」), the office is the
        organisation and its id goes with the entry (app.audit: ``actor_partner_id``).
        """
        if self.partner is not None:
            return Actor(
                user_id=self.account_id,
                login_id=self.login_id,
                name=f"{self.name}（{self.partner.office_name}）",
                role=f"社労士事務所・{self.role.label}",
                organisation=self.partner.office_name,
                ip=self.ip,
                user_agent=self.user_agent,
                partner_id=self.partner.office_id,
            )
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
    office_pages: bool = False,
) -> Principal | None:
    """Turn session data into a principal, or None when the session is incomplete, stale or revoked.

    A partner's staff member who entered a client (``ACTING_CLIENT_KEY`` in the session) is the client's principal
    on every page but the office's own (``office_pages``: /partner/...), after the link is checked again on this
    request; when it no longer holds, the key is dropped from the session and the office principal is returned.
    """
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
    principal = Principal(
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
        confidential_access=account.confidential_access,
    )
    if office_pages or not data.get(ACTING_CLIENT_KEY):
        return principal
    if account.role.is_partner and tenant.kind is TenantKind.PARTNER:
        acting = await _acting_in_client(session, principal, str(data[ACTING_CLIENT_KEY]))
        if acting is None:
            data.pop(ACTING_CLIENT_KEY, None)  # the link ended (or never was): back to the office, at once
        else:
            return acting
    return principal


# partners.models.PartnerLink seen from here without importing the partners package (app must not depend on features).
_LINKS = table(
    "partner_links",
    column("tenant_id", Uuid()),
    column("id", Uuid()),
    column("partner_id", Uuid()),
    column("status", String()),
    column("power", String()),
)


async def principal_tenants(session: AsyncSession, principal: Principal) -> list[uuid.UUID] | None:
    """The tenants a request of ``principal`` may touch (row-level security, ``app.rls``); None: every tenant.

    The operator: every tenant. A company's account: the company and the partner offices it is or was linked to
    (their published documents, the link rows). A partner's staff member inside a client: the client and the
    office. A partner office at its own pages: the office and every client it is or was linked to (its cross-client
    lists and log). Ended links stay in the scope: what they may still show is decided by the services; this is
    the floor under them.
    """
    if principal.tenant_kind is TenantKind.OPERATOR:
        return None
    if principal.partner is not None:
        return [principal.tenant_id, principal.partner.office_id]
    if principal.tenant_kind is TenantKind.PARTNER:
        linked = select(_LINKS.c.tenant_id).where(_LINKS.c.partner_id == principal.tenant_id)
    else:
        linked = select(_LINKS.c.partner_id).where(_LINKS.c.tenant_id == principal.tenant_id)
    return [principal.tenant_id, *(await session.execute(linked)).scalars()]


# partners.models.LinkPower → the client role a staff member works with; a power not listed gives no way in.
ACTING_ROLES = {"view": Role.VIEWER, "numbers": Role.HANDLER}


async def _acting_in_client(session: AsyncSession, office: Principal, client_id: str) -> Principal | None:
    """The office's staff member inside the client, checked against an ACTIVE link of THIS office on every request:
    None when the link is missing, ended, another office's, or gives no way in (ファイル・連絡のみ)."""
    try:
        client_key = uuid.UUID(client_id)
    except ValueError:
        return None
    row = (
        await session.execute(
            select(_LINKS.c.id, _LINKS.c.power, Tenant)
            .join(Tenant, Tenant.id == _LINKS.c.tenant_id)
            .where(
                _LINKS.c.tenant_id == client_key,
                _LINKS.c.partner_id == office.tenant_id,
                _LINKS.c.status == "active",
                Tenant.kind == TenantKind.COMPANY,
                Tenant.status.in_([TenantStatus.TRIAL, TenantStatus.ACTIVE]),
            )
        )
    ).one_or_none()
    if row is None or row.power not in ACTING_ROLES:
        return None
    client: Tenant = row.Tenant
    seat = PartnerSeat(
        office_id=office.tenant_id,
        office_code=office.tenant_code,
        office_name=office.tenant_name,
        role=office.role,
        link_id=row.id,
        power=row.power,
    )
    return replace(
        office,
        tenant_id=client.id,
        tenant_code=client.code,
        tenant_name=client.name,
        tenant_kind=client.kind,
        tenant_status=client.status,  # the client's contract decides what may change (billing.readonly)
        trial_ends_on=client.trial_ends_on,
        contract_ends_on=client.contract_ends_on,
        role=ACTING_ROLES[row.power],
        person_id=None,
        partner=seat,
    )


async def partner_acting_in_client(
    session: AsyncSession,
    *,
    office_id: uuid.UUID,
    account_id: uuid.UUID,
    client_id: uuid.UUID,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Principal | None:
    """A 社労士事務所's staff member working inside a client, rebuilt without a session (background jobs started
    inside the client): None unless the account is an enabled partner account of a reachable office and an ACTIVE
    link of that office gives a way into the client now (the same check as every request, ``_acting_in_client``).
    """
    row = (
        await session.execute(
            select(Account, Tenant)
            .join(Tenant, Tenant.id == Account.tenant_id)
            .where(Account.tenant_id == office_id, Account.id == account_id)
        )
    ).one_or_none()
    if row is None:
        return None
    account, office = row
    if account.is_disabled or not account.role.is_partner or office.kind is not TenantKind.PARTNER:
        return None
    if office.locked_out:
        return None
    principal = Principal(
        account_id=account.id,
        tenant_id=office.id,
        tenant_code=office.code,
        tenant_name=office.name,
        tenant_kind=office.kind,
        login_id=account.login_id,
        name=account.name,
        role=account.role,
        totp_enabled=account.totp_enabled,
        person_id=None,
        stepup_fresh=False,
        ip=ip,
        user_agent=user_agent,
        tenant_status=office.status,
        confidential_access=account.confidential_access,
    )
    return await _acting_in_client(session, principal, str(client_id))


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
                    db,
                    data,
                    self.settings,
                    ip=client[0] if client else None,
                    user_agent=agent,
                    office_pages=_is_office_page(scope.get("path", "")),
                )
                if principal is None:
                    scope["session"] = {}
                else:
                    path = scope.get("path", "")
                    if not path.startswith(_SYSTEM_SCOPE_PREFIXES) and enforces_row_level_security(db):
                        await narrow_session(db, await principal_tenants(db, principal))
                    scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
                    sessions.touch_last_seen(data)
        await next_app(scope, receive, send)


def _is_office_page(path: str) -> bool:
    """The partner office's own pages (partners/): there a staff member is always the office's principal."""
    return path == "/partner" or path.startswith("/partner/")


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
            if principal.role.is_partner:
                # An office's account never learns what a client's (or anyone's) page is: it does not exist for it.
                raise NotFoundException()
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
    if role.is_partner:
        return "/partner"
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
partner_admin_only = roles_guard(Role.PARTNER_ADMIN)
partner_members = roles_guard(Role.PARTNER_ADMIN, Role.PARTNER_STAFF)
