"""Server-side sessions: id rotation at sign-in and privilege change, idle and absolute timeouts."""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig

from app.config import Settings

SESSION_COOKIE = "mnv_session"
_NEW_ID_KEY = "mnv_new_session_id"
_OLD_ID_KEY = "mnv_retired_session_id"


class RotatingSessionBackend(ServerSideSessionBackend):
    """Litestar 2 keeps a session id for life; this backend issues a fresh id once `rotate_session` asks for it."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        new_id = connection.scope.get("state", {}).get(_NEW_ID_KEY)
        if new_id:
            return str(new_id)
        return super().get_session_id(connection)

    async def store_in_message(
        self, scope_session: Any, message: Any, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        # The retired id is deleted here, after the request's transaction ended (SQLite has one writer at a time).
        retired = connection.scope.get("state", {}).get(_OLD_ID_KEY)
        if retired:
            await self.delete(retired, store=self.config.get_store_from_app(connection.scope["app"]))
        await super().store_in_message(scope_session, message, connection)


class RotatingSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend


def session_config(settings: Settings) -> RotatingSessionConfig:
    return RotatingSessionConfig(
        key=SESSION_COOKIE,
        store="sessions",
        max_age=settings.session_absolute_hours * 3600,
        httponly=True,
        secure=settings.served_over_tls,
        samesite="lax",
        renew_on_access=False,
        exclude=["/static/", "/healthz", "/schema"],
    )


def rotate_session(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Forget the current session id (server side) and answer with a brand-new one: no fixation."""
    state = connection.scope.setdefault("state", {})
    old_id = connection.cookies.get(SESSION_COOKIE)
    if old_id and old_id != "null":
        state[_OLD_ID_KEY] = old_id
    state[_NEW_ID_KEY] = secrets.token_hex(32)


def now_ts() -> float:
    return time.time()


def start_authenticated_session(
    connection: ASGIConnection[Any, Any, Any, Any], *, account_id: uuid.UUID, tenant_id: uuid.UUID, epoch: int
) -> None:
    """Write a full sign-in into the (already rotated) session."""
    now = now_ts()
    connection.set_session(
        {
            "account_id": str(account_id),
            "tenant_id": str(tenant_id),
            "epoch": epoch,
            "authenticated_at": now,
            "last_seen": now,
            "stepup_at": now,
        }
    )


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
