"""HTTP layer of identity verification: the employee's upload on a phone (/me/verification), the review by admins
and handlers (/admin/verifications), and the operator's switch of the option (/operator/tenants/{id}/verification).

Uploads stay in memory (``app.http.keep_uploads_in_memory``): a photo of a card's back shows the number in clear.
Images are served only by the authorised review route, decrypted on the fly, ``Cache-Control: no-store``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.datastructures import State, UploadFile
from litestar.plugins.flash import flash
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, employees_only, number_handlers, operator_only
from app.blobs import BlobStore, blob_store_from_settings
from app.config import VERIFICATION_IMAGE_CEILING, Settings
from app.db import release_connection
from app.forms import Form, FormInvalid
from app.http import error_response
from app.pager import PageRequest, page_links
from app.vault import Vault
from selfservice.guards import EmployeeOutOfService, employee_in_service, out_of_service_page
from tenants.services import get_tenant, number_row, today
from verification import services
from verification.documents import (
    KINDS,
    MAX_IMAGES,
    NON_PHOTO_ID_CHOICES,
    NOT_ACCEPTED,
    NUMBER_CHOICES,
    PHOTO_ID_CHOICES,
    DocumentChoiceInvalid,
    DocumentPlan,
    document_labels,
    plan_documents,
)
from verification.models import VerificationStatus
from verification.schemas import ManualRecordForm, OptionForm, RejectForm

QUEUE_DATES = services.QUEUE_DATE_FIELDS
ME_PATH = "/me/verification"
ADMIN_PATH = "/admin/verifications"
BLOB_STATE_KEY = "verification_blob_store"
# Every image of the largest valid choice at the largest size the setting may allow, and the form's own fields.
MAX_IMAGE_BYTES = VERIFICATION_IMAGE_CEILING
MAX_BODY_BYTES = MAX_IMAGES * MAX_IMAGE_BYTES + 1024 * 1024


@dataclass(frozen=True, slots=True)
class PagePaths:
    """Where a submitter's pages live: the status page, the upload (the choice's GET and the form's POST), the
    page where the number is registered; ``payee``: a payee's pages (through their link: the company is named,
    the note on dependants left out)."""

    status: str
    upload: str
    number: str
    payee: bool = False


ME_PATHS = PagePaths(status=ME_PATH, upload=f"{ME_PATH}/upload", number="/me")


def max_image_label(max_bytes: int) -> str:
    """The size limit per image as the upload page says it: whole MB from 10 MB on, one decimal below
    (``0.5MB`` rather than a rounded-down ``0MB``)."""
    tenths = max_bytes * 10 // (1024 * 1024)  # rounded down: the page never promises more than the limit
    if tenths >= 100:
        return f"{tenths // 10}MB"
    return f"{tenths // 10}.{tenths % 10}MB"


def blob_store(state: State, settings: Settings) -> BlobStore:
    """The process's blob store (made on first use from the settings, then kept on the app's state)."""
    store = state.get(BLOB_STATE_KEY)
    if store is None:
        store = state[BLOB_STATE_KEY] = blob_store_from_settings(settings)
    return store  # type: ignore[no-any-return]


# The employee's pages -------------------------------------------------------------------------------------------


def choice_page(
    context: dict[str, Any],
    paths: PagePaths,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    """The status page with the choice of documents (``context``: :func:`status_context`'s)."""
    return Template(
        template_name="verification/me.html",
        context={
            **context,
            "paths": paths,
            "number_choices": NUMBER_CHOICES,
            "photo_choices": PHOTO_ID_CHOICES,
            "non_photo_choices": NON_PHOTO_ID_CHOICES,
            "not_accepted": NOT_ACCEPTED,
            "errors": errors or {},
        },
        status_code=status_code,
    )


def upload_page(
    plan: DocumentPlan,
    choice: dict[str, str],
    settings: Settings,
    paths: PagePaths,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    company: str = "",
) -> Template:
    """The form with a camera and a file field per image the chosen documents need."""
    return Template(
        template_name="verification/upload.html",
        context={
            "paths": paths,
            "company": company,
            "plan": plan,
            "choice": choice,
            "errors": errors or {},
            "not_accepted": NOT_ACCEPTED,
            "chosen_suffix": services.CHOSEN_SUFFIX,
            "max_size": max_image_label(settings.verification_max_image_bytes),
        },
        status_code=status_code,
    )


def choice_of(params: Any) -> dict[str, str]:
    """The chosen document kinds from a query or a form (each cut to 40 characters)."""
    return {
        "number_document": str(params.get("number_document") or "")[:40],
        "identity_1": str(params.get("identity_1") or "")[:40],
        "identity_2": str(params.get("identity_2") or "")[:40],
    }


def plan_of(choice: dict[str, str]) -> DocumentPlan:
    """The images the choice needs (``DocumentChoiceInvalid`` with the Japanese reason)."""
    return plan_documents(choice["number_document"], [choice["identity_1"], choice["identity_2"]])


async def upload_form(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    vault: Vault,
    settings: Settings,
    person: Any,
    paths: PagePaths,
    *,
    company: str = "",
) -> Template | Redirect:
    """The upload form for the documents chosen in the query, the choice again with the reason (400), or back to
    the status page when the person may not submit now."""
    context = {**await status_context(db_session, vault, person), "company": company}
    if not context["can_submit"]:
        return Redirect(path=paths.status)
    choice = choice_of(request.query_params)
    try:
        plan = plan_of(choice)
    except DocumentChoiceInvalid as exc:
        return choice_page({**context, "choice": choice}, paths, errors={"documents": exc.message}, status_code=400)
    return upload_page(plan, choice, settings, paths, company=company)


async def take_upload(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    vault: Vault,
    settings: Settings,
    state: State,
    who: Principal | services.Submitter,
    person: Any,
    paths: PagePaths,
    *,
    company: str = "",
) -> Template | None:
    """Read the upload form, clean its images and submit them for ``person`` (``services.submit_verification``).

    Returns None when submitted, or the page to answer with (400): the choice with the reason, the form with an
    error per image, or the quota's refusal (logged in a transaction of its own so the admins see it).
    ``services.VerificationRefused`` goes to the caller (each side tells it its own way).
    """
    form = await request.form()
    choice = choice_of(form)
    try:
        plan = plan_of(choice)
    except DocumentChoiceInvalid as exc:
        context = {**await status_context(db_session, vault, person), "choice": choice, "company": company}
        return choice_page(context, paths, errors={"documents": exc.message}, status_code=400)
    files: dict[str, bytes] = {}
    for slot in plan.slots:
        for name in (slot.field, slot.field + services.CHOSEN_SUFFIX):  # the camera's, the chosen photo's
            upload = form.get(name)
            if isinstance(upload, UploadFile):
                files[name] = await upload.read()
    confirmed = form.get("notification_card_confirmed") == "yes"
    person_id = person.id  # still known after a rollback
    try:
        await release_connection(db_session)  # photos queue for the image workers: no pooled connection meanwhile
        images = await services.clean_images(plan, files, settings)
        await services.submit_verification(
            db_session,
            vault,
            blob_store(state, settings),
            who,
            person,
            plan,
            images,
            notification_card_confirmed=confirmed,
            settings=settings,
        )
    except FormInvalid as exc:
        return upload_page(plan, choice, settings, paths, errors=exc.errors, status_code=400, company=company)
    except services.QuotaRefused as exc:
        # Nothing of the upload is kept; the refusal is logged in its own transaction so the admins see it.
        await db_session.rollback()
        await services.record_quota_refusal(db_session, who, person_id)
        await db_session.commit()
        return upload_page(plan, choice, settings, paths, errors={"_": exc.message}, status_code=400, company=company)
    return None


class EmployeeVerificationController(Controller):
    """The employee photographs their documents on the phone and follows the review."""

    path = ME_PATH
    guards = [employees_only, employee_in_service]
    exception_handlers = {EmployeeOutOfService: out_of_service_page}
    include_in_schema = False

    @staticmethod
    async def _ready(db_session: AsyncSession, principal: Principal) -> Any:
        person = await services.own_person(db_session, principal)
        if person is None or not await services.verification_enabled(db_session, principal.tenant_id):
            return None
        if person.retirement_date is not None and person.retirement_date <= today():
            return None
        return person

    @get("/", name="verification_me")
    async def status_page(self, db_session: AsyncSession, vault: Vault, principal: Principal) -> Template | Redirect:
        person = await self._ready(db_session, principal)
        if person is None:
            return Redirect(path="/me")
        return choice_page(await status_context(db_session, vault, person), ME_PATHS)

    @get("/upload", name="verification_me_upload")
    async def upload_form_page(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        settings: Settings,
    ) -> Template | Redirect:
        person = await self._ready(db_session, principal)
        if person is None:
            return Redirect(path="/me")
        return await upload_form(request, db_session, vault, settings, person, ME_PATHS)

    @post("/upload", name="verification_me_submit", request_max_body_size=MAX_BODY_BYTES)
    async def submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        vault: Vault,
        settings: Settings,
        state: State,
    ) -> Template | Redirect:
        person = await self._ready(db_session, principal)
        if person is None:
            return Redirect(path="/me")
        try:
            page = await take_upload(request, db_session, vault, settings, state, principal, person, ME_PATHS)
        except services.VerificationRefused as exc:
            flash(request, exc.message, "error")
            return Redirect(path=ME_PATH)
        if page is not None:
            return page
        flash(request, "本人確認書類を提出しました。担当者の確認をお待ちください。", "success")
        return Redirect(path=ME_PATH)


async def status_context(db_session: AsyncSession, vault: Vault, person: Any) -> dict[str, Any]:
    """The submitter's page state (an employee's or a payee's): the newest submission (made void first when its
    number was erased or replaced) and whether they may submit (none yet, rejected, void, or approved for a number
    they no longer have)."""
    latest = await services.latest_submission(db_session, person.tenant_id, person.id)
    outdated = False
    if latest is not None:
        await services.void_if_stale(db_session, vault, latest)
        outdated = latest.status is VerificationStatus.APPROVED and not await services.approval_is_current(
            db_session, vault, latest
        )
    return _status_context(person, latest, outdated=outdated)


def _status_context(person: Any, latest: Any, *, outdated: bool) -> dict[str, Any]:
    status = latest.status if latest is not None else None
    return {
        "outdated": outdated,
        "outdated_message": services.APPROVAL_OUTDATED,
        "person": person,
        "latest": latest,
        "latest_documents": (
            document_labels([latest.number_document, *latest.identity_documents]) if latest is not None else []
        ),
        "reason": services.reject_reason_label(latest) if latest is not None else "",
        "has_number": person.status.has_number,
        "can_submit": person.status.has_number
        and (status in (None, VerificationStatus.REJECTED, VerificationStatus.VOID) or outdated),
        "void_message": services.VOID_MESSAGE,
        "choice": {"number_document": "", "identity_1": "", "identity_2": ""},
    }


# The admin's pages ----------------------------------------------------------------------------------------------


class VerificationAdminController(Controller):
    """Review of submitted documents by admins and handlers (事務取扱担当者)."""

    path = ADMIN_PATH
    guards = [number_handlers]
    include_in_schema = False

    @get("/", name="verification_queue")
    async def queue(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, settings: Settings
    ) -> Template:
        params = {key: str(value) for key, value in request.query_params.items()}
        filters, errors = services.QueueFilters.parse(params)
        found = await services.queue_page(
            db_session,
            principal,
            filters,
            PageRequest.from_query(params),
        )
        query = filters.query()
        return Template(
            template_name="verification/queue.html",
            context={
                "enabled": await services.verification_enabled(db_session, principal.tenant_id),
                "storage": await services.storage_use(db_session, principal.tenant_id, settings),
                "rows": found.rows,
                "total": found.total,
                "filters": filters,
                "errors": errors,
                "typed": {field: params.get(field) or params.get(alias, "") for field, alias, _ in QUEUE_DATES},
                "statuses": services.STATUS_CHOICES,
                "departments": await services.department_choices(db_session, principal),
                "pager": page_links(found.window, found.total, lambda p: f"{ADMIN_PATH}?{urlencode({**query, **p})}"),
            },
            status_code=400 if errors else 200,
        )

    @get("/{verification_id:str}", name="verification_review")
    async def review(
        self, db_session: AsyncSession, vault: Vault, principal: Principal, verification_id: str
    ) -> Template:
        return await _review_page(db_session, vault, principal, verification_id)

    @get("/{verification_id:str}/images/{image_id:str}", name="verification_image", opt={"no_compression": True})
    async def image(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        settings: Settings,
        state: State,
        verification_id: str,
        image_id: str,
    ) -> Response[Any]:
        verification = await services.get_verification(db_session, principal, verification_id)
        try:
            data = await services.open_image(
                db_session, vault, blob_store(state, settings), principal, verification, image_id
            )
        except services.ImageUnavailable as exc:
            hint = "提出した本人に、撮り直して再提出してもらってください。"
            return error_response(request, exc.status, title=exc.message, hint=hint)
        return Response(
            content=data,
            media_type="image/jpeg",
            headers={"Cache-Control": "no-store", "Content-Disposition": "inline", "X-Content-Type-Options": "nosniff"},
        )

    @post("/{verification_id:str}/approve", name="verification_approve")
    async def approve(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        settings: Settings,
        state: State,
        verification_id: str,
    ) -> Redirect:
        verification = await services.get_verification(db_session, principal, verification_id)
        try:
            await services.approve_verification(
                db_session,
                vault,
                blob_store(state, settings),
                principal,
                verification,
                keep_days=settings.verification_keep_days,
            )
        except services.VerificationRefused as exc:
            flash(request, exc.message, "error")
            return Redirect(path=f"{ADMIN_PATH}/{verification.id}")
        flash(request, "本人確認を承認し、記録しました。", "success")
        return Redirect(path=ADMIN_PATH)

    @post("/{verification_id:str}/reject", name="verification_reject")
    async def reject(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        verification_id: str,
        data: Annotated[RejectForm, Form],
    ) -> Template | Redirect:
        verification = await services.get_verification(db_session, principal, verification_id)
        try:
            await services.reject_verification(
                db_session, principal, verification, reason=data.reason, note=data.note, vault=vault
            )
        except FormInvalid as exc:
            return await _review_page(
                db_session, vault, principal, verification_id, errors=exc.errors, form=data, status_code=400
            )
        except services.VerificationRefused as exc:
            flash(request, exc.message, "error")
            return Redirect(path=f"{ADMIN_PATH}/{verification.id}")
        flash(request, "差し戻しました。提出した本人の画面に理由が表示されます。", "success")
        return Redirect(path=ADMIN_PATH)

    @get("/people/{person_id:str}/record", name="verification_manual")
    async def manual_page(
        self, db_session: AsyncSession, vault: Vault, principal: Principal, person_id: str
    ) -> Template:
        row = await number_row(db_session, vault, principal, person_id)
        return _manual_page(row, ManualRecordForm(), {}, await _records(db_session, row))

    @post("/people/{person_id:str}/record", name="verification_manual_submit")
    async def manual_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        person_id: str,
        data: Annotated[ManualRecordForm, Form],
    ) -> Template | Redirect:
        row = await number_row(db_session, vault, principal, person_id)
        try:
            await services.record_manual_check(
                db_session,
                vault,
                principal,
                row.person,
                method=data.method,
                number_document=data.number_document,
                identity_documents=[data.identity_1, data.identity_2],
                note=data.note,
            )
        except FormInvalid as exc:
            return _manual_page(row, data, exc.errors, await _records(db_session, row), status_code=400)
        except services.VerificationRefused as exc:
            return _manual_page(row, data, {"_": exc.message}, await _records(db_session, row), status_code=400)
        flash(request, f"{row.display_name} さんの本人確認を記録しました。", "success")
        return Redirect(path=f"{ADMIN_PATH}/people/{row.person.id}/record")


async def _records(db_session: AsyncSession, row: Any) -> list[Any]:
    return await services.records_of(db_session, row.person.tenant_id, row.person.id)


def _manual_page(
    row: Any,
    form: ManualRecordForm,
    errors: dict[str, str],
    records: list[Any],
    status_code: int = 200,
) -> Template:
    return Template(
        template_name="verification/manual.html",
        context={
            "row": row,
            "form": form,
            "errors": errors,
            "records": records,
            "labels": document_labels,
            "methods": [(m.value, m.value) for m in services.MANUAL_METHODS],
            "number_choices": [(k.code, k.label) for k in NUMBER_CHOICES],
            "identity_choices": [(k.code, k.label) for k in (*PHOTO_ID_CHOICES, *NON_PHOTO_ID_CHOICES)],
        },
        status_code=status_code,
    )


async def _review_page(
    db_session: AsyncSession,
    vault: Vault,
    principal: Principal,
    verification_id: str,
    *,
    errors: dict[str, str] | None = None,
    form: RejectForm | None = None,
    status_code: int = 200,
) -> Template:
    verification = await services.get_verification(db_session, principal, verification_id)
    void = await services.void_if_stale(db_session, vault, verification)
    row = await number_row(db_session, vault, principal, str(verification.person_id))
    return Template(
        template_name="verification/review.html",
        context={
            "v": verification,
            "row": row,
            "images": [] if void else await services.images_of(db_session, verification),
            "void": void,
            "documents": document_labels([verification.number_document, *verification.identity_documents]),
            "reason": services.reject_reason_label(verification),
            "reasons": list(services.REJECT_REASONS.items()),
            "records": await services.records_of(db_session, verification.tenant_id, verification.person_id),
            "labels": document_labels,
            "errors": errors or {},
            "form": form or RejectForm(),
            "kinds": KINDS,
        },
        status_code=status_code,
    )


# The operator's switch ------------------------------------------------------------------------------------------


class VerificationOptionController(Controller):
    """The operator turns the 本人確認オプション on or off for a tenant (from the tenant's detail page)."""

    path = "/operator/tenants"
    guards = [operator_only]
    include_in_schema = False

    @post("/{tenant_id:str}/verification", name="operator_tenant_verification")
    async def set_option(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        tenant_id: str,
        data: Annotated[OptionForm, Form],
    ) -> Redirect:
        tenant = await get_tenant(db_session, principal, tenant_id)
        enabled = data.enabled == "yes"
        await services.set_verification_enabled(db_session, principal, tenant, enabled)
        flash(request, f"本人確認オプションを{'有効' if enabled else '無効'}にしました。", "success")
        return Redirect(path=f"/operator/tenants/{tenant.id}")


ROUTES: list[Any] = [EmployeeVerificationController, VerificationAdminController, VerificationOptionController]

__all__ = ["ROUTES", "blob_store"]
