"""The operator's billing settings (issue 13): the issuer profile printed on invoices and the price list.

- 請求情報 (``BillingProfile``, one row): the issuer's name, address, phone, bank details and the qualified-invoice
  registration number (登録番号: ``T`` + a 13-digit corporate-style number whose check digit passes, the rule of
  ``app.vault.numbers.normalize_invoice_registration_number``; full-width input is folded by ``app.text``).
- 料金表 (``PriceList``): a change is saved as the list in force from the FIRST DAY OF NEXT MONTH (JST); a list
  not yet in force is replaced, a list in force never changes, so past and current months keep their prices
  (issue 13: 「Price changes apply from the next billing month; past invoices never change」).

Every change is written to the operator's own log (``AuditAction.SETTINGS_CHANGE``) in the same transaction; the
entry names the changed fields, never their values (a registration number is a 13-digit run the log refuses).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

import msgspec
from litestar.exceptions import PermissionDeniedException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.audit.log import record
from app.auth.principal import Principal
from app.forms import Checker
from app.text import clean_code, today_in_japan
from app.vault.numbers import InvalidNumber, normalize_invoice_registration_number
from billing.models import DEFAULT_PRICES, BillingProfile, PriceList
from billing.months import month_start, next_month

PROFILE_FUNCTION: Final = "請求情報の変更"
PRICES_FUNCTION: Final = "料金表の変更"
PRICE_MAXIMUM: Final = 10_000_000  # yen, tax-exclusive
REGISTRATION_LABEL: Final = "登録番号"

# The ten prices of seed 003's list: (column, item, member?) in the order the form shows them.
PRICE_ITEMS: Final = (
    ("initial_fee", "基本プラン 初期費用"),
    ("base_monthly", "基本プラン 月額（管理者ID 2・じぶんで登録ID 50 を含む）"),
    ("pack_monthly", "じぶんで登録ID 5ユーザ追加 月額"),
    ("verification_monthly", "本人確認オプション 月額"),
    ("admin_seat_monthly", "管理者ID 1つ追加 月額"),
)
PRICE_FIELDS: Final = tuple(name for item, _ in PRICE_ITEMS for name in (item, f"{item}_member"))

_POSTAL_CODE = re.compile(r"(\d{3})-?(\d{4})")
_PHONE = re.compile(r"[0-9][0-9\-()]{5,19}")
_YEN_NOISE = re.compile(r"[,，、円¥￥\s]")


class ProfileForm(msgspec.Struct, kw_only=True):
    """The 請求情報 form as posted (every field text; checked by :func:`validate_profile`)."""

    issuer_name: str = ""
    postal_code: str = ""
    address: str = ""
    phone: str = ""
    registration_number: str = ""
    bank_details: str = ""


class PriceForm(msgspec.Struct, kw_only=True):
    """The 料金表 form as posted: the ten prices (yen, tax-exclusive), non-member and member."""

    initial_fee: str = ""
    initial_fee_member: str = ""
    base_monthly: str = ""
    base_monthly_member: str = ""
    pack_monthly: str = ""
    pack_monthly_member: str = ""
    verification_monthly: str = ""
    verification_monthly_member: str = ""
    admin_seat_monthly: str = ""
    admin_seat_monthly_member: str = ""


def _require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise PermissionDeniedException()


# 請求情報 -------------------------------------------------------------------------------------------------------------


async def billing_profile(session: AsyncSession) -> BillingProfile | None:
    """The operator's issuer profile (the one row), or None before it was first saved."""
    statement = select(BillingProfile).order_by(BillingProfile.created_at).limit(1)
    return (await session.execute(statement)).scalar_one_or_none()


def profile_form(profile: BillingProfile | None) -> ProfileForm:
    """The form filled from the saved profile (empty before the first save)."""
    if profile is None:
        return ProfileForm()
    return ProfileForm(**{name: getattr(profile, name) for name in ProfileForm.__struct_fields__})


def registration_number(text: str) -> str:
    """``T`` + 13 ASCII digits from what was typed (full-width, spaces and hyphens folded), or InvalidNumber with
    the Japanese message: empty, no leading T, not 13 digits, or a check digit that does not match (法人番号の
    検査用数字: 9 − (Σ of the 12 digits weighted 1, 2 alternately from the right) mod 9)."""
    return normalize_invoice_registration_number(text)


def validate_profile(form: ProfileForm) -> dict[str, str]:
    """Every field of the 請求情報 form checked at once: the values to store, or FormInvalid (field → Japanese)."""
    check = Checker()
    values = {
        "issuer_name": check.name("issuer_name", form.issuer_name, "請求元の名称", required=True, max_length=200),
        "address": check.text("address", form.address, "所在地", required=True, max_length=300),
        "bank_details": check.text(
            "bank_details", form.bank_details, "振込先", required=True, max_length=500, multiline=True
        ),
    }
    values["postal_code"] = _postal_code(check, form.postal_code)
    phone = clean_code(form.phone).replace("‐", "-").replace("－", "-")
    if phone and not _PHONE.fullmatch(phone):
        check.fail("phone", "電話番号は半角数字とハイフンで入力してください（例: 03-1234-5678）。")
    values["phone"] = phone
    values["registration_number"] = ""
    try:
        values["registration_number"] = registration_number(form.registration_number)
    except InvalidNumber as exc:
        check.fail("registration_number", exc.message)
    check.done()
    return values


def _postal_code(check: Checker, text: str) -> str:
    cleaned = clean_code(text).replace("〒", "").replace("－", "-").replace("‐", "-").strip()
    if not cleaned:
        return ""
    match = _POSTAL_CODE.fullmatch(cleaned)
    if match is None:
        check.fail("postal_code", "郵便番号は7桁の数字で入力してください（例: 100-0001）。")
        return cleaned[:8]
    return f"{match.group(1)}-{match.group(2)}"


async def save_profile(session: AsyncSession, principal: Principal, form: ProfileForm) -> BillingProfile:
    """Validate and store the issuer profile (created on the first save), logged in the operator's log.

    Raises PermissionDeniedException (not the operator) and FormInvalid (field → Japanese message). Invoices
    already issued keep the details they were issued with (their own copy).
    """
    _require_operator(principal)
    values = validate_profile(form)
    profile = await billing_profile(session)
    if profile is None:
        profile = BillingProfile(**values)
        session.add(profile)
        changed = sorted(values)
    else:
        changed = sorted(name for name, value in values.items() if getattr(profile, name) != value)
        for name, value in values.items():
            setattr(profile, name, value)
    await session.flush()
    detail: dict[str, object] = {"event": "billing_profile_saved", "fields": changed}
    await record(session, principal.event(AuditAction.SETTINGS_CHANGE, PROFILE_FUNCTION, detail))
    return profile


# 料金表 ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceSchedule:
    """The prices in force this month (JST) and the list saved for a later month, if any."""

    current: PriceList | None
    scheduled: PriceList | None
    this_month: dt.date
    next_month: dt.date


async def price_schedule(session: AsyncSession, today: dt.date | None = None) -> PriceSchedule:
    """The list in force in ``today``'s month (the latest effective on or before its first day) and the next
    scheduled one (the earliest effective after it). ``today``: a JST day (default: today in Japan)."""
    this_month = month_start(today or today_in_japan())
    current = (
        await session.execute(
            select(PriceList)
            .where(PriceList.effective_from <= this_month)
            .order_by(PriceList.effective_from.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    scheduled = (
        await session.execute(
            select(PriceList).where(PriceList.effective_from > this_month).order_by(PriceList.effective_from).limit(1)
        )
    ).scalar_one_or_none()
    return PriceSchedule(current, scheduled, this_month, next_month(this_month))


def price_form(prices: PriceList | None) -> PriceForm:
    """The form filled from a price list (seed 003's defaults when there is none)."""
    return PriceForm(
        **{name: str(getattr(prices, name) if prices is not None else DEFAULT_PRICES[name]) for name in PRICE_FIELDS}
    )


def price_label(name: str) -> str:
    """The Japanese label of a price column: the item and 非会員 / 会員."""
    item = name.removesuffix("_member")
    return f"{dict(PRICE_ITEMS)[item]}（{'会員' if name.endswith('_member') else '非会員'}）"


def validate_prices(form: PriceForm) -> dict[str, int]:
    """The ten prices as whole yen 0–10,000,000 (「1,000」「１０００円」 accepted); FormInvalid (field → Japanese)."""
    check = Checker()
    prices: dict[str, int] = {}
    for name in PRICE_FIELDS:
        label = price_label(name)
        text = _YEN_NOISE.sub("", clean_code(getattr(form, name)))
        if not text:
            check.fail(name, f"{label}を入力してください（無料なら 0）。")
            continue
        if not (text.isascii() and text.isdigit()):
            check.fail(name, f"{label}は円単位の整数（半角数字）で入力してください。")
            continue
        value = int(text)
        if value > PRICE_MAXIMUM:
            check.fail(name, f"{label}は0〜{PRICE_MAXIMUM:,}円の範囲で入力してください。")
            continue
        prices[name] = value
    check.done()
    return prices


async def save_prices(
    session: AsyncSession, principal: Principal, form: PriceForm, today: dt.date | None = None
) -> PriceList:
    """Validate the ten prices and save them as the list in force from the first day of next month (JST).

    A list already saved for that month (not yet in force) is replaced; lists in force are never touched.
    Logged in the operator's log (the old and new yen of each changed price). Raises PermissionDeniedException
    (not the operator) and FormInvalid (field → Japanese message).
    """
    _require_operator(principal)
    prices = validate_prices(form)
    schedule = await price_schedule(session, today)
    effective_from = schedule.next_month
    existing = (
        await session.execute(select(PriceList).where(PriceList.effective_from == effective_from))
    ).scalar_one_or_none()
    before = existing or schedule.current
    changes = {
        name: [getattr(before, name) if before is not None else None, value]
        for name, value in prices.items()
        if before is None or getattr(before, name) != value
    }
    if existing is None:
        existing = PriceList(effective_from=effective_from, changed_by=principal.name[:100], **prices)
        session.add(existing)
    else:
        for name, value in prices.items():
            setattr(existing, name, value)
        existing.changed_by = principal.name[:100]
    await session.flush()
    detail: dict[str, object] = {
        "event": "price_list_saved",
        "effective_from": effective_from.isoformat(),
        "changes": changes,
    }
    await record(session, principal.event(AuditAction.SETTINGS_CHANGE, PRICES_FUNCTION, detail))
    return existing


__all__ = [
    "PRICES_FUNCTION",
    "PRICE_FIELDS",
    "PRICE_ITEMS",
    "PRICE_MAXIMUM",
    "PROFILE_FUNCTION",
    "PriceForm",
    "PriceSchedule",
    "ProfileForm",
    "billing_profile",
    "price_form",
    "price_label",
    "price_schedule",
    "profile_form",
    "registration_number",
    "save_prices",
    "save_profile",
    "validate_prices",
    "validate_profile",
]
