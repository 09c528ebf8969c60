"""Erasure: the number is marked erased and logged, its key destroyed, and a backup of the main database is useless."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import AuditAction
from app.config import Settings, load_settings
from app.db import make_engine
from app.vault import NumberField, NumberNotFound, Vault, VaultIntegrityError
from app.vault.keystore import NumberKey
from app.vault.models import VaultNumber
from tests.support.audit import entries
from tests.vault.helpers import ADMIN, my_number, person
from tests.vault.test_sealing import reveal, store

FUNCTION = "削除"


async def key_ids(vault: Vault) -> set[uuid.UUID]:
    async with vault.keystore.engine.connect() as keystore:
        return set((await keystore.execute(select(NumberKey.number_id))).scalars())


async def test_erasing_marks_the_number_logs_it_and_destroys_its_key(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    subject, stored = await store(db, vault, tenant_id, my_number())
    _, kept = await store(db, vault, tenant_id, my_number())
    erased = await vault.erase(
        db, tenant_id=tenant_id, subject=subject, actor=ADMIN, function=FUNCTION, reason="退職後の保存期間経過"
    )
    assert erased == [stored.id]  # the erased numbers' ids (their deletion records name them)
    assert stored.id in await key_ids(vault)  # not before the main transaction commits
    await vault.commit(db)
    assert await key_ids(vault) == {kept.id}
    row = (await db.execute(select(VaultNumber).where(VaultNumber.id == stored.id))).scalar_one()
    assert row.erased_at is not None and row.erase_reason == "退職後の保存期間経過"
    assert row.ciphertext is None and row.nonce is None and row.blind_index is None
    assert row.masked == stored.masked  # the deletion certificate can still show which number went
    (entry,) = await entries(db, tenant_id, AuditAction.DELETE)
    assert entry.subject_person_id == subject.person_id
    assert entry.detail == {"field": "my_number", "number_id": str(stored.id), "reason": "退職後の保存期間経過"}
    with pytest.raises(NumberNotFound):
        await reveal(db, vault, tenant_id, subject)


async def test_erasing_someone_without_a_number_changes_nothing(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    erased = await vault.erase(db, tenant_id=tenant_id, subject=person(), actor=ADMIN, function=FUNCTION, reason="x")
    assert erased == []
    assert await entries(db, tenant_id) == []


async def test_a_rolled_back_erasure_keeps_the_key_and_the_number(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    number = my_number()
    subject, stored = await store(db, vault, tenant_id, number)
    await vault.erase(db, tenant_id=tenant_id, subject=subject, actor=ADMIN, function=FUNCTION, reason="誤操作")
    await db.rollback()
    await vault.commit(db)
    assert stored.id in await key_ids(vault)
    assert await reveal(db, vault, tenant_id, subject) == number


async def test_a_plain_session_commit_also_destroys_the_key(
    settings: Settings, vault: Vault, tenant_id: uuid.UUID
) -> None:
    engine = make_engine(settings.effective_database_url, pool_size=2)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        subject, stored = await store(session, vault, tenant_id, my_number())
        await vault.erase(session, tenant_id=tenant_id, subject=subject, actor=ADMIN, function=FUNCTION, reason="x")
        await session.commit()  # e.g. the request's autocommit, not vault.commit
    await vault.wait_for_shredding()
    await engine.dispose()
    assert stored.id not in await key_ids(vault)


async def test_erasing_one_field_leaves_the_other(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID) -> None:
    subject = person()
    for field, number in ((NumberField.MY_NUMBER, my_number()), (NumberField.CORPORATE_NUMBER, "7000012050002")):
        await vault.store_number(
            db, tenant_id=tenant_id, subject=subject, field=field, number=number, actor=ADMIN,
            action=AuditAction.REGISTER, function=FUNCTION,
        )  # fmt: skip
    await vault.commit(db)
    erased = await vault.erase(
        db,
        tenant_id=tenant_id,
        subject=subject,
        actor=ADMIN,
        function=FUNCTION,
        reason="x",
        field=NumberField.MY_NUMBER,
    )
    await vault.commit(db)
    assert len(erased) == 1
    info = await vault.number_info(db, tenant_id, [subject.person_id])  # type: ignore[list-item]
    assert info[subject.person_id].field == NumberField.CORPORATE_NUMBER  # type: ignore[index]


async def test_a_backup_of_the_main_database_cannot_be_opened_after_erasure(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, settings: Settings, tmp_path: Path
) -> None:
    number = my_number()
    subject, stored = await store(db, vault, tenant_id, number)
    backup = await take_backup(db, vault, settings, tmp_path, stored.id)

    await vault.erase(db, tenant_id=tenant_id, subject=subject, actor=ADMIN, function=FUNCTION, reason="本人の申出")
    await vault.commit(db)

    # The main database comes back from the backup; the key store is as it is now.
    async with backup.restore_main() as (restored_db, restored_vault):
        with pytest.raises(VaultIntegrityError):
            await reveal(restored_db, restored_vault, tenant_id, subject)
    # Control: with the key store's backup too, the same ciphertext would have opened.
    async with backup.restore_main(with_keystore=True) as (restored_db, restored_vault):
        assert await reveal(restored_db, restored_vault, tenant_id, subject) == number


class _Backup:
    """A copy of the main database (SQLite file, or the rows on PostgreSQL) and of the key store, taken before."""

    def __init__(self, settings: Settings, tmp_path: Path, db: AsyncSession, vault: Vault, rows: dict[str, Any]):
        self.settings, self.tmp_path, self.db, self.vault, self.rows = settings, tmp_path, db, vault, rows

    def restore_main(self, *, with_keystore: bool = False) -> Any:
        return _Restored(self, with_keystore)


class _Restored:
    def __init__(self, backup: _Backup, with_keystore: bool) -> None:
        self.backup, self.with_keystore = backup, with_keystore

    async def __aenter__(self) -> tuple[AsyncSession, Vault]:
        b = self.backup
        if b.settings.is_sqlite:
            keystore = b.tmp_path / "keystore.backup.db" if self.with_keystore else None
            self.settings = load_settings(
                {},
                data_dir=str(b.tmp_path),
                database_url=f"sqlite+aiosqlite:///{b.tmp_path / 'mnvault.backup.db'}",
                keystore_url=f"sqlite+aiosqlite:///{keystore}" if keystore else b.settings.keystore_url,
                master_key=b.settings.master_key,
            )
        else:
            self.settings = b.settings
            await b.db.execute(
                update(VaultNumber).where(VaultNumber.id == b.rows["number"]["id"]).values(**b.rows["number"])
            )
            await b.db.commit()
            if self.with_keystore:
                async with b.vault.keystore.engine.begin() as keystore:
                    await keystore.execute(NumberKey.__table__.insert().values(**b.rows["key"]))
        self.engine = make_engine(self.settings.effective_database_url, pool_size=1)
        self.session = async_sessionmaker(self.engine, expire_on_commit=False)()
        self.vault = Vault.from_settings(self.settings)
        return self.session, self.vault

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()
        await self.engine.dispose()
        await self.vault.close()


async def take_backup(
    db: AsyncSession, vault: Vault, settings: Settings, tmp_path: Path, number_id: uuid.UUID
) -> _Backup:
    if settings.is_sqlite:
        for source, target in (
            (settings.effective_database_url, tmp_path / "mnvault.backup.db"),
            (settings.effective_keystore_url, tmp_path / "keystore.backup.db"),
        ):
            with sqlite3.connect(source.split(":///", 1)[1]) as src, sqlite3.connect(target) as dst:
                src.backup(dst)
        return _Backup(settings, tmp_path, db, vault, {})
    number = (await db.execute(select(VaultNumber.__table__).where(VaultNumber.id == number_id))).mappings().one()
    async with vault.keystore.engine.connect() as keystore:
        key = (
            (await keystore.execute(select(NumberKey.__table__).where(NumberKey.number_id == number_id)))
            .mappings()
            .one()
        )
    return _Backup(settings, tmp_path, db, vault, {"number": dict(number), "key": dict(key)})


async def test_purge_removes_erased_keys_at_once_and_orphans_after_the_grace(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    assert await key_ids(vault) == set()  # each test starts with an empty key store
    _, live = await store(db, vault, tenant_id, my_number())
    erased_subject, erased = await store(db, vault, tenant_id, my_number())
    await vault.erase(db, tenant_id=tenant_id, subject=erased_subject, actor=ADMIN, function=FUNCTION, reason="x")
    await vault.commit(db)
    # Left behind by crashes: the erased number's key (the process died before shredding) and a key whose
    # number's transaction never committed.
    orphan = uuid.uuid4()
    await vault.keystore.put_many(tenant_id, [(orphan, 1, b"\x00" * 60), (erased.id, 1, b"\x00" * 60)])
    assert await vault.purge(db) == 1  # the erased number's key: its erasure is committed, no grace
    assert await key_ids(vault) == {live.id, orphan}  # the orphan is younger than the grace (in flight?)
    assert await vault.purge(db, older_than=dt.timedelta(0)) == 1
    assert await key_ids(vault) == {live.id}


async def test_purge_pages_through_many_keys(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID) -> None:
    await vault.keystore.put_many(tenant_id, [(uuid.uuid4(), 1, b"k") for _ in range(1203)])
    _, live = await store(db, vault, tenant_id, my_number())
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    async with vault.keystore.engine.begin() as keystore:
        await keystore.execute(update(NumberKey).values(created_at=old))
    assert await vault.purge(db) == 1203
    assert await key_ids(vault) == {live.id}


def test_the_cli_purges(settings: Settings) -> None:
    from click.testing import CliRunner

    from app.cli import main

    env = {
        "MNV_DATA_DIR": settings.data_dir,
        "MNV_DATABASE_URL": settings.database_url,
        "MNV_KEYSTORE_URL": settings.keystore_url,
        "MNV_MASTER_KEY": settings.master_key,
    }
    result = CliRunner().invoke(main, ["purge"], env=env)
    assert result.exit_code == 0, result.output
    assert "0 件" in result.output
