"""The tenant admin's account pages: admins, handlers and viewers within the plan's seats."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.audit.log import record
from app.auth.models import Account, Role
from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal
from app.auth.scoping import get_scoped, scoped
from app.auth.services import issue_one_time_password
from app.db import utcnow
from app.forms import Checker, FormInvalid, checkbox
from app.tenancy import Tenant, TenantKind
from app.text import clean_code, insurance_number
from billing.contract import SEATS_PATH, confirm_admin_seats, seats_message
from tenants.purposes import Audience, notified_purposes, validate_selection
from tenants.schemas import StaffForm, TenantSettingsForm
from tenants.services._organisations import check_company_details

STAFF_ROLES = {
    Role.ADMIN.value: Role.ADMIN.label,
    Role.HANDLER.value: Role.HANDLER.label,
    Role.VIEWER.value: Role.VIEWER.label,
}
RESET_PASSWORD_VALIDITY = dt.timedelta(days=3)


def _require_admin(principal: Principal) -> None:
    if principal.role is not Role.ADMIN:
        raise PermissionDeniedException()


async def list_staff(session: AsyncSession, principal: Principal) -> list[Account]:
    rows = await session.execute(
        scoped(Account, principal)
        .where(Account.role.in_([Role.ADMIN, Role.HANDLER, Role.VIEWER]))
        .order_by(Account.disabled_at.is_not(None), Account.login_id)
    )
    return list(rows.scalars())


def seat_roles(tenant: Tenant) -> list[Role]:
    """The roles that take one of the organisation's management seats: a company's staff, or a partner office's."""
    if tenant.kind is TenantKind.PARTNER:
        return [Role.PARTNER_ADMIN, Role.PARTNER_STAFF]
    return [Role.ADMIN, Role.HANDLER, Role.VIEWER]


async def staff_seats(session: AsyncSession, tenant: Tenant) -> tuple[int, int]:
    """(used, allowed) management ids."""
    used = await session.execute(
        select(func.count())
        .select_from(Account)
        .where(
            Account.tenant_id == tenant.id,
            Account.role.in_(seat_roles(tenant)),
            Account.disabled_at.is_(None),
        )
    )
    return int(used.scalar_one()), tenant.admin_seats


async def new_staff_account(
    session: AsyncSession,
    hasher: PasswordHasher,
    *,
    tenant: Tenant,
    form: StaffForm,
    valid_for: dt.timedelta,
    roles: Mapping[str, str] = STAFF_ROLES,
) -> tuple[Account, str]:
    """Validate and add a management account with a one-time password (returned, shown once).

    ``roles``: the role values the form may choose (a company's staff roles; partners pass the office's roles).
    Raises FormInvalid (Japanese messages per field) on a bad field, a taken login id or no seat left.
    """
    check = Checker()
    login_id = check.code("login_id", form.login_id, "ログインID", max_length=64)
    name = check.name("name", form.name, "氏名", required=True, max_length=100)
    email = check.text("email", clean_code(form.email), "メールアドレス", max_length=254)
    if email and "@" not in email:
        check.fail("email", "メールアドレスの形式が正しくありません。")
    role = check.choice("role", form.role, "権限", dict(roles))
    check.done()
    exists = await session.execute(
        select(func.count()).select_from(Account).where(Account.tenant_id == tenant.id, Account.login_id == login_id)
    )
    if exists.scalar_one():
        raise FormInvalid({"login_id": "このログインIDは既に使われています。別のIDを入力してください。"})
    used, allowed = await staff_seats(session, tenant)
    if used >= allowed:
        raise FormInvalid({"login_id": seats_message(allowed), "capacity_url": f"{SEATS_PATH}?add=1"})
    account = Account(tenant_id=tenant.id, login_id=login_id, name=name, email=email, role=Role(role))
    password = await issue_one_time_password(account, hasher, valid_for)
    session.add(account)
    await confirm_admin_seats(session, tenant)  # race-safe: re-read after the flush (the caller rolls back)
    return account, password


async def add_staff(
    session: AsyncSession, hasher: PasswordHasher, principal: Principal, tenant: Tenant, form: StaffForm
) -> tuple[Account, str]:
    _require_admin(principal)
    account, password = await new_staff_account(
        session, hasher, tenant=tenant, form=form, valid_for=RESET_PASSWORD_VALIDITY
    )
    await _log(
        session,
        principal,
        "管理者アカウントの追加",
        {"event": "staff_added", "login_id": account.login_id, "role": account.role.value},
    )
    return account, password


async def get_staff(session: AsyncSession, principal: Principal, account_id: uuid.UUID | str) -> Account:
    account = await get_scoped(session, Account, principal, account_id)
    if not account.role.is_staff:
        raise NotFoundException()
    return account


async def disable_staff(session: AsyncSession, principal: Principal, account: Account) -> None:
    _require_admin(principal)
    if account.id == principal.account_id:
        raise FormInvalid({"account": "自分自身のアカウントは無効にできません。"})
    if account.role is Role.ADMIN and await _active_admins(session, principal) <= 1:
        raise FormInvalid({"account": "最後の管理者は無効にできません。"})
    account.disabled_at = utcnow()
    account.session_epoch += 1
    await _log(
        session, principal, "管理者アカウントの無効化", {"event": "staff_disabled", "login_id": account.login_id}
    )


async def enable_staff(session: AsyncSession, principal: Principal, tenant: Tenant, account: Account) -> None:
    _require_admin(principal)
    used, allowed = await staff_seats(session, tenant)
    if account.disabled_at is not None and used >= allowed:
        raise FormInvalid({"account": f"管理者IDの上限（{allowed}件）に達しているため有効にできません。"})
    account.disabled_at = None
    await confirm_admin_seats(session, tenant)  # race-safe: re-read after the flush (the caller rolls back)
    await _log(session, principal, "管理者アカウントの有効化", {"event": "staff_enabled", "login_id": account.login_id})


async def set_staff_confidential(session: AsyncSession, principal: Principal, account: Account, allowed: bool) -> None:
    """機密ファイルの閲覧 (seed 000: 機密保存 files only for accounts with the permission): an admin grants or takes
    it from a handler or viewer of the company (admins always may). Takes effect on the account's next request."""
    _require_admin(principal)
    if account.role is Role.ADMIN:
        raise FormInvalid({"account": "管理者は常に機密ファイルを閲覧できます（変更できません）。"})
    if account.confidential_access == allowed:
        return
    account.confidential_access = allowed
    await _log(
        session,
        principal,
        "機密ファイル閲覧権限の変更",
        {"event": "confidential_access_changed", "login_id": account.login_id, "confidential_access": allowed},
    )


async def reset_staff_password(
    session: AsyncSession, hasher: PasswordHasher, principal: Principal, account: Account
) -> str:
    """A one-time password the user must change at first sign-in; every session of the account ends."""
    _require_admin(principal)
    password = await issue_one_time_password(account, hasher, RESET_PASSWORD_VALIDITY)
    await _log(session, principal, "パスワードの再発行", {"event": "password_reset", "login_id": account.login_id})
    return password


async def _active_admins(session: AsyncSession, principal: Principal) -> int:
    rows = await session.execute(
        select(func.count())
        .select_from(Account)
        .where(Account.tenant_id == principal.tenant_id, Account.role == Role.ADMIN, Account.disabled_at.is_(None))
    )
    return int(rows.scalar_one())


async def _log(session: AsyncSession, principal: Principal, function: str, detail: dict[str, object]) -> None:
    await record(session, principal.event(AuditAction.ACCOUNT_CHANGE, function, detail))


async def update_tenant_settings(
    session: AsyncSession, principal: Principal, tenant: Tenant, form: TenantSettingsForm
) -> None:
    """The tenant's own security and notice settings (admins only, after step-up).

    利用目的: which purposes were notified to employees (with dependants) and to payees — at least one each, from
    the catalogue — and the tenant's own words added to the notice (``tenants.purposes.render_notice``).
    """
    _require_admin(principal)
    check = Checker()
    notice = form.purpose_notice.replace("\r\n", "\n").strip()
    if len(notice) > 5000:
        check.fail("purpose_notice", "利用目的の通知は5000文字以内で入力してください。")
    notified: dict[str, list[str]] = {}
    if form.purposes_shown:
        for audience, chosen in ((Audience.EMPLOYEE, form.employee_purposes), (Audience.PAYEE, form.payee_purposes)):
            picked, error = validate_selection(audience, chosen)
            if error:
                check.fail(f"{audience.value}_purpose", error)
            notified[audience.value] = picked
    office_number = _office_number(check, form)
    details = (
        check_company_details(check, form.postal_code, form.address, form.representative, form.phone)
        if form.office_shown
        else {}
    )
    check.done()
    require_totp = checkbox(form.require_totp_for_employees)
    changed = []
    if tenant.require_totp_for_employees != require_totp:
        tenant.require_totp_for_employees = require_totp
        changed.append("require_totp_for_employees")
    if (notice or form.purposes_shown) and notice != (tenant.purpose_notice or ""):
        tenant.purpose_notice = notice or None
        changed.append("purpose_notice")
    if notified:
        before = {a.value: notified_purposes(tenant, a) for a in Audience}
        if notified != before or tenant.notified_purposes is None:
            tenant.notified_purposes = notified
            changed.append("notified_purposes")
    for name, value in details.items():
        if value != getattr(tenant, name):
            setattr(tenant, name, value)
            changed.append(name)
    if office_number is not None and office_number != tenant.employment_insurance_office_number:
        tenant.employment_insurance_office_number = office_number
        changed.append("employment_insurance_office_number")
    detail: dict[str, object] = {"event": "settings_changed", "fields": changed}
    if "notified_purposes" in changed:
        detail["notified_purposes"] = notified
    await record(session, principal.event(AuditAction.SETTINGS_CHANGE, "設定", detail))


def _office_number(check: Checker, form: TenantSettingsForm) -> str | None:
    """The 雇用保険 適用事業所番号 as 11 digits ("" clears it); None when the form did not carry the field."""
    if not form.office_shown:
        return None
    try:
        return insurance_number(form.employment_insurance_office_number)
    except ValueError:
        check.fail(
            "employment_insurance_office_number",
            "雇用保険の適用事業所番号は11桁の数字で入力してください（例: 1301-123456-7）。",
        )
        return None
