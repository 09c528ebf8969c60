"""Admin pages for people: departments, employees (search, retire), dependants, payees; isolation and roles."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.forms import FormInvalid
from tenants.models import CollectionStatus, Department, PayeeType, Person, PersonKind, Relationship
from tenants.services._people import today
from tenants.services._records import confirm_by_admin
from tests.support.audit import entries
from tests.support.cards import hides
from tests.support.people import (
    ACTOR,
    give_number,
    make_department,
    make_dependant,
    make_employee,
    make_payee,
    valid_my_number,
)
from tests.support.world import World, post_form, sign_in

EMPLOYEE = {
    "employee_code": "201",
    "name": "佐藤 一郎",
    "kana": "ｻﾄｳ ｲﾁﾛｳ",
    "birth_date": "1980-05-10",
    "hire_date": "2010-04-01",
    "social_insurance_acquired_on": "2010-04-01",
    "employment_insurance_acquired_on": "2010-04-01",
    "email": "ichiro@example.jp",
}


async def fresh(db: AsyncSession, model: Any, row_id: uuid.UUID) -> Any:
    statement = select(model).where(model.id == row_id).execution_options(populate_existing=True)
    return (await db.execute(statement)).scalar_one()


async def people_named(db: AsyncSession, tenant_id: uuid.UUID, name: str) -> list[Person]:
    statement = (
        select(Person)
        .where(Person.tenant_id == tenant_id, Person.name == name)
        .execution_options(populate_existing=True)
    )
    return list((await db.execute(statement)).scalars())


def text_of(response: object) -> str:
    return str(getattr(response, "text", ""))


def status_of(response: object) -> int:
    return int(getattr(response, "status_code", 0))


# Employees


async def test_a_handler_adds_an_employee_with_kana_normalised(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    department = await make_department(db, world.tenant.id, "201", "東京営業部")
    await db.commit()
    await sign_in(client, world.handler)
    response = await post_form(client, "/admin/people/new", {**EMPLOYEE, "department_id": str(department.id)})
    assert status_of(response) == 302, text_of(response)[:2000]
    [person] = await people_named(db, world.tenant.id, "佐藤 一郎")
    assert response.headers["location"] == f"/admin/people/{person.id}"  # type: ignore[attr-defined]
    assert person.kind is PersonKind.EMPLOYEE
    assert person.kana == "サトウ イチロウ"
    assert person.birth_date == dt.date(1980, 5, 10)
    assert person.department_id == department.id
    assert person.status is CollectionStatus.NOT_REGISTERED
    page = await client.get(f"/admin/people/{person.id}")
    assert page.status_code == 200
    assert "サトウ イチロウ" in page.text and "東京営業部" in page.text
    added = [e for e in await entries(db, world.tenant.id, AuditAction.UPDATE) if e.function == "従業員の追加"]
    assert len(added) == 1 and added[0].subject_person_id == person.id


async def test_hiragana_kana_becomes_katakana_and_latin_kana_is_refused(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.admin)
    response = await post_form(client, "/admin/people/new", {**EMPLOYEE, "kana": "Sato Ichiro"})
    assert status_of(response) == 400
    assert "フリガナはカタカナ（またはひらがな）で入力してください。" in text_of(response)
    response = await post_form(client, "/admin/people/new", {**EMPLOYEE, "kana": "さとう いちろう"})
    assert status_of(response) == 302
    [person] = await people_named(db, world.tenant.id, "佐藤 一郎")
    assert person.kana == "サトウ イチロウ"


async def test_a_taken_employee_code_is_refused_with_the_form_kept(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await make_employee(db, world.tenant.id, "201", "先輩 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    response = await post_form(client, "/admin/people/new", {**EMPLOYEE, "employee_code": "２０１"})
    assert status_of(response) == 400
    html = text_of(response)
    assert "この社員コードは既に使われています。" in html
    assert 'value="佐藤 一郎"' in html and 'value="ichiro@example.jp"' in html
    assert await people_named(db, world.tenant.id, "佐藤 一郎") == []


async def test_the_same_employee_code_is_free_in_another_tenant(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await make_employee(db, world.other_tenant.id, "201", "よその 人")
    await db.commit()
    await sign_in(client, world.admin)
    response = await post_form(client, "/admin/people/new", EMPLOYEE)
    assert status_of(response) == 302


async def test_a_future_birth_date_is_refused_and_nothing_is_saved(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.admin)
    tomorrow = (today() + dt.timedelta(days=1)).isoformat()
    response = await post_form(client, "/admin/people/new", {**EMPLOYEE, "birth_date": tomorrow})
    assert status_of(response) == 400
    assert "生年月日に未来の日付は指定できません。" in text_of(response)
    assert f'value="{tomorrow}"' in text_of(response)
    assert await people_named(db, world.tenant.id, "佐藤 一郎") == []


async def test_every_bad_field_gets_its_own_japanese_message(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.admin)
    response = await post_form(
        client,
        "/admin/people/new",
        {
            "employee_code": "",
            "name": "",
            "kana": "",
            "birth_date": "1980-02-30",
            "department_id": str(uuid.uuid4()),
            "hire_date": "2010-04-01",
            "retirement_date": "2009-03-31",
            "social_insurance_acquired_on": "2010-04-01",
            "social_insurance_lost_on": "2010-03-31",
            "email": "not-an-address",
        },
    )
    assert status_of(response) == 400
    html = text_of(response)
    for message in (
        "社員コードを入力してください。",
        "氏名を入力してください。",
        "フリガナを入力してください。",
        "生年月日は存在しない日付です（1980年2月30日）。",
        "部門を一覧から選択してください。",
        "退職日は入社日以降の日付を入力してください。",
        "社会保険の喪失日は取得日以降の日付を入力してください。",
        "メールアドレスの形式が正しくありません",
    ):
        assert message in html, message


async def test_a_number_typed_into_a_name_field_is_refused(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    number = valid_my_number(5)
    await sign_in(client, world.admin)
    response = await post_form(client, "/admin/people/new", {**EMPLOYEE, "name": f"佐藤 {number}"})
    assert status_of(response) == 400
    assert "氏名に12桁以上の数字は入力できません。" in text_of(response)
    assert number not in text_of(response)  # never rendered back, even from the wrong field
    assert 'value="ichiro@example.jp"' in text_of(response)
    count = await db.execute(select(func.count()).select_from(Person).where(Person.tenant_id == world.tenant.id))
    assert count.scalar_one() == 0


async def test_an_edit_is_saved_and_logged_with_the_changed_field_names_only(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    person = await make_employee(db, world.tenant.id, "201", "佐藤 一郎", kana="サトウ イチロウ")
    await db.commit()
    await sign_in(client, world.admin)
    form = await client.get(f"/admin/people/{person.id}/edit")
    assert form.status_code == 200 and 'value="サトウ イチロウ"' in form.text
    response = await post_form(
        client,
        f"/admin/people/{person.id}/edit",
        {
            "employee_code": "201",
            "name": "佐藤 一郎",
            "kana": "サトウ イチロウ",
            "birth_date": "1985-04-01",
            "hire_date": "2015-04-01",
            "email": "new@example.jp",
            "employment_insurance_acquired_on": "2015-04-01",
        },
    )
    assert status_of(response) == 302, text_of(response)[:2000]
    person = await fresh(db, Person, person.id)
    assert person.email == "new@example.jp"
    assert person.employment_insurance_acquired_on == dt.date(2015, 4, 1)
    assert person.identity_changed_at is None
    [logged] = [e for e in await entries(db, world.tenant.id, AuditAction.UPDATE) if e.function == "従業員情報の修正"]
    assert logged.detail == {"event": "person_updated", "fields": ["employment_insurance_acquired_on", "email"]}
    assert logged.subject_name == "佐藤 一郎"


async def test_search_finds_by_partial_name_or_kana_exact_code_and_department(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    sales = await make_department(db, world.tenant.id, "201", "東京営業部")
    office = await make_department(db, world.tenant.id, "101", "社長室")
    await make_employee(db, world.tenant.id, "201", "佐藤 一郎", kana="サトウ イチロウ", department=sales)
    await make_employee(db, world.tenant.id, "2011", "斉藤 健太", kana="サイトウ ケンタ", department=sales)
    await make_employee(db, world.tenant.id, "001", "河合 康則", kana="カワイ ヤスノリ", department=office)
    await make_employee(db, world.other_tenant.id, "201", "佐藤 別人", kana="サトウ ベツジン")
    await db.commit()
    await sign_in(client, world.viewer)

    async def names(**params: str) -> set[str]:
        response = await client.get("/admin/people", params=params)
        assert response.status_code == 200
        return set(re.findall(r'<a class="person" href="/admin/people/[0-9a-f-]+">([^<]+)</a>', response.text))

    assert await names() == {"佐藤 一郎", "斉藤 健太", "河合 康則"}
    assert await names(q="佐藤一郎") == {"佐藤 一郎"}
    assert await names(q="さとう") == {"佐藤 一郎"}
    assert await names(q="ｹﾝﾀ") == {"斉藤 健太"}
    assert await names(q="%") == set()
    assert await names(code="201") == {"佐藤 一郎"}
    assert await names(department=str(sales.id)) == {"佐藤 一郎", "斉藤 健太"}
    assert await names(department=str(office.id), q="佐藤") == set()


async def test_the_list_shows_fifty_employees_a_page(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    for n in range(55):
        await make_employee(db, world.tenant.id, f"E{n:03d}", f"社員 {n:03d}")
    await db.commit()
    await sign_in(client, world.admin)
    first = await client.get("/admin/people")
    second = await client.get("/admin/people", params={"page": "2"})
    assert first.text.count('<td class="mono">E0') == 50
    assert second.text.count('<td class="mono">E0') == 5
    assert "E054" in second.text and "E054" not in first.text
    assert "page=2" in first.text and "55 件" in first.text


async def test_retiring_keeps_the_person_and_the_number_and_can_be_undone(
    client: AsyncTestClient[Litestar], app: Litestar, world: World, db: AsyncSession
) -> None:
    person = await make_employee(db, world.tenant.id, "201", "佐藤 一郎")
    await give_number(db, app.state["vault"], person, valid_my_number(1))
    await db.commit()
    await sign_in(client, world.handler)
    response = await post_form(client, f"/admin/people/{person.id}/retire", {"retirement_date": "2026-03-31"})
    assert status_of(response) == 302, text_of(response)[:2000]
    person = await fresh(db, Person, person.id)
    assert person.retired_at is not None and person.retirement_date == dt.date(2026, 3, 31)
    assert person.status is CollectionStatus.PROXY_REGISTERED
    active = await client.get("/admin/people")
    retired = await client.get("/admin/people", params={"employment": "retired"})
    assert ">佐藤 一郎</a>" not in active.text and ">佐藤 一郎</a>" in retired.text
    again = await post_form(client, f"/admin/people/{person.id}/retire", {"retirement_date": "2026-03-31"})
    assert status_of(again) == 400 and "すでに退職処理済みです" in text_of(again)
    response = await post_form(client, f"/admin/people/{person.id}/reinstate")
    assert status_of(response) == 302
    person = await fresh(db, Person, person.id)
    assert person.retired_at is None and person.retirement_date is None
    functions = [e.function for e in await entries(db, world.tenant.id, AuditAction.UPDATE)]
    assert functions[-2:] == ["退職処理", "退職の取消"]


async def test_retiring_needs_a_date_not_before_hiring(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    person = await make_employee(db, world.tenant.id, "201", "佐藤 一郎")
    await db.commit()
    await sign_in(client, world.admin)
    response = await post_form(client, f"/admin/people/{person.id}/retire", {"retirement_date": "2001-01-01"})
    assert status_of(response) == 400
    assert "退職日は入社日以降の日付を入力してください。" in text_of(response)
    assert (await fresh(db, Person, person.id)).retired_at is None


# Identity changes after confirmation


async def test_the_identity_flag_is_set_only_once_an_admin_confirmed_the_number(
    client: AsyncTestClient[Litestar], app: Litestar, world: World, db: AsyncSession
) -> None:
    person = await make_employee(db, world.tenant.id, "201", "佐藤 一郎", kana="サトウ イチロウ")
    await give_number(db, app.state["vault"], person, valid_my_number(2))
    await db.commit()
    await sign_in(client, world.admin)
    form = {**EMPLOYEE, "birth_date": "1985-04-01", "hire_date": "2015-04-01", "email": ""}
    response = await post_form(client, f"/admin/people/{person.id}/edit", {**form, "name": "佐藤 一朗"})
    assert status_of(response) == 302
    person = await fresh(db, Person, person.id)
    assert person.identity_changed_at is None and not person.identity_warning

    await confirm_by_admin(db, actor=ACTOR, person=person)
    await db.commit()
    response = await post_form(client, f"/admin/people/{person.id}/edit", {**form, "name": "鈴木 一朗"})
    assert status_of(response) == 302
    person = await fresh(db, Person, person.id)
    assert person.identity_warning
    assert person.status is CollectionStatus.ADMIN_CONFIRMED
    logged = [e for e in await entries(db, world.tenant.id, AuditAction.UPDATE) if e.function == "従業員情報の修正"]
    assert logged[-1].detail == {"event": "person_updated", "fields": ["name"], "identity_warning": True}
    page = await client.get(f"/admin/people/{person.id}")
    assert "要再確認" in page.text and f"/admin/numbers/{person.id}/confirm" in page.text


async def test_editing_other_fields_of_a_confirmed_person_raises_no_flag(
    client: AsyncTestClient[Litestar], app: Litestar, world: World, db: AsyncSession
) -> None:
    person = await make_employee(db, world.tenant.id, "201", "佐藤 一郎", kana="サトウ イチロウ")
    await give_number(db, app.state["vault"], person, valid_my_number(3))
    await confirm_by_admin(db, actor=ACTOR, person=person)
    await db.commit()
    await sign_in(client, world.admin)
    form = {**EMPLOYEE, "birth_date": "1985-04-01", "hire_date": "2015-04-01", "email": "other@example.jp"}
    response = await post_form(client, f"/admin/people/{person.id}/edit", form)
    assert status_of(response) == 302
    assert not (await fresh(db, Person, person.id)).identity_warning


# Dependants


async def test_the_employee_page_shows_dependants_with_masked_numbers_only(
    client: AsyncTestClient[Litestar], app: Litestar, world: World, db: AsyncSession
) -> None:
    employee = await make_employee(db, world.tenant.id, "104", "東野 二郎")
    spouse = await make_dependant(db, employee, "東野 順子", Relationship.SPOUSE)
    child = await make_dependant(db, employee, "東野 真奈美", Relationship.CHILD)
    number = valid_my_number(4)
    await give_number(db, app.state["vault"], spouse, number)
    await db.commit()
    await sign_in(client, world.viewer)
    page = await client.get(f"/admin/people/{employee.id}")
    assert page.status_code == 200
    html = page.text
    assert "東野 二郎 &gt; 東野 順子" in html and "続柄：配偶者" in html and "続柄：子" in html
    assert f"**********{number[-2:]}" in html
    assert hides(html, number)
    assert "代理登録済" in html and "未登録" in html
    assert "/admin/numbers/" not in html  # a viewer gets no operations
    await client.post("/logout")
    await sign_in(client, world.handler)
    html = (await client.get(f"/admin/people/{employee.id}")).text
    assert f"/admin/numbers/{child.id}/register" in html
    assert f"/admin/numbers/{spouse.id}/confirm" in html


async def test_a_dependant_needs_a_relationship_from_the_list(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    employee = await make_employee(db, world.tenant.id, "104", "東野 二郎")
    await db.commit()
    await sign_in(client, world.handler)
    path = f"/admin/people/{employee.id}/dependants/new"
    for relationship in ("", "いとこ"):
        response = await post_form(client, path, {"name": "東野 順子", "relationship": relationship})
        assert status_of(response) == 400
        assert "続柄を選択してください。" in text_of(response)
        assert 'value="東野 順子"' in text_of(response)
    assert await people_named(db, world.tenant.id, "東野 順子") == []
    response = await post_form(
        client, path, {"name": "東野 順子", "kana": "ﾋｶﾞｼﾉ ｼﾞｭﾝｺ", "relationship": "配偶者", "birth_date": "1982-01-02"}
    )
    assert status_of(response) == 302
    [dependant] = await people_named(db, world.tenant.id, "東野 順子")
    assert dependant.kind is PersonKind.DEPENDANT and dependant.employee_id == employee.id
    assert dependant.relationship is Relationship.SPOUSE and dependant.kana == "ヒガシノ ジュンコ"


async def test_a_dependant_born_in_the_future_is_refused(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    employee = await make_employee(db, world.tenant.id, "104", "東野 二郎")
    await db.commit()
    await sign_in(client, world.handler)
    tomorrow = (today() + dt.timedelta(days=1)).isoformat()
    response = await post_form(
        client,
        f"/admin/people/{employee.id}/dependants/new",
        {"name": "東野 三郎", "relationship": "子", "birth_date": tomorrow},
    )
    assert status_of(response) == 400
    assert "生年月日に未来の日付は指定できません。" in text_of(response)
    assert await people_named(db, world.tenant.id, "東野 三郎") == []


async def test_editing_a_confirmed_dependants_name_flags_the_number(
    client: AsyncTestClient[Litestar], app: Litestar, world: World, db: AsyncSession
) -> None:
    employee = await make_employee(db, world.tenant.id, "104", "東野 二郎")
    dependant = await make_dependant(db, employee, "東野 順子", Relationship.SPOUSE)
    await give_number(db, app.state["vault"], dependant, valid_my_number(6))
    await confirm_by_admin(db, actor=ACTOR, person=dependant)
    await db.commit()
    await sign_in(client, world.admin)
    path = f"/admin/people/{employee.id}/dependants/{dependant.id}/edit"
    assert (await client.get(path)).status_code == 200
    response = await post_form(
        client, path, {"name": "西野 順子", "relationship": "配偶者", "birth_date": "2012-06-01"}
    )
    assert status_of(response) == 302
    dependant = await fresh(db, Person, dependant.id)
    assert dependant.name == "西野 順子" and dependant.identity_warning
    [logged] = [e for e in await entries(db, world.tenant.id, AuditAction.UPDATE) if e.function == "扶養家族情報の修正"]
    assert logged.subject_name == "東野 二郎 > 西野 順子"
    assert logged.detail == {"event": "person_updated", "fields": ["name"], "identity_warning": True}


async def test_a_dependant_is_reached_only_under_their_own_employee(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    first = await make_employee(db, world.tenant.id, "104", "東野 二郎")
    second = await make_employee(db, world.tenant.id, "105", "西野 三郎")
    dependant = await make_dependant(db, first, "東野 順子")
    await db.commit()
    await sign_in(client, world.admin)
    assert (await client.get(f"/admin/people/{second.id}/dependants/{dependant.id}/edit")).status_code == 404
    assert (await client.get(f"/admin/people/{dependant.id}/dependants/new")).status_code == 404
    moved = await client.get(f"/admin/people/{dependant.id}", follow_redirects=False)
    assert moved.status_code in (302, 303) and moved.headers["location"] == f"/admin/people/{first.id}"


# Payees


async def test_payees_are_individuals_or_corporations(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.handler)
    form = {"name": "株式会社タカラ企画", "kana": "ｶﾌﾞｼｷｶﾞｲｼｬﾀｶﾗｷｶｸ", "address": "兵庫県宝塚市", "email": ""}
    missing = await post_form(client, "/admin/payees/new", {**form, "payment_kind": "講演料"})
    assert status_of(missing) == 400 and "個人・法人の区分を選択してください。" in text_of(missing)
    created = await post_form(
        client, "/admin/payees/new", {**form, "payee_type": "corporation", "payment_kind": "デザイン料（ロゴ）"}
    )
    assert status_of(created) == 302
    individual = await post_form(
        client,
        "/admin/payees/new",
        {"payee_type": "individual", "name": "税理士 山田 花子", "kana": "やまだ はなこ", "payment_kind": "税理士報酬"},
    )
    assert status_of(individual) == 302
    [corporation] = await people_named(db, world.tenant.id, "株式会社タカラ企画")
    [person] = await people_named(db, world.tenant.id, "税理士 山田 花子")
    assert corporation.kind is PersonKind.PAYEE and corporation.payee_type is PayeeType.CORPORATION
    assert (
        corporation.kana == "カブシキガイシャタカラキカク" and corporation.payment_kind == "デザイン料（ロゴ）"
    )  # NFC: kept as typed
    assert person.payee_type is PayeeType.INDIVIDUAL and person.kana == "ヤマダ ハナコ"
    page = await client.get("/admin/payees")
    assert "法人" in page.text and "個人" in page.text
    assert f"/admin/payees/{corporation.id}/link" in page.text


async def test_a_payees_type_cannot_change_once_a_number_is_registered(
    client: AsyncTestClient[Litestar], app: Litestar, world: World, db: AsyncSession
) -> None:
    payee = await make_payee(db, world.tenant.id, "山田 花子")
    await give_number(db, app.state["vault"], payee, valid_my_number(7))
    await db.commit()
    await sign_in(client, world.admin)
    path = f"/admin/payees/{payee.id}/edit"
    assert (await client.get(path)).status_code == 200
    response = await post_form(client, path, {"payee_type": "corporation", "name": "山田 花子", "payment_kind": "報酬"})
    assert status_of(response) == 400
    assert "番号の登録後は個人・法人の区分を変更できません。" in text_of(response)
    assert (await fresh(db, Person, payee.id)).payee_type is PayeeType.INDIVIDUAL
    response = await post_form(
        client, path, {"payee_type": "individual", "name": "山田 花子", "payment_kind": "原稿料", "address": "大阪市"}
    )
    assert status_of(response) == 302
    payee = await fresh(db, Person, payee.id)
    assert payee.payment_kind == "原稿料" and payee.address == "大阪市"


# Departments


async def test_departments_are_added_and_edited_with_unique_codes(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await make_department(db, world.other_tenant.id, "101", "よその部門")
    await db.commit()
    await sign_in(client, world.handler)
    assert status_of(await post_form(client, "/admin/departments", {"code": "101", "name": "社長室"})) == 302
    assert status_of(await post_form(client, "/admin/departments", {"code": "102", "name": "総務課"})) == 302
    duplicate = await post_form(client, "/admin/departments", {"code": "１０１", "name": "別の部門"})
    assert status_of(duplicate) == 400
    assert "この部門コードは既に使われています。" in text_of(duplicate) and 'value="別の部門"' in text_of(duplicate)
    rows = await db.execute(select(Department).where(Department.tenant_id == world.tenant.id).order_by(Department.code))
    _office, general = rows.scalars()
    clash = await post_form(client, f"/admin/departments/{general.id}/edit", {"code": "101", "name": "総務課"})
    assert status_of(clash) == 400
    renamed = await post_form(client, f"/admin/departments/{general.id}/edit", {"code": "102", "name": "総務部"})
    assert status_of(renamed) == 302
    assert (await fresh(db, Department, general.id)).name == "総務部"
    listing = await client.get("/admin/departments")
    assert "社長室" in listing.text and "総務部" in listing.text and "よその部門" not in listing.text


# Isolation and roles

FOREIGN_ROUTES = [
    ("GET", "/admin/people/{person}"),
    ("GET", "/admin/people/{person}/edit"),
    ("POST", "/admin/people/{person}/edit"),
    ("POST", "/admin/people/{person}/retire"),
    ("POST", "/admin/people/{person}/reinstate"),
    ("GET", "/admin/people/{person}/dependants/new"),
    ("POST", "/admin/people/{person}/dependants/new"),
    ("GET", "/admin/people/{person}/dependants/{dependant}/edit"),
    ("POST", "/admin/people/{person}/dependants/{dependant}/edit"),
    ("GET", "/admin/people/{own}/dependants/{dependant}/edit"),
    ("POST", "/admin/people/{own}/dependants/{dependant}/edit"),
    ("GET", "/admin/payees/{payee}/edit"),
    ("POST", "/admin/payees/{payee}/edit"),
    ("GET", "/admin/departments/{department}/edit"),
    ("POST", "/admin/departments/{department}/edit"),
]


@pytest.mark.parametrize("persona", ["admin", "handler"])
async def test_another_tenants_ids_are_not_found_on_every_route(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, persona: str
) -> None:
    own = await make_employee(db, world.tenant.id, "001", "自社 社員")
    department = await make_department(db, world.other_tenant.id, "101", "よその部門")
    employee = await make_employee(db, world.other_tenant.id, "001", "よその 社員", department=department)
    dependant = await make_dependant(db, employee, "よその 家族")
    payee = await make_payee(db, world.other_tenant.id, "よその 取引先")
    await db.commit()
    ids = {
        "own": own.id,
        "person": employee.id,
        "dependant": dependant.id,
        "payee": payee.id,
        "department": department.id,
    }
    await sign_in(client, getattr(world, persona))
    data = {
        "employee_code": "999",
        "name": "乗っ取り",
        "kana": "ノットリ",
        "code": "999",
        "relationship": "子",
        "payee_type": "individual",
        "retirement_date": "2026-01-01",
    }
    for method, template in FOREIGN_ROUTES:
        path = template.format(**ids)
        if method == "GET":
            response: object = await client.get(path, follow_redirects=False)
        else:
            response = await post_form(client, path, data)
        assert status_of(response) == 404, f"{method} {template}"
        assert "よその" not in text_of(response)
    for person in (employee, dependant, payee):
        assert (await fresh(db, Person, person.id)).name.startswith("よその")
    assert (await fresh(db, Person, employee.id)).retired_at is None


async def test_a_payee_id_is_not_an_employee_and_an_employee_id_is_not_a_payee(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    employee = await make_employee(db, world.tenant.id, "001", "自社 社員")
    payee = await make_payee(db, world.tenant.id, "自社 取引先")
    await db.commit()
    await sign_in(client, world.admin)
    assert (
        status_of(await post_form(client, f"/admin/people/{payee.id}/retire", {"retirement_date": "2026-01-01"})) == 404
    )
    assert (await client.get(f"/admin/payees/{employee.id}/edit")).status_code == 404
    assert (await client.get(f"/admin/people/{payee.id}/dependants/new")).status_code == 404


async def test_lists_show_only_the_own_tenants_people(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await make_employee(db, world.tenant.id, "001", "自社 社員")
    await make_employee(db, world.other_tenant.id, "002", "よその 社員")
    await make_payee(db, world.tenant.id, "自社 取引先")
    await make_payee(db, world.other_tenant.id, "よその 取引先")
    await db.commit()
    await sign_in(client, world.other_admin)
    people = await client.get("/admin/people")
    payees = await client.get("/admin/payees")
    assert "よその 社員" in people.text and "自社 社員" not in people.text
    assert "よその 取引先" in payees.text and "自社 取引先" not in payees.text


WRITE_ROUTES = [
    ("GET", "/admin/people/new"),
    ("POST", "/admin/people/new"),
    ("GET", "/admin/people/{person}/edit"),
    ("POST", "/admin/people/{person}/edit"),
    ("POST", "/admin/people/{person}/retire"),
    ("POST", "/admin/people/{person}/reinstate"),
    ("GET", "/admin/people/{person}/dependants/new"),
    ("POST", "/admin/people/{person}/dependants/new"),
    ("POST", "/admin/people/{person}/dependants/{dependant}/edit"),
    ("GET", "/admin/payees/new"),
    ("POST", "/admin/payees/new"),
    ("POST", "/admin/payees/{payee}/edit"),
    ("POST", "/admin/departments"),
    ("POST", "/admin/departments/{department}/edit"),
]


async def test_a_viewer_reads_the_lists_but_cannot_change_anything(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    department = await make_department(db, world.tenant.id, "101", "社長室")
    employee = await make_employee(db, world.tenant.id, "001", "河合 康則", department=department)
    dependant = await make_dependant(db, employee, "河合 花子")
    payee = await make_payee(db, world.tenant.id, "山田 花子")
    await db.commit()
    ids = {"person": employee.id, "dependant": dependant.id, "payee": payee.id, "department": department.id}
    await sign_in(client, world.viewer)
    for path in ("/admin/people", f"/admin/people/{employee.id}", "/admin/payees", "/admin/departments"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert "/edit" not in page.text and "/new" not in page.text, path
    data = {"employee_code": "999", "name": "書換", "code": "999", "relationship": "子", "payee_type": "individual"}
    for method, template in WRITE_ROUTES:
        path = template.format(**ids)
        if method == "GET":
            response: object = await client.get(path, follow_redirects=False)
        else:
            response = await post_form(client, path, data)
        assert status_of(response) == 403, f"{method} {template}"
    assert (await fresh(db, Person, employee.id)).name == "河合 康則"
    assert await people_named(db, world.tenant.id, "書換") == []


async def test_an_employee_cannot_open_the_people_pages(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.employee)
    for path in ("/admin/people", "/admin/payees", "/admin/departments"):
        assert (await client.get(path)).status_code == 403, path


async def test_anonymous_visitors_are_sent_to_sign_in(client: AsyncTestClient[Litestar], world: World) -> None:
    response = await client.get("/admin/people", follow_redirects=False)
    assert response.status_code in (302, 303)


async def test_a_post_without_the_csrf_token_is_refused(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.admin)
    response = await post_form(client, "/admin/people/new", EMPLOYEE, csrf=False)
    assert status_of(response) == 403
    assert await people_named(db, world.tenant.id, "佐藤 一郎") == []


async def test_a_code_taken_at_the_same_moment_is_still_a_japanese_error(
    app: Litestar, db: AsyncSession, world: World
) -> None:
    from app.auth.principal import Principal
    from app.tenancy import TenantKind
    from tenants.services._people import add_person

    await make_employee(db, world.tenant.id, "777", "先に 登録")
    await db.commit()
    admin = Principal(
        account_id=world.admin.account.id,
        tenant_id=world.tenant.id,
        tenant_code="acme",
        tenant_name=world.tenant.name,
        tenant_kind=TenantKind.COMPANY,
        login_id="admin",
        name="岡 昌平",
        role=world.admin.account.role,
        totp_enabled=True,
        person_id=None,
        stepup_fresh=True,
    )
    with pytest.raises(FormInvalid) as excinfo:  # the uniqueness check already passed in the other request
        await add_person(
            db, admin, PersonKind.EMPLOYEE, {"employee_code": "777", "name": "後から 登録"}, "従業員の登録"
        )
    assert "既に使われています" in excinfo.value.errors["employee_code"]
    assert (await db.execute(select(Person).where(Person.name == "先に 登録"))).scalar_one() is not None
