"""契約状況 (issue 13, seed 000's 保守契約状況): the tenant admin's contract page, pack and seat changes through a
confirmation page, invoice PDFs; and the operator's 契約 form on a tenant's page.

- ``GET /admin/contract``: plan, options, packs, used / included ids, this month's estimate, period, invoices.
- ``GET /admin/contract/packs?add=N`` (or ``remove=N`` / ``total=N``): the confirmation with the new monthly price;
  ``POST /admin/contract/packs`` (``packs``: the new total, CSRF) applies it. Same for ``/admin/contract/seats``.
- ``GET /admin/contract/invoices/{invoice_id}.pdf``: one of the tenant's invoices (another tenant's id → 404).
- ``POST /operator/tenants/{tenant_id}/contract``: the operator activates or changes the contract.

Admins only (the contract is the company's business decision, like its settings; handlers and viewers get 403).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, admin_only, operator_only
from app.config import Settings
from app.forms import Form, FormInvalid
from app.http import attachment
from app.text import today_in_japan
from billing import contract_services as services
from billing import invoice_pdf, invoicing
from billing.contract import PACKS_PATH, SEATS_PATH
from tenants.services import get_tenant, own_tenant

CONTRACT_PATH = "/admin/contract"


class PacksForm(msgspec.Struct, kw_only=True):
    packs: str = ""


class SeatsForm(msgspec.Struct, kw_only=True):
    seats: str = ""


class ContractController(Controller):
    """The tenant admin's 契約状況 and its pack and seat changes."""

    path = CONTRACT_PATH
    guards = [admin_only]
    include_in_schema = False

    @get("/", name="contract_status")
    async def overview(self, db_session: AsyncSession, settings: Settings, principal: Principal) -> Template:
        tenant = await own_tenant(db_session, principal)
        overview = await services.contract_overview(
            db_session, tenant, today=today_in_japan(), grace_days=settings.contract_grace_days
        )
        return Template(template_name="billing/contract.html", context={"o": overview})

    @get("/packs", name="contract_packs")
    async def packs_confirm(
        self, db_session: AsyncSession, principal: Principal, add: str = "", remove: str = "", total: str = ""
    ) -> Template:
        tenant = await own_tenant(db_session, principal)
        preview = await services.pack_preview(
            db_session, tenant, today=today_in_japan(), add=add, remove=remove, total=total
        )
        return Template(template_name="billing/packs.html", context={"tenant": tenant, "p": preview})

    @post("/packs", name="contract_packs_apply")
    async def packs_apply(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: Annotated[PacksForm, Form],
    ) -> Redirect:
        tenant = await own_tenant(db_session, principal)
        try:
            changed = await services.apply_packs(db_session, principal, tenant, data.packs)
        except FormInvalid as exc:
            flash(request, exc.message, "error")
            return Redirect(path=f"{PACKS_PATH}?total={data.packs.strip()[:6]}")
        if changed:
            flash(request, f"追加ID（5ユーザ単位）を{tenant.self_registration_packs}パックに変更しました。", "success")
        return Redirect(path=CONTRACT_PATH)

    @get("/seats", name="contract_seats")
    async def seats_confirm(
        self, db_session: AsyncSession, principal: Principal, add: str = "", remove: str = "", total: str = ""
    ) -> Template:
        tenant = await own_tenant(db_session, principal)
        preview = await services.seat_preview(
            db_session, tenant, today=today_in_japan(), add=add, remove=remove, total=total
        )
        return Template(template_name="billing/seats.html", context={"tenant": tenant, "p": preview})

    @post("/seats", name="contract_seats_apply")
    async def seats_apply(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: Annotated[SeatsForm, Form],
    ) -> Redirect:
        tenant = await own_tenant(db_session, principal)
        try:
            changed = await services.apply_seats(db_session, principal, tenant, data.seats)
        except FormInvalid as exc:
            flash(request, exc.message, "error")
            return Redirect(path=f"{SEATS_PATH}?total={data.seats.strip()[:6]}")
        if changed:
            flash(request, f"管理者IDを合計{tenant.admin_seats}件に変更しました。", "success")
        return Redirect(path=CONTRACT_PATH)

    @get("/invoices/{filename:str}", name="contract_invoice_pdf")
    async def invoice(self, db_session: AsyncSession, principal: Principal, filename: str) -> Response[bytes]:
        """``{invoice_id}.pdf`` of the principal's own tenant; anything else is a 404."""
        from litestar.exceptions import NotFoundException

        stem, _, suffix = filename.rpartition(".")
        try:
            invoice_id = uuid.UUID(stem)
        except ValueError:
            raise NotFoundException() from None
        if suffix != "pdf":
            raise NotFoundException()
        try:
            found, lines = await invoicing.invoice_with_lines(db_session, principal.tenant_id, invoice_id)
        except LookupError:
            raise NotFoundException() from None
        document = await invoice_pdf.render_invoice(db_session, found, lines)
        return Response(
            content=document.pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": attachment(document.filename)},
        )


class OperatorContractController(Controller):
    """The operator's 契約 form on a tenant's page (``templates/tenants/operator/_contract.html``)."""

    path = "/operator/tenants"
    guards = [operator_only]
    include_in_schema = False

    @post("/{tenant_id:str}/contract", name="operator_tenant_contract")
    async def change(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        tenant_id: str,
        data: Annotated[services.ContractForm, Form],
    ) -> Redirect:
        tenant = await get_tenant(db_session, principal, tenant_id)
        try:
            rows = await services.operator_change_contract(db_session, principal, tenant, data, today=today_in_japan())
        except FormInvalid as exc:
            flash(request, "契約を変更できませんでした: " + " ".join(exc.errors.values()), "error")
            return Redirect(path=f"/operator/tenants/{tenant.id}#contract")
        if rows:
            flash(request, "契約を変更しました（" + "、".join(r.kind.value for r in rows) + "）。", "success")
        else:
            flash(request, "契約の内容に変更はありません。", "info")
        return Redirect(path=f"/operator/tenants/{tenant.id}#contract")


CONTRACT_ROUTES: list[Any] = [ContractController, OperatorContractController]
