"""RFC 9457 problem details: every error of the JSON API (``/api/``) in one shape, with a Japanese ``detail``.

A problem is ``application/problem+json`` with ``type`` (a URN naming the kind of problem, or ``about:blank`` for a
plain HTTP status), ``title``, ``status`` and ``detail`` (Japanese, saying what to do), plus ``errors`` (one entry
per field: ``field``, ``pointer`` (JSON Pointer into the body, or the query parameter's name) and ``detail``) and
extension members where a kind of problem has them (``error_id`` for a server error, ``required_scope``...).

Raise :class:`ApiProblem` from API code; the exception handlers (``app.http``) turn every other error of an API path
(unknown route, wrong method, malformed JSON, a body or query that does not validate, 404, 500) into a problem too.
Nothing the client sent is echoed back: a value could be a My Number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from app.forms import FormInvalid

API_PREFIX = "/api/"
# The OpenAPI security scheme of the API's bearer tokens (declared by create_app, required by the API router).
BEARER_SCHEME = "bearerToken"
PROBLEM_MEDIA_TYPE = "application/problem+json"
_URN = "urn:mnvault:problem:"
INVALID_REQUEST = _URN + "invalid-request"
INVALID_TOKEN = _URN + "invalid-token"
INSUFFICIENT_SCOPE = _URN + "insufficient-scope"
NOT_FOUND = _URN + "not-found"
VALIDATION = _URN + "validation"
BLANK = "about:blank"

TITLES = {
    400: "リクエストの形式が正しくありません",
    401: "認証が必要です",
    403: "この操作は許可されていません",
    404: "見つかりません",
    405: "このメソッドでは呼び出せません",
    409: "現在の状態では実行できません",
    413: "送信されたデータが大きすぎます",
    415: "この形式のデータは受け付けられません",
    422: "入力内容に誤りがあります",
    429: "リクエストが多すぎます",
    500: "システムエラーが発生しました",
    503: "ただいまご利用いただけません",
}
DETAILS = {
    400: "リクエストの形式が正しくありません。API の説明（/schema/openapi.json）をご確認ください。",
    401: "APIトークンが必要です。Authorization ヘッダーに「Bearer <トークン>」を付けて送ってください。",
    403: "この操作は許可されていません。",
    404: "指定したものが見つかりません。URL と ID をご確認ください。",
    405: "このメソッドでは呼び出せません。API の説明（/schema/openapi.json）をご確認ください。",
    413: "送信されたデータが大きすぎます。",
    415: "本文は JSON（Content-Type: application/json）で送ってください。",
    429: "リクエストが多すぎます。しばらく待ってからもう一度お試しください。",
    500: (
        "システムエラーが発生しました。時間をおいてもう一度お試しください。"
        "続く場合は error_id を添えてお問い合わせください。"
    ),
    503: "ただいまご利用いただけません。しばらく待ってからもう一度お試しください。",
}
TYPES = {400: INVALID_REQUEST, 401: INVALID_TOKEN, 403: INSUFFICIENT_SCOPE, 404: NOT_FOUND, 422: VALIDATION}


class FieldError(msgspec.Struct, kw_only=True):
    """One field's error: which field, where (a JSON Pointer into the body, or the query parameter), what to fix."""

    field: str
    pointer: str
    detail: str


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The body of every API error (RFC 9457), as documented in the OpenAPI description."""

    type: str = BLANK
    title: str
    status: int
    detail: str
    errors: list[FieldError] = msgspec.field(default_factory=list)


class ApiProblem(HTTPException):
    """Answer an API call with a problem: ``status``, a Japanese ``detail``, optional field ``errors`` and extension
    members (``extensions``); ``type`` defaults to the status's kind (``TYPES``) and ``title`` to its wording."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type: str | None = None,
        title: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail=detail, status_code=status, headers=headers)
        self.problem_type = type or TYPES.get(status, BLANK)
        self.title = title or TITLES.get(status, "エラーが発生しました")
        self.errors = list(errors or [])
        self.extensions = dict(extensions or {})


def is_api_path(path: str) -> bool:
    """Whether a path belongs to the JSON API (its errors are problems, its callers authenticate by token)."""
    return path.startswith(API_PREFIX)


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    type: str | None = None,
    title: str | None = None,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> Response[Any]:
    """An ``application/problem+json`` response; ``detail`` defaults to the status's Japanese wording."""
    body: dict[str, Any] = {
        "type": type or TYPES.get(status, BLANK),
        "title": title or TITLES.get(status, "エラーが発生しました"),
        "status": status,
        "detail": detail or DETAILS.get(status, TITLES.get(status, "エラーが発生しました")),
    }
    if errors:
        body["errors"] = [msgspec.structs.asdict(error) for error in errors]
    for key, value in (extensions or {}).items():
        body.setdefault(key, value)
    return Response(content=body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {}))


def field_errors(errors: Mapping[str, str], *, source: str = "body") -> list[FieldError]:
    """Field errors from ``{field: message}`` (``FormInvalid.errors``): pointers into the body (or query names)."""
    return [FieldError(field=name, pointer=_pointer(name, source), detail=message) for name, message in errors.items()]


def _pointer(key: str, source: str) -> str:
    if source != "body":
        return key
    parts = [part for part in re.split(r"[.\[\]]+", key) if part]
    return "#/" + "/".join(parts) if parts else "#"


# Litestar's (English) validation messages, told in Japanese without the value that was sent.
_REASONS: tuple[tuple[str, str], ...] = (  # the first match wins: bounds before types
    ("missing required field", "必須の項目です。指定してください。"),
    ("unknown field", "この API では使えない項目です。項目名をご確認ください。"),
    ("Invalid UUID", "ID（UUID、例: 0192c1b2-3e4f-7a8b-9c0d-1e2f3a4b5c6d）の形式が正しくありません。"),
    ("Invalid enum value", "指定できる値ではありません。API の説明にある値から選んでください。"),
    ("length", "長さ（件数）が範囲外です。API の説明にある範囲で指定してください。"),
    ("<=", "値が大きすぎます。API の説明にある範囲で指定してください。"),
    (">=", "値が小さすぎます。API の説明にある範囲で指定してください。"),
    ("Expected `int`", "整数で指定してください。"),
    ("Expected `str`", "文字列で指定してください。"),
    ("Expected `array`", "配列で指定してください。"),
    ("Expected `object`", "オブジェクトで指定してください。"),
    ("Expected `bool`", "true か false で指定してください。"),
)
_FIELD = re.compile(r"`([A-Za-z_][A-Za-z0-9_]{0,40})`")


def _reason(message: str) -> str:
    for needle, reason in _REASONS:
        if needle in message:
            return reason
    return "値の形式が正しくありません。"


def _validation_errors(extra: Any) -> list[FieldError]:
    """Field errors from a ValidationException's ``extra`` (``[{"message", "key", "source"}]``)."""
    found: list[FieldError] = []
    for item in extra if isinstance(extra, list) else []:
        if not isinstance(item, Mapping):
            continue
        message = str(item.get("message", ""))
        key = str(item.get("key") or "")
        source = str(item.get("source") or "body")
        if "required field" in message and (named := _FIELD.search(message)):
            key = named.group(1) if key in ("", "data") else f"{key}.{named.group(1)}"
        if key == "data" or not key:
            key = "(本文)"
        if len(key) > 60:
            key = key[:60]
        found.append(FieldError(field=key, pointer=_pointer(key, source), detail=_reason(message)))
    return found


_MISSING = re.compile(r"Missing required (?:query|header|cookie|path) parameter '([A-Za-z_][A-Za-z0-9_-]{0,40})'")


def _missing_parameter(message: str) -> list[FieldError]:
    """The field error of a missing required parameter (Litestar names it in its message; nothing else is kept)."""
    found = _MISSING.search(message)
    if found is None:
        return []
    name = found.group(1)
    return [FieldError(field=name, pointer=name, detail="必須の項目です。指定してください。")]


def problem_for_exception(exc: Exception, *, error_id: str | None = None) -> Response[Any]:
    """The problem answering an exception raised on an API path (HTTP errors, validation, or a server error)."""
    if isinstance(exc, ApiProblem):
        return problem_response(
            exc.status_code,
            exc.detail,
            type=exc.problem_type,
            title=exc.title,
            errors=exc.errors,
            headers=exc.headers,
            extensions=exc.extensions,
        )
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc.extra) or _missing_parameter(str(exc.detail))
        detail = "リクエストの内容に誤りがあります。errors の項目を直してください。" if errors else None
        if not errors and "JSON" in str(exc.detail):
            detail = "本文を JSON として読めません。JSON の書き方をご確認ください。"
        return problem_response(400, detail, errors=errors, headers=exc.headers)
    if isinstance(exc, HTTPException):
        detail = None
        if exc.status_code == 400 and "JSON" in str(exc.detail):
            detail = "本文を JSON として読めません。JSON の書き方をご確認ください。"
        return problem_response(exc.status_code, detail, headers=exc.headers)
    return problem_response(500, extensions={"error_id": error_id} if error_id else None)


def form_invalid_problem(_: Request[Any, Any, Any], exc: FormInvalid) -> Response[Any]:
    """A service refused the input (``FormInvalid``): 422 with the same Japanese messages the pages show."""
    errors = field_errors(exc.errors)
    return problem_response(422, "入力内容に誤りがあります。errors の項目を直してください。", errors=errors)
