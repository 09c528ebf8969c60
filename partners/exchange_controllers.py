"""The file exchange's pages (Cellsドライブ): the client's /admin/files and the office's /partner/files.

Both sides share the templates; the service (``partners.services._exchange``) decides who sees what. Downloads are
attachments (``filename*`` keeps Japanese names), never sniffed, never cached.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.guard import looks_like_number
from app.auth.models import Role
from app.auth.principal import Principal, number_handlers, partner_members
from app.blobs import BlobStore, app_blob_store
from app.config import Settings
from app.forms import FormInvalid
from app.http import file_download
from app.vault import Vault
from partners import services

CLIENT_PATH = "/admin/files"
OFFICE_PATH = "/partner/files"
# The largest send the form accepts: MAX_FILES files of the default 10 MB and the form's own fields.
MAX_BODY_BYTES = services.MAX_FILES * 10 * 1024 * 1024 + 1024 * 1024


def _blob_store(state: State, settings: Settings) -> BlobStore:
    return app_blob_store(state, settings)


async def _list_page(
    db_session: AsyncSession,
    principal: Principal,
    base: str,
    kind: str,
    other: str,
    after: str,
    *,
    client_code: str = "",
    errors: dict[str, str] | None = None,
) -> Template:
    """The list; on the office's side the client is chosen by its 事業者コード (an office may have any number of
    clients, so no list of them all): a code that is not one of its ACTIVE clients shows a message and no rows."""
    office_side = base == OFFICE_PATH
    filters = services.FileFilters.parse(kind, other)
    errors = dict(errors or {})
    shown_code = client_code.strip()
    if office_side and shown_code and "client_code" not in errors:
        try:
            chosen = await services.linked_client_by_code(db_session, principal, shown_code, field="client_code")
        except FormInvalid as exc:
            errors.update(exc.errors)
        else:
            filters, shown_code = replace(filters, other=chosen.id), chosen.code
    elif office_side and filters.other is not None:
        chosen_client = await services.linked_client(db_session, principal, filters.other)
        shown_code = chosen_client.code if chosen_client is not None else ""
    refused = "client_code" in errors
    page = (
        services.FilePage([], None)
        if refused
        else await services.list_files(db_session, principal, filters, after=after)
    )
    others = [] if office_side else await services.exchange_partners(db_session, principal, ever=True)
    other_key = "client_id" if office_side else "office"
    query = {"kind": filters.kind, other_key: str(filters.other or "")}
    older = f"{base}?{urlencode({**query, 'after': page.older})}" if page.older else None
    return Template(
        template_name="partners/files.html",
        context={
            "page": page,
            "filters": filters,
            "filter_choices": services.FILTERS,
            "others": others,
            "other_key": other_key,
            "client_code": shown_code,
            "errors": errors,
            "base": base,
            "older": older,
            "query": query,
            "office_side": office_side,
        },
        status_code=400 if errors else 200,
    )


def _new_page(
    base: str,
    action: str,
    others: list[Any],
    *,
    chosen: str = "",
    message: str = "",
    errors: dict[str, str] | None = None,
    client: Any = None,
    status_code: int = 200,
) -> Template:
    return Template(
        template_name="partners/file_new.html",
        context={
            "base": base,
            "action": action,
            "others": others,
            "chosen": chosen,
            "message": message,
            "errors": errors or {},
            "client": client,
            "max_files": services.MAX_FILES,
            "message_max": services.MESSAGE_MAX,
        },
        status_code=status_code,
    )


async def _uploads(request: Request[Any, Any, Any]) -> tuple[list[tuple[str, bytes]], str, str]:
    form = await request.form()
    files: list[tuple[str, bytes]] = []
    for upload in form.getall("files", []):
        if isinstance(upload, UploadFile):
            files.append((upload.filename or "", await upload.read()))
    return files, str(form.get("message") or ""), str(form.get("office_id") or "")


def _shown_back(message: str) -> str:
    """The message to put back in the refused form: never what may be a My Number."""
    return "" if looks_like_number(message) else message


async def _detail_page(db_session: AsyncSession, principal: Principal, base: str, file_id: str) -> Template:
    row = await services.get_file(db_session, principal, file_id)
    batch = await services.batch_files(db_session, principal, row)
    return Template(
        template_name="partners/file_detail.html",
        context={
            "row": row,
            "batch": batch,
            "base": base,
            "save_choices": services.SAVE_CHOICES,
            "may_box": services.may_open_confidential(principal) and principal.role is not Role.VIEWER,
        },
        headers={"Cache-Control": "no-store"},
    )


async def _download(
    db_session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    principal: Principal,
    request: Request[Any, Any, Any],
    base: str,
    file_id: str,
) -> Response[bytes] | Redirect:
    try:
        file, data = await services.download_file(db_session, vault, store, principal, file_id)
    except services.FileGone as exc:
        flash(request, exc.message, "error")
        return Redirect(path=f"{base}/{file_id}")
    return file_download(data, file.file_name, file.content_type)


async def _save(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    principal: Principal,
    base: str,
    file_id: str,
) -> Redirect:
    row = await services.get_file(db_session, principal, file_id)
    form = await request.form()
    try:
        await services.save_file(db_session, principal, row, str(form.get("save_as") or ""), settings=settings)
    except FormInvalid as exc:
        flash(request, exc.message, "error")
    else:
        label = row.file.saved_as.label if row.file.saved_as else "保存"
        flash(request, f"「{row.file.file_name}」を{label}しました。", "success")
    return Redirect(path=f"{base}/{file_id}")


async def _keep_in_box(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    settings: Settings,
    principal: Principal,
    base: str,
    file_id: str,
) -> Redirect:
    row = await services.get_file(db_session, principal, file_id)
    form = await request.form()
    try:
        kept = await services.keep_file_in_box(
            db_session, vault, store, settings, principal, row,
            employee_code=str(form.get("employee_code") or ""), note=str(form.get("note") or ""),
        )  # fmt: skip
    except FormInvalid as exc:
        await db_session.rollback()  # nothing kept: the box's document key and blob go with the rollback
        flash(request, exc.message, "error")
    except services.FileGone as exc:
        await db_session.rollback()
        flash(request, exc.message, "error")
    else:
        flash(request, f"「{kept.file_name}」を個人ボックスに保管しました。", "success")
    return Redirect(path=f"{base}/{file_id}")


async def _delete(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    store: BlobStore,
    settings: Settings,
    principal: Principal,
    base: str,
    file_id: str,
) -> Redirect:
    row = await services.get_file(db_session, principal, file_id)
    try:
        await services.delete_file(db_session, store, principal, row, settings=settings)
    except FormInvalid as exc:
        flash(request, exc.message, "error")
        return Redirect(path=f"{base}/{file_id}")
    flash(request, f"「{row.file.file_name}」を削除しました。", "success")
    return Redirect(path=base)


class ClientFilesController(Controller):
    """/admin/files: the client's exchange with its offices (admins and handlers)."""

    path = CLIENT_PATH
    guards = [number_handlers]
    include_in_schema = False

    @get("/", name="client_files")
    async def file_list(
        self, db_session: AsyncSession, principal: Principal, kind: str = "", office: str = "", after: str = ""
    ) -> Template:
        return await _list_page(db_session, principal, CLIENT_PATH, kind, office, after)

    @get("/new", name="client_file_new")
    async def new(self, db_session: AsyncSession, principal: Principal, office: str = "") -> Template:
        others = await services.exchange_partners(db_session, principal)
        return _new_page(CLIENT_PATH, CLIENT_PATH, others, chosen=office)

    @post("/", name="client_file_send", request_max_body_size=MAX_BODY_BYTES)
    async def send(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
    ) -> Template | Redirect:
        files, message, office_id = await _uploads(request)
        try:
            rows = await services.send_files(
                db_session,
                vault,
                _blob_store(state, settings),
                settings,
                principal,
                to=office_id,
                files=files,
                message=message,
            )
        except FormInvalid as exc:
            await db_session.rollback()
            others = await services.exchange_partners(db_session, principal)
            return _new_page(
                CLIENT_PATH,
                CLIENT_PATH,
                others,
                chosen=office_id,
                message=_shown_back(message),
                errors=exc.errors,
                status_code=400,
            )
        flash(request, f"{len(rows)}件のファイルを送信しました。", "success")
        return Redirect(path=CLIENT_PATH)

    @get("/{file_id:str}", name="client_file")
    async def detail(self, db_session: AsyncSession, principal: Principal, file_id: str) -> Template:
        return await _detail_page(db_session, principal, CLIENT_PATH, file_id)

    @get("/{file_id:str}/download", name="client_file_download")
    async def download(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
        file_id: str,
    ) -> Response[bytes] | Redirect:
        store = _blob_store(state, settings)
        return await _download(db_session, vault, store, principal, request, CLIENT_PATH, file_id)

    @post("/{file_id:str}/save", name="client_file_save")
    async def save(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        settings: Settings,
        principal: Principal,
        file_id: str,
    ) -> Redirect:
        return await _save(request, db_session, settings, principal, CLIENT_PATH, file_id)

    @post("/{file_id:str}/box", name="client_file_box")
    async def keep_in_box(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
        file_id: str,
    ) -> Redirect:
        store = _blob_store(state, settings)
        return await _keep_in_box(request, db_session, vault, store, settings, principal, CLIENT_PATH, file_id)

    @post("/{file_id:str}/delete", name="client_file_delete")
    async def delete(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        settings: Settings,
        principal: Principal,
        file_id: str,
    ) -> Redirect:
        store = _blob_store(state, settings)
        return await _delete(request, db_session, store, settings, principal, CLIENT_PATH, file_id)


class OfficeFilesController(Controller):
    """/partner/files: the office's exchange across its clients (office admins and staff)."""

    path = OFFICE_PATH
    guards = [partner_members]
    include_in_schema = False

    @get("/", name="partner_files")
    async def file_list(
        self,
        db_session: AsyncSession,
        principal: Principal,
        kind: str = "",
        client_id: str = "",
        client_code: str = "",
        after: str = "",
    ) -> Template:
        # "client" is the name of a dependency (the client address): the filter is client_id, or client_code typed.
        return await _list_page(db_session, principal, OFFICE_PATH, kind, client_id, after, client_code=client_code)

    @get("/send", name="partner_file_send_to")
    async def send_to(
        self, db_session: AsyncSession, principal: Principal, client_code: str = ""
    ) -> Template | Redirect:
        """ファイルを送る: the client typed by its 事業者コード, then the send form of that client."""
        try:
            chosen = await services.linked_client_by_code(db_session, principal, client_code, field="send_code")
        except FormInvalid as exc:
            return await _list_page(db_session, principal, OFFICE_PATH, "", "", "", errors=exc.errors)
        return Redirect(path=f"/partner/clients/{chosen.id}/files/new")

    @get("/{file_id:str}", name="partner_file")
    async def detail(self, db_session: AsyncSession, principal: Principal, file_id: str) -> Template:
        return await _detail_page(db_session, principal, OFFICE_PATH, file_id)

    @get("/{file_id:str}/download", name="partner_file_download")
    async def download(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
        file_id: str,
    ) -> Response[bytes] | Redirect:
        store = _blob_store(state, settings)
        return await _download(db_session, vault, store, principal, request, OFFICE_PATH, file_id)

    @post("/{file_id:str}/save", name="partner_file_save")
    async def save(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        settings: Settings,
        principal: Principal,
        file_id: str,
    ) -> Redirect:
        return await _save(request, db_session, settings, principal, OFFICE_PATH, file_id)

    @post("/{file_id:str}/box", name="partner_file_box")
    async def keep_in_box(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
        file_id: str,
    ) -> Redirect:
        store = _blob_store(state, settings)
        return await _keep_in_box(request, db_session, vault, store, settings, principal, OFFICE_PATH, file_id)

    @post("/{file_id:str}/delete", name="partner_file_delete")
    async def delete(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        settings: Settings,
        principal: Principal,
        file_id: str,
    ) -> Redirect:
        store = _blob_store(state, settings)
        return await _delete(request, db_session, store, settings, principal, OFFICE_PATH, file_id)


class OfficeClientFilesController(Controller):
    """/partner/clients/{client_id}/files: an office's staff member sends files to one client (ACTIVE link)."""

    path = "/partner/clients/{client_id:str}/files"
    guards = [partner_members]
    include_in_schema = False

    @get("/new", name="partner_client_file_new")
    async def new(self, db_session: AsyncSession, principal: Principal, client_id: str) -> Template:
        client = await services.sendable_client(db_session, principal, client_id)
        return _new_page(OFFICE_PATH, f"/partner/clients/{client.id}/files", [], client=client)

    @post("/", name="partner_client_file_send", request_max_body_size=MAX_BODY_BYTES)
    async def send(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        vault: Vault,
        settings: Settings,
        principal: Principal,
        client_id: str,
    ) -> Template | Redirect:
        client = await services.sendable_client(db_session, principal, client_id)
        files, message, _ = await _uploads(request)
        try:
            rows = await services.send_files(
                db_session,
                vault,
                _blob_store(state, settings),
                settings,
                principal,
                to=client.id,
                files=files,
                message=message,
            )
        except FormInvalid as exc:
            await db_session.rollback()
            client = await services.sendable_client(db_session, principal, client_id)
            action = f"/partner/clients/{client.id}/files"
            return _new_page(
                OFFICE_PATH, action, [], message=_shown_back(message), errors=exc.errors, client=client, status_code=400
            )
        flash(request, f"{client.name} に{len(rows)}件のファイルを送信しました。", "success")
        return Redirect(path=OFFICE_PATH)


EXCHANGE_ROUTES: list[Any] = [ClientFilesController, OfficeFilesController, OfficeClientFilesController]
