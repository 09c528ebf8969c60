"""Sealed documents: stored sealed under the person's key, opened only in the tenant, counted against the quota,
and unopenable once the person's number is erased."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, Subject
from app.blobs import LocalBlobStore
from app.config import Settings
from app.documents import (
    DocumentBlob,
    DocumentDamaged,
    DocumentGone,
    DocumentLost,
    QuotaExceeded,
    StoredDocument,
    blob_key,
    delete_documents,
    get_document,
    open_document,
    purge_unopenable,
    storage_used,
    store_document,
    wait_for_cleanup,
)
from app.vault import NumberField, Vault, sealed_document_size
from app.vault.keystore import NumberKey
from app.vault.models import DocumentKey
from tests.support.audit import entries
from tests.vault.helpers import ADMIN, make_tenant, my_number, person
from tests.verification.images import GPS_TEXT, phone_jpeg
from verification.pipeline import clean_image

QUOTA = 1024**3
FUNCTION = "本人確認"


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    vault = Vault.from_settings(settings)
    yield vault
    await vault.close()


@pytest.fixture
async def tenant_id(db: AsyncSession, vault: Vault) -> uuid.UUID:
    tenant_id = await make_tenant(db)
    await vault.create_tenant_keys(db, tenant_id)
    await db.commit()
    return tenant_id


@pytest.fixture
def store(settings: Settings) -> LocalBlobStore:
    return LocalBlobStore(settings.effective_blob_dir)


def file_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


async def register(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID) -> Subject:
    """A person with a live My Number."""
    subject = person()
    await vault.store_number(
        db,
        tenant_id=tenant_id,
        subject=subject,
        field=NumberField.MY_NUMBER,
        number=my_number(),
        actor=ADMIN,
        action=AuditAction.PROXY_REGISTER,
        function=FUNCTION,
    )
    await vault.commit(db)
    return subject


async def upload(
    db: AsyncSession,
    vault: Vault,
    store: LocalBlobStore,
    tenant_id: uuid.UUID,
    person_id: uuid.UUID,
    data: bytes,
    quota: int = QUOTA,
) -> StoredDocument:
    stored = await store_document(
        db, vault, store, tenant_id=tenant_id, person_id=person_id, kind="mynumber_card_back", data=data,
        quota_bytes=quota,
    )  # fmt: skip
    await db.commit()
    return stored


async def erase(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, subject: Subject) -> None:
    await vault.erase(db, tenant_id=tenant_id, subject=subject, actor=ADMIN, function="削除", reason="退職")
    await vault.commit(db)


async def test_a_document_is_stored_sealed_and_opens_as_the_clean_image(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID, settings: Settings
) -> None:
    original = phone_jpeg(800, 600)
    clean = clean_image(original).jpeg
    subject = await register(db, vault, tenant_id)
    stored = await upload(db, vault, store, tenant_id, subject.person_id, clean)  # type: ignore[arg-type]
    assert stored.tenant_id == tenant_id and stored.person_id == subject.person_id
    assert stored.kind == "mynumber_card_back" and stored.expires_at is None
    sealed = await store.get(blob_key(tenant_id, stored.id))
    assert stored.size == len(sealed) == sealed_document_size(len(clean))
    assert stored.sha256 == hashlib.sha256(sealed).hexdigest()
    # Neither the upload, nor the clean image, nor the GPS text is in the sealed blob.
    assert original[:2000] not in sealed and clean[100:2000] not in sealed and GPS_TEXT.encode() not in sealed
    path = settings.effective_blob_dir / "documents" / tenant_id.hex / stored.id.hex
    assert path.read_bytes() == sealed
    metadata, image = await open_document(db, vault, store, tenant_id=tenant_id, document_id=stored.id)
    assert metadata == stored and image == clean
    assert await get_document(db, tenant_id=tenant_id, document_id=stored.id) == stored


async def test_the_database_keeps_only_metadata(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID, settings: Settings
) -> None:
    clean = clean_image(phone_jpeg()).jpeg
    stored = await upload(db, vault, store, tenant_id, uuid.uuid4(), clean)
    columns = {column.name for column in DocumentBlob.__table__.columns}  # type: ignore[attr-defined]
    assert (await db.execute(select(DocumentBlob).where(DocumentBlob.id == stored.id))).scalar_one().size == stored.size
    assert columns == {
        "tenant_id", "id", "person_id", "key_id", "kind", "size", "sha256", "expires_at", "created_at", "updated_at"
    }  # fmt: skip
    if settings.is_sqlite:
        assert clean[200:264] not in file_bytes(settings.effective_database_url.split("///", 1)[1])


async def test_another_tenants_document_id_is_not_found(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID
) -> None:
    stored = await upload(db, vault, store, tenant_id, uuid.uuid4(), clean_image(phone_jpeg()).jpeg)
    other = await make_tenant(db)
    with pytest.raises(LookupError):
        await open_document(db, vault, store, tenant_id=other, document_id=stored.id)
    with pytest.raises(LookupError):
        await get_document(db, tenant_id=other, document_id=stored.id)
    with pytest.raises(LookupError):
        await open_document(db, vault, store, tenant_id=tenant_id, document_id=uuid.uuid4())
    assert await delete_documents(db, store, tenant_id=other, document_ids=[stored.id]) == 0
    await db.commit()
    assert (await open_document(db, vault, store, tenant_id=tenant_id, document_id=stored.id))[0] == stored


async def test_a_blob_copied_to_another_document_or_altered_does_not_open(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID
) -> None:
    person_id = uuid.uuid4()
    first = await upload(db, vault, store, tenant_id, person_id, clean_image(phone_jpeg()).jpeg)
    second = await upload(db, vault, store, tenant_id, person_id, clean_image(phone_jpeg(300, 300)).jpeg)
    sealed = await store.get(blob_key(tenant_id, first.id))
    await store.put(blob_key(tenant_id, second.id), sealed)
    with pytest.raises(DocumentDamaged):  # the vault's VaultIntegrityError, handled: a warning, never the bytes
        await open_document(db, vault, store, tenant_id=tenant_id, document_id=second.id)
    await store.put(blob_key(tenant_id, first.id), sealed[:-1] + bytes([sealed[-1] ^ 1]))
    with pytest.raises(DocumentDamaged):
        await open_document(db, vault, store, tenant_id=tenant_id, document_id=first.id)


async def test_a_missing_blob_is_gone(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID
) -> None:
    stored = await upload(db, vault, store, tenant_id, uuid.uuid4(), clean_image(phone_jpeg()).jpeg)
    await store.delete(blob_key(tenant_id, stored.id))
    with pytest.raises(DocumentLost):  # a DocumentGone
        await open_document(db, vault, store, tenant_id=tenant_id, document_id=stored.id)


async def test_one_person_has_one_document_key(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID
) -> None:
    person_id = uuid.uuid4()
    for _ in range(3):
        await upload(db, vault, store, tenant_id, person_id, clean_image(phone_jpeg()).jpeg)
    await upload(db, vault, store, tenant_id, uuid.uuid4(), clean_image(phone_jpeg()).jpeg)
    keys = (await db.execute(select(DocumentKey.person_id))).scalars().all()
    assert sorted(keys).count(person_id) == 1 and len(keys) == 2


# Quota ----------------------------------------------------------------------------------------------------------------


async def test_the_quota_refuses_a_document_that_would_pass_it(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID, settings: Settings
) -> None:
    clean = clean_image(phone_jpeg()).jpeg
    quota = sealed_document_size(len(clean)) * 2 + 10
    person_id = uuid.uuid4()
    first = await upload(db, vault, store, tenant_id, person_id, clean, quota)
    second = await upload(db, vault, store, tenant_id, person_id, clean, quota)
    assert await storage_used(db, tenant_id) == first.size + second.size
    with pytest.raises(QuotaExceeded) as refused:
        await store_document(
            db, vault, store, tenant_id=tenant_id, person_id=person_id, kind="passport", data=clean, quota_bytes=quota
        )
    assert "保存容量の上限" in refused.value.message and refused.value.quota == quota
    assert "本人確認書類" in refused.value.message
    with pytest.raises(QuotaExceeded) as box_refused:
        await store_document(
            db, vault, store, tenant_id=tenant_id, person_id=person_id, kind="person_box", data=clean, quota_bytes=quota
        )
    assert "個人ボックスに保管できませんでした" in box_refused.value.message
    await db.rollback()
    assert await storage_used(db, tenant_id) == first.size + second.size
    assert len(list((settings.effective_blob_dir / "documents" / tenant_id.hex).iterdir())) == 2
    # Deleting frees the space; the counter follows in the same transaction.
    assert await delete_documents(db, store, tenant_id=tenant_id, document_ids=[first.id, first.id]) == 1
    await db.commit()
    assert await storage_used(db, tenant_id) == second.size
    await upload(db, vault, store, tenant_id, person_id, clean, quota)


async def test_usage_is_counted_per_tenant(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID
) -> None:
    other = await make_tenant(db)
    await vault.create_tenant_keys(db, other)
    stored = await upload(db, vault, store, tenant_id, uuid.uuid4(), clean_image(phone_jpeg()).jpeg)
    assert await storage_used(db, tenant_id) == stored.size
    assert await storage_used(db, other) == 0


async def test_a_rolled_back_store_leaves_no_blob_no_usage_and_no_key(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID, settings: Settings
) -> None:
    stored = await store_document(
        db, vault, store, tenant_id=tenant_id, person_id=uuid.uuid4(), kind="passport",
        data=clean_image(phone_jpeg()).jpeg, quota_bytes=QUOTA,
    )  # fmt: skip
    await db.rollback()
    await wait_for_cleanup()
    await vault.wait_for_shredding()
    assert not (settings.effective_blob_dir / "documents" / tenant_id.hex / stored.id.hex).exists()
    assert await storage_used(db, tenant_id) == 0
    async with vault.keystore.engine.connect() as keystore:
        assert (await keystore.execute(select(NumberKey.number_id))).all() == []


# Erasure --------------------------------------------------------------------------------------------------------------


async def test_erasing_the_persons_number_makes_their_documents_unopenable(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID
) -> None:
    subject = await register(db, vault, tenant_id)
    kept_subject = await register(db, vault, tenant_id)
    clean = clean_image(phone_jpeg()).jpeg
    stored = await upload(db, vault, store, tenant_id, subject.person_id, clean)  # type: ignore[arg-type]
    kept = await upload(db, vault, store, tenant_id, kept_subject.person_id, clean)  # type: ignore[arg-type]
    key_id = (await db.execute(select(DocumentKey.id).where(DocumentKey.person_id == subject.person_id))).scalar_one()
    sealed = await store.get(blob_key(tenant_id, stored.id))
    await erase(db, vault, tenant_id, subject)
    with pytest.raises(DocumentGone):
        await open_document(db, vault, store, tenant_id=tenant_id, document_id=stored.id)
    (entry,) = await entries(db, tenant_id, AuditAction.DELETE)
    assert entry.subject_person_id == subject.person_id and entry.detail["images_erased"] is True
    async with vault.keystore.engine.connect() as keystore:
        keys = set((await keystore.execute(select(NumberKey.number_id))).scalars())
    assert key_id not in keys  # the key itself is gone: a copy of the blob and of the database cannot open it
    await db.execute(text("UPDATE document_keys SET destroyed_at = NULL"))  # even with the row restored from backup
    with pytest.raises(DocumentGone):
        await open_document(db, vault, store, tenant_id=tenant_id, document_id=stored.id)
    await db.rollback()
    assert await store.get(blob_key(tenant_id, stored.id)) == sealed  # until the purge frees the space
    # The other person's documents are untouched.
    assert (await open_document(db, vault, store, tenant_id=tenant_id, document_id=kept.id))[1] == clean
    # The purge deletes the unopenable blob and row and frees the space, and logs it (issue 11: each removal).
    assert await purge_unopenable(db, store) == 1
    await db.commit()
    assert await storage_used(db, tenant_id) == kept.size
    (purged,) = await entries(db, tenant_id, AuditAction.MAINTENANCE)
    assert purged.function == "保存期間経過データの削除" and purged.actor_name == "システム"
    assert (purged.detail["kind"], purged.detail["count"]) == ("unopenable_documents", 1)
    with pytest.raises(LookupError):
        await open_document(db, vault, store, tenant_id=tenant_id, document_id=stored.id)
    assert await purge_unopenable(db, store) == 0
    assert len(await entries(db, tenant_id, AuditAction.MAINTENANCE)) == 1  # nothing removed, no entry


async def test_a_rolled_back_erasure_keeps_the_documents(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID
) -> None:
    subject = await register(db, vault, tenant_id)
    clean = clean_image(phone_jpeg()).jpeg
    stored = await upload(db, vault, store, tenant_id, subject.person_id, clean)  # type: ignore[arg-type]
    await vault.erase(db, tenant_id=tenant_id, subject=subject, actor=ADMIN, function="削除", reason="誤操作")
    await db.rollback()
    await vault.commit(db)
    assert (await open_document(db, vault, store, tenant_id=tenant_id, document_id=stored.id))[1] == clean


async def test_erasing_many_numbers_makes_their_documents_unopenable(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID
) -> None:
    subjects = [await register(db, vault, tenant_id) for _ in range(2)]
    clean = clean_image(phone_jpeg()).jpeg
    stored = [await upload(db, vault, store, tenant_id, s.person_id, clean) for s in subjects]  # type: ignore[arg-type]
    await vault.erase_many(
        db, tenant_id=tenant_id, subjects=subjects, actor=ADMIN, function="取込", reason="番号の変更",
        field=NumberField.MY_NUMBER,
    )  # fmt: skip
    await vault.commit(db)
    assert [e.detail.get("images_erased") for e in await entries(db, tenant_id, AuditAction.DELETE)] == [True, True]
    for document in stored:
        with pytest.raises(DocumentGone):
            await open_document(db, vault, store, tenant_id=tenant_id, document_id=document.id)


async def test_a_new_upload_after_erasure_gets_a_new_key(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID
) -> None:
    subject = await register(db, vault, tenant_id)
    clean = clean_image(phone_jpeg()).jpeg
    await upload(db, vault, store, tenant_id, subject.person_id, clean)  # type: ignore[arg-type]
    await erase(db, vault, tenant_id, subject)
    again = await upload(db, vault, store, tenant_id, subject.person_id, clean)  # type: ignore[arg-type]
    assert (await open_document(db, vault, store, tenant_id=tenant_id, document_id=again.id))[1] == clean


async def test_the_maintenance_purge_keeps_live_document_keys_and_removes_destroyed_ones(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID
) -> None:
    import datetime as dt

    clean = clean_image(phone_jpeg()).jpeg
    live = await upload(db, vault, store, tenant_id, uuid.uuid4(), clean)
    subject = await register(db, vault, tenant_id)
    await upload(db, vault, store, tenant_id, subject.person_id, clean)  # type: ignore[arg-type]
    await vault.erase(db, tenant_id=tenant_id, subject=subject, actor=ADMIN, function="削除", reason="退職")
    await db.commit()  # a plain commit: suppose the shredding after it failed
    await vault.wait_for_shredding()
    await vault.purge(db, older_than=dt.timedelta(0))  # orphans of any age would go: live document keys must not
    assert (await open_document(db, vault, store, tenant_id=tenant_id, document_id=live.id))[1] == clean
    async with vault.keystore.engine.connect() as keystore:
        remaining = set((await keystore.execute(select(NumberKey.number_id))).scalars())
    destroyed = (await db.execute(select(DocumentKey.id).where(DocumentKey.destroyed_at.is_not(None)))).scalars()
    assert not set(destroyed) & remaining


async def test_document_rows_are_scoped_by_tenant_in_the_index(db: AsyncSession) -> None:
    indexes = {index.name: [c.name for c in index.columns] for index in DocumentBlob.__table__.indexes}  # type: ignore[attr-defined]
    assert all(columns[0] == "tenant_id" for columns in indexes.values())


async def test_the_maintenance_step_purges_documents_of_erased_numbers(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID, settings: Settings
) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.db import make_engine
    from app.documents import purge_step

    subject = await register(db, vault, tenant_id)
    stored = await upload(db, vault, store, tenant_id, subject.person_id, clean_image(phone_jpeg()).jpeg)  # type: ignore[arg-type]
    await erase(db, vault, tenant_id, subject)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        assert await purge_step(store)(async_sessionmaker(engine, expire_on_commit=False)) == 1
    finally:
        await engine.dispose()
    assert not (settings.effective_blob_dir / "documents" / tenant_id.hex / stored.id.hex).exists()
    assert await storage_used(db, tenant_id) == 0


async def test_two_uploads_at_once_cannot_both_pass_the_quota(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID, settings: Settings
) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.db import make_engine

    clean = clean_image(phone_jpeg()).jpeg
    quota = sealed_document_size(len(clean)) * 2 + 10  # room for two
    await upload(db, vault, store, tenant_id, uuid.uuid4(), clean, quota)
    engine = make_engine(settings.effective_database_url, pool_size=2)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as first, sessions() as second:
            await store_document(
                first, vault, store, tenant_id=tenant_id, person_id=uuid.uuid4(), kind="passport", data=clean,
                quota_bytes=quota,
            )  # fmt: skip
            racing = asyncio.create_task(
                store_document(
                    second,
                    vault,
                    store,
                    tenant_id=tenant_id,
                    person_id=uuid.uuid4(),
                    kind="passport",
                    data=clean,
                    quota_bytes=quota,
                )
            )
            await asyncio.sleep(0.5)
            assert not racing.done()  # waits for the first upload's transaction
            await first.commit()
            with pytest.raises(QuotaExceeded):
                await racing
            await second.rollback()
    finally:
        await engine.dispose()
    await wait_for_cleanup()
    assert await storage_used(db, tenant_id) == quota - 10
    assert len(list((settings.effective_blob_dir / "documents" / tenant_id.hex).iterdir())) == 2


async def test_replacing_the_number_also_makes_the_old_documents_unopenable(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID
) -> None:
    subject = await register(db, vault, tenant_id)
    stored = await upload(db, vault, store, tenant_id, subject.person_id, clean_image(phone_jpeg()).jpeg)  # type: ignore[arg-type]
    await vault.replace_number(
        db, tenant_id=tenant_id, subject=subject, field=NumberField.MY_NUMBER, number=my_number(), actor=ADMIN,
        action=AuditAction.PROXY_REGISTER, function=FUNCTION,
    )  # fmt: skip
    await vault.commit(db)
    with pytest.raises(DocumentGone):  # the images show the old number: they go with it
        await open_document(db, vault, store, tenant_id=tenant_id, document_id=stored.id)


async def test_erasing_a_corporate_number_leaves_documents_alone(
    db: AsyncSession, vault: Vault, store: LocalBlobStore, tenant_id: uuid.UUID
) -> None:
    from tests.vault.helpers import corporate_number

    subject = person("株式会社テスト")
    await vault.store_number(
        db, tenant_id=tenant_id, subject=subject, field=NumberField.CORPORATE_NUMBER, number=corporate_number(),
        actor=ADMIN, action=AuditAction.PROXY_REGISTER, function=FUNCTION,
    )  # fmt: skip
    await vault.commit(db)
    clean = clean_image(phone_jpeg()).jpeg
    stored = await upload(db, vault, store, tenant_id, subject.person_id, clean)  # type: ignore[arg-type]
    await erase(db, vault, tenant_id, subject)
    assert (await open_document(db, vault, store, tenant_id=tenant_id, document_id=stored.id))[1] == clean
    (entry,) = await entries(db, tenant_id, AuditAction.DELETE)
    assert "images_erased" not in entry.detail
