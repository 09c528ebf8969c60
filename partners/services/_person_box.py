"""The confidential 個人ボックス of a person of a client (seed 002: 機密, at most 10 files per person), sealed under the
person's document key (app.documents) so that erasing their My Number makes the files unopenable.

STUB: the interface the file exchange calls ("個人ボックスへ保管"); its branch fills it in.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.blobs import BlobStore
from app.config import Settings
from app.vault import Vault
from partners.models import PersonBoxFile


class PersonBoxFull(Exception):
    """The person already keeps ``limit`` files; ``message`` is the Japanese sentence for the user."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.message = (
            f"個人ボックスに保管できるのは1人{limit}件までです。不要なファイルを削除してから保管してください。"
        )
        super().__init__(self.message)


async def keep_in_person_box(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    settings: Settings,
    principal: Principal,
    *,
    person_id: uuid.UUID,
    file_name: str,
    data: bytes,
    note: str = "",
) -> PersonBoxFile:
    """Keep ``data`` (checked by ``partners.filecheck.check_file`` inside) in the person's box of the principal's
    tenant, with its 個人ボックス保管 audit entry, in the caller's transaction.

    Raises LookupError when the person is not in the principal's tenant (callers answer 404), PermissionError when
    the principal may not use boxes, PersonBoxFull, partners.filecheck.FileRefused, app.documents.QuotaExceeded.
    """
    raise NotImplementedError
