"""削除管理: the deletion list (削除予定日, extraction filters, 予定解除) and the tenant's retention rule (issue 11).

Staff read the list; only admins change or cancel a 削除予定日 (with a reason, logged) and tick rows for
erasure (seed 000: the admin decides disposal; handlers and viewers get 403), which is posted to
``/admin/erasure/confirm`` (the erasure pages, another controller). Admins choose the retention rule on the
settings page (after step-up). Another tenant's person id is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, admin_only, company_staff, stepup_guard
from app.forms import Form, FormInvalid, scrubbed
from app.text import format_date
from app.vault import Vault
from tenants import services
from tenants.controllers._people import can_erase
from tenants.models import Person
from tenants.retention_rule import RetentionPurpose, describe_rule, tenant_purposes
from tenants.schemas import DeletionDueForm, RetentionForm

ERASURE_CONFIRM = "/admin/erasure/confirm"


class DeletionsController(Controller):
    path = "/admin/deletions"
    guards = [company_staff]
    include_in_schema = False

    @get("/", name="deletions_list")
    async def deletions_list(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, vault: Vault, principal: Principal
    ) -> Template:
        filters = services.DeletionFilters.parse(request.query_params)
        page = await services.list_deletions(db_session, vault, principal, filters)
        tenant = await services.own_tenant(db_session, principal)
        return Template(
            template_name="tenants/deletions/list.html",
            context={
                "page": page,
                "filters": page.filters,
                "extractions": services.EXTRACTIONS,
                "can_erase": can_erase(principal),
                "erasure_action": ERASURE_CONFIRM,
                "rule": describe_rule(tenant_purposes(tenant)),
                "link": lambda **changes: "/admin/deletions" + page.filters.query(**changes),
            },
            status_code=400 if page.filters.error else 200,
        )

    @get("/{person_id:str}/due", name="deletions_due_form", guards=[admin_only])
    async def due_form(self, db_session: AsyncSession, principal: Principal, person_id: str) -> Template:
        person = await services.get_person(db_session, principal, person_id)
        return await _due_page(
            db_session, principal, person, DeletionDueForm(due_on=format_date(person.deletion_due_on)), {}
        )

    @post("/{person_id:str}/due", name="deletions_due_change", guards=[admin_only])
    async def due_change(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        person_id: str,
        data: Annotated[DeletionDueForm, Form],
    ) -> Template | Redirect:
        person = await services.get_person(db_session, principal, person_id)
        try:
            await services.change_deletion_due(db_session, principal, person, data.due_on, data.reason)
        except FormInvalid as exc:
            return await _due_page(db_session, principal, person, scrubbed(data), exc.errors, status_code=400)
        flash(
            request, f"{person.name} さんの削除予定日を {format_date(person.deletion_due_on)} にしました。", "success"
        )
        return Redirect(path="/admin/deletions")

    @post("/{person_id:str}/due/cancel", name="deletions_due_cancel", guards=[admin_only])
    async def due_cancel(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        person_id: str,
        data: Annotated[DeletionDueForm, Form],
    ) -> Template | Redirect:
        person = await services.get_person(db_session, principal, person_id)
        try:
            await services.cancel_deletion_due(db_session, principal, person, data.reason)
        except FormInvalid as exc:
            errors = {("cancel_" + key): message for key, message in exc.errors.items()}
            form = DeletionDueForm(due_on=format_date(person.deletion_due_on))
            return await _due_page(
                db_session, principal, person, form, errors, status_code=400, cancel_reason=scrubbed(data).reason
            )
        flash(request, f"{person.name} さんの削除予定を解除しました。", "success")
        return Redirect(path="/admin/deletions")


async def _due_page(
    db_session: AsyncSession,
    principal: Principal,
    person: Person,
    form: DeletionDueForm,
    errors: dict[str, str],
    *,
    status_code: int = 200,
    cancel_reason: str = "",
) -> Template:
    context = await services.context_of(db_session, person)
    return Template(
        template_name="tenants/deletions/due.html",
        context={
            "row": context,
            "person": person,
            "inherited": services.inherited_due(person),
            "form": form,
            "errors": errors,
            "cancel_reason": cancel_reason,
        },
        status_code=status_code,
    )


@dataclass(frozen=True, slots=True)
class RetentionChoice:
    value: str
    label: str
    checked: bool


def retention_choices(tenant: Any, chosen: list[str] | None = None) -> list[RetentionChoice]:
    """The settings page's checkboxes: every purpose, ticked as stored (or as just posted)."""
    ticked = set(chosen) if chosen is not None else {p.value for p in tenant_purposes(tenant)}
    return [RetentionChoice(p.value, p.label, p.value in ticked) for p in RetentionPurpose]


class RetentionSettingsController(Controller):
    """保存期間 on the settings page: admins only, after step-up (as the other settings)."""

    path = "/admin/settings/retention"
    guards = [admin_only, stepup_guard]
    include_in_schema = False

    @post("/", name="tenant_retention_submit")
    async def retention_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: Annotated[RetentionForm, Form],
    ) -> Template | Redirect:
        from tenants.controllers._staff import _settings_context

        tenant = await services.own_tenant(db_session, principal)
        try:
            changed = await services.update_retention_rule(db_session, principal, tenant, data.chosen)
        except FormInvalid as exc:
            context = _settings_context(tenant, exc.errors)
            context["retention"] = retention_choices(tenant, data.chosen)
            return Template(template_name="tenants/settings.html", context=context, status_code=400)
        flash(request, "保存期間を保存しました。" if changed else "変更はありませんでした。", "success")
        return Redirect(path="/admin/settings")
