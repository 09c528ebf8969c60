"""Litestar dependencies shared by every package: settings, password hasher, vault, principal."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal, require_principal
from app.auth.services import ClientInfo
from app.config import Settings
from app.vault import Vault


def provide_settings(state: State) -> Settings:
    return state["settings"]  # type: ignore[no-any-return]


def provide_hasher(state: State) -> PasswordHasher:
    return state["hasher"]  # type: ignore[no-any-return]


def provide_vault(state: State) -> Vault:
    return state["vault"]  # type: ignore[no-any-return]


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    return require_principal(request)


def provide_client(request: Request[Any, Any, Any]) -> ClientInfo:
    return ClientInfo(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent", "")[:300],
    )


DEPENDENCIES = {
    "settings": Provide(provide_settings, sync_to_thread=False),
    "hasher": Provide(provide_hasher, sync_to_thread=False),
    "vault": Provide(provide_vault, sync_to_thread=False),
    "principal": Provide(provide_principal, sync_to_thread=False),
    "client": Provide(provide_client, sync_to_thread=False),
}
