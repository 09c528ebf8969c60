"""The nav's badge of unread received files and the home page's notice (seed 000 FAQ13: ファイルがアップロードされた
場合は起動時にお知らせが表示されます).

One middleware after the principal is loaded: on a page request (GET, not /static, /api, downloads) of a client's
admin or handler, or of an office's staff member at the office, it counts the unread files received by the
principal's side (at most ``BADGE_CAP`` rows of a partial index) into the request state, which the nav and the
home pages read. Everyone else costs nothing.
"""

from __future__ import annotations

from typing import Any

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role
from app.auth.principal import PRINCIPAL_STATE_KEY, Principal
from partners.services import unread_count

UNREAD_STATE_KEY = "exchange_unread"
_SKIPPED = ("/static/", "/api/", "/healthz", "/schema")
_ROLES = frozenset({Role.ADMIN, Role.HANDLER, Role.PARTNER_ADMIN, Role.PARTNER_STAFF})


def badge_label(count: int) -> str:
    """The badge's text: the count, or "99+" from 100 on."""
    return "99+" if count > 99 else str(count)


class UnreadFilesMiddleware(ASGIMiddleware):
    """Puts the principal's unread received files (0–100) in the request state for the nav and home pages."""

    def __init__(self, session_provider: Any) -> None:
        self.session_provider = session_provider

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET":
            path: str = scope.get("path", "")
            principal = scope.get("state", {}).get(PRINCIPAL_STATE_KEY)
            if (
                isinstance(principal, Principal)
                and principal.partner is None
                and principal.role in _ROLES
                and not path.startswith(_SKIPPED)
                and not path.endswith("/download")
            ):
                db: AsyncSession = self.session_provider(scope["app"].state, scope)
                scope["state"][UNREAD_STATE_KEY] = await unread_count(db, principal)
        await next_app(scope, receive, send)
