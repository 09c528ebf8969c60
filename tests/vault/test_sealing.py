"""Sealing: round trips, and ciphertexts moved to another row, person or tenant that refuse to open."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, Subject
from app.config import Settings
from app.vault import NumberField, StoredNumber, Vault, VaultIntegrityError
from app.vault.keystore import NumberKey
from app.vault.models import TenantKey, VaultNumber
from tests.vault.helpers import ADMIN, count, make_tenant, my_number, person

FUNCTION = "テスト"


async def store(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, number: str, name: str = "山田 太郎"
) -> tuple[Subject, StoredNumber]:
    subject = person(name)
    stored = await vault.store_number(
        db,
        tenant_id=tenant_id,
        subject=subject,
        field=NumberField.MY_NUMBER,
        number=number,
        actor=ADMIN,
        action=AuditAction.PROXY_REGISTER,
        function=FUNCTION,
    )
    await vault.commit(db)
    return subject, stored


async def reveal(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, subject: Subject) -> str:
    return await vault.reveal(
        db,
        tenant_id=tenant_id,
        subject=subject,
        field=NumberField.MY_NUMBER,
        actor=ADMIN,
        purpose="源泉徴収",
        function=FUNCTION,
    )


async def test_a_stored_number_reveals_as_its_normalised_digits(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    number = my_number()
    typed = f"{number[:4]} {number[4:8]}-{number[8:]}".translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    subject, stored = await store(db, vault, tenant_id, typed)
    assert isinstance(stored, StoredNumber)
    assert stored.masked == "**********" + number[-2:] and stored.subject_id == subject.person_id
    assert await reveal(db, vault, tenant_id, subject) == number


async def test_the_main_database_holds_ciphertext_and_the_key_store_holds_the_key(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    number = my_number()
    _, stored = await store(db, vault, tenant_id, number)
    row = (await db.execute(select(VaultNumber).where(VaultNumber.id == stored.id))).scalar_one()
    assert row.ciphertext is not None and number.encode() not in row.ciphertext
    assert row.nonce is not None and len(row.nonce) == 12
    assert row.blind_index is not None and len(row.blind_index) == 32
    assert row.masked == "**********" + number[-2:]
    async with vault.keystore.engine.connect() as keystore:
        keys = (await keystore.execute(select(NumberKey).where(NumberKey.number_id == stored.id))).all()
    assert len(keys) == 1
    tenant_key = (await db.execute(select(TenantKey).where(TenantKey.tenant_id == tenant_id))).scalar_one()
    assert tenant_key.kek_version == 1 and len(tenant_key.wrapped_data_key) == 12 + 32 + 16


async def test_two_people_with_different_numbers_get_different_keys_and_nonces(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    await store(db, vault, tenant_id, my_number())
    await store(db, vault, tenant_id, my_number())
    assert await count(db, "SELECT count(DISTINCT nonce) FROM vault_numbers") == 2
    async with vault.keystore.engine.connect() as keystore:
        wrapped = (await keystore.execute(select(NumberKey.wrapped_key))).scalars().all()
    assert len(set(wrapped)) == 2


async def test_a_ciphertext_moved_to_another_person_fails_to_open(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    alice, a = await store(db, vault, tenant_id, my_number(), "甲")
    bob, b = await store(db, vault, tenant_id, my_number(), "乙")
    # Swap the people the two rows belong to (keys stay with their rows): associated data binds the person.
    placeholder = uuid.uuid4()
    for row_id, subject_id in ((a.id, placeholder), (b.id, alice.person_id), (a.id, bob.person_id)):
        await db.execute(update(VaultNumber).where(VaultNumber.id == row_id).values(subject_id=subject_id))
    await db.commit()
    for subject in (alice, bob):
        with pytest.raises(VaultIntegrityError):
            await reveal(db, vault, tenant_id, subject)


async def test_swapping_the_ciphertexts_of_two_rows_fails_to_open(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    alice, a = await store(db, vault, tenant_id, my_number(), "甲")
    bob, b = await store(db, vault, tenant_id, my_number(), "乙")
    rows = {
        r.id: (r.ciphertext, r.nonce)
        for r in (await db.execute(select(VaultNumber.id, VaultNumber.ciphertext, VaultNumber.nonce))).all()
    }
    for target, source in ((a.id, b.id), (b.id, a.id)):
        ciphertext, nonce = rows[source]
        await db.execute(update(VaultNumber).where(VaultNumber.id == target).values(ciphertext=ciphertext, nonce=nonce))
    await db.commit()
    for subject in (alice, bob):
        with pytest.raises(VaultIntegrityError):
            await reveal(db, vault, tenant_id, subject)


async def test_swapping_the_key_store_rows_of_two_numbers_fails_to_open(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    alice, a = await store(db, vault, tenant_id, my_number(), "甲")
    _, b = await store(db, vault, tenant_id, my_number(), "乙")
    async with vault.keystore.engine.begin() as keystore:
        wrapped = dict((await keystore.execute(select(NumberKey.number_id, NumberKey.wrapped_key))).all())
        await keystore.execute(update(NumberKey).where(NumberKey.number_id == a.id).values(wrapped_key=wrapped[b.id]))
    with pytest.raises(VaultIntegrityError):
        await reveal(db, vault, tenant_id, alice)


async def test_a_row_moved_to_another_tenant_fails_to_open(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    other = await make_tenant(db)
    await vault.create_tenant_keys(db, other)
    await db.commit()
    subject, stored = await store(db, vault, tenant_id, my_number())
    # Move the row and its key wholesale to the other tenant, as a bad restore or a wrong UPDATE would.
    await db.execute(update(VaultNumber).where(VaultNumber.id == stored.id).values(tenant_id=other))
    await db.commit()
    async with vault.keystore.engine.begin() as keystore:
        await keystore.execute(update(NumberKey).where(NumberKey.number_id == stored.id).values(tenant_id=other))
    with pytest.raises(VaultIntegrityError):
        await reveal(db, vault, other, subject)


async def test_a_tenant_key_copied_to_another_tenant_fails_to_unwrap(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    other = await make_tenant(db)
    await vault.create_tenant_keys(db, other)
    await db.commit()
    source = (await db.execute(select(TenantKey).where(TenantKey.tenant_id == tenant_id))).scalar_one()
    await db.execute(
        update(TenantKey)
        .where(TenantKey.tenant_id == other)
        .values(wrapped_data_key=source.wrapped_data_key, wrapped_index_key=source.wrapped_index_key)
    )
    await db.commit()
    fresh = Vault(vault.provider, vault.keystore)
    with pytest.raises(VaultIntegrityError):
        await fresh.keyring.current(db, other)


async def test_a_flipped_bit_in_the_ciphertext_fails_to_open(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    subject, stored = await store(db, vault, tenant_id, my_number())
    ciphertext = (await db.execute(select(VaultNumber.ciphertext).where(VaultNumber.id == stored.id))).scalar_one()
    assert ciphertext is not None
    tampered = bytes([ciphertext[0] ^ 0x01]) + ciphertext[1:]
    await db.execute(update(VaultNumber).where(VaultNumber.id == stored.id).values(ciphertext=tampered))
    await db.commit()
    with pytest.raises(VaultIntegrityError):
        await reveal(db, vault, tenant_id, subject)


async def test_an_integrity_failure_is_logged_without_the_number(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, caplog: pytest.LogCaptureFixture
) -> None:
    number = my_number()
    subject, stored = await store(db, vault, tenant_id, number)
    await db.execute(update(VaultNumber).where(VaultNumber.id == stored.id).values(nonce=b"\x00" * 12))
    await db.commit()
    with caplog.at_level(logging.DEBUG), pytest.raises(VaultIntegrityError) as excinfo:
        await reveal(db, vault, tenant_id, subject)
    assert any(r.levelno == logging.ERROR and getattr(r, "number_id", "") == str(stored.id) for r in caplog.records)
    assert number not in caplog.text and number not in str(excinfo.value)
    assert "管理者" in excinfo.value.message


async def test_a_sealed_secret_opens_only_for_its_tenant_owner_and_purpose(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    owner = uuid.uuid4()
    token = await vault.seal_secret(db, tenant_id, owner, "totp", b"JBSWY3DPEHPK3PXP")
    assert b"JBSWY3DPEHPK3PXP" not in token
    assert await vault.open_secret(db, tenant_id, owner, "totp", token) == b"JBSWY3DPEHPK3PXP"
    other_tenant = await make_tenant(db)
    await vault.create_tenant_keys(db, other_tenant)
    for tenant, who, purpose, blob in (
        (tenant_id, uuid.uuid4(), "totp", token),
        (tenant_id, owner, "recovery", token),
        (other_tenant, owner, "totp", token),
        (tenant_id, owner, "totp", token[:-1] + bytes([token[-1] ^ 1])),
        (tenant_id, owner, "totp", b"garbage"),
    ):
        with pytest.raises(VaultIntegrityError):
            await vault.open_secret(db, tenant, who, purpose, blob)


async def test_creating_tenant_keys_twice_keeps_the_first_keys(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    before = (await db.execute(select(TenantKey.wrapped_data_key))).scalars().all()
    await vault.create_tenant_keys(db, tenant_id)
    await db.commit()
    assert (await db.execute(select(TenantKey.wrapped_data_key))).scalars().all() == before


async def test_the_first_use_of_a_tenant_without_keys_creates_them(db: AsyncSession, vault: Vault) -> None:
    tenant_id = await make_tenant(db)
    subject, _ = await store(db, vault, tenant_id, "123456789018")
    assert await reveal(db, vault, tenant_id, subject) == "123456789018"
    assert await count(db, "SELECT count(*) FROM tenant_keys") == 1


async def test_tenant_keys_from_a_rolled_back_transaction_are_never_reused(
    db: AsyncSession, vault: Vault, settings: Settings
) -> None:
    tenant_id = await make_tenant(db)
    number = my_number()
    await vault.store_number(
        db, tenant_id=tenant_id, subject=person(), field=NumberField.MY_NUMBER, number=number, actor=ADMIN,
        action=AuditAction.REGISTER, function=FUNCTION,
    )  # fmt: skip
    await db.rollback()  # the tenant keys created on first use go with it
    subject, _ = await store(db, vault, tenant_id, number)
    fresh = Vault.from_settings(settings)  # a restarted process: nothing cached
    try:
        assert await reveal(db, fresh, tenant_id, subject) == number
    finally:
        await fresh.close()
