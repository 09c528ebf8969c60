"""The operator's 社労士事務所 pages (/operator/partners): the paged, searchable list, creating an office with its
first admin, editing it, suspending and resuming it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import PasswordHasher
from app.auth.principal import Principal, operator_only
from app.forms import Form, FormInvalid
from app.pager import PageRequest, page_links
from app.vault import Vault
from partners import services
from partners.schemas import OfficeEditForm, OfficeForm


class OperatorPartnersController(Controller):
    """/operator/partners: the operator's offices (paged, searchable), created with their first admin, edited,
    suspended and resumed."""

    path = "/operator/partners"
    guards = [operator_only]
    include_in_schema = False

    @get("/", name="operator_partners")
    async def office_list(
        self,
        db_session: AsyncSession,
        principal: Principal,
        q: str = "",
        page: str = "1",
        after: str = "",
        before: str = "",
    ) -> Template:
        listing = _Listing(q.strip()[:100], PageRequest.parse(page, after, before))
        return await _offices_page(db_session, principal, OfficeForm(), {}, listing)

    @post("/", name="operator_partner_create")
    async def office_create(
        self,
        db_session: AsyncSession,
        vault: Vault,
        hasher: PasswordHasher,
        principal: Principal,
        data: Annotated[OfficeForm, Form],
    ) -> Template:
        try:
            office, account, password = await services.create_office(db_session, vault, hasher, principal, data)
        except FormInvalid as exc:
            return await _offices_page(db_session, principal, data, exc.errors, _Listing(), status_code=400)
        return Template(
            template_name="tenants/one_time_password.html",
            context={"tenant": office, "account": account, "password": password, "back": "/operator/partners"},
        )

    @get("/{office_id:str}", name="operator_partner_detail")
    async def office_detail(self, db_session: AsyncSession, principal: Principal, office_id: str) -> Template:
        office = await services.get_office(db_session, principal, office_id)
        form = OfficeEditForm(
            name=office.name,
            registration_number=office.partner_registration_number or "",
            postal_code=office.postal_code,
            address=office.address,
            phone=office.phone,
        )
        return _office_page(office, form, {})

    @post("/{office_id:str}", name="operator_partner_update")
    async def office_update(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        office_id: str,
        data: Annotated[OfficeEditForm, Form],
    ) -> Template | Redirect:
        office = await services.get_office(db_session, principal, office_id)
        try:
            changed = await services.update_office(db_session, principal, office, data)
        except FormInvalid as exc:
            return _office_page(office, data, exc.errors, status_code=400)
        flash(request, "事務所の情報を変更しました。" if changed else "変更はありませんでした。", "success")
        return Redirect(path=f"/operator/partners/{office.id}")

    @post("/{office_id:str}/suspend", name="operator_partner_suspend")
    async def office_suspend(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, office_id: str
    ) -> Redirect:
        office = await services.get_office(db_session, principal, office_id)
        await services.set_office_status(db_session, principal, office, suspended=True)
        flash(
            request,
            f"「{office.name}」の利用を停止しました。職員はログインできず、ログイン中の画面も終了します。",
            "success",
        )
        return Redirect(path=f"/operator/partners/{office.id}")

    @post("/{office_id:str}/resume", name="operator_partner_resume")
    async def office_resume(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, office_id: str
    ) -> Redirect:
        office = await services.get_office(db_session, principal, office_id)
        await services.set_office_status(db_session, principal, office, suspended=False)
        flash(request, f"「{office.name}」の利用を再開しました。", "success")
        return Redirect(path=f"/operator/partners/{office.id}")


@dataclass(frozen=True, slots=True)
class _Listing:
    """The office list's search and page."""

    query: str = ""
    request: PageRequest = field(default_factory=PageRequest)


async def _offices_page(
    db_session: AsyncSession,
    principal: Principal,
    form: OfficeForm,
    errors: dict[str, str],
    listing: _Listing,
    status_code: int = 200,
) -> Template:
    found = await services.list_offices(db_session, principal, listing.request, query=listing.query)
    kept = {"q": listing.query} if listing.query else {}
    return Template(
        template_name="partners/operator.html",
        context={
            "offices": found.offices,
            "total": found.total,
            "pager": page_links(
                found.window, found.total, lambda params: f"/operator/partners?{urlencode({**kept, **params})}"
            ),
            "q": listing.query,
            "form": form,
            "errors": errors,
        },
        status_code=status_code,
    )


def _office_page(office: Any, form: OfficeEditForm, errors: dict[str, str], status_code: int = 200) -> Template:
    return Template(
        template_name="partners/operator_office.html",
        context={"office": office, "form": form, "errors": errors},
        status_code=status_code,
    )
