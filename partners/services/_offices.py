"""The operator's partner offices (社労士事務所) and the office admin's staff accounts."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditEvent
from app.audit.log import record
from app.auth.models import Account, RecoveryCode, Role
from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal
from app.auth.scoping import get_scoped, scoped
from app.auth.services import issue_one_time_password
from app.db import utcnow
from app.forms import Checker, FormInvalid
from app.pager import Count, KeysetPage, PageRequest, capped_count, read_page
from app.paging import SortColumn
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.text import clean_code
from app.vault import Vault
from partners.schemas import OfficeEditForm, OfficeForm, OfficeStaffEditForm, OfficeStaffForm
from tenants.schemas import StaffForm
from tenants.services import new_staff_account, staff_seats

OFFICE_ROLES = {Role.PARTNER_ADMIN.value: Role.PARTNER_ADMIN.label, Role.PARTNER_STAFF.value: Role.PARTNER_STAFF.label}
# An office's staff ids: no plan limits them yet (billing of offices is a later issue); a bound, not a price.
OFFICE_SEATS = 1000
FIRST_PASSWORD_VALIDITY = dt.timedelta(days=14)
RESET_PASSWORD_VALIDITY = dt.timedelta(days=3)
OFFICES_PER_PAGE = 50
_NEWEST_FIRST = [
    SortColumn(Tenant.created_at, "created_at", descending=True),
    SortColumn(Tenant.id, "id", descending=True),
]
_REGISTRATION_NUMBER = re.compile(r"\d{8}")


def normalize_registration_number(value: str) -> str:
    """社労士登録番号: 8 digits as printed on the 社会保険労務士証票 (全国社会保険労務士会連合会 register).

    Input: text as typed (full-width digits, spaces and hyphens allowed). Output: the 8 ASCII digits.
    Raises FormInvalid({"registration_number": ...}) with a Japanese message otherwise.
    """
    cleaned = clean_code(value).replace("-", "")
    if not _REGISTRATION_NUMBER.fullmatch(cleaned):
        raise FormInvalid({"registration_number": "社労士登録番号は8桁の数字で入力してください（例: 13990001）。"})
    return cleaned


def _require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise PermissionDeniedException()


def _require_office_admin(principal: Principal) -> None:
    if principal.role is not Role.PARTNER_ADMIN or principal.partner is not None:
        raise PermissionDeniedException()


@dataclass(frozen=True, slots=True)
class OfficePage:
    """One page of the operator's office list, newest first, and how many match (counted up to ``COUNT_CAP``)."""

    offices: list[Tenant]
    total: Count
    window: KeysetPage


async def list_offices(
    session: AsyncSession, principal: Principal, request: PageRequest | None = None, *, query: str = ""
) -> OfficePage:
    """The operator's offices, newest first, ``OFFICES_PER_PAGE`` a page (keyset paging over one range of
    ix_tenants_kind_created_at); ``query`` narrows by a part of the name or the code (as the company list does)."""
    _require_operator(principal)
    statement = select(Tenant).where(Tenant.kind == TenantKind.PARTNER)
    if query:
        statement = statement.where(
            Tenant.name.icontains(query, autoescape=True) | Tenant.code.icontains(query, autoescape=True)
        )
    total = await capped_count(session, statement)
    window = await read_page(
        session,
        [statement],
        _NEWEST_FIRST,
        request or PageRequest(),
        per_page=OFFICES_PER_PAGE,
        total=total,
    )
    ids = [key.id for key in window.keys]
    found = {t.id: t for t in (await session.execute(select(Tenant).where(Tenant.id.in_(ids)))).scalars()}
    return OfficePage([found[i] for i in ids if i in found], total, window)


async def get_office(session: AsyncSession, principal: Principal, office_id: uuid.UUID | str) -> Tenant:
    """One office for the operator; 404 for a malformed id, a company's or a missing one."""
    _require_operator(principal)
    try:
        key = uuid.UUID(str(office_id))
    except ValueError:
        raise NotFoundException() from None
    office = await session.get(Tenant, key)
    if office is None or office.kind is not TenantKind.PARTNER:
        raise NotFoundException()
    return office


async def update_office(session: AsyncSession, principal: Principal, office: Tenant, form: OfficeEditForm) -> list[str]:
    """The operator edits an office's name, 社労士登録番号 and address (postal code, phone); returns the changed
    fields. FormInvalid (Japanese, per field) on a bad one. Logged in the operator's chain and the office's own."""
    _require_operator(principal)
    check = Checker()
    values: dict[str, object] = {
        "name": check.name("name", form.name, "事務所名", required=True, max_length=200),
        "postal_code": check.text("postal_code", clean_code(form.postal_code), "郵便番号", max_length=8),
        "address": check.text("address", form.address, "所在地", max_length=300),
        "phone": check.text("phone", clean_code(form.phone), "電話番号", max_length=20),
    }
    try:
        values["partner_registration_number"] = normalize_registration_number(form.registration_number)
    except FormInvalid as exc:
        check.fail("registration_number", exc.errors["registration_number"])
    check.done()
    changed = [key for key, value in values.items() if getattr(office, key) != value]
    for key in changed:
        setattr(office, key, values[key])
    if changed:
        await _log_office_change(
            session, principal, office, "社労士事務所の変更", {"event": "partner_updated", "fields": changed}
        )
    return changed


async def set_office_status(session: AsyncSession, principal: Principal, office: Tenant, suspended: bool) -> None:
    """停止 / 再開: a suspended office (``TenantStatus.SUSPENDED``: ``Tenant.locked_out``) cannot sign in, and its
    staff's open sessions end on their next request (the principal is loaded with the office on every request, inside
    a client too). Logged in the operator's chain and the office's own."""
    _require_operator(principal)
    status = TenantStatus.SUSPENDED if suspended else TenantStatus.ACTIVE
    if office.status is status:
        return
    office.status = status
    await session.flush()
    function = "社労士事務所の利用停止" if suspended else "社労士事務所の利用再開"
    await _log_office_change(session, principal, office, function, {"event": "partner_status", "status": status.value})


async def _log_office_change(
    session: AsyncSession, principal: Principal, office: Tenant, function: str, detail: dict[str, object]
) -> None:
    await record(
        session,
        principal.event(
            AuditAction.SETTINGS_CHANGE, function, {**detail, "tenant_id": str(office.id), "tenant_name": office.name}
        ),
    )
    await record(
        session,
        AuditEvent(
            tenant_id=office.id,
            action=AuditAction.SETTINGS_CHANGE,
            actor=principal.actor(),
            function=function,
            detail=detail,
        ),
    )


def _validate_office(form: OfficeForm) -> dict[str, object]:
    check = Checker()
    values: dict[str, object] = {
        "code": check.code("code", form.code.lower(), "事務所コード", max_length=32),
        "name": check.name("name", form.name, "事務所名", required=True, max_length=200),
        "postal_code": check.text("postal_code", clean_code(form.postal_code), "郵便番号", max_length=8),
        "address": check.text("address", form.address, "所在地", max_length=300),
        "phone": check.text("phone", clean_code(form.phone), "電話番号", max_length=20),
    }
    try:
        values["partner_registration_number"] = normalize_registration_number(form.registration_number)
    except FormInvalid as exc:
        check.fail("registration_number", exc.errors["registration_number"])
    # The first admin's fields are checked here too, so one post reports every mistake at once.
    check.code("admin_login_id", form.admin_login_id, "管理者のログインID", max_length=64)
    check.name("admin_name", form.admin_name, "管理者の氏名", required=True, max_length=100)
    check.done()
    return values


async def create_office(
    session: AsyncSession, vault: Vault, hasher: PasswordHasher, principal: Principal, form: OfficeForm
) -> tuple[Tenant, Account, str]:
    """The operator creates a 社労士事務所 (a tenant of kind partner, with its keys) and its first office admin.

    Returns (office, admin account, one-time password to show once). Raises FormInvalid (Japanese, per field) on a
    bad field or a taken code. Logged in the operator's chain and in the office's own.
    """
    _require_operator(principal)
    values = _validate_office(form)
    taken = await session.execute(select(func.count()).select_from(Tenant).where(Tenant.code == values["code"]))
    if taken.scalar_one():
        raise FormInvalid({"code": "このコードは既に使われています。別の事務所コードを入力してください。"})
    office = Tenant(kind=TenantKind.PARTNER, status=TenantStatus.ACTIVE, admin_seats=OFFICE_SEATS, **values)
    session.add(office)
    await session.flush()
    await vault.create_tenant_keys(session, office.id)
    staff = StaffForm(
        login_id=form.admin_login_id, name=form.admin_name, email=form.admin_email, role=Role.PARTNER_ADMIN.value
    )
    try:
        account, password = await new_staff_account(
            session, hasher, tenant=office, form=staff, valid_for=FIRST_PASSWORD_VALIDITY, roles=OFFICE_ROLES
        )
    except FormInvalid as exc:
        raise FormInvalid({f"admin_{key}": message for key, message in exc.errors.items()}) from None
    detail = {"event": "partner_created", "tenant_id": str(office.id), "tenant_name": office.name}
    await record(session, principal.event(AuditAction.SETTINGS_CHANGE, "社労士事務所の登録", detail))
    await record(
        session,
        AuditEvent(
            tenant_id=office.id,
            action=AuditAction.ACCOUNT_CHANGE,
            actor=principal.actor(),
            function="運営者による事務所管理者の登録",
            detail={"event": "admin_created_by_operator", "login_id": account.login_id},
        ),
    )
    return office, account, password


# Staff accounts of the office (the Cells 従業員アカウント管理 screen) --------------------------------------------


async def list_office_staff(session: AsyncSession, principal: Principal) -> list[Account]:
    """The office's accounts: active first, by login id (an office has tens of staff, not thousands)."""
    _require_office_admin(principal)
    rows = await session.execute(
        scoped(Account, principal)
        .where(Account.role.in_([Role.PARTNER_ADMIN, Role.PARTNER_STAFF]))
        .order_by(Account.disabled_at.is_not(None), Account.login_id)
        .limit(OFFICE_SEATS)
    )
    return list(rows.scalars())


async def get_office_staff(session: AsyncSession, principal: Principal, account_id: uuid.UUID | str) -> Account:
    """One account of the principal's office, or 404 (another office's or a company's id looks missing)."""
    _require_office_admin(principal)
    account = await get_scoped(session, Account, principal, account_id)
    if not account.role.is_partner:
        raise NotFoundException()
    return account


async def add_office_staff(
    session: AsyncSession, hasher: PasswordHasher, principal: Principal, form: OfficeStaffForm
) -> tuple[Account, str]:
    """Add a staff account (TOTP enrolment is required at its first sign-in, Role.requires_totp)."""
    _require_office_admin(principal)
    office = await _office(session, principal)
    account, password = await new_staff_account(
        session,
        hasher,
        tenant=office,
        form=StaffForm(login_id=form.login_id, name=form.name, email=form.email, role=form.role),
        valid_for=RESET_PASSWORD_VALIDITY,
        roles=OFFICE_ROLES,
    )
    await _log(session, principal, "職員アカウントの追加", "staff_added", account)
    return account, password


async def update_office_staff(
    session: AsyncSession, principal: Principal, account: Account, form: OfficeStaffEditForm
) -> None:
    """変更: name, mail address, role and 機密ファイルの閲覧 (seed 000: only staff with the permission open 機密 files,
    at the office and inside clients). The last active office admin keeps the admin role."""
    _require_office_admin(principal)
    check = Checker()
    name = check.name("name", form.name, "氏名", required=True, max_length=100)
    email = check.text("email", clean_code(form.email), "メールアドレス", max_length=254)
    if email and "@" not in email:
        check.fail("email", "メールアドレスの形式が正しくありません。")
    role = check.choice("role", form.role, "権限", OFFICE_ROLES)
    check.done()
    if account.role is Role.PARTNER_ADMIN and role != Role.PARTNER_ADMIN.value:
        await _keep_an_admin(session, principal, account)
    account.name, account.email = name, email
    if account.role.value != role:
        account.role = Role(role)
        account.session_epoch += 1  # a changed role signs the account out everywhere
    confidential = form.confidential_access in ("on", "1", "true")
    changed_confidential = account.confidential_access != confidential
    account.confidential_access = confidential  # read on every request: takes effect at once
    await _log(session, principal, "職員アカウントの変更", "staff_updated", account)
    if changed_confidential:
        await _log(session, principal, "機密ファイル閲覧権限の変更", "confidential_access_changed", account)


async def set_office_staff_enabled(
    session: AsyncSession, principal: Principal, account: Account, enabled: bool
) -> None:
    """有効状態: disabling ends every session of the account at once."""
    _require_office_admin(principal)
    if enabled:
        account.disabled_at = None
        await _log(session, principal, "職員アカウントの有効化", "staff_enabled", account)
        return
    await _keep_an_admin(session, principal, account)
    account.disabled_at = utcnow()
    account.session_epoch += 1
    await _log(session, principal, "職員アカウントの無効化", "staff_disabled", account)


async def reset_office_staff_password(
    session: AsyncSession, hasher: PasswordHasher, principal: Principal, account: Account
) -> str:
    _require_office_admin(principal)
    password = await issue_one_time_password(account, hasher, RESET_PASSWORD_VALIDITY)
    await _log(session, principal, "パスワードの再発行", "password_reset", account)
    return password


async def delete_office_staff(session: AsyncSession, principal: Principal, account: Account) -> None:
    """削除: the account goes (its entries in the logs keep the name it had); never oneself or the last admin."""
    _require_office_admin(principal)
    await _keep_an_admin(session, principal, account)
    await _log(session, principal, "職員アカウントの削除", "staff_deleted", account)
    await session.execute(
        delete(RecoveryCode).where(RecoveryCode.tenant_id == account.tenant_id, RecoveryCode.account_id == account.id)
    )
    await session.delete(account)
    await session.flush()


async def _keep_an_admin(session: AsyncSession, principal: Principal, account: Account) -> None:
    if account.id == principal.account_id:
        raise FormInvalid({"account": "自分自身のアカウントは無効化・削除・権限変更できません。"})
    if account.role is not Role.PARTNER_ADMIN or account.disabled_at is not None:
        return
    admins = await session.execute(
        select(func.count())
        .select_from(Account)
        .where(
            Account.tenant_id == principal.tenant_id,
            Account.role == Role.PARTNER_ADMIN,
            Account.disabled_at.is_(None),
        )
    )
    if int(admins.scalar_one()) <= 1:
        raise FormInvalid({"account": "最後の事務所管理者は無効化・削除・権限変更できません。"})


async def _office(session: AsyncSession, principal: Principal) -> Tenant:
    office = await session.get(Tenant, principal.tenant_id)
    if office is None or office.kind is not TenantKind.PARTNER:
        raise NotFoundException()
    return office


async def office_seats(session: AsyncSession, principal: Principal) -> tuple[int, int]:
    """(used, allowed) staff ids of the principal's office."""
    return await staff_seats(session, await _office(session, principal))


async def _log(session: AsyncSession, principal: Principal, function: str, event: str, account: Account) -> None:
    detail = {
        "event": event,
        "login_id": account.login_id,
        "role": account.role.value,
        "confidential_access": account.confidential_access,
    }
    await record(session, principal.event(AuditAction.ACCOUNT_CHANGE, function, detail))
