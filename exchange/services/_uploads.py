"""An uploaded import file kept between its check and its commit: sealed, in the ``imports`` store, for a while.

The bytes are sealed by the vault under the tenant's data key (AES-256-GCM) with associated data binding the
tenant, the upload's id and the purpose (``Vault.seal_secret``), so the file is never on the server in clear and a
sealed upload moved to another tenant or id does not open. The store (the database's key/value table, or Redis
when configured) drops it after ``UPLOAD_SECONDS``; a commit or a discard deletes it at once. Each upload belongs
to the account that sent it: anyone else (another tenant above all) is told it does not exist.
"""

from __future__ import annotations

import time
import uuid

import msgspec
from litestar.exceptions import NotFoundException
from litestar.stores.base import Store
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.vault import Vault, VaultIntegrityError
from exchange.services._import_report import ImportReport

IMPORT_STORE = "imports"  # the name of the Litestar store (app.main registers it)
UPLOAD_SECONDS = 2 * 60 * 60  # how long a checked file waits for its commit
UPLOAD_PURPOSE = "import-upload"  # the purpose sealed into the associated data


class Upload(msgspec.Struct, kw_only=True):
    """A file waiting for its commit: who sent it, as what, the sealed bytes, and the report of its check."""

    id: str
    tenant_id: str
    account_id: str
    layout: str
    filename: str
    size: int
    uploaded_at: float
    sealed: bytes
    report: ImportReport  # the check's (empty while a background check job makes it: ``check_job``)
    check_job: str = ""  # the id of the job checking a big file or a workbook (its report is kept with the job)


def _key(tenant_id: uuid.UUID, upload_id: uuid.UUID) -> str:
    return f"{tenant_id}:{upload_id}"


async def keep_upload(
    store: Store,
    session: AsyncSession,
    vault: Vault,
    principal: Principal,
    *,
    data: bytes,
    layout: str,
    filename: str,
    report: ImportReport,
    upload_id: uuid.UUID | None = None,
    check_job: str = "",
) -> Upload:
    """Seal the file and keep it with its report for ``UPLOAD_SECONDS``; returns what was kept.

    ``upload_id``: an id chosen beforehand (a check job names its upload); ``check_job``: the job checking the file
    (then ``report`` is a placeholder and the job keeps the real one).
    """
    upload_id = upload_id or uuid.uuid4()
    sealed = await vault.seal_secret(session, principal.tenant_id, upload_id, UPLOAD_PURPOSE, data)
    upload = Upload(
        id=str(upload_id),
        tenant_id=str(principal.tenant_id),
        account_id=str(principal.account_id),
        layout=layout,
        filename=filename[:200],
        size=len(data),
        uploaded_at=time.time(),
        sealed=sealed,
        report=report,
        check_job=check_job,
    )
    await store.set(_key(principal.tenant_id, upload_id), msgspec.msgpack.encode(upload), expires_in=UPLOAD_SECONDS)
    return upload


async def load_upload(store: Store, principal: Principal, upload_id: str) -> Upload:
    """The principal's own upload (NotFoundException for an unknown, expired or someone else's id)."""
    try:
        key = uuid.UUID(upload_id)
    except ValueError:
        raise NotFoundException() from None
    raw = await store.get(_key(principal.tenant_id, key))
    if raw is None:
        raise NotFoundException()
    upload = msgspec.msgpack.decode(raw, type=Upload)
    if upload.tenant_id != str(principal.tenant_id) or upload.account_id != str(principal.account_id):
        raise NotFoundException()
    return upload


async def upload_waiting(store: Store, tenant_id: uuid.UUID, upload_id: str) -> bool:
    """Whether the upload is still kept for its commit (not committed, discarded or past ``UPLOAD_SECONDS``);
    reads no file (for a page that only offers the way to it)."""
    try:
        key = uuid.UUID(upload_id)
    except ValueError:
        return False
    return await store.exists(_key(tenant_id, key))


async def save_report(store: Store, principal: Principal, upload: Upload, report: ImportReport) -> Upload:
    """Keep a newer report (a refused commit's) with the upload, for the rest of its time."""
    upload.report = report
    left = max(1, int(upload.uploaded_at + UPLOAD_SECONDS - time.time()))
    await store.set(_key(principal.tenant_id, uuid.UUID(upload.id)), msgspec.msgpack.encode(upload), expires_in=left)
    return upload


async def open_upload(session: AsyncSession, vault: Vault, principal: Principal, upload: Upload) -> bytes:
    """The file's bytes (VaultIntegrityError if the sealed bytes were moved or altered)."""
    if upload.tenant_id != str(principal.tenant_id):
        raise VaultIntegrityError("an upload of another tenant")
    return await vault.open_secret(session, principal.tenant_id, uuid.UUID(upload.id), UPLOAD_PURPOSE, upload.sealed)


async def drop_upload(store: Store, principal: Principal, upload: Upload) -> None:
    """Forget the upload now (after its commit, or when the user discards it)."""
    await store.delete(_key(principal.tenant_id, uuid.UUID(upload.id)))
