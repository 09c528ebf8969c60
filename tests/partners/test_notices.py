"""連絡管理 (seed 002, issue 15): each notice kind sent by a client and applied to its records by the office, the
number sealed and revealed only after step-up, the statuses both sides read, the filters, isolation, the 180 days."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.models import Account
from app.config import Settings
from app.db import utcnow
from app.vault import Vault
from app.vault.models import DocumentKey
from partners.models import LinkPower, LinkStatus, NoticeStatus, PartnerLink, PartnerNotice, PersonBoxFile
from partners.services import remove_expired_notices
from tenants.models import Person, PersonKind
from tests.partners.exchange_support import pdf
from tests.selfservice.test_employee_flow import files_holding
from tests.support.audit import entries
from tests.support.partners import Office, make_link, make_office
from tests.support.people import give_number, make_dependant, make_employee, valid_my_number
from tests.support.world import World, csrf_token, post_form, second_device, sign_in, step_up

Client = AsyncTestClient[Litestar]
HIRE = {
    "employee_code": "2001",
    "name": "入社 𠮷子",
    "kana": "にゅうしゃ よしこ",
    "birth_date": "H2.4.1",
    "gender": "female",
    "address": "東京都千代田区丸の内1-1-1",
    "hire_date": "2026/12/01",
    "employment_type": "正社員",
    "social_insurance": "yes",
    "employment_insurance": "no",
}


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


@pytest.fixture
async def office(app: Litestar, db: AsyncSession, settings: Settings, world: World) -> Office:
    made = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, made.tenant, LinkPower.NUMBERS)
    return made


async def send(
    client: Client, kind: str, office: Office, fields: dict[str, str], files: list[tuple[str, bytes]] | None = None
) -> Any:
    data = {"_csrf_token": await csrf_token(client), "kind": kind, "office_id": str(office.tenant.id), **fields}
    parts = [("files", (name, content, "application/octet-stream")) for name, content in files or []]
    return await client.post("/admin/notices/", data=data, files=parts or None, follow_redirects=False)


async def notices(db: AsyncSession) -> list[PartnerNotice]:
    found = await db.execute(
        select(PartnerNotice).order_by(PartnerNotice.created_at).execution_options(populate_existing=True)
    )
    return list(found.scalars())


async def fresh(db: AsyncSession, person_id: object) -> Person:
    found = await db.execute(select(Person).where(Person.id == person_id).execution_options(populate_existing=True))
    return found.scalar_one()


async def as_office(client: Client, office: Office) -> None:
    client.cookies = httpx.Cookies()
    await sign_in(client, office.staff)


async def apply(client: Client, notice: PartnerNotice, fields: dict[str, str], **ticks: str) -> Any:
    return await post_form(client, f"/partner/notices/{notice.id}/apply", {**fields, **ticks})


async def test_a_hire_notice_is_sealed_revealed_after_step_up_and_applied_as_a_new_employee(
    client: Client,
    world: World,
    db: AsyncSession,
    vault: Vault,
    settings: Settings,
    office: Office,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    number = valid_my_number(301)
    await sign_in(client, world.handler)
    form = await client.get("/admin/notices/new?kind=hire")
    assert form.status_code == 200 and "連絡の作成（入社）" in form.text and office.tenant.name in form.text
    sent = await send(client, "hire", office, {**HIRE, "number": number}, [("資格確認書.pdf", pdf("確認書"))])
    assert sent.status_code == 302, sent.text[:800]
    (notice,) = await notices(db)
    assert notice.status is NoticeStatus.PENDING and notice.person_id is None and notice.subject_name == "入社 𠮷子"
    assert (
        number not in notice.data and notice.number_sealed is not None and number.encode() not in notice.number_sealed
    )
    assert (
        json.loads(notice.data)["kana"] == "ニュウシャ ヨシコ" and json.loads(notice.data)["birth_date"] == "1990/04/01"
    )
    mine = await client.get(f"/admin/notices/{notice.id}")
    assert "未処理" in mine.text and number not in mine.text and "資格確認書.pdf" in mine.text
    (sent_entry,) = await entries(db, world.tenant.id, AuditAction.NOTICE_SEND)
    assert sent_entry.detail["has_number"] is True and number not in json.dumps(sent_entry.detail)

    await as_office(client, office)
    listing = await client.get("/partner/notices")
    assert "入社 𠮷子" in listing.text and world.tenant.name in listing.text and ">未<" in listing.text
    page = await client.get(f"/partner/notices/{notice.id}")
    assert page.status_code == 200 and "＊＊＊＊ ＊＊＊＊ ＊＊＊＊" in page.text and number not in page.text
    assert page.headers["cache-control"] == "no-store"
    await step_up(client, office.staff)
    confirm = await client.get(f"/partner/notices/{notice.id}/reveal")
    assert confirm.status_code == 200 and number not in confirm.text
    shown = await post_form(client, f"/partner/notices/{notice.id}/reveal")
    assert shown.status_code == 200 and number[:4] in shown.text and number[-4:] in shown.text  # type: ignore[attr-defined]
    assert shown.headers["cache-control"] == "no-store"  # type: ignore[attr-defined]
    (revealed,) = await entries(db, world.tenant.id, AuditAction.REVEAL)
    assert revealed.actor_partner_id == office.tenant.id and revealed.function == "連絡管理"

    edited = {**HIRE, "kana": "ニュウシャ ヨシコ", "address": "東京都港区芝公園4-2-8"}
    no_box = await apply(client, notice, edited, publish="1", keep_attachments="1")
    assert no_box.status_code == 400 and "機密ファイルの閲覧権限" in no_box.text  # nothing applied
    assert (await db.execute(select(Person).where(Person.employee_code == "2001"))).scalar_one_or_none() is None
    await db.execute(update(Account).where(Account.id == office.staff.account.id).values(confidential_access=True))
    await db.commit()
    applied = await apply(client, notice, edited, publish="1", keep_attachments="1")
    assert applied.status_code == 302, applied.text[:1500]
    person = (await db.execute(select(Person).where(Person.employee_code == "2001"))).scalar_one()
    assert (person.name, person.kana, person.address) == ("入社 𠮷子", "ニュウシャ ヨシコ", "東京都港区芝公園4-2-8")
    assert person.hire_date == dt.date(2026, 12, 1) and person.social_insurance_acquired_on == dt.date(2026, 12, 1)
    assert person.employment_insurance_acquired_on is None and person.gender == "female"
    info = await vault.number_info(db, world.tenant.id, [person.id])
    assert info[person.id].masked == "*" * 10 + number[-2:]
    (notice,) = await notices(db)
    assert notice.status is NoticeStatus.REGISTERED and notice.applied_person_id == person.id and notice.published
    assert json.loads(notice.data)["address"] == HIRE["address"]  # the edit did not change the notice
    boxed = (await db.execute(select(PersonBoxFile).where(PersonBoxFile.person_id == person.id))).scalars().all()
    assert [b.file_name for b in boxed] == ["資格確認書.pdf"]
    (proxy,) = await entries(db, world.tenant.id, AuditAction.PROXY_REGISTER)
    assert proxy.actor_partner_id == office.tenant.id and proxy.subject_person_id == person.id
    assert len(await entries(db, world.tenant.id, AuditAction.NOTICE_APPLY)) == 1

    await sign_in(client, world.handler)
    mine = await client.get(f"/admin/notices/{notice.id}")
    assert "登録完了" in mine.text and "反映結果" in mine.text and "代理登録しました" in mine.text
    employee_page = await client.get(f"/admin/people/{person.id}")
    assert "東京都港区芝公園4-2-8" in employee_page.text

    every_entry = " ".join(repr((e.detail, e.subject_name)) for e in await entries(db, world.tenant.id))
    assert number not in every_entry and number not in caplog.text
    if settings.is_sqlite:
        await db.close()
        assert files_holding(Path(settings.data_dir), [number]) == []


async def test_bad_input_keeps_the_form_but_not_the_number_and_writes_nothing(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    await make_employee(db, world.tenant.id, "2001", "既存 太郎")
    await db.commit()
    number = valid_my_number(302)
    await sign_in(client, world.admin)
    refused = await send(client, "hire", office, {**HIRE, "birth_date": "2099/01/01", "number": number})
    assert refused.status_code == 400
    assert "生年月日に未来の日付は指定できません" in refused.text and number not in refused.text
    assert 'value="入社 𠮷子"' in refused.text
    taken = await send(client, "hire", office, {**HIRE, "number": number})
    assert taken.status_code == 400 and "この社員コードは既に使われています" in taken.text
    wrong = await send(
        client, "leave", office, {"employee_code": "9999", "retirement_date": "2026/12/31", "reason": "定年"}
    )
    assert wrong.status_code == 400 and "社員コード「9999」の従業員が見つかりません" in wrong.text
    bad_number = await send(client, "number", office, {"employee_code": "2001", "number": number[:11] + "0"})
    assert bad_number.status_code == 400 and "個人番号" in bad_number.text
    in_message = await send(client, "insurance", office, {"employee_code": "2001", "message": number})
    assert in_message.status_code == 400 and number not in in_message.text
    assert await notices(db) == [] and await entries(db, world.tenant.id, AuditAction.NOTICE_SEND) == []


async def test_a_leave_notice_retires_the_employee_with_the_loss_dates_and_proposes_the_deletion_date(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    employee = await make_employee(db, world.tenant.id, "3001", "退社 一郎")
    employee.hire_date = dt.date(2015, 4, 1)
    employee.social_insurance_acquired_on = dt.date(2015, 4, 1)
    employee.employment_insurance_acquired_on = dt.date(2015, 4, 1)
    await db.commit()
    await sign_in(client, world.admin)
    fields = {"employee_code": "3001", "retirement_date": "2026/03/31", "reason": "自己都合"}
    assert (await send(client, "leave", office, fields)).status_code == 302
    (notice,) = await notices(db)
    assert notice.person_id == employee.id and notice.subject_name == "退社 一郎"
    await as_office(client, office)
    applied = await apply(client, notice, fields, lost_dates="1")
    assert applied.status_code == 302, applied.text[:1500]
    person = await fresh(db, employee.id)
    assert person.retirement_date == dt.date(2026, 3, 31)
    assert person.social_insurance_lost_on == person.employment_insurance_lost_on == dt.date(2026, 4, 1)
    assert person.deletion_due_on is not None and person.deletion_due_proposed
    (notice,) = await notices(db)
    assert "退職日 2026/03/31" in notice.result and "削除予定日" in notice.result


async def test_an_address_and_surname_notice_changes_them_and_the_edit_wins(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    employee = await make_employee(db, world.tenant.id, "4001", "旧姓 花子")
    await db.commit()
    await sign_in(client, world.admin)
    fields = {
        "employee_code": "4001",
        "changed_on": "2026/11/01",
        "new_address": "大阪市北区1-1",
        "new_name": "新姓 花子",
    }
    fields["new_kana"] = "シンセイ ハナコ"
    assert (await send(client, "address_name", office, fields)).status_code == 302
    missing = await send(client, "address_name", office, {"employee_code": "4001", "changed_on": "2026/11/01"})
    assert missing.status_code == 400 and "新しい住所か新しい氏名" in missing.text
    (notice,) = await notices(db)
    await as_office(client, office)
    applied = await apply(client, notice, {**fields, "new_address": "大阪市北区2-2"})
    assert applied.status_code == 302, applied.text[:1500]
    person = await fresh(db, employee.id)
    assert (person.name, person.kana, person.address) == ("新姓 花子", "シンセイ ハナコ", "大阪市北区2-2")
    (notice,) = await notices(db)
    assert json.loads(notice.data)["new_address"] == "大阪市北区1-1" and not notice.published


async def test_a_dependant_is_added_with_their_number_and_another_leaves(
    client: Client, world: World, db: AsyncSession, vault: Vault, office: Office
) -> None:
    employee = await make_employee(db, world.tenant.id, "5001", "扶養 太郎")
    leaving = await make_dependant(db, employee, "扶養 次郎")
    await db.commit()
    number = valid_my_number(305)
    await sign_in(client, world.admin)
    add = {
        "employee_code": "5001",
        "change": "add",
        "changed_on": "2026/11/15",
        "dependant_name": "扶養 花子",
        "dependant_kana": "フヨウ ハナコ",
        "relationship": "配偶者",
        "dependant_birth_date": "1992/05/05",
    }
    assert (await send(client, "dependant", office, {**add, "number": number})).status_code == 302
    remove = {"employee_code": "5001", "change": "remove", "changed_on": "2026/11/30", "dependant_name": "扶養次郎"}
    assert (await send(client, "dependant", office, remove)).status_code == 302
    unknown = await send(client, "dependant", office, {**remove, "dependant_name": "他人 三郎"})
    assert unknown.status_code == 400 and "扶養家族に「他人 三郎」さんはいません" in unknown.text
    added_notice, removed_notice = await notices(db)
    await as_office(client, office)
    assert (await apply(client, added_notice, add)).status_code == 302
    assert (await apply(client, removed_notice, remove)).status_code == 302
    added = (await db.execute(select(Person).where(Person.name == "扶養 花子"))).scalar_one()
    assert added.kind is PersonKind.DEPENDANT and added.employee_id == employee.id
    info = await vault.number_info(db, world.tenant.id, [added.id])
    assert info[added.id].masked == "*" * 10 + number[-2:]
    gone = await fresh(db, leaving.id)
    assert gone.retirement_date == dt.date(2026, 11, 30) and gone.deletion_due_on is not None


async def test_an_insurance_notice_sets_the_dates_and_a_number_update_replaces_the_number(
    client: Client, world: World, db: AsyncSession, vault: Vault, office: Office
) -> None:
    employee = await make_employee(db, world.tenant.id, "6001", "保険 花子")
    await give_number(db, vault, employee, valid_my_number(306))
    await db.commit()
    new_number = valid_my_number(307)
    await sign_in(client, world.admin)
    join = {"employee_code": "6001", "change": "join", "insurance": "both", "changed_on": "2026/10/01"}
    assert (await send(client, "insurance", office, join)).status_code == 302
    update_fields = {"employee_code": "6001", "number": new_number}
    assert (await send(client, "number", office, update_fields)).status_code == 302
    insurance_notice, number_notice = await notices(db)
    await as_office(client, office)
    assert (await apply(client, insurance_notice, join)).status_code == 302
    person = await fresh(db, employee.id)
    assert person.social_insurance_acquired_on == person.employment_insurance_acquired_on == dt.date(2026, 10, 1)
    applied = await apply(client, number_notice, {"employee_code": "6001"})  # the number field left empty
    assert applied.status_code == 302, applied.text[:1500]
    info = await vault.number_info(db, world.tenant.id, [employee.id])
    assert info[employee.id].masked == "*" * 10 + new_number[-2:]


async def test_a_files_only_office_gets_no_number_and_may_only_set_the_status(
    app: Litestar, client: Client, world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.FILES)
    await make_employee(db, world.tenant.id, "7001", "連絡 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    with_number = await send(client, "number", office, {"employee_code": "7001", "number": valid_my_number(308)})
    assert with_number.status_code == 400 and "番号の取扱い" in with_number.text
    fields = {"employee_code": "7001", "retirement_date": "2026/12/31", "reason": "定年"}
    assert (await send(client, "leave", office, fields)).status_code == 302
    (notice,) = await notices(db)
    await as_office(client, office)
    page = await client.get(f"/partner/notices/{notice.id}")
    assert "台帳への反映と番号の表示はできません" in page.text and "台帳に反映して保存" not in page.text
    refused = await apply(client, notice, fields)
    assert refused.status_code == 400
    assert (await fresh(db, notice.person_id)).retirement_date is None
    done = await post_form(client, f"/partner/notices/{notice.id}/status", {"status": "done"})
    assert done.status_code == 302  # type: ignore[attr-defined]
    (notice,) = await notices(db)
    assert notice.status is NoticeStatus.DONE and notice.handled_by_name == office.staff.account.name
    (changed,) = await entries(db, world.tenant.id, AuditAction.NOTICE_STATUS)
    assert changed.detail["to"] == "手続完了" and changed.actor_partner_id == office.tenant.id
    await sign_in(client, world.admin)
    assert "手続完了" in (await client.get("/admin/notices")).text
    held = await client.get("/admin/notices?status=held")
    assert "連絡 太郎" not in held.text


async def test_the_office_list_filters_and_all_dates_needs_a_client(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    await make_employee(db, world.tenant.id, "8001", "一覧 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    for kind, fields in (
        ("leave", {"employee_code": "8001", "retirement_date": "2026/12/31", "reason": "定年"}),
        ("insurance", {"employee_code": "8001", "change": "leave", "insurance": "social", "changed_on": "2027/01/01"}),
    ):
        assert (await send(client, kind, office, fields)).status_code == 302
    old, _ = await notices(db)
    await db.execute(
        update(PartnerNotice).where(PartnerNotice.id == old.id).values(created_at=utcnow() - dt.timedelta(days=60))
    )
    await db.commit()
    await as_office(client, office)
    recent = await client.get("/partner/notices")
    assert recent.text.count("一覧 太郎") == 1 and "保険変更" in recent.text
    everything = await client.get("/partner/notices?period=all")
    assert everything.status_code == 400 and "顧問先を選んでください" in everything.text
    chosen = await client.get(f"/partner/notices?period=all&client_id={world.tenant.id}")
    assert chosen.text.count("一覧 太郎") == 2
    by_kind = await client.get(f"/partner/notices?period=all&client_id={world.tenant.id}&kind=leave")
    assert by_kind.text.count("一覧 太郎") == 1 and ">退社<" in by_kind.text
    by_status = await client.get(f"/partner/notices?period=all&client_id={world.tenant.id}&status=registered")
    assert "一覧 太郎" not in by_status.text


async def test_another_office_another_company_and_an_ended_link_see_nothing(
    app: Litestar, client: Client, world: World, db: AsyncSession, settings: Settings, office: Office
) -> None:
    await make_employee(db, world.tenant.id, "9001", "隔離 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    fields = {"employee_code": "9001", "retirement_date": "2026/12/31", "reason": "定年"}
    assert (await send(client, "leave", office, fields)).status_code == 302
    (notice,) = await notices(db)
    other = await make_office(db, settings, app.state["vault"], code="sr-other", name="他の事務所")
    with second_device(client, httpx.Cookies()):
        await sign_in(client, other.staff)
        assert (await client.get(f"/partner/notices/{notice.id}")).status_code == 404
        assert (await apply(client, notice, fields)).status_code == 404
        assert (await post_form(client, f"/partner/notices/{notice.id}/status", {"status": "done"})).status_code == 404  # type: ignore[attr-defined]
        assert "隔離 太郎" not in (await client.get("/partner/notices?period=all")).text
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.other_admin)
        assert (await client.get(f"/admin/notices/{notice.id}")).status_code == 404
        assert "隔離 太郎" not in (await client.get("/admin/notices")).text
    await db.execute(update(PartnerLink).values(status=LinkStatus.ENDED))
    await db.commit()
    await as_office(client, office)
    assert (await client.get(f"/partner/notices/{notice.id}")).status_code == 404


async def test_notices_go_after_180_days_with_their_sealed_number(
    client: Client, world: World, db: AsyncSession, vault: Vault, office: Office
) -> None:
    await make_employee(db, world.tenant.id, "9101", "期限 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    for seed in (311, 312):
        assert (
            await send(client, "number", office, {"employee_code": "9101", "number": valid_my_number(seed)})
        ).status_code == 302
    old, kept = await notices(db)
    now = utcnow()
    await db.execute(
        update(PartnerNotice).where(PartnerNotice.id == old.id).values(created_at=now - dt.timedelta(days=181))
    )
    await db.execute(
        update(PartnerNotice).where(PartnerNotice.id == kept.id).values(created_at=now - dt.timedelta(days=179))
    )
    await db.commit()
    assert await remove_expired_notices(db, vault, now, 100) == {world.tenant.id: 1}
    await db.commit()
    assert [n.id for n in await notices(db)] == [kept.id]
    (deleted,) = await entries(db, world.tenant.id, AuditAction.NOTICE_DELETE)
    assert deleted.detail["by"] == "retention" and deleted.detail["has_number"] is True
    assert await remove_expired_notices(db, vault, now, 100) == {}
    # The number was under the notice's own key: that key is destroyed, the other notice's is not.
    destroyed = await db.execute(select(DocumentKey.person_id).where(DocumentKey.destroyed_at.is_not(None)))
    assert set(destroyed.scalars()) == {old.id}


async def test_a_notice_is_applied_once_even_when_saved_twice(
    client: Client, world: World, db: AsyncSession, vault: Vault, office: Office
) -> None:
    employee = await make_employee(db, world.tenant.id, "9201", "二重 太郎")
    await db.commit()
    add = {
        "employee_code": "9201",
        "change": "add",
        "changed_on": "2026/11/15",
        "dependant_name": "二重 花子",
        "relationship": "配偶者",
        "dependant_birth_date": "1992/05/05",
    }
    await sign_in(client, world.admin)
    assert (await send(client, "dependant", office, {**add, "number": valid_my_number(321)})).status_code == 302
    (notice,) = await notices(db)
    await as_office(client, office)
    assert (await apply(client, notice, add)).status_code == 302
    again = await apply(client, notice, add)
    assert again.status_code == 400 and "すでに台帳に反映されている" in again.text
    page = await client.get(f"/partner/notices/{notice.id}")
    assert "台帳に反映して保存" not in page.text and "二重の登録を防ぐため" in page.text
    dependants = await db.execute(select(Person).where(Person.employee_id == employee.id))
    assert [p.name for p in dependants.scalars()] == ["二重 花子"]
    assert len(await entries(db, world.tenant.id, AuditAction.NOTICE_APPLY)) == 1


async def test_text_that_may_hold_a_number_is_not_put_back_and_the_match_names_the_subject(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    employee = await make_employee(db, world.tenant.id, "9301", "斉藤 史")
    await make_dependant(db, employee, "斉藤 裕子")
    await db.commit()
    number = valid_my_number(331)
    await sign_in(client, world.admin)
    refused = await send(client, "hire", office, {**HIRE, "address": f"東京都千代田区1-1 {number}"})
    assert refused.status_code == 400 and number not in refused.text and "12桁以上の数字" in refused.text
    spaced = f"{number[:4]}-{number[4:8]}-{number[8:]}"
    moved = {"employee_code": "9301", "changed_on": "2026/11/01", "new_address": f"大阪市北区 {spaced}"}
    refused = await send(client, "address_name", office, moved)
    assert refused.status_code == 400 and spaced not in refused.text
    remove = {"employee_code": "9301", "change": "remove", "changed_on": "2026/11/30", "dependant_name": "斉藤裕子"}
    assert (await send(client, "dependant", office, remove)).status_code == 302
    (notice,) = await notices(db)
    assert notice.subject_name == "斉藤 史 > 斉藤 裕子"


async def test_an_empty_or_bad_date_range_never_lists_every_date_without_a_client(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    await make_employee(db, world.tenant.id, "9401", "範囲 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    fields = {"employee_code": "9401", "retirement_date": "2026/12/31", "reason": "定年"}
    assert (await send(client, "leave", office, fields)).status_code == 302
    (old,) = await notices(db)
    await db.execute(
        update(PartnerNotice).where(PartnerNotice.id == old.id).values(created_at=utcnow() - dt.timedelta(days=90))
    )
    await db.commit()
    await as_office(client, office)
    cleared = await client.get("/partner/notices?from=&to=&period=&client_id=")
    assert cleared.status_code == 200 and "範囲 太郎" not in cleared.text
    garbage = await client.get("/partner/notices?from=garbage")
    assert garbage.status_code == 400 and "受信日（から）は" in garbage.text and "範囲 太郎" not in garbage.text
    backwards = await client.get("/partner/notices?from=2026/12/01&to=2026/11/01")
    assert backwards.status_code == 400 and "以前の日付" in backwards.text


async def test_joining_an_insurance_the_employee_already_has_is_refused(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    employee = await make_employee(db, world.tenant.id, "9501", "加入 太郎")
    employee.social_insurance_acquired_on = dt.date(2017, 4, 1)
    await db.commit()
    await sign_in(client, world.admin)
    join = {"employee_code": "9501", "change": "join", "insurance": "both", "changed_on": "2026/12/01"}
    assert (await send(client, "insurance", office, join)).status_code == 302
    (notice,) = await notices(db)
    await as_office(client, office)
    refused = await apply(client, notice, join)
    assert refused.status_code == 400 and "資格取得日 2017/04/01 が登録済み" in refused.text
    person = await fresh(db, employee.id)
    assert (
        person.social_insurance_acquired_on == dt.date(2017, 4, 1) and person.employment_insurance_acquired_on is None
    )
    (notice,) = await notices(db)
    assert notice.status is NoticeStatus.PENDING


async def test_the_office_home_counts_the_notices_still_pending(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    await make_employee(db, world.tenant.id, "9601", "件数 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    fields = {"employee_code": "9601", "retirement_date": "2026/12/31", "reason": "定年"}
    for _ in range(2):
        assert (await send(client, "leave", office, fields)).status_code == 302
    first, _ = await notices(db)
    await db.execute(
        update(PartnerNotice).where(PartnerNotice.id == first.id).values(created_at=utcnow() - dt.timedelta(days=90))
    )
    await db.commit()
    await as_office(client, office)
    home = await client.get("/partner")
    assert "未処理の連絡が 2 件あります" in home.text
    link = home.text.split('class="flash flash-info notice-count"', 1)[1].split('href="', 1)[1].split('"', 1)[0]
    listing = await client.get(link.replace("&amp;", "&"))
    assert listing.status_code == 200 and listing.text.count("件数 太郎") == 2  # the older one too
    await post_form(client, f"/partner/notices/{first.id}/status", {"status": "held"})
    assert "未処理の連絡が 1 件あります" in (await client.get("/partner")).text
