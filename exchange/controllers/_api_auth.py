"""What every ``/api/v1`` endpoint shares: token authentication, scopes, problem+json errors, the call log.

An endpoint goes into :func:`api_router` and declares the one scope it needs with ``opt=requires("people:read")``.
The router's guard (:func:`token_guard`) then, before anything else runs:

- authenticates ``Authorization: Bearer <token>`` (``exchange.services.authenticate``): none, unknown, wrong,
  expired, revoked, another tenant's suspended account, or a client address outside the token's networks → 401
  problem (``WWW-Authenticate: Bearer``). Sessions and cookies never authenticate: the session and principal
  middlewares skip ``/api/`` and CSRF does not apply to it (``app.auth``);
- refuses (429 problem, ``Retry-After``) a token's calls beyond ``api_rate_per_minute`` in a clock minute
  (:func:`within_rate`; counted in Redis when the stores are there, else in the process's memory);
- refuses (403 problem) a token without the endpoint's scope, and an endpoint that declares none (fail closed);
- leaves the :class:`~exchange.services.ApiPrincipal` where every handler gets it as ``principal``.

Errors are RFC 9457 problems (``app.problems``); a service's ``FormInvalid`` becomes a 422 with per-field errors.
Each call is logged (``mnvault.api``: method, route template, status, token id and name, tenant, time; never a
body, a query or a header), and number operations write their audit entries through the services.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Request, Router
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.guard import redact_client_text
from app.auth.principal import PRINCIPAL_STATE_KEY, principal_tenants
from app.forms import FormInvalid
from app.logs import get_logger
from app.problems import BEARER_SCHEME, INSUFFICIENT_SCOPE, INVALID_TOKEN, ApiProblem, Problem, form_invalid_problem
from app.rls import enforces_row_level_security, narrow_session
from exchange.services import SCOPES, ApiPrincipal, TokenRefused, authenticate

log = get_logger("api")
RATE_LIMITED = "urn:mnvault:problem:rate-limited"
RATE_STORE = "rate_limit"
_RATE_WINDOW_SECONDS = 60
_rate_lock = asyncio.Lock()
_clock = time.time  # seconds since the epoch (a test sets the minute)
# This process's calls per token in the current minute (when the stores are not in Redis): token id → (minute,
# calls); one entry per token, replaced as minutes pass, so it never grows with time.
_local_counts: dict[uuid.UUID, tuple[int, int]] = {}

API_PATH = "/api/v1"
SCOPE_OPT = "api_scope"

REALM = 'Bearer realm="mnvault"'


def requires(scope: str) -> dict[str, Any]:
    """The handler ``opt`` declaring the one scope an endpoint needs (``SCOPES``): ``@get(..., opt=requires(...))``."""
    if scope not in SCOPES:
        raise ValueError(f"unknown API scope {scope!r}")
    return {SCOPE_OPT: scope}


def request_session(connection: ASGIConnection[Any, Any, Any, Any]) -> AsyncSession:
    """The request's database session (the one its handler gets as ``db_session``), from a guard."""
    config = connection.app.plugins.get(SQLAlchemyPlugin).config[0]
    return config.provide_session(connection.app.state, connection.scope)  # type: ignore[return-value]


def _client(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str | None, str]:
    ip = connection.client.host if connection.client else None
    return ip, connection.headers.get("user-agent", "")[:300]


async def token_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Authenticate the call's bearer token (401), count it against the token's rate (429) and check the
    endpoint's scope (403); see the module doc."""
    ip, agent = _client(connection)
    try:
        principal = await authenticate(
            request_session(connection),
            connection.app.state["vault"],
            connection.headers.get("authorization"),
            ip=ip,
            user_agent=agent,
        )
    except TokenRefused as exc:
        error = "" if exc.reason == "missing" else ', error="invalid_token"'
        raise ApiProblem(
            401,
            exc.message,
            type=INVALID_TOKEN,
            headers={"WWW-Authenticate": REALM + error},
            extensions={"reason": exc.reason},
        ) from None
    await within_rate(connection, principal)
    session = request_session(connection)
    if enforces_row_level_security(session):
        await narrow_session(session, await principal_tenants(session, principal))
    connection.scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
    required = handler.opt.get(SCOPE_OPT)
    if required not in SCOPES:  # an endpoint that forgot to declare its scope is closed, never open
        raise ApiProblem(403, "この API は利用できません。", type=INSUFFICIENT_SCOPE)
    if not principal.allows(required):
        raise ApiProblem(
            403,
            f"このAPIトークンには権限「{required}」（{SCOPES[required]}）がありません。"
            "管理者に、この権限を持つトークンの発行を依頼してください。",
            type=INSUFFICIENT_SCOPE,
            headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{required}"'},
            extensions={"required_scope": required},
        )


async def within_rate(connection: ASGIConnection[Any, Any, Any, Any], principal: ApiPrincipal) -> None:
    """Count the token's call in this clock minute; a 429 problem (``Retry-After``: seconds to the next minute)
    once ``Settings.api_rate_per_minute`` calls have been made in it.

    Counted in Redis when the app keeps its stores there (``MNV_STORE=redis``: shared by every process), else in
    the process's memory: a read never becomes a database write (on SQLite's single writer it would queue behind
    every other write), at the price of a limit per process (``--workers N``: up to N times the setting).
    """
    settings = connection.app.state["settings"]
    limit: int = settings.api_rate_per_minute
    now = _clock()
    window = int(now // _RATE_WINDOW_SECONDS)
    retry_after = max(1, int((window + 1) * _RATE_WINDOW_SECONDS - now + 0.999))
    if settings.store == "redis":
        store = connection.app.stores.get(RATE_STORE)
        key = f"api:{principal.token_id}:{window}"
        async with _rate_lock:
            calls = int(await store.get(key) or 0)
            if calls < limit:
                await store.set(key, str(calls + 1).encode(), expires_in=_RATE_WINDOW_SECONDS * 2)
    else:  # no await between the read and the write: atomic on the event loop
        counted_window, counted = _local_counts.get(principal.token_id, (window, 0))
        calls = counted if counted_window == window else 0
        if calls < limit:
            _local_counts[principal.token_id] = (window, calls + 1)
    if calls >= limit:
        raise ApiProblem(
            429,
            f"このAPIトークンの呼び出しが多すぎます（1分間に{limit:,}回まで）。"
            f"{retry_after}秒待ってから呼び出してください（Retry-After ヘッダーの秒数）。",
            type=RATE_LIMITED,
            headers={"Retry-After": str(retry_after)},
            extensions={"limit_per_minute": limit, "retry_after": retry_after},
        )


token_guard.api_token = True  # type: ignore[attr-defined]  # tests/test_route_matrix.py finds the API routes by it


def provide_api_principal(request: Request[Any, Any, Any]) -> ApiPrincipal:
    """The token's principal, left by :func:`token_guard` (which every API route runs first)."""
    principal = request.scope.get("state", {}).get(PRINCIPAL_STATE_KEY)
    if not isinstance(principal, ApiPrincipal):
        raise ApiProblem(401, "APIトークンが必要です。", type=INVALID_TOKEN, headers={"WWW-Authenticate": REALM})
    return principal


class ApiCallLog(ASGIMiddleware):
    """One log line per API call: who (token), what (method, route template), the status and the time taken."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, capture)
        finally:
            principal = scope.get("state", {}).get(PRINCIPAL_STATE_KEY)
            token = principal if isinstance(principal, ApiPrincipal) else None
            log.info(
                "api call",
                extra={
                    "method": scope.get("method", ""),
                    "route": str(scope.get("path_template", "")),
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "token_id": str(token.token_id) if token else None,
                    "token_name": redact_client_text(token.token_name) if token else None,
                    "tenant": token.tenant_code if token else None,
                },
            )


def problem_example(status: int, type_: str, title: str, detail: str, **extra: Any) -> Example:
    """An example problem body for the OpenAPI description."""
    return Example(summary=title, value={"type": type_, "title": title, "status": status, "detail": detail, **extra})


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """The documented error answers of an endpoint (401, 403 and 429 always): problem+json bodies with examples."""
    documented: dict[int, ResponseSpec] = {}
    for status in sorted({401, 403, 429, *statuses}):
        example = _EXAMPLES[status]
        documented[status] = ResponseSpec(
            data_container=Problem,
            description=example.summary or "",
            media_type="application/problem+json",
            examples=[example],
        )
    return documented


_EXAMPLES: dict[int, Example] = {
    400: problem_example(
        400,
        "urn:mnvault:problem:invalid-request",
        "リクエストの形式が正しくありません",
        "リクエストの内容に誤りがあります。errors の項目を直してください。",
        errors=[{"field": "limit", "pointer": "limit", "detail": "値が大きすぎます。"}],
    ),
    401: problem_example(
        401,
        INVALID_TOKEN,
        "認証が必要です",
        "APIトークンの有効期限が切れています。管理者に新しいトークンの発行を依頼してください。",
        reason="expired",
    ),
    403: problem_example(
        403,
        INSUFFICIENT_SCOPE,
        "この操作は許可されていません",
        "このAPIトークンには権限「numbers:read」（番号の取得（利用目的を指定、1件ごとに操作履歴に記録））がありません。"
        "管理者に、この権限を持つトークンの発行を依頼してください。",
        required_scope="numbers:read",
    ),
    404: problem_example(
        404,
        "urn:mnvault:problem:not-found",
        "見つかりません",
        "指定したものが見つかりません。URL と ID をご確認ください。",
    ),
    429: problem_example(
        429,
        RATE_LIMITED,
        "リクエストが多すぎます",
        "このAPIトークンの呼び出しが多すぎます（1分間に600回まで）。"
        "42秒待ってから呼び出してください（Retry-After ヘッダーの秒数）。",
        limit_per_minute=600,
        retry_after=42,
    ),
    415: problem_example(
        415,
        "urn:mnvault:problem:unsupported-media-type",
        "この形式のデータは受け付けられません",
        "本文は JSON（Content-Type: application/json）で送ってください（Content-Type ヘッダーをご確認ください）。",
    ),
    422: problem_example(
        422,
        "urn:mnvault:problem:validation",
        "入力内容に誤りがあります",
        "入力内容に誤りがあります。errors の項目を直してください。",
        errors=[{"field": "kana", "pointer": "#/kana", "detail": "フリガナを入力してください。"}],
    ),
}


UNSUPPORTED_MEDIA_TYPE = "urn:mnvault:problem:unsupported-media-type"
_BODY_TYPES = {
    RequestEncodingType.JSON: ("application/json", "JSON（Content-Type: application/json）"),
    RequestEncodingType.MULTI_PART: ("multipart/form-data", "multipart/form-data（file にファイル）"),
}


def body_type_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """An endpoint that reads a body takes it only in its declared type: 415 problem+json for any other
    Content-Type (a JSON body sent as text/plain was read as JSON; a form as a 400 "not JSON"). A call without a
    body passes here and gets its 400 from the body's validation."""
    declared = handler.parsed_fn_signature.parameters.get("data")
    media_type = getattr(declared.kwarg_definition, "media_type", None) if declared is not None else None
    if media_type not in _BODY_TYPES:
        return
    sent = connection.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    expected, described = _BODY_TYPES[media_type]
    if not sent and connection.headers.get("content-length", "0") in ("", "0"):
        return
    json_suffix = media_type is RequestEncodingType.JSON and sent.startswith("application/") and sent.endswith("+json")
    if sent != expected and not json_suffix:
        raise ApiProblem(
            415,
            f"本文は {described} で送ってください（Content-Type ヘッダーをご確認ください）。",
            type=UNSUPPORTED_MEDIA_TYPE,
        )


def api_router(route_handlers: Sequence[Any]) -> Router:
    """``/api/v1`` with token authentication, scopes, problem+json errors and the call log (see the module doc)."""
    return Router(
        path=API_PATH,
        route_handlers=list(route_handlers),
        guards=[token_guard, body_type_guard],
        dependencies={"principal": Provide(provide_api_principal, sync_to_thread=False)},
        exception_handlers={FormInvalid: form_invalid_problem},
        middleware=[ApiCallLog()],
        security=[{BEARER_SCHEME: []}],
        tags=["給与ソフト連携 API"],
    )
