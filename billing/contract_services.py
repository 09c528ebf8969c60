"""The contract pages' services (issue 13): the tenant's 契約状況, pack and seat changes, the operator's contract form.

Controllers (``billing.contract_controllers``) parse and render; the rules are in ``billing.contract``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.audit.log import record
from app.auth.principal import Principal
from app.forms import Checker, FormInvalid, checkbox
from app.tenancy import Tenant, TenantStatus
from billing import invoicing, pricing, usage
from billing.contract import (
    MAX_ADMIN_SEATS,
    MAX_PACKS,
    Quote,
    TenantMode,
    change_contract,
    check_pack_change,
    check_seat_change,
    extra_admin_seats,
    ids_for_packs,
    in_trial,
    included_admin_seats,
    mode_of,
    pack_quote,
    recent_changes,
    seat_quote,
    seat_range_message,
    trial_days_left,
)
from billing.models import ContractChange, ContractChangeKind, Invoice, SeatKind
from tenants.services import log_operator_change

CONTRACT_FUNCTION = "契約の変更"
STATUS_CHOICES = {s.value: s.label for s in TenantStatus}


@dataclass(frozen=True, slots=True)
class IdUsage:
    """Used and included ids of a kind; ``included`` None: no limit (the trial)."""

    used: int
    included: int | None

    @property
    def over(self) -> bool:
        return self.included is not None and self.used > self.included


@dataclass(frozen=True, slots=True)
class ContractOverview:
    """Everything the 契約状況 page shows (yen tax-exclusive unless named ``tax`` / ``total``; JST dates)."""

    tenant: Tenant
    mode: TenantMode
    trial: bool
    trial_days_left: int | None
    self_registration: IdUsage
    admin: IdUsage
    plan_admin_seats: int
    extra_admin_seats: int
    estimate: pricing.Bill | None
    invoices: list[Invoice]
    changes: list[ContractChange]


async def contract_overview(
    session: AsyncSession, tenant: Tenant, *, today: dt.date, grace_days: int
) -> ContractOverview:
    """The tenant's plan, options, packs, used and included ids (counters: constant cost), this month's estimate
    (``billing.pricing.bill_for_month`` up to today), its invoices and latest contract changes."""
    trial = in_trial(tenant)
    self_used = await usage.active_ids(session, tenant.id, SeatKind.SELF_REGISTRATION)
    admin_used = await usage.active_ids(session, tenant.id, SeatKind.ADMIN)
    estimate = None
    if not trial and tenant.contract_starts_on is not None and tenant.contract_starts_on <= today:
        estimate = await pricing.bill_for_month(session, tenant, today.replace(day=1), until=today)
    return ContractOverview(
        tenant=tenant,
        mode=mode_of(tenant, today, grace_days),
        trial=trial,
        trial_days_left=(
            trial_days_left(tenant.trial_ends_on, today) if trial and tenant.trial_ends_on is not None else None
        ),
        self_registration=IdUsage(self_used, None if trial else ids_for_packs(tenant.self_registration_packs)),
        admin=IdUsage(admin_used, tenant.admin_seats),
        plan_admin_seats=included_admin_seats(tenant.verification_enabled),
        extra_admin_seats=extra_admin_seats(tenant),
        estimate=estimate,
        invoices=await invoicing.tenant_invoices(session, tenant.id),
        changes=await recent_changes(session, tenant.id, limit=10),
    )


# Packs and seats (the tenant's admins) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangePreview:
    """A pack or seat change before it is applied: from → to, the new monthly price, or why it cannot be."""

    current: int
    wanted: int
    quote: Quote
    error: str = ""


def _wanted(current: int, add: str, remove: str, total: str) -> int:
    """The new count from ``?add=N``, ``?remove=N`` or ``?total=N`` (the first given; unparsable → current).

    Not clamped: a result below 0 or above the maximum is shown as the check's Japanese error, never silently
    changed into another count."""
    for text, sign in ((total, None), (add, 1), (remove, -1)):
        if text.strip():
            try:
                number = abs(int(text.strip()[:12]))
            except ValueError:
                return current
            return number if sign is None else current + sign * number
    return current


async def pack_preview(
    session: AsyncSession, tenant: Tenant, *, today: dt.date, add: str = "", remove: str = "", total: str = ""
) -> ChangePreview:
    """The confirmation of a pack change: the new pack count's monthly price, or the refusal (Japanese)."""
    current = tenant.self_registration_packs
    wanted = _wanted(current, add, remove, total)
    error = ""
    try:
        await check_pack_change(session, tenant, wanted)
    except FormInvalid as exc:
        error = exc.message
    quote = await pack_quote(session, tenant, min(max(wanted, 0), MAX_PACKS), today)
    return ChangePreview(current, wanted, quote, error)


async def seat_preview(
    session: AsyncSession, tenant: Tenant, *, today: dt.date, add: str = "", remove: str = "", total: str = ""
) -> ChangePreview:
    """The confirmation of an admin-seat change (``tenant.admin_seats`` total): the extra seats' monthly price."""
    current = tenant.admin_seats
    wanted = _wanted(current, add, remove, total)
    error = ""
    try:
        await check_seat_change(session, tenant, wanted)
    except FormInvalid as exc:
        error = exc.message
    extra = min(max(0, wanted - included_admin_seats(tenant.verification_enabled)), MAX_ADMIN_SEATS)
    return ChangePreview(current, wanted, await seat_quote(session, tenant, extra, today), error)


def _count(check: Checker, field: str, text: str, label: str, maximum: int) -> int:
    value = check.integer(field, text, label, minimum=0, maximum=maximum)
    return int(value) if value is not None else 0


def _seat_total(check: Checker, field: str, text: str, included: int) -> int:
    """An admin-seat total: digits, then ``included``..``MAX_ADMIN_SEATS`` with the one range message."""
    value = check.integer(field, text, "管理者ID数", minimum=0, maximum=10**9)
    if field not in check.errors and not included <= value <= MAX_ADMIN_SEATS:
        check.fail(field, seat_range_message(included))
    return value


async def apply_packs(session: AsyncSession, principal: Principal, tenant: Tenant, packs_text: str) -> bool:
    """An admin sets the tenant's packs (after the confirmation page): FormInvalid when the active ids need more;
    a ContractChange row and the tenant's log entry. False when nothing changed."""
    check = Checker()
    packs = _count(check, "packs", packs_text, "パック数", MAX_PACKS)
    check.done()
    await check_pack_change(session, tenant, packs)
    before = tenant.self_registration_packs
    rows = await change_contract(session, tenant, {"self_registration_packs": packs}, changed_by=principal.name)
    if rows:
        detail = {"event": "packs_changed", "from": before, "to": packs}
        await record(session, principal.event(AuditAction.SETTINGS_CHANGE, ContractChangeKind.PACKS.value, detail))
    return bool(rows)


async def apply_seats(session: AsyncSession, principal: Principal, tenant: Tenant, seats_text: str) -> bool:
    """An admin sets the tenant's admin seats (total, after the confirmation page): FormInvalid below the included
    or the active ones; a ContractChange row and the tenant's log entry. False when nothing changed."""
    check = Checker()
    seats = _seat_total(check, "seats", seats_text, included_admin_seats(tenant.verification_enabled))
    check.done()
    await check_seat_change(session, tenant, seats)
    before = tenant.admin_seats
    rows = await change_contract(session, tenant, {"admin_seats": seats}, changed_by=principal.name)
    if rows:
        detail = {"event": "admin_seats_changed", "from": before, "to": seats}
        await record(
            session, principal.event(AuditAction.SETTINGS_CHANGE, ContractChangeKind.ADMIN_SEATS.value, detail)
        )
    return bool(rows)


# The operator's contract form -------------------------------------------------------------------------------------


class ContractForm(msgspec.Struct, kw_only=True):
    """The operator's 契約 form on a tenant's page (text as typed; checked by ``validate_contract_form``)."""

    status: str = ""
    contract_starts_on: str = ""
    contract_ends_on: str = ""
    is_member: str = ""
    verification_enabled: str = ""
    packs: str = "0"
    admin_seats: str = ""


def contract_form_of(tenant: Tenant) -> ContractForm:
    """The form filled from the tenant's current terms."""
    from app.text import format_date

    return ContractForm(
        status=tenant.status.value,
        contract_starts_on=format_date(tenant.contract_starts_on),
        contract_ends_on=format_date(tenant.contract_ends_on),
        is_member="on" if tenant.is_member else "",
        verification_enabled="on" if tenant.verification_enabled else "",
        packs=str(tenant.self_registration_packs),
        admin_seats=str(tenant.admin_seats),
    )


def validate_contract_form(form: ContractForm, *, today: dt.date) -> dict[str, Any]:
    """Every field checked at once (FormInvalid with a Japanese message per field); activating without a start
    day starts the contract today (JST)."""
    check = Checker()
    status_text = check.choice("status", form.status, "契約状態", STATUS_CHOICES)
    status = TenantStatus(status_text) if status_text in STATUS_CHOICES else TenantStatus.TRIAL
    starts = check.date("contract_starts_on", form.contract_starts_on, "契約開始日")
    ends = check.date("contract_ends_on", form.contract_ends_on, "契約終了日")
    verification = checkbox(form.verification_enabled)
    packs = _count(check, "packs", form.packs, "追加ID（5ユーザ単位）のパック数", MAX_PACKS)
    seats = _seat_total(check, "admin_seats", form.admin_seats, included_admin_seats(verification))
    if starts is None and status is TenantStatus.ACTIVE:
        starts = today
    if starts is not None and ends is not None and ends < starts:
        check.fail("contract_ends_on", "契約終了日は契約開始日より後の日付を入力してください。")
    check.done()
    return {
        "status": status,
        "contract_starts_on": starts,
        "contract_ends_on": ends,
        "is_member": checkbox(form.is_member),
        "verification_enabled": verification,
        "self_registration_packs": packs,
        "admin_seats": seats,
    }


async def operator_change_contract(
    session: AsyncSession, principal: Principal, tenant: Tenant, form: ContractForm, *, today: dt.date
) -> list[ContractChange]:
    """The operator activates or changes a tenant's contract: validated, then one ContractChange per changed
    field and one entry in the operator's log. Packs below the active ids are refused (FormInvalid)."""
    values = validate_contract_form(form, today=today)
    if values["self_registration_packs"] < tenant.self_registration_packs:
        try:
            await check_pack_change(session, tenant, values["self_registration_packs"])
        except FormInvalid as exc:
            raise FormInvalid({"packs": exc.message}) from None
    rows = await change_contract(session, tenant, values, changed_by=principal.name)
    if rows:
        fields = [{"kind": r.kind.value, "from": r.old_value, "to": r.new_value} for r in rows]
        await log_operator_change(
            session, principal, tenant, CONTRACT_FUNCTION, {"event": "contract", "changes": fields}
        )
    return rows


__all__ = [
    "CONTRACT_FUNCTION",
    "ChangePreview",
    "ContractForm",
    "ContractOverview",
    "IdUsage",
    "apply_packs",
    "apply_seats",
    "contract_form_of",
    "contract_overview",
    "operator_change_contract",
    "pack_preview",
    "seat_preview",
    "validate_contract_form",
]
