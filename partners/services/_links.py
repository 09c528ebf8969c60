"""Client links: a client company's consent for a 社労士事務所 to work inside it, from request to end.

Two ways in: the client's admin invites an office by the office's code (the client's consent is given then; the
office's admin accepts), or the office's admin asks with the client's 事業者コード (the client's admin consents by
accepting, choosing the power). Either side ends a link; access stops on the next request (app.auth.principal
checks the link every time). Every change goes into both organisations' operation logs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditEvent
from app.audit.log import record
from app.auth.models import Role
from app.auth.principal import ACTING_ROLES, Principal
from app.auth.scoping import get_scoped
from app.db import utcnow
from app.forms import Checker, FormInvalid
from app.pager import KeysetPage, PageRequest, read_page
from app.paging import SortColumn
from app.rls import widen_session
from app.tenancy import Tenant, TenantKind
from app.text import clean_code
from partners.models import LinkPower, LinkSide, LinkStatus, PartnerLink
from partners.schemas import AcceptRequestForm, InviteOfficeForm, RequestClientForm

POWER_CHOICES = {power.value: power.label for power in LinkPower}
LINKS_SHOWN = 500  # a client's links with offices (a company works with a handful of offices)
CLIENTS_PER_PAGE: Final = 50  # a page of an office's clients (no limit on clients per office, issue 14)
STATUS_FILTERS: Final = {status.value: status.label for status in LinkStatus}
UNKNOWN_CLIENT_CODE: Final = "この事業者コードの顧問先は連携中ではありません。事業者コードを確認してください。"
# The office's clients by name: (client name, client id, link id) — the link id keeps the key unique when a client
# has an ended link and a newer one with the same office.
_BY_NAME: Final = (
    SortColumn(Tenant.name, "name"),
    SortColumn(PartnerLink.tenant_id, "client_id"),
    SortColumn(PartnerLink.id, "link_id"),
)


@dataclass(frozen=True, slots=True)
class LinkRow:
    """A link with the organisation on the other side, for the lists."""

    link: PartnerLink
    other: Tenant


def _require_client_admin(principal: Principal) -> None:
    if (
        principal.role is not Role.ADMIN
        or principal.partner is not None
        or principal.tenant_kind is not TenantKind.COMPANY
    ):
        raise PermissionDeniedException()


def _require_office(principal: Principal, *, admin: bool) -> None:
    allowed = {Role.PARTNER_ADMIN} if admin else {Role.PARTNER_ADMIN, Role.PARTNER_STAFF}
    if (
        principal.role not in allowed
        or principal.partner is not None
        or principal.tenant_kind is not TenantKind.PARTNER
    ):
        raise PermissionDeniedException()


def _power(check: Checker, value: str) -> LinkPower:
    chosen = check.choice("power", value, "権限", POWER_CHOICES)
    return LinkPower(chosen) if chosen in POWER_CHOICES else LinkPower.VIEW


# The client's side ----------------------------------------------------------------------------------------------


async def client_links(session: AsyncSession, principal: Principal) -> list[LinkRow]:
    """The client's links (open ones first, newest first), with each office."""
    _require_client_admin(principal)
    rows = await session.execute(
        select(PartnerLink, Tenant)
        .join(Tenant, Tenant.id == PartnerLink.partner_id)
        .where(PartnerLink.tenant_id == principal.tenant_id)
        .order_by(PartnerLink.created_at.desc())
        .limit(LINKS_SHOWN)
    )
    found = [LinkRow(link, office) for link, office in rows.all()]
    return sorted(found, key=lambda row: row.link.status is LinkStatus.ENDED)


async def invite_office(session: AsyncSession, principal: Principal, form: InviteOfficeForm) -> PartnerLink:
    """The client's admin invites an office by its code with a power; the consent is recorded now (申請中 until the
    office accepts). FormInvalid: unknown code, or a link with that office already open."""
    _require_client_admin(principal)
    check = Checker()
    code = check.code("office_code", form.office_code.lower(), "事務所コード", max_length=32)
    power = _power(check, form.power)
    check.done()
    office = (
        await session.execute(select(Tenant).where(Tenant.code == code, Tenant.kind == TenantKind.PARTNER))
    ).scalar_one_or_none()
    if office is None:
        raise FormInvalid(
            {"office_code": "この事務所コードの社労士事務所はありません。事務所にコードを確認してください。"}
        )
    await widen_session(session, office.id)  # row-level security: the office's log gets the invitation
    await _refuse_open_link(session, principal.tenant_id, office.id, "office_code")
    now = utcnow()
    link = PartnerLink(
        tenant_id=principal.tenant_id,
        partner_id=office.id,
        status=LinkStatus.PENDING,
        power=power,
        requested_by_side=LinkSide.CLIENT,
        requested_by=principal.account_id,
        requested_by_name=principal.name,
        consented_by=principal.account_id,
        consented_by_name=principal.name,
        consented_at=now,
    )
    session.add(link)
    await session.flush()
    client = await _tenant(session, principal.tenant_id)
    await _log_both(session, principal, link, client, office, "社労士事務所の招待", "link_invited")
    return link


async def get_client_link(session: AsyncSession, principal: Principal, link_id: uuid.UUID | str) -> PartnerLink:
    """One of the client's links, or 404."""
    _require_client_admin(principal)
    return await get_scoped(session, PartnerLink, principal, link_id)


async def accept_request(
    session: AsyncSession, principal: Principal, link: PartnerLink, form: AcceptRequestForm
) -> None:
    """The client's admin consents to an office's request, with the power chosen (who and when are recorded)."""
    _require_client_admin(principal)
    if link.status is not LinkStatus.PENDING or link.requested_by_side is not LinkSide.PARTNER:
        raise FormInvalid({"link": "この連携は承認できる状態ではありません。"})
    check = Checker()
    power = _power(check, form.power or link.power.value)
    check.done()
    now = utcnow()
    link.power = power
    link.consented_by, link.consented_by_name, link.consented_at = principal.account_id, principal.name, now
    link.status, link.activated_at = LinkStatus.ACTIVE, now
    office = await _tenant(session, link.partner_id)
    client = await _tenant(session, principal.tenant_id)
    await _log_both(session, principal, link, client, office, "社労士事務所との連携の承認", "link_consented")


async def end_link_by_client(session: AsyncSession, principal: Principal, link: PartnerLink) -> None:
    """The client's admin ends (or declines) a link: the office's staff lose access on their next request."""
    _require_client_admin(principal)
    await _end(session, principal, link, LinkSide.CLIENT)


# The office's side ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientPage:
    """One page of an office's client links by client name, with the pager's state (no count: 次へ/前へ)."""

    rows: list[LinkRow]
    window: KeysetPage


async def office_client_page(
    session: AsyncSession,
    principal: Principal,
    request: PageRequest | None = None,
    *,
    query: str = "",
    statuses: tuple[LinkStatus, ...] = tuple(LinkStatus),
) -> ClientPage:
    """The office's links in the given states, ``CLIENTS_PER_PAGE`` a page by client name (then id), keyset-paged;
    ``query`` narrows to a part of the client's name or the start of its 事業者コード.

    Each view reads one page (and one row more) after the cursor from the office's range of its links; nothing is
    counted, so an office with thousands of clients costs the same page after page."""
    _require_office(principal, admin=False)
    statement = (
        select(PartnerLink.id)
        .join(Tenant, Tenant.id == PartnerLink.tenant_id)
        .where(PartnerLink.partner_id == principal.tenant_id, PartnerLink.status.in_(statuses))
    )
    if query:
        code_prefix = query.lower()
        statement = statement.where(
            Tenant.name.icontains(query, autoescape=True) | Tenant.code.startswith(code_prefix, autoescape=True)
        )
    window = await read_page(session, [statement], _BY_NAME, request or PageRequest(), per_page=CLIENTS_PER_PAGE)
    link_ids = [key.link_id for key in window.keys]
    found: dict[uuid.UUID, LinkRow] = {}
    if link_ids:
        rows = await session.execute(
            select(PartnerLink, Tenant)
            .join(Tenant, Tenant.id == PartnerLink.tenant_id)
            .where(PartnerLink.partner_id == principal.tenant_id, PartnerLink.id.in_(link_ids))
        )
        found = {link.id: LinkRow(link, client) for link, client in rows.all()}
    return ClientPage([found[key] for key in link_ids if key in found], window)


def split_codes(text: str) -> list[str]:
    """事業者コード typed one a line or separated by commas (、，, spaces too), cleaned and lower-cased, in order,
    without repeats."""
    seen: dict[str, None] = {}
    for part in re.split(r"[\s,、，]+", clean_code(text or "")):
        if part:
            seen.setdefault(part.lower(), None)
    return list(seen)


async def linked_clients_by_code(
    session: AsyncSession, office_id: uuid.UUID, codes: Iterable[str]
) -> tuple[dict[str, Tenant], list[str]]:
    """The office's ACTIVE clients among ``codes`` (code → client) and the codes that are not one (unknown, not
    linked, linked with another office only, or ended): the caller names those, never anything about them."""
    wanted = [code for code in dict.fromkeys(code.lower() for code in codes) if code]
    found: dict[str, Tenant] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = await session.execute(
            select(Tenant)
            .join(PartnerLink, PartnerLink.tenant_id == Tenant.id)
            .where(
                PartnerLink.partner_id == office_id,
                PartnerLink.status == LinkStatus.ACTIVE,
                Tenant.code.in_(chunk),
            )
        )
        found.update({client.code: client for client in rows.scalars()})
    return found, [code for code in wanted if code not in found]


async def linked_client_by_code(session: AsyncSession, principal: Principal, code: str, *, field: str) -> Tenant:
    """The office's ACTIVE client with this 事業者コード (a picker's typed code), or FormInvalid on ``field`` in
    Japanese: the same message for a code no one has and another office's client, so nothing leaks."""
    _require_office(principal, admin=False)
    typed = split_codes(code)
    if len(typed) != 1:
        raise FormInvalid({field: "顧問先の事業者コードを1つ入力してください。"})
    found, _missing = await linked_clients_by_code(session, principal.tenant_id, typed)
    client = found.get(typed[0])
    if client is None:
        raise FormInvalid({field: UNKNOWN_CLIENT_CODE})
    return client


async def request_client(session: AsyncSession, principal: Principal, form: RequestClientForm) -> PartnerLink:
    """The office's admin asks a client (by its 事業者コード) for a link with a power; the client consents later."""
    _require_office(principal, admin=True)
    check = Checker()
    code = check.code("client_code", form.client_code.lower(), "顧問先の事業者コード", max_length=32)
    power = _power(check, form.power)
    check.done()
    client = (
        await session.execute(select(Tenant).where(Tenant.code == code, Tenant.kind == TenantKind.COMPANY))
    ).scalar_one_or_none()
    if client is None:
        raise FormInvalid({"client_code": "この事業者コードの事業者はありません。顧問先にコードを確認してください。"})
    await widen_session(session, client.id)  # row-level security: the link row and the log are the client's
    await _refuse_open_link(session, client.id, principal.tenant_id, "client_code")
    link = PartnerLink(
        tenant_id=client.id,
        partner_id=principal.tenant_id,
        status=LinkStatus.PENDING,
        power=power,
        requested_by_side=LinkSide.PARTNER,
        requested_by=principal.account_id,
        requested_by_name=principal.name,
    )
    session.add(link)
    await session.flush()
    office = await _tenant(session, principal.tenant_id)
    await _log_both(session, principal, link, client, office, "顧問先への連携の申請", "link_requested")
    return link


async def get_office_link(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID | str, *, admin: bool = True
) -> PartnerLink:
    """The office's open link with a client, or 404 (no link, an ended one, or another office's client)."""
    _require_office(principal, admin=admin)
    try:
        key = uuid.UUID(str(client_id))
    except ValueError:
        raise NotFoundException() from None
    link = (
        await session.execute(
            select(PartnerLink).where(
                PartnerLink.tenant_id == key,
                PartnerLink.partner_id == principal.tenant_id,
                PartnerLink.status != LinkStatus.ENDED,
            )
        )
    ).scalar_one_or_none()
    if link is None:
        raise NotFoundException()
    return link


async def accept_invitation(session: AsyncSession, principal: Principal, link: PartnerLink) -> None:
    """The office's admin accepts a client's invitation (the client consented when inviting): the link is active."""
    _require_office(principal, admin=True)
    if link.status is not LinkStatus.PENDING or link.requested_by_side is not LinkSide.CLIENT:
        raise FormInvalid({"link": "この連携は承認できる状態ではありません。"})
    link.status, link.activated_at = LinkStatus.ACTIVE, utcnow()
    client = await _tenant(session, link.tenant_id)
    office = await _tenant(session, principal.tenant_id)
    await _log_both(session, principal, link, client, office, "顧問先からの招待の承認", "link_accepted")


async def end_link_by_office(session: AsyncSession, principal: Principal, link: PartnerLink) -> None:
    """The office's admin ends (or withdraws) a link."""
    _require_office(principal, admin=True)
    await _end(session, principal, link, LinkSide.PARTNER)


async def enter_client(session: AsyncSession, principal: Principal, client_id: uuid.UUID | str) -> PartnerLink:
    """A staff member starts working inside a client: the link must be active and give a way in (not
    ファイル・連絡のみ); else 404. Logged in the client's log (and so in the office's cross-client log)."""
    link = await get_office_link(session, principal, client_id, admin=False)
    if link.status is not LinkStatus.ACTIVE or link.power.value not in ACTING_ROLES:
        raise NotFoundException()
    client = await _tenant(session, link.tenant_id)
    office = await _tenant(session, principal.tenant_id)
    actor = principal.actor()
    acting = replace(
        actor,
        name=f"{principal.name}（{office.name}）",
        organisation=office.name,
        role=f"社労士事務所・{ACTING_ROLES[link.power.value].label}",
        partner_id=office.id,
    )
    detail = {"event": "partner_entered", "link_id": str(link.id), "power": link.power.value}
    await record(
        session,
        AuditEvent(
            tenant_id=client.id,
            action=AuditAction.PARTNER_ENTER,
            actor=acting,
            function="社労士事務所の顧問先作業",
            detail=detail,
        ),
    )
    return link


async def active_link_between(session: AsyncSession, client_id: uuid.UUID, office_id: uuid.UUID) -> PartnerLink | None:
    """The ACTIVE link of a client company with an office, or None (pending, ended or never linked).

    For the packages that build on links (file exchange, notices): every power, ファイル・連絡のみ included, lets the
    two sides exchange files; only 閲覧のみ and 番号の取扱い let staff work inside the client (``enter_client``).
    One probe of ``ix_partner_links_partner_id_status_tenant_id``.
    """
    return (
        await session.execute(
            select(PartnerLink).where(
                PartnerLink.partner_id == office_id,
                PartnerLink.status == LinkStatus.ACTIVE,
                PartnerLink.tenant_id == client_id,
            )
        )
    ).scalar_one_or_none()


# Shared ---------------------------------------------------------------------------------------------------------


async def _end(session: AsyncSession, principal: Principal, link: PartnerLink, side: LinkSide) -> None:
    if link.status is LinkStatus.ENDED:
        raise FormInvalid({"link": "この連携は既に終了しています。"})
    was = link.status
    link.status, link.ended_at = LinkStatus.ENDED, utcnow()
    link.ended_by, link.ended_by_name, link.ended_by_side = principal.account_id, principal.name, side
    client = await _tenant(session, link.tenant_id)
    office = await _tenant(session, link.partner_id)
    function = "社労士連携の終了" if was is LinkStatus.ACTIVE else "社労士連携の申請の取消"
    await _log_both(session, principal, link, client, office, function, "link_ended")


async def _refuse_open_link(session: AsyncSession, client_id: uuid.UUID, office_id: uuid.UUID, field: str) -> None:
    open_link = await session.execute(
        select(PartnerLink.id).where(
            PartnerLink.tenant_id == client_id,
            PartnerLink.partner_id == office_id,
            PartnerLink.status != LinkStatus.ENDED,
        )
    )
    if open_link.first() is not None:
        raise FormInvalid({field: "この相手とは既に連携中か申請中です。一覧から状態を確認してください。"})


async def _tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFoundException()
    return tenant


async def _log_both(
    session: AsyncSession,
    principal: Principal,
    link: PartnerLink,
    client: Tenant,
    office: Tenant,
    function: str,
    event: str,
) -> None:
    """One entry in the client's log and one in the office's, each naming the other side."""
    base = {"event": event, "link_id": str(link.id), "power": link.power.value, "status": link.status.value}
    for own, other in ((client, office), (office, client)):
        await record(
            session,
            AuditEvent(
                tenant_id=own.id,
                action=AuditAction.PARTNER_LINK,
                actor=principal.actor(),
                function=function,
                detail={**base, "tenant_id": str(other.id), "tenant_name": other.name},
            ),
        )


__all__ = [
    "CLIENTS_PER_PAGE",
    "LINKS_SHOWN",
    "POWER_CHOICES",
    "STATUS_FILTERS",
    "UNKNOWN_CLIENT_CODE",
    "ClientPage",
    "LinkRow",
    "accept_invitation",
    "accept_request",
    "active_link_between",
    "client_links",
    "end_link_by_client",
    "end_link_by_office",
    "enter_client",
    "get_client_link",
    "get_office_link",
    "invite_office",
    "linked_client_by_code",
    "linked_clients_by_code",
    "office_client_page",
    "request_client",
    "split_codes",
]
