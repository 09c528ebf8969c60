"""Operator console (運営者): tenant list, detail, create, edit, suspend/resume, first admin."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal, operator_only
from app.config import Settings
from app.forms import Form, FormInvalid
from app.pager import PageRequest, page_links
from app.tenancy import TenantStatus
from app.text import format_date
from app.vault import Vault
from tenants import services
from tenants.schemas import OperatorAdminForm, TenantForm


def _form_from_tenant(tenant: Any) -> TenantForm:
    return TenantForm(
        code=tenant.code,
        name=tenant.name,
        name_kana=tenant.name_kana,
        corporate_number=tenant.corporate_number or "",
        postal_code=tenant.postal_code,
        address=tenant.address,
        representative=tenant.representative,
        phone=tenant.phone,
        is_member="on" if tenant.is_member else "",
        status=tenant.status.value,
        trial_ends_on=format_date(tenant.trial_ends_on),
        contract_ends_on=format_date(tenant.contract_ends_on),
        admin_seats=str(tenant.admin_seats),
    )


class OperatorController(Controller):
    path = "/operator"
    guards = [operator_only]
    include_in_schema = False

    @get("/tenants", name="operator_tenants")
    async def tenant_list(
        self,
        db_session: AsyncSession,
        principal: Principal,
        q: str = "",
        page: str = "1",
        after: str = "",
        before: str = "",
    ) -> Template:
        query = q.strip()[:100]
        found = await services.tenant_page(db_session, principal, PageRequest.parse(page, after, before), query=query)
        kept = {"q": query} if query else {}
        return Template(
            template_name="tenants/operator/list.html",
            context={
                "tenants": found.tenants,
                "total": found.total,
                "pager": page_links(
                    found.window, found.total, lambda params: f"/operator/tenants?{urlencode({**kept, **params})}"
                ),
                "q": q,
            },
        )

    @get("/tenants/new", name="operator_tenant_new")
    async def tenant_new(self) -> Template:
        return Template(
            template_name="tenants/operator/form.html",
            context={"form": TenantForm(), "errors": {}, "creating": True, "statuses": services.STATUS_CHOICES},
        )

    @post("/tenants/new", name="operator_tenant_create")
    async def tenant_create(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
        data: Annotated[TenantForm, Form],
    ) -> Template | Redirect:
        try:
            tenant = await services.create_tenant(db_session, vault, principal, data, trial_days=settings.trial_days)
        except FormInvalid as exc:
            return Template(
                template_name="tenants/operator/form.html",
                context={"form": data, "errors": exc.errors, "creating": True, "statuses": services.STATUS_CHOICES},
                status_code=400,
            )
        flash(request, f"事業者「{tenant.name}」を登録しました。続けて最初の管理者を登録してください。", "success")
        return Redirect(path=f"/operator/tenants/{tenant.id}")

    @get("/tenants/{tenant_id:str}", name="operator_tenant_detail")
    async def tenant_detail(self, db_session: AsyncSession, principal: Principal, tenant_id: str) -> Template:
        tenant = await services.get_tenant(db_session, principal, tenant_id)
        return await _detail_page(db_session, tenant, OperatorAdminForm(), {})

    @get("/tenants/{tenant_id:str}/edit", name="operator_tenant_edit")
    async def tenant_edit(self, db_session: AsyncSession, principal: Principal, tenant_id: str) -> Template:
        tenant = await services.get_tenant(db_session, principal, tenant_id)
        return Template(
            template_name="tenants/operator/form.html",
            context={
                "form": _form_from_tenant(tenant),
                "errors": {},
                "creating": False,
                "tenant": tenant,
                "statuses": services.STATUS_CHOICES,
            },
        )

    @post("/tenants/{tenant_id:str}/edit", name="operator_tenant_update")
    async def tenant_update(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        tenant_id: str,
        data: Annotated[TenantForm, Form],
    ) -> Template | Redirect:
        tenant = await services.get_tenant(db_session, principal, tenant_id)
        try:
            await services.update_tenant(db_session, principal, tenant, data)
        except FormInvalid as exc:
            return Template(
                template_name="tenants/operator/form.html",
                context={
                    "form": data,
                    "errors": exc.errors,
                    "creating": False,
                    "tenant": tenant,
                    "statuses": services.STATUS_CHOICES,
                },
                status_code=400,
            )
        flash(request, "事業者情報を更新しました。", "success")
        return Redirect(path=f"/operator/tenants/{tenant.id}")

    @post("/tenants/{tenant_id:str}/suspend", name="operator_tenant_suspend")
    async def tenant_suspend(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, tenant_id: str
    ) -> Redirect:
        tenant = await services.get_tenant(db_session, principal, tenant_id)
        await services.set_tenant_status(db_session, principal, tenant, TenantStatus.SUSPENDED)
        flash(request, "利用を停止しました。この事業者のアカウントはログインできなくなります。", "warning")
        return Redirect(path=f"/operator/tenants/{tenant.id}")

    @post("/tenants/{tenant_id:str}/resume", name="operator_tenant_resume")
    async def tenant_resume(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, tenant_id: str
    ) -> Redirect:
        tenant = await services.get_tenant(db_session, principal, tenant_id)
        await services.set_tenant_status(db_session, principal, tenant, TenantStatus.ACTIVE)
        flash(request, "利用を再開しました。", "success")
        return Redirect(path=f"/operator/tenants/{tenant.id}")

    @post("/tenants/{tenant_id:str}/admins", name="operator_tenant_admin_create")
    async def admin_create(
        self,
        db_session: AsyncSession,
        hasher: PasswordHasher,
        principal: Principal,
        tenant_id: str,
        data: Annotated[OperatorAdminForm, Form],
    ) -> Template:
        tenant = await services.get_tenant(db_session, principal, tenant_id)
        try:
            account, password = await services.create_first_admin(db_session, hasher, principal, tenant, data)
        except FormInvalid as exc:
            return await _detail_page(db_session, tenant, data, exc.errors, status_code=400)
        return Template(
            template_name="tenants/one_time_password.html",
            context={
                "tenant": tenant,
                "account": account,
                "password": password,
                "back": f"/operator/tenants/{tenant.id}",
            },
        )


async def _detail_page(
    db_session: AsyncSession,
    tenant: Any,
    admin: OperatorAdminForm,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    from billing.contract import recent_changes
    from billing.contract_services import contract_form_of

    used, allowed = await services.staff_seats(db_session, tenant)
    active_admins, ever_admins = await services.admin_counts(db_session, tenant)
    return Template(
        template_name="tenants/operator/detail.html",
        context={
            "tenant": tenant,
            "seats_used": used,
            "seats_allowed": allowed,
            "errors": errors,
            "admin": admin,
            "active_admins": active_admins,
            "recovery": ever_admins > 0,
            "contract_form": contract_form_of(tenant),
            "contract_changes": await recent_changes(db_session, tenant.id, limit=10),
            "statuses": services.STATUS_CHOICES,
        },
        status_code=status_code,
    )
