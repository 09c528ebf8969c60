"""The file exchange between a client company and its 社労士事務所 (Cellsドライブ, seeds 000–001, issue 14).

Either side sends files over an ACTIVE link (any power, ファイル・連絡のみ included); the bytes are checked
(``partners.filecheck``), sealed under the CLIENT's tenant key (owner = the file's id) and kept in the blob store;
the row (``ExchangeFile``) keeps the metadata. The receiving side's first download marks it 閲覧済; the receiver keeps
it (保存 通常/機密, which stops its expiry) or either side deletes it (seed 000 FAQ12: 相互で削除が可能). Unsaved
files go ``MNV_EXCHANGE_KEEP_DAYS`` after upload (``partners.retention``).

Who sees what, and the logging: ``partners.services._exchange_scope``; the lists: ``_exchange_list``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from typing import Any, Final

from litestar.exceptions import NotFoundException
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction
from app.audit.guard import looks_like_number
from app.auth.principal import Principal, partner_acting_in_client
from app.blobs import BlobMissing, BlobStore
from app.config import Settings
from app.db import new_id, utcnow
from app.documents import QuotaExceeded, count_usage, remember_put, storage_used
from app.forms import FormInvalid
from app.tenancy import Tenant
from app.text import clean_code, today_in_japan
from app.vault import Vault, VaultIntegrityError
from billing.contract import mode_of
from partners.filecheck import CheckedFile, FileRefused, check_file
from partners.models import (
    ExchangeFile,
    FileSave,
    PersonBoxFile,
    exchange_blob_key,
)
from partners.services._exchange_scope import (
    AREA,
    MAX_FILES,
    MESSAGE_MAX,
    SAVE_CHOICES,
    SEAL_PURPOSE,
    FileGone,
    FileRow,
    _uuid,
    exchange_actor,
    get_file,
    log_file_event,
    side_of,
)
from partners.services._links import active_link_between
from partners.services._person_box import BoxNoteInvalid, PersonBoxFull, keep_in_person_box, may_change_boxes
from tenants.models import Person, PersonKind

NUMBER_IN_MESSAGE: Final = (
    "メッセージに12桁以上の数字は入力できません（マイナンバーの可能性があります）。"
    "番号はファイルに入れて送ってください。"
)

# Sending ---------------------------------------------------------------------------------------------------------


def check_files(files: Sequence[tuple[str, bytes]], settings: Settings) -> list[CheckedFile]:
    """Every file of a send checked before anything is written; FormInvalid naming each refused file."""
    chosen = [(name, data) for name, data in files if name or data]
    if not chosen:
        raise FormInvalid({"files": "送信するファイルを選んでください。"})
    if len(chosen) > MAX_FILES:
        raise FormInvalid({"files": f"一度に送信できるのは{MAX_FILES}ファイルまでです。分けて送ってください。"})
    checked: list[CheckedFile] = []
    refusals: list[str] = []
    for name, data in chosen:
        try:
            checked.append(check_file(name, data, max_bytes=settings.exchange_max_file_bytes))
        except FileRefused as exc:
            refusals.append(exc.message)
    if refusals:
        raise FormInvalid({"files": " ".join(refusals) + " どのファイルも送信していません。"})
    return checked


async def send_files(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    settings: Settings,
    principal: Principal,
    *,
    to: uuid.UUID | str,
    files: Sequence[tuple[str, bytes]],
    message: str,
) -> list[ExchangeFile]:
    """Send ``files`` (name, bytes) with ``message`` to the other side ``to`` (an office id for a client, a client
    id for an office) over their ACTIVE link, in the caller's transaction: all checked first, then sealed, counted
    against ``MNV_EXCHANGE_QUOTA_BYTES`` (the client's), put and written with one FILE_SEND entry each.

    FormInvalid (nothing written, nothing left in the store): no such link for a client's choice, a message over
    2,000 characters or holding what may be a My Number (12+ digits), no file, too many, a refused file (named),
    the quota. An office sending to a client it has no active link with: NotFoundException.
    """
    side = side_of(principal)
    if side.is_client:
        office_id = _office_choice(to)
        link = await active_link_between(session, side.own_id, office_id) if office_id else None
        if link is None:
            raise FormInvalid({"office_id": "送信先の社労士事務所を選んでください（連携中の事務所だけに送れます）。"})
    else:
        link = await active_link_between(session, _uuid(to), side.own_id)
        if link is None:
            raise NotFoundException()
        await _require_client_writable(session, link.tenant_id, settings)
    text = (message or "").replace("\r\n", "\n").strip()
    if len(text) > MESSAGE_MAX:
        raise FormInvalid({"message": f"メッセージは{MESSAGE_MAX:,}文字以内で入力してください（{len(text):,}文字）。"})
    if looks_like_number(text):  # the message is kept in clear: a number belongs in a (sealed) file
        raise FormInvalid({"message": NUMBER_IN_MESSAGE})
    checked = check_files(files, settings)
    client_id, office_id = link.tenant_id, link.partner_id
    sealed = [(new_id(), file) for file in checked]
    tokens = [await vault.seal_secret(session, client_id, file_id, SEAL_PURPOSE, file.data) for file_id, file in sealed]
    total = sum(len(token) for token in tokens)
    quota = settings.exchange_quota_bytes
    if not await count_usage(session, client_id, total, len(tokens), quota, area=AREA):
        used = await storage_used(session, client_id, area=AREA)
        raise FormInvalid(
            {
                "files": f"ファイル交換の保存容量（{quota // (1024 * 1024):,}MB、使用中 {used // (1024 * 1024):,}MB）"
                "を超えるため送信できません。不要なファイルを削除してから送ってください。"
            }
        )
    now = utcnow()
    batch_id = new_id()
    other = await session.get(Tenant, office_id if side.is_client else client_id)
    other_name = other.name if other is not None else ""
    rows: list[ExchangeFile] = []
    for (file_id, file), token in zip(sealed, tokens, strict=True):
        key = exchange_blob_key(client_id, file_id)
        remember_put(session, store, key)
        await store.put(key, token)
        row = ExchangeFile(
            tenant_id=client_id,
            id=file_id,
            partner_id=office_id,
            link_id=link.id,
            batch_id=batch_id,
            sender_side=side.side,
            sender_account_id=principal.account_id,
            sender_name=principal.name,
            message=text,
            file_name=file.name,
            content_type=file.content_type,
            size=file.size,
            sealed_size=len(token),
            sha256=hashlib.sha256(token).hexdigest(),
            expires_at=now + dt.timedelta(days=settings.exchange_keep_days),
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        rows.append(row)
    await session.flush()
    for row in rows:
        await log_file_event(session, exchange_actor(principal), AuditAction.FILE_SEND, row, other_name)
    return rows


async def _require_client_writable(
    session: AsyncSession, client_id: uuid.UUID, settings: Settings, doing: str = "送信", field: str = "files"
) -> None:
    """An office changes only a client that may change now (sending to it, or saving, keeping or deleting its
    files from the office's pages, which the client's read-only guard never sees): a suspended or erased client is
    not there (NotFoundException); one whose trial or contract ended is read-only (billing.contract) — FormInvalid
    on ``field`` saying so."""
    client = await session.get(Tenant, client_id)
    if client is None or client.locked_out:
        raise NotFoundException()
    mode = mode_of(client, today_in_japan(), settings.contract_grace_days)
    if mode.refusal:
        raise FormInvalid({field: f"{client.name}は現在読み取り専用のため、ファイルを{doing}できません。"})


async def _office_requires_writable(
    session: AsyncSession, principal: Principal, row: FileRow, settings: Settings, doing: str, field: str
) -> None:
    """For an office's staff member: :func:`_require_client_writable` of the file's client (a client's own
    principal is refused by ``billing.readonly`` before its request reaches the exchange)."""
    if not side_of(principal).is_client:
        await _require_client_writable(session, row.file.tenant_id, settings, doing, field)


def _office_choice(value: uuid.UUID | str) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


# Downloading, saving, deleting ---------------------------------------------------------------------------------


async def download_file(
    session: AsyncSession, vault: Vault, store: BlobStore, principal: Principal, file_id: uuid.UUID | str
) -> tuple[ExchangeFile, bytes]:
    """The file and its clear bytes (keep them in memory only), with its FILE_DOWNLOAD entry; the receiving side's
    first download marks it 閲覧済 (one conditional update: of two at once, the first download wins).

    NotFoundException as :func:`get_file`; FileGone when the stored bytes are missing or fail authentication.
    """
    row = await get_file(session, principal, file_id)
    file = row.file
    data = await _open(session, vault, store, file)
    first = False
    if not row.sent and file.read_at is None:
        now = utcnow()
        result: Any = await session.execute(
            update(ExchangeFile)
            .where(ExchangeFile.tenant_id == file.tenant_id, ExchangeFile.id == file.id, ExchangeFile.read_at.is_(None))
            .values(read_at=now, read_by_name=principal.name)
            .execution_options(synchronize_session=False)
        )
        first = bool(result.rowcount)
        if first:
            file.read_at, file.read_by_name = now, principal.name
    await log_file_event(
        session, exchange_actor(principal), AuditAction.FILE_DOWNLOAD, file, row.other_name, {"first_read": first}
    )
    return file, data


async def _open(session: AsyncSession, vault: Vault, store: BlobStore, file: ExchangeFile) -> bytes:
    """The file's clear bytes; FileGone when its blob is missing or fails authentication."""
    try:
        token = await store.get(exchange_blob_key(file.tenant_id, file.id))
        return await vault.open_secret(session, file.tenant_id, file.id, SEAL_PURPOSE, token)
    except (BlobMissing, VaultIntegrityError):
        raise FileGone(str(file.id)) from None


BOX_REFUSED: Final = (
    "個人ボックスに保管する権限がありません（事務所の方は「番号の取扱い」の連携と、機密ファイルの閲覧権限が必要です）。"
)


async def keep_file_in_box(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    settings: Settings,
    principal: Principal,
    row: FileRow,
    *,
    employee_code: str,
    note: str = "",
) -> PersonBoxFile:
    """Keep an exchanged file in the 個人ボックス of the client's employee ``employee_code`` (seed 002: 添付ファイルを
    個人ＢＯＸで保管; kept as 機密, at most ``MNV_PERSON_BOX_LIMIT`` per person), with its 個人ボックス保管 entry.

    A client's admin or handler keeps it as themself; an office's staff member as themself working inside the client
    (the link must be ACTIVE with 番号の取扱い, as for every box action). The exchanged file itself stays.
    FormInvalid (Japanese, nothing kept): no permission, unknown 社員コード, the box full, a refused file or note, the
    storage quota; FileGone when the exchanged file's bytes are gone.
    """
    acting: Principal | None = principal
    await _office_requires_writable(session, principal, row, settings, "個人ボックスに保管", "employee_code")
    if not side_of(principal).is_client:
        acting = await partner_acting_in_client(
            session,
            office_id=principal.tenant_id,
            account_id=principal.account_id,
            client_id=row.file.tenant_id,
            ip=principal.ip,
            user_agent=principal.user_agent,
        )
    if acting is None or not may_change_boxes(acting):
        raise FormInvalid({"employee_code": BOX_REFUSED})
    code = clean_code(employee_code or "")
    if not code:
        raise FormInvalid({"employee_code": "保管先の従業員の社員コードを入力してください。"})
    person = (
        await session.execute(
            select(Person).where(
                Person.tenant_id == row.file.tenant_id,
                Person.kind == PersonKind.EMPLOYEE,
                Person.employee_code == code,
            )
        )
    ).scalar_one_or_none()
    if person is None:
        raise FormInvalid({"employee_code": f"社員コード「{code[:32]}」の従業員が見つかりません。"})
    data = await _open(session, vault, store, row.file)
    try:
        return await keep_in_person_box(
            session, vault, store, settings, acting, person_id=person.id, file_name=row.file.file_name, data=data,
            note=note,
        )  # fmt: skip
    except BoxNoteInvalid as exc:
        raise FormInvalid({"note": exc.message}) from None
    except (FileRefused, PersonBoxFull, QuotaExceeded) as exc:
        raise FormInvalid({"employee_code": exc.message}) from None


async def save_file(
    session: AsyncSession, principal: Principal, row: FileRow, choice: str, *, settings: Settings
) -> None:
    """The receiving side keeps the file: 通常 or 機密 (``choice``); its expiry is cleared; FILE_SAVE entry.

    FormInvalid when the principal's side sent it (the receiver keeps files), the choice is unknown, or an office
    saves a file of a read-only client.
    """
    await _office_requires_writable(session, principal, row, settings, "保存", "save")
    if row.sent:
        raise FormInvalid({"save": "保存できるのは受け取ったファイルだけです。"})
    if choice not in SAVE_CHOICES:
        raise FormInvalid({"save": "保存方法（通常保存・機密保存）を選んでください。"})
    file = row.file
    file.saved_as, file.saved_at, file.saved_by_name = FileSave(choice), utcnow(), principal.name
    file.expires_at = None
    await session.flush()
    await log_file_event(
        session, exchange_actor(principal), AuditAction.FILE_SAVE, file, row.other_name, {"saved_as": choice}
    )


async def delete_file(
    session: AsyncSession, store: BlobStore, principal: Principal, row: FileRow, *, settings: Settings
) -> None:
    """Delete a file the principal's side sent or received (seed 000 FAQ12): its blob at once, its row and usage
    in the caller's transaction, with the FILE_DELETE entry (which stays). FormInvalid (nothing deleted) when an
    office deletes a file of a read-only client."""
    await _office_requires_writable(session, principal, row, settings, "削除", "delete")
    await _remove(session, store, [row.file])
    await log_file_event(
        session, exchange_actor(principal), AuditAction.FILE_DELETE, row.file, row.other_name, {"by": "user"}
    )


async def _remove(session: AsyncSession, store: BlobStore, files: Sequence[ExchangeFile]) -> dict[uuid.UUID, int]:
    """Delete the files' blobs, rows and counted bytes (per client); returns the files removed per client."""
    by_client: dict[uuid.UUID, list[ExchangeFile]] = {}
    for file in files:
        by_client.setdefault(file.tenant_id, []).append(file)
    removed: dict[uuid.UUID, int] = {}
    for client_id, own in by_client.items():
        for file in own:
            await store.delete(exchange_blob_key(client_id, file.id))
        result: Any = await session.execute(
            delete(ExchangeFile)
            .where(ExchangeFile.tenant_id == client_id, ExchangeFile.id.in_([file.id for file in own]))
            .execution_options(synchronize_session=False)
        )
        count = int(result.rowcount or 0)
        await count_usage(session, client_id, -sum(f.sealed_size for f in own), -len(own), None, area=AREA)
        removed[client_id] = count
    return removed


# Expiry (partners.retention) --------------------------------------------------------------------------------------

RETENTION_ACTOR: Final = Actor.system("retention")


async def remove_expired_files(
    session: AsyncSession, store: BlobStore, now: dt.datetime, limit: int
) -> dict[uuid.UUID | None, int]:
    """Delete up to ``limit`` unsaved files whose ``expires_at`` passed, across tenants (one range of the partial
    index ``ix_exchange_files_expires_at``), each with a FILE_DELETE entry by the system in its client's log."""
    statement = (
        select(ExchangeFile)
        .where(ExchangeFile.expires_at.is_not(None), ExchangeFile.expires_at <= now, ExchangeFile.saved_as.is_(None))
        .order_by(ExchangeFile.expires_at)
        .limit(limit)
    )
    files = list((await session.execute(statement)).scalars().all())
    if not files:
        return {}
    names = await _names(session, {file.partner_id for file in files})
    removed = await _remove(session, store, files)
    for file in files:
        await log_file_event(
            session, RETENTION_ACTOR, AuditAction.FILE_DELETE, file, names.get(file.partner_id, ""), {"by": "retention"}
        )
    return {client_id: count for client_id, count in removed.items()}


async def _names(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(ids)))
    return {tenant_id: name for tenant_id, name in rows.all()}
