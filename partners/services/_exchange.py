"""The file exchange between a client company and its 社労士事務所 (Cellsドライブ, seeds 000–001, issue 14).

Either side sends files over an ACTIVE link (any power, ファイル・連絡のみ included); the bytes are checked
(``partners.filecheck``), sealed under the CLIENT's tenant key (owner = the file's id) and kept in the blob store;
the row (``ExchangeFile``) keeps the metadata. The receiving side's first download marks it 閲覧済; the receiver keeps
it (保存 通常/機密, which stops its expiry) or either side deletes it (seed 000 FAQ12: 相互で削除が可能). Unsaved
files go ``MNV_EXCHANGE_KEEP_DAYS`` after upload (``partners.retention``).

Who sees what: the client's admins and handlers see the client's files (``tenant_id``); the office's staff see
their office's files (``partner_id``) of clients whose link is ACTIVE now (an ended link hides them at once, 404).
A file the receiving side saved as 機密 is shown on that side only to principals with ``may_open_confidential``.
Every send, download, save and delete writes its entry in the CLIENT's log; an office's staff member is named with
the office and carries ``actor_partner_id``, so the office's cross-client log (``office_log``) shows it too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy import Select, delete, exists, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent, Subject
from app.audit.log import record
from app.auth.models import Role
from app.auth.principal import Principal
from app.blobs import BlobMissing, BlobStore
from app.config import Settings
from app.db import new_id, utcnow
from app.documents import count_usage, remember_put, storage_used
from app.forms import FormInvalid
from app.tenancy import Tenant, TenantKind
from app.vault import Vault, VaultIntegrityError
from partners.filecheck import CheckedFile, FileRefused, check_file
from partners.models import (
    ExchangeFile,
    FileSave,
    LinkSide,
    LinkStatus,
    PartnerLink,
    exchange_blob_key,
)
from partners.services._access import may_open_confidential
from partners.services._links import active_link_between

AREA: Final = "exchange"  # the row of storage_usage counting the sealed bytes of exchanged files
SEAL_PURPOSE: Final = "exchange-file"
FUNCTION: Final = "ファイル交換"
FILES_PER_PAGE: Final = 50
MAX_FILES: Final = 5  # files in one send (the form's limit; each up to MNV_EXCHANGE_MAX_FILE_BYTES)
MESSAGE_MAX: Final = 2000
BADGE_CAP: Final = 100  # the badge reads at most this many unread rows ("99+")
CLIENT_ROLES: Final = frozenset({Role.ADMIN, Role.HANDLER})
FILTERS: Final = {"all": "全て", "sent": "送信", "received": "受信", "unread": "未読", "saved": "保存済"}
SAVE_CHOICES: Final = {save.value: save.label for save in FileSave}


class FileGone(Exception):
    """The file's row exists but its bytes cannot be opened (lost from the store or damaged)."""

    message = "このファイルは保存先から失われたか破損しているため、ダウンロードできません。"


@dataclass(frozen=True, slots=True)
class Side:
    """Which side of the exchange the principal is on: ``side`` and its organisation (client or office id)."""

    side: LinkSide
    own_id: uuid.UUID
    confidential: bool

    @property
    def is_client(self) -> bool:
        return self.side is LinkSide.CLIENT


@dataclass(frozen=True, slots=True)
class FileRow:
    """A file with the organisation on the other side (the office for a client, the client for an office)."""

    file: ExchangeFile
    other_name: str
    other_id: uuid.UUID
    sent: bool  # sent by the principal's side

    @property
    def direction(self) -> str:
        return "送信" if self.sent else "受信"


@dataclass(frozen=True, slots=True)
class FileFilters:
    """The list's filters: ``kind`` (a key of ``FILTERS``) and the other organisation (None: all)."""

    kind: str = "all"
    other: uuid.UUID | None = None

    @classmethod
    def parse(cls, kind: str = "", other: str = "") -> FileFilters:
        """From query parameters; anything unknown reads as 全て / every organisation."""
        try:
            other_id = uuid.UUID(other) if other else None
        except ValueError:
            other_id = None
        return cls(kind if kind in FILTERS else "all", other_id)


@dataclass(frozen=True, slots=True)
class FilePage:
    """One page of the list, newest first; ``older``: the cursor of the next page (None: the last page)."""

    rows: list[FileRow]
    older: str | None


def side_of(principal: Principal) -> Side:
    """The principal's side: a client's admin or handler, or an office's staff member at the office.

    A staff member working inside a client (``principal.partner``) has no exchange there (NotFoundException: the
    office's own pages are where they exchange); any other role: PermissionDeniedException.
    """
    if principal.partner is not None:
        raise NotFoundException()
    if principal.tenant_kind is TenantKind.COMPANY and principal.role in CLIENT_ROLES:
        return Side(LinkSide.CLIENT, principal.tenant_id, may_open_confidential(principal))
    if principal.tenant_kind is TenantKind.PARTNER and principal.role.is_partner:
        return Side(LinkSide.PARTNER, principal.tenant_id, may_open_confidential(principal))
    raise PermissionDeniedException()


def _readable(side: Side) -> Select[ExchangeFile, Tenant]:
    """Every query starts here: the side's files (the office's only of clients linked ACTIVE now), 機密 files the
    side received left out for principals who may not open them."""
    statement: Select[ExchangeFile, Tenant]
    if side.is_client:
        statement = select(ExchangeFile, Tenant).join(Tenant, Tenant.id == ExchangeFile.partner_id)
        statement = statement.where(ExchangeFile.tenant_id == side.own_id)
    else:
        statement = (
            select(ExchangeFile, Tenant)
            .join(Tenant, Tenant.id == ExchangeFile.tenant_id)
            .where(ExchangeFile.partner_id == side.own_id, _linked_now(side.own_id))
        )
    if not side.confidential:
        statement = statement.where(_not_confidential_for(side))
    return statement


def _not_confidential_for(side: Side) -> Any:
    """Not a 機密 file this side received (written without NOT: saved_as is NULL for most rows)."""
    return or_(
        ExchangeFile.saved_as.is_(None),
        ExchangeFile.saved_as != FileSave.CONFIDENTIAL,
        ExchangeFile.sender_side == side.side,
    )


def _linked_now(office_id: uuid.UUID) -> Any:
    return exists().where(
        PartnerLink.partner_id == office_id,
        PartnerLink.status == LinkStatus.ACTIVE,
        PartnerLink.tenant_id == ExchangeFile.tenant_id,
    )


def _row(side: Side, file: ExchangeFile, other: Tenant) -> FileRow:
    return FileRow(file, other.name, other.id, file.sender_side is side.side)


# Listing -------------------------------------------------------------------------------------------------------


def _cursor(file: ExchangeFile) -> str:
    return f"{file.created_at.isoformat()}~{file.id}"


def _parse_cursor(text: str) -> tuple[dt.datetime, uuid.UUID] | None:
    try:
        when, file_id = text.split("~")
        moment = dt.datetime.fromisoformat(when)
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)), uuid.UUID(file_id)
    except ValueError:
        return None


async def list_files(session: AsyncSession, principal: Principal, filters: FileFilters, *, after: str = "") -> FilePage:
    """The side's files newest first, ``FILES_PER_PAGE`` a page, keyset-paged on (created_at, id) below ``after``
    (one range of the tenant's or the office's created_at index; no OFFSET, no count)."""
    side = side_of(principal)
    statement = _readable(side)
    mine, theirs = ExchangeFile.sender_side == side.side, ExchangeFile.sender_side != side.side
    if filters.kind == "sent":
        statement = statement.where(mine)
    elif filters.kind == "received":
        statement = statement.where(theirs)
    elif filters.kind == "unread":
        statement = statement.where(theirs, ExchangeFile.read_at.is_(None))
    elif filters.kind == "saved":
        statement = statement.where(ExchangeFile.saved_as.is_not(None))
    if filters.other is not None:
        other_column = ExchangeFile.partner_id if side.is_client else ExchangeFile.tenant_id
        statement = statement.where(other_column == filters.other)
    cursor = _parse_cursor(after) if after else None
    if cursor is not None:
        statement = statement.where(tuple_(ExchangeFile.created_at, ExchangeFile.id) < tuple_(*cursor))
    statement = statement.order_by(ExchangeFile.created_at.desc(), ExchangeFile.id.desc()).limit(FILES_PER_PAGE + 1)
    found = list((await session.execute(statement)).all())
    rows = [_row(side, file, other) for file, other in found[:FILES_PER_PAGE]]
    older = _cursor(rows[-1].file) if len(found) > FILES_PER_PAGE else None
    return FilePage(rows, older)


async def exchange_partners(session: AsyncSession, principal: Principal) -> list[Tenant]:
    """The organisations on the other side the principal may send to: the ACTIVE links' offices (client side) or
    clients (office side), by name."""
    side = side_of(principal)
    if side.is_client:
        statement = select(Tenant).join(PartnerLink, PartnerLink.partner_id == Tenant.id)
        statement = statement.where(PartnerLink.tenant_id == side.own_id)
    else:
        statement = select(Tenant).join(PartnerLink, PartnerLink.tenant_id == Tenant.id)
        statement = statement.where(PartnerLink.partner_id == side.own_id)
    statement = statement.where(PartnerLink.status == LinkStatus.ACTIVE).order_by(Tenant.name).limit(500)
    return list((await session.execute(statement)).scalars().all())


async def sendable_client(session: AsyncSession, principal: Principal, client_id: uuid.UUID | str) -> Tenant:
    """The client an office's staff member may send to (an ACTIVE link of THIS office), or NotFoundException."""
    side = side_of(principal)
    client_key = _uuid(client_id)
    if side.is_client or await active_link_between(session, client_key, side.own_id) is None:
        raise NotFoundException()
    client = await session.get(Tenant, client_key)
    if client is None:
        raise NotFoundException()
    return client


# One file --------------------------------------------------------------------------------------------------------


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFoundException() from None


async def get_file(session: AsyncSession, principal: Principal, file_id: uuid.UUID | str) -> FileRow:
    """One file the principal's side may see (see the module), or NotFoundException (another tenant's, another
    office's, a client whose link ended, a 機密 file the principal may not open, or none)."""
    side = side_of(principal)
    found = (await session.execute(_readable(side).where(ExchangeFile.id == _uuid(file_id)))).one_or_none()
    if found is None:
        raise NotFoundException()
    return _row(side, *found)


async def batch_files(session: AsyncSession, principal: Principal, row: FileRow) -> list[FileRow]:
    """The files sent together with ``row`` that the principal may see (its batch, at most ``MAX_FILES``)."""
    side = side_of(principal)
    statement = _readable(side).where(
        ExchangeFile.tenant_id == row.file.tenant_id, ExchangeFile.batch_id == row.file.batch_id
    )
    found = (await session.execute(statement.order_by(ExchangeFile.file_name).limit(MAX_FILES * 4))).all()
    return [_row(side, file, other) for file, other in found]


def _actor(principal: Principal) -> Actor:
    """The audit actor in the CLIENT's log: an office's staff member is named with the office and carries its id."""
    actor = principal.actor()
    if principal.tenant_kind is not TenantKind.PARTNER:
        return actor
    return replace(
        actor,
        name=f"{principal.name}（{principal.tenant_name}）",
        organisation=principal.tenant_name,
        role=f"社労士事務所・{principal.role.label}",
        partner_id=principal.tenant_id,
    )


async def _log(
    session: AsyncSession,
    actor: Actor,
    action: AuditAction,
    file: ExchangeFile,
    other_name: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """One entry in the client's log; the file's name is the subject (redacted like anything typed)."""
    detail = {
        "event": f"exchange_{action.name.lower()}",
        "file_id": str(file.id),
        "batch_id": str(file.batch_id),
        "name": file.file_name,
        "size": file.size,
        "sender_side": file.sender_side.value,
        "tenant_name": other_name,
        **(extra or {}),
    }
    await record(
        session,
        AuditEvent(
            tenant_id=file.tenant_id,
            action=action,
            actor=actor,
            function=FUNCTION,
            subject=Subject(person_id=None, name=f"ファイル: {file.file_name}"),
            detail=detail,
        ),
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
    2,000 characters, no file, too many, a refused file (named), the quota. An office sending to a client it has no
    active link with: NotFoundException.
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
    text = (message or "").replace("\r\n", "\n").strip()
    if len(text) > MESSAGE_MAX:
        raise FormInvalid({"message": f"メッセージは{MESSAGE_MAX:,}文字以内で入力してください（{len(text):,}文字）。"})
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
        await _log(session, _actor(principal), AuditAction.FILE_SEND, row, other_name)
    return rows


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
    try:
        token = await store.get(exchange_blob_key(file.tenant_id, file.id))
        data = await vault.open_secret(session, file.tenant_id, file.id, SEAL_PURPOSE, token)
    except (BlobMissing, VaultIntegrityError):
        raise FileGone(str(file.id)) from None
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
    await _log(session, _actor(principal), AuditAction.FILE_DOWNLOAD, file, row.other_name, {"first_read": first})
    return file, data


async def save_file(session: AsyncSession, principal: Principal, row: FileRow, choice: str) -> None:
    """The receiving side keeps the file: 通常 or 機密 (``choice``); its expiry is cleared; FILE_SAVE entry.

    FormInvalid when the principal's side sent it (the receiver keeps files) or the choice is unknown.
    """
    side_of(principal)
    if row.sent:
        raise FormInvalid({"save": "保存できるのは受け取ったファイルだけです。"})
    if choice not in SAVE_CHOICES:
        raise FormInvalid({"save": "保存方法（通常保存・機密保存）を選んでください。"})
    file = row.file
    file.saved_as, file.saved_at, file.saved_by_name = FileSave(choice), utcnow(), principal.name
    file.expires_at = None
    await session.flush()
    await _log(session, _actor(principal), AuditAction.FILE_SAVE, file, row.other_name, {"saved_as": choice})


async def delete_file(session: AsyncSession, store: BlobStore, principal: Principal, row: FileRow) -> None:
    """Delete a file the principal's side sent or received (seed 000 FAQ12): its blob at once, its row and usage
    in the caller's transaction, with the FILE_DELETE entry (which stays)."""
    side_of(principal)
    await _remove(session, store, [row.file])
    await _log(session, _actor(principal), AuditAction.FILE_DELETE, row.file, row.other_name, {"by": "user"})


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
        await _log(
            session, RETENTION_ACTOR, AuditAction.FILE_DELETE, file, names.get(file.partner_id, ""), {"by": "retention"}
        )
    return {client_id: count for client_id, count in removed.items()}


async def _names(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(ids)))
    return {tenant_id: name for tenant_id, name in rows.all()}


# Badge and notice ------------------------------------------------------------------------------------------------


async def unread_count(session: AsyncSession, principal: Principal) -> int:
    """Files received by the principal's side that nobody there opened yet, counted up to ``BADGE_CAP`` (the
    badge shows "99+" beyond 99). Reads the partial index of unread rows: per office of the client (its links), or
    the office's own range; 0 for principals without an exchange."""
    try:
        side = side_of(principal)
    except (NotFoundException, PermissionDeniedException):
        return 0
    other = LinkSide.PARTNER if side.is_client else LinkSide.CLIENT
    statement = select(ExchangeFile.id).where(ExchangeFile.sender_side == other, ExchangeFile.read_at.is_(None))
    if side.is_client:
        offices = select(PartnerLink.partner_id).where(PartnerLink.tenant_id == side.own_id)
        statement = statement.where(ExchangeFile.partner_id.in_(offices), ExchangeFile.tenant_id == side.own_id)
    else:
        statement = statement.where(ExchangeFile.partner_id == side.own_id, _linked_now(side.own_id))
    if not side.confidential:
        statement = statement.where(_not_confidential_for(side))
    return len((await session.execute(statement.limit(BADGE_CAP))).all())


__all__ = [
    "AREA",
    "FILES_PER_PAGE",
    "FILTERS",
    "MAX_FILES",
    "MESSAGE_MAX",
    "SAVE_CHOICES",
    "FileFilters",
    "FileGone",
    "FilePage",
    "FileRow",
    "batch_files",
    "check_files",
    "delete_file",
    "download_file",
    "exchange_partners",
    "get_file",
    "list_files",
    "remove_expired_files",
    "save_file",
    "send_files",
    "sendable_client",
    "side_of",
    "unread_count",
]
