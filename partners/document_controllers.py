"""Published documents' pages (定型文書, issue 15): the office's /partner/documents and the client's /admin/documents.

The service (``partners.services._documents``) decides who sees what; downloads are attachments, never cached.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role
from app.auth.principal import Principal, company_staff, partner_admin_only, partner_members
from app.blobs import BlobStore, app_blob_store
from app.config import Settings
from app.forms import FormInvalid, scrubbed
from app.http import file_download
from app.vault import Vault
from partners import services
from partners.models import PartnerDocument

OFFICE_PATH = "/partner/documents"
CLIENT_PATH = "/admin/documents"
# The largest form the publish page accepts: one file of the default 20 MB and the form's own fields.
MAX_BODY_BYTES = 21 * 1024 * 1024


def _blob_store(state: State, settings: Settings) -> BlobStore:
    return app_blob_store(state, settings)


async def _form(request: Request[Any, Any, Any]) -> services.DocumentForm:
    """The publish / change form (multipart): its fields and the one file (None when none was chosen)."""
    form = await request.form()
    upload = form.get("file")
    file: tuple[str, bytes] | None = None
    if isinstance(upload, UploadFile):
        data = await upload.read()
        if upload.filename or data:
            file = (upload.filename or "", data)
    return services.DocumentForm(
        title=str(form.get("title") or ""),
        description=str(form.get("description") or ""),
        audience=str(form.get("audience") or ""),
        client_ids=[str(value) for value in form.getall("client_ids", [])],
        client_codes=str(form.get("client_codes") or ""),
        file=file,
    )


def _max_mb(settings: Settings) -> int:
    return settings.partner_document_max_bytes // (1024 * 1024)


async def _list_page(
    db_session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    form: services.DocumentForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    rows = await services.office_documents(db_session, principal)
    form = form or services.DocumentForm()
    clients = await services.audience_clients(db_session, principal)
    return Template(
        template_name="partners/documents.html",
        context={
            "rows": rows,
            "clients": clients,
            "form": form,
            "chosen": {str(value) for value in form.client_ids},
            "errors": errors or {},
            "audiences": services.AUDIENCE_CHOICES,
            "max_documents": services.MAX_DOCUMENTS,
            "max_mb": _max_mb(settings),
            "title_max": services.TITLE_MAX,
            "description_max": services.DESCRIPTION_MAX,
            "may_publish": principal.role is Role.PARTNER_ADMIN,
        },
        status_code=status_code,
    )


async def _edit_page(
    db_session: AsyncSession,
    principal: Principal,
    settings: Settings,
    document: PartnerDocument,
    *,
    form: services.DocumentForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    if form is None:
        chosen = await services.chosen_clients(db_session, document)
        clients = await services.audience_clients(db_session, principal, chosen)
        # Chosen clients beyond the checkboxes come back as codes in the codes box.
        form = services.DocumentForm(
            title=document.title,
            description=document.description,
            audience=document.audience.value,
            client_ids=[str(client.id) for client in clients.shown if client.id in chosen],
            client_codes="\n".join(clients.other_codes),
        )
    else:
        clients = await services.audience_clients(db_session, principal)
    return Template(
        template_name="partners/document_edit.html",
        context={
            "document": document,
            "clients": clients,
            "form": form,
            "chosen": {str(value) for value in form.client_ids},
            "errors": errors or {},
            "audiences": services.AUDIENCE_CHOICES,
            "max_mb": _max_mb(settings),
            "title_max": services.TITLE_MAX,
            "description_max": services.DESCRIPTION_MAX,
        },
        status_code=status_code,
    )


class OfficeDocumentsController(Controller):
    """/partner/documents: the office's 定型文書 (admins publish and change them; staff read the list)."""

    path = OFFICE_PATH
    guards = [partner_members]
    include_in_schema = False

    @get("/", name="partner_documents")
    async def document_list(self, db_session: AsyncSession, principal: Principal, settings: Settings) -> Template:
        return await _list_page(db_session, principal, settings)

    @post("/", name="partner_document_publish", guards=[partner_admin_only], request_max_body_size=MAX_BODY_BYTES)
    async def publish(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
    ) -> Template | Redirect:
        form = await _form(request)
        store = _blob_store(state, settings)
        try:
            document = await services.publish_document(db_session, vault, store, settings, principal, form)
        except FormInvalid as exc:
            await db_session.rollback()  # the put blob goes with the rollback
            return await _list_page(
                db_session, principal, settings, form=scrubbed(form), errors=exc.errors, status_code=400
            )
        flash(request, f"「{document.title}」を公開しました。", "success")
        return Redirect(path=OFFICE_PATH)

    @get("/{document_id:str}", name="partner_document", guards=[partner_admin_only])
    async def edit(
        self, db_session: AsyncSession, principal: Principal, settings: Settings, document_id: str
    ) -> Template:
        document = await services.get_office_document(db_session, principal, document_id)
        return await _edit_page(db_session, principal, settings, document)

    @post(
        "/{document_id:str}",
        name="partner_document_update",
        guards=[partner_admin_only],
        request_max_body_size=MAX_BODY_BYTES,
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
        document_id: str,
    ) -> Template | Redirect:
        document = await services.get_office_document(db_session, principal, document_id)
        form = await _form(request)
        store = _blob_store(state, settings)
        try:
            document = await services.update_document(db_session, vault, store, settings, principal, document, form)
        except FormInvalid as exc:
            await db_session.rollback()
            document = await services.get_office_document(db_session, principal, document_id)
            return await _edit_page(
                db_session, principal, settings, document, form=scrubbed(form), errors=exc.errors, status_code=400
            )
        flash(request, f"「{document.title}」を更新しました。", "success")
        return Redirect(path=OFFICE_PATH)

    @get("/{document_id:str}/download", name="partner_document_download")
    async def download(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
        document_id: str,
    ) -> Response[bytes] | Redirect:
        store = _blob_store(state, settings)
        try:
            document, data = await services.download_office_document(db_session, vault, store, principal, document_id)
        except services.DocumentGone as exc:
            flash(request, exc.message, "error")
            return Redirect(path=OFFICE_PATH)
        return file_download(data, document.file_name, document.content_type)

    @post("/{document_id:str}/delete", name="partner_document_delete", guards=[partner_admin_only])
    async def delete(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        settings: Settings,
        principal: Principal,
        document_id: str,
    ) -> Redirect:
        document = await services.get_office_document(db_session, principal, document_id)
        title = document.title
        await services.delete_document(db_session, _blob_store(state, settings), principal, document)
        flash(request, f"「{title}」を削除しました。顧問先からも見えなくなりました。", "success")
        return Redirect(path=OFFICE_PATH)


class ClientDocumentsController(Controller):
    """/admin/documents: the documents the client's offices publish to it (admins, handlers, viewers)."""

    path = CLIENT_PATH
    guards = [company_staff]
    include_in_schema = False

    @get("/", name="client_documents")
    async def document_list(self, db_session: AsyncSession, principal: Principal) -> Template:
        rows = await services.client_documents(db_session, principal)
        return Template(template_name="partners/client_documents.html", context={"rows": rows})

    @get("/{document_id:str}/download", name="client_document_download")
    async def download(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
        document_id: str,
    ) -> Response[bytes] | Redirect:
        store = _blob_store(state, settings)
        try:
            document, data = await services.download_client_document(db_session, vault, store, principal, document_id)
        except services.DocumentGone as exc:
            flash(request, exc.message, "error")
            return Redirect(path=CLIENT_PATH)
        return file_download(data, document.file_name, document.content_type)


DOCUMENT_ROUTES: list[Any] = [OfficeDocumentsController, ClientDocumentsController]
