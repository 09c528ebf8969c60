"""/api/v1/people: the masked list (filters, keyset cursors), one person, add and update through the tenants rules."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.audit.models import AuditEntry
from app.config import Settings
from app.vault import Vault
from tenants.models import Person, PersonKind
from tests.exchange.test_api_auth import assert_problem
from tests.support.api import bearer, make_token
from tests.support.audit import entries
from tests.support.people import give_number, make_department, make_dependant, make_employee, valid_my_number
from tests.support.world import World

PEOPLE = "/api/v1/people"


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    """A vault of the test's own for arranging numbers (the app's engines belong to the app's event loop)."""
    opened = Vault.from_settings(settings)
    yield opened
    await opened.close()


async def _token(app: Litestar, db: AsyncSession, world: World, *scopes: str) -> dict[str, str]:
    chosen = scopes or ("people:read", "people:write")
    return bearer(await make_token(db, app.state["vault"], world.tenant, scopes=chosen))


async def _people_count(db: AsyncSession, tenant_id: uuid.UUID) -> int:
    return int((await db.execute(select(func.count()).where(Person.tenant_id == tenant_id))).scalar_one())


class TestList:
    async def test_the_list_pages_by_cursor_through_everyone_once_with_masks_only(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
    ) -> None:
        numbers = []
        for index in range(7):
            person = await make_employee(db, world.tenant.id, f"E{index:03}", f"社員 {index}号", kana="シャイン")
            numbers.append(valid_my_number(100 + index))
            await give_number(db, vault, person, numbers[-1])
        await make_employee(db, world.other_tenant.id, "X001", "よその 人", kana="ヨソノ ヒト")
        await db.commit()
        headers = await _token(app, db, world)
        seen: list[str] = []
        cursor = ""
        pages = 0
        while True:
            response = await client.get(PEOPLE, params={"limit": 3, "sort": "code", "cursor": cursor}, headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["total"] == 7 and body["total_is_lower_bound"] is False
            seen += [item["employee_code"] for item in body["items"]]
            for number in numbers:
                assert number not in response.text
            assert all(item["number"]["masked"].startswith("**********") for item in body["items"])
            pages += 1
            if body["next_cursor"] is None:
                break
            cursor = body["next_cursor"]
        assert pages == 3
        assert seen == [f"E{index:03}" for index in range(7)]

    async def test_the_lists_filters_apply(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
    ) -> None:
        sales = await make_department(db, world.tenant.id, "D01", "営業部")
        taro = await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ", department=sales)
        await make_dependant(db, taro, "山田 花子")
        hanako = await make_employee(db, world.tenant.id, "A002", "鈴木 一郎", kana="スズキ イチロウ")
        await give_number(db, vault, hanako, valid_my_number(7))
        await db.commit()
        headers = await _token(app, db, world)

        async def names(**params: str) -> list[str]:
            response = await client.get(PEOPLE, params=params, headers=headers)
            assert response.status_code == 200, response.text
            return sorted(item["name"] for item in response.json()["items"])

        assert await names(department=str(sales.id)) == ["山田 太郎", "山田 花子"]
        assert await names(kind="dependant") == ["山田 花子"]
        assert await names(status="proxy_registered") == ["鈴木 一郎"]
        assert await names(status="not_registered", kind="employee") == ["山田 太郎"]
        assert await names(name="すずき") == ["鈴木 一郎"]
        assert await names(department=str(uuid.uuid4())) == []

    async def test_a_cursor_that_is_not_the_lists_is_a_422(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
        await db.commit()
        headers = await _token(app, db, world)
        body = assert_problem(await client.get(PEOPLE, params={"cursor": "garbage"}, headers=headers), 422)
        assert body["errors"][0]["field"] == "cursor"  # type: ignore[index]


class TestOne:
    async def test_one_person_with_the_mask_and_status(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
    ) -> None:
        person = await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
        number = valid_my_number(3)
        await give_number(db, vault, person, number)
        await db.commit()
        response = await client.get(f"{PEOPLE}/{person.id}", headers=await _token(app, db, world, "people:read"))
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "proxy_registered" and body["status_label"] == "代理登録済"
        assert body["number"]["masked"] == "**********" + number[-2:]
        assert number not in response.text

    async def test_another_tenants_person_is_a_404(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        theirs = await make_employee(db, world.other_tenant.id, "A001", "よその 人", kana="ヨソノ ヒト")
        await db.commit()
        headers = await _token(app, db, world)
        assert_problem(await client.get(f"{PEOPLE}/{theirs.id}", headers=headers), 404)
        assert_problem(await client.patch(f"{PEOPLE}/{theirs.id}", json={"name": "乗っ取り"}, headers=headers), 404)
        await db.refresh(theirs)
        assert theirs.name == "よその 人"


class TestCreate:
    async def test_an_employee_is_added_and_logged_with_the_token_as_actor(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        body = {"kind": "employee", "employee_code": "N001", "name": "新人 一郎", "kana": "しんじん いちろう"}
        response = await client.post(PEOPLE, json=body, headers=await _token(app, db, world))
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["kana"] == "シンジン イチロウ"  # the shared text rules
        assert created["status"] == "not_registered" and created["number"] is None
        logged = [e for e in await entries(db, world.tenant.id, AuditAction.UPDATE) if e.function == "従業員の追加"]
        assert len(logged) == 1
        assert logged[0].actor_name == "給与ソフト" and logged[0].actor_role == "APIトークン"
        assert logged[0].subject_person_id == uuid.UUID(created["id"])

    async def test_a_body_in_another_type_is_a_415_and_nothing_is_written(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        """Field trial: JSON sent as text/plain created the person (201); a form got a 400; no call answered 415."""
        headers = await _token(app, db, world)
        before = await _people_count(db, world.tenant.id)
        body = '{"kind":"employee","employee_code":"CT1","name":"型 テキスト","kana":"カタ テキスト"}'
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
            sent = await client.post(PEOPLE, content=body.encode(), headers={**headers, "content-type": content_type})
            problem = assert_problem(sent, 415)
            assert problem["type"] == "urn:mnvault:problem:unsupported-media-type"
            assert "application/json" in str(problem["detail"])
        assert await _people_count(db, world.tenant.id) == before
        scopes = ["numbers:write", "people:write"]
        importer = bearer(await make_token(db, app.state["vault"], world.tenant, scopes=scopes, name="取込"))
        upload = await client.post("/api/v1/imports", content=b"a,b", headers={**importer, "content-type": "text/csv"})
        assert assert_problem(upload, 415)["type"] == "urn:mnvault:problem:unsupported-media-type"
        with_charset = {**headers, "content-type": "application/json; charset=utf-8"}
        created = await client.post(PEOPLE, content=body.encode(), headers=with_charset)
        assert created.status_code == 201, created.text

    async def test_a_dependant_needs_an_employee_of_the_tenant(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        ours = await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
        theirs = await make_employee(db, world.other_tenant.id, "A001", "よその 人", kana="ヨソノ ヒト")
        await db.commit()
        headers = await _token(app, db, world)
        before = await _people_count(db, world.tenant.id)
        body = {"kind": "dependant", "employee_id": str(theirs.id), "name": "山田 花子", "relationship": "子"}
        refused = assert_problem(await client.post(PEOPLE, json=body, headers=headers), 422)
        assert refused["errors"][0]["field"] == "employee_id"  # type: ignore[index]
        assert await _people_count(db, world.tenant.id) == before
        body["employee_id"] = str(ours.id)
        added = await client.post(PEOPLE, json=body, headers=headers)
        assert added.status_code == 201, added.text
        assert added.json()["employee_id"] == str(ours.id) and added.json()["kind"] == "dependant"

    async def test_bad_input_writes_nothing_and_says_what_to_fix(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
        await db.commit()
        headers = await _token(app, db, world)
        before = await _people_count(db, world.tenant.id)
        taken = {"kind": "employee", "employee_code": "A001", "name": "別人 二郎", "kana": "ベツジン ジロウ"}
        assert assert_problem(await client.post(PEOPLE, json=taken, headers=headers), 422)["errors"] == [
            {
                "field": "employee_code",
                "pointer": "#/employee_code",
                "detail": "この社員コードは既に使われています。別のコードを入力してください。",
            }
        ]
        wrong_kind = {"kind": "payee", "payee_type": "individual", "name": "講師 一郎", "employee_code": "P1"}
        errors = assert_problem(await client.post(PEOPLE, json=wrong_kind, headers=headers), 422)["errors"]
        assert errors[0]["field"] == "employee_code" and "取引先" in errors[0]["detail"]  # type: ignore[index]
        number_in_name = {"kind": "payee", "payee_type": "individual", "name": valid_my_number(5)}
        assert_problem(await client.post(PEOPLE, json=number_in_name, headers=headers), 422)
        assert await _people_count(db, world.tenant.id) == before


class TestUpdate:
    async def test_only_the_given_fields_change_through_the_edit_rules(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        person = await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
        await db.commit()
        headers = await _token(app, db, world)
        response = await client.patch(f"{PEOPLE}/{person.id}", json={"hire_date": "2020/04/01"}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["hire_date"] == "2020-04-01" and body["name"] == "山田 太郎" and body["birth_date"] == "1985-04-01"
        cleared = await client.patch(f"{PEOPLE}/{person.id}", json={"birth_date": None}, headers=headers)
        assert cleared.json()["birth_date"] is None
        logged = [e for e in await entries(db, world.tenant.id, AuditAction.UPDATE) if e.function == "従業員情報の修正"]
        assert [e.detail["fields"] for e in logged] == [["hire_date"], ["birth_date"]]

    async def test_a_bad_value_is_a_422_and_nothing_changes(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        person = await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
        await db.commit()
        headers = await _token(app, db, world)
        body = {"name": "山田 次郎", "hire_date": "2020-02-30"}
        problem = assert_problem(await client.patch(f"{PEOPLE}/{person.id}", json=body, headers=headers), 422)
        assert [e["field"] for e in problem["errors"]] == ["hire_date"]  # type: ignore[attr-defined]
        relationship = {"relationship": "子"}
        assert_problem(await client.patch(f"{PEOPLE}/{person.id}", json=relationship, headers=headers), 422)
        await db.refresh(person)
        assert person.name == "山田 太郎" and person.hire_date is not None and person.hire_date.year == 2015

    async def test_a_dependant_and_a_payee_are_updated_by_their_own_rules(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        employee = await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
        child = await make_dependant(db, employee, "山田 花子")
        await db.commit()
        headers = await _token(app, db, world)
        changed = await client.patch(f"{PEOPLE}/{child.id}", json={"relationship": "配偶者"}, headers=headers)
        assert changed.status_code == 200 and changed.json()["relationship"] == "配偶者"
        bad = await client.patch(f"{PEOPLE}/{child.id}", json={"relationship": "いとこ"}, headers=headers)
        assert assert_problem(bad, 422)["errors"][0]["detail"] == "続柄を選択してください。"  # type: ignore[index]
        payee = await client.post(
            PEOPLE, json={"kind": "payee", "payee_type": "individual", "name": "講師 一郎"}, headers=headers
        )
        renamed = await client.patch(f"{PEOPLE}/{payee.json()['id']}", json={"name": "講師 二郎"}, headers=headers)
        assert renamed.json()["name"] == "講師 二郎" and renamed.json()["kind"] == "payee"
        kinds = await db.execute(select(Person.kind).where(Person.tenant_id == world.tenant.id))
        assert sorted(kinds.scalars()) == sorted([PersonKind.EMPLOYEE, PersonKind.DEPENDANT, PersonKind.PAYEE])


async def test_reading_people_writes_no_audit_entry_as_the_web_list(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
    await db.commit()
    headers = await _token(app, db, world, "people:read")
    count = select(func.count()).select_from(AuditEntry).where(AuditEntry.tenant_id == world.tenant.id)
    before = (await db.execute(count)).scalar_one()
    assert (await client.get(PEOPLE, headers=headers)).status_code == 200
    assert (await db.execute(count)).scalar_one() == before
