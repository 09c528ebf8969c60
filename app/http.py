"""HTTP plumbing shared by every package: security headers, error pages, page rendering."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final
from urllib.parse import quote, urlsplit

from litestar import Request, Response, _multipart
from litestar.datastructures import MutableScopeHeaders, UploadFile
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.middleware import ASGIMiddleware
from litestar.params import Parameter
from litestar.response import Redirect, Template
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.auth.principal import StepUpRequired, home_for, principal_of
from app.blobs import BlobStoreUnavailable
from app.logs import get_logger
from app.problems import is_api_path, problem_for_exception, problem_response

log = get_logger("http")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def security_headers(*, hsts: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """A ``before_send`` hook: CSP, nosniff, referrer and framing headers on every response the app sends (error
    pages for unknown routes, 405, 413 and 500 included, static files too); no-store on every non-static one."""

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        # One-time links carry a token in the path: never leak it through Referer.
        headers["Referrer-Policy"] = "no-referrer"
        headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if hsts:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if not (scope.get("path", "").startswith("/static/") and message.get("status", 200) < 400):
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"

    return add_headers


_STATIC_NAME = re.compile(r"/static/[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


class RefuseOddRequestsMiddleware(ASGIMiddleware):
    """Requests no page can answer are refused before anything uses them: a NUL byte in the path (404) or the
    query (400) (file names, PostgreSQL text), and static file names outside the plain set the service ships
    (404; a 5,000-character or NUL name would make the file system raise)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            if "\x00" in path or b"\x00" in scope.get("raw_path", b""):
                raise NotFoundException()
            if path.startswith("/static/") and not _STATIC_NAME.fullmatch(path):
                raise NotFoundException()
            if b"%00" in scope.get("query_string", b"") or b"\x00" in scope.get("query_string", b""):
                raise ValidationException()
        await next_app(scope, receive, send)


# A ``page`` query parameter, read by ``app.paging.PageRequest.parse``: anything but a page number (0, -1, a
# 30-digit number, letters) is the first page, as on every other list, never a 400 and never a database value.
PageNumber = Annotated[str, Parameter(description="ページ番号（1 から）")]


def wants_json(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path.startswith("/schema") or path == "/healthz":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


ERROR_TITLES = {
    400: "入力内容に誤りがあります",
    401: "ログインが必要です",
    403: "この操作は許可されていません",
    404: "ページが見つかりません",
    405: "この方法ではアクセスできません",
    413: "送信されたデータが大きすぎます",
    429: "アクセスが集中しています。しばらく待ってからもう一度お試しください",
    500: "システムエラーが発生しました",
    503: "ただいまご利用いただけません",
}

ERROR_HINTS = {
    403: "画面を再読み込みしてからもう一度操作してください。解決しない場合は管理者にお問い合わせください。",
    404: "URL が正しいかご確認ください。",
}


def error_response(
    request: Request[Any, Any, Any],
    status: int,
    error_id: str | None = None,
    *,
    title: str | None = None,
    hint: str | None = None,
) -> Response[Any]:
    """The error page (or JSON) for ``status``; ``title`` and ``hint`` replace the status's usual wording."""
    title = title or ERROR_TITLES.get(status, "エラーが発生しました")
    hint = ERROR_HINTS.get(status, "") if hint is None else hint
    if wants_json(request):
        body: dict[str, Any] = {"status_code": status, "detail": title}
        if error_id:
            body["error_id"] = error_id
        return Response(content=body, status_code=status, media_type="application/json")
    return Template(
        template_name="error.html",
        context={"status": status, "title": title, "hint": hint, "error_id": error_id},
        status_code=status,
    )  # type: ignore[return-value]


def return_path(request: Request[Any, Any, Any]) -> str:
    """Where to come back after signing in or re-authenticating (a local path).

    A GET: the page itself with its query. Any other method (a form's POST, whose path may answer only POST): the
    page the form was on — the path and query of a same-origin ``Referer`` — else the signed-in role's home page
    (``/`` when nobody is signed in). The browser then shows the form again; nothing is re-submitted.
    """
    query = f"?{request.url.query}" if request.url.query else ""
    if request.method == "GET":
        return request.url.path + query
    referer = _same_origin_referer(request)
    if referer is not None:
        return referer
    if _answers_get(request):  # the pages send no Referer (Referrer-Policy: no-referrer): the same path's GET
        return request.url.path + query
    principal = principal_of(request)
    return home_for(principal.role) if principal is not None else "/"


def _answers_get(request: Request[Any, Any, Any]) -> bool:
    """Whether the path of a form's POST also answers GET (a page such as the import's commit, whose GET goes
    back to its report after a step-up)."""
    template = request.scope.get("path_template", "")
    return any(
        isinstance(route, HTTPRoute) and template in (route.path, route.path_format) and "GET" in route.methods
        for route in request.app.routes
    )


def _same_origin_referer(request: Request[Any, Any, Any]) -> str | None:
    """The local path (and query) of the request's ``Referer`` when it names this host; None otherwise."""
    referer = urlsplit(request.headers.get("referer", ""))
    host = request.headers.get("host", request.url.netloc)
    if not referer.netloc or referer.netloc.lower() != host.lower() or referer.scheme not in ("http", "https"):
        return None
    path = referer.path + (f"?{referer.query}" if referer.query else "")
    local = safe_next(path, "")
    return local or None


def safe_next(value: str | None, default: str = "/") -> str:
    """Only local absolute paths: never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def attachment(filename: str) -> str:
    """A ``Content-Disposition`` for a download named ``filename`` (Japanese kept through RFC 6266's
    ``filename*``; an ASCII fallback for old clients; quotes, separators and controls removed)."""
    kept = (c for c in filename if (c.isprintable() or unicodedata.category(c) == "Zs") and c not in '"\\/')
    cleaned = "".join(kept).strip() or "download"  # an ideographic space (Zs, not "printable") stays in the name
    fallback = unicodedata.normalize("NFKD", cleaned).encode("ascii", "ignore").decode().strip() or "download"
    if "." in cleaned and "." not in fallback.lstrip("."):
        fallback = f"download.{cleaned.rsplit('.', 1)[1]}".encode("ascii", "ignore").decode()
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


def file_download(data: bytes, filename: str, content_type: str = "") -> Response[bytes]:
    """A stored file handed to the user: always an attachment (never rendered inline: an HTML or SVG file sent
    by someone else must not run in our origin), its declared type, no sniffing, never cached."""
    return Response(
        content=data,
        media_type=content_type or "application/octet-stream",
        headers={
            "Content-Disposition": attachment(filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if is_api_path(request.url.path):  # the JSON API answers with RFC 9457 problems (app.problems)
        return problem_for_exception(exc)
    if isinstance(exc, StepUpRequired) and not wants_json(request):
        return Redirect(path="/reauth", query_params={"next": return_path(request)})  # type: ignore[return-value]
    if isinstance(exc, NotAuthorizedException) and not wants_json(request):
        return Redirect(path="/login", query_params={"next": return_path(request)})  # type: ignore[return-value]
    response = error_response(request, exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def loggable_path(request: Request[Any, Any, Any]) -> str:
    """The path for a log line; a route whose path holds a secret (``opt={"secret_path": True}``) gives its
    template instead (a payee link's token must not reach a log)."""
    handler = request.scope.get("route_handler")
    if handler is not None and handler.opt.get("secret_path"):
        return str(request.scope.get("path_template", ""))
    return request.url.path


def server_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    error_id = secrets.token_hex(6)
    # The exception type and a traceback, never request bodies: a form may hold a number.
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"error_id": error_id, "path": loggable_path(request), "method": request.method},
    )
    if is_api_path(request.url.path):
        return problem_for_exception(exc, error_id=error_id)
    return error_response(request, HTTP_500_INTERNAL_SERVER_ERROR, error_id)


BUSY_RETRY_AFTER_SECONDS = 5
BUSY_TITLE = "ただいま混み合っています"
BUSY_HINT = "しばらく待ってから、もう一度お試しください。入力した内容は保存されていません。"


def pool_exhausted_handler(request: Request[Any, Any, Any], exc: PoolTimeout) -> Response[Any]:
    """No database connection came free within ``MNV_DB_POOL_TIMEOUT``: 503 with Retry-After, never a 500.

    Nothing of the request was committed (the transaction is rolled back on any status >= 400). API paths get
    ``application/problem+json`` (RFC 9457); pages a short Japanese page.
    """
    log.warning(
        "database connection pool exhausted",
        extra={"path": loggable_path(request), "method": request.method, "error": str(exc).split(" (")[0]},
    )
    return _busy_response(request)


def _busy_response(request: Request[Any, Any, Any]) -> Response[Any]:
    """503 ただいま混み合っています with Retry-After: problem+json on API paths, a short Japanese page otherwise."""
    headers = {"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)}
    if is_api_path(request.url.path):
        return problem_response(HTTP_503_SERVICE_UNAVAILABLE, BUSY_HINT, title=BUSY_TITLE, headers=headers)
    response = error_response(request, HTTP_503_SERVICE_UNAVAILABLE, title=BUSY_TITLE, hint=BUSY_HINT)
    response.headers.update(headers)
    return response


def database_busy(exc: BaseException) -> bool:
    """Whether a database error means "another writer holds the database" (SQLite's single writer, busy past its
    timeout: a long import commit, say), which waiting and trying again resolves."""
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc).lower()
    return "database is locked" in text or "database table is locked" in text


def operational_error_handler(request: Request[Any, Any, Any], exc: OperationalError) -> Response[Any]:
    """A writer that waited past SQLite's busy timeout (another transaction held the database: a long import's
    commit): 503 with Retry-After, as for an exhausted pool; nothing of the request was committed. Any other
    operational error is a server error (500 with its error id)."""
    if not database_busy(exc):
        return server_error_handler(request, exc)
    # The driver's message only: SQLAlchemy's text of the error carries the statement and its parameters.
    log.warning(
        "database busy",
        extra={"path": loggable_path(request), "method": request.method, "error": "database is locked"},
    )
    return _busy_response(request)


STORE_TITLE = "ファイルを保存できませんでした"
STORE_HINT = (
    "ファイルの保存先に書き込めません（空き容量がないか、書き込みが許可されていません）。"
    "入力した内容は保存されていません。時間をおいてもう一度お試しいただき、続く場合は管理者にご連絡ください。"
)


def store_unavailable_handler(request: Request[Any, Any, Any], exc: BlobStoreUnavailable) -> Response[Any]:
    """The blob store refused a write: 503 with a Japanese page (or problem), nothing committed (the transaction
    rolls back on any status >= 400, and the blobs put so far are removed with it: ``app.documents``)."""
    log.error("blob store unavailable", extra={"path": loggable_path(request), "error": str(exc)})
    if is_api_path(request.url.path):
        return problem_response(HTTP_503_SERVICE_UNAVAILABLE, STORE_HINT, title=STORE_TITLE)
    return error_response(request, HTTP_503_SERVICE_UNAVAILABLE, title=STORE_TITLE, hint=STORE_HINT)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    PoolTimeout: pool_exhausted_handler,
    OperationalError: operational_error_handler,
    BlobStoreUnavailable: store_unavailable_handler,
    NotFoundException: http_exception_handler,
    PermissionDeniedException: http_exception_handler,
    NotAuthorizedException: http_exception_handler,
    HTTPException: http_exception_handler,
    Exception: server_error_handler,
}


class InMemoryUploadFile(UploadFile):
    """An ``UploadFile`` whose spool never rolls over to a temporary file (``max_size=0`` never rolls)."""

    __slots__ = ()

    def __init__(
        self,
        content_type: str,
        filename: str,
        file_data: bytes | None = None,
        headers: dict[str, str] | None = None,
        max_spool_size: int = 0,
    ) -> None:
        super().__init__(content_type, filename, file_data, headers, max_spool_size=0)


def keep_uploads_in_memory() -> None:
    """Make Litestar's multipart parser keep every uploaded file in memory (idempotent; ``create_app`` calls it).

    Why: an uploaded import file holds My Numbers in clear, and ``UploadFile``'s ``SpooledTemporaryFile`` rolls
    over to a temporary file on disk above 1 MiB (its ``max_spool_size``), for the handler's parse and for the
    CSRF middleware's alike. The parser names the class at module level, so replacing that one name covers both;
    the size of what is held is bounded by each route's ``request_max_body_size``.
    """
    _multipart.UploadFile = InMemoryUploadFile  # type: ignore[misc]


UNDECODABLE_FIELD: Final = (
    "フォームの項目に UTF-8 として読めない文字があります。ファイルはファイルとして、文字は UTF-8 で送ってください。"
)
_HARDENED = "_mnv_hardened"


def refuse_undecodable_form_fields() -> None:
    """Make a multipart form part that is not a file and not UTF-8 a 400 (ClientException), not a 500 (idempotent;
    ``create_app`` calls it).

    Why: Litestar's parser decodes every non-file part as UTF-8 and lets ``UnicodeDecodeError`` escape, so a client
    sending raw bytes without a filename (a fuzzer found it with a PNG on ``POST /api/v1/imports``) got a server
    error on every multipart route, pages and API alike. Both places that import the parser are wrapped.
    """
    from litestar._kwargs import extractors
    from litestar.connection import request as request_module

    original = _multipart.parse_multipart_form
    if getattr(original, _HARDENED, False):
        return

    async def parse(*args: Any, **kwargs: Any) -> Any:
        try:
            return await original(*args, **kwargs)
        except UnicodeDecodeError:
            raise ClientException(UNDECODABLE_FIELD) from None

    setattr(parse, _HARDENED, True)
    for module in (_multipart, extractors, request_module):
        module.parse_multipart_form = parse  # type: ignore[attr-defined]
