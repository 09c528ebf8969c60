"""Operator screens of the contract-end erasure (issue 13): confirm and run it, its certificate, the list.

Only the operator reaches them (``operator_only``: every other role gets 403); an unknown or malformed tenant id,
or the operator's own organisation, is a 404. Erasing needs a fresh step-up (``/reauth`` first, as every
dangerous act) and the tenant code typed again. The operator never sees a number: these pages show counts.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.principal import Principal, operator_only
from app.blobs import BlobStore, blob_store_from_settings
from app.config import Settings
from app.http import attachment
from app.tenancy import Tenant
from app.text import today_in_japan
from app.vault import Vault
from billing.erasure_certificate import issue_erasure_certificate
from billing.models import TenantErasure
from billing.tenant_erasure import (
    TenantErasureRefused,
    check_erasable,
    erase_tenant,
    erasure_record,
    erasure_status,
    pending_erasures,
)
from tenants.services import get_tenant

BLOB_STATE_KEY = "billing_blob_store"
LIST_LIMIT = 200  # erased tenants shown, newest first (a list of tenants, not of anyone's people)


def _blob_store(state: State, settings: Settings) -> BlobStore:
    """The blob store of the images (one per application, made on first use)."""
    store: BlobStore | None = state.get(BLOB_STATE_KEY)
    if store is None:
        store = state[BLOB_STATE_KEY] = blob_store_from_settings(settings)
    return store


def _erasure_path(tenant: Tenant) -> str:
    return f"/operator/tenants/{tenant.id}/erasure"


async def _confirm_page(
    db_session: AsyncSession,
    settings: Settings,
    tenant: Tenant,
    *,
    typed: str = "",
    error: str = "",
    status_code: int = 200,
) -> Template:
    status = erasure_status(tenant, today=today_in_japan(), grace_days=settings.contract_grace_days)
    return Template(
        template_name="billing/erasure/confirm.html",
        context={
            "tenant": tenant,
            "status": status,
            "grace_days": settings.contract_grace_days,
            "record": await erasure_record(db_session, tenant.id),
            "typed": typed,
            "error": error,
        },
        status_code=status_code,
    )


class TenantErasureController(Controller):
    path = "/operator"
    guards = [operator_only]
    include_in_schema = False

    @get("/tenants/{tenant_id:str}/erasure", name="operator_tenant_erasure")
    async def confirm(
        self, db_session: AsyncSession, settings: Settings, principal: Principal, tenant_id: str
    ) -> Template:
        """Contract end, grace end, whether the erasure is possible now, and the form (or the record once done)."""
        tenant = await get_tenant(db_session, principal, tenant_id)
        return await _confirm_page(db_session, settings, tenant)

    @post("/tenants/{tenant_id:str}/erasure", name="operator_tenant_erase")
    async def erase(
        self,
        request: Request[Any, Any, State],
        db_session: AsyncSession,
        settings: Settings,
        vault: Vault,
        principal: Principal,
        tenant_id: str,
    ) -> Template | Redirect:
        """Erase the whole tenant: step-up fresh, the tenant code typed again, the grace period over."""
        tenant = await get_tenant(db_session, principal, tenant_id)
        if not principal.stepup_fresh:
            return Redirect(path="/reauth", query_params={"next": _erasure_path(tenant)})
        form = await request.form()
        typed = str(form.get("confirm_code") or "").strip()
        if tenant.erased_at is not None:
            flash(request, "この事業者のデータはすでに消去されています。", "info")
            return Redirect(path=_erasure_path(tenant))
        if typed.lower() != tenant.code:
            error = f"確認のため、事業者コード「{tenant.code}」を正しく入力してください。"
            return await _confirm_page(db_session, settings, tenant, typed=typed[:40], error=error, status_code=400)
        try:
            check_erasable(tenant, today=today_in_japan(), grace_days=settings.contract_grace_days)
        except TenantErasureRefused as exc:
            return await _confirm_page(db_session, settings, tenant, typed=typed, error=exc.message, status_code=400)
        tenant_key = tenant.id
        await db_session.rollback()  # the request's reads end here: the erasure commits in its own transactions
        sessions = async_sessionmaker(bind=db_session.bind, expire_on_commit=False)
        erasure = await erase_tenant(
            sessions,
            vault,
            _blob_store(request.app.state, settings),
            tenant_key,
            principal.actor(),
            today=today_in_japan(),
            grace_days=settings.contract_grace_days,
        )
        flash(
            request,
            f"「{erasure.tenant_name}」のデータをすべて消去しました（マイナンバー {erasure.numbers_erased:,}件）。"
            f"削除証明書番号 {erasure.certificate_number}",
            "success",
        )
        return Redirect(path=f"/operator/tenants/{tenant_key}")

    @get("/tenants/{tenant_id:str}/erasure-certificate.pdf", name="operator_tenant_erasure_certificate")
    async def certificate(self, db_session: AsyncSession, principal: Principal, tenant_id: str) -> Response[bytes]:
        """The tenant-level 削除証明書 (PDF), logged as 印刷 in the operator's chain; 404 unless erased."""
        tenant = await get_tenant(db_session, principal, tenant_id)
        erasure = await erasure_record(db_session, tenant.id)
        if erasure is None:
            raise NotFoundException()
        certificate = await issue_erasure_certificate(db_session, erasure, principal.actor())
        return Response(
            content=certificate.pdf,
            status_code=200,
            media_type="application/pdf",
            headers={"Content-Disposition": attachment(certificate.filename), "Cache-Control": "no-store"},
        )

    @get("/erasures", name="operator_erasures")
    async def erasures(self, db_session: AsyncSession, settings: Settings) -> Template:
        """Erased tenants (newest first) and those waiting for their erasure (消去待ち)."""
        statement = select(TenantErasure).order_by(TenantErasure.erased_at.desc(), TenantErasure.id).limit(LIST_LIMIT)
        erased = list((await db_session.execute(statement)).scalars())
        pending = await pending_erasures(db_session, today=today_in_japan(), grace_days=settings.contract_grace_days)
        return Template(
            template_name="billing/erasure/list.html",
            context={
                "erased": erased,
                "pending": pending,
                "limit": LIST_LIMIT,
                "grace_days": settings.contract_grace_days,
            },
        )


def template_globals(settings: Settings) -> dict[str, Any]:
    """Jinja globals for the operator's tenant pages: ``tenant_erasure(tenant)`` → ``ErasureStatus`` (today, JST;
    no query: it reads the tenant row already loaded)."""

    def tenant_erasure(tenant: Tenant) -> Any:
        return erasure_status(tenant, today=today_in_japan(), grace_days=settings.contract_grace_days)

    return {"tenant_erasure": tenant_erasure}


ERASURE_ROUTES: list[Any] = [TenantErasureController]
