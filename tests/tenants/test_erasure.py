"""Erasing numbers (issue 11): reason and step-up, the due date and the two-person rule, dependants, deletion
records, and a number that is really gone (the vault cannot open it; no key, no ciphertext in the files)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, Subject
from app.auth import sessions as sessions_module
from app.auth.models import Role
from app.config import Settings
from app.text import format_date, today_in_japan
from app.vault import NumberField, Vault
from app.vault.errors import NumberNotFound
from app.vault.numbers import mask_my_number
from tenants.listing import compare_counts
from tenants.models import (
    CollectionStatus,
    DeletionRecord,
    DeletionResult,
    EarlyDeletionRequest,
    Person,
    PersonKind,
    Relationship,
    RequestStatus,
)
from tests.support.audit import entries
from tests.support.people import give_number, make_department, make_dependant, make_employee, valid_my_number
from tests.support.world import Persona, World, csrf_token, make_persona, sign_in, step_up
from tests.vault.test_erasure import key_ids
from tests.vault.test_erasure_on_disk import files_holding, sealed_bytes

Client = AsyncTestClient[Litestar]
ON_SQLITE = os.environ.get("MNV_TEST_DB", "sqlite") != "postgres"


@dataclass
class Family:
    """A retired employee past the due date with two dependants, and an employee still in service (no due date)."""

    yoshida: Person
    hanako: Person
    ryoko: Person
    higashino: Person
    numbers: dict[str, str]


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


async def arrange(db: AsyncSession, vault: Vault, world: World) -> Family:
    tenant_id = world.tenant.id
    personnel = await make_department(db, tenant_id, "105", "人事部")
    yoshida = await make_employee(db, tenant_id, "104", "𠮷田太郎", department=personnel)
    yoshida.retirement_date = dt.date(2018, 3, 31)
    yoshida.deletion_due_on = today_in_japan() - dt.timedelta(days=1)
    hanako = await make_dependant(db, yoshida, "𠮷田花子", Relationship.CHILD)
    ryoko = await make_dependant(db, yoshida, "𠮷田良子", Relationship.SPOUSE)
    higashino = await make_employee(db, tenant_id, "200", "東野二郎", department=personnel)
    people = {"yoshida": yoshida, "hanako": hanako, "ryoko": ryoko, "higashino": higashino}
    numbers = {name: valid_my_number(100 + seed) for seed, name in enumerate(people)}
    for name, person in people.items():
        await give_number(db, vault, person, numbers[name])
    await db.commit()
    return Family(yoshida, hanako, ryoko, higashino, numbers)


async def second_admin(db: AsyncSession, settings: Settings, world: World, vault: Vault) -> Persona:
    persona = await make_persona(db, settings, vault, world.tenant, "admin2", Role.ADMIN, name="井上 通")
    await db.commit()
    return persona


async def post(client: Client, path: str, data: dict[str, Any], *, csrf: bool = True) -> Any:
    payload = dict(data)
    if csrf:
        payload["_csrf_token"] = await csrf_token(client)
    return await client.post(path, data=payload, follow_redirects=False)


async def reload(db: AsyncSession, person: Person) -> Person:
    statement = (
        select(Person)
        .where(Person.tenant_id == person.tenant_id, Person.id == person.id)
        .execution_options(populate_existing=True)
    )
    return (await db.execute(statement)).scalar_one()


async def records(db: AsyncSession, tenant_id: uuid.UUID) -> list[DeletionRecord]:
    statement = (
        select(DeletionRecord)
        .where(DeletionRecord.tenant_id == tenant_id)
        .order_by(DeletionRecord.erased_at, DeletionRecord.subject_name)
        .execution_options(populate_existing=True)
    )
    return list((await db.execute(statement)).scalars())


async def live_numbers(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, *people: Person) -> set[uuid.UUID]:
    return set(await vault.number_info(db, tenant_id, [p.id for p in people]))


async def erase(client: Client, ids: list[uuid.UUID], **choice: str) -> Any:
    return await post(client, "/admin/erasure", {"person_id": [str(i) for i in ids], **choice})


# Erasing a number that is due ----------------------------------------------------------------------------------


async def test_the_confirmation_page_shows_who_masks_and_due_dates_and_asks_about_dependants(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    family = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    page = await post(client, "/admin/erasure/confirm", {"person_id": [str(family.yoshida.id)]})
    assert page.status_code == 200
    assert "𠮷田太郎" in page.text and mask_my_number(family.numbers["yoshida"]) in page.text
    assert today_in_japan().strftime("%Y/%m/%d") != page.text  # the due date is yesterday's
    assert (today_in_japan() - dt.timedelta(days=1)).strftime("%Y/%m/%d") in page.text
    assert "扶養家族の番号も削除する" in page.text
    assert "𠮷田花子" in page.text and mask_my_number(family.numbers["hanako"]) in page.text
    for label in ("退職のため", "保存期間経過", "本人の申出", "誤登録", "その他"):
        assert label in page.text
    for number in family.numbers.values():
        assert number not in page.text
    # A row's 「番号を削除」 link opens the same page.
    linked = await client.get(f"/admin/erasure/confirm?person_id={family.yoshida.id}")
    assert linked.status_code == 200 and "𠮷田太郎" in linked.text
    listing = await client.get("/admin/numbers")
    assert f"/admin/erasure/confirm?person_id={family.yoshida.id}" in listing.text


async def test_erasing_a_due_number_goes_through_the_vault_and_leaves_a_record(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    family = await arrange(db, vault, world)
    number_id = (await vault.number_info(db, world.tenant.id, [family.yoshida.id]))[family.yoshida.id].id
    await sign_in(client, world.admin)
    response = await erase(client, [family.yoshida.id], reason="retired")
    assert response.status_code in (302, 303), response.text
    assert response.headers["location"] == "/admin/erasure/records"

    (entry,) = await entries(db, world.tenant.id, AuditAction.DELETE)
    assert entry.subject_name == "𠮷田太郎" and entry.function == "番号の削除"
    assert entry.actor_login_id == "admin" and entry.detail["reason"] == "退職のため"
    assert entry.detail["number_id"] == str(number_id)
    (record,) = await records(db, world.tenant.id)
    assert (record.subject_name, record.subject_kind, record.employee_code) == ("𠮷田太郎", PersonKind.EMPLOYEE, "104")
    assert (record.department_code, record.department_name) == ("105", "人事部")
    assert (record.handler_login_id, record.handler_name, record.approver_name) == ("admin", "岡 昌平", "")
    assert (record.reason, record.result, record.number_id) == ("retired", DeletionResult.ERASED, number_id)
    assert (await reload(db, family.yoshida)).status is CollectionStatus.ERASED
    # Only the employee's number: the dependants keep theirs.
    assert await live_numbers(db, vault, world.tenant.id, family.yoshida, family.hanako, family.ryoko) == {
        family.hanako.id,
        family.ryoko.id,
    }
    # The vault can no longer open it, and its key is gone from the key store.
    with pytest.raises(NumberNotFound):
        await vault.reveal(
            db,
            tenant_id=world.tenant.id,
            subject=Subject(person_id=family.yoshida.id),
            field=NumberField.MY_NUMBER,
            actor=entry_actor(),
            purpose="源泉徴収",
            function="test",
        )
    assert number_id not in await key_ids(vault)
    # The counters moved: the list counts one 削除済.
    html = (await client.get("/admin/numbers")).text
    assert '<span class="label">削除済</span> <span class="count">1</span>' in html
    listed = await client.get("/admin/erasure/records")
    assert listed.status_code == 200 and "𠮷田太郎" in listed.text and "退職のため" in listed.text


def entry_actor() -> Any:
    from tests.support.people import ACTOR

    return ACTOR


async def test_dependants_are_erased_too_only_when_asked(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    family = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    response = await erase(client, [family.yoshida.id], reason="retention", include_dependants="1")
    assert response.status_code in (302, 303), response.text
    names = sorted(r.subject_name for r in await records(db, world.tenant.id))
    assert names == sorted(["𠮷田太郎", "𠮷田太郎 > 𠮷田花子", "𠮷田太郎 > 𠮷田良子"])
    assert len(await entries(db, world.tenant.id, AuditAction.DELETE)) == 3
    assert await live_numbers(db, vault, world.tenant.id, family.yoshida, family.hanako, family.ryoko) == set()
    assert await live_numbers(db, vault, world.tenant.id, family.higashino) == {family.higashino.id}
    assert await compare_counts(db, world.tenant.id) == {}  # the counters agree with a recount
    await db.rollback()


async def test_a_dependants_number_can_be_erased_alone(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    family = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    response = await erase(client, [family.hanako.id], reason="request")
    assert response.status_code in (302, 303), response.text
    (record,) = await records(db, world.tenant.id)
    assert (record.subject_name, record.subject_kind, record.employee_code) == (
        "𠮷田太郎 > 𠮷田花子",
        PersonKind.DEPENDANT,
        "104",
    )
    assert record.handler_login_id == "admin" and record.reason == "request"
    assert await live_numbers(db, vault, world.tenant.id, family.yoshida, family.hanako, family.ryoko) == {
        family.yoshida.id,
        family.ryoko.id,
    }


async def test_other_needs_a_text_and_an_unknown_reason_is_refused_in_japanese(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    family = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    unknown = await erase(client, [family.yoshida.id], reason="because")
    assert unknown.status_code == 400 and "削除の理由を一覧から選択してください。" in unknown.text
    bare = await erase(client, [family.yoshida.id], reason="other", reason_text="  ")
    assert bare.status_code == 400 and "「その他」を選んだときは理由の内容を入力してください。" in bare.text
    digits = await erase(client, [family.yoshida.id], reason="other", reason_text=family.numbers["yoshida"])
    assert digits.status_code == 400 and "12桁以上の数字" in digits.text
    assert family.numbers["yoshida"] not in digits.text
    kanji = "番号" + family.numbers["yoshida"].translate(str.maketrans("0123456789", "〇一二三四五六七八九"))
    written = await erase(client, [family.yoshida.id], reason="other", reason_text=kanji)
    assert written.status_code == 400 and "12桁以上の数字" in written.text and kanji not in written.text
    mixed = "番号 1二三4-五六七８ 九〇一零"
    assert (await erase(client, [family.yoshida.id], reason="mistake", reason_text=mixed)).status_code == 400
    assert await entries(db, world.tenant.id, AuditAction.DELETE) == []
    done = await erase(client, [family.yoshida.id], reason="other", reason_text="会社の規程による")
    assert done.status_code in (302, 303)
    (record,) = await records(db, world.tenant.id)
    assert (record.reason, record.reason_text) == ("other", "会社の規程による")


# Before the due date: refused, or a request for a second admin ------------------------------------------------


async def test_erasure_before_the_due_date_is_refused_without_the_override(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    family = await arrange(db, vault, world)
    family.yoshida.deletion_due_on = today_in_japan() + dt.timedelta(days=1)
    db.add(family.yoshida)
    await db.commit()
    await sign_in(client, world.admin)
    for person in (family.higashino, family.yoshida):  # no due date; a due date tomorrow
        response = await erase(client, [person.id], reason="mistake")
        assert response.status_code == 400
        assert "削除予定日" in response.text and "「予定日前の削除」にチェック" in response.text
    assert await entries(db, world.tenant.id, AuditAction.DELETE) == []
    assert await records(db, world.tenant.id) == []
    assert len(await live_numbers(db, vault, world.tenant.id, family.higashino, family.yoshida)) == 2


async def test_a_dependant_whose_plan_was_cancelled_is_not_due_by_the_employees_date(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    """予定解除 (issue 11) leaves the number without a date: the employee's past date no longer makes it due, so it is
    erased only through the two-person rule, alone or with the employee. 花子 has her own (proposed) date; 良子 goes
    by her employee's, which the due page shows and which can be cancelled as well."""
    family = await arrange(db, vault, world)
    family.hanako.deletion_due_on = family.yoshida.deletion_due_on  # as the retirement proposed it
    family.hanako.deletion_due_proposed = True
    await db.commit()
    await sign_in(client, world.admin)
    cancelled = await post(client, f"/admin/deletions/{family.hanako.id}/due/cancel", {"reason": "本人から保管の依頼"})
    assert cancelled.status_code in (302, 303), cancelled.text
    assert (await reload(db, family.hanako)).deletion_due_on is None
    due_page = await client.get(f"/admin/deletions/{family.ryoko.id}/due")
    employee_due = format_date(family.yoshida.deletion_due_on)
    assert f"{employee_due}（従業員本人の削除予定日）" in due_page.text and "予定解除" in due_page.text
    inherited = await post(client, f"/admin/deletions/{family.ryoko.id}/due/cancel", {"reason": "係争中のため保管"})
    assert inherited.status_code in (302, 303), inherited.text
    (logged,) = [
        e for e in await entries(db, world.tenant.id) if e.function == "削除予定の解除" and "良子" in e.subject_name
    ]
    assert logged.detail["inherited"] is True
    assert logged.detail["old"] == family.yoshida.deletion_due_on.isoformat()  # type: ignore[union-attr]
    assert "未設定" in (await client.get(f"/admin/deletions/{family.ryoko.id}/due")).text

    for dependant in (family.hanako, family.ryoko):
        alone = await erase(client, [dependant.id], reason="retention")
        assert alone.status_code == 400, alone.text
        assert f"{dependant.name} さんは削除予定日（未設定）前のため削除できません" in alone.text
    together = await erase(client, [family.yoshida.id], reason="retention", include_dependants="1")
    assert together.status_code == 400 and "扶養家族 𠮷田花子 さんは削除予定日（未設定）前です" in together.text
    assert await entries(db, world.tenant.id, AuditAction.DELETE) == []
    assert await live_numbers(db, vault, world.tenant.id, family.hanako, family.ryoko) == {
        family.hanako.id,
        family.ryoko.id,
    }
    # The employee alone is still due and goes; the dependants keep their numbers.
    assert (await erase(client, [family.yoshida.id], reason="retention")).status_code in (302, 303)
    assert await live_numbers(db, vault, world.tenant.id, family.yoshida, family.hanako, family.ryoko) == {
        family.hanako.id,
        family.ryoko.id,
    }


async def test_a_handler_cannot_ask_for_an_early_deletion(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    family = await arrange(db, vault, world)
    await sign_in(client, world.handler)
    await step_up(client, world.handler)
    response = await erase(client, [family.higashino.id], reason="mistake", early="1")
    assert response.status_code == 403
    assert (await db.execute(select(EarlyDeletionRequest))).first() is None
    assert await entries(db, world.tenant.id, AuditAction.UPDATE) == []


async def test_a_handler_cannot_erase_a_past_due_number_single_bulk_or_with_dependants(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    """Seed 000: erasing is the admin's act. A 事務取扱担当者, even after a fresh step-up, gets 403 and nothing is
    erased, recorded or logged; the pages offer no erasure to them."""
    family = await arrange(db, vault, world)
    await sign_in(client, world.handler)
    await step_up(client, world.handler)
    mine = str(family.yoshida.id)
    assert (await client.get(f"/admin/erasure/confirm?person_id={mine}")).status_code == 403
    assert (await post(client, "/admin/erasure/confirm", {"person_id": [mine]})).status_code == 403
    assert (await erase(client, [family.yoshida.id], reason="retired")).status_code == 403
    assert (await erase(client, [family.hanako.id], reason="request")).status_code == 403
    both = await erase(client, [family.yoshida.id, family.hanako.id], reason="retention", include_dependants="1")
    assert both.status_code == 403
    assert await records(db, world.tenant.id) == []
    assert await entries(db, world.tenant.id, AuditAction.DELETE) == []
    assert len(await live_numbers(db, vault, world.tenant.id, family.yoshida, family.hanako, family.ryoko)) == 3
    assert (await reload(db, family.yoshida)).status is not CollectionStatus.ERASED
    # They still read the records (and the list), but are offered no erasure.
    assert (await client.get("/admin/erasure/records")).status_code == 200
    assert (await client.get("/admin/erasure/requests")).status_code == 200
    for path in ("/admin/numbers", f"/admin/people/{mine}", "/admin/deletions"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert "/admin/erasure/confirm" not in page.text and 'name="person_id"' not in page.text, path
        assert f"/admin/deletions/{mine}/due" not in page.text, path
    client.cookies.clear()
    await sign_in(client, world.admin)
    for path in ("/admin/numbers", f"/admin/people/{mine}", "/admin/deletions"):
        page = await client.get(path)
        assert "/admin/erasure/confirm" in page.text or 'name="person_id"' in page.text, path


async def test_an_early_deletion_needs_a_second_different_admin(
    client: Client, world: World, db: AsyncSession, vault: Vault, settings: Settings
) -> None:
    family = await arrange(db, vault, world)
    inoue = await second_admin(db, settings, world, vault)
    await sign_in(client, world.admin)
    filed = await erase(client, [family.higashino.id], reason="mistake", early="1")
    assert filed.status_code in (302, 303) and filed.headers["location"] == "/admin/erasure/requests"
    (request,) = (await db.execute(select(EarlyDeletionRequest))).scalars()
    assert request.status is RequestStatus.PENDING and request.requested_by == world.admin.account.id
    (asked,) = [e for e in await entries(db, world.tenant.id) if e.function == "予定日前削除の申請"]
    assert asked.subject_name == "東野二郎" and asked.detail["request_id"] == str(request.id)
    assert await live_numbers(db, vault, world.tenant.id, family.higashino) == {family.higashino.id}
    listed = await client.get("/admin/erasure/requests")
    assert listed.status_code == 200 and "東野二郎" in listed.text and "別の管理者の承認待ち" in listed.text
    # Asking twice is refused while the first waits.
    again = await erase(client, [family.higashino.id], reason="mistake", early="1")
    assert again.status_code == 400 and "承認待ち" in again.text

    # The requester cannot approve (nor reject) their own request.
    own = await post(client, f"/admin/erasure/requests/{request.id}/approve", {"note": "自分で承認"})
    assert own.status_code == 400 and "ご自身の申請は承認・却下できません" in own.text
    own_reject = await post(client, f"/admin/erasure/requests/{request.id}/reject", {"note": "取り下げ"})
    assert own_reject.status_code == 400
    assert await live_numbers(db, vault, world.tenant.id, family.higashino) == {family.higashino.id}
    assert await entries(db, world.tenant.id, AuditAction.DELETE) == []

    # A second admin approves, with a reason: the erasure happens now, by the approver, the requester recorded.
    client.cookies.clear()
    await sign_in(client, inoue)
    home = await client.get("/admin")  # the second admin finds the request from the home and the deletion list
    assert "予定日前削除の承認待ち" in home.text and 'href="/admin/erasure/requests"' in home.text
    assert 'href="/admin/erasure/requests"' in (await client.get("/admin/deletions")).text
    page = await client.get(f"/admin/erasure/requests/{request.id}")
    assert page.status_code == 200 and "承認して番号を削除する" in page.text
    missing = await post(client, f"/admin/erasure/requests/{request.id}/approve", {"note": ""})
    assert missing.status_code == 400 and "承認・却下の理由を入力してください。" in missing.text
    approved = await post(client, f"/admin/erasure/requests/{request.id}/approve", {"note": "誤登録を確認した"})
    assert approved.status_code in (302, 303), approved.text
    assert await live_numbers(db, vault, world.tenant.id, family.higashino) == set()
    (record,) = await records(db, world.tenant.id)
    assert (record.handler_login_id, record.handler_name) == ("admin", "岡 昌平")
    assert (record.approver_login_id, record.approver_name) == ("admin2", "井上 通")
    assert record.early_request_id == request.id and record.reason == "mistake"
    (deleted,) = await entries(db, world.tenant.id, AuditAction.DELETE)
    assert deleted.actor_login_id == "admin2"
    (decided,) = [e for e in await entries(db, world.tenant.id) if e.function == "予定日前削除の承認"]
    assert decided.actor_login_id == "admin2" and decided.detail["note"] == "誤登録を確認した"
    await db.refresh(request)
    assert request.status is RequestStatus.APPROVED and request.decided_by == inoue.account.id
    twice = await post(client, f"/admin/erasure/requests/{request.id}/approve", {"note": "もう一度"})
    assert twice.status_code == 400 and "すでに処理されています" in twice.text


async def test_a_second_admin_can_reject_with_a_reason(
    client: Client, world: World, db: AsyncSession, vault: Vault, settings: Settings
) -> None:
    family = await arrange(db, vault, world)
    inoue = await second_admin(db, settings, world, vault)
    await sign_in(client, world.admin)
    await erase(client, [family.yoshida.id, family.higashino.id], reason="request", early="1")
    # 𠮷田 is due: erased at once; 東野 is not: a request.
    assert [r.subject_name for r in await records(db, world.tenant.id)] == ["𠮷田太郎"]
    (request,) = (await db.execute(select(EarlyDeletionRequest))).scalars()
    assert request.person_id == family.higashino.id
    client.cookies.clear()
    await sign_in(client, world.handler)
    assert (await client.get(f"/admin/erasure/requests/{request.id}")).status_code == 403
    client.cookies.clear()
    await sign_in(client, inoue)
    kanji = "番号一二三四五六七八九〇一八"  # kanji numerals are digits too (tester's defect)
    refused = await post(client, f"/admin/erasure/requests/{request.id}/reject", {"note": kanji})
    assert refused.status_code == 400 and "12桁以上の数字" in refused.text and kanji not in refused.text
    await db.refresh(request)
    assert request.status is RequestStatus.PENDING
    rejected = await post(client, f"/admin/erasure/requests/{request.id}/reject", {"note": "在職中のため保管する"})
    assert rejected.status_code in (302, 303)
    await db.refresh(request)
    assert request.status is RequestStatus.REJECTED and request.decision_note == "在職中のため保管する"
    assert await live_numbers(db, vault, world.tenant.id, family.higashino) == {family.higashino.id}
    (logged,) = [e for e in await entries(db, world.tenant.id) if e.function == "予定日前削除の却下"]
    assert logged.actor_login_id == "admin2"
    listed = await client.get("/admin/erasure/requests")
    assert "承認待ちの申請はありません。" in listed.text
    assert "却下" in listed.text and "在職中のため保管する" in listed.text and "井上 通" in listed.text
    assert request.decided_at is not None  # 処理日時: the date and the time (JST), not the date alone
    assert f"<td>{format_date(request.decided_at, time='minutes')}</td>" in listed.text


# Step-up and the ladder ---------------------------------------------------------------------------------------


async def test_erasure_needs_a_fresh_step_up(
    client: Client, world: World, db: AsyncSession, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    family = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    real_now = sessions_module.now_ts
    monkeypatch.setattr(sessions_module, "now_ts", lambda: real_now() + 6 * 60)
    confirm = await post(client, "/admin/erasure/confirm", {"person_id": [str(family.yoshida.id)]})
    assert confirm.status_code in (302, 303)
    assert confirm.headers["location"].startswith("/reauth?next=")
    assert str(family.yoshida.id) in confirm.headers["location"]
    performed = await erase(client, [family.yoshida.id], reason="retired")
    assert performed.status_code in (302, 303) and performed.headers["location"].startswith("/reauth?next=")
    assert await entries(db, world.tenant.id, AuditAction.DELETE) == []
    await step_up(client, world.admin, f"/admin/erasure/confirm?person_id={family.yoshida.id}")
    assert (await client.get(f"/admin/erasure/confirm?person_id={family.yoshida.id}")).status_code == 200
    done = await erase(client, [family.yoshida.id], reason="retired")
    assert done.status_code in (302, 303) and done.headers["location"] == "/admin/erasure/records"
    assert len(await entries(db, world.tenant.id, AuditAction.DELETE)) == 1


async def test_the_ladder_anonymous_other_tenant_viewer_csrf(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    family = await arrange(db, vault, world)
    stranger = await make_employee(db, world.other_tenant.id, "001", "よその人")
    await give_number(db, vault, stranger, valid_my_number(7))
    await db.commit()
    mine = str(family.yoshida.id)

    anonymous = await client.get(f"/admin/erasure/confirm?person_id={mine}", follow_redirects=False)
    assert anonymous.status_code in (302, 303) and anonymous.headers["location"].startswith("/login")
    for path in ("/admin/erasure/records", "/admin/erasure/requests"):
        assert (await client.get(path, follow_redirects=False)).headers["location"].startswith("/login")

    for persona in (world.viewer, world.handler):
        await sign_in(client, persona)
        assert (await client.get(f"/admin/erasure/confirm?person_id={mine}")).status_code == 403
        assert (await erase(client, [family.yoshida.id], reason="retired")).status_code == 403
        client.cookies.clear()
    await sign_in(client, world.viewer)
    assert (await client.get("/admin/erasure/records")).status_code == 403
    assert (await client.get("/admin/erasure/requests")).status_code == 403

    client.cookies.clear()
    await sign_in(client, world.admin)
    assert (await client.get(f"/admin/erasure/confirm?person_id={stranger.id}")).status_code == 404
    assert (await client.get("/admin/erasure/confirm?person_id=not-a-uuid")).status_code == 404
    mixed = await post(client, "/admin/erasure/confirm", {"person_id": [mine, str(stranger.id)]})
    assert mixed.status_code == 404 and "よその人" not in mixed.text
    assert (await erase(client, [stranger.id], reason="retired")).status_code == 404
    none = await post(client, "/admin/erasure/confirm", {})
    assert none.status_code == 400 and "削除する対象者を1人以上選択してください。" in none.text
    no_csrf = await post(client, "/admin/erasure", {"person_id": [mine], "reason": "retired"}, csrf=False)
    assert no_csrf.status_code == 403
    assert await entries(db, world.tenant.id, AuditAction.DELETE) == []
    assert await live_numbers(db, vault, world.other_tenant.id, stranger) == {stranger.id}

    # Another tenant's early-deletion request is a 404 for this tenant's admin.
    foreign = EarlyDeletionRequest(
        tenant_id=world.other_tenant.id,
        person_id=stranger.id,
        reason="mistake",
        requested_by=world.other_admin.account.id,
        requested_by_login_id="admin",
        requested_by_name="よその管理者",
    )
    db.add(foreign)
    await db.commit()
    assert (await client.get(f"/admin/erasure/requests/{foreign.id}")).status_code == 404
    approve = await post(client, f"/admin/erasure/requests/{foreign.id}/approve", {"note": "x"})
    assert approve.status_code == 404
    assert (await post(client, f"/admin/erasure/requests/{foreign.id}/reject", {"note": "x"})).status_code == 404
    assert await live_numbers(db, vault, world.other_tenant.id, stranger) == {stranger.id}


async def test_another_companys_requests_and_past_due_numbers_are_neither_listed_nor_counted(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    """Isolation of the lists that take no id: the requests page (pending and decided) and the admin home's
    reminders (削除予定日を過ぎたマイナンバー, 予定日前削除の承認待ち) show only the company's own."""
    stranger = await make_employee(db, world.other_tenant.id, "001", "よその人")
    stranger.deletion_due_on = today_in_japan() - dt.timedelta(days=1)
    decided = await make_employee(db, world.other_tenant.id, "002", "よその却下")
    for index, person in enumerate((stranger, decided)):
        await give_number(db, vault, person, valid_my_number(70 + index))
    db.add_all(
        [
            EarlyDeletionRequest(
                tenant_id=world.other_tenant.id,
                person_id=person.id,
                reason="mistake",
                requested_by=world.other_admin.account.id,
                requested_by_login_id="admin",
                requested_by_name="よその管理者",
                status=status,
                decided_at=None if status is RequestStatus.PENDING else dt.datetime.now(dt.UTC),
                decided_by_name="" if status is RequestStatus.PENDING else "よその承認者",
                decision_note="" if status is RequestStatus.PENDING else "よその理由",
            )
            for person, status in ((stranger, RequestStatus.PENDING), (decided, RequestStatus.REJECTED))
        ]
    )
    await db.commit()

    await sign_in(client, world.admin)
    listed = await client.get("/admin/erasure/requests")
    assert listed.status_code == 200 and "承認待ちの申請はありません。" in listed.text
    for foreign in ("よその人", "よその却下", "よその管理者", "よその承認者", "よその理由"):
        assert foreign not in listed.text, foreign
    home = await client.get("/admin")
    assert home.status_code == 200
    assert "削除予定日を過ぎたマイナンバー" not in home.text and "予定日前削除の承認待ち" not in home.text
    assert "よその人" not in home.text
    # The other company's admin sees both on their own home.
    client.cookies.clear()
    await sign_in(client, world.other_admin)
    theirs = await client.get("/admin")
    assert "削除予定日を過ぎたマイナンバー" in theirs.text and "よその人" in theirs.text
    assert "予定日前削除の承認待ち" in theirs.text


# Gone from the files -------------------------------------------------------------------------------------------


@pytest.mark.skipif(not ON_SQLITE, reason="file scan: SQLite")
async def test_an_erased_number_leaves_no_key_no_ciphertext_and_never_its_digits_in_the_files(
    client: Client, world: World, db: AsyncSession, vault: Vault, settings: Settings
) -> None:
    family = await arrange(db, vault, world)
    number_id = (await vault.number_info(db, world.tenant.id, [family.yoshida.id]))[family.yoshida.id].id
    ciphertext, wrapped = await sealed_bytes(db, vault, number_id)
    assert files_holding(settings, ciphertext) and files_holding(settings, wrapped)
    await sign_in(client, world.admin)
    response = await erase(client, [family.yoshida.id], reason="retention", include_dependants="1")
    assert response.status_code in (302, 303)
    await vault.wait_for_shredding()
    assert files_holding(settings, ciphertext) == []
    assert files_holding(settings, wrapped) == []
    for number in family.numbers.values():
        assert files_holding(settings, number.encode()) == []


async def test_a_dependant_ticked_beside_their_employee_is_erased_once(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    family = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    response = await erase(client, [family.yoshida.id, family.hanako.id], reason="retention", include_dependants="1")
    assert response.status_code in (302, 303), response.text
    assert len(await records(db, world.tenant.id)) == 3
    assert len(await entries(db, world.tenant.id, AuditAction.DELETE)) == 3


async def test_a_dependant_with_a_later_due_date_is_not_erased_with_the_employee(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    family = await arrange(db, vault, world)
    family.ryoko.deletion_due_on = today_in_japan() + dt.timedelta(days=30)
    db.add(family.ryoko)
    await db.commit()
    await sign_in(client, world.admin)
    refused = await erase(client, [family.yoshida.id], reason="retention", include_dependants="1")
    assert refused.status_code == 400
    assert "扶養家族 𠮷田良子 さんは削除予定日" in refused.text
    assert await records(db, world.tenant.id) == []
    alone = await erase(client, [family.yoshida.id], reason="retention")
    assert alone.status_code in (302, 303)
    assert [r.subject_name for r in await records(db, world.tenant.id)] == ["𠮷田太郎"]


async def test_approving_needs_an_admin_and_a_fresh_step_up(
    client: Client,
    world: World,
    db: AsyncSession,
    vault: Vault,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    family = await arrange(db, vault, world)
    inoue = await second_admin(db, settings, world, vault)
    await sign_in(client, world.admin)
    await erase(client, [family.higashino.id], reason="mistake", early="1")
    (request,) = (await db.execute(select(EarlyDeletionRequest))).scalars()
    client.cookies.clear()
    await sign_in(client, world.handler)
    assert (await post(client, f"/admin/erasure/requests/{request.id}/approve", {"note": "x"})).status_code == 403
    assert (await post(client, f"/admin/erasure/requests/{request.id}/reject", {"note": "x"})).status_code == 403
    client.cookies.clear()
    await sign_in(client, inoue)
    real_now = sessions_module.now_ts
    monkeypatch.setattr(sessions_module, "now_ts", lambda: real_now() + 6 * 60)
    stale = await post(client, f"/admin/erasure/requests/{request.id}/approve", {"note": "確認済み"})
    assert stale.status_code in (302, 303)
    assert stale.headers["location"].startswith("/reauth?next=")
    assert await live_numbers(db, vault, world.tenant.id, family.higashino) == {family.higashino.id}
    no_csrf = await post(client, f"/admin/erasure/requests/{request.id}/reject", {"note": "x"}, csrf=False)
    assert no_csrf.status_code == 403
    await step_up(client, inoue, f"/admin/erasure/requests/{request.id}")
    done = await post(client, f"/admin/erasure/requests/{request.id}/approve", {"note": "確認済み"})
    assert done.status_code in (302, 303) and done.headers["location"] == "/admin/erasure/requests"
    assert await live_numbers(db, vault, world.tenant.id, family.higashino) == set()
