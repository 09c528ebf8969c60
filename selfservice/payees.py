"""Payees' one-time links: issue, revoke and resolve them, and register a payee's number through one.

Only the SHA-256 of a link's token is stored; the token itself exists in the issuing response, the printed sheet
and the mail, and is looked up again by its hash alone. Numbers go through ``tenants.services._records``.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditResult
from app.config import Settings
from app.db import utcnow
from app.tenancy import Tenant, TenantStatus
from app.text import format_date
from app.vault import NumberField, Vault
from selfservice.letters import PayeeLinkSheet
from tenants.models import CollectionStatus, PayeeLink, Person, PersonKind
from tenants.services import JST, confirmation_matches, issue_confirmation
from tenants.services._records import (
    Channel,
    RecordError,
    confirm_by_self,
    log_person_event,
    number_field,
    register_number,
    reveal_number,
)

TOKEN_BYTES = 24  # 192 bits
MAX_TOKEN_LENGTH = 64
PURPOSE_OF_USE = "報酬・料金等の支払調書作成事務"
SELF_CHECK_PURPOSE = "本人による番号確認"
FUNCTION_REGISTER = "取引先登録"
FUNCTION_ISSUE = "取引先リンク発行"
FUNCTION_REVOKE = "取引先リンク無効化"
FUNCTION_MAIL = "取引先リンク送信"
FUNCTION_PRINT = "取引先リンク印刷"
FUNCTION_LOCK = "取引先リンクのロック"
PAYEE_ROLE = "取引先"
PAYEE_LOGIN_ID = "payee-link"
MAX_FAILURES = 10  # failed entries through one link before it locks


class LinkState(enum.StrEnum):
    """Where a payee's latest link stands, as the admin page shows it."""

    NONE = "none"
    ACTIVE = "active"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"
    LOCKED = "locked"

    @property
    def label(self) -> str:
        return {
            "none": "未発行",
            "active": "有効",
            "used": "使用済",
            "expired": "期限切れ",
            "revoked": "無効化済",
            "locked": "ロック中（入力の誤りが続いたため）",
        }[self.value]


class LinkUnavailable(Exception):
    """The link cannot be used; ``state`` says why (NONE: unknown tenant or token) and ``tenant`` when known."""

    def __init__(self, state: LinkState, tenant: Tenant | None = None) -> None:
        super().__init__(state.value)
        self.state = state
        self.tenant = tenant


@dataclass(frozen=True, slots=True)
class IssuedLink:
    """A link just issued: the token is known only now (it is never stored)."""

    link: PayeeLink
    token: str = field(repr=False)
    url: str = field(repr=False)
    revoked_previous: int


@dataclass(frozen=True, slots=True)
class ResolvedLink:
    """A usable link with its tenant and payee."""

    tenant: Tenant
    link: PayeeLink
    person: Person

    @property
    def field(self) -> NumberField:
        return number_field(self.person)

    @property
    def is_corporation(self) -> bool:
        return self.field is NumberField.CORPORATE_NUMBER


def new_token() -> str:
    """A fresh random URL-safe link token (192 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256, hex (a 192-bit random token needs no salt or slow hash)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def link_url(settings: Settings, tenant_code: str, token: str) -> str:
    """The public address of a link: ``<base>/p/<tenant code>/<token>``."""
    return f"{settings.effective_base_url}/p/{tenant_code}/{token}"


def link_state(link: PayeeLink | None, now: dt.datetime | None = None) -> LinkState:
    """Used beats revoked beats locked beats expired: the most useful thing to tell the reader."""
    if link is None:
        return LinkState.NONE
    if link.used_at is not None:
        return LinkState.USED
    if link.revoked_at is not None:
        return LinkState.REVOKED
    if link.locked_at is not None:
        return LinkState.LOCKED
    if link.expires_at <= (now or utcnow()):
        return LinkState.EXPIRED
    return LinkState.ACTIVE


def in_japan(moment: dt.datetime) -> dt.datetime:
    """A UTC timestamp in Japan time, for screens, letters and mails."""
    return moment.astimezone(JST)


def japan_time_label(moment: dt.datetime) -> str:
    """2026/12/06 17:30 (Japan time, ``app.text.format_date``)."""
    return format_date(moment, time="minutes")


def issue_refusal(person: Person) -> str | None:
    """Why no link may be issued for this payee now, or None."""
    if person.status is CollectionStatus.ADMIN_CONFIRMED:
        return "管理者確認済みの番号があるため、リンクは発行できません。番号を変更する場合は代理登録してください。"
    if person.status is CollectionStatus.ERASED:
        return "番号を削除済みの取引先にはリンクを発行できません。"
    if person.retired_at is not None:
        return "取引を終了した取引先にはリンクを発行できません。"
    return None


async def latest_link(session: AsyncSession, person: Person) -> PayeeLink | None:
    """The payee's most recently issued link."""
    statement = (
        select(PayeeLink)
        .where(PayeeLink.tenant_id == person.tenant_id, PayeeLink.person_id == person.id)
        .order_by(PayeeLink.created_at.desc(), PayeeLink.id.desc())
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def issue_link(
    session: AsyncSession, settings: Settings, *, actor: Actor, tenant: Tenant, person: Person
) -> IssuedLink:
    """Revoke the payee's open links and issue a new one valid for ``payee_link_days`` days (logged, token not)."""
    if person.kind is not PersonKind.PAYEE or person.tenant_id != tenant.id:
        raise ValueError("links are issued only for the tenant's own payees")
    refusal = issue_refusal(person)
    if refusal:
        raise RecordError(refusal)
    now = utcnow()
    revoked = await _revoke_open_links(session, person, now)
    token = new_token()
    link = PayeeLink(
        tenant_id=tenant.id,
        person_id=person.id,
        token_hash=hash_token(token),
        expires_at=now + dt.timedelta(days=settings.payee_link_days),
        created_by=actor.name[:100],
        created_at=now,
    )
    session.add(link)
    await session.flush()
    detail = {
        "event": "payee_link_issued",
        "link_id": str(link.id),
        "expires_at": link.expires_at.isoformat(),
        "revoked_previous": revoked,
    }
    await log_person_event(session, actor, person, AuditAction.UPDATE, FUNCTION_ISSUE, detail=detail)
    return IssuedLink(link=link, token=token, url=link_url(settings, tenant.code, token), revoked_previous=revoked)


async def revoke_links(session: AsyncSession, *, actor: Actor, person: Person) -> int:
    """Revoke every open link of the payee; logged when there was one."""
    revoked = await _revoke_open_links(session, person, utcnow())
    if revoked:
        detail: dict[str, object] = {"event": "payee_link_revoked", "revoked": revoked}
        await log_person_event(session, actor, person, AuditAction.UPDATE, FUNCTION_REVOKE, detail=detail)
    return revoked


async def _revoke_open_links(session: AsyncSession, person: Person, now: dt.datetime) -> int:
    statement = (
        update(PayeeLink)
        .where(
            PayeeLink.tenant_id == person.tenant_id,
            PayeeLink.person_id == person.id,
            PayeeLink.used_at.is_(None),
            PayeeLink.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def active_link_for_token(session: AsyncSession, person: Person, token: str) -> PayeeLink | None:
    """The payee's active link whose token this is (by hash lookup), e.g. to print its sheet again."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    statement = select(PayeeLink).where(
        PayeeLink.tenant_id == person.tenant_id,
        PayeeLink.person_id == person.id,
        PayeeLink.token_hash == hash_token(token),
    )
    link = (await session.execute(statement)).scalar_one_or_none()
    return link if link_state(link) is LinkState.ACTIVE else None


async def note_mailed(session: AsyncSession, *, actor: Actor, person: Person) -> None:
    """Log that the link was mailed to the payee (the address and the link are not logged)."""
    await log_person_event(
        session, actor, person, AuditAction.UPDATE, FUNCTION_MAIL, detail={"event": "payee_link_mailed"}
    )


async def note_printed(session: AsyncSession, *, actor: Actor, person: Person) -> None:
    """Log that the link's sheet was printed."""
    await log_person_event(
        session, actor, person, AuditAction.PRINT, FUNCTION_PRINT, detail={"event": "payee_link_sheet"}
    )


def link_sheet(*, tenant: Tenant, person: Person, url: str, expires_at: dt.datetime, contact: str) -> PayeeLinkSheet:
    """What the printed sheet and the mail say."""
    return PayeeLinkSheet(
        company_name=tenant.name,
        payee_name=person.name,
        link_url=url,
        expires_on=in_japan(expires_at).date(),
        contact=contact,
    )


async def _find_link(session: AsyncSession, tenant_code: str, token: str) -> tuple[Tenant, PayeeLink]:
    """The tenant and link of a public address whatever the link's state, or LinkUnavailable(NONE) (an unknown,
    suspended or ended tenant and an unknown token look alike)."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not tenant_code or len(tenant_code) > 32:
        raise LinkUnavailable(LinkState.NONE)
    tenant = (await session.execute(select(Tenant).where(Tenant.code == tenant_code))).scalar_one_or_none()
    if tenant is None or tenant.status in (TenantStatus.SUSPENDED, TenantStatus.ENDED):
        raise LinkUnavailable(LinkState.NONE)
    statement = select(PayeeLink).where(PayeeLink.tenant_id == tenant.id, PayeeLink.token_hash == hash_token(token))
    link = (await session.execute(statement)).scalar_one_or_none()
    if link is None:
        raise LinkUnavailable(LinkState.NONE)
    return tenant, link


async def resolve_link(session: AsyncSession, tenant_code: str, token: str) -> ResolvedLink:
    """The usable link for a public address, or LinkUnavailable (unknown tenant and unknown token look alike)."""
    tenant, link = await _find_link(session, tenant_code, token)
    state = link_state(link)
    if state is not LinkState.ACTIVE:
        raise LinkUnavailable(state, tenant)
    person = await _payee(session, tenant.id, link.person_id)
    if person is None or issue_refusal(person) is not None:
        raise LinkUnavailable(LinkState.REVOKED, tenant)
    return ResolvedLink(tenant=tenant, link=link, person=person)


def documents_link_state(link: PayeeLink, newest: PayeeLink | None, now: dt.datetime | None = None) -> LinkState:
    """Where a link stands for the payee's identity documents (本人確認書類, ``verification``): confirming the
    number through it does not end it there, since the photos and the review's result come after the number.

    Revoked, locked and expired links are refused as for the number; a link used for the number stays ACTIVE
    until it expires while it is the payee's newest link (``newest``), and is USED once a newer one was issued.
    """
    if link.revoked_at is not None:
        return LinkState.REVOKED
    if link.locked_at is not None:
        return LinkState.LOCKED
    if link.expires_at <= (now or utcnow()):
        return LinkState.EXPIRED
    if link.used_at is not None and (newest is None or newest.id != link.id):
        return LinkState.USED
    return LinkState.ACTIVE


async def resolve_documents_link(session: AsyncSession, tenant_code: str, token: str) -> ResolvedLink:
    """The link of a public address for the payee's identity documents (:func:`documents_link_state`), or
    LinkUnavailable with the same states as :func:`resolve_link` (an erased or retired payee: REVOKED)."""
    tenant, link = await _find_link(session, tenant_code, token)
    person = await _payee(session, tenant.id, link.person_id)
    newest = await latest_link(session, person) if person is not None else None
    state = documents_link_state(link, newest)
    if state is not LinkState.ACTIVE:
        raise LinkUnavailable(state, tenant)
    if person is None or person.status is CollectionStatus.ERASED or person.retired_at is not None:
        raise LinkUnavailable(LinkState.REVOKED, tenant)
    return ResolvedLink(tenant=tenant, link=link, person=person)


def documents_path(tenant_code: str, token: str) -> str:
    """The path of the payee's identity-document pages behind their link (``verification``'s payee pages)."""
    return f"/p/{tenant_code}/{token}/verification"


async def _payee(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID) -> Person | None:
    statement = select(Person).where(
        Person.tenant_id == tenant_id, Person.id == person_id, Person.kind == PersonKind.PAYEE
    )
    return (await session.execute(statement)).scalar_one_or_none()


def payee_actor(resolved: ResolvedLink, *, ip: str | None, user_agent: str | None) -> Actor:
    """The audit snapshot of a payee acting through their link (no account)."""
    return Actor(
        user_id=None,
        login_id=PAYEE_LOGIN_ID,
        name=resolved.person.name,
        role=PAYEE_ROLE,
        organisation=resolved.tenant.name,
        ip=ip,
        user_agent=user_agent,
    )


@dataclass(frozen=True, slots=True)
class ShownNumber:
    """The number just entered, opened once for the confirmation screen, with that screen's one-time token."""

    number: str = field(repr=False)
    token: str = field(repr=False)


async def register_through_link(
    session: AsyncSession, vault: Vault, resolved: ResolvedLink, *, actor: Actor, number: str
) -> ShownNumber:
    """Store what the payee typed and open it once for the confirmation screen (InvalidNumber, RecordError).

    A number someone else in the company holds is stored like any other (flagged for the admin by the duplicate
    rule): the payee sees the same screens. Every refusal comes before anything is written, so the caller can log
    the failure with :func:`note_failure` and commit.
    """
    stored = await register_number(
        session, vault, actor=actor, person=resolved.person, number=number, channel=Channel.PAYEE
    )
    shown = await reveal_number(
        session,
        vault,
        actor=actor,
        person=resolved.person,
        purpose=SELF_CHECK_PURPOSE,
        function=FUNCTION_REGISTER,
        action=AuditAction.VIEW,
    )
    token, kept = issue_confirmation(resolved.person.id, stored.id)
    resolved.link.confirm_token_hash = kept["hash"]
    resolved.link.confirm_number_id = stored.id
    await session.flush()
    return ShownNumber(number=shown, token=token)


async def note_failure(session: AsyncSession, resolved: ResolvedLink, *, actor: Actor, reason: str) -> bool:
    """Count a failed entry against the link and log it (result 失敗); True when it just locked the link.

    The caller commits even though it answers with an error: the count and the entries must survive the 400.
    At ``MAX_FAILURES`` the link locks (logged too) and the admin's home page lists it.
    """
    link = resolved.link
    link.failures = (link.failures or 0) + 1
    detail: dict[str, object] = {
        "event": "payee_link_failure",
        "link_id": str(link.id),
        "failures": link.failures,
        "reason": reason,
    }
    await log_person_event(
        session,
        actor,
        resolved.person,
        AuditAction.REGISTER,
        FUNCTION_REGISTER,
        detail=detail,
        result=AuditResult.FAILURE,
    )
    locked = link.failures >= MAX_FAILURES and link.locked_at is None
    if locked:
        link.locked_at = utcnow()
        lock_detail: dict[str, object] = {"event": "payee_link_locked", "link_id": str(link.id)}
        await log_person_event(
            session,
            actor,
            resolved.person,
            AuditAction.UPDATE,
            FUNCTION_LOCK,
            detail=lock_detail,
            result=AuditResult.DENIED,
        )
    await session.flush()
    return locked


def entered_through_link(resolved: ResolvedLink) -> bool:
    """Whether the payee's current number was typed through this link (so confirming it means something)."""
    person = resolved.person
    return (
        person.status is CollectionStatus.REGISTERED
        and person.registered_at is not None
        and person.registered_at >= resolved.link.created_at
    )


async def confirm_through_link(
    session: AsyncSession, vault: Vault, resolved: ResolvedLink, *, actor: Actor, token: str
) -> None:
    """本人番号確認 by the payee, only from the screen that showed the number (its one-time token); the link is
    used up. RecordError (asking to enter the number again) otherwise."""
    if not entered_through_link(resolved):
        raise RecordError("番号が入力されていません。番号を入力してから確定してください。")
    link = resolved.link
    infos = await vault.number_info(session, link.tenant_id, [resolved.person.id], resolved.field)
    info = infos.get(resolved.person.id)
    kept = (
        {"hash": link.confirm_token_hash, "person": str(resolved.person.id), "number": str(link.confirm_number_id)}
        if link.confirm_token_hash
        else None
    )
    if not confirmation_matches(kept, token, resolved.person.id, info.id if info else None):
        raise RecordError("確認画面の有効期限が切れました。お手数ですが、もう一度番号を入力して確認してください。")
    await confirm_by_self(session, actor=actor, person=resolved.person, function=FUNCTION_REGISTER)
    link.used_at = utcnow()
    link.confirm_token_hash = None
    await session.flush()
