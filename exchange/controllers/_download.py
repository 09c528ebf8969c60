"""The download of an export, shared by the export pages and the JSON API: streamed, named, never cached.

Litestar's streaming response stops reading its iterator when the client goes away (the task is cancelled while
a chunk is being sent) but does not close it, so the export's transaction would wait for the garbage collector to
roll back. ``ClosingStream`` closes the iterator as soon as sending ends, whatever the reason, shielded from the
cancellation: an abandoned export rolls back at once and leaves nothing in the log.

Routes that serve a download set ``opt={"no_compression": True}`` (the app's gzip skips them: a compressed body's
length would tell something about what it holds, and the file goes out as made).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import quote

from anyio import CancelScope
from litestar import Request
from litestar.datastructures import Cookie
from litestar.enums import MediaType
from litestar.response import Stream
from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Send
from litestar.utils.helpers import get_enum_string_value
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor
from app.auth.principal import Principal
from app.vault import Vault
from exchange.services import ExportPlan, stream_export

DOWNLOAD_OPT = {"no_compression": True}


class _ClosingStreamingResponse(ASGIStreamingResponse):
    """Closes its iterator once sending ends: finished, failed or cancelled (the client went away)."""

    async def _stream(self, send: Send) -> None:
        try:
            await super()._stream(send)
        finally:
            close = getattr(self.iterator, "aclose", None)
            if close is not None:
                with CancelScope(shield=True):
                    await close()


class ClosingStream(Stream):
    """A ``Stream`` whose iterator is closed as soon as the response ends (see the module's docstring)."""

    def to_asgi_response(  # type: ignore[override]
        self,
        app: Any,
        request: Request[Any, Any, Any],
        *,
        background: Any = None,
        cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: MediaType | str | None = None,
        status_code: int | None = None,
        type_encoders: Any = None,
    ) -> ASGIResponse:
        """As ``Stream.to_asgi_response`` (the iterator is an async iterator already), with the closing response."""
        iterator = self.iterator
        if callable(iterator) and not isinstance(iterator, AsyncIterator | Iterable):
            iterator = iterator()
        return _ClosingStreamingResponse(
            background=self.background or background,
            content_length=0,
            cookies=self.cookies if cookies is None else itertools.chain(self.cookies, cookies),
            encoded_headers=encoded_headers,
            encoding=self.encoding,
            headers={**headers, **self.headers} if headers is not None else self.headers,
            is_head_response=is_head_response,
            iterator=iterator,
            media_type=get_enum_string_value(media_type or self.media_type or MediaType.TEXT),
            status_code=self.status_code or status_code,
        )


def content_disposition(filename: str, ascii_filename: str) -> str:
    """``attachment`` with the ASCII name and the Japanese one as RFC 5987 / 6266 ``filename*`` (UTF-8)."""
    return f"attachment; filename=\"{ascii_filename}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download_response(
    session: AsyncSession, vault: Vault, principal: Principal, actor: Actor, plan: ExportPlan
) -> ClosingStream:
    """The planned file as a streamed download (``stream_export``): named, ``no-store``, closed when it ends.

    Raises what ``stream_export`` raises before anything is sent (``UnencodableCharacters`` for a blocked plan).
    The route must carry ``opt=DOWNLOAD_OPT``.
    """
    chunks = stream_export(session, vault, principal, actor, plan)
    headers = {
        "Content-Type": plan.media_type,  # as is: Litestar would add a second charset to a text/ type
        "Content-Disposition": content_disposition(plan.filename, plan.ascii_filename),
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    return ClosingStream(chunks, media_type=plan.media_type, headers=headers, status_code=200)
