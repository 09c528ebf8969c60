"""The 個人ボックス pages of a person of a client (機密, seed 002): list, keep (upload), open (download), delete.

/admin/people/{person_id}/box is reached from the person's page (employees and their dependants) and the payee list.
Only principals who may open 機密 files see it; everyone else is answered 404 as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State, UploadFile
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.plugins.flash import flash
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.guard import looks_like_number
from app.auth.principal import Principal, company_staff
from app.blobs import BlobStore, blob_store_from_settings
from app.config import Settings
from app.documents import DocumentGone, QuotaExceeded
from app.http import file_download
from app.vault import Vault
from partners import services
from partners.filecheck import FileRefused
from tenants.models import Person, PersonKind

BLOB_STATE_KEY = "partners_blob_store"
# What one upload may hold in memory at most; the file's own limit (MNV_EXCHANGE_MAX_FILE_BYTES) is checked by
# partners.filecheck with a Japanese answer, so this bound only stops absurd bodies.
MAX_BODY_BYTES = 64 * 1024 * 1024


def box_store(state: State, settings: Settings) -> BlobStore:
    """The process's blob store for box files (made on first use from the settings, then kept on the app's state)."""
    store = state.get(BLOB_STATE_KEY)
    if store is None:
        store = state[BLOB_STATE_KEY] = blob_store_from_settings(settings)
    return store  # type: ignore[no-any-return]


def box_path(person: Person) -> str:
    return f"/admin/people/{person.id}/box"


async def _person(db_session: AsyncSession, principal: Principal, person_id: str) -> Person:
    try:
        return await services.box_person(db_session, principal, person_id)
    except LookupError:
        raise NotFoundException() from None


def _back_link(person: Person) -> str:
    if person.kind is PersonKind.PAYEE:
        return "/admin/payees"
    return f"/admin/people/{person.employee_id or person.id}"


class PersonBoxController(Controller):
    """/admin/people/{person_id}/box: one person's 個人ボックス."""

    path = "/admin/people/{person_id:str}/box"
    guards = [company_staff]
    include_in_schema = False

    @get("/", name="person_box")
    async def box(self, db_session: AsyncSession, principal: Principal, settings: Settings, person_id: str) -> Template:
        person = await _person(db_session, principal, person_id)
        return await _box_page(db_session, principal, settings, person, "", {})

    @post("/", name="person_box_keep", request_max_body_size=MAX_BODY_BYTES)
    async def keep(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        settings: Settings,
        state: State,
        person_id: str,
    ) -> Template | Redirect:
        person = await _person(db_session, principal, person_id)
        if not services.may_change_boxes(principal):
            raise PermissionDeniedException()
        form = await request.form()
        upload = form.get("file")
        note = str(form.get("note") or "")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await _box_page(
                db_session, principal, settings, person, note, {"file": "ファイルを選んでください。"}
            )
        data = await upload.read()
        try:
            kept = await services.keep_in_person_box(
                db_session,
                vault,
                box_store(state, settings),
                settings,
                principal,
                person_id=person.id,
                file_name=upload.filename,
                data=data,
                note=note,
            )
        except services.BoxNoteInvalid as exc:
            return await _box_page(db_session, principal, settings, person, note, {"note": exc.message})
        except (FileRefused, services.PersonBoxFull, QuotaExceeded) as exc:  # nothing kept (400: rolled back)
            return await _box_page(db_session, principal, settings, person, note, {"file": exc.message})
        flash(request, f"「{kept.file_name}」を個人ボックスに保管しました。", "success")
        return Redirect(path=box_path(person))

    @get("/{file_id:str}", name="person_box_open")
    async def open_file(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        settings: Settings,
        state: State,
        person_id: str,
        file_id: str,
    ) -> Response[bytes] | Redirect:
        person = await _person(db_session, principal, person_id)
        try:
            box_file, data = await services.open_box_file(
                db_session, vault, box_store(state, settings), principal, person, file_id
            )
        except LookupError:
            raise NotFoundException() from None
        except DocumentGone:
            flash(request, f"このファイルは{services.UNOPENABLE}。", "error")
            return Redirect(path=box_path(person))
        return file_download(data, box_file.file_name, box_file.content_type)

    @post("/{file_id:str}/delete", name="person_box_delete")
    async def delete_file(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        settings: Settings,
        state: State,
        person_id: str,
        file_id: str,
    ) -> Redirect:
        person = await _person(db_session, principal, person_id)
        try:
            deleted = await services.delete_box_file(db_session, box_store(state, settings), principal, person, file_id)
        except LookupError:
            raise NotFoundException() from None
        except PermissionError:
            raise PermissionDeniedException() from None
        flash(request, f"「{deleted.file_name}」を個人ボックスから削除しました。", "success")
        return Redirect(path=box_path(person))


async def _box_page(
    db_session: AsyncSession,
    principal: Principal,
    settings: Settings,
    person: Person,
    note: str,
    errors: dict[str, str],
) -> Template:
    rows = await services.list_person_box(db_session, principal, person)
    return Template(
        template_name="partners/person_box.html",
        context={
            "person": person,
            "rows": rows,
            "limit": settings.person_box_limit,
            "max_mb": settings.exchange_max_file_bytes // (1024 * 1024),
            "can_change": services.may_change_boxes(principal),
            "note": "" if looks_like_number(note) else note,  # what may be a number is never shown back
            "errors": errors,
            "back": _back_link(person),
        },
        status_code=400 if errors else 200,
    )
