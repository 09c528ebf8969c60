"""The operator's console rules: create, edit, suspend and resume tenant companies; their first admin."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditEvent
from app.audit.guard import looks_like_number
from app.audit.log import record
from app.audit.models import AuditEntry
from app.auth.models import Account, Role
from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal
from app.db import utcnow
from app.forms import Checker, FormInvalid, checkbox
from app.pager import Count, KeysetPage, PageRequest, capped_count, read_page
from app.paging import SortColumn
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.text import clean_code, today_in_japan
from app.vault import Vault
from app.vault.numbers import InvalidNumber, normalize_corporate_number
from billing.contract import CONTRACT_FIELDS, change_contract, default_trial_end
from tenants.models import OPERATOR_ACTS, OPERATOR_ADMIN_FUNCTION, SEATS_FUNCTION
from tenants.schemas import OperatorAdminForm, StaffForm, TenantForm

STATUS_CHOICES = {s.value: s.label for s in TenantStatus}
FIRST_PASSWORD_VALIDITY = dt.timedelta(days=14)


def _require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise PermissionDeniedException()


def check_company_details(
    check: Checker, postal_code: str, address: str, representative: str, phone: str
) -> dict[str, object]:
    """郵便番号, 所在地, 代表者, 電話番号 of a company as the operator's form and the admin's settings take them
    (printed on 削除証明書, filings and the forms library); errors go to ``check`` under the field names."""
    return {
        "postal_code": check.text("postal_code", clean_code(postal_code), "郵便番号", max_length=8),
        "address": check.text("address", address, "所在地", max_length=300),
        "representative": check.name("representative", representative, "代表者", max_length=100),
        "phone": check.text("phone", clean_code(phone), "電話番号", max_length=20),
    }


def validate_tenant_form(form: TenantForm, *, creating: bool) -> dict[str, object]:
    """Every field of the tenant form, checked at once."""
    check = Checker()
    values: dict[str, object] = {}
    if creating:
        values["code"] = check.code("code", form.code.lower(), "事業者コード", max_length=32)
    values["name"] = check.name("name", form.name, "事業者名", required=True, max_length=200)
    values["name_kana"] = check.kana("name_kana", form.name_kana, label="事業者名（カナ）")
    corporate = form.corporate_number.strip()
    values["corporate_number"] = None
    if corporate:
        try:
            values["corporate_number"] = normalize_corporate_number(corporate)
        except InvalidNumber as exc:
            check.fail("corporate_number", exc.message)
    values.update(check_company_details(check, form.postal_code, form.address, form.representative, form.phone))
    values["is_member"] = checkbox(form.is_member)
    status = check.choice("status", form.status, "状態", STATUS_CHOICES)
    values["status"] = TenantStatus(status) if status in STATUS_CHOICES else TenantStatus.TRIAL
    values["trial_ends_on"] = check.date("trial_ends_on", form.trial_ends_on, "無料体験の終了日")
    values["contract_ends_on"] = check.date("contract_ends_on", form.contract_ends_on, "契約終了日")
    values["admin_seats"] = check.integer("admin_seats", form.admin_seats, "管理者ID数", minimum=1, maximum=1000)
    check.done()
    return values


TENANTS_PER_PAGE = 50
_NEWEST_FIRST = [
    SortColumn(Tenant.created_at, "created_at", descending=True),
    SortColumn(Tenant.id, "id", descending=True),
]


@dataclass(frozen=True, slots=True)
class TenantPage:
    """One page of the operator's company list, newest first, and how many match (counted up to ``COUNT_CAP``)."""

    tenants: list[Tenant]
    total: Count
    window: KeysetPage


async def tenant_page(
    session: AsyncSession, principal: Principal, request: PageRequest, *, query: str = ""
) -> TenantPage:
    """Companies newest first, ``TENANTS_PER_PAGE`` a page (one range of ``ix_tenants_kind_created_at``).

    ``query`` narrows by a part of the name or the code: a condition on the rows walked, so a page stops reading
    once it is full (the walk is over the server's companies, never over any tenant's people).
    """
    _require_operator(principal)
    statement = select(Tenant).where(Tenant.kind == TenantKind.COMPANY)
    if query:
        statement = statement.where(
            Tenant.name.icontains(query, autoescape=True) | Tenant.code.icontains(query, autoescape=True)
        )
    total = await capped_count(session, statement)
    window = await read_page(session, [statement], _NEWEST_FIRST, request, per_page=TENANTS_PER_PAGE, total=total)
    ids = [key.id for key in window.keys]
    found = {t.id: t for t in (await session.execute(select(Tenant).where(Tenant.id.in_(ids)))).scalars()}
    return TenantPage([found[i] for i in ids if i in found], total, window)


async def own_tenant(session: AsyncSession, principal: Principal) -> Tenant:
    """The principal's own organisation."""
    tenant = await session.get(Tenant, principal.tenant_id)
    if tenant is None:
        raise NotFoundException()
    return tenant


async def get_tenant(session: AsyncSession, principal: Principal, tenant_id: uuid.UUID | str) -> Tenant:
    _require_operator(principal)
    try:
        key = uuid.UUID(str(tenant_id))
    except ValueError:
        raise NotFoundException() from None
    tenant = await session.get(Tenant, key)
    if tenant is None or tenant.kind is not TenantKind.COMPANY:
        raise NotFoundException()
    return tenant


async def create_tenant(
    session: AsyncSession, vault: Vault, principal: Principal, form: TenantForm, *, trial_days: int = 30
) -> Tenant:
    """Create a company with its keys. A trial ends ``trial_days`` (settings.trial_days; seed 003: 30) after today
    (JST) unless the form gives its end day; an active contract starts today unless the form says otherwise."""
    _require_operator(principal)
    values = validate_tenant_form(form, creating=True)
    taken = await session.execute(select(func.count()).select_from(Tenant).where(Tenant.code == values["code"]))
    if taken.scalar_one():
        raise FormInvalid({"code": "この事業者コードは既に使われています。別のコードを入力してください。"})
    if values["trial_ends_on"] is None and values["status"] is TenantStatus.TRIAL:
        values["trial_ends_on"] = default_trial_end(today_in_japan(), trial_days)
    if values["status"] is TenantStatus.ACTIVE:
        values["contract_starts_on"] = today_in_japan()
    tenant = Tenant(kind=TenantKind.COMPANY, **values)
    session.add(tenant)
    await session.flush()
    await vault.create_tenant_keys(session, tenant.id)
    await _log_operator_change(
        session, principal, tenant, "事業者の登録", {"event": "tenant_created", "code": tenant.code}
    )
    return tenant


async def update_tenant(session: AsyncSession, principal: Principal, tenant: Tenant, form: TenantForm) -> Tenant:
    _require_operator(principal)
    values = validate_tenant_form(form, creating=False)
    changed = sorted(k for k, v in values.items() if getattr(tenant, k) != v)
    seats_before = tenant.admin_seats
    if values["status"] is TenantStatus.ACTIVE and tenant.contract_starts_on is None:
        values["contract_starts_on"] = today_in_japan()  # activating: the contract starts today
    await change_contract(session, tenant, values, changed_by=principal.name)
    for key, value in values.items():
        if key not in CONTRACT_FIELDS:
            setattr(tenant, key, value)
    await _log_operator_change(
        session, principal, tenant, "事業者の編集", {"event": "tenant_updated", "fields": changed}
    )
    if "admin_seats" in changed:
        seats = {"event": "admin_seats_changed", "from": seats_before, "to": tenant.admin_seats}
        await _log_operator_change(session, principal, tenant, SEATS_FUNCTION, seats)
        await record(
            session,
            AuditEvent(
                tenant_id=tenant.id,
                action=AuditAction.SETTINGS_CHANGE,
                actor=principal.actor(),
                function=SEATS_FUNCTION,
                detail=seats,
            ),
        )
    return tenant


async def set_tenant_status(
    session: AsyncSession, principal: Principal, tenant: Tenant, status: TenantStatus
) -> Tenant:
    _require_operator(principal)
    values: dict[str, object] = {"status": status}
    if status is TenantStatus.ACTIVE and tenant.contract_starts_on is None:
        values["contract_starts_on"] = today_in_japan()
    await change_contract(session, tenant, values, changed_by=principal.name)
    await _log_operator_change(
        session, principal, tenant, "事業者の状態変更", {"event": "tenant_status", "status": status.value}
    )
    return tenant


async def admin_counts(session: AsyncSession, tenant: Tenant) -> tuple[int, int]:
    """(active, ever) admin accounts of a tenant: active = not disabled now, and not a first sign-in whose one-time
    password expired unused (such an account can never sign in)."""
    now = utcnow()
    never_usable = and_(
        Account.must_change_password.is_(True),
        Account.password_expires_at.is_not(None),
        Account.password_expires_at <= now,
    )
    active = await session.execute(
        select(func.count())
        .select_from(Account)
        .where(
            Account.tenant_id == tenant.id,
            Account.role == Role.ADMIN,
            or_(Account.disabled_at.is_(None), Account.disabled_at > now),
            ~never_usable,
        )
    )
    ever = await session.execute(
        select(func.count()).select_from(Account).where(Account.tenant_id == tenant.id, Account.role == Role.ADMIN)
    )
    return int(active.scalar_one()), int(ever.scalar_one())


async def create_first_admin(
    session: AsyncSession, hasher: PasswordHasher, principal: Principal, tenant: Tenant, form: OperatorAdminForm
) -> tuple[Account, str]:
    """The operator creates a tenant's admin; the one-time password is returned to be shown once.

    Allowed only while the tenant has no active admin: at first setup, or for a recovery the tenant requested (the
    request — who asked, when, how — is typed and recorded). Written to the operator's chain and to the tenant's own
    log, whose admins see it on their home page. Otherwise FormInvalid: the operator never gets an account that could
    reveal a number.
    """
    _require_operator(principal)
    active, ever = await admin_counts(session, tenant)
    if active:
        raise FormInvalid(
            {
                "form": "この事業者には有効な管理者がいるため、運営者は管理者を登録できません。"
                "管理者の追加は事業者の管理者が「アカウント管理」から行います。"
            }
        )
    check = Checker()
    request_text = check.text("recovery_request", form.recovery_request, "復旧依頼の内容", max_length=300)
    if looks_like_number(request_text):
        check.fail("recovery_request", "12桁以上の数字は入力できません。依頼の受付番号などは区切って入力してください。")
    if ever and not request_text:
        check.fail(
            "recovery_request",
            "管理者の復旧は事業者からの依頼が必要です。依頼者・受付日・受付方法（書面など）を入力してください。",
        )
    check.done()
    reason = "recovery" if ever else "first_setup"
    from tenants.services._staff import new_staff_account

    account, password = await new_staff_account(
        session,
        hasher,
        tenant=tenant,
        form=StaffForm(login_id=form.login_id, name=form.name, email=form.email, role="admin"),
        valid_for=FIRST_PASSWORD_VALIDITY,
    )
    detail: dict[str, object] = {"event": "admin_created", "login_id": account.login_id, "reason": reason}
    if request_text:
        detail["request"] = request_text
    await _log_operator_change(session, principal, tenant, "管理者の登録", detail)
    await record(
        session,
        AuditEvent(
            tenant_id=tenant.id,
            action=AuditAction.ACCOUNT_CHANGE,
            actor=principal.actor(),
            function=OPERATOR_ADMIN_FUNCTION,
            detail={**detail, "event": "admin_created_by_operator"},
        ),
    )
    return account, password


@dataclass(frozen=True, slots=True)
class OperatorAct:
    """Something the operator did to the tenant's accounts, as its admins see it on their home page."""

    occurred_at: dt.datetime
    function: str
    operator_name: str
    login_id: str
    reason: str
    request: str


async def operator_acts(session: AsyncSession, principal: Principal, *, limit: int = 5) -> list[OperatorAct]:
    """The latest admin creations and seat changes the operator made for the principal's tenant (its own log)."""
    statement = (
        select(AuditEntry)
        .where(
            AuditEntry.tenant_id == principal.tenant_id,
            OPERATOR_ACTS,  # ix_audit_entries_operator_acts
        )
        .order_by(AuditEntry.seq.desc())
        .limit(limit)
    )
    acts = []
    for entry in (await session.execute(statement)).scalars():
        detail = entry.detail or {}
        if entry.function == OPERATOR_ADMIN_FUNCTION:
            reason = "復旧依頼による登録" if detail.get("reason") == "recovery" else "初期設定"
        else:
            reason = f"{detail.get('from', '')} → {detail.get('to', '')}"
        acts.append(
            OperatorAct(
                occurred_at=entry.occurred_at,
                function=entry.function,
                operator_name=entry.actor_name,
                login_id=str(detail.get("login_id", "")),
                reason=reason,
                request=str(detail.get("request", "")),
            )
        )
    return acts


async def _log_operator_change(
    session: AsyncSession, principal: Principal, tenant: Tenant, function: str, detail: dict[str, object]
) -> None:
    """Operator actions go into the operator's own chain (the tenant is named in the detail)."""
    detail = {**detail, "tenant_id": str(tenant.id), "tenant_name": tenant.name}
    await record(session, principal.event(AuditAction.SETTINGS_CHANGE, function, detail))


log_operator_change = _log_operator_change  # public: billing's contract form logs the same way


__all__ = [
    "OPERATOR_ADMIN_FUNCTION",
    "SEATS_FUNCTION",
    "STATUS_CHOICES",
    "TENANTS_PER_PAGE",
    "OperatorAct",
    "TenantPage",
    "admin_counts",
    "create_first_admin",
    "create_tenant",
    "get_tenant",
    "log_operator_change",
    "operator_acts",
    "set_tenant_status",
    "tenant_page",
    "update_tenant",
    "validate_tenant_form",
]
