"""The file exchange's scope: which side a principal is on, the one statement every query starts from, one file.

Who sees what: the client's admins and handlers see the client's files (``tenant_id``); the office's staff see
their office's files (``partner_id``) of clients whose link is ACTIVE now (an ended link hides them at once, 404).
A file the receiving side saved as 機密 is shown on that side only to principals with ``may_open_confidential``.
Every send, download, save and delete writes its entry in the CLIENT's log (``log_file_event``); an office's staff
member is named with the office and carries ``actor_partner_id``, so the office's cross-client log shows it too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any, Final

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy import Select, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent, Subject
from app.audit.log import record
from app.auth.models import Role
from app.auth.principal import Principal
from app.tenancy import Tenant, TenantKind
from partners.models import (
    ExchangeFile,
    FileSave,
    LinkSide,
    LinkStatus,
    PartnerLink,
)
from partners.services._access import may_open_confidential

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


def exchange_actor(principal: Principal) -> Actor:
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


async def log_file_event(
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
