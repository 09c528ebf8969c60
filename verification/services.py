"""Rules of identity verification (本人確認オプション, seed 003): submissions, review, records, image deletion.

No HTTP here. An employee submits photos of the documents ``verification.documents`` asks for; each image goes
through the pipeline (decoded, oriented, stripped, re-encoded) and is stored as a sealed document; an admin or handler
approves (a verification record is written, the images are deleted at once or after ``verification_keep_days``)
or sends it back with a reason (the images stay until resubmission or ``REJECTED_KEEP_DAYS``).

Every step writes its audit entry in the same transaction: upload (登録), each view of an image (閲覧), approval
(本人確認承認), rejection (本人確認差戻し), deletion of images (削除).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from litestar.exceptions import NotFoundException
from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor, AuditAction, AuditEvent, AuditResult, Subject
from app.audit.guard import looks_like_number
from app.audit.log import record
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.auth.principal import Principal
from app.auth.scoping import get_scoped, scoped
from app.blobs import BlobStore, blob_store_from_settings
from app.config import Settings
from app.db import utcnow
from app.documents import (
    DocumentBlob,
    DocumentDamaged,
    DocumentGone,
    QuotaExceeded,
    delete_documents,
    open_document,
    purge_unopenable,
    set_expiry,
    storage_used,
    store_document,
)
from app.forms import FormInvalid
from app.pager import Count, KeysetPage, PageRequest, capped_count, read_page
from app.paging import SortColumn
from app.retention import log_removals
from app.tenancy import Tenant
from app.text import JST, DateRejected, TextRejected, clean_text, format_date, parse_date
from app.vault import NumberField, Vault, sealed_document_size
from app.vault.models import DocumentKey, VaultNumber
from app.workers import IMAGES, run_in_worker
from billing.contract import change_contract
from tenants.models import Department, Person, PersonKind
from tenants.services import person_subject
from verification.documents import DocumentPlan, checks_of, document_labels, plan_documents
from verification.models import (
    Verification,
    VerificationImage,
    VerificationMethod,
    VerificationRecord,
    VerificationStatus,
)
from verification.pipeline import CleanImage, ImageRejected, clean_image

DOCUMENT_KIND = "verification"  # app.documents kind of every image stored here
REJECTED_KEEP_DAYS = 30  # a rejected submission's images are kept this long for the resubmission
PURGE_BATCH = 100
# The purge of records whose number is gone, as its 保存期間経過データの削除 entries name it.
RECORDS_KIND = "verification_records"
RECORDS_LABEL = "本人確認の記録（番号の削除後）"
REJECT_REASONS: dict[str, str] = {
    "blurry": "画像がぼやけている・暗いなどで読み取れません",
    "cut_off": "書類の一部（四隅・番号・氏名など）が写っていません",
    "glare": "光の反射で文字が読み取れません",
    "wrong_document": "選んだ書類と写っている書類が違います",
    "number_mismatch": "書類の個人番号が登録された番号と一致しません",
    "identity_mismatch": "氏名・生年月日・住所が登録内容と一致しません",
    "expired": "書類の有効期限が切れています",
    "notification_card": "通知カードの記載事項に変更があるため使えません",
    "other": "その他（コメントをご覧ください）",
}
MANUAL_METHODS = (VerificationMethod.IN_PERSON, VerificationMethod.POST)
NOTE_MAX = 500
FUNCTION_UPLOAD = "本人確認書類アップロード"
FUNCTION_QUOTA_REFUSED = "本人確認書類アップロード（容量超過）"
FUNCTION_VIEW = "本人確認書類閲覧"
FUNCTION_APPROVE = "本人確認（画像）承認"
FUNCTION_REJECT = "本人確認差戻し"
FUNCTION_MANUAL = "本人確認の記録（対面・郵送）"
FUNCTION_DELETE = "本人確認書類の削除"
FUNCTION_AUTO_DELETE = "本人確認書類の自動削除"
CHOSEN_SUFFIX = "_file"  # the form field of a slot's photo chosen from the phone (the camera's has none)
OPTION_OFF = "本人確認オプションはご利用いただけません（運営者にお問い合わせください）。"


class ImageUnavailable(Exception):
    """An image of a submission that cannot be shown: ``message`` (Japanese) and the HTTP ``status`` to answer
    (410 deleted, lost or void; 409 damaged)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


IMAGE_VOID = "この提出は番号が変更・削除されたため無効です。画像は番号とともに失われたため表示できません。"


class QuotaRefused(Exception):
    """An upload refused because the tenant's storage quota is full; ``message`` is the uploader's (Japanese)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class VerificationRefused(Exception):
    """An operation that cannot happen in the submission's or person's state; ``message`` is Japanese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# The option -----------------------------------------------------------------------------------------------------


async def verification_enabled(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    """Whether the tenant has the 本人確認オプション (``tenants.verification_enabled``, set by the operator)."""
    found = (await session.execute(select(Tenant.verification_enabled).where(Tenant.id == tenant_id))).scalar()
    return bool(found)


async def set_verification_enabled(session: AsyncSession, principal: Principal, tenant: Tenant, enabled: bool) -> None:
    """The operator turns the option on or off for a tenant (logged in the operator's own chain)."""
    if not principal.is_operator:
        raise NotFoundException()
    if tenant.verification_enabled == enabled:
        return
    await change_contract(session, tenant, {"verification_enabled": enabled}, changed_by=principal.name)
    await record(
        session,
        principal.event(
            AuditAction.SETTINGS_CHANGE,
            "本人確認オプション",
            {"tenant": tenant.code, "verification_enabled": enabled},
        ),
    )


# The submitter's side (an employee signed in, or a payee through their link) ---------------------------------------


@dataclass(frozen=True, slots=True)
class Submitter:
    """Who submits documents for a person of ``tenant_id``: the audit ``actor`` and the id kept as
    ``Verification.submitted_by`` (the employee's account, or the payee's link: payees have no account)."""

    tenant_id: uuid.UUID
    actor: Actor
    submitted_by: uuid.UUID


def submitter_of(who: Principal | Submitter) -> Submitter:
    """The submitter a signed-in principal is (its actor and account), or ``who`` itself."""
    if isinstance(who, Submitter):
        return who
    return Submitter(tenant_id=who.tenant_id, actor=who.actor(), submitted_by=who.account_id)


async def own_person(session: AsyncSession, principal: Principal) -> Person | None:
    """The employee record the signed-in account is linked to (None when not linked)."""
    if principal.person_id is None:
        return None
    statement = scoped(Person, principal).where(Person.id == principal.person_id, Person.kind == PersonKind.EMPLOYEE)
    return (await session.execute(statement)).scalar_one_or_none()


async def latest_submission(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID) -> Verification | None:
    """The person's newest submission (one index range)."""
    statement = (
        select(Verification)
        .where(Verification.tenant_id == tenant_id, Verification.person_id == person_id)
        .order_by(Verification.submitted_at.desc())
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def _subject(session: AsyncSession, person: Person) -> Subject:
    department = None
    if person.department_id is not None:
        statement = select(Department).where(
            Department.tenant_id == person.tenant_id, Department.id == person.department_id
        )
        department = (await session.execute(statement)).scalar_one_or_none()
    return person_subject(person, None, department)


async def _live_number_id(session: AsyncSession, vault: Vault, person: Person) -> uuid.UUID | None:
    found = await vault.number_info(session, person.tenant_id, [person.id], NumberField.MY_NUMBER)
    info = found.get(person.id)
    return info.id if info is not None else None


OPEN_STATUSES = (VerificationStatus.PENDING, VerificationStatus.REJECTED)  # awaiting a review or a resubmission
VOID_MESSAGE = "番号が変更・削除されたため無効になりました。もう一度提出してください。"
VOID_REFUSAL = (
    "この提出は、従業員の番号が変更・削除されたため無効です。承認・差戻しはできません"
    "（従業員には再提出をお願いする表示が出ています）。"
)


async def _images_unopenable(session: AsyncSession, verification: Verification) -> bool:
    """Whether any kept image of the submission lost its document (row gone) or its key (destroyed by an erasure)."""
    statement = (
        select(VerificationImage.id)
        .outerjoin(
            DocumentBlob,
            (DocumentBlob.tenant_id == VerificationImage.tenant_id)
            & (DocumentBlob.id == VerificationImage.document_id),
        )
        .outerjoin(
            DocumentKey, (DocumentKey.tenant_id == DocumentBlob.tenant_id) & (DocumentKey.id == DocumentBlob.key_id)
        )
        .where(
            VerificationImage.tenant_id == verification.tenant_id,
            VerificationImage.verification_id == verification.id,
            (DocumentBlob.id.is_(None)) | (DocumentKey.destroyed_at.is_not(None)),
        )
        .limit(1)
    )
    return (await session.execute(statement)).first() is not None


async def submission_is_stale(session: AsyncSession, vault: Vault, verification: Verification) -> bool:
    """Whether a submission awaiting review or resubmission (``OPEN_STATUSES``) was made for a number the person
    no longer has: their live My Number is gone or was registered after the submission (replaced, or erased and
    registered again), or an image can no longer be opened (the erasure destroyed its key). Other statuses: False.

    A submission belongs to the number live when it was made (the photos show that number): approving it for
    another number would record a check nobody made.
    """
    if verification.status not in OPEN_STATUSES:
        return False
    found = await vault.number_info(session, verification.tenant_id, [verification.person_id], NumberField.MY_NUMBER)
    info = found.get(verification.person_id)
    if info is None or info.registered_at > verification.submitted_at:
        return True
    return verification.images_deleted_at is None and await _images_unopenable(session, verification)


APPROVAL_OUTDATED = "マイナンバーが変更されたため、新しい番号の本人確認書類をもう一度提出してください。"


async def approval_is_current(session: AsyncSession, vault: Vault, verification: Verification) -> bool:
    """Whether an approved submission still covers the person's live My Number: one registered no later than the
    submission (the number its photos showed). False once that number was replaced, or erased and registered again
    (its record goes with it: :func:`purge_verification_records`), and for submissions not approved.

    The rule of :func:`submission_is_stale`, for the approved ones: the employee may then submit for the new number.
    """
    if verification.status is not VerificationStatus.APPROVED:
        return False
    found = await vault.number_info(session, verification.tenant_id, [verification.person_id], NumberField.MY_NUMBER)
    info = found.get(verification.person_id)
    return info is not None and info.registered_at <= verification.submitted_at


async def _mark_void(session: AsyncSession, verification: Verification, now: dt.datetime) -> None:
    """Set 無効 (one conditional UPDATE from an open status); its kept images become due for the purge now."""
    await session.execute(
        update(Verification)
        .where(
            Verification.tenant_id == verification.tenant_id,
            Verification.id == verification.id,
            Verification.status.in_(OPEN_STATUSES),
        )
        .values(
            status=VerificationStatus.VOID,
            images_expire_at=now if verification.images_deleted_at is None else verification.images_expire_at,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(verification)
    await _note_expiry(session, verification)


async def void_if_stale(session: AsyncSession, vault: Vault, verification: Verification) -> bool:
    """Make a stale submission (:func:`submission_is_stale`) 無効 in the caller's transaction; returns whether the
    submission is void (now or already). Called wherever a submission is shown or decided, and by the purge."""
    if verification.status is VerificationStatus.VOID:
        return True
    if not await submission_is_stale(session, vault, verification):
        return False
    await _mark_void(session, verification, utcnow())
    return True


def _cleaner(settings: Settings) -> Any:
    return functools.partial(clean_image, max_bytes=settings.verification_max_image_bytes)


async def clean_images(plan: DocumentPlan, files: Mapping[str, bytes], settings: Settings) -> dict[str, CleanImage]:
    """Run every uploaded image of the plan through the pipeline (worker threads, ``app.workers.IMAGES``).

    ``files``: form field → bytes (empty or missing: not chosen); each slot has two fields, the camera's
    (``slot.field``, ``capture``) and the chosen photo's (``slot.field + CHOSEN_SUFFIX``): either one is the image.
    Returns slot field → cleaned image. Errors: ``FormInvalid`` naming each slot that is missing (when required),
    has both fields filled (we do not guess which one the employee meant), or is refused by the pipeline.
    """
    errors: dict[str, str] = {}
    cleaned: dict[str, CleanImage] = {}
    cleaner = _cleaner(settings)
    for slot in plan.slots:
        camera, chosen = files.get(slot.field, b""), files.get(slot.field + CHOSEN_SUFFIX, b"")
        if camera and chosen:
            errors[slot.field] = (
                f"{slot.label}：カメラで撮影した写真と選んだ写真の両方が送られました。"
                "どちらか一方だけを選んで、もう一度提出してください。"
            )
            continue
        data = camera or chosen
        if not data:
            if slot.side.required:
                errors[slot.field] = f"{slot.label}の写真を撮影するか、画像を選んでください。"
            continue
        try:
            cleaned[slot.field] = await run_in_worker(IMAGES, cleaner, data)
        except ImageRejected as exc:
            errors[slot.field] = f"{slot.label}：{exc.message}"
    if errors:
        raise FormInvalid(errors)
    return cleaned


async def _require_room(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    previous: Verification,
    images: Mapping[str, CleanImage],
    quota: int,
) -> None:
    """Refuse a resubmission the quota cannot hold even once the previous submission's images are freed, before
    those are deleted: their blobs go at once (``app.documents.delete_documents``), so a refusal after it would
    leave the rejected submission with images that no longer open. ``QuotaRefused``; the counter's conditional
    update in ``store_document`` stays the real check (two uploads at once)."""
    needed = sum(sealed_document_size(len(image.jpeg)) for image in images.values())
    freed_by = (
        select(func.coalesce(func.sum(DocumentBlob.size), 0))
        .join(
            VerificationImage,
            (VerificationImage.tenant_id == DocumentBlob.tenant_id)
            & (VerificationImage.document_id == DocumentBlob.id),
        )
        .where(VerificationImage.tenant_id == tenant_id, VerificationImage.verification_id == previous.id)
    )
    freed = int((await session.execute(freed_by)).scalar_one())
    used = await storage_used(session, tenant_id)
    if used - freed + needed > quota:
        raise QuotaRefused(QuotaExceeded(used, quota).message)


async def submit_verification(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    who: Principal | Submitter,
    person: Person,
    plan: DocumentPlan,
    images: Mapping[str, CleanImage],
    *,
    notification_card_confirmed: bool,
    settings: Settings,
) -> Verification:
    """Store the cleaned images sealed (quota checked) and open a submission 審査中, in the caller's transaction.

    ``who``: the signed-in employee, or the :class:`Submitter` of a payee's link; the caller has checked that
    ``person`` is theirs (the employee's own record, the link's payee).

    A previous rejected submission's images are deleted (the resubmission replaces them).
    Errors: ``VerificationRefused`` (option off, no number registered yet, a submission already under review or
    approved for the live number: :func:`approval_is_current`),
    ``FormInvalid`` (通知カード not confirmed), ``QuotaRefused`` (the tenant's quota is full: the caller rolls
    back, then logs it with :func:`record_quota_refusal` in a transaction of its own).
    """
    submitter = submitter_of(who)
    if person.tenant_id != submitter.tenant_id:
        raise NotFoundException()
    if not await verification_enabled(session, person.tenant_id):
        raise VerificationRefused(OPTION_OFF)
    if not person.status.has_number:
        raise VerificationRefused("先にマイナンバーを登録してから、本人確認書類を提出してください。")
    previous = await latest_submission(session, person.tenant_id, person.id)
    if previous is not None:
        await void_if_stale(session, vault, previous)
    if previous is not None and previous.status is VerificationStatus.PENDING:
        raise VerificationRefused("提出した書類を確認しています。結果が出るまでお待ちください。")
    if previous is not None and await approval_is_current(session, vault, previous):
        raise VerificationRefused("本人確認は完了しています。")
    if plan.needs_notification_card_confirmation and not notification_card_confirmed:
        raise FormInvalid(
            {
                "notification_card_confirmed": "通知カードが使える条件（2020年5月25日より前の交付・"
                "記載事項の変更なし）を確かめてチェックしてください。"
            }
        )
    now = utcnow()
    verification = Verification(
        tenant_id=person.tenant_id,
        person_id=person.id,
        submitted_by=submitter.submitted_by,
        department_id=person.department_id,
        status=VerificationStatus.PENDING,
        number_document=plan.number_document.code,
        identity_documents=[kind.code for kind in plan.identity_documents],
        notification_card_confirmed=plan.needs_notification_card_confirmation and notification_card_confirmed,
        submitted_at=now,
    )
    session.add(verification)
    try:  # the first write of the request: a second submission at the same moment hits the unique index
        await session.flush()
    except IntegrityError:
        await session.rollback()  # nothing else was written yet
        raise VerificationRefused("提出した書類を確認しています。結果が出るまでお待ちください。") from None
    subject = await _subject(session, person)
    if previous is not None:
        await _require_room(session, person.tenant_id, previous, images, settings.verification_quota_bytes)
        await _delete_images(session, store, previous, submitter.actor, subject, FUNCTION_DELETE, now)
    stored = []
    for position, slot in enumerate(plan.slots):
        image = images.get(slot.field)
        if image is None:
            continue
        try:
            document = await store_document(
                session,
                vault,
                store,
                tenant_id=person.tenant_id,
                person_id=person.id,
                kind=DOCUMENT_KIND,
                data=image.jpeg,
                quota_bytes=settings.verification_quota_bytes,
            )
        except QuotaExceeded as exc:
            raise QuotaRefused(exc.message) from None
        stored.append(document.id)
        session.add(
            VerificationImage(
                tenant_id=person.tenant_id,
                verification_id=verification.id,
                document_id=document.id,
                document_kind=slot.kind.code,
                side=slot.side.code,
                label=slot.label,
                position=position,
            )
        )
    await session.flush()
    await record(
        session,
        AuditEvent(
            tenant_id=person.tenant_id,
            action=AuditAction.REGISTER,
            actor=submitter.actor,
            function=FUNCTION_UPLOAD,
            subject=subject,
            detail={
                "verification_id": str(verification.id),
                "documents": document_labels([kind.code for kind in plan.kinds]),
                "images": len(stored),
            },
        ),
    )
    return verification


# The admin's side -------------------------------------------------------------------------------------------------

QUOTA_WARNING_RATIO = 0.9  # from this share of the quota on, the admin's queue page warns


QUOTA_NOTICE_DAYS = 30  # a refusal for quota is shown to the admins this long
QUOTA_NOTICE_SCAN = 50  # newest 登録/拒否 entries read to find it (one range of ix_audit_entries_..._action_result_seq)


async def record_quota_refusal(session: AsyncSession, who: Principal | Submitter, person_id: uuid.UUID) -> None:
    """Log an upload refused for quota (登録, result 拒否, ``FUNCTION_QUOTA_REFUSED``) so the admins see it
    (:func:`last_quota_refusal`). ``who``: as for :func:`submit_verification`. Called after the refused upload's
    rollback; the caller commits."""
    submitter = submitter_of(who)
    statement = select(Person).where(Person.tenant_id == submitter.tenant_id, Person.id == person_id)
    person = (await session.execute(statement)).scalar_one_or_none()
    await record(
        session,
        AuditEvent(
            tenant_id=submitter.tenant_id,
            action=AuditAction.REGISTER,
            actor=submitter.actor,
            function=FUNCTION_QUOTA_REFUSED,
            result=AuditResult.DENIED,
            subject=await _subject(session, person) if person is not None else None,
            detail={"reason": "保存容量の上限"},
        ),
    )


async def last_quota_refusal(session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime) -> dt.datetime | None:
    """When an upload was last refused for quota within ``QUOTA_NOTICE_DAYS`` days (UTC), or None.

    Reads only the newest ``QUOTA_NOTICE_SCAN`` entries of the tenant's 登録/拒否 range (index
    ``ix_audit_entries_tenant_id_action_result_seq``): constant work whatever the tenant's size.
    """
    statement = (
        select(AuditEntry.function, AuditEntry.occurred_at)
        .where(
            AuditEntry.tenant_id == tenant_id,
            AuditEntry.action == AuditAction.REGISTER,
            AuditEntry.result == AuditResult.DENIED,
        )
        .order_by(AuditEntry.seq.desc())
        .limit(QUOTA_NOTICE_SCAN)
    )
    since = now - dt.timedelta(days=QUOTA_NOTICE_DAYS)
    for function, occurred_at in await session.execute(statement):
        if function == FUNCTION_QUOTA_REFUSED and occurred_at >= since:
            return occurred_at  # type: ignore[no-any-return]
    return None


@dataclass(frozen=True, slots=True)
class StorageUse:
    """How much of the tenant's storage quota its sealed documents take (bytes), and when an upload was last
    refused for it (UTC, within ``QUOTA_NOTICE_DAYS`` days; None when not)."""

    used: int
    quota: int
    refused_at: dt.datetime | None = None

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.quota)) if self.quota else 100

    @property
    def warning(self) -> str:
        """The admin's notice ('' when there is room and no recent refusal): uploads are refused once the quota
        is reached."""
        if self.used >= self.quota:
            return (
                "保存容量の上限に達したため、従業員は本人確認書類を提出できません。"
                "審査を済ませて画像を削除してください。"
            )
        if self.refused_at is not None:
            return (
                f"{format_date(self.refused_at, time='minutes')}に、保存容量の上限のため"
                "従業員の本人確認書類の提出を断りました"
                f"（現在 {self.percent}% 使用）。審査を済ませて画像を削除し、従業員に再提出を依頼してください。"
            )
        if self.used >= self.quota * QUOTA_WARNING_RATIO:
            return f"保存容量の{self.percent}%を使っています。上限に達すると従業員は書類を提出できなくなります。"
        return ""


async def storage_use(session: AsyncSession, tenant_id: uuid.UUID, settings: Settings) -> StorageUse:
    """The tenant's use of ``verification_quota_bytes`` (``app.documents.storage_used``) and its last refusal."""
    return StorageUse(
        await storage_used(session, tenant_id),
        settings.verification_quota_bytes,
        await last_quota_refusal(session, tenant_id, utcnow()),
    )


async def storage_notice(session: AsyncSession, principal: Principal, settings: Settings) -> str:
    """The storage notice of the admin home ('' for roles that do not review, without the option, or with room):
    :attr:`StorageUse.warning`."""
    if principal.role not in (Role.ADMIN, Role.HANDLER):
        return ""
    if not await verification_enabled(session, principal.tenant_id):
        return ""
    return (await storage_use(session, principal.tenant_id, settings)).warning


QUEUE_PER_PAGE = 50
STATUS_CHOICES = [(status.name.lower(), status.value) for status in VerificationStatus]


QUEUE_DATE_FIELDS = (
    ("submitted_from", "date_from", "提出日（から）"),
    ("submitted_to", "date_to", "提出日（まで）"),
)


@dataclass(frozen=True, slots=True)
class QueueFilters:
    """The queue's filters as typed: status (pending by default), department, submitted from / to (JST dates)."""

    status: VerificationStatus = VerificationStatus.PENDING
    department: str = ""
    submitted_from: str = ""
    submitted_to: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> tuple[QueueFilters, dict[str, str]]:
        """The filters from query parameters, and a Japanese error per field typed wrong (that field ignored):
        an unknown status or department, a date ``app.text.parse_date`` refuses (``date_from``/``date_to`` are
        read as ``submitted_from``/``submitted_to``), a period that ends before it starts."""
        names = {name: status for name, status in ((s.name.lower(), s) for s in VerificationStatus)}
        errors: dict[str, str] = {}
        typed_status = params.get("status", "")
        status = names.get(typed_status, VerificationStatus.PENDING)
        if typed_status and typed_status not in names:
            errors["status"] = "状態は一覧から選んでください。"
        department = params.get("department", "")
        try:
            uuid.UUID(department) if department else None
        except ValueError:
            errors["department"] = "部門は一覧から選んでください。"
            department = ""
        dates: dict[str, str] = {}
        days: dict[str, dt.date | None] = {}
        for field, alias, label in QUEUE_DATE_FIELDS:
            text = (params.get(field) or params.get(alias) or "").strip()[:20]
            try:
                days[field] = parse_date(text)
                dates[field] = text
            except DateRejected as exc:
                errors[field] = f"{label}{exc.message}"
                dates[field], days[field] = "", None
        start, end = days["submitted_from"], days["submitted_to"]
        if start is not None and end is not None and end < start:
            errors["submitted_to"] = "提出日（まで）は提出日（から）と同じ日か、それより後の日付を入力してください。"
            dates["submitted_to"] = ""
        return cls(status, department, dates["submitted_from"], dates["submitted_to"]), errors

    def query(self) -> dict[str, str]:
        return {
            "status": self.status.name.lower(),
            "department": self.department,
            "submitted_from": self.submitted_from,
            "submitted_to": self.submitted_to,
        }


@dataclass(frozen=True, slots=True)
class QueueRow:
    verification: Verification
    person: Person
    department: Department | None

    @property
    def documents(self) -> list[str]:
        return document_labels([self.verification.number_document, *self.verification.identity_documents])


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: list[QueueRow]
    total: Count
    window: KeysetPage


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), JST).astimezone(dt.UTC)


def _queue_statement(principal: Principal, filters: QueueFilters) -> Select[Any]:
    statement = scoped(Verification, principal).where(Verification.status == filters.status)
    if filters.department:
        statement = statement.where(Verification.department_id == uuid.UUID(filters.department))
    start = parse_date(filters.submitted_from) if filters.submitted_from else None
    end = parse_date(filters.submitted_to) if filters.submitted_to else None
    if start is not None:
        statement = statement.where(Verification.submitted_at >= _start_of(start))
    if end is not None:
        statement = statement.where(Verification.submitted_at < _start_of(end + dt.timedelta(days=1)))
    return statement


async def queue_page(
    session: AsyncSession, principal: Principal, filters: QueueFilters, request: PageRequest
) -> QueuePage:
    """One page of submissions in a status (審査中 oldest first, the others newest first), ``QUEUE_PER_PAGE`` a
    page, counted up to ``COUNT_CAP``; one range of ``ix_verifications_tenant_id_status_*`` per page."""
    descending = filters.status is not VerificationStatus.PENDING
    ordering = [
        SortColumn(Verification.submitted_at, "submitted_at", descending),
        SortColumn(Verification.id, "id", descending),
    ]
    statement = _queue_statement(principal, filters)
    total = await capped_count(session, statement)
    window = await read_page(session, [statement], ordering, request, per_page=QUEUE_PER_PAGE, total=total)
    ids = [key.id for key in window.keys]
    found = {
        row.id: row
        for row in (await session.execute(scoped(Verification, principal).where(Verification.id.in_(ids)))).scalars()
    }
    people = await _people(session, principal, [v.person_id for v in found.values()])
    departments = await _departments(session, principal, [p.department_id for p in people.values() if p.department_id])
    rows = [
        QueueRow(found[i], people[found[i].person_id], departments.get(people[found[i].person_id].department_id))
        for i in ids
        if i in found and found[i].person_id in people
    ]
    return QueuePage(rows, total, window)


async def _people(session: AsyncSession, principal: Principal, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Person]:
    if not ids:
        return {}
    statement = scoped(Person, principal).where(Person.id.in_(set(ids)))
    return {person.id: person for person in (await session.execute(statement)).scalars()}


async def _departments(
    session: AsyncSession, principal: Principal, ids: Sequence[uuid.UUID | None]
) -> dict[uuid.UUID | None, Department]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    statement = scoped(Department, principal).where(Department.id.in_(wanted))
    return {department.id: department for department in (await session.execute(statement)).scalars()}


async def department_choices(session: AsyncSession, principal: Principal) -> list[tuple[str, str]]:
    """(id, "code name") of the tenant's departments, for the queue's filter."""
    statement = scoped(Department, principal).order_by(Department.code)
    return [(str(d.id), f"{d.code} {d.name}") for d in (await session.execute(statement)).scalars()]


async def get_verification(session: AsyncSession, principal: Principal, verification_id: str) -> Verification:
    """A submission of the principal's tenant, or 404 (another tenant's id looks like a missing one)."""
    return await get_scoped(session, Verification, principal, verification_id)


async def images_of(session: AsyncSession, verification: Verification) -> list[VerificationImage]:
    """The submission's images still kept, in the order of the form."""
    statement = (
        select(VerificationImage)
        .where(
            VerificationImage.tenant_id == verification.tenant_id,
            VerificationImage.verification_id == verification.id,
        )
        .order_by(VerificationImage.position)
    )
    return list((await session.execute(statement)).scalars())


async def open_image(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    principal: Principal,
    verification: Verification,
    image_id: str,
) -> bytes:
    """Decrypt one image of the submission for the reviewer and write its 閲覧 entry (same transaction).

    Errors: 404 for an id not of this submission or an image row already deleted; ``ImageUnavailable`` for a
    void submission or a document deleted, lost (410) or damaged (409, ``app.documents.DocumentDamaged``).
    """
    image = await get_scoped(session, VerificationImage, principal, image_id)
    if image.verification_id != verification.id:
        raise NotFoundException()
    if await void_if_stale(session, vault, verification):
        raise ImageUnavailable(IMAGE_VOID, 410)
    try:
        _, data = await open_document(
            session, vault, store, tenant_id=verification.tenant_id, document_id=image.document_id
        )
    except DocumentDamaged as exc:
        raise ImageUnavailable(exc.message, 409) from None
    except DocumentGone as exc:
        raise ImageUnavailable(exc.message, 410) from None
    except LookupError:
        raise ImageUnavailable(DocumentGone.message, 410) from None
    person = await get_scoped(session, Person, principal, verification.person_id)
    await record(
        session,
        AuditEvent(
            tenant_id=verification.tenant_id,
            action=AuditAction.VIEW,
            actor=principal.actor(),
            function=FUNCTION_VIEW,
            subject=await _subject(session, person),
            detail={"verification_id": str(verification.id), "image": image.label},
        ),
    )
    return data


ALREADY_DECIDED = "この提出はすでに審査済みです。"


def _require_pending(verification: Verification) -> None:
    if verification.status is VerificationStatus.VOID:
        raise VerificationRefused(VOID_REFUSAL)
    if verification.status is not VerificationStatus.PENDING:
        raise VerificationRefused(ALREADY_DECIDED)


async def _decide(
    session: AsyncSession,
    principal: Principal,
    verification: Verification,
    status: VerificationStatus,
    now: dt.datetime,
    **values: Any,
) -> None:
    """Move a submission out of 審査中 with one conditional UPDATE, so two reviewers deciding at once cannot both
    win (the second finds it decided: ``VerificationRefused``); the object is refreshed from the row."""
    result = await session.execute(
        update(Verification)
        .where(
            Verification.tenant_id == verification.tenant_id,
            Verification.id == verification.id,
            Verification.status == VerificationStatus.PENDING,
        )
        .values(status=status, reviewed_at=now, reviewed_by=principal.name, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(verification)
        _require_pending(verification)
        raise VerificationRefused(ALREADY_DECIDED)
    await session.refresh(verification)
    await _note_expiry(session, verification)


async def _note_expiry(session: AsyncSession, verification: Verification) -> None:
    """Copy the submission's ``images_expire_at`` onto its images' document metadata (``document_blobs.expires_at``),
    so the stored documents say when they go (the purge still follows the submission)."""
    if verification.images_deleted_at is not None:
        return
    images = await images_of(session, verification)
    if images:
        await set_expiry(
            session,
            tenant_id=verification.tenant_id,
            document_ids=[image.document_id for image in images],
            expires_at=verification.images_expire_at,
        )


async def approve_verification(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    principal: Principal,
    verification: Verification,
    *,
    keep_days: int,
) -> VerificationRecord:
    """承認: write the verification record (checks the documents make, 画像, reviewer, time) for the person's live
    number; the images go now (``keep_days`` 0) or are due for deletion after ``keep_days`` days.

    Errors: ``VerificationRefused`` (already decided; void: the number it was made for was erased or replaced).
    """
    _require_pending(verification)
    if await void_if_stale(session, vault, verification):
        raise VerificationRefused(VOID_REFUSAL)
    person = await get_scoped(session, Person, principal, verification.person_id)
    number_id = await _live_number_id(session, vault, person)
    if number_id is None:
        raise VerificationRefused(
            "この方の番号が登録されていないため、承認できません。番号の登録後に確認してください。"
        )
    now = utcnow()
    kinds = [verification.number_document, *verification.identity_documents]
    number_checked, identity_checked = checks_of(kinds)
    entry = VerificationRecord(
        tenant_id=verification.tenant_id,
        person_id=person.id,
        number_id=number_id,
        number_checked=number_checked,
        identity_checked=identity_checked,
        document_kinds=kinds,
        method=VerificationMethod.IMAGE,
        reviewer_id=principal.account_id,
        reviewer_name=principal.name,
        verified_at=now,
        verification_id=verification.id,
    )
    await _decide(
        session,
        principal,
        verification,
        VerificationStatus.APPROVED,
        now,
        images_expire_at=now + dt.timedelta(days=keep_days),
    )
    session.add(entry)
    subject = await _subject(session, person)
    await session.flush()
    await record(
        session,
        AuditEvent(
            tenant_id=verification.tenant_id,
            action=AuditAction.VERIFICATION_APPROVE,
            actor=principal.actor(),
            function=FUNCTION_APPROVE,
            subject=subject,
            detail={
                "verification_id": str(verification.id),
                "documents": document_labels(kinds),
                "番号確認": number_checked,
                "身元確認": identity_checked,
            },
        ),
    )
    if keep_days == 0:
        await _delete_images(session, store, verification, principal.actor(), subject, FUNCTION_DELETE, now)
    return entry


async def reject_verification(
    session: AsyncSession,
    principal: Principal,
    verification: Verification,
    *,
    reason: str,
    note: str,
    vault: Vault | None = None,
) -> None:
    """差戻し with a reason from ``REJECT_REASONS`` and an optional note (shown to the employee); the images stay
    for ``REJECTED_KEEP_DAYS`` days or until the resubmission.

    With ``vault``, a submission whose number was erased or replaced is made void and refused.
    Errors: ``FormInvalid`` (no reason, a note refused by :func:`_free_note`), ``VerificationRefused``.
    """
    _require_pending(verification)
    if vault is not None and await void_if_stale(session, vault, verification):
        raise VerificationRefused(VOID_REFUSAL)
    note, problem = _free_note(note, "コメント")
    errors = {}
    if reason not in REJECT_REASONS:
        errors["reason"] = "差戻しの理由を選んでください。"
    if problem is not None:
        errors["note"] = problem
    elif reason == "other" and not note:
        errors["note"] = "「その他」のときは、直してほしい点をコメントに書いてください。"
    if errors:
        raise FormInvalid(errors)
    now = utcnow()
    await _decide(
        session,
        principal,
        verification,
        VerificationStatus.REJECTED,
        now,
        reject_reason=reason,
        reject_note=note,
        images_expire_at=now + dt.timedelta(days=REJECTED_KEEP_DAYS),
    )
    person = await get_scoped(session, Person, principal, verification.person_id)
    await record(
        session,
        AuditEvent(
            tenant_id=verification.tenant_id,
            action=AuditAction.VERIFICATION_REJECT,
            actor=principal.actor(),
            function=FUNCTION_REJECT,
            subject=await _subject(session, person),
            detail={"verification_id": str(verification.id), "reason": REJECT_REASONS[reason]},
        ),
    )


def _free_note(note: str, label: str) -> tuple[str, str | None]:
    """A comment or memo through the project's free-text rules (``app.text.clean_text``): line breaks become
    spaces, then emoji, control characters, bidi overrides and 外字 are refused; at most ``NOTE_MAX`` characters
    and no run of 12 digits or more (a number must not be written there). Returns (the text, the Japanese error
    naming ``label`` or None)."""
    try:
        text = clean_text(note.replace("\r\n", " ").replace("\r", " ").replace("\n", " "))
    except TextRejected as exc:
        return note, f"{label}{exc.message}"
    if len(text) > NOTE_MAX:
        return text, f"{label}は{NOTE_MAX}文字以内で入力してください。"
    if looks_like_number(text):
        return text, f"{label}に12桁以上の数字は書けません。マイナンバーは書かないでください。"
    return text, None


def reject_reason_label(verification: Verification) -> str:
    """The Japanese reason of a rejection ('' for others)."""
    return REJECT_REASONS.get(verification.reject_reason, "")


async def record_manual_check(
    session: AsyncSession,
    vault: Vault,
    principal: Principal,
    person: Person,
    *,
    method: str,
    number_document: str,
    identity_documents: list[str],
    note: str,
) -> VerificationRecord:
    """Record a check the admin made without images (対面: documents shown in person; 郵送: copies by post).

    The documents must make a 本人確認 by :func:`verification.documents.plan_documents`. Errors: ``FormInvalid``,
    ``VerificationRefused`` (no registered number).
    """
    errors: dict[str, str] = {}
    chosen = next((m for m in MANUAL_METHODS if m.value == method), None)
    if chosen is None:
        errors["method"] = "確認の方法（対面・郵送）を選んでください。"
    plan = None
    try:
        plan = plan_documents(number_document, identity_documents)
    except Exception as exc:  # DocumentChoiceInvalid
        errors["documents"] = getattr(exc, "message", "書類を選んでください。")
    note, problem = _free_note(note, "メモ")
    if problem is not None:
        errors["note"] = problem
    if errors:
        raise FormInvalid(errors)
    assert plan is not None and chosen is not None
    number_id = await _live_number_id(session, vault, person)
    if number_id is None:
        raise VerificationRefused("この方の番号が登録されていないため、記録できません。")
    kinds = [kind.code for kind in plan.kinds]
    number_checked, identity_checked = checks_of(kinds)
    entry = VerificationRecord(
        tenant_id=person.tenant_id,
        person_id=person.id,
        number_id=number_id,
        number_checked=number_checked,
        identity_checked=identity_checked,
        document_kinds=kinds,
        method=chosen,
        reviewer_id=principal.account_id,
        reviewer_name=principal.name,
        verified_at=utcnow(),
        note=note,
    )
    session.add(entry)
    await session.flush()
    await record(
        session,
        AuditEvent(
            tenant_id=person.tenant_id,
            action=AuditAction.VERIFICATION_APPROVE,
            actor=principal.actor(),
            function=FUNCTION_MANUAL,
            subject=await _subject(session, person),
            detail={"method": chosen.value, "documents": document_labels(kinds)},
        ),
    )
    return entry


def _live_records(tenant_id: uuid.UUID) -> Select[Any]:
    return (
        select(VerificationRecord)
        .join(
            VaultNumber,
            (VaultNumber.tenant_id == VerificationRecord.tenant_id) & (VaultNumber.id == VerificationRecord.number_id),
        )
        .where(VerificationRecord.tenant_id == tenant_id, VaultNumber.erased_at.is_(None))
    )


async def records_of(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID) -> list[VerificationRecord]:
    """The person's verification records for their live number, newest first (records of an erased number are
    never shown, even before the purge deletes them)."""
    statement = (
        _live_records(tenant_id)
        .where(VerificationRecord.person_id == person_id)
        .order_by(VerificationRecord.verified_at.desc())
    )
    return list((await session.execute(statement)).scalars())


# Deleting images and records ------------------------------------------------------------------------------------


async def _delete_images(
    session: AsyncSession,
    store: BlobStore,
    verification: Verification,
    actor: Actor,
    subject: Subject | None,
    function: str,
    now: dt.datetime,
) -> int:
    """Delete the submission's sealed images and their rows, mark it, and log one 削除 entry (none when none)."""
    images = await images_of(session, verification)
    verification.images_deleted_at = verification.images_deleted_at or now
    if not images:
        return 0
    await delete_documents(
        session, store, tenant_id=verification.tenant_id, document_ids=[image.document_id for image in images]
    )
    await session.execute(
        delete(VerificationImage).where(
            VerificationImage.tenant_id == verification.tenant_id,
            VerificationImage.verification_id == verification.id,
        )
    )
    await record(
        session,
        AuditEvent(
            tenant_id=verification.tenant_id,
            action=AuditAction.DELETE,
            actor=actor,
            function=function,
            subject=subject,
            detail={"verification_id": str(verification.id), "images": len(images)},
        ),
    )
    return len(images)


async def purge_verification_images(session: AsyncSession, store: BlobStore, now: dt.datetime) -> int:
    """Delete the images of every submission whose keeping time has passed (approved + ``verification_keep_days``,
    rejected + ``REJECTED_KEEP_DAYS``), ``PURGE_BATCH`` submissions a call, each logged as 自動削除 by the system.

    Returns how many submissions were purged (call again while it returns ``PURGE_BATCH``). The caller commits.
    """
    statement = (
        select(Verification)
        .where(Verification.images_expire_at <= now, Verification.images_deleted_at.is_(None))
        .order_by(Verification.images_expire_at)
        .limit(PURGE_BATCH)
    )
    due = list((await session.execute(statement)).scalars())
    actor = Actor.system("verification-purge")
    for verification in due:
        person = (
            await session.execute(
                select(Person).where(Person.tenant_id == verification.tenant_id, Person.id == verification.person_id)
            )
        ).scalar_one_or_none()
        subject = await _subject(session, person) if person is not None else None
        await _delete_images(session, store, verification, actor, subject, FUNCTION_AUTO_DELETE, now)
    await session.flush()
    return len(due)


async def void_stale_submissions(session: AsyncSession, now: dt.datetime) -> int:
    """Make 無効 up to ``PURGE_BATCH`` submissions awaiting review or resubmission whose person has no live My Number
    registered before the submission (erased, or replaced: :func:`submission_is_stale`), in any tenant; their
    images become due for :func:`purge_verification_images` at once. Returns how many. The caller commits."""
    kept_number = (
        select(VaultNumber.id)
        .where(
            VaultNumber.tenant_id == Verification.tenant_id,
            VaultNumber.subject_id == Verification.person_id,
            VaultNumber.field == NumberField.MY_NUMBER,
            VaultNumber.erased_at.is_(None),
            VaultNumber.registered_at <= Verification.submitted_at,
        )
        .exists()
    )
    statement = select(Verification).where(Verification.status.in_(OPEN_STATUSES), ~kept_number).limit(PURGE_BATCH)
    stale = list((await session.execute(statement)).scalars())
    for verification in stale:
        await _mark_void(session, verification, now)
    return len(stale)


async def purge_verification_records(session: AsyncSession) -> int:
    """Delete verification records whose number was erased (or replaced): a record is kept as long as the
    number it verified. ``PURGE_BATCH`` records a call; returns how many. Each tenant's count is logged
    (``app.retention.log_removals``) in the same transaction. The caller commits."""
    statement = (
        select(VerificationRecord.tenant_id, VerificationRecord.id)
        .outerjoin(
            VaultNumber,
            (VaultNumber.tenant_id == VerificationRecord.tenant_id) & (VaultNumber.id == VerificationRecord.number_id),
        )
        .where((VaultNumber.id.is_(None)) | (VaultNumber.erased_at.is_not(None)))
        .limit(PURGE_BATCH)
    )
    rows = (await session.execute(statement)).all()
    removed: Counter[uuid.UUID | None] = Counter()
    for tenant_id, record_id in rows:
        await session.execute(
            delete(VerificationRecord).where(
                VerificationRecord.tenant_id == tenant_id, VerificationRecord.id == record_id
            )
        )
        removed[tenant_id] += 1
    await log_removals(session, RECORDS_KIND, RECORDS_LABEL, dict(removed))
    return len(rows)


def maintenance_step(settings: Settings) -> Callable[[async_sessionmaker[AsyncSession]], Awaitable[int]]:
    """The periodic maintenance's step (``app.vault.periodic``) and ``mnvault purge``'s: purge due images, records of
    erased numbers and documents whose key an erasure destroyed (``app.documents.purge_unopenable``: frees their
    space), batch by batch, each batch in its own transaction. Returns a step function; it returns how many."""
    stores: list[BlobStore] = []

    async def purge_verification(sessions: async_sessionmaker[AsyncSession]) -> int:
        if not stores:
            stores.append(blob_store_from_settings(settings))
        total = 0
        while True:
            async with sessions() as session:
                voided = await void_stale_submissions(session, utcnow())
                images = await purge_verification_images(session, stores[0], utcnow())
                records = await purge_verification_records(session)
                unopenable = await purge_unopenable(session, stores[0], limit=PURGE_BATCH)
                await session.commit()
            total += voided + images + records + unopenable
            if max(voided, images, records, unopenable) < PURGE_BATCH:
                return total

    return purge_verification


__all__ = [
    "APPROVAL_OUTDATED",
    "CHOSEN_SUFFIX",
    "DOCUMENT_KIND",
    "MANUAL_METHODS",
    "OPEN_STATUSES",
    "QUEUE_PER_PAGE",
    "REJECTED_KEEP_DAYS",
    "REJECT_REASONS",
    "STATUS_CHOICES",
    "VOID_MESSAGE",
    "ImageUnavailable",
    "QueueFilters",
    "QueuePage",
    "QueueRow",
    "QuotaRefused",
    "StorageUse",
    "Submitter",
    "VerificationRefused",
    "approval_is_current",
    "approve_verification",
    "clean_images",
    "department_choices",
    "get_verification",
    "images_of",
    "last_quota_refusal",
    "latest_submission",
    "maintenance_step",
    "open_image",
    "own_person",
    "purge_verification_images",
    "purge_verification_records",
    "queue_page",
    "record_manual_check",
    "record_quota_refusal",
    "records_of",
    "reject_reason_label",
    "reject_verification",
    "set_verification_enabled",
    "storage_notice",
    "storage_use",
    "submission_is_stale",
    "submit_verification",
    "submitter_of",
    "verification_enabled",
    "void_if_stale",
    "void_stale_submissions",
]
