"""Contracts and trials (issue 13, seed 003): the read-only rule, id capacity, and every change of contract terms.

Rules kept here, in one place every path calls:

- ``tenant_mode``: a trial past its end day and an ended contract (not yet erased) make the tenant read-only.
- ``self_registration_capacity`` / ``admin_seat_allowance``: what the tenant has paid for (50 + 5 × packs
  self-registration ids; 2 admin ids, 4 with the verification option, plus extra seats); no limit in the trial.
- ``change_contract``: the one function that changes contract fields; it writes a ``ContractChange`` row per field.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.db import utcnow
from app.forms import FormInvalid
from app.tenancy import Tenant, TenantStatus
from app.text import format_date
from billing import pricing, usage
from billing.models import (
    INCLUDED_ADMIN_SEATS,
    INCLUDED_SELF_REGISTRATION_IDS,
    PACK_SIZE,
    VERIFICATION_ADMIN_SEATS,
    ContractChange,
    ContractChangeKind,
    SeatCounter,
    SeatKind,
)
from billing.pricing import price_list_for, unit_price

PACKS_PATH = "/admin/contract/packs"
SEATS_PATH = "/admin/contract/seats"
MAX_PACKS = 2000  # 10,050 ids: a typo guard, not a business limit
MAX_ADMIN_SEATS = 1000


# The read-only rule ------------------------------------------------------------------------------------------------


class ModeKind(enum.StrEnum):
    """How far a tenant may act: normally, or read-only after its trial or its contract ended."""

    NORMAL = "normal"
    TRIAL_OVER = "trial_over"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class TenantMode:
    """The tenant's mode today, with the Japanese notice shown to its users (empty when there is nothing to say).

    ``refusal``: the flash (or API ``detail``) when a change is refused; ``banner``: the line on every admin page.
    """

    kind: ModeKind
    banner: str = ""
    refusal: str = ""

    @property
    def read_only(self) -> bool:
        return self.kind is not ModeKind.NORMAL


TRIAL_OVER_MESSAGE = (
    "無料体験期間が終了しました。閲覧・出力・削除のみご利用いただけます。ご契約は運営者へお申し込みください。"
)


def trial_days_left(trial_ends_on: dt.date, today: dt.date) -> int:
    """Days of the trial left, today included (the end day is the trial's last day): 1 on the end day."""
    return (trial_ends_on - today).days + 1


def tenant_mode(
    status: TenantStatus | None,
    trial_ends_on: dt.date | None,
    contract_ends_on: dt.date | None,
    *,
    today: dt.date,
    grace_days: int,
) -> TenantMode:
    """The mode of a company on ``today`` (JST).

    - TRIAL with ``trial_ends_on`` before today → read-only (``TRIAL_OVER``) until the operator activates it;
      during the trial the banner counts the days left (issue 13: the admin sees days left).
    - ENDED, or ACTIVE with ``contract_ends_on`` before today → read-only (``ENDED``) until the whole tenant is
      erased (seed 000 Q15: ``grace_days`` to export and take deletion certificates; the erasure is the operator's).
    - otherwise NORMAL (SUSPENDED tenants never get this far: they cannot sign in).
    """
    if status is TenantStatus.TRIAL and trial_ends_on is not None:
        if today > trial_ends_on:
            return TenantMode(ModeKind.TRIAL_OVER, banner=TRIAL_OVER_MESSAGE, refusal=TRIAL_OVER_MESSAGE)
        left = trial_days_left(trial_ends_on, today)
        return TenantMode(ModeKind.NORMAL, banner=f"無料体験期間 残り{left}日（{format_date(trial_ends_on)} まで）")
    ended = status is TenantStatus.ENDED or (
        status is TenantStatus.ACTIVE and contract_ends_on is not None and today > contract_ends_on
    )
    if ended:
        message = _ended_message(contract_ends_on, grace_days)
        return TenantMode(ModeKind.ENDED, banner=message, refusal=message)
    return TenantMode(ModeKind.NORMAL)


def _ended_message(contract_ends_on: dt.date | None, grace_days: int) -> str:
    if contract_ends_on is None:
        return "契約が終了しました。データの出力と削除証明書の取得を行ってください。"
    deadline = contract_ends_on + dt.timedelta(days=grace_days)
    return (
        f"契約が終了しました（{format_date(contract_ends_on)}）。"
        f"{format_date(deadline)} までにデータの出力と削除証明書の取得を行ってください。"
    )


def mode_of(tenant: Tenant, today: dt.date, grace_days: int) -> TenantMode:
    """``tenant_mode`` of a loaded tenant (an erased tenant is gone: nobody reaches it any more)."""
    return tenant_mode(tenant.status, tenant.trial_ends_on, tenant.contract_ends_on, today=today, grace_days=grace_days)


def default_trial_end(today: dt.date, trial_days: int) -> dt.date:
    """A new tenant's last trial day: ``today`` (JST) + ``trial_days`` (settings.trial_days, seed 003: 30 days)."""
    return today + dt.timedelta(days=trial_days)


# Capacity ---------------------------------------------------------------------------------------------------------


def in_trial(tenant: Tenant) -> bool:
    """During the trial every feature is included and no id is counted against a limit (issue 13)."""
    return tenant.status is TenantStatus.TRIAL


def ids_for_packs(packs: int) -> int:
    """Self-registration ids paid for with ``packs`` 5-user packs: the included 50 + 5 × packs (seed 003)."""
    return INCLUDED_SELF_REGISTRATION_IDS + PACK_SIZE * packs


def self_registration_capacity(tenant: Tenant) -> int | None:
    """The self-registration ids the tenant may have active at once, or None (no limit) during its trial."""
    if in_trial(tenant):
        return None
    return ids_for_packs(tenant.self_registration_packs)


def included_admin_seats(verification_enabled: bool) -> int:
    """Admin-side ids in the plan: 2, and 2 more with the verification option (its reviewers; seed 003)."""
    return INCLUDED_ADMIN_SEATS + (VERIFICATION_ADMIN_SEATS if verification_enabled else 0)


def extra_admin_seats(tenant: Tenant) -> int:
    """Paid admin seats beyond the included ones (``tenant.admin_seats`` is the total)."""
    return max(0, tenant.admin_seats - included_admin_seats(tenant.verification_enabled))


class CapacityExceeded(FormInvalid):
    """Issuing would exceed the ids paid for: ``packs_needed`` more packs (or seats) would make room; ``url`` is
    the confirmation page prefilled with them."""

    def __init__(self, field: str, message: str, url: str, needed: int) -> None:
        super().__init__({field: message, "capacity_url": url})
        self.url = url
        self.needed = needed


async def self_registration_room(session: AsyncSession, tenant: Tenant) -> int | None:
    """How many more self-registration ids may be issued now (capacity − active ids), or None during the trial."""
    capacity = self_registration_capacity(tenant)
    if capacity is None:
        return None
    return capacity - await usage.active_ids(session, tenant.id, SeatKind.SELF_REGISTRATION)


async def check_self_registration_room(
    session: AsyncSession, tenant: Tenant, adding: int, *, field: str = "person_id"
) -> None:
    """Refuse (CapacityExceeded, before anything is written) when ``adding`` new self-registration ids on top of the
    active ones (``billing.usage.active_ids``) would exceed 50 + 5 × packs. No limit during the trial."""
    capacity = self_registration_capacity(tenant)
    if capacity is None or adding <= 0:
        return
    active = await usage.active_ids(session, tenant.id, SeatKind.SELF_REGISTRATION)
    if active + adding <= capacity:
        return
    needed = max(1, pricing.packs_for(active + adding) - tenant.self_registration_packs)
    raise CapacityExceeded(
        field,
        f"じぶんで登録IDが上限（{capacity}）を超えます。追加ID（5ユーザ単位）をあと{needed}パック追加してください。",
        f"{PACKS_PATH}?add={needed}",
        needed,
    )


def _capacity_error(tenant: Tenant, active: int) -> CapacityExceeded:
    capacity = ids_for_packs(tenant.self_registration_packs)
    needed = max(1, pricing.packs_for(active) - tenant.self_registration_packs)
    return CapacityExceeded(
        "person_id",
        f"じぶんで登録IDが上限（{capacity}）を超えます。追加ID（5ユーザ単位）をあと{needed}パック追加してください。",
        f"{PACKS_PATH}?add={needed}",
        needed,
    )


def check_capacity_after_flush(session: Session, issued: set[tuple[Any, SeatKind]]) -> None:
    """The race-safe half of the capacity rule: after a flush wrote new or re-enabled accounts (and the usage hook
    raised ``seat_counters.active`` atomically in the same transaction), re-read the counter of each tenant whose
    self-registration ids grew and raise ``CapacityExceeded`` when it is above 50 + 5 × packs (not in the trial).

    Raised inside the flush, it rolls the whole transaction back: nothing of the batch stays, and the caller must
    ``rollback()`` the session before using it again. Two batches issued at once cannot both pass: on PostgreSQL the
    second one's counter UPDATE waits for the first to commit and then reads the sum; on SQLite writers are serial.
    The check before writing (``check_self_registration_room``) still gives the usual message in the common case.
    """
    for tenant_id, kind in sorted(issued, key=lambda item: (str(item[0]), item[1].value)):
        if kind is not SeatKind.SELF_REGISTRATION:
            continue
        tenant = session.get(Tenant, tenant_id)
        if tenant is None or in_trial(tenant):
            continue
        counter = select(SeatCounter.active).where(SeatCounter.tenant_id == tenant_id, SeatCounter.kind == kind)
        active = int(session.execute(counter).scalar_one_or_none() or 0)
        if active > ids_for_packs(tenant.self_registration_packs):
            raise _capacity_error(tenant, active)


@event.listens_for(Session, "after_flush")
def _capacity_after_flush(session: Session, _context: Any) -> None:
    issued = usage.issued_in_flush(session)
    if issued:
        with session.no_autoflush:
            check_capacity_after_flush(session, issued)


async def confirm_admin_seats(session: AsyncSession, tenant: Tenant) -> None:
    """After a staff account was added or re-enabled: flush, re-read the admin-side counter (raised atomically by
    ``billing.usage``'s flush hook in this transaction) and refuse (FormInvalid, ``seats_message``) when it is above
    ``tenant.admin_seats``: two staff accounts added at once cannot both pass. The caller must roll back (the
    account is written by then)."""
    await session.flush()
    counter = select(SeatCounter.active).where(SeatCounter.tenant_id == tenant.id, SeatCounter.kind == SeatKind.ADMIN)
    active = int((await session.execute(counter)).scalar_one_or_none() or 0)
    if active > tenant.admin_seats:
        raise FormInvalid({"login_id": seats_message(tenant.admin_seats), "capacity_url": f"{SEATS_PATH}?add=1"})


def seats_message(allowed: int) -> str:
    """The refusal when a staff account would exceed the paid admin ids (tenants' staff rules use it)."""
    return f"管理者IDの上限（{allowed}件）に達しています。不要なアカウントを無効にするか、管理者IDを追加してください。"


# Contract changes ---------------------------------------------------------------------------------------------------

CONTRACT_FIELDS: dict[str, ContractChangeKind] = {
    "status": ContractChangeKind.STATUS,
    "is_member": ContractChangeKind.MEMBER,
    "verification_enabled": ContractChangeKind.VERIFICATION,
    "self_registration_packs": ContractChangeKind.PACKS,
    "admin_seats": ContractChangeKind.ADMIN_SEATS,
    "contract_starts_on": ContractChangeKind.CONTRACT_START,
    "contract_ends_on": ContractChangeKind.CONTRACT_END,
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "あり" if value else "なし"
    if isinstance(value, TenantStatus):
        return value.label
    if isinstance(value, dt.date):
        return format_date(value)
    return str(value)[:40]


CONTRACT_CONFLICT_MESSAGE = "ほかの変更と重なりました。画面を開き直してもう一度お試しください。"


class ContractConflict(FormInvalid):
    """Another change of the same contract fields committed since ``tenant`` was read (nothing was written)."""

    def __init__(self) -> None:
        super().__init__({"contract": CONTRACT_CONFLICT_MESSAGE})


async def change_contract(
    session: AsyncSession, tenant: Tenant, values: Mapping[str, Any], *, changed_by: str
) -> list[ContractChange]:
    """Set the contract fields in ``values`` (keys of ``CONTRACT_FIELDS``; other keys are ignored) on ``tenant`` and
    write one ``ContractChange`` (old → new, who, when) per field that really changed, in the caller's transaction.

    Every path that changes a contract field calls this (the operator's tenant form and contract form, the
    verification switch, the admin's pack and seat pages). Returns the rows written (empty: nothing changed).

    Race-safe: one conditional ``UPDATE tenants … WHERE id = … AND <each changed field> = <the value read>``; when
    another transaction changed one of them in between (no row matched; on PostgreSQL the UPDATE waits for it to
    commit, then re-checks), ``ContractConflict`` (a FormInvalid, Japanese message) and nothing is written, so no
    ``ContractChange`` records a stale 変更前.
    """
    changed = {
        field: values[field] for field in CONTRACT_FIELDS if field in values and getattr(tenant, field) != values[field]
    }
    if not changed:
        return []
    old_values = {field: getattr(tenant, field) for field in changed}
    conditions = [
        getattr(Tenant, field).is_(None) if old is None else getattr(Tenant, field) == old
        for field, old in old_values.items()
    ]
    statement = (
        update(Tenant)
        .where(Tenant.id == tenant.id, *conditions)
        .values(**changed)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    if getattr(result, "rowcount", 0) != 1:
        raise ContractConflict
    now = utcnow()
    rows = []
    for field, new in changed.items():
        set_committed_value(tenant, field, new)  # already in the database: no second UPDATE at flush
        row = ContractChange(
            tenant_id=tenant.id,
            changed_at=now,
            kind=CONTRACT_FIELDS[field],
            old_value=_text(old_values[field]),
            new_value=_text(new),
            changed_by=changed_by[:100],
        )
        session.add(row)
        rows.append(row)
    await session.flush()
    return rows


async def recent_changes(session: AsyncSession, tenant_id: Any, limit: int = 20) -> list[ContractChange]:
    """The tenant's latest contract changes, newest first (one index range)."""
    statement = (
        select(ContractChange)
        .where(ContractChange.tenant_id == tenant_id)
        .order_by(ContractChange.changed_at.desc())
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


# Prices of a change ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quote:
    """A new quantity's monthly price (tax-exclusive yen) at the unit price in force (member or not)."""

    quantity: int
    unit_price: int

    @property
    def monthly(self) -> int:
        return self.quantity * self.unit_price


async def pack_quote(session: AsyncSession, tenant: Tenant, packs: int, today: dt.date) -> Quote:
    """The monthly price of ``packs`` 5-user packs this month (price list in force; member price for members)."""
    return Quote(packs, await _unit_price(session, "pack_monthly", tenant.is_member, today))


async def seat_quote(session: AsyncSession, tenant: Tenant, extra_seats: int, today: dt.date) -> Quote:
    """The monthly price of ``extra_seats`` admin seats beyond the included ones this month."""
    return Quote(extra_seats, await _unit_price(session, "admin_seat_monthly", tenant.is_member, today))


async def _unit_price(session: AsyncSession, item: str, member: bool, today: dt.date) -> int:
    """A unit price (yen) from the list in force; seed 003's defaults when the operator has no list yet."""
    return unit_price(await price_list_for(session, today), item, member)


async def check_pack_change(session: AsyncSession, tenant: Tenant, packs: int) -> None:
    """Refuse (FormInvalid) a new pack count below what the active self-registration ids need, or out of range."""
    if packs < 0:
        raise FormInvalid({"packs": "パック数は0より少なくできません。0以上のパック数を指定してください。"})
    if packs > MAX_PACKS:
        raise FormInvalid({"packs": f"パック数は最大{MAX_PACKS:,}パックです。{MAX_PACKS:,}以下で指定してください。"})
    active = await usage.active_ids(session, tenant.id, SeatKind.SELF_REGISTRATION)
    if active > ids_for_packs(packs):
        raise FormInvalid(
            {
                "packs": f"有効なじぶんで登録IDが{active}件あるため、{ids_for_packs(packs)}件分"
                f"（{packs}パック）には減らせません。不要な従業員のIDを無効にしてから減らしてください。"
            }
        )


def seat_range_message(included: int) -> str:
    """The one refusal of an admin-seat total out of range (the admin's seat page and the operator's contract form):
    the total counts the ``included`` ids (2, 4 with the option) and may not exceed ``MAX_ADMIN_SEATS``."""
    return f"管理者ID数（含まれる{included}件を含む合計）は{included}〜{MAX_ADMIN_SEATS:,}の範囲で指定してください。"


async def check_seat_change(session: AsyncSession, tenant: Tenant, seats: int) -> None:
    """Refuse (FormInvalid) a total of admin seats below the included ones or below the active staff accounts."""
    included = included_admin_seats(tenant.verification_enabled)
    if seats < included or seats > MAX_ADMIN_SEATS:
        raise FormInvalid({"seats": seat_range_message(included)})
    active = await usage.active_ids(session, tenant.id, SeatKind.ADMIN)
    if active > seats:
        raise FormInvalid(
            {
                "seats": f"有効な管理者IDが{active}件あるため、{seats}件には減らせません。"
                "不要なアカウントを無効にしてから減らしてください。"
            }
        )


__all__ = [
    "CONTRACT_CONFLICT_MESSAGE",
    "CONTRACT_FIELDS",
    "PACKS_PATH",
    "SEATS_PATH",
    "TRIAL_OVER_MESSAGE",
    "CapacityExceeded",
    "ContractConflict",
    "ModeKind",
    "Quote",
    "TenantMode",
    "change_contract",
    "check_capacity_after_flush",
    "check_pack_change",
    "check_seat_change",
    "check_self_registration_room",
    "confirm_admin_seats",
    "default_trial_end",
    "extra_admin_seats",
    "ids_for_packs",
    "in_trial",
    "included_admin_seats",
    "mode_of",
    "pack_quote",
    "recent_changes",
    "seat_quote",
    "seat_range_message",
    "seats_message",
    "self_registration_capacity",
    "self_registration_room",
    "tenant_mode",
    "trial_days_left",
]
