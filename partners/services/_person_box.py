"""The confidential 個人ボックス of a person of a client (seed 002: 機密, at most 10 files per person), sealed under the
person's document key (app.documents) so that erasing their My Number makes the files unopenable.

Who: only principals for whom ``may_open_confidential`` holds see a box at all (others are told it does not exist:
404); of those, client admins and handlers (a 社労士事務所's staff member inside a client works as a handler only
through a link with the power 番号の取扱い) keep and delete files, viewers only open them. Every keep, open and
delete writes its audit entry (個人ボックス保管 / 閲覧 / 削除) with the person as its subject, in the same transaction.

A replaced or erased My Number destroys the person's document key (``Vault.erase``): the ID images and the box
files sealed under it become unopenable together; the list shows them as such and they can still be deleted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditEvent, Subject
from app.audit.guard import looks_like_number
from app.audit.log import record
from app.auth.models import Role
from app.auth.principal import Principal
from app.blobs import BlobStore
from app.config import Settings
from app.documents import BOX_KIND, DocumentBlob, DocumentGone, delete_documents, open_document, store_document
from app.vault import Vault
from app.vault.models import DocumentKey
from partners.filecheck import check_file
from partners.models import LinkSide, PersonBoxFile
from partners.services._access import may_open_confidential
from tenants.models import Department, Person
from tenants.services import person_subject

DOCUMENT_KIND = BOX_KIND  # app.documents kind of a box file (never an ID image: verification reads its own ids)
FUNCTION = "個人ボックス"
UNOPENABLE = "番号の削除により開けません"
NOTE_MAX = 200
_CHANGERS = frozenset({Role.ADMIN, Role.HANDLER})


class PersonBoxFull(Exception):
    """The person already keeps ``limit`` files; ``message`` is the Japanese sentence for the user."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.message = (
            f"個人ボックスに保管できるのは1人{limit}件までです。不要なファイルを削除してから保管してください。"
        )
        super().__init__(self.message)


class BoxNoteInvalid(ValueError):
    """The note is too long or looks like a My Number; ``message`` says what to fix."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class BoxRow:
    """One file of a person's box as the list shows it (``openable`` False once the number's erasure destroyed its
    key or its document is gone)."""

    file: PersonBoxFile
    openable: bool

    @property
    def state(self) -> str:
        return "" if self.openable else UNOPENABLE


def may_see_boxes(principal: Principal) -> bool:
    """Whether the principal sees 個人ボックス at all (機密: ``may_open_confidential``) and is staff of a company."""
    return principal.role in (Role.ADMIN, Role.HANDLER, Role.VIEWER) and may_open_confidential(principal)


def may_change_boxes(principal: Principal) -> bool:
    """Whether the principal keeps and deletes box files: an admin or handler (a partner's staff member inside the
    client through a 番号の取扱い link) who may open 機密 files."""
    return principal.role in _CHANGERS and may_open_confidential(principal)


def _require_seeing(principal: Principal) -> None:
    if not may_see_boxes(principal):
        raise LookupError("no 個人ボックス for this principal")  # 機密: told nothing exists (404)


def _require_changing(principal: Principal) -> None:
    _require_seeing(principal)
    if not may_change_boxes(principal):
        raise PermissionError("this principal may only open 個人ボックス files")


async def box_person(session: AsyncSession, principal: Principal, person_id: uuid.UUID | str) -> Person:
    """The person of the principal's tenant whose box is asked for; LookupError (404) for another tenant's id, a
    malformed id, or a principal who may not see boxes."""
    _require_seeing(principal)
    key = _uuid(person_id)
    statement = select(Person).where(Person.tenant_id == principal.tenant_id, Person.id == key)
    person = (await session.execute(statement)).scalar_one_or_none()
    if person is None:
        raise LookupError(str(person_id))
    return person


async def list_person_box(session: AsyncSession, principal: Principal, person: Person) -> list[BoxRow]:
    """The person's box files, newest first (at most ``person_box_limit`` rows: one index range), each with whether
    it can still be opened (its document row exists and its key was not destroyed)."""
    _require_seeing(principal)
    statement = (
        select(PersonBoxFile, DocumentBlob.id, DocumentKey.destroyed_at)
        .outerjoin(
            DocumentBlob,
            (DocumentBlob.tenant_id == PersonBoxFile.tenant_id) & (DocumentBlob.id == PersonBoxFile.document_id),
        )
        .outerjoin(
            DocumentKey, (DocumentKey.tenant_id == DocumentBlob.tenant_id) & (DocumentKey.id == DocumentBlob.key_id)
        )
        .where(PersonBoxFile.tenant_id == principal.tenant_id, PersonBoxFile.person_id == person.id)
        .order_by(PersonBoxFile.created_at.desc(), PersonBoxFile.id.desc())
        .limit(1000)
    )
    rows = (await session.execute(statement)).all()
    return [BoxRow(file=row[0], openable=row[1] is not None and row[2] is None) for row in rows]


async def keep_in_person_box(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    settings: Settings,
    principal: Principal,
    *,
    person_id: uuid.UUID,
    file_name: str,
    data: bytes,
    note: str = "",
) -> PersonBoxFile:
    """Keep ``data`` (checked by ``partners.filecheck.check_file`` inside) in the person's box of the principal's
    tenant, with its 個人ボックス保管 audit entry, in the caller's transaction.

    Raises LookupError when the person is not in the principal's tenant (callers answer 404), PermissionError when
    the principal may not use boxes, PersonBoxFull, partners.filecheck.FileRefused, app.documents.QuotaExceeded,
    BoxNoteInvalid (a note too long or carrying 12 digits or more).
    """
    if not may_change_boxes(principal):
        raise PermissionError("this principal may not keep files in 個人ボックス")
    cleaned_note = _checked_note(note)
    checked = check_file(file_name, data, max_bytes=settings.exchange_max_file_bytes)
    # Locked on PostgreSQL until commit: two uploads at once for one person are counted one after the other.
    statement = select(Person).where(Person.tenant_id == principal.tenant_id, Person.id == person_id).with_for_update()
    person = (await session.execute(statement)).scalar_one_or_none()
    if person is None:
        raise LookupError(str(person_id))
    kept = await session.execute(
        select(func.count())
        .select_from(PersonBoxFile)
        .where(PersonBoxFile.tenant_id == principal.tenant_id, PersonBoxFile.person_id == person.id)
    )
    if int(kept.scalar_one()) >= settings.person_box_limit:
        raise PersonBoxFull(settings.person_box_limit)
    document = await store_document(
        session,
        vault,
        store,
        tenant_id=principal.tenant_id,
        person_id=person.id,
        kind=DOCUMENT_KIND,
        data=checked.data,
        quota_bytes=settings.verification_quota_bytes,
    )
    box_file = PersonBoxFile(
        tenant_id=principal.tenant_id,
        person_id=person.id,
        document_id=document.id,
        file_name=checked.name,
        content_type=checked.content_type,
        size=checked.size,
        note=cleaned_note,
        uploaded_by_side=LinkSide.PARTNER if principal.partner is not None else LinkSide.CLIENT,
        uploaded_by_name=principal.actor().name[:100],
    )
    session.add(box_file)
    await session.flush()
    await _log(session, principal, person, AuditAction.BOX_STORE, box_file)
    return box_file


async def open_box_file(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    principal: Principal,
    person: Person,
    file_id: uuid.UUID | str,
) -> tuple[PersonBoxFile, bytes]:
    """The file and its clear bytes (keep them in memory), with the 個人ボックス閲覧 entry.

    LookupError (404) for a file not of this person of the principal's tenant; app.documents.DocumentGone when it
    can no longer be opened (the person's number was erased, or its document is gone)."""
    box_file = await _box_file(session, principal, person, file_id)
    try:
        _, clear = await open_document(
            session, vault, store, tenant_id=principal.tenant_id, document_id=box_file.document_id
        )
    except LookupError:
        raise DocumentGone(str(box_file.id)) from None
    await _log(session, principal, person, AuditAction.BOX_OPEN, box_file)
    return box_file, clear


async def delete_box_file(
    session: AsyncSession, store: BlobStore, principal: Principal, person: Person, file_id: uuid.UUID | str
) -> PersonBoxFile:
    """Delete the file (its row and sealed document, openable or not) with the 個人ボックス削除 entry.

    LookupError (404) outside the person's box; PermissionError for a principal who may only open files."""
    _require_changing(principal)
    box_file = await _box_file(session, principal, person, file_id)
    await delete_documents(session, store, tenant_id=principal.tenant_id, document_ids=[box_file.document_id])
    await session.execute(
        delete(PersonBoxFile).where(PersonBoxFile.tenant_id == principal.tenant_id, PersonBoxFile.id == box_file.id)
    )
    await _log(session, principal, person, AuditAction.BOX_DELETE, box_file)
    return box_file


async def _box_file(
    session: AsyncSession, principal: Principal, person: Person, file_id: uuid.UUID | str
) -> PersonBoxFile:
    _require_seeing(principal)
    statement = select(PersonBoxFile).where(
        PersonBoxFile.tenant_id == principal.tenant_id,
        PersonBoxFile.person_id == person.id,
        PersonBoxFile.id == _uuid(file_id),
    )
    box_file = (await session.execute(statement)).scalar_one_or_none()
    if box_file is None:
        raise LookupError(str(file_id))
    return box_file


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except ValueError:
        raise LookupError(value) from None


def _checked_note(note: str) -> str:
    cleaned = " ".join((note or "").split())
    if len(cleaned) > NOTE_MAX:
        raise BoxNoteInvalid(f"内容は{NOTE_MAX}文字以内で入力してください（いま{len(cleaned)}文字です）。")
    if looks_like_number(cleaned):  # grouped (1234 5678 9012), hyphenated or in kanji too: the note is kept in clear
        raise BoxNoteInvalid("内容に12桁以上の数字は入力できません。マイナンバーはこの欄に入力しないでください。")
    return cleaned


async def _subject(session: AsyncSession, person: Person) -> Subject:
    employee = None
    if person.employee_id is not None:
        statement = select(Person).where(Person.tenant_id == person.tenant_id, Person.id == person.employee_id)
        employee = (await session.execute(statement)).scalar_one_or_none()
    owner = employee or person
    department = None
    if owner.department_id is not None:
        statement_d = select(Department).where(
            Department.tenant_id == person.tenant_id, Department.id == owner.department_id
        )
        department = (await session.execute(statement_d)).scalar_one_or_none()
    return person_subject(person, employee, department)


async def _log(
    session: AsyncSession, principal: Principal, person: Person, action: AuditAction, box_file: PersonBoxFile
) -> None:
    detail = {"file_id": str(box_file.id), "file_name": box_file.file_name, "size": box_file.size}
    await record(
        session,
        AuditEvent(
            tenant_id=principal.tenant_id,
            action=action,
            actor=principal.actor(),
            function=FUNCTION,
            subject=await _subject(session, person),
            detail=detail,
        ),
    )
