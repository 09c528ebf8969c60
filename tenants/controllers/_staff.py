"""The tenant's management pages for its own accounts and settings (管理者アカウント, 設定)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal, admin_only, stepup_guard
from app.forms import Form, FormInvalid
from app.text import format_insurance_number
from tenants import purposes, services
from tenants.controllers._deletions import retention_choices
from tenants.schemas import ConfidentialForm, StaffForm, TenantSettingsForm


class StaffController(Controller):
    path = "/admin/accounts"
    guards = [admin_only]
    include_in_schema = False

    async def _list_context(self, db_session: AsyncSession, principal: Principal) -> dict[str, Any]:
        tenant = await services.own_tenant(db_session, principal)
        used, allowed = await services.staff_seats(db_session, tenant)
        return {
            "accounts": await services.list_staff(db_session, principal),
            "seats_used": used,
            "seats_allowed": allowed,
            "roles": services.STAFF_ROLES,
        }

    @get("/", name="staff_list")
    async def staff_list(self, db_session: AsyncSession, principal: Principal) -> Template:
        context = await self._list_context(db_session, principal)
        return Template(template_name="tenants/staff/list.html", context={**context, "form": StaffForm(), "errors": {}})

    @post("/", name="staff_create")
    async def staff_create(
        self,
        db_session: AsyncSession,
        hasher: PasswordHasher,
        principal: Principal,
        data: Annotated[StaffForm, Form],
    ) -> Template:
        tenant = await services.own_tenant(db_session, principal)
        try:
            account, password = await services.add_staff(db_session, hasher, principal, tenant, data)
        except FormInvalid as exc:
            await db_session.rollback()  # a refusal after the flush leaves nothing written
            context = await self._list_context(db_session, principal)
            return Template(
                template_name="tenants/staff/list.html",
                context={**context, "form": data, "errors": exc.errors},
                status_code=400,
            )
        return Template(
            template_name="tenants/one_time_password.html",
            context={"tenant": tenant, "account": account, "password": password, "back": "/admin/accounts"},
        )

    @post("/{account_id:str}/disable", name="staff_disable")
    async def staff_disable(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, account_id: str
    ) -> Redirect:
        account = await services.get_staff(db_session, principal, account_id)
        try:
            await services.disable_staff(db_session, principal, account)
        except FormInvalid as exc:
            flash(request, exc.message, "error")
        else:
            flash(request, f"{account.name} さんのアカウントを無効にしました。", "success")
        return Redirect(path="/admin/accounts")

    @post("/{account_id:str}/enable", name="staff_enable")
    async def staff_enable(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, account_id: str
    ) -> Redirect:
        account = await services.get_staff(db_session, principal, account_id)
        tenant = await services.own_tenant(db_session, principal)
        name = account.name
        try:
            await services.enable_staff(db_session, principal, tenant, account)
        except FormInvalid as exc:
            await db_session.rollback()  # a refusal after the flush leaves nothing written
            flash(request, exc.message, "error")
        else:
            flash(request, f"{name} さんのアカウントを有効にしました。", "success")
        return Redirect(path="/admin/accounts")

    @post("/{account_id:str}/confidential", name="staff_confidential")
    async def staff_confidential(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        account_id: str,
        data: Annotated[ConfidentialForm, Form],
    ) -> Redirect:
        account = await services.get_staff(db_session, principal, account_id)
        allowed = data.allowed == "1"
        try:
            await services.set_staff_confidential(db_session, principal, account, allowed)
        except FormInvalid as exc:
            flash(request, exc.message, "error")
        else:
            what = "閲覧できるようにしました" if allowed else "閲覧できないようにしました"
            flash(request, f"{account.name} さんが機密ファイルを{what}。", "success")
        return Redirect(path="/admin/accounts")

    @post("/{account_id:str}/reset-password", name="staff_reset_password", guards=[stepup_guard])
    async def staff_reset_password(
        self, db_session: AsyncSession, hasher: PasswordHasher, principal: Principal, account_id: str
    ) -> Template:
        account = await services.get_staff(db_session, principal, account_id)
        password = await services.reset_staff_password(db_session, hasher, principal, account)
        tenant = await services.own_tenant(db_session, principal)
        return Template(
            template_name="tenants/one_time_password.html",
            context={"tenant": tenant, "account": account, "password": password, "back": "/admin/accounts"},
        )


class TenantSettingsController(Controller):
    path = "/admin/settings"
    guards = [admin_only, stepup_guard]
    include_in_schema = False

    @get("/", name="tenant_settings")
    async def settings_page(self, db_session: AsyncSession, principal: Principal) -> Template:
        tenant = await services.own_tenant(db_session, principal)
        return Template(template_name="tenants/settings.html", context=_settings_context(tenant, {}))

    @post("/", name="tenant_settings_submit")
    async def settings_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: Annotated[TenantSettingsForm, Form],
    ) -> Template | Redirect:
        tenant = await services.own_tenant(db_session, principal)
        try:
            await services.update_tenant_settings(db_session, principal, tenant, data)
        except FormInvalid as exc:
            return Template(
                template_name="tenants/settings.html",
                context=_settings_context(tenant, exc.errors, data),
                status_code=400,
            )
        flash(request, "設定を保存しました。", "success")
        return Redirect(path="/admin/settings")


@dataclass(frozen=True, slots=True)
class _PurposeGroup:
    name: str
    label: str
    choices: list[str]
    checked: set[str]


def _settings_context(tenant: Any, errors: dict[str, str], form: TenantSettingsForm | None = None) -> dict[str, Any]:
    """The settings page: the purpose checkboxes per audience and the notices as people read them."""
    groups = []
    for audience in purposes.Audience:
        name = f"{audience.value}_purpose"
        if form is not None:
            checked = set(form.employee_purposes if audience is purposes.Audience.EMPLOYEE else form.payee_purposes)
        else:
            checked = set(purposes.notified_purposes(tenant, audience))
        groups.append(_PurposeGroup(name, audience.label, purposes.catalogue_for(audience), checked))
    return {
        "tenant": tenant,
        "errors": errors,
        "purpose_groups": groups,
        "employee_notice": purposes.render_notice(tenant, purposes.Audience.EMPLOYEE),
        "payee_notice": purposes.render_notice(tenant, purposes.Audience.PAYEE),
        "retention": retention_choices(tenant),
        "company": form if form is not None and form.office_shown else tenant,
        "office_number": (
            form.employment_insurance_office_number
            if form is not None and form.office_shown
            else format_insurance_number(tenant.employment_insurance_office_number or "")
        ),
    }
