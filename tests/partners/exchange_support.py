"""Helpers for the file exchange's tests: sending through the real form, reading the rows back."""

from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from partners.models import ExchangeFile
from tests.support.world import csrf_token

XLSX_LIKE = b"PK\x05\x06" + b"\x00" * 18  # an empty ZIP directory: what an Office file starts like, harmless


def pdf(text: str) -> bytes:
    """A small PDF-like file whose clear text is ``text`` (so a test can look for it in the sealed bytes)."""
    return b"%PDF-1.4\n" + text.encode() + b"\n%%EOF\n"


async def send(
    client: AsyncTestClient[Litestar],
    path: str,
    files: list[tuple[str, bytes]],
    *,
    message: str = "",
    office_id: uuid.UUID | str | None = None,
) -> object:
    """POST the send form (multipart, several ``files``) with the CSRF token."""
    data = {"_csrf_token": await csrf_token(client), "message": message}
    if office_id is not None:
        data["office_id"] = str(office_id)
    parts = [("files", (name, content, "application/octet-stream")) for name, content in files]
    return await client.post(path, data=data, files=parts, follow_redirects=False)


async def rows(db: AsyncSession) -> list[ExchangeFile]:
    found = await db.execute(
        select(ExchangeFile)
        .order_by(ExchangeFile.created_at, ExchangeFile.file_name)
        .execution_options(populate_existing=True)
    )
    return list(found.scalars())


async def post(client: AsyncTestClient[Litestar], path: str, data: dict[str, str] | None = None) -> object:
    payload = {"_csrf_token": await csrf_token(client), **(data or {})}
    return await client.post(path, data=payload, follow_redirects=False)
