"""Admin pages for payees (取引先): the list with masked numbers, add and edit."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, company_staff, number_handlers
from app.forms import Form, FormInvalid, scrubbed
from app.paging import PageRequest
from app.vault import Vault
from tenants import services
from tenants.controllers._people import can_edit, flash_saved, window_link
from tenants.models import Person
from tenants.schemas import PayeeForm


class PayeeController(Controller):
    path = "/admin/payees"
    guards = [company_staff]
    include_in_schema = False

    @get("/", name="people_payees")
    async def payee_list(
        self,
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        q: str = "",
        page: str = "1",
        after: str = "",
        before: str = "",
    ) -> Template:
        paging = PageRequest.parse(page, after, before)
        found = await services.list_payees(
            db_session, vault, principal, query=q, page=paging.page, after=paging.after, before=paging.before
        )
        return Template(
            template_name="tenants/people/payees.html",
            context={
                "payees": found,
                "q": q,
                "link": window_link("/admin/payees", {"q": q}),
                "can_edit": can_edit(principal),
            },
        )

    @get("/new", name="people_payee_new", guards=[number_handlers])
    async def payee_new(self) -> Template:
        return _payee_form_page(None, PayeeForm(payee_type="individual"), {})

    @post("/new", name="people_payee_create", guards=[number_handlers])
    async def payee_create(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: Annotated[PayeeForm, Form],
    ) -> Template | Redirect:
        try:
            person = await services.add_payee(db_session, principal, data)
        except FormInvalid as exc:
            return _payee_form_page(None, scrubbed(data), exc.errors, status_code=400)
        flash(request, f"取引先「{person.name}」を登録しました。番号の登録用リンクを発行できます。", "success")
        return Redirect(path="/admin/payees")

    @get("/{person_id:str}/edit", name="people_payee_edit", guards=[number_handlers])
    async def payee_edit(self, db_session: AsyncSession, principal: Principal, person_id: str) -> Template:
        person = await services.get_payee(db_session, principal, person_id)
        return _payee_form_page(person, services.payee_form(person), {})

    @post("/{person_id:str}/edit", name="people_payee_update", guards=[number_handlers])
    async def payee_update(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        person_id: str,
        data: Annotated[PayeeForm, Form],
    ) -> Template | Redirect:
        person = await services.get_payee(db_session, principal, person_id)
        try:
            changed = await services.update_payee(db_session, principal, person, data)
        except FormInvalid as exc:
            return _payee_form_page(person, scrubbed(data), exc.errors, status_code=400)
        flash_saved(request, person, changed)
        return Redirect(path="/admin/payees")


def _payee_form_page(
    person: Person | None, form: PayeeForm, errors: dict[str, str], status_code: int = 200
) -> Template:
    return Template(
        template_name="tenants/people/payee_form.html",
        context={
            "person": person,
            "form": form,
            "errors": errors,
            "payee_types": services.PAYEE_TYPES,
            "payment_kinds": services.PAYMENT_KINDS,
        },
        status_code=status_code,
    )
