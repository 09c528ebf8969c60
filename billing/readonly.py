"""The read-only guard (issue 13): one middleware that refuses every state-changing request of a read-only tenant.

A tenant is read-only after its trial (until the operator activates the contract) and after its contract ended
(until the operator erases it): ``billing.contract.tenant_mode``. Applied once, for every path, after the principal
is loaded and CSRF is checked; handlers know nothing about it.

Still allowed (the list below, ``STILL_ALLOWED``): signing in and out, re-authentication, password / TOTP changes,
exports (CSV / Excel downloads and the POSTs that start an export job, and cancelling such a job), the deletion and
erasure screens with their POSTs (deletion certificates), the operation log's download and checks, revealing a number
(viewing is not a change; it stays logged), the API's read call (``POST /api/v1/numbers:read``) and an
employee's 利用目的の通知 read receipt (``POST /me/notice``, without which /me cannot be seen). Everything else
that is not GET/HEAD/OPTIONS is refused: pages answer 303 back (the Referer on this origin, else the role's home)
with a Japanese flash saying why and what to do; the API answers 403 application/problem+json.

The mode is also put in the request state (``contract_mode``) for the banner of the base layout.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.controllers import home_for
from app.auth.principal import PRINCIPAL_STATE_KEY, Principal
from app.config import Settings
from app.problems import PROBLEM_MEDIA_TYPE
from app.tenancy import Tenant, TenantKind
from app.text import today_in_japan
from billing.contract import TenantMode, mode_of, tenant_mode

MODE_STATE_KEY = "contract_mode"
READ_ONLY_PROBLEM = "urn:mnvault:problem:read-only"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STILL_ALLOWED = re.compile(
    r"^/(?:"
    r"login(?:/.*)?|logout|reauth(?:/.*)?|account/.*|t/.*"  # signing in and out, passwords and TOTP
    r"|admin/exports(?:/.*)?|admin/jobs/[^/]+/cancel"  # exports (and cancelling an export job)
    r"|admin/deletions(?:/.*)?|admin/erasure(?:/.*)?"  # deletion, erasure and their certificates
    r"|admin/log/(?:download|verify|checkpoint)"  # the operation log
    r"|admin/numbers/[^/]+/reveal"  # viewing a number (logged): not a change
    r"|api/v1/numbers:read"  # the API's read call
    r"|me/notice"  # an employee confirms having read the purpose notice (needed to see their own page)
    r")$"
)
_TOKEN_TENANT = re.compile(r"^\s*Bearer\s+mnv_([0-9a-f]{32})[0-9a-f]{32}_", re.IGNORECASE)
_PAYEE_LINK = re.compile(r"^/p/([^/]+)/")


def still_allowed(path: str) -> bool:
    """Whether a state-changing request to ``path`` is still allowed for a read-only tenant."""
    return STILL_ALLOWED.match(path) is not None


def principal_mode(principal: Principal, settings: Settings) -> TenantMode | None:
    """The mode of the principal's company today (None for the operator), from the terms loaded with it."""
    if principal.tenant_kind is not TenantKind.COMPANY:
        return None
    return tenant_mode(
        principal.tenant_status,
        principal.trial_ends_on,
        principal.contract_ends_on,
        today=today_in_japan(),
        grace_days=settings.contract_grace_days,
    )


class ReadOnlyMiddleware(ASGIMiddleware):
    """Refuses a read-only tenant's changes (see the module's docstring); notes the mode for the banner."""

    def __init__(self, settings: Settings, session_provider: Any) -> None:
        self.settings = settings
        self.session_provider = session_provider

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != "http":
            await next_app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        state = scope.setdefault("state", {})
        principal = state.get(PRINCIPAL_STATE_KEY)
        mode = principal_mode(principal, self.settings) if isinstance(principal, Principal) else None
        if mode is not None:
            state[MODE_STATE_KEY] = mode
        if scope.get("method", "GET") in _SAFE_METHODS or still_allowed(path):
            await next_app(scope, receive, send)
            return
        if path.startswith("/api/"):
            mode = await self._tenant_mode(scope, _api_tenant(scope))
            if mode is not None and mode.read_only:
                await _problem(send, mode.refusal)
                return
        elif path.startswith("/p/"):
            mode = await self._tenant_mode(scope, _payee_tenant_code(path))
            if mode is not None and mode.read_only:
                await _refuse_page(scope, send, mode.refusal, home=path)
                return
        elif mode is not None and mode.read_only:
            assert isinstance(principal, Principal)
            await _refuse_page(scope, send, mode.refusal, home=home_for(principal.role))
            return
        await next_app(scope, receive, send)

    async def _tenant_mode(self, scope: Scope, key: uuid.UUID | str | None) -> TenantMode | None:
        """The mode of the company named by id (API token) or code (payee link), or None when there is none."""
        if key is None:
            return None
        db: AsyncSession = self.session_provider(scope["app"].state, scope)
        column = Tenant.id if isinstance(key, uuid.UUID) else Tenant.code
        tenant = (await db.execute(select(Tenant).where(column == key))).scalar_one_or_none()
        if tenant is None or tenant.kind is not TenantKind.COMPANY:
            return None
        return mode_of(tenant, today_in_japan(), self.settings.contract_grace_days)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def _api_tenant(scope: Scope) -> uuid.UUID | None:
    """The company a bearer token names (its first 32 hex digits). The token itself is checked by the API; a
    refusal here only ever answers a write, and only says that the company is read-only."""
    found = _TOKEN_TENANT.match(_header(scope, b"authorization"))
    return uuid.UUID(found.group(1)) if found else None


def _payee_tenant_code(path: str) -> str | None:
    found = _PAYEE_LINK.match(path)
    return found.group(1) if found else None


def back_to(scope: Scope, home: str) -> str:
    """Where a refused form goes: the page it came from (Referer on this origin), else ``home``."""
    referer = _header(scope, b"referer")
    if referer:
        parts = urlsplit(referer)
        if parts.netloc == _header(scope, b"host") and parts.path.startswith("/") and not parts.path.startswith("//"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return home


async def _refuse_page(scope: Scope, send: Send, message: str, *, home: str) -> None:
    session = scope.get("session")
    if isinstance(session, dict):
        session.setdefault("_messages", []).append({"message": message, "category": "warning"})
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 303,
        "headers": [(b"location", back_to(scope, home).encode("latin-1")), (b"content-length", b"0")],
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"", "more_body": False}
    await send(end)


async def _problem(send: Send, detail: str) -> None:
    body = msgspec.json.encode(
        {"type": READ_ONLY_PROBLEM, "title": "この操作は許可されていません", "status": 403, "detail": detail}
    )
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 403,
        "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())],
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)
