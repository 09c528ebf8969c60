"""CSRF protection bound to the session: a double-submit token whose signature covers the session id.

Litestar's own CSRF middleware signs a random token with the app secret only, so a cookie/token pair taken from one
browser works in any other (an attacker who can plant a cookie plants a pair). Here the signature covers the id of
the session the token belongs to (no id for a visitor without a session): a pair from another session fails, and a
new token is handed out whenever the session changes (sign-in steps, sign-out). Over TLS the cookie is named
``__Host-mnv_csrf`` so a sibling domain cannot plant it at all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import RequestEncodingType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Empty, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from app.auth import sessions

CSRF_COOKIE = "mnv_csrf"
TLS_CSRF_COOKIE = "__Host-mnv_csrf"
CSRF_FIELD = "_csrf_token"
CSRF_HEADER = "x-csrftoken"
MINT_STATE_KEY = "mnv_csrf_mint"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_EXCLUDED_PREFIXES = ("/api/", "/static/", "/healthz", "/schema")
_RANDOM_HEX = 64


class SessionBoundCSRF:
    """Makes and checks tokens ``<64 hex random><64 hex HMAC(secret, random | session id)>``."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _signature(self, random_part: str, binding: str) -> str:
        message = f"{random_part}|{binding}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def mint(self, binding: str) -> str:
        """A fresh token for the session ``binding`` (an id, or "" for no session)."""
        random_part = secrets.token_hex(_RANDOM_HEX // 2)
        return random_part + self._signature(random_part, binding)

    def valid(self, token: str | None, binding: str) -> bool:
        """Whether ``token`` was made by this service for this session."""
        if not token or len(token) != _RANDOM_HEX * 2:
            return False
        random_part, signature = token[:_RANDOM_HEX], token[_RANDOM_HEX:]
        return hmac.compare_digest(signature, self._signature(random_part, binding))


def _binding(scope: Scope, session_key: str, *, final: bool) -> str:
    """The session id the token belongs to: "" while the session holds nothing (no row is stored for it)."""
    data = scope.get("session")
    if data is Empty or not data:
        return ""
    state = scope.get("state", {})
    if final and state.get(sessions.NEW_ID_KEY):
        return str(state[sessions.NEW_ID_KEY])
    request: Request[Any, Any, Any] = Request(scope)
    return sessions.client_session_id(request, session_key) or str(state.get(sessions.NEW_ID_KEY, ""))


class CSRFMiddleware(ASGIMiddleware):
    """Checks the token on every unsafe request (form field or ``X-CSRFToken`` header, equal to the cookie and
    signed for the request's session) and keeps the cookie bound to the session the response leaves behind."""

    def __init__(self, csrf: SessionBoundCSRF, *, session_key: str, tls: bool) -> None:
        self.csrf = csrf
        self.session_key = session_key
        self.cookie_name = TLS_CSRF_COOKIE if tls else CSRF_COOKIE
        self.tls = tls

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(_EXCLUDED_PREFIXES):
            await next_app(scope, receive, send)
            return
        request: Request[Any, Any, Any] = Request(scope, receive)
        cookie = request.cookies.get(self.cookie_name)
        binding = _binding(scope, self.session_key, final=False)
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER)
            content_type, _ = request.content_type
            if not sent and content_type in (RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART):
                value = (await request.form()).get(CSRF_FIELD)
                sent = value if isinstance(value, str) else None
            if not (sent and cookie and hmac.compare_digest(sent, cookie) and self.csrf.valid(cookie, binding)):
                raise PermissionDeniedException("CSRF token verification failed")
        state = ScopeState.from_scope(scope)
        state.csrf_token = cookie if cookie and self.csrf.valid(cookie, binding) else self.csrf.mint(binding)

        def mint(new_binding: str) -> None:
            state.csrf_token = self.csrf.mint(new_binding)

        scope.setdefault("state", {})[MINT_STATE_KEY] = mint

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 500:
                final = _binding(scope, self.session_key, final=True)
                token = state.csrf_token if isinstance(state.csrf_token, str) else None
                if not self.csrf.valid(token, final):
                    token = self.csrf.mint(final)
                if token != cookie:
                    self._set_cookie(message, token or "")
            await send(message)

        await next_app(scope, receive, send_with_cookie)

    def _set_cookie(self, message: Message, token: str) -> None:
        cookie = Cookie(key=self.cookie_name, value=token, path="/", secure=self.tls, httponly=True, samesite="lax")
        MutableScopeHeaders.from_message(message).add("set-cookie", cookie.to_header(header=""))
