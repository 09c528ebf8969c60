"""API tokens for payroll software: issue, list, revoke, and authenticate a call (``Authorization: Bearer``).

A token reads ``mnv_<tenant id, 32 hex><token id, 32 hex>_<secret>``: the recognisable prefix (secret scanners and
people spot it), the public part that names the row by primary key (so no lookup by secret and no index outside the
tenant), and 256 random bits. Only ``HMAC-SHA256(vault.derive_secret("api-token"), tenant id | token id | secret)``
is stored, compared in constant time; the token is shown once and never logged.

A caller authenticated by a token acts as :class:`ApiPrincipal`: a :class:`~app.auth.principal.Principal` of the
token's tenant (``scoped(Model, principal)`` and the tenants services take it as they are), allowed what its scopes
allow, whose audit actor is the token (its name, role 「APIトークン」, the client address).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from litestar.exceptions import NotFoundException
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent
from app.audit.guard import looks_like_number
from app.audit.log import record
from app.auth.models import Role
from app.auth.principal import Principal
from app.auth.scoping import tenant_filter
from app.auth.sessions import LAST_SEEN_RESOLUTION_SECONDS
from app.db import utcnow
from app.forms import Checker, FormInvalid
from app.pager import Count, KeysetPage, PageRequest, capped_count, read_page
from app.paging import SortColumn
from app.tenancy import Tenant, TenantKind
from app.vault import Vault
from exchange.models import ApiToken

SCOPES: dict[str, str] = {
    "people:read": "対象者の閲覧（マスクした番号と状態のみ）",
    "people:write": "対象者の追加・修正",
    "numbers:read": "番号の取得（利用目的を指定、1件ごとに操作履歴に記録）",
    "numbers:write": "番号の代理登録",
}
TOKEN_PREFIX = "mnv_"
SECRET_BYTES = 32  # 256 bits
MAX_DAYS = 365  # a token lives at most one year
DEFAULT_DAYS = 90
MAX_NETWORKS = 20
HASH_PURPOSE = "api-token"
ACTOR_ROLE = "APIトークン"
ACTOR_LOGIN_ID = "api-token"
CREATE_FUNCTION = "APIトークンの発行"
REVOKE_FUNCTION = "APIトークンの失効"
TOKENS_PER_PAGE = 50
# The role a token acts with in the services (they let admins and handlers write); the scopes decide the rest.
TOKEN_ROLE = Role.HANDLER

_TOKEN = re.compile(r"mnv_([0-9a-f]{32})([0-9a-f]{32})_([A-Za-z0-9_-]{43})")
_DUMMY_HASH = bytes(32)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiPrincipal(Principal):
    """Who calls the API: the token, acting in its tenant with its scopes (a Principal for every service)."""

    token_id: uuid.UUID
    token_name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """Whether the token was given this scope (``SCOPES``)."""
        return scope in self.scopes

    def actor(self) -> Actor:
        """The audit snapshot: the token (its name, redacted as client-chosen text is), from the client's address."""
        return Actor(
            user_id=self.token_id,
            login_id=ACTOR_LOGIN_ID,
            name=self.token_name,
            role=ACTOR_ROLE,
            organisation=self.tenant_name,
            ip=self.ip,
            user_agent=self.user_agent,
        )


class TokenRefused(Exception):
    """The call carries no usable token; ``reason`` names why (for the log), ``message`` tells the caller (Japanese)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


REFUSALS: dict[str, str] = {
    "missing": "APIトークンが必要です。Authorization ヘッダーに「Bearer <トークン>」を付けて送ってください。",
    "invalid": "APIトークンが正しくありません。発行されたトークンをそのまま（mnv_ から最後まで）送ってください。",
    "expired": "APIトークンの有効期限が切れています。管理者に新しいトークンの発行を依頼してください。",
    "revoked": "このAPIトークンは失効しています。管理者に新しいトークンの発行を依頼してください。",
    "address": (
        "このAPIトークンは、この接続元（IPアドレス）からは使えません。管理者に許可する接続元を確認してください。"
    ),
    "tenant": "この事業者のご利用は停止されています。運営者にお問い合わせください。",
}


def refused(reason: str) -> TokenRefused:
    """The refusal for a reason of ``REFUSALS``."""
    return TokenRefused(reason, REFUSALS[reason])


# The token text ------------------------------------------------------------------------------------------------


def token_text(tenant_id: uuid.UUID, token_id: uuid.UUID, secret: str) -> str:
    """The token as the caller sends it: prefix, public part (tenant and row), secret."""
    return f"{TOKEN_PREFIX}{tenant_id.hex}{token_id.hex}_{secret}"


def parse_token(text: str) -> tuple[uuid.UUID, uuid.UUID, str] | None:
    """``(tenant id, token id, secret)`` of a token, or None when it is not one this service issues."""
    match = _TOKEN.fullmatch(text.strip())
    if match is None:
        return None
    return uuid.UUID(match.group(1)), uuid.UUID(match.group(2)), match.group(3)


def secret_hash(key: bytes, tenant_id: uuid.UUID, token_id: uuid.UUID, secret: str) -> bytes:
    """The stored form of a secret: HMAC-SHA256 under a key derived from the master key, bound to its row."""
    message = b"mnv-api-token|" + tenant_id.bytes + token_id.bytes + b"|" + secret.encode("ascii")
    return hmac.new(key, message, hashlib.sha256).digest()


def bearer_credentials(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (TokenRefused when absent or another scheme)."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise refused("missing")
    return credentials.strip()


# Issuing ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """What an admin (page) or an operator (CLI) asks for: name, scopes, days of validity, allowed networks."""

    name: str
    scopes: Sequence[str]
    days: str | int = DEFAULT_DAYS
    networks: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just issued: its row and the token text, to show once (it cannot be read back later)."""

    token: ApiToken
    text: str


def _checked(check: Checker, request: TokenRequest) -> tuple[str, list[str], int, list[str] | None]:
    name = check.text("name", request.name, "トークンの名前", required=True, max_length=100)
    if looks_like_number(name):
        check.fail("name", "トークンの名前に12桁以上の数字は使えません。")
    scopes = list(dict.fromkeys(s.strip() for s in request.scopes if s.strip()))
    if not scopes:
        check.fail("scopes", "権限を1つ以上選んでください。")
    elif any(scope not in SCOPES for scope in scopes):
        check.fail("scopes", f"権限は {', '.join(SCOPES)} から選んでください。")
    days = check.integer("days", str(request.days), "有効期間（日数）", minimum=1, maximum=MAX_DAYS)
    networks = _networks(check, request.networks)
    return name, [s for s in SCOPES if s in scopes], days, networks


def _networks(check: Checker, values: Sequence[str]) -> list[str] | None:
    """Allowed client networks as normalised CIDR text (None: any address)."""
    texts = [t for value in values for t in re.split(r"[\s,、]+", value) if t]
    if len(texts) > MAX_NETWORKS:
        check.fail("networks", f"許可する接続元は{MAX_NETWORKS}件までにしてください。")
        return None
    networks: list[str] = []
    for text in texts:
        try:
            networks.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            check.fail(
                "networks",
                "許可する接続元は IP アドレスか CIDR（例: 192.0.2.0/24、2001:db8::/32）で、"
                "1行に1つずつ入力してください。",
            )
            return None
    return list(dict.fromkeys(networks)) or None


async def create_token(
    session: AsyncSession,
    vault: Vault,
    *,
    tenant_id: uuid.UUID,
    actor: Actor,
    created_by: uuid.UUID | None,
    request: TokenRequest,
) -> IssuedToken:
    """Issue a token (FormInvalid with Japanese messages per field: name, scopes, days, networks), logged.

    The name is unique among the tenant's tokens not revoked. Only the keyed hash of the secret is stored.
    """
    check = Checker()
    name, scopes, days, networks = _checked(check, request)
    if "name" not in check.errors and await active_token_named(session, tenant_id, name) is not None:
        check.fail(
            "name", "この名前のトークンがすでにあります（期限切れを含む）。別の名前にするか、先に失効させてください。"
        )
    check.done()
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None or tenant.kind is not TenantKind.COMPANY:
        raise FormInvalid({"tenant": "APIトークンは事業者にだけ発行できます。"})
    now = utcnow()
    token_id = uuid.uuid4()
    secret = secrets.token_urlsafe(SECRET_BYTES)
    token = ApiToken(
        tenant_id=tenant_id,
        id=token_id,
        name=name,
        scopes=scopes,
        allowed_networks=networks,
        secret_hash=secret_hash(vault.derive_secret(HASH_PURPOSE), tenant_id, token_id, secret),
        created_by=created_by,
        created_by_name=actor.name[:100],
        expires_at=now + dt.timedelta(days=days),
    )
    try:
        async with session.begin_nested():  # two admins naming a token alike at once: the second one is told
            session.add(token)
            await session.flush()
    except IntegrityError:
        raise FormInvalid({"name": "この名前のトークンがすでにあります。別の名前にしてください。"}) from None
    detail = {
        "event": "api_token_created",
        "token_id": str(token.id),
        "name": name,
        "scopes": scopes,
        "days": days,
        "allowed_networks": networks or [],
    }
    await record(session, AuditEvent(tenant_id, AuditAction.ACCOUNT_CHANGE, actor, CREATE_FUNCTION, detail=detail))
    return IssuedToken(token=token, text=token_text(tenant_id, token_id, secret))


# Reading and revoking ---------------------------------------------------------------------------------------------


def token_state(token: ApiToken, now: dt.datetime | None = None) -> str:
    """「有効」, 「期限切れ」 or 「失効」."""
    if token.revoked_at is not None:
        return "失効"
    if token.expires_at <= (now or utcnow()):
        return "期限切れ"
    return "有効"


async def get_token(session: AsyncSession, tenant_id: uuid.UUID, token_id: uuid.UUID | str) -> ApiToken:
    """One token of the tenant, or 404 (another tenant's id looks exactly like a missing one)."""
    try:
        key = token_id if isinstance(token_id, uuid.UUID) else uuid.UUID(str(token_id))
    except ValueError:
        raise NotFoundException() from None
    statement = select(ApiToken).where(tenant_filter(ApiToken, tenant_id), ApiToken.id == key)
    token = (await session.execute(statement)).scalar_one_or_none()
    if token is None:
        raise NotFoundException()
    return token


async def active_token_named(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> ApiToken | None:
    """The tenant's token of that name not revoked yet (expired ones included), if any."""
    statement = select(ApiToken).where(
        tenant_filter(ApiToken, tenant_id), ApiToken.name == name, ApiToken.revoked_at.is_(None)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def revoke_token(session: AsyncSession, *, tenant_id: uuid.UUID, actor: Actor, token: ApiToken) -> bool:
    """Revoke a token from now on (logged); False when it was revoked already (nothing written)."""
    if token.tenant_id != tenant_id:
        raise NotFoundException()
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    token.revoked_by_name = actor.name[:100]
    detail = {"event": "api_token_revoked", "token_id": str(token.id), "name": token.name}
    await record(session, AuditEvent(tenant_id, AuditAction.ACCOUNT_CHANGE, actor, REVOKE_FUNCTION, detail=detail))
    return True


_NEWEST_FIRST = [SortColumn(ApiToken.created_at, "created_at", True), SortColumn(ApiToken.id, "id", True)]


@dataclass(frozen=True, slots=True)
class TokenPage:
    """One page of a tenant's tokens (newest first) and how many there are (counted up to ``COUNT_CAP``)."""

    tokens: list[ApiToken]
    total: Count
    window: KeysetPage


async def token_page(session: AsyncSession, tenant_id: uuid.UUID, request: PageRequest) -> TokenPage:
    """The tenant's tokens newest first, ``TOKENS_PER_PAGE`` a page (``ix_api_tokens_tenant_id_created_at``)."""
    statement = select(ApiToken).where(tenant_filter(ApiToken, tenant_id))
    total = await capped_count(session, statement)
    window = await read_page(session, [statement], _NEWEST_FIRST, request, per_page=TOKENS_PER_PAGE, total=total)
    ids = [key.id for key in window.keys]
    found = {}
    if ids:
        rows = await session.execute(statement.where(ApiToken.id.in_(ids)))
        found = {token.id: token for token in rows.scalars()}
    return TokenPage([found[i] for i in ids if i in found], total, window)


# Authenticating a call ----------------------------------------------------------------------------------------------


def _address_allowed(networks: Sequence[str] | None, ip: str | None) -> bool:
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


async def authenticate(
    session: AsyncSession,
    vault: Vault,
    authorization: str | None,
    *,
    ip: str | None,
    user_agent: str | None,
) -> ApiPrincipal:
    """The principal of a call's ``Authorization: Bearer`` token, or TokenRefused (missing, invalid — unknown, wrong
    secret or malformed alike —, revoked, expired, another address, tenant suspended).

    The secret is compared in constant time (a hash is computed for an unknown row too). Records the last use at
    most once a minute (``LAST_SEEN_RESOLUTION_SECONDS``, as sessions do), in the call's transaction.
    """
    parsed = parse_token(bearer_credentials(authorization))
    if parsed is None:
        raise refused("invalid")
    tenant_id, token_id, secret = parsed
    statement = (
        select(ApiToken, Tenant)
        .join(Tenant, Tenant.id == ApiToken.tenant_id)
        .where(tenant_filter(ApiToken, tenant_id), ApiToken.id == token_id)
    )
    row = (await session.execute(statement)).one_or_none()
    given = secret_hash(vault.derive_secret(HASH_PURPOSE), tenant_id, token_id, secret)
    if not hmac.compare_digest(given, row[0].secret_hash if row is not None else _DUMMY_HASH) or row is None:
        raise refused("invalid")
    token, tenant = row
    now = utcnow()
    if token.revoked_at is not None:
        raise refused("revoked")
    if token.expires_at <= now:
        raise refused("expired")
    if tenant.kind is not TenantKind.COMPANY or tenant.locked_out:
        raise refused("tenant")
    if not _address_allowed(token.allowed_networks, ip):
        raise refused("address")
    await _note_use(session, token, ip, now)
    return ApiPrincipal(
        account_id=token.id,
        tenant_id=tenant.id,
        tenant_code=tenant.code,
        tenant_name=tenant.name,
        tenant_kind=tenant.kind,
        login_id=ACTOR_LOGIN_ID,
        name=token.name,
        role=TOKEN_ROLE,
        totp_enabled=False,
        person_id=None,
        stepup_fresh=False,
        ip=ip,
        user_agent=user_agent,
        token_id=token.id,
        token_name=token.name,
        scopes=frozenset(token.scopes or ()),
    )


async def _note_use(session: AsyncSession, token: ApiToken, ip: str | None, now: dt.datetime) -> None:
    """last_used_at (and the address) once a minute at most: a burst of calls writes once."""
    stale = now - dt.timedelta(seconds=LAST_SEEN_RESOLUTION_SECONDS)
    if token.last_used_at is not None and token.last_used_at > stale:
        return
    statement = (
        update(ApiToken)
        .where(
            tenant_filter(ApiToken, token.tenant_id),
            ApiToken.id == token.id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= stale),
        )
        .values(last_used_at=now, last_used_ip=(ip or "")[:45] or None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)
