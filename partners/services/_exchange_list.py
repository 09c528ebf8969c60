"""The file exchange's lists (送受信ファイル一覧, seed 001): newest first, keyset-paged, filtered; the organisations
a principal exchanges with; the unread count of the badge and the sign-in notice (seed 000 FAQ13)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.tenancy import Tenant
from partners.models import (
    ExchangeFile,
    LinkSide,
    LinkStatus,
    PartnerLink,
)
from partners.services._exchange_scope import (
    BADGE_CAP,
    FILES_PER_PAGE,
    FILTERS,
    FileRow,
    _linked_now,
    _not_confidential_for,
    _readable,
    _row,
    _uuid,
    side_of,
)
from partners.services._links import active_link_between


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


async def exchange_partners(session: AsyncSession, principal: Principal, *, ever: bool = False) -> list[Tenant]:
    """The organisations on the other side the principal may send to: the ACTIVE links' offices (client side) or
    clients (office side), by name. ``ever``: a client's offices of any link (its list keeps files of offices
    whose link ended, so its filter offers them too); an office only ever sees ACTIVE clients."""
    side = side_of(principal)
    if side.is_client:
        linked = select(PartnerLink.partner_id).where(PartnerLink.tenant_id == side.own_id)
    else:
        linked = select(PartnerLink.tenant_id).where(PartnerLink.partner_id == side.own_id)
    if not (ever and side.is_client):
        linked = linked.where(PartnerLink.status == LinkStatus.ACTIVE)
    statement = select(Tenant).where(Tenant.id.in_(linked)).order_by(Tenant.name).limit(500)
    return list((await session.execute(statement)).scalars().all())


async def linked_client(session: AsyncSession, principal: Principal, client_id: uuid.UUID) -> Tenant | None:
    """The office's ACTIVE client with this id (to show the list filter's code), or None."""
    side = side_of(principal)
    if side.is_client or await active_link_between(session, client_id, side.own_id) is None:
        return None
    return await session.get(Tenant, client_id)


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


async def new_files_count(session: AsyncSession, principal: Principal, since: dt.datetime) -> int:
    """Files the principal's side received since ``since`` (the previous sign-in), read or not, counted up to
    ``BADGE_CAP`` (seed 000 FAQ13: the home page says first what arrived since the last sign-in). One range of the
    tenant's or the office's created_at index; 機密 files left out for principals who may not open them."""
    try:
        side = side_of(principal)
    except (NotFoundException, PermissionDeniedException):
        return 0
    other = LinkSide.PARTNER if side.is_client else LinkSide.CLIENT
    statement = select(ExchangeFile.id).where(ExchangeFile.sender_side == other, ExchangeFile.created_at > since)
    if side.is_client:
        statement = statement.where(ExchangeFile.tenant_id == side.own_id)
    else:
        statement = statement.where(ExchangeFile.partner_id == side.own_id, _linked_now(side.own_id))
    if not side.confidential:
        statement = statement.where(_not_confidential_for(side))
    return len((await session.execute(statement.limit(BADGE_CAP))).all())
