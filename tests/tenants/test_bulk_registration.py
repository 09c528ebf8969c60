"""Bulk writes of an import: statuses set in one UPDATE per chunk (``mark_registered_many``), rows inserted by
``app.db.insert_many``, planner statistics kept up as a transaction grows its tables (``bulk.Growth``)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Subject
from app.config import Settings
from app.db import insert_many, new_id, utcnow
from app.vault import NumberField, Vault
from app.vault.models import VaultNumber
from tenants.listing import CountDeltas, apply_count_deltas, recount, stored_counts
from tenants.models import CollectionStatus, Department, Person
from tenants.services import Channel, bulk, mark_registered, mark_registered_many
from tests.support.people import ACTOR, make_department, make_dependant, make_employee, valid_my_number
from tests.support.world import World

S = CollectionStatus


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


async def counters_match(db: AsyncSession, tenant_id: uuid.UUID) -> bool:
    return {k: v for k, v in (await recount(db, tenant_id)).items() if v} == await stored_counts(db, tenant_id)


async def stored(db: AsyncSession, vault: Vault, people: list[Person], seed: int) -> list[Any]:
    """Numbers stored for these people as an import stores them (no status set yet)."""
    return await vault.store_many(
        db,
        tenant_id=people[0].tenant_id,
        entries=[(Subject(person_id=p.id, name=p.name), valid_my_number(seed + n)) for n, p in enumerate(people)],
        field=NumberField.MY_NUMBER,
        actor=ACTOR,
        function="代理登録",
        allow_duplicates=True,
    )


async def test_many_registrations_set_what_one_sets_and_move_the_counters(
    db: AsyncSession, world: World, vault: Vault
) -> None:
    tenant_id = world.tenant.id
    sales = await make_department(db, tenant_id, "S01", "営業")
    employee = await make_employee(db, tenant_id, "E1", "山田 太郎", department=sales)
    child = await make_dependant(db, employee, "山田 花子")
    declined = await make_employee(db, tenant_id, "E2", "佐藤 次郎")
    declined.status, declined.declined_at, declined.decline_reason = S.DECLINED, utcnow(), "出したくない"
    loose = await make_employee(db, tenant_id, "E3", "鈴木 三郎")
    one = await make_employee(db, tenant_id, "E4", "伊藤 四郎", department=sales)
    await db.commit()
    assert await counters_match(db, tenant_id)

    numbers = await stored(db, vault, [employee, child, declined, loose], 10)
    deltas: CountDeltas = Counter()
    await mark_registered_many(db, tenant_id, numbers, Channel.PROXY, deltas=deltas)
    assert deltas  # summed for the caller, not yet applied
    await apply_count_deltas(db, deltas)
    (single,) = await stored(db, vault, [one], 20)
    mark_registered(one, single, Channel.PROXY)
    await db.commit()

    assert await counters_match(db, tenant_id)
    for person, number in zip([employee, child, declined, loose], numbers, strict=True):
        assert person.status is S.PROXY_REGISTERED  # loaded objects follow without a refresh
        await db.refresh(person)
        assert (person.status, person.registered_at, person.registered_section) == (
            S.PROXY_REGISTERED,
            number.registered_at,
            0,
        )
        assert (person.declined_at, person.decline_reason, person.admin_confirmed_at, person.admin_confirmed_by) == (
            None,
            "",
            None,
            "",
        )
    await db.refresh(one)
    assert (one.status, one.registered_section) == (S.PROXY_REGISTERED, 0)


async def test_without_deltas_the_counters_move_at_once(db: AsyncSession, world: World, vault: Vault) -> None:
    tenant_id = world.tenant.id
    people = [await make_employee(db, tenant_id, f"E{n}", f"社員 {n}") for n in range(3)]
    await db.commit()
    await mark_registered_many(db, tenant_id, await stored(db, vault, people, 30), Channel.SELF)
    await db.commit()
    assert await counters_match(db, tenant_id)
    for person in people:
        await db.refresh(person)
        assert person.status is S.REGISTERED


async def test_insert_many_converts_each_type_and_gives_the_python_defaults(db: AsyncSession, world: World) -> None:
    tenant_id = world.tenant.id
    departments = cast_table(Department)
    await insert_many(db, departments, [{"tenant_id": tenant_id, "code": f"D{n}", "name": f"部 {n}"} for n in range(3)])
    rows = (await db.execute(select(Department).where(Department.tenant_id == tenant_id))).scalars().all()
    assert sorted(d.code for d in rows) == ["D0", "D1", "D2"]
    assert len({d.id for d in rows}) == 3 and all(d.created_at is not None for d in rows)  # new_id, utcnow per row

    now = utcnow()
    number = {
        "tenant_id": tenant_id,
        "id": new_id(),
        "subject_id": uuid.uuid4(),
        "field": NumberField.CORPORATE_NUMBER,
        "ciphertext": b"\x00\x01sealed",
        "nonce": b"n" * 12,
        "tenant_key_version": 3,
        "blind_index": bytes(range(32)),
        "masked": "*********8901",
        "flagged": True,
        "registered_at": now,
        "created_at": now,
        "updated_at": now,
    }
    await insert_many(db, cast_table(VaultNumber), [number])
    back = (await db.execute(select(VaultNumber).where(VaultNumber.id == number["id"]))).scalar_one()
    assert (back.field, bytes(back.ciphertext or b""), bytes(back.blind_index or b""), back.flagged) == (
        NumberField.CORPORATE_NUMBER,
        number["ciphertext"],
        number["blind_index"],
        True,
    )
    assert back.registered_at == now and back.erased_at is None
    await db.rollback()


def cast_table(model: Any) -> Table:
    table: Table = model.__table__
    return table


async def test_growth_refreshes_the_statistics_at_each_doubling(monkeypatch: pytest.MonkeyPatch) -> None:
    refreshed: list[int] = []

    async def refresh(_session: object, tables: object) -> None:
        refreshed.append(growth.written)

    monkeypatch.setattr(bulk, "refresh_statistics", refresh)
    growth = bulk.Growth(("vault_numbers",))
    for _ in range(10):
        await growth.before_batch(None)  # type: ignore[arg-type]
        growth.wrote(1000)
    assert refreshed == [1000, 2000, 4000, 8000]
