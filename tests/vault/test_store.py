"""Storing, finding and revealing numbers: duplicates, batches, masked lists and the audit entry of every use."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditResult, Subject
from app.vault import (
    DuplicateNumber,
    InvalidNumber,
    NumberAlreadyStored,
    NumberBatchError,
    NumberField,
    NumberNotFound,
    StoredNumber,
    Vault,
)
from app.vault.keystore import NumberKey
from app.vault.models import VaultNumber
from app.vault.service import INDEX_LOCK_BUCKETS, index_lock_keys
from tests.support.audit import entries
from tests.support.databases import as_table_owner
from tests.vault.helpers import ADMIN, corporate_number, count, make_tenant, my_number, person
from tests.vault.test_sealing import reveal

FUNCTION = "従業員情報"


async def store(
    db: AsyncSession,
    vault: Vault,
    tenant_id: uuid.UUID,
    subject: Subject,
    number: str,
    field: NumberField = NumberField.MY_NUMBER,
) -> StoredNumber:
    return await vault.store_number(
        db,
        tenant_id=tenant_id,
        subject=subject,
        field=field,
        number=number,
        actor=ADMIN,
        action=AuditAction.PROXY_REGISTER,
        function=FUNCTION,
        purpose="源泉徴収",
    )


async def test_storing_a_number_writes_one_audit_entry_without_the_number(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    number, subject = my_number(), person()
    stored = await store(db, vault, tenant_id, subject, number)
    await vault.commit(db)
    (entry,) = await entries(db, tenant_id)
    assert entry.action == AuditAction.PROXY_REGISTER and entry.result == AuditResult.SUCCESS
    assert entry.subject_person_id == subject.person_id and entry.subject_name == subject.name
    assert entry.function == FUNCTION and entry.purpose == "源泉徴収" and entry.actor_login_id == "admin"
    assert entry.detail == {"field": "my_number", "number_id": str(stored.id)}
    assert number not in repr(entry.__dict__)


async def test_the_same_number_for_another_person_is_refused_without_saying_whose(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    number = my_number()
    first = person("佐藤 一郎")
    await store(db, vault, tenant_id, first, number)
    await vault.commit(db)
    with pytest.raises(DuplicateNumber) as excinfo:
        await store(db, vault, tenant_id, person("鈴木 次郎"), f"{number[:4]}-{number[4:8]}-{number[8:]}")
    assert "すでに登録" in excinfo.value.message
    assert "佐藤" not in str(excinfo.value) and str(first.person_id) not in str(excinfo.value)
    assert number not in str(excinfo.value)


async def test_the_same_number_in_another_tenant_is_not_a_duplicate(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    number = my_number()
    await store(db, vault, tenant_id, person(), number)
    other = await make_tenant(db)
    await store(db, vault, other, person(), number)
    await vault.commit(db)
    assert await vault.find_duplicate(db, other, NumberField.MY_NUMBER, number) is not None


async def test_a_second_number_for_the_same_person_is_refused(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    subject = person()
    await store(db, vault, tenant_id, subject, my_number())
    await vault.commit(db)
    with pytest.raises(NumberAlreadyStored):
        await store(db, vault, tenant_id, subject, my_number())


async def test_storing_the_persons_own_number_again_is_already_stored_not_a_duplicate(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    subject, number = person(), my_number()
    await store(db, vault, tenant_id, subject, number)
    with pytest.raises(NumberAlreadyStored):
        await store(db, vault, tenant_id, subject, number)


async def test_an_invalid_number_is_refused_before_anything_is_written(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    number = my_number()
    wrong = number[:11] + str((int(number[11]) + 1) % 10)
    with pytest.raises(InvalidNumber) as excinfo:
        await store(db, vault, tenant_id, person(), wrong)
    assert excinfo.value.code == "check_digit"
    await db.commit()
    assert await count(db, "SELECT count(*) FROM vault_numbers") == 0
    async with vault.keystore.engine.connect() as keystore:
        assert (await keystore.execute(text("SELECT count(*) FROM number_keys"))).scalar() == 0


async def test_find_duplicate_finds_the_live_holder_only(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID) -> None:
    number, subject = my_number(), person()
    assert await vault.find_duplicate(db, tenant_id, NumberField.MY_NUMBER, number) is None
    await store(db, vault, tenant_id, subject, number)
    await vault.commit(db)
    assert await vault.find_duplicate(db, tenant_id, NumberField.MY_NUMBER, f" {number} ") == subject.person_id
    await vault.erase(db, tenant_id=tenant_id, subject=subject, actor=ADMIN, function=FUNCTION, reason="退職")
    await vault.commit(db)
    assert await vault.find_duplicate(db, tenant_id, NumberField.MY_NUMBER, number) is None
    await store(db, vault, tenant_id, person(), number)  # erased numbers do not block re-registration


async def test_the_blind_index_separates_fields(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID) -> None:
    corporate = corporate_number()
    await store(db, vault, tenant_id, person(), corporate, NumberField.CORPORATE_NUMBER)
    assert await vault.find_duplicate(db, tenant_id, NumberField.CORPORATE_NUMBER, corporate) is not None
    assert await count(db, "SELECT count(DISTINCT blind_index) FROM vault_numbers") == 1


async def test_a_corporate_number_is_stored_and_revealed(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID) -> None:
    subject, number = person("株式会社テスト"), corporate_number()
    stored = await store(db, vault, tenant_id, subject, number, NumberField.CORPORATE_NUMBER)
    assert stored.masked == "*" * 11 + number[-2:]
    revealed = await vault.reveal(
        db,
        tenant_id=tenant_id,
        subject=subject,
        field=NumberField.CORPORATE_NUMBER,
        actor=ADMIN,
        purpose="支払調書",
        function=FUNCTION,
    )
    assert revealed == number


async def test_replacing_a_number_erases_the_old_one_and_logs_both(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    subject, old, new = person(), my_number(), my_number()
    first = await store(db, vault, tenant_id, subject, old)
    await vault.commit(db)
    second = await vault.replace_number(
        db,
        tenant_id=tenant_id,
        subject=subject,
        field=NumberField.MY_NUMBER,
        number=new,
        actor=ADMIN,
        action=AuditAction.UPDATE,
        function=FUNCTION,
    )
    await vault.commit(db)
    assert await reveal(db, vault, tenant_id, subject) == new
    assert second.id != first.id and second.replaced == (first.id,)
    actions = [e.action for e in await entries(db, tenant_id)]
    assert actions == [AuditAction.PROXY_REGISTER, AuditAction.DELETE, AuditAction.UPDATE, AuditAction.REVEAL]
    async with vault.keystore.engine.connect() as keystore:
        ids = set((await keystore.execute(select(NumberKey.number_id))).scalars())
    assert ids == {second.id}  # the old number's key is gone


async def test_replacing_with_another_persons_number_is_refused_and_keeps_the_old_one(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    subject, taken = person(), my_number()
    await store(db, vault, tenant_id, person(), taken)
    original = my_number()
    await store(db, vault, tenant_id, subject, original)
    await vault.commit(db)
    with pytest.raises(DuplicateNumber):
        await vault.replace_number(
            db,
            tenant_id=tenant_id,
            subject=subject,
            field=NumberField.MY_NUMBER,
            number=taken,
            actor=ADMIN,
            action=AuditAction.UPDATE,
            function=FUNCTION,
        )
    assert await reveal(db, vault, tenant_id, subject) == original


async def test_revealing_writes_exactly_one_audit_entry_with_the_purpose(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    subject, number = person(), my_number()
    stored = await store(db, vault, tenant_id, subject, number)
    await vault.commit(db)
    assert await reveal(db, vault, tenant_id, subject) == number
    await db.commit()
    revealed = await entries(db, tenant_id, AuditAction.REVEAL)
    assert len(revealed) == 1
    assert revealed[0].purpose == "源泉徴収" and revealed[0].subject_person_id == subject.person_id
    assert revealed[0].detail == {"field": "my_number", "number_id": str(stored.id)}


async def test_revealing_without_a_number_says_so_and_logs_nothing(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    with pytest.raises(NumberNotFound):
        await reveal(db, vault, tenant_id, person())
    assert await entries(db, tenant_id) == []


async def test_reveal_many_returns_each_number_and_logs_each_person(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    people = [person(f"社員{i}") for i in range(5)]
    numbers = {p.person_id: my_number() for p in people[:4]}
    for p in people[:4]:
        await store(db, vault, tenant_id, p, numbers[p.person_id])
    await vault.commit(db)
    revealed = await vault.reveal_many(
        db,
        tenant_id=tenant_id,
        subjects=people,
        field=NumberField.MY_NUMBER,
        actor=ADMIN,
        purpose="源泉徴収",
        function="CSV出力",
        action=AuditAction.CSV_EXPORT,
    )
    await db.commit()
    assert revealed == numbers  # the fifth person has no number
    exported = await entries(db, tenant_id, AuditAction.CSV_EXPORT)
    assert sorted(e.subject_person_id for e in exported) == sorted(numbers)  # type: ignore[type-var]


async def test_store_many_stores_every_row_and_logs_each(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID) -> None:
    rows = [(person(f"社員{i}"), my_number()) for i in range(30)]
    stored = await vault.store_many(
        db, tenant_id=tenant_id, entries=rows, field=NumberField.MY_NUMBER, actor=ADMIN, function="取込"
    )
    await vault.commit(db)
    assert [s.subject_id for s in stored] == [p.person_id for p, _ in rows]
    assert len(await entries(db, tenant_id, AuditAction.IMPORT)) == 30
    revealed = await vault.reveal_many(
        db, tenant_id=tenant_id, subjects=[p for p, _ in rows], field=NumberField.MY_NUMBER, actor=ADMIN,
        purpose="確認", function="テスト",
    )  # fmt: skip
    assert revealed == {p.person_id: n for p, n in rows}


async def test_store_many_refuses_the_whole_batch_and_lists_each_bad_row(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    holder, taken = person(), my_number()
    await store(db, vault, tenant_id, holder, taken)
    await vault.commit(db)
    repeated = my_number()
    twice = person()
    rows = [
        (person(), my_number()),  # 0 fine
        (person(), "12345"),  # 1 wrong length
        (person(), taken),  # 2 another person's number
        (holder, my_number()),  # 3 already has one
        (person(), repeated),  # 4 fine
        (person(), repeated),  # 5 same as row 4
        (twice, my_number()),  # 6 fine
        (twice, my_number()),  # 7 same person twice
    ]
    with pytest.raises(NumberBatchError) as excinfo:
        await vault.store_many(
            db, tenant_id=tenant_id, entries=rows, field=NumberField.MY_NUMBER, actor=ADMIN, function="取込"
        )
    errors = [(e.index, e.code) for e in excinfo.value.errors]
    assert errors == [
        (1, "wrong_length"),
        (2, "duplicate"),
        (3, "already_stored"),
        (5, "duplicate_in_batch"),
        (7, "subject_twice"),
    ]
    assert all(n not in str(excinfo.value.errors) for _, n in rows)
    await db.rollback()
    assert await count(db, "SELECT count(*) FROM vault_numbers") == 1


async def test_number_info_lists_masked_numbers_without_the_key_store(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob, carol = person(), person(), person()
    a = await store(db, vault, tenant_id, alice, "123456789018")
    await store(db, vault, tenant_id, bob, my_number())
    await vault.commit(db)
    await vault.erase(db, tenant_id=tenant_id, subject=bob, actor=ADMIN, function=FUNCTION, reason="退職")
    await vault.commit(db)
    monkeypatch.setattr(vault.keystore, "get_many", None)  # listing never needs a key
    info = await vault.number_info(db, tenant_id, [alice.person_id, bob.person_id, carol.person_id])  # type: ignore[list-item]
    assert list(info) == [alice.person_id]
    assert info[alice.person_id].masked == "**********18" and info[alice.person_id].id == a.id
    assert info[alice.person_id].registered_at == a.registered_at


async def test_an_audit_failure_makes_storing_fail_and_nothing_is_kept(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, break_audit_log: Callable[[], Awaitable[None]]
) -> None:
    await break_audit_log()
    with pytest.raises(Exception, match="audit log unavailable"):
        await store(db, vault, tenant_id, person(), my_number())
    await db.rollback()
    assert await count(db, "SELECT count(*) FROM vault_numbers") == 0


async def test_an_audit_failure_makes_revealing_fail_without_the_number(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, break_audit_log: Callable[[], Awaitable[None]]
) -> None:
    subject, number = person(), my_number()
    await store(db, vault, tenant_id, subject, number)
    await vault.commit(db)
    await break_audit_log()
    with pytest.raises(Exception, match="audit log unavailable") as excinfo:
        await reveal(db, vault, tenant_id, subject)
    assert number not in str(excinfo.value)


async def test_an_audit_failure_makes_erasing_fail_and_keeps_the_key(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, break_audit_log: Callable[[], Awaitable[None]]
) -> None:
    subject = person()
    stored = await store(db, vault, tenant_id, subject, my_number())
    await vault.commit(db)
    await break_audit_log()
    with pytest.raises(Exception, match="audit log unavailable"):
        await vault.erase(db, tenant_id=tenant_id, subject=subject, actor=ADMIN, function=FUNCTION, reason="退職")
    await db.rollback()
    assert (await db.execute(select(VaultNumber.erased_at).where(VaultNumber.id == stored.id))).scalar() is None
    async with vault.keystore.engine.connect() as keystore:
        assert (await keystore.execute(text("SELECT count(*) FROM number_keys"))).scalar() == 1


@pytest.fixture
async def break_audit_log(db: AsyncSession) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Installs a trigger that makes every insert into the log fail, as a full disk or a revoked grant would."""
    postgres = db.get_bind().dialect.name == "postgresql"
    installed = False

    async def install() -> None:
        nonlocal installed
        if postgres:  # as the tables' owner: the app's role may not add triggers
            await db.commit()
            await as_table_owner(
                db,
                "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$",
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_entries "
                "FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
            )
        else:
            await db.execute(
                text(
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_entries "
                    "BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END"
                )
            )
        await db.commit()
        installed = True

    yield install
    if installed:
        await db.rollback()
        if postgres:
            await as_table_owner(db, "DROP TRIGGER refuse_audit ON audit_entries", "DROP FUNCTION refuse_audit()")
        else:
            await db.execute(text("DROP TRIGGER refuse_audit"))
            await db.commit()


def test_index_locks_are_bounded_per_transaction_and_the_same_number_shares_its_key() -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    indexes = [uuid.uuid4().bytes * 2 for _ in range(10_000)]
    keys = index_lock_keys(tenant, indexes)
    assert len(keys) <= INDEX_LOCK_BUCKETS and keys == sorted(keys)
    assert index_lock_keys(tenant, [indexes[7]]) == index_lock_keys(tenant, [indexes[7], indexes[7]])
    assert set(index_lock_keys(tenant, [indexes[7]])) <= set(keys)
    assert index_lock_keys(other, [indexes[7]]) != index_lock_keys(tenant, [indexes[7]])


async def test_a_batch_of_many_numbers_holds_a_bounded_number_of_locks(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    """PostgreSQL: one advisory lock per number made a 10,000-employee transaction fail ("out of shared memory")."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    rows = [(person(f"社員{i}"), my_number()) for i in range(400)]
    await vault.store_many(
        db, tenant_id=tenant_id, entries=rows, field=NumberField.MY_NUMBER, actor=ADMIN, function="取込",
        allow_duplicates=True,
    )  # fmt: skip
    held = (
        await db.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"))
    ).scalar_one()
    assert 0 < held <= INDEX_LOCK_BUCKETS
    await vault.commit(db)
