"""Published documents (定型文書, seed 000: 事業所マイページ(顧問先)に公開するお客様独自のオリジナル定型文書の管理;
issue 15): an office publishes files to all its clients or chosen ones; the clients read and download them.

The office's admins publish, replace, re-address and delete (at most ``MAX_DOCUMENTS`` per office, each up to
``MNV_PARTNER_DOCUMENT_MAX_BYTES``, checked like exchanged files by ``partners.filecheck``); its staff may read the
list. The bytes are sealed under the OFFICE's key (owner = the document's id) in the blob store; replacing the file
gives the document a new id (a new blob under a new key), so a rolled-back replacement never loses the old bytes.

A client's admins, handlers and viewers see the documents of every office with an ACTIVE link to it whose audience
is ALL, or CHOSEN with the client among the chosen (one statement every query starts from, ``_visible_to``); an ended
link hides them at once. An office's staff member working inside a client has no documents page there (404).
Publishing, changing and deleting are logged in the office's log; a client's download in the client's log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy import Select, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditEvent, Subject
from app.audit.log import record
from app.auth.models import Role
from app.auth.principal import Principal
from app.blobs import BlobMissing, BlobStore
from app.config import Settings
from app.db import new_id, utcnow
from app.documents import count_usage, remember_put
from app.forms import Checker, FormInvalid
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.vault import Vault, VaultIntegrityError
from partners.filecheck import CheckedFile, FileRefused, check_file
from partners.models import (
    DocumentAudience,
    LinkStatus,
    PartnerDocument,
    PartnerDocumentClient,
    PartnerLink,
    partner_document_blob_key,
)
from partners.services._links import linked_clients_by_code, split_codes

AREA: Final = "partner-documents"  # the office's row of storage_usage counting its documents' sealed bytes
SEAL_PURPOSE: Final = "partner-document"
FUNCTION: Final = "定型文書"
MAX_DOCUMENTS: Final = 100  # per office (issue 15)
TITLE_MAX: Final = 100
DESCRIPTION_MAX: Final = 1000
NOTICE_DAYS: Final = 7  # without a previous sign-in, the client's home tells of documents this recent
NOTICE_CAP: Final = 100  # the notice reads at most this many rows
CLIENT_ROLES: Final = frozenset({Role.ADMIN, Role.HANDLER, Role.VIEWER})
AUDIENCE_CHOICES: Final = {audience.value: audience.label for audience in DocumentAudience}
# The client's list across its offices: each office has at most MAX_DOCUMENTS; offices beyond this many are rare.
CLIENT_LIST_CAP: Final = 1000
CHOICES_SHOWN: Final = 50  # checkboxes of 選んだ顧問先 (the others are chosen by 事業者コード)
CHOSEN_MAX: Final = 5000  # clients chosen for one document (beyond that: すべての顧問先)


class DocumentGone(Exception):
    """The document's row exists but its bytes cannot be opened (lost from the store or damaged)."""

    message = "この書類は保存先から失われたか破損しているため、ダウンロードできません。事務所にお問い合わせください。"


@dataclass(frozen=True, slots=True)
class DocumentForm:
    """The publish / change form: ``file`` (name, bytes) is required to publish, optional to change."""

    title: str = ""
    description: str = ""
    audience: str = DocumentAudience.ALL.value
    client_ids: Sequence[str] = ()
    client_codes: str = ""  # 事業者コード typed one a line or comma-separated (any client, not only those shown)
    file: tuple[str, bytes] | None = None


@dataclass(frozen=True, slots=True)
class OfficeDocumentRow:
    """A document in the office's list with the number of chosen clients (0 for ALL)."""

    document: PartnerDocument
    chosen: int

    @property
    def audience_label(self) -> str:
        if self.document.audience is DocumentAudience.ALL:
            return self.document.audience.label
        return f"{self.document.audience.label}（{self.chosen}社）"


@dataclass(frozen=True, slots=True)
class ClientDocumentRow:
    """A document a client may read, with its office."""

    document: PartnerDocument
    office_name: str
    office_id: uuid.UUID


@dataclass(slots=True)
class _Checked:
    title: str
    description: str
    audience: DocumentAudience
    client_ids: set[uuid.UUID] = field(default_factory=set)
    file: CheckedFile | None = None


# Who ------------------------------------------------------------------------------------------------------------


def _office_of(principal: Principal, *, admin: bool) -> uuid.UUID:
    """The office of a staff member at the office; ``admin``: only its admins (others: PermissionDeniedException)."""
    if (
        principal.partner is not None
        or principal.tenant_kind is not TenantKind.PARTNER
        or not principal.role.is_partner
    ):
        raise NotFoundException()
    if admin and principal.role is not Role.PARTNER_ADMIN:
        raise PermissionDeniedException()
    return principal.tenant_id


def _client_of(principal: Principal) -> uuid.UUID:
    """The client company of its admin, handler or viewer; a staff member inside a client: NotFoundException."""
    if principal.partner is not None:
        raise NotFoundException()
    if principal.tenant_kind is not TenantKind.COMPANY or principal.role not in CLIENT_ROLES:
        raise PermissionDeniedException()
    return principal.tenant_id


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFoundException() from None


# The office's side ----------------------------------------------------------------------------------------------


async def office_documents(session: AsyncSession, principal: Principal) -> list[OfficeDocumentRow]:
    """The office's documents, oldest first (their No), with the number of chosen clients of each (at most
    ``MAX_DOCUMENTS``; one range of the office's created_at index and one of its chosen rows)."""
    office_id = _office_of(principal, admin=False)
    documents = (
        await session.execute(
            select(PartnerDocument)
            .where(PartnerDocument.tenant_id == office_id)
            .order_by(PartnerDocument.created_at, PartnerDocument.id)
            .limit(MAX_DOCUMENTS)
        )
    ).scalars()
    chosen_counts = await session.execute(
        select(PartnerDocumentClient.document_id, func.count())
        .where(PartnerDocumentClient.tenant_id == office_id)
        .group_by(PartnerDocumentClient.document_id)
    )
    counts = {document_id: int(count) for document_id, count in chosen_counts.all()}
    return [OfficeDocumentRow(document, int(counts.get(document.id, 0))) for document in documents]


async def get_office_document(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID | str
) -> PartnerDocument:
    """One document of the principal's office, or NotFoundException (another office's, or none)."""
    office_id = _office_of(principal, admin=False)
    document = await session.get(PartnerDocument, (office_id, _uuid(document_id)))
    if document is None:
        raise NotFoundException()
    return document


async def chosen_clients(session: AsyncSession, document: PartnerDocument) -> set[uuid.UUID]:
    """The clients chosen for a document (empty for ALL)."""
    rows = await session.execute(
        select(PartnerDocumentClient.client_id).where(
            PartnerDocumentClient.tenant_id == document.tenant_id, PartnerDocumentClient.document_id == document.id
        )
    )
    return set(rows.scalars())


@dataclass(frozen=True, slots=True)
class AudienceChoices:
    """The 選んだ顧問先 field: checkboxes for the first ``CHOICES_SHOWN`` ACTIVE clients by name, and the codes of
    chosen clients beyond them (for the codes box), so an office with any number of clients can reach each."""

    shown: list[Tenant]
    more: bool  # clients beyond the checkboxes (choose them by code)
    other_codes: list[str]


async def audience_clients(
    session: AsyncSession, principal: Principal, chosen: Iterable[uuid.UUID] = ()
) -> AudienceChoices:
    """The office's ACTIVE clients by name for the checkboxes (at most ``CHOICES_SHOWN``, one range of the office's
    links) and the codes of the ``chosen`` ones not among them."""
    office_id = _office_of(principal, admin=False)
    linked = select(PartnerLink.tenant_id).where(
        PartnerLink.partner_id == office_id, PartnerLink.status == LinkStatus.ACTIVE
    )
    statement = select(Tenant).where(Tenant.id.in_(linked)).order_by(Tenant.name, Tenant.id).limit(CHOICES_SHOWN + 1)
    found = list((await session.execute(statement)).scalars())
    shown = found[:CHOICES_SHOWN]
    beyond = sorted(set(chosen) - {client.id for client in shown})
    codes: list[str] = []
    for start in range(0, len(beyond), 500):
        rows = await session.execute(
            select(Tenant.code).where(Tenant.id.in_(beyond[start : start + 500]), Tenant.id.in_(linked))
        )
        codes.extend(rows.scalars())
    return AudienceChoices(shown, len(found) > CHOICES_SHOWN, sorted(codes))


async def _check_form(
    session: AsyncSession, office_id: uuid.UUID, settings: Settings, form: DocumentForm, *, file_required: bool
) -> _Checked:
    """Every field checked before anything is written; FormInvalid naming each field to fix."""
    check = Checker()
    title = check.text("title", form.title, "名称", required=True, max_length=TITLE_MAX, kept_in_clear=True)
    description = check.text(
        "description", form.description, "解説", max_length=DESCRIPTION_MAX, multiline=True, kept_in_clear=True
    )
    audience_value = check.choice("audience", form.audience, "公開先", AUDIENCE_CHOICES)
    audience = DocumentAudience(audience_value) if audience_value in AUDIENCE_CHOICES else DocumentAudience.ALL
    chosen: set[uuid.UUID] = set()
    if audience is DocumentAudience.CHOSEN:
        chosen = await _chosen_ids(session, office_id, form.client_ids, form.client_codes, check)
    checked_file: CheckedFile | None = None
    name, data = form.file or ("", b"")
    if name or data:
        try:
            checked_file = check_file(name, data, max_bytes=settings.partner_document_max_bytes)
        except FileRefused as exc:
            check.fail("file", exc.message.replace("送信", "公開").replace("送れません", "公開できません"))
    elif file_required:
        check.fail("file", "公開するファイルを選んでください。")
    check.done()
    return _Checked(title, description, audience, chosen, checked_file)


async def _chosen_ids(
    session: AsyncSession, office_id: uuid.UUID, values: Sequence[str], typed_codes: str, check: Checker
) -> set[uuid.UUID]:
    """The chosen clients, ticked (ids) or typed (事業者コード): each must be an ACTIVE client of the office; at
    least one, at most ``CHOSEN_MAX``. A typed code that is not one is named back, nothing said about it."""
    ids: set[uuid.UUID] = set()
    for value in values:
        try:
            ids.add(uuid.UUID(str(value)))
        except ValueError:
            check.fail("client_ids", "公開先の顧問先は一覧から選んでください。")
            return set()
    codes = split_codes(typed_codes)
    if len(ids) + len(codes) > CHOSEN_MAX:
        check.fail(
            "client_ids",
            f"一度に選べる顧問先は{CHOSEN_MAX:,}社までです。すべての顧問先に公開するときは「すべての顧問先」を選んでください。",
        )
        return set()
    if codes:
        found, missing = await linked_clients_by_code(session, office_id, codes)
        if missing:
            shown = "、".join(missing[:10]) + (f" ほか{len(missing) - 10}件" if len(missing) > 10 else "")
            check.fail("client_codes", f"次の事業者コードは連携中の顧問先ではありません: {shown}")
            return set()
        ids.update(client.id for client in found.values())
    if not ids:
        check.fail(
            "client_ids",
            "「選んだ顧問先」に公開するときは、公開先の顧問先を1社以上選んでください（チェックまたは事業者コード）。",
        )
        return set()
    active: set[uuid.UUID] = set()
    listed = sorted(ids)
    for start in range(0, len(listed), 500):
        rows = await session.execute(
            select(PartnerLink.tenant_id).where(
                PartnerLink.partner_id == office_id,
                PartnerLink.status == LinkStatus.ACTIVE,
                PartnerLink.tenant_id.in_(listed[start : start + 500]),
            )
        )
        active.update(rows.scalars())
    if ids - active:
        check.fail("client_ids", "連携が終了した顧問先が含まれています。一覧を開き直して選び直してください。")
    return ids


async def _seal_and_put(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    office_id: uuid.UUID,
    document_id: uuid.UUID,
    file: CheckedFile,
) -> bytes:
    """Seal under the office's key and put in the blob store (deleted again if the transaction rolls back)."""
    token = await vault.seal_secret(session, office_id, document_id, SEAL_PURPOSE, file.data)
    key = partner_document_blob_key(office_id, document_id)
    remember_put(session, store, key)
    await store.put(key, token)
    return token


async def _refuse_over_limit(session: AsyncSession, office_id: uuid.UUID) -> None:
    """Count the new document (row-locking the office's counter, so two publishes are checked one after the
    other), then refuse when the office already has ``MAX_DOCUMENTS``."""
    await count_usage(session, office_id, 0, 1, None, area=AREA)
    existing = (
        await session.execute(
            select(PartnerDocument.id).where(PartnerDocument.tenant_id == office_id).limit(MAX_DOCUMENTS)
        )
    ).all()
    if len(existing) >= MAX_DOCUMENTS:
        raise FormInvalid(
            {"file": f"公開できる書類は1事務所{MAX_DOCUMENTS}件までです。不要な書類を削除してから公開してください。"}
        )


async def publish_document(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    settings: Settings,
    principal: Principal,
    form: DocumentForm,
) -> PartnerDocument:
    """Publish a document (an office admin), in the caller's transaction: checked, sealed, put, written with its
    chosen clients and the 文書公開 entry in the office's log.

    FormInvalid (nothing written; the caller rolls back, which deletes the put blob): a field to fix, a refused
    file, the office's ``MAX_DOCUMENTS``. Not an office admin: PermissionDeniedException / NotFoundException.
    """
    office_id = _office_of(principal, admin=True)
    checked = await _check_form(session, office_id, settings, form, file_required=True)
    file = checked.file
    assert file is not None  # file_required
    await _refuse_over_limit(session, office_id)
    document_id = new_id()
    token = await _seal_and_put(session, vault, store, office_id, document_id, file)
    await count_usage(session, office_id, len(token), 0, None, area=AREA)
    now = utcnow()
    document = PartnerDocument(
        tenant_id=office_id,
        id=document_id,
        title=checked.title,
        description=checked.description,
        audience=checked.audience,
        published_by_name=principal.name,
        created_at=now,
        updated_at=now,
        **_file_columns(file, token),
    )
    session.add(document)
    await session.flush()
    await _set_chosen(session, document, checked.client_ids)
    await _log_office(session, principal, AuditAction.DOCUMENT_PUBLISH, document, "document_published")
    return document


def _file_columns(file: CheckedFile, token: bytes) -> dict[str, Any]:
    return {
        "file_name": file.name,
        "content_type": file.content_type,
        "size": file.size,
        "sealed_size": len(token),
        "sha256": hashlib.sha256(token).hexdigest(),
    }


async def _set_chosen(session: AsyncSession, document: PartnerDocument, client_ids: set[uuid.UUID]) -> None:
    """Replace the document's chosen clients (none for ALL)."""
    await session.execute(
        delete(PartnerDocumentClient)
        .where(PartnerDocumentClient.tenant_id == document.tenant_id, PartnerDocumentClient.document_id == document.id)
        .execution_options(synchronize_session=False)
    )
    if document.audience is DocumentAudience.CHOSEN:
        session.add_all(
            PartnerDocumentClient(tenant_id=document.tenant_id, document_id=document.id, client_id=client_id)
            for client_id in sorted(client_ids)
        )
    await session.flush()


async def update_document(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    settings: Settings,
    principal: Principal,
    document: PartnerDocument,
    form: DocumentForm,
) -> PartnerDocument:
    """Change a document's name, description and audience, and replace its file when one is given (an office admin);
    its 更新日 moves, so clients are told of it again. Returns the document: a new row (new id, same No) when the file
    was replaced — the old row and blob are deleted — else the same row. FormInvalid as :func:`publish_document`."""
    office_id = _office_of(principal, admin=True)
    if document.tenant_id != office_id:
        raise NotFoundException()
    checked = await _check_form(session, office_id, settings, form, file_required=False)
    now = utcnow()
    target = document
    if checked.file is not None:
        target = await _replace_file(session, vault, store, document, checked.file, now)
    target.title, target.description, target.audience = checked.title, checked.description, checked.audience
    target.published_by_name, target.updated_at = principal.name, now
    await session.flush()
    await _set_chosen(session, target, checked.client_ids)
    event = "document_replaced" if target is not document else "document_changed"
    await _log_office(session, principal, AuditAction.DOCUMENT_PUBLISH, target, event)
    return target


async def _replace_file(
    session: AsyncSession,
    vault: Vault,
    store: BlobStore,
    document: PartnerDocument,
    file: CheckedFile,
    now: dt.datetime,
) -> PartnerDocument:
    """The document under a new id with the new file (keeping its place in the list); the old one removed."""
    office_id = document.tenant_id
    new_document_id = new_id()
    token = await _seal_and_put(session, vault, store, office_id, new_document_id, file)
    await count_usage(session, office_id, len(token) - document.sealed_size, 0, None, area=AREA)
    replacement = PartnerDocument(
        tenant_id=office_id,
        id=new_document_id,
        title=document.title,
        description=document.description,
        audience=document.audience,
        published_by_name=document.published_by_name,
        created_at=document.created_at,
        updated_at=now,
        **_file_columns(file, token),
    )
    await _remove_rows(session, document)
    await store.delete(partner_document_blob_key(office_id, document.id))
    session.add(replacement)
    await session.flush()
    return replacement


async def _remove_rows(session: AsyncSession, document: PartnerDocument) -> None:
    await session.execute(
        delete(PartnerDocumentClient)
        .where(PartnerDocumentClient.tenant_id == document.tenant_id, PartnerDocumentClient.document_id == document.id)
        .execution_options(synchronize_session=False)
    )
    await session.delete(document)
    await session.flush()


async def delete_document(
    session: AsyncSession, store: BlobStore, principal: Principal, document: PartnerDocument
) -> None:
    """Delete a document (an office admin): its blob at once, its rows and counted bytes in the caller's
    transaction, with the 文書削除 entry in the office's log. Clients no longer see it."""
    office_id = _office_of(principal, admin=True)
    if document.tenant_id != office_id:
        raise NotFoundException()
    await _log_office(session, principal, AuditAction.DOCUMENT_DELETE, document, "document_deleted")
    await count_usage(session, office_id, -document.sealed_size, -1, None, area=AREA)
    await _remove_rows(session, document)
    await store.delete(partner_document_blob_key(office_id, document.id))


async def download_office_document(
    session: AsyncSession, vault: Vault, store: BlobStore, principal: Principal, document_id: uuid.UUID | str
) -> tuple[PartnerDocument, bytes]:
    """A document of the principal's office and its clear bytes (its staff check what they publish); FILE_DOWNLOAD
    in the office's log. NotFoundException as :func:`get_office_document`; DocumentGone."""
    document = await get_office_document(session, principal, document_id)
    data = await _open(session, vault, store, document)
    await _log_office(session, principal, AuditAction.FILE_DOWNLOAD, document, "document_downloaded")
    return document, data


async def _log_office(
    session: AsyncSession, principal: Principal, action: AuditAction, document: PartnerDocument, event: str
) -> None:
    await _log(session, principal, document.tenant_id, action, document, event)


async def _log(
    session: AsyncSession,
    principal: Principal,
    tenant_id: uuid.UUID,
    action: AuditAction,
    document: PartnerDocument,
    event: str,
    office_name: str = "",
) -> None:
    """One entry in ``tenant_id``'s log (the office's, or the client's for its downloads); the title is the subject."""
    detail: dict[str, Any] = {
        "event": event,
        "document_id": str(document.id),
        "name": document.file_name,
        "size": document.size,
        "audience": document.audience.value,
    }
    if office_name:
        detail["tenant_id"], detail["tenant_name"] = str(document.tenant_id), office_name
    await record(
        session,
        AuditEvent(
            tenant_id=tenant_id,
            action=action,
            actor=principal.actor(),
            function=FUNCTION,
            subject=Subject(person_id=None, name=f"書類: {document.title}"),
            detail=detail,
        ),
    )


async def _open(session: AsyncSession, vault: Vault, store: BlobStore, document: PartnerDocument) -> bytes:
    """The document's clear bytes; DocumentGone when its blob is missing or fails authentication."""
    try:
        token = await store.get(partner_document_blob_key(document.tenant_id, document.id))
        return await vault.open_secret(session, document.tenant_id, document.id, SEAL_PURPOSE, token)
    except (BlobMissing, VaultIntegrityError):
        raise DocumentGone(str(document.id)) from None


# The client's side ----------------------------------------------------------------------------------------------


def _visible_to(client_id: uuid.UUID) -> Select[PartnerDocument, Tenant]:
    """Every client query starts here: the documents of offices linked ACTIVE with the client now, for all their
    clients or chosen for this one, with their office."""
    offices = select(PartnerLink.partner_id).where(
        PartnerLink.tenant_id == client_id, PartnerLink.status == LinkStatus.ACTIVE
    )
    chosen = exists().where(
        PartnerDocumentClient.tenant_id == PartnerDocument.tenant_id,
        PartnerDocumentClient.document_id == PartnerDocument.id,
        PartnerDocumentClient.client_id == client_id,
    )
    return (
        select(PartnerDocument, Tenant)
        .join(Tenant, Tenant.id == PartnerDocument.tenant_id)
        .where(PartnerDocument.tenant_id.in_(offices), or_(PartnerDocument.audience == DocumentAudience.ALL, chosen))
        .where(Tenant.status.not_in([TenantStatus.SUSPENDED, TenantStatus.ENDED]))  # a locked-out office is not there
    )


async def client_documents(session: AsyncSession, principal: Principal) -> list[ClientDocumentRow]:
    """The documents the principal's company may read, by office then No (at most ``MAX_DOCUMENTS`` per office)."""
    client_id = _client_of(principal)
    statement = _visible_to(client_id).order_by(Tenant.name, PartnerDocument.created_at, PartnerDocument.id)
    rows = (await session.execute(statement.limit(CLIENT_LIST_CAP))).all()
    return [ClientDocumentRow(document, office.name, office.id) for document, office in rows]


async def download_client_document(
    session: AsyncSession, vault: Vault, store: BlobStore, principal: Principal, document_id: uuid.UUID | str
) -> tuple[PartnerDocument, bytes]:
    """A document the principal's company may read and its clear bytes, with the FILE_DOWNLOAD entry in the
    client's log. NotFoundException: another client's chosen document, an office not linked (or no longer), none;
    DocumentGone when the bytes are lost."""
    client_id = _client_of(principal)
    found = (
        await session.execute(_visible_to(client_id).where(PartnerDocument.id == _uuid(document_id)))
    ).one_or_none()
    if found is None:
        raise NotFoundException()
    document, office = found
    data = await _open(session, vault, store, document)
    await _log(session, principal, client_id, AuditAction.FILE_DOWNLOAD, document, "document_downloaded", office.name)
    return document, data


async def new_documents_count(
    session: AsyncSession,
    principal: Principal,
    now: dt.datetime | None = None,
    *,
    since: dt.datetime | None = None,
) -> int:
    """Documents the principal's company may read that were published or updated since ``since`` (the principal's
    previous sign-in; without one, the last ``NOTICE_DAYS`` days), counted up to ``NOTICE_CAP`` (the home page's
    notice); 0 for anyone without a documents page."""
    try:
        client_id = _client_of(principal)
    except (NotFoundException, PermissionDeniedException):
        return 0
    if since is None:
        since = (now or utcnow()) - dt.timedelta(days=NOTICE_DAYS)
    statement = _visible_to(client_id).where(PartnerDocument.updated_at >= since).limit(NOTICE_CAP)
    return len((await session.execute(statement)).all())
