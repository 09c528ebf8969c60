"""Appending to the operation log in the caller's transaction, bulk appends, listing, and erasing a tenant's log."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditResult
from app.audit.log import (
    AuditContentError,
    erase_tenant_log,
    list_entries,
    record,
    record_many,
    verify_all,
    verify_chain,
)
from app.audit.models import AuditChainHead, AuditEntry
from tenants.models import Tenant, TenantKind
from tests.audit.conftest import add_tenant, make_event


async def count_entries(session: AsyncSession, tenant_id: uuid.UUID | None = None) -> int:
    query = select(func.count()).select_from(AuditEntry)
    if tenant_id is not None:
        query = query.where(AuditEntry.tenant_id == tenant_id)
    return int((await session.execute(query)).scalar_one())


async def test_it_stores_every_field_of_the_entry(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    event = make_event(tenant_id, 7)
    await record(db, event)
    await db.commit()
    entry = (await db.execute(select(AuditEntry))).scalar_one()
    assert (entry.seq, entry.action, entry.result) == (1, AuditAction.REVEAL, AuditResult.SUCCESS)
    assert entry.action.value == "表示" and entry.result.value == "成功"
    assert (entry.actor_user_id, entry.actor_login_id, entry.actor_name) == (event.actor.user_id, "tanaka", "田中 花子")
    assert (entry.actor_role, entry.actor_organisation) == ("handler", "東野商事株式会社")
    assert (entry.ip, entry.user_agent, entry.function) == ("203.0.113.7", "Mozilla/5.0", "マイナンバー表示")
    assert event.subject is not None and entry.subject_person_id == event.subject.person_id
    assert (entry.subject_name, entry.subject_employee_code) == ("東野二郎 > 東野順子", "E00007")
    assert (entry.subject_department_code, entry.subject_department_name) == ("D01", "総務部")
    assert (entry.purpose, entry.detail) == ("源泉徴収", {"field": "my_number", "n": 7})
    assert entry.occurred_at.tzinfo is not None
    assert entry.prev_hash == "0" * 64 and len(entry.hash) == 64


async def test_an_entry_without_subject_or_purpose_is_stored_with_empty_snapshots(
    db: AsyncSession, tenant_id: uuid.UUID
) -> None:
    actor = Actor(None, "unknown", "", "", "", None, None)
    await record(db, make_event(tenant_id, action=AuditAction.LOGIN_FAILED, actor=actor, subject=None, purpose=None))
    await db.commit()
    entry = (await db.execute(select(AuditEntry))).scalar_one()
    assert (entry.subject_person_id, entry.subject_name, entry.purpose, entry.ip) == (None, "", None, None)
    assert (await verify_chain(db, tenant_id)).ok


async def test_a_rolled_back_operation_takes_its_entry_with_it(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    await record(db, make_event(tenant_id, 1))
    await db.rollback()
    assert await count_entries(db) == 0
    await record(db, make_event(tenant_id, 2))
    await db.commit()
    entries = (await db.execute(select(AuditEntry))).scalars().all()
    assert [e.seq for e in entries] == [1]
    assert (await verify_chain(db, tenant_id)).ok


async def test_an_entry_that_cannot_be_written_fails_the_operation(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    db.add(Tenant(code="half-done", name="途中の変更"))
    with pytest.raises(IntegrityError):
        await record(db, make_event(uuid.uuid4()))  # no such tenant: the foreign key refuses the entry
    await db.rollback()
    assert (await db.execute(select(Tenant).where(Tenant.code == "half-done"))).first() is None
    assert await count_entries(db) == 0


async def test_it_refuses_a_my_number_anywhere_in_the_entry(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    number = "１２３４－５６７８－９０１８"
    subject = make_event(tenant_id).subject
    assert subject is not None
    bad_events = [
        make_event(tenant_id, purpose=f"源泉徴収 {number}"),
        make_event(tenant_id, function="表示 123456789018"),
        make_event(tenant_id, detail={"note": "1234 5678 9018"}),
        make_event(tenant_id, detail={"value": 123456789018}),
        make_event(tenant_id, detail={"123456789018": "key"}),
        make_event(tenant_id, detail={"nested": [{"x": "番号:1234-5678-9018"}]}),
        make_event(tenant_id, actor=Actor(None, "x", "x", "role 123456789018", "z")),
    ]
    for event in bad_events:
        with pytest.raises(AuditContentError) as excinfo:
            await record(db, event)
        assert "9018" not in str(excinfo.value)
    with pytest.raises(AuditContentError):
        await record_many(db, [make_event(tenant_id, 1), make_event(tenant_id, detail={"n": number})])
    await db.commit()
    assert await count_entries(db) == 0
    assert (await db.execute(select(AuditChainHead))).first() is None


async def test_client_chosen_fields_are_redacted_not_refused(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    number = "１２３４－５６７８－９０１８"
    actor = Actor(None, "123456789018", f"名前 {number}", "admin", "株式会社 1234 5678 9012", "1234567890123", number)
    subject = type(make_event(tenant_id).subject)(None, "東野 123456789018", "123456789012", "部 1234-5678-9018")  # type: ignore[misc]
    await record(db, make_event(tenant_id, actor=actor, subject=subject))
    await db.commit()
    entry = (await db.execute(select(AuditEntry))).scalar_one()
    stored = [
        entry.actor_login_id,
        entry.actor_name,
        entry.actor_organisation,
        entry.ip,
        entry.user_agent,
        entry.subject_name,
        entry.subject_department_code,
        entry.subject_department_name,
    ]
    for value in stored:
        assert value is not None and "［数字列省略］" in value
        assert "9018" not in value and "9012" not in value
    assert entry.actor_organisation == "株式会社 ［数字列省略］"
    assert (await verify_chain(db, tenant_id)).ok


async def test_ids_dates_and_phone_numbers_in_the_detail_are_accepted(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    detail = {
        "document_id": "12345678-1234-4234-8234-123456789abc",
        "person_id": uuid.UUID("01935f6e-1234-7890-8123-456789012345"),
        "date": "2026-11-22 10:00:00",
        "phone": "090-1234-5678",
        "masked": "**********18",
        "rows": 100000,
    }
    await record(db, make_event(tenant_id, detail=detail))
    await db.commit()
    entry = (await db.execute(select(AuditEntry))).scalar_one()
    assert entry.detail["person_id"] == "01935f6e-1234-7890-8123-456789012345"
    assert (await verify_chain(db, tenant_id)).ok


async def test_an_unserializable_or_oversized_detail_is_refused(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    with pytest.raises(AuditContentError):
        await record(db, make_event(tenant_id, detail={"x": float("nan")}))
    with pytest.raises(AuditContentError):
        await record(db, make_event(tenant_id, detail={"x": "あ" * 9000}))


async def test_long_texts_are_clipped_and_still_verify(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    actor = Actor(None, "u", "名前", "admin", "組織", "198.51.100.1", "UA/" + "x" * 2000)
    await record(db, make_event(tenant_id, actor=actor, function="画面" * 100))
    await db.commit()
    entry = (await db.execute(select(AuditEntry))).scalar_one()
    assert entry.user_agent is not None and len(entry.user_agent) == 512
    assert len(entry.function) == 100
    assert (await verify_chain(db, tenant_id)).ok


async def test_odd_values_survive_the_database_round_trip(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    detail = {
        "float": 0.1,
        "big": 2**35,
        "neg": -7.5e-12,
        "none": None,
        "yes": True,
        "list": [1, "二", {"z": 1, "a": []}],
    }
    await record(db, make_event(tenant_id, detail=detail, purpose="  空白 ", function="𠮷野家\t表示"))
    await db.commit()
    assert (await verify_chain(db, tenant_id)).ok


async def test_record_many_appends_ten_thousand_entries_that_verify(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    await record(db, make_event(tenant_id, 0))
    await record_many(db, [make_event(tenant_id, n) for n in range(1, 10_001)])
    await record(db, make_event(tenant_id, 10_001))
    await db.commit()
    report = await verify_chain(db, tenant_id)
    assert (report.ok, report.entries, report.first_bad_seq) == (True, 10_002, None)
    head = (await db.execute(select(AuditChainHead))).scalar_one()
    assert head.last_seq == 10_002


async def test_record_many_keeps_one_chain_per_tenant(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    other = await add_tenant(db, "other")
    events = [make_event(tenant_id if n % 3 else other, n) for n in range(30)]
    await record_many(db, events)
    await db.commit()
    reports = {r.tenant_id: r for r in await verify_all(db)}
    assert (reports[tenant_id].ok, reports[tenant_id].entries) == (True, 20)
    assert (reports[other].ok, reports[other].entries) == (True, 10)
    details = [e.detail["n"] for e in await list_entries(db, other, limit=100)]
    assert details == [27, 24, 21, 18, 15, 12, 9, 6, 3, 0]  # newest first, in the order given


async def test_list_entries_is_scoped_filtered_and_newest_first(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    other = await add_tenant(db, "other")
    person = uuid.uuid4()
    subject = make_event(tenant_id).subject
    assert subject is not None
    await record_many(db, [make_event(tenant_id, n) for n in range(5)])
    await record(db, make_event(tenant_id, 5, action=AuditAction.PRINT, subject=type(subject)(person, "東野")))
    await record(db, make_event(tenant_id, 6, result=AuditResult.DENIED))
    await record(db, make_event(other, 99))
    await db.commit()
    assert [e.seq for e in await list_entries(db, tenant_id)] == [7, 6, 5, 4, 3, 2, 1]
    assert [e.seq for e in await list_entries(db, tenant_id, limit=2, offset=1)] == [6, 5]
    assert [e.seq for e in await list_entries(db, tenant_id, action=AuditAction.PRINT)] == [6]
    assert [e.seq for e in await list_entries(db, tenant_id, person_id=person)] == [6]
    assert [e.seq for e in await list_entries(db, tenant_id, result=AuditResult.DENIED)] == [7]
    first = (await list_entries(db, tenant_id))[-1]
    assert len(await list_entries(db, tenant_id, until=first.occurred_at)) == 0
    assert len(await list_entries(db, tenant_id, since=first.occurred_at)) == 7
    assert [e.detail["n"] for e in await list_entries(db, other)] == [99]


async def test_erasing_a_tenant_log_is_recorded_in_the_operator_chain(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    operator = await add_tenant(db, "operator", TenantKind.OPERATOR)
    other = await add_tenant(db, "other")
    await record_many(db, [make_event(tenant_id, n) for n in range(5)] + [make_event(other, 9)])
    await db.commit()
    erased = await erase_tenant_log(db, tenant_id, Actor(uuid.uuid4(), "ops", "運営 一郎", "operator", "運営"))
    await db.commit()
    assert erased == 5
    assert await count_entries(db, tenant_id) == 0
    reports = {r.tenant_id: r for r in await verify_all(db)}
    assert set(reports) == {operator, other}
    assert all(r.ok for r in reports.values())
    (entry,) = await list_entries(db, operator)
    assert entry.action == AuditAction.LOG_ERASE
    assert entry.detail == {"tenant_id": str(tenant_id), "tenant_code": "higashino", "entries": 5}
    await record(db, make_event(tenant_id, 0))  # a new chain starts from 1
    await db.commit()
    assert [e.seq for e in await list_entries(db, tenant_id)] == [1]


async def test_erasing_without_an_operator_tenant_records_nothing(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    await record(db, make_event(tenant_id))
    await db.commit()
    assert await erase_tenant_log(db, tenant_id, Actor.system()) == 1
    await db.commit()
    assert await count_entries(db) == 0
