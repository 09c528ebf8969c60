"""The insider with write access to the main database (issue 8 §8): whatever they rewrite, verify says so.

The attack as reported: delete a reveal and every entry of its author, renumber the rest, recompute the chain
(bare SHA-256 as before, or HMAC with a key of their own), rewrite the head. Also: a truncated tail, checkpoints
deleted or forged in the key store, a signed checkpoint file kept by an auditor, master-key rotation, legacy
unkeyed entries.
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import entry_hash
from app.audit.checkpoints import (
    CheckpointFileError,
    export_checkpoint_file,
    read_checkpoint_file,
    write_checkpoints,
)
from app.audit.events import Actor, AuditAction
from app.audit.keys import key_source
from app.audit.log import ENTRIES, record, verify_chain
from app.audit.models import GENESIS_HASH
from app.config import Settings, load_settings
from app.db import make_engine
from app.vault import Vault
from app.vault.keys import create_key_file
from tests.audit.conftest import make_event, tamper

REVEALER = Actor(uuid.uuid4(), "insider", "内部 犯人", "handler", "東野商事株式会社", "198.51.100.9", "Mozilla/5.0")


async def fill(db: AsyncSession, tenant_id: uuid.UUID, count: int, *, start: int = 1) -> None:
    """``count`` entries; the third one is the insider's reveal, the fifth the insider's sign-in."""
    for n in range(start, start + count):
        changes: dict[str, Any] = {}
        if n == 3:
            changes = {"actor": REVEALER, "action": AuditAction.REVEAL}
        elif n == 5:
            changes = {"actor": REVEALER, "action": AuditAction.LOGIN, "subject": None, "purpose": None}
        await record(db, make_event(tenant_id, n, **changes))
        await db.commit()


async def rows_of(db: AsyncSession, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    statement = select(ENTRIES).where(ENTRIES.c.tenant_id == tenant_id).order_by(ENTRIES.c.seq)
    return [dict(row._mapping) for row in (await db.execute(statement)).all()]


async def rewrite_without_the_insider(db: AsyncSession, tenant_id: uuid.UUID, key: bytes | None, version: Any) -> None:
    """Delete the insider's entries, renumber, recompute every link with ``key`` (None: SHA-256), move the head."""
    kept = [r for r in await rows_of(db, tenant_id) if r["actor_login_id"] != REVEALER.login_id]
    prev = GENESIS_HASH
    for seq, row in enumerate(kept, start=1):
        row.update(seq=seq, prev_hash=prev, key_version=version)
        prev = row["hash"] = entry_hash(row, key)
    await tamper(db, "DELETE FROM audit_entries")
    await db.execute(insert(ENTRIES), kept)
    await tamper(db, f"UPDATE audit_chain_heads SET last_seq = {len(kept)}, last_hash = '{prev}'")


async def truncate_tail(db: AsyncSession, tenant_id: uuid.UUID, keep: int) -> None:
    """Delete every entry after ``keep`` and point the head at the last one kept (what verify used to accept)."""
    last = next(r for r in await rows_of(db, tenant_id) if r["seq"] == keep)
    await tamper(
        db,
        f"DELETE FROM audit_entries WHERE seq > {keep}",
        f"UPDATE audit_chain_heads SET last_seq = {keep}, last_hash = '{last['hash']}'",
    )


async def test_an_honest_log_verifies_with_its_checkpoints(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    await fill(db, tenant_id, 6)
    run = await write_checkpoints(db)
    assert [(c.tenant_id, c.seq) for c in run.written] == [(tenant_id, 6)]
    await fill(db, tenant_id, 2, start=7)
    report = await verify_chain(db, tenant_id)
    assert (report.ok, report.entries, report.checkpoint_seq, report.legacy) == (True, 8, 6, 0), report.reason
    rows = await rows_of(db, tenant_id)
    assert {r["key_version"] for r in rows} == {1}


@pytest.mark.parametrize("checkpointed", [True, False], ids=["with-checkpoint", "no-checkpoint-yet"])
async def test_deleting_renumbering_and_recomputing_with_sha256_is_detected(
    db: AsyncSession, tenant_id: uuid.UUID, checkpointed: bool
) -> None:
    await fill(db, tenant_id, 8)
    if checkpointed:
        await write_checkpoints(db)
    await rewrite_without_the_insider(db, tenant_id, None, None)  # exactly the reported attack
    report = await verify_chain(db, tenant_id)
    assert not report.ok
    assert report.first_bad_seq == 1
    assert "鍵のない旧形式" in report.reason


async def test_recomputing_with_a_key_of_ones_own_is_detected(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    await fill(db, tenant_id, 8)
    await rewrite_without_the_insider(db, tenant_id, secrets.token_bytes(32), 1)
    report = await verify_chain(db, tenant_id)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert "MAC と一致しません" in report.reason


async def test_claiming_a_new_key_version_is_detected(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    await fill(db, tenant_id, 4)
    await rewrite_without_the_insider(db, tenant_id, secrets.token_bytes(32), 7)
    report = await verify_chain(db, tenant_id)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert "版 7" in report.reason


async def test_a_truncated_tail_is_reported_against_the_checkpoint(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    await fill(db, tenant_id, 8)
    await write_checkpoints(db)
    await truncate_tail(db, tenant_id, 5)
    report = await verify_chain(db, tenant_id)
    assert (report.ok, report.first_bad_seq) == (False, 6)
    assert "6〜8" in report.reason and "末尾の削除" in report.reason


async def test_a_wholly_deleted_chain_is_reported(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    from app.audit.log import verify_all

    await fill(db, tenant_id, 3)
    await write_checkpoints(db)
    await tamper(db, "DELETE FROM audit_entries", "DELETE FROM audit_chain_heads")
    reports = await verify_all(db)
    assert [(r.tenant_id, r.ok, r.first_bad_seq) for r in reports] == [(tenant_id, False, 1)]


async def test_a_checkpoint_forged_in_the_key_store_is_reported(
    db: AsyncSession, tenant_id: uuid.UUID, settings: Settings
) -> None:
    await fill(db, tenant_id, 4)
    await write_checkpoints(db)
    engine = make_engine(settings.effective_keystore_url, pool_size=1)
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE audit_checkpoints SET seq = 2"))
    await engine.dispose()
    report = await verify_chain(db, tenant_id)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "鍵ストア改ざん" in report.reason


async def test_the_periodic_writer_refuses_to_checkpoint_a_rewritten_chain(
    db: AsyncSession, tenant_id: uuid.UUID
) -> None:
    await fill(db, tenant_id, 4)
    await write_checkpoints(db)
    await fill(db, tenant_id, 4, start=5)
    await tamper(db, "UPDATE audit_entries SET purpose = '雇用保険' WHERE seq = 6")
    run = await write_checkpoints(db)
    assert run.written == [] and run.broken[tenant_id][0] == 6
    assert (await write_checkpoints(db)).written == []


async def test_the_writer_only_reads_what_is_new(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    await fill(db, tenant_id, 3)
    assert len((await write_checkpoints(db)).written) == 1
    again = await write_checkpoints(db)
    assert (again.written, again.unchanged) == ([], 1)
    await fill(db, tenant_id, 1, start=4)
    assert [c.seq for c in (await write_checkpoints(db)).written] == [4]


async def test_a_signed_file_catches_what_the_key_store_lost(
    db: AsyncSession, tenant_id: uuid.UUID, tmp_path: Path
) -> None:
    await fill(db, tenant_id, 8)
    await write_checkpoints(db)
    path = tmp_path / "checkpoint.json"
    await export_checkpoint_file(db, path)
    source = key_source(db)
    await source.drop_checkpoints(tenant_id)  # the key store's copy is gone (an insider with both databases)
    await truncate_tail(db, tenant_id, 5)
    assert (await verify_chain(db, tenant_id)).ok  # nothing left inside the deployment to tell
    from_file = await read_checkpoint_file(source, path)
    report = await verify_chain(db, tenant_id, extra_checkpoints=from_file)
    assert (report.ok, report.first_bad_seq) == (False, 6)


async def test_an_edited_checkpoint_file_is_refused(db: AsyncSession, tenant_id: uuid.UUID, tmp_path: Path) -> None:
    await fill(db, tenant_id, 3)
    await write_checkpoints(db)
    path = tmp_path / "checkpoint.json"
    await export_checkpoint_file(db, path)
    path.write_text(path.read_text(encoding="utf-8").replace('"seq": 3', '"seq": 2'), encoding="utf-8")
    with pytest.raises(CheckpointFileError, match="署名が一致しません"):
        await read_checkpoint_file(key_source(db), path)


async def test_legacy_unkeyed_entries_verify_once_anchored_and_not_after_keyed_ones(
    db: AsyncSession, tenant_id: uuid.UUID
) -> None:
    await fill(db, tenant_id, 5)
    rows = await rows_of(db, tenant_id)
    prev = GENESIS_HASH
    for row in rows[:3]:  # entries 1-3 as a deployed v1 database holds them
        row.update(prev_hash=prev, key_version=None)
        prev = row["hash"] = entry_hash(row)
    await tamper(db, "DELETE FROM audit_entries WHERE seq <= 3")
    await db.execute(insert(ENTRIES), rows[:3])
    await db.commit()
    key = await key_source(db).chain_key(1, tenant_id)
    for row in rows[3:]:
        row.update(prev_hash=prev)
        prev = row["hash"] = entry_hash(row, key)
    await tamper(db, "DELETE FROM audit_entries WHERE seq > 3")
    await db.execute(insert(ENTRIES), rows[3:])
    await tamper(db, f"UPDATE audit_chain_heads SET last_hash = '{prev}'")
    unanchored = await verify_chain(db, tenant_id)
    assert (unanchored.ok, unanchored.first_bad_seq) == (False, 1)
    assert (await write_checkpoints(db)).broken  # the periodic writer never anchors legacy entries
    assert (await write_checkpoints(db, accept_legacy=True)).written  # the operator's one-time decision
    anchored = await verify_chain(db, tenant_id)
    assert (anchored.ok, anchored.legacy, anchored.entries) == (True, 3, 5), anchored.reason
    downgraded = rows[4] | {"key_version": None}
    downgraded["hash"] = entry_hash(downgraded)
    await tamper(db, f"UPDATE audit_entries SET key_version = NULL, hash = '{downgraded['hash']}' WHERE seq = 5")
    report = await verify_chain(db, tenant_id)
    assert (report.ok, report.first_bad_seq) == (False, 5)


async def test_an_entry_cannot_be_written_without_the_audit_key(settings: Settings, tenant_id: uuid.UUID) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.audit.keys import AuditKeyError

    other = Path(settings.data_dir) / "elsewhere.db"
    engine = make_engine(f"sqlite+aiosqlite:///{other}", pool_size=1)
    async with async_sessionmaker(engine)() as session:
        with pytest.raises(AuditKeyError):
            await record(session, make_event(tenant_id))
    await engine.dispose()


async def test_master_key_rotation_keeps_every_entry_verifiable(settings: Settings, tmp_path: Path) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from tests.audit.conftest import add_tenant

    path = create_key_file(tmp_path / "keys" / "master.key")
    key_file = load_settings(
        {},
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        keystore_url=settings.keystore_url,
        master_key_file=str(path),
    )
    vault = Vault.from_settings(key_file)
    engine = make_engine(key_file.effective_database_url, pool_size=1)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as db:
        tenant_id = await add_tenant(db, "rotating")
        await fill(db, tenant_id, 3)
        await write_checkpoints(db)
    await vault.rotate_master_key(sessions)
    assert await vault.audit_keys.count_behind() == 0
    report = await vault.rotate_master_key(sessions, retire_old=True)
    assert report.retired == [1]
    await vault.close()
    restarted = Vault.from_settings(key_file)  # nothing cached: the audit key is unwrapped with version 2
    async with sessions() as db:
        await fill(db, tenant_id, 2, start=4)
        result = await verify_chain(db, tenant_id)
        assert (result.ok, result.entries, result.checkpoint_seq) == (True, 5, 3), result.reason
    await engine.dispose()
    await restarted.close()


async def test_checkpoints_of_an_erased_tenant_log_go_with_it(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    from app.audit.log import erase_tenant_log, verify_all

    await fill(db, tenant_id, 3)
    await write_checkpoints(db)
    await erase_tenant_log(db, tenant_id, Actor.system("ops"))
    await db.commit()
    assert await key_source(db).checkpoints(tenant_id) == []
    assert all(r.ok for r in await verify_all(db))
