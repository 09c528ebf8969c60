"""The duplicate check reads the (tenant_id, blind_index) index under every plan: SQLite with or without statistics,
PostgreSQL's generic plan (what asyncpg's prepared statement runs from its sixth execution) after ANALYZE."""

from __future__ import annotations

import secrets
import uuid

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import new_id, refresh_statistics, utcnow
from app.vault import NumberField, Vault
from app.vault._checks import holders_of
from app.vault.models import VaultNumber
from tests.support.plans import captured, plan_of, sent_to
from tests.vault.helpers import ADMIN, make_tenant, my_number, person

INDEX = "ix_vault_numbers_tenant_id_blind_index"


async def fill(db: AsyncSession, tenant_id: uuid.UUID, count: int, *, erased_every: int = 10) -> None:
    """``count`` numbers (sealed values are not opened here: random bytes), some erased, some flagged."""
    now = utcnow()
    rows = []
    for n in range(count):
        erased = n % erased_every == 0
        rows.append(
            {
                "tenant_id": tenant_id,
                "id": new_id(),
                "subject_id": new_id(),
                "field": NumberField.MY_NUMBER,
                "ciphertext": None if erased else secrets.token_bytes(40),
                "nonce": None if erased else secrets.token_bytes(12),
                "tenant_key_version": 1,
                "blind_index": None if erased else secrets.token_bytes(32),
                "masked": "**********18",
                "flagged": n % 50 == 1,
                "registered_at": now,
                "erased_at": now if erased else None,
                "created_at": now,
                "updated_at": now,
            }
        )
    for start in range(0, count, 1000):
        await db.execute(insert(VaultNumber), rows[start : start + 1000])
    await db.commit()


@pytest.fixture
async def big_tenant(db: AsyncSession) -> uuid.UUID:
    tenant_id = await make_tenant(db)
    small = await make_tenant(db)
    await fill(db, tenant_id, 6000)
    await fill(db, small, 50)
    return tenant_id


async def holders_plan(db: AsyncSession, tenant_id: uuid.UUID, lookups: int) -> str:
    indexes = [secrets.token_bytes(32) for _ in range(lookups)]
    with captured(db) as sent:
        await db.execute(holders_of(db, tenant_id, indexes))
    return await plan_of(db, sent_to(sent, "vault_numbers"))


@pytest.mark.parametrize("lookups", [1, 500])
async def test_the_check_uses_the_blind_index_after_analyze(
    db: AsyncSession, big_tenant: uuid.UUID, lookups: int
) -> None:
    await refresh_statistics(db, ["vault_numbers"])
    await db.commit()

    plan = await holders_plan(db, big_tenant, lookups)

    assert INDEX in plan, plan
    assert "Seq Scan" not in plan and "SCAN vault_numbers" not in plan, plan


async def test_the_check_uses_the_blind_index_without_statistics(db: AsyncSession, big_tenant: uuid.UUID) -> None:
    if db.get_bind().dialect.name == "sqlite":
        await db.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
        await db.commit()

    plan = await holders_plan(db, big_tenant, 500)

    assert INDEX in plan, plan


async def test_one_statement_shape_serves_every_batch_size_on_postgresql(
    db: AsyncSession, big_tenant: uuid.UUID
) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("an IN list is fine on SQLite: it plans each statement anew")
    with captured(db) as sent:
        for lookups in (1, 7, 500):
            await db.execute(holders_of(db, big_tenant, [secrets.token_bytes(32) for _ in range(lookups)]))

    assert len({s.sql for s in sent}) == 1
    assert "= ANY" in sent[0].sql


async def test_a_batch_store_finds_flagged_and_unflagged_holders(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID
) -> None:
    number = my_number()
    first = await vault.store_many(
        db, tenant_id=tenant_id, entries=[(person(), number)], field=NumberField.MY_NUMBER, actor=ADMIN,
        function="テスト",
    )  # fmt: skip
    second = await vault.store_many(
        db, tenant_id=tenant_id, entries=[(person(), number)], field=NumberField.MY_NUMBER, actor=ADMIN,
        function="テスト", allow_duplicates=True,
    )  # fmt: skip
    third = await vault.store_many(
        db, tenant_id=tenant_id, entries=[(person(), number)], field=NumberField.MY_NUMBER, actor=ADMIN,
        function="テスト", allow_duplicates=True,
    )  # fmt: skip
    await vault.commit(db)

    assert [first[0].flagged, second[0].flagged, third[0].flagged] == [False, True, True]
    found = (await db.execute(holders_of(db, tenant_id, [secrets.token_bytes(32)]))).all()
    assert found == []
