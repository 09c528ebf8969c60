"""Server-side sessions: id rotation at sign-in and privilege change, idle and absolute timeouts.

A session is written back only when its content changed: a signed-in GET that only moves the last-seen time writes
it at most once a minute (``LAST_SEEN_RESOLUTION_SECONDS``), so reads stay reads (SQLite has one writer). The idle
timeout therefore counts from a last-seen time up to a minute old: a session ends at most one minute *before*
``MNV_SESSION_IDLE_MINUTES`` of real inactivity, never after.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
import uuid
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty
from litestar.utils.dataclass import extract_dataclass_items

from app.config import Settings

SESSION_COOKIE = "mnv_session"
TLS_SESSION_COOKIE = "__Host-mnv_session"
SESSION_ID_BYTES = 32
# The only ids this service issues: 64 lower-case hex characters. Anything else is no session at all.
_SESSION_ID = re.compile(f"[0-9a-f]{{{SESSION_ID_BYTES * 2}}}")
NEW_ID_KEY = "mnv_new_session_id"
_NEW_ID_KEY = NEW_ID_KEY
_OLD_ID_KEY = "mnv_retired_session_id"
_LOADED_KEY = "mnv_session_loaded"
LAST_SEEN_RESOLUTION_SECONDS = 60


def valid_session_id(value: str | None) -> bool:
    """Whether a client-sent id has the shape of one this service issues (64 hex characters)."""
    return value is not None and _SESSION_ID.fullmatch(value) is not None


def client_session_id(connection: ASGIConnection[Any, Any, Any, Any], key: str) -> str | None:
    """The session id the client sent, or None when absent or not in the expected format."""
    value = connection.cookies.get(key)
    return value if valid_session_id(value) else None


class RotatingSessionBackend(ServerSideSessionBackend):
    """Server-side sessions with the gaps of Litestar 2 closed.

    - A fresh id once `rotate_session` asks for it (Litestar keeps an id for life).
    - An id not in the issued format is never looked up: the request has no session.
    - Nothing is stored for an empty session (an anonymous visit leaves no row), and an emptied one is deleted.
    - A 5xx response stores nothing: a sign-in whose transaction failed hands out no new session cookie.
    - A session left as it was loaded is not written again (no write for a read).
    """

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        new_id = connection.scope.get("state", {}).get(_NEW_ID_KEY)
        if new_id:
            return str(new_id)
        sent = client_session_id(connection, self.config.key)
        if sent is not None:
            return sent
        # A session that starts in this request: one id for the whole request (the CSRF token is bound to it).
        new_id = self.generate_session_id()
        connection.scope.setdefault("state", {})[_NEW_ID_KEY] = new_id
        return new_id

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        session_id = client_session_id(connection, self.config.key)
        if session_id is None:
            return {}
        data = await self.get(session_id, store=self.config.get_store_from_app(connection.scope["app"]))
        if data is None:
            return {}
        connection.scope.setdefault("state", {})[_LOADED_KEY] = data
        return self.deserialize_data(data)

    async def store_in_message(
        self, scope_session: Any, message: Any, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if message.get("status", 200) >= 500:
            return
        state = connection.scope.get("state", {})
        store = self.config.get_store_from_app(connection.scope["app"])
        # The retired id is deleted here, after the request's transaction ended (SQLite has one writer at a time).
        retired = state.get(_OLD_ID_KEY)
        if retired:
            await self.delete(retired, store=store)
        sent_id = client_session_id(connection, self.config.key)
        if scope_session is Empty or not scope_session:
            if sent_id is not None and not retired:
                await self.delete(sent_id, store=store)
            if sent_id is not None or retired:
                self._set_cookie(message, "null", expires=0)
            return
        session_id = self.get_session_id(connection)
        data = self.serialize_data(scope_session, connection.scope)
        if session_id != sent_id or data != state.get(_LOADED_KEY):
            await self.set(session_id=session_id, data=data, store=store)
        self._set_cookie(message, session_id)

    def _set_cookie(self, message: Any, value: str, **extra: Any) -> None:
        params = dict(extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys()))
        cookie = Cookie(value=value, key=self.config.key, **params, **extra)
        MutableScopeHeaders.from_message(message).add("Set-Cookie", cookie.to_header(header=""))


class RotatingSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend


def session_cookie_name(settings: Settings) -> str:
    """``__Host-`` prefixed over TLS: the browser then refuses the cookie from a sibling domain or plain HTTP."""
    return TLS_SESSION_COOKIE if settings.served_over_tls else SESSION_COOKIE


def session_config(settings: Settings) -> RotatingSessionConfig:
    return RotatingSessionConfig(
        key=session_cookie_name(settings),
        session_id_bytes=SESSION_ID_BYTES,
        store="sessions",
        max_age=settings.session_absolute_hours * 3600,
        httponly=True,
        secure=settings.served_over_tls,
        samesite="lax",
        renew_on_access=False,
        # API calls carry a token, never a session: the cookie is neither read nor set on /api/.
        exclude=["/static/", "/healthz", "/schema", "^/api/"],
    )


def rotate_session(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Forget the current session id (server side) and answer with a brand-new one: no fixation."""
    state = connection.scope.setdefault("state", {})
    old_id = client_session_id(connection, SESSION_COOKIE) or client_session_id(connection, TLS_SESSION_COOKIE)
    if old_id:
        state[_OLD_ID_KEY] = old_id
    new_id = state[_NEW_ID_KEY] = secrets.token_hex(SESSION_ID_BYTES)
    mint_csrf = state.get("mnv_csrf_mint")
    if mint_csrf is not None:  # pages rendered after the rotation carry a token for the new session
        mint_csrf(new_id)


def now_ts() -> float:
    return time.time()


PREVIOUS_SIGN_IN_KEY = "previous_sign_in"


def start_authenticated_session(
    connection: ASGIConnection[Any, Any, Any, Any],
    *,
    account_id: uuid.UUID,
    tenant_id: uuid.UUID,
    epoch: int,
    previous_sign_in: float | None = None,
) -> None:
    """Write a full sign-in into the (already rotated) session; ``previous_sign_in`` is when the account signed in
    before this (a timestamp; absent for a first sign-in): what arrived since then is "new" for the home pages."""
    now = now_ts()
    data: dict[str, Any] = {
        "account_id": str(account_id),
        "tenant_id": str(tenant_id),
        "epoch": epoch,
        "authenticated_at": now,
        "last_seen": now,
        "stepup_at": now,
    }
    if previous_sign_in is not None:
        data[PREVIOUS_SIGN_IN_KEY] = previous_sign_in
    connection.set_session(data)


def previous_sign_in_of(data: Any) -> dt.datetime | None:
    """When the session's account signed in before this session began (``start_authenticated_session``), or None."""
    value = data.get(PREVIOUS_SIGN_IN_KEY) if isinstance(data, dict) else None
    try:
        return ts_to_datetime(float(value)) if value is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def touch_last_seen(data: dict[str, Any], now: float | None = None) -> None:
    """Record activity: move ``last_seen`` to now once it is a minute old (``LAST_SEEN_RESOLUTION_SECONDS``); a
    newer one is left alone, so the session is not rewritten on every request."""
    now = now_ts() if now is None else now
    if now - float(data.get("last_seen", 0)) >= LAST_SEEN_RESOLUTION_SECONDS:
        data["last_seen"] = now


def session_expired(data: dict[str, Any], settings: Settings, now: float | None = None) -> bool:
    """Idle for longer than the idle timeout, or older than the absolute timeout."""
    now = now_ts() if now is None else now
    last_seen = float(data.get("last_seen", 0))
    started = float(data.get("authenticated_at", 0))
    return (
        now - last_seen > settings.session_idle_minutes * 60 or now - started > settings.session_absolute_hours * 3600
    )


def stepup_is_fresh(data: dict[str, Any], settings: Settings, now: float | None = None) -> bool:
    now = now_ts() if now is None else now
    return now - float(data.get("stepup_at", 0)) <= settings.stepup_minutes * 60


def ts_to_datetime(value: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, dt.UTC)
