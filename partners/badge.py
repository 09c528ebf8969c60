"""The nav's badge of unread received files and the home pages' notices (seed 000 FAQ13: ファイルがアップロードされた
場合は起動時にお知らせが表示されます; issue 15: documents an office published).

One middleware after the principal is loaded: on a page request (GET, not /static, /api, downloads) of a client's
admin or handler, or of an office's staff member at the office, it counts the unread files received by the
principal's side (at most ``BADGE_CAP`` rows of a partial index) into the request state, which the nav and the
home pages read. On the client's home (/admin) only, it also counts the documents its offices published or updated
since the principal's previous sign-in (kept in the session at sign-in; without one, the last 7 days; at most 100
rows) for its admins, handlers and viewers. On the home pages (/admin, /partner) it counts the files the side
received since the previous sign-in, read or not (at most 100 rows; nothing without a previous sign-in), which the
notice names first. Everyone else costs nothing.
"""

from __future__ import annotations

from typing import Any

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role
from app.auth.principal import PRINCIPAL_STATE_KEY, Principal
from app.auth.sessions import previous_sign_in_of
from app.tenancy import TenantKind
from partners.services import new_documents_count, new_files_count, unread_count

UNREAD_STATE_KEY = "exchange_unread"
DOCUMENTS_STATE_KEY = "documents_new"
ARRIVED_STATE_KEY = "exchange_arrived"  # (count, previous sign-in) of files received since the previous sign-in
_CLIENT_HOME = ("/admin", "/admin/")
_HOMES = ("/admin", "/admin/", "/partner", "/partner/")
_SKIPPED = ("/static/", "/api/", "/healthz", "/schema")
_ROLES = frozenset({Role.ADMIN, Role.HANDLER, Role.PARTNER_ADMIN, Role.PARTNER_STAFF})


def badge_label(count: int) -> str:
    """The badge's text: the count, or "99+" from 100 on."""
    return "99+" if count > 99 else str(count)


class UnreadFilesMiddleware(ASGIMiddleware):
    """Puts the principal's unread received files (0–100) in the request state for the nav and home pages, and on
    the client's home its offices' new documents (0–100)."""

    def __init__(self, session_provider: Any) -> None:
        self.session_provider = session_provider

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET":
            path: str = scope.get("path", "")
            principal = scope.get("state", {}).get(PRINCIPAL_STATE_KEY)
            if (
                isinstance(principal, Principal)
                and principal.partner is None
                and not path.startswith(_SKIPPED)
                and not path.endswith("/download")
            ):
                if principal.role in _ROLES:
                    db: AsyncSession = self.session_provider(scope["app"].state, scope)
                    scope["state"][UNREAD_STATE_KEY] = await unread_count(db, principal)
                    previous = previous_sign_in_of(scope.get("session"))
                    if path in _HOMES and previous is not None:
                        arrived = await new_files_count(db, principal, previous)
                        scope["state"][ARRIVED_STATE_KEY] = (arrived, previous)
                if path in _CLIENT_HOME and principal.tenant_kind is TenantKind.COMPANY:
                    db = self.session_provider(scope["app"].state, scope)
                    since = previous_sign_in_of(scope.get("session"))
                    scope["state"][DOCUMENTS_STATE_KEY] = await new_documents_count(db, principal, since=since)
        await next_app(scope, receive, send)
