"""連絡管理 (seed 002): structured notices from a client company to its 社労士事務所, applied to the records.

A client's admin or handler sends a notice (one of ``NoticeKind``) to an office it is linked with ACTIVE now (any
power: ファイル・連絡のみ is for files and notices); a My Number is accepted only over a link with 番号の取扱い and is
sealed at once under a key of its own in the key store (a vault document key owned by the notice), never kept
in ``data``; the key is destroyed when the notice goes.
Attachments are exchanged files (``_exchange.send_files``) carrying ``notice_id`` (seed 002: 「名前 連絡種類名称
添付ファイル」, kept 30 days like every exchanged file).

The office's staff see their clients' notices (ACTIVE links only, like files), set the 処理区分 (未 / 登録済 / 登録不可
/ 手続完了; the client reads 未処理 / 登録完了 / 登録保留 / 手続完了) and, over a 番号の取扱い link, reveal the number
after step-up (表示, in the client's log) and apply the notice (台帳に反映): the same services an admin of the client
uses (add an employee, 退職処理, add a dependant, 代理登録, field changes), as the staff member working inside the
client, from the notice's fields as the staff edited them (the notice itself keeps what the client sent). Notices
go ``NOTICE_KEEP_DAYS`` after they were sent (``partners.retention``), and their sealed numbers with them.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy import Select, delete, exists, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent, Subject
from app.audit.log import record
from app.auth.models import Role
from app.auth.principal import Principal, partner_acting_in_client
from app.blobs import BlobStore
from app.config import Settings
from app.db import new_id, utcnow
from app.documents import QuotaExceeded
from app.forms import FormInvalid
from app.tenancy import Tenant
from app.text import JST, clean_name, format_date, today_in_japan
from app.vault import DocumentKeyGone, Vault, VaultIntegrityError
from partners.filecheck import FileRefused
from partners.models import (
    ExchangeFile,
    LinkPower,
    LinkStatus,
    NoticeKind,
    NoticeStatus,
    PartnerLink,
    PartnerNotice,
)
from partners.services._exchange import BOX_REFUSED, _open, _require_client_writable, send_files
from partners.services._exchange_list import _parse_cursor
from partners.services._exchange_scope import BADGE_CAP, FileGone, _uuid, exchange_actor, side_of
from partners.services._links import active_link_between
from partners.services._notice_fields import (
    INSURANCES,
    CheckedNotice,
    check_notice_fields,
    shown_values,
)
from partners.services._person_box import PersonBoxFull, keep_in_person_box, may_change_boxes
from tenants.models import Person, PersonKind
from tenants.schemas import DependantForm, EmployeeForm, RetireForm
from tenants.services._deletion_due import follow_dependant_end
from tenants.services._dependants import add_dependant
from tenants.services._employees import add_employee, retire_employee
from tenants.services._numbers import proxy_register
from tenants.services._people import apply_changes
from tenants.services._records import context_of

NOTICE_KEEP_DAYS: Final = 180  # seed 002: 連絡データの保管期間は180日間
NOTICES_PER_PAGE: Final = 50
DEFAULT_DAYS: Final = 30  # the office's list opens on the last 30 days (seed 002: 新着設定日数)
FUNCTION: Final = "連絡管理"
STATUS_CHOICES: Final = {status.value: status.label for status in NoticeStatus}
KIND_CHOICES: Final = {kind.value: kind.label for kind in NoticeKind}
ALL_DATES_NEED_CLIENT: Final = (
    "「すべての日付」で抽出する場合は、顧問先を選んでください（日付と顧問先の両方を「すべて」にはできません）。"
)
BAD_DATE: Final = "{label}は 2026/11/01 や R8.11.1 のように入力してください。"
# 台帳に反映 is offered for notices not applied yet (未) or put on hold (登録不可); once 登録済 or 手続完了, changes are
# made on the client's own pages, so a double click or a second save cannot write the records twice.
APPLICABLE: Final = (NoticeStatus.PENDING, NoticeStatus.HELD)
ALREADY_APPLIED: Final = (
    "この連絡はすでに台帳に反映されているか手続完了のため、反映できません。"
    "内容を直す場合は顧問先の従業員情報から修正してください。"
)
NOT_FOR_NUMBERS: Final = (
    "この顧問先との連携は「番号の取扱い」ではないため、台帳への反映と番号の表示はできません（処理区分は変更できます）。"
)


@dataclass(frozen=True, slots=True)
class NoticeRow:
    """A notice as one side sees it: ``client_name`` / ``office_name`` for the lists and the page."""

    notice: PartnerNotice
    client_name: str
    office_name: str

    @property
    def values(self) -> dict[str, str]:
        loaded = json.loads(self.notice.data or "{}")
        return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}

    @property
    def shown(self) -> list[tuple[str, str]]:
        return shown_values(self.notice.kind, self.values)

    @property
    def has_number(self) -> bool:
        return self.notice.number_sealed is not None


@dataclass(frozen=True, slots=True)
class NoticeFilters:
    """The office's list (seed 002 連絡管理): 受信日 from/to (JST) or every date (``all_dates``, only with a client),
    the client, the kind and the 処理区分; ``refusal`` when the combination is not allowed."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    all_dates: bool = False
    client: uuid.UUID | None = None
    kind: NoticeKind | None = None
    status: NoticeStatus | None = None
    refusal: str = ""

    @classmethod
    def parse(cls, query: Mapping[str, str], *, office_side: bool) -> NoticeFilters:
        """From query parameters; unknown values read as no filter; with none given, the last ``DEFAULT_DAYS``."""
        from app.text import parse_date  # the shared date rule (西暦 or 和暦)

        def day(name: str) -> dt.date | None:
            try:
                return parse_date(query.get(name) or "")
            except ValueError:
                return None

        client = _maybe_uuid(query.get("client_id") or "") if office_side else None
        kind = NoticeKind(query["kind"]) if query.get("kind") in KIND_CHOICES else None
        status = NoticeStatus(query["status"]) if query.get("status") in STATUS_CHOICES else None
        all_dates = query.get("period") == "all"
        date_from, date_to = day("from"), day("to")
        refusal = ""
        if not all_dates and (query.get("from") or "").strip() and date_from is None:
            refusal = BAD_DATE.format(label="受信日（から）")
        elif not all_dates and (query.get("to") or "").strip() and date_to is None:
            refusal = BAD_DATE.format(label="受信日（まで）")
        elif not all_dates and date_from and date_to and date_from > date_to:
            refusal = "受信日（から）は受信日（まで）以前の日付にしてください。"
        elif office_side and all_dates and client is None:
            refusal = ALL_DATES_NEED_CLIENT
        if not all_dates and date_from is None and date_to is None:
            # No range is not "every date": that needs a client chosen (seed 002); the list shows the recent days.
            date_from = today_in_japan() - dt.timedelta(days=DEFAULT_DAYS)
        return cls(date_from, date_to, all_dates, client, kind, status, refusal)

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for the next page's link)."""
        return {
            "from": format_date(self.date_from) if self.date_from else "",
            "to": format_date(self.date_to) if self.date_to else "",
            "period": "all" if self.all_dates else "",
            "client_id": str(self.client or ""),
            "kind": self.kind.value if self.kind else "",
            "status": self.status.value if self.status else "",
        }


@dataclass(frozen=True, slots=True)
class NoticePage:
    rows: list[NoticeRow]
    older: str | None
    refusal: str = ""


@dataclass(frozen=True, slots=True)
class Applied:
    """What 台帳に反映 did: the person changed or created, the sentence kept as the notice's ``result``, and the
    attachments that could not go to the person's box (with why)."""

    person: Person
    result: str
    not_kept: list[str] = field(default_factory=list)
    kept: int = 0


# Reading ---------------------------------------------------------------------------------------------------------


def _maybe_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _readable(principal: Principal) -> Select[Any]:
    """Every query starts here: the client's own notices, or the office's of clients linked ACTIVE now."""
    side = side_of(principal)
    client, office = Tenant.__table__.alias("client"), Tenant.__table__.alias("office")
    statement: Any = (
        select(PartnerNotice, client.c.name, office.c.name)
        .join(client, client.c.id == PartnerNotice.tenant_id)
        .join(office, office.c.id == PartnerNotice.partner_id)
    )
    if side.is_client:
        return statement.where(PartnerNotice.tenant_id == side.own_id)
    linked = exists().where(
        PartnerLink.partner_id == side.own_id,
        PartnerLink.status == LinkStatus.ACTIVE,
        PartnerLink.tenant_id == PartnerNotice.tenant_id,
    )
    return statement.where(PartnerNotice.partner_id == side.own_id, linked)


async def list_notices(
    session: AsyncSession, principal: Principal, filters: NoticeFilters, *, after: str = ""
) -> NoticePage:
    """The side's notices newest first, ``NOTICES_PER_PAGE`` a page, keyset-paged on (created_at, id) below
    ``after`` (one range of the (partner_id[, tenant_id], created_at) or (tenant_id, created_at) index)."""
    if filters.refusal:
        return NoticePage([], None, filters.refusal)
    statement = _readable(principal)
    if filters.client is not None:
        statement = statement.where(PartnerNotice.tenant_id == filters.client)
    if not filters.all_dates:
        if filters.date_from is not None:
            statement = statement.where(PartnerNotice.created_at >= _start_of(filters.date_from))
        if filters.date_to is not None:
            statement = statement.where(PartnerNotice.created_at < _start_of(filters.date_to + dt.timedelta(days=1)))
    if filters.kind is not None:
        statement = statement.where(PartnerNotice.kind == filters.kind)
    if filters.status is not None:
        statement = statement.where(PartnerNotice.status == filters.status)
    cursor = _parse_cursor(after) if after else None
    if cursor is not None:
        statement = statement.where(tuple_(PartnerNotice.created_at, PartnerNotice.id) < tuple_(*cursor))
    statement = statement.order_by(PartnerNotice.created_at.desc(), PartnerNotice.id.desc()).limit(NOTICES_PER_PAGE + 1)
    found = list((await session.execute(statement)).all())
    rows = [NoticeRow(notice, str(client), str(office)) for notice, client, office in found[:NOTICES_PER_PAGE]]
    older = None
    if len(found) > NOTICES_PER_PAGE:
        last = rows[-1].notice
        older = f"{last.created_at.isoformat()}~{last.id}"
    return NoticePage(rows, older)


def _start_of(day: dt.date) -> dt.datetime:
    """00:00 JST of ``day`` as an aware UTC time (受信日 are Japanese calendar days)."""
    return dt.datetime.combine(day, dt.time(0), JST).astimezone(dt.UTC)


async def get_notice(session: AsyncSession, principal: Principal, notice_id: uuid.UUID | str) -> NoticeRow:
    """One notice the principal's side may see, or NotFoundException (another tenant's or office's, a client whose
    link ended, none)."""
    found = (await session.execute(_readable(principal).where(PartnerNotice.id == _uuid(notice_id)))).one_or_none()
    if found is None:
        raise NotFoundException()
    notice, client, office = found
    return NoticeRow(notice, str(client), str(office))


async def notice_attachments(session: AsyncSession, row: NoticeRow) -> list[ExchangeFile]:
    """The notice's attachments still kept (exchanged files go after 30 days unless saved)."""
    statement = (
        select(ExchangeFile)
        .where(ExchangeFile.tenant_id == row.notice.tenant_id, ExchangeFile.notice_id == row.notice.id)
        .order_by(ExchangeFile.file_name)
        .limit(20)
    )
    return list((await session.execute(statement)).scalars())


async def pending_notice_count(session: AsyncSession, principal: Principal) -> int:
    """The office's notices still 未 from clients linked ACTIVE now, counted up to ``BADGE_CAP`` (its home says
    「未処理の連絡が N 件あります」); 0 for anyone else."""
    try:
        side = side_of(principal)
    except (NotFoundException, PermissionDeniedException):
        return 0
    if side.is_client:
        return 0
    statement = (
        _readable(principal)
        .with_only_columns(PartnerNotice.id)
        .where(PartnerNotice.status == NoticeStatus.PENDING)
        .limit(BADGE_CAP)
    )
    return len((await session.execute(statement)).all())


async def sendable_offices(session: AsyncSession, principal: Principal) -> list[tuple[Tenant, LinkPower]]:
    """The offices a client may send notices to (ACTIVE links), by name, with each link's power."""
    side = side_of(principal)
    if not side.is_client:
        raise PermissionDeniedException()
    statement = (
        select(Tenant, PartnerLink.power)
        .join(PartnerLink, PartnerLink.partner_id == Tenant.id)
        .where(PartnerLink.tenant_id == side.own_id, PartnerLink.status == LinkStatus.ACTIVE)
        .order_by(Tenant.name)
        .limit(100)
    )
    return [(tenant, power) for tenant, power in (await session.execute(statement)).all()]


# Sending ---------------------------------------------------------------------------------------------------------


async def send_notice(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    settings: Settings,
    principal: Principal,
    *,
    kind: NoticeKind,
    to: uuid.UUID | str,
    typed: Mapping[str, str],
    message: str = "",
    files: Sequence[tuple[str, bytes]] = (),
) -> PartnerNotice:
    """Send one notice of ``kind`` to the office ``to``, in the caller's transaction: the fields checked (see
    ``_notice_fields``), the employee found by 社員コード (a new one's code free), the number sealed, the row and its
    連絡送信 entry written, then the attachments sent as exchanged files of the notice.

    FormInvalid (Japanese, per field; nothing written): no such office, a bad field, an unknown employee or
    dependant, a number over a link without 番号の取扱い, a refused attachment. Only a client's admins and handlers
    send (PermissionDeniedException otherwise).
    """
    side = side_of(principal)
    if not side.is_client or principal.role not in (Role.ADMIN, Role.HANDLER):
        raise PermissionDeniedException()
    office_id = _maybe_uuid(str(to))
    link = await active_link_between(session, side.own_id, office_id) if office_id else None
    if link is None:
        raise FormInvalid({"office_id": "連絡先の社労士事務所を選んでください（連携中の事務所だけに送れます）。"})
    checked = check_notice_fields(kind, typed, number_allowed=link.power is LinkPower.NUMBERS, message=message)
    person, subject_name = await _subject_of(session, side.own_id, kind, checked)
    notice = PartnerNotice(
        tenant_id=side.own_id,
        id=new_id(),
        partner_id=link.partner_id,
        link_id=link.id,
        kind=kind,
        status=NoticeStatus.PENDING,
        sender_account_id=principal.account_id,
        sender_name=principal.name,
        person_id=person.id if person else None,
        subject_name=subject_name[:250],
        data=json.dumps(checked.values, ensure_ascii=False),
        message=checked.message,
    )
    if checked.number:
        notice.number_sealed = await _sealed_number(session, vault, notice, checked.number)
    session.add(notice)
    await session.flush()
    await _log(session, principal.actor(), AuditAction.NOTICE_SEND, notice, person, {"event": "notice_sent"})
    if any(name or data for name, data in files):
        caption = f"{subject_name} {kind.label}連絡 添付ファイル"
        sent = await send_files(
            session, vault, store, settings, principal, to=link.partner_id, files=files, message=caption
        )
        for file in sent:
            file.notice_id = notice.id
        await session.flush()
    return notice


async def _subject_of(
    session: AsyncSession, client_id: uuid.UUID, kind: NoticeKind, checked: CheckedNotice
) -> tuple[Person | None, str]:
    """The employee the notice is about (None for 入社) and the name lists show; FormInvalid when the 社員コード is
    unknown (or, for 入社, already used) or the dependant named is not the employee's."""
    code = checked.values.get("employee_code", "")
    employee = await _employee_by_code(session, client_id, code)
    if kind is NoticeKind.HIRE:
        if employee is not None:
            raise FormInvalid({"employee_code": "この社員コードは既に使われています。別のコードを入力してください。"})
        return None, checked.values.get("name", "")
    if employee is None:
        raise FormInvalid({"employee_code": f"社員コード「{code[:32]}」の従業員が見つかりません。"})
    dependant_name = checked.values.get("dependant_name", "")
    needs_dependant = kind is NoticeKind.NUMBER or (
        kind is NoticeKind.DEPENDANT and checked.values.get("change") == "remove"
    )
    if dependant_name and needs_dependant:
        matched = await _dependant_named(session, employee, dependant_name)
        if matched is None:
            raise FormInvalid({"dependant_name": _not_a_dependant(employee, dependant_name)})
        dependant_name = matched.name
    if dependant_name:
        return employee, f"{employee.name} > {dependant_name}"
    return employee, employee.name


async def _employee_by_code(session: AsyncSession, client_id: uuid.UUID, code: str) -> Person | None:
    if not code:
        return None
    statement = select(Person).where(
        Person.tenant_id == client_id, Person.kind == PersonKind.EMPLOYEE, Person.employee_code == code
    )
    return (await session.execute(statement)).scalar_one_or_none()


def _not_a_dependant(employee: Person, name: str) -> str:
    return f"{employee.name}さんの扶養家族に「{name}」さんはいません。氏名を確かめてください。"


async def _dependant_named(session: AsyncSession, employee: Person, name: str) -> Person | None:
    """The employee's dependant whose name is ``name`` (spaces ignored: 山田花子 finds 山田 花子)."""
    wanted = clean_name(name).replace(" ", "")
    statement = (
        select(Person)
        .where(
            Person.tenant_id == employee.tenant_id,
            Person.kind == PersonKind.DEPENDANT,
            Person.employee_id == employee.id,
        )
        .limit(50)
    )
    for dependant in (await session.execute(statement)).scalars():
        if dependant.name.replace(" ", "") == wanted:
            return dependant
    return None


# The office's side: 処理区分, 認証, 台帳に反映 --------------------------------------------------------------------


async def set_notice_status(
    session: AsyncSession, principal: Principal, row: NoticeRow, choice: str, settings: Settings
) -> None:
    """Set the 処理区分 (any power of link; the client must be writable); 処理区分変更 entry in the client's log.
    FormInvalid for an unknown choice or a read-only client; PermissionDeniedException for the client's side."""
    if side_of(principal).is_client:
        raise PermissionDeniedException()
    if choice not in STATUS_CHOICES:
        raise FormInvalid({"status": "処理区分を選んでください。"})
    await _require_client_writable(session, row.notice.tenant_id, settings, "変更", "status")
    notice = row.notice
    before = notice.status
    notice.status = NoticeStatus(choice)
    notice.handled_at, notice.handled_by_name = utcnow(), principal.name
    await session.flush()
    detail = {"event": "notice_status", "from": before.label, "to": notice.status.label}
    await _log(session, exchange_actor(principal), AuditAction.NOTICE_STATUS, notice, None, detail)


async def acting_handler(session: AsyncSession, principal: Principal, row: NoticeRow) -> Principal:
    """The office's staff member working inside the notice's client as its 担当者 (a 番号の取扱い link now);
    FormInvalid (``NOT_FOR_NUMBERS``) otherwise."""
    acting = await partner_acting_in_client(
        session,
        office_id=principal.tenant_id,
        account_id=principal.account_id,
        client_id=row.notice.tenant_id,
        ip=principal.ip,
        user_agent=principal.user_agent,
    )
    if side_of(principal).is_client or acting is None or acting.role is not Role.HANDLER:
        raise FormInvalid({"notice": NOT_FOR_NUMBERS})
    return acting


async def reveal_notice_number(session: AsyncSession, vault: Vault, principal: Principal, row: NoticeRow) -> str:
    """認証: the notice's number in clear for the office's staff member (step-up is the route's guard), with a
    表示 entry in the client's log; FormInvalid when the link does not allow numbers or there is none."""
    acting = await acting_handler(session, principal, row)
    if row.notice.number_sealed is None:
        raise FormInvalid({"notice": "この連絡にはマイナンバーがありません。"})
    number = await _opened_number(session, vault, row.notice)
    person = await _person(session, row.notice.tenant_id, row.notice.person_id)
    await _log(session, acting.actor(), AuditAction.REVEAL, row.notice, person, {"event": "notice_number_revealed"})
    return number


async def _sealed_number(session: AsyncSession, vault: Vault, notice: PartnerNotice, number: str) -> bytes:
    """The number sealed under the notice's own key in the key store (a vault document key whose owner is the
    notice): destroying that key when the notice goes erases the number, even from backups of the main database.
    Kept as the key's id (16 bytes) followed by the sealed bytes."""
    sealed = await vault.seal_document(
        session, tenant_id=notice.tenant_id, person_id=notice.id, document_id=notice.id, data=number.encode()
    )
    return sealed.key_id.bytes + sealed.sealed


async def _opened_number(session: AsyncSession, vault: Vault, notice: PartnerNotice) -> str:
    assert notice.number_sealed is not None
    token = bytes(notice.number_sealed)
    try:
        opened = await vault.open_document(
            session, tenant_id=notice.tenant_id, person_id=notice.id, document_id=notice.id,
            key_id=uuid.UUID(bytes=token[:16]), sealed=token[16:],
        )  # fmt: skip
    except (VaultIntegrityError, DocumentKeyGone, ValueError):
        raise FormInvalid(
            {"notice": "この連絡の番号は開けませんでした（破損しているか、削除されています）。"}
        ) from None
    return opened.decode()


async def apply_notice(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    settings: Settings,
    principal: Principal,
    row: NoticeRow,
    typed: Mapping[str, str],
    *,
    publish: bool,
    keep_attachments: bool,
    set_lost_dates: bool = False,
) -> Applied:
    """台帳に反映: apply the notice, from ``typed`` (its fields as the staff edited them; an empty number field
    means the notice's number), to the client's records as the staff member working inside it, in the caller's
    transaction; the notice becomes 登録済 (with ``result``, shown to the client when ``publish``).

    入社 → a new employee (社会保険・雇用保険の取得日 = 入社日 when ticked) and the number registered by proxy; 退社 →
    退職処理 (and, with ``set_lost_dates``, 喪失日 = the day after for each insurance the person has), which proposes
    the 削除予定日; 住所・姓変更 → address, name, kana; 扶養異動 → a dependant added (and their number) or the
    dependant's end of 扶養 (its 削除予定日 proposed); 保険変更 → the acquisition or loss dates; マイナンバー更新 → the
    number replaced. ``keep_attachments`` moves the attachments into the person's 個人ボックス (機密, at most
    ``MNV_PERSON_BOX_LIMIT``; those that do not fit are named in ``not_kept``).

    FormInvalid (Japanese; the caller rolls back): a link without 番号の取扱い, a read-only client, a bad field, an
    unknown employee or dependant, whatever the services refuse.
    """
    acting = await acting_handler(session, principal, row)
    await _require_client_writable(session, row.notice.tenant_id, settings, "反映", "notice")
    if keep_attachments and not may_change_boxes(acting):
        raise FormInvalid({"notice": BOX_REFUSED})
    notice = row.notice
    await _claim(session, notice)
    checked = check_notice_fields(notice.kind, typed, number_on_file=notice.number_sealed is not None)
    number = checked.number or (await _opened_number(session, vault, notice) if notice.number_sealed else "")
    person, result = await _APPLIERS[notice.kind](session, vault, acting, checked, number, set_lost_dates)
    kept, not_kept = (
        await _keep_attachments(session, vault, store, settings, acting, row, person) if keep_attachments else (0, [])
    )
    notice.status = NoticeStatus.REGISTERED
    notice.handled_at, notice.handled_by_name = utcnow(), principal.name
    notice.applied_person_id, notice.published, notice.result = person.id, publish, result[:1000]
    await session.flush()
    detail = {"event": "notice_applied", "result": result, "published": publish}
    await _log(session, acting.actor(), AuditAction.NOTICE_APPLY, notice, person, detail)
    return Applied(person, result, not_kept, kept)


async def _claim(session: AsyncSession, notice: PartnerNotice) -> None:
    """Take the notice for 台帳に反映, in the caller's transaction: a conditional update, so of two saves at once (or
    a second save later) only one finds it 未 or 登録不可; the other is told it is applied already (FormInvalid)."""
    result: Any = await session.execute(
        update(PartnerNotice)
        .where(
            PartnerNotice.tenant_id == notice.tenant_id,
            PartnerNotice.id == notice.id,
            PartnerNotice.status.in_(APPLICABLE),
        )
        .values(status=NoticeStatus.REGISTERED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if int(result.rowcount or 0) != 1:
        raise FormInvalid({"notice": ALREADY_APPLIED})


Applier = Callable[[AsyncSession, Vault, Principal, CheckedNotice, str, bool], Awaitable[tuple[Person, str]]]


async def _employee(session: AsyncSession, acting: Principal, checked: CheckedNotice) -> Person:
    code = checked.values.get("employee_code", "")
    employee = await _employee_by_code(session, acting.tenant_id, code)
    if employee is None:
        raise FormInvalid({"employee_code": f"社員コード「{code[:32]}」の従業員が見つかりません。"})
    return employee


async def _apply_hire(
    session: AsyncSession, vault: Vault, acting: Principal, checked: CheckedNotice, number: str, _: bool
) -> tuple[Person, str]:
    values = checked.values
    hired = values["hire_date"]
    form = EmployeeForm(
        employee_code=values["employee_code"],
        name=values["name"],
        kana=values["kana"],
        birth_date=values["birth_date"],
        hire_date=hired,
        social_insurance_acquired_on=hired if values.get("social_insurance") == "yes" else "",
        employment_insurance_acquired_on=hired if values.get("employment_insurance") == "yes" else "",
        gender=values.get("gender", ""),
        address=values.get("address", ""),
    )
    person = await add_employee(session, acting, form)
    kind_of_work = values["employment_type"]
    result = f"従業員（社員コード {person.employee_code}）として登録しました（入社日 {hired}、{kind_of_work}）。"
    if number:
        await proxy_register(session, vault, acting, person, number)
        result += "マイナンバーを代理登録しました。"
    return person, result


async def _apply_leave(
    session: AsyncSession, vault: Vault, acting: Principal, checked: CheckedNotice, _: str, set_lost_dates: bool
) -> tuple[Person, str]:
    employee = await _employee(session, acting, checked)
    retired = checked.dates["retirement_date"]
    result = f"退職日 {format_date(retired)}（{checked.values['reason']}）を登録しました。"
    if set_lost_dates:
        lost = retired + dt.timedelta(days=1)
        changes: dict[str, Any] = {}
        if employee.social_insurance_acquired_on is not None:
            changes["social_insurance_lost_on"] = lost
        if employee.employment_insurance_acquired_on is not None:
            changes["employment_insurance_lost_on"] = lost
        if changes:
            await apply_changes(session, acting, employee, changes, "従業員情報の修正（退社連絡）")
            result += f"資格喪失日 {format_date(lost)} を登録しました。"
        else:
            result += "資格取得日の記録がないため、資格喪失日は登録していません。"
    await retire_employee(session, acting, employee, RetireForm(retirement_date=format_date(retired)))
    if employee.deletion_due_on is not None:
        result += f"削除予定日 {format_date(employee.deletion_due_on)}。"
    return employee, result


async def _apply_address_name(
    session: AsyncSession, vault: Vault, acting: Principal, checked: CheckedNotice, _: str, __: bool
) -> tuple[Person, str]:
    employee = await _employee(session, acting, checked)
    values = checked.values
    changes: dict[str, Any] = {}
    if values.get("new_address"):
        changes["address"] = values["new_address"]
    if values.get("new_name"):
        changes["name"] = values["new_name"]
        if values.get("new_kana"):
            changes["kana"] = values["new_kana"]
    changed = await apply_changes(session, acting, employee, changes, "従業員情報の修正（住所・姓変更連絡）")
    labels = {"address": "住所", "name": "氏名", "kana": "フリガナ"}
    done = "・".join(labels[name] for name in changed) or "変更なし"
    return employee, f"{done}を変更しました（変更日 {values['changed_on']}）。"


async def _apply_dependant(
    session: AsyncSession, vault: Vault, acting: Principal, checked: CheckedNotice, number: str, _: bool
) -> tuple[Person, str]:
    employee = await _employee(session, acting, checked)
    values = checked.values
    if values.get("change") == "add":
        form = DependantForm(
            name=values["dependant_name"],
            kana=values.get("dependant_kana", ""),
            relationship=values.get("relationship", ""),
            birth_date=values.get("dependant_birth_date", ""),
        )
        dependant = await add_dependant(session, acting, employee, form)
        result = f"扶養家族「{dependant.name}」（{values.get('relationship', '')}）を追加しました。"
        if number:
            await proxy_register(session, vault, acting, dependant, number)
            result += "マイナンバーを代理登録しました。"
        return dependant, result
    leaving = await _dependant_named(session, employee, values["dependant_name"])
    if leaving is None:
        raise FormInvalid({"dependant_name": _not_a_dependant(employee, values["dependant_name"])})
    ended = checked.dates["changed_on"]
    await apply_changes(session, acting, leaving, {"retirement_date": ended}, "扶養家族情報の修正（扶養抹消）")
    await follow_dependant_end(session, leaving)
    result = f"扶養家族「{leaving.name}」の扶養抹消（{format_date(ended)}）を登録しました。"
    if leaving.deletion_due_on is not None:
        result += f"削除予定日 {format_date(leaving.deletion_due_on)}。"
    return leaving, result


async def _apply_insurance(
    session: AsyncSession, vault: Vault, acting: Principal, checked: CheckedNotice, _: str, __: bool
) -> tuple[Person, str]:
    employee = await _employee(session, acting, checked)
    values = checked.values
    on = checked.dates["changed_on"]
    which = values["insurance"]
    prefixes = {"both": ("social", "employment"), "social": ("social",), "employment": ("employment",)}[which]
    suffix = "acquired_on" if values["change"] == "join" else "lost_on"
    if values["change"] == "join":
        _refuse_while_insured(employee, prefixes)
    changes: dict[str, Any] = {f"{prefix}_insurance_{suffix}": on for prefix in prefixes}
    if values["change"] == "join":  # joining again: the earlier loss no longer holds
        changes.update({f"{prefix}_insurance_lost_on": None for prefix in prefixes})
    await apply_changes(session, acting, employee, changes, "従業員情報の修正（保険変更連絡）")
    what = "取得日" if values["change"] == "join" else "喪失日"
    return employee, f"{INSURANCES[which]}の資格{what} {format_date(on)} を登録しました。"


def _refuse_while_insured(employee: Person, prefixes: Sequence[str]) -> None:
    """加入する while the employee is insured (acquired, not lost) would overwrite the acquisition date: refused."""
    labels = {"social": "社会保険", "employment": "雇用保険"}
    for prefix in prefixes:
        acquired = getattr(employee, f"{prefix}_insurance_acquired_on")
        if acquired is not None and getattr(employee, f"{prefix}_insurance_lost_on") is None:
            since = format_date(acquired)
            raise FormInvalid(
                {
                    "insurance": f"{employee.name}さんは{labels[prefix]}の資格取得日 {since} が登録済みで、喪失日が"
                    "ありません。取得日を直す場合は従業員情報から修正してください。"
                }
            )


async def _apply_number(
    session: AsyncSession, vault: Vault, acting: Principal, checked: CheckedNotice, number: str, _: bool
) -> tuple[Person, str]:
    employee = await _employee(session, acting, checked)
    person = employee
    if checked.values.get("dependant_name"):
        found = await _dependant_named(session, employee, checked.values["dependant_name"])
        if found is None:
            raise FormInvalid({"dependant_name": _not_a_dependant(employee, checked.values["dependant_name"])})
        person = found
    if not number:
        raise FormInvalid({"number": "新しいマイナンバーを入力してください。"})
    registration = await proxy_register(session, vault, acting, person, number)
    return person, f"{person.name}さんのマイナンバーを更新しました（{registration.masked}）。"


_APPLIERS: Final[dict[NoticeKind, Applier]] = {
    NoticeKind.HIRE: _apply_hire,
    NoticeKind.LEAVE: _apply_leave,
    NoticeKind.ADDRESS_NAME: _apply_address_name,
    NoticeKind.DEPENDANT: _apply_dependant,
    NoticeKind.INSURANCE: _apply_insurance,
    NoticeKind.NUMBER: _apply_number,
}


async def _keep_attachments(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    settings: Settings,
    acting: Principal,
    row: NoticeRow,
    person: Person,
) -> tuple[int, list[str]]:
    """Move the notice's attachments into the box of the person (a dependant's go to their employee's box); returns
    how many were kept and the names (with why) of those that were not."""
    owner = person
    if person.kind is PersonKind.DEPENDANT and person.employee_id is not None:
        owner = await _person(session, person.tenant_id, person.employee_id) or person
    not_kept: list[str] = []
    kept = 0
    for file in await notice_attachments(session, row):
        try:
            data = await _open(session, vault, store, file)
            async with session.begin_nested():
                await keep_in_person_box(
                    session, vault, store, settings, acting, person_id=owner.id, file_name=file.file_name, data=data,
                    note=f"{row.notice.kind.label}連絡の添付ファイル",
                )  # fmt: skip
            kept += 1
        except (PersonBoxFull, QuotaExceeded, FileRefused, FileGone) as exc:
            not_kept.append(f"「{file.file_name}」（{exc.message}）")
    return kept, not_kept


# Retention (partners.retention) ----------------------------------------------------------------------------------

RETENTION_ACTOR: Final = Actor.system("retention")


async def remove_expired_notices(
    session: AsyncSession, vault: Vault, now: dt.datetime, limit: int
) -> dict[uuid.UUID | None, int]:
    """Delete up to ``limit`` notices sent more than ``NOTICE_KEEP_DAYS`` ago, across tenants (one range of
    ``ix_partner_notices_created_at``), each with a 連絡削除 entry by the system in its client's log; the keys their
    numbers were sealed under are destroyed (the key store loses them when the session commits). Their attachments
    follow the exchanged files' own rule."""
    cutoff = now - dt.timedelta(days=NOTICE_KEEP_DAYS)
    statement = (
        select(PartnerNotice).where(PartnerNotice.created_at < cutoff).order_by(PartnerNotice.created_at).limit(limit)
    )
    notices = list((await session.execute(statement)).scalars())
    removed: dict[uuid.UUID | None, int] = {}
    for notice in notices:
        await _log(session, RETENTION_ACTOR, AuditAction.NOTICE_DELETE, notice, None, {"by": "retention"})
        removed[notice.tenant_id] = removed.get(notice.tenant_id, 0) + 1
    by_client: dict[uuid.UUID, list[uuid.UUID]] = {}
    for notice in notices:
        by_client.setdefault(notice.tenant_id, []).append(notice.id)
    for client_id, ids in by_client.items():
        await vault.destroy_document_keys(session, client_id, ids)
        await session.execute(
            delete(PartnerNotice)
            .where(PartnerNotice.tenant_id == client_id, PartnerNotice.id.in_(ids))
            .execution_options(synchronize_session=False)
        )
    return removed


# Logging ---------------------------------------------------------------------------------------------------------


async def _person(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID | None) -> Person | None:
    if person_id is None:
        return None
    statement = select(Person).where(Person.tenant_id == tenant_id, Person.id == person_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def _log(
    session: AsyncSession,
    actor: Actor,
    action: AuditAction,
    notice: PartnerNotice,
    person: Person | None,
    extra: dict[str, Any],
) -> None:
    """One entry in the CLIENT's log about the notice (its person as the subject when known; never the number)."""
    if person is not None:
        subject = (await context_of(session, person)).subject
    else:
        subject = Subject(person_id=None, name=f"連絡: {notice.subject_name}"[:250])
    detail = {
        "notice_id": str(notice.id),
        "kind": notice.kind.label,
        "status": notice.status.label,
        "office_id": str(notice.partner_id),
        "has_number": notice.number_sealed is not None,
        **extra,
    }
    event = AuditEvent(
        tenant_id=notice.tenant_id, action=action, actor=actor, function=FUNCTION, subject=subject, detail=detail
    )
    await record(session, event)
