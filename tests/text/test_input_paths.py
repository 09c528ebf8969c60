"""Every input path applies the same text rules: admin forms, self-service forms, the search, the displays."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import utcnow
from app.vault import Vault
from tenants.models import Person, PersonKind
from tenants.services._records import Channel
from tests.selfservice.test_employee_flow import DEPENDANT, Me, dependants, linked_employee, post
from tests.support.people import give_number, make_employee, make_payee, valid_my_number
from tests.support.world import World, post_form, sign_in
from tests.tenants.test_people import EMPLOYEE, people_named, status_of, text_of


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


@pytest.fixture
async def me(db: AsyncSession, settings: Settings, vault: Vault, world: World) -> Me:
    return await linked_employee(db, settings, vault, world, "1001", "山田 太郎")


async def person_named(db: AsyncSession, world: World, name: str) -> Person:
    [person] = await people_named(db, world.tenant.id, name)
    return person


class TestAdminForms:
    async def test_a_variant_kanji_is_stored_as_typed_not_folded(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await sign_in(client, world.handler)

        response = await post_form(client, "/admin/people/new", {**EMPLOYEE, "name": "大\ufa10　一郎"})

        assert status_of(response) == 302, text_of(response)[:1500]
        person = await person_named(db, world, "大\ufa10 一郎")
        assert person.name == "大\ufa10 一郎"  # not 大塚 U+585A, one ASCII space

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("佐藤\x07一郎", "氏名に制御文字"),
            ("佐藤\u202e一郎", "氏名に文字の向きを変える制御文字"),
            ("佐藤\ue000", "氏名に外字"),
            ("佐藤😀", "氏名に絵文字は使えません"),
        ],
    )
    async def test_unprintable_names_are_refused_with_a_japanese_message(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, name: str, message: str
    ) -> None:
        await sign_in(client, world.handler)

        response = await post_form(client, "/admin/people/new", {**EMPLOYEE, "name": name})

        assert status_of(response) == 400
        assert message in text_of(response)
        count = (await db.execute(select(Person).where(Person.tenant_id == world.tenant.id))).scalars().all()
        assert all(p.employee_code != EMPLOYEE["employee_code"] for p in count)

    async def test_dates_are_typed_as_text_in_western_or_japanese_form(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        await sign_in(client, world.handler)
        form = await client.get("/admin/people/new")
        assert 'name="birth_date" type="text"' in form.text

        response = await post_form(
            client, "/admin/people/new", {**EMPLOYEE, "birth_date": "平成2年4月1日", "hire_date": "R1.5.1"}
        )

        assert status_of(response) == 302, text_of(response)[:1500]
        person = await person_named(db, world, EMPLOYEE["name"])
        assert (person.birth_date, person.hire_date) == (dt.date(1990, 4, 1), dt.date(2019, 5, 1))
        edit = await client.get(f"/admin/people/{person.id}/edit")
        assert 'value="1990/04/01"' in edit.text

    @pytest.mark.parametrize(
        ("birth_date", "message"),
        [("0990-04-01", "生年月日に1900年1月1日より前の日付は指定できません"), ("平成31年5月1日", "平成は")],
    )
    async def test_impossible_birth_dates_are_refused(
        self, client: AsyncTestClient[Litestar], world: World, birth_date: str, message: str
    ) -> None:
        await sign_in(client, world.handler)

        response = await post_form(client, "/admin/people/new", {**EMPLOYEE, "birth_date": birth_date})

        assert status_of(response) == 400 and message in text_of(response)

    async def test_a_payee_kana_in_romaji_is_refused(self, client: AsyncTestClient[Litestar], world: World) -> None:
        await sign_in(client, world.handler)

        response = await post_form(
            client,
            "/admin/payees/new",
            {"payee_type": "individual", "name": "山田 花子", "kana": "Yamada Hanako", "payment_kind": "講演料"},
        )

        assert status_of(response) == 400 and "フリガナはカタカナ" in text_of(response)


class TestSelfService:
    @pytest.mark.parametrize(
        ("kana", "stored"), [("やまだ はなこ", "ヤマダ ハナコ"), ("ﾔﾏﾀﾞ ﾊﾅｺ", "ヤマダ ハナコ"), ("カ゛トウ", "ガトウ")]
    )
    async def test_a_dependants_kana_is_converted_as_on_the_admin_form(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, me: Me, kana: str, stored: str
    ) -> None:
        await sign_in(client, me.persona)

        response = await post(client, "/me/dependants/new", {**DEPENDANT, "kana": kana, "birth_date": "1988/2/3"})

        assert response.status_code == 302, response.text[:1500]
        [spouse] = await dependants(db, me.person)
        assert (spouse.kana, spouse.birth_date) == (stored, dt.date(1988, 2, 3))

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"kana": "Yamada Hanako"}, "フリガナはカタカナ"),
            ({"kana": "山田 花子"}, "フリガナはカタカナ"),
            ({"name": "山田 花子😀"}, "氏名に絵文字は使えません"),
            ({"birth_date": "0990-02-03"}, "1900年1月1日より前"),
        ],
    )
    async def test_what_the_admin_form_refuses_is_refused_here_too(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, me: Me, changes: dict[str, str], message: str
    ) -> None:
        await sign_in(client, me.persona)

        response = await post(client, "/me/dependants/new", {**DEPENDANT, **changes})

        assert response.status_code == 400 and message in response.text
        assert await dependants(db, me.person) == []

    async def test_a_dependant_born_in_a_japanese_era_year_is_accepted(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, me: Me
    ) -> None:
        await sign_in(client, me.persona)
        page = await client.get("/me/dependants/new")
        assert 'name="birth_date" type="text"' in page.text

        response = await post(client, "/me/dependants/new", {**DEPENDANT, "birth_date": "令和元年5月1日"})

        assert response.status_code == 302
        [child] = await dependants(db, me.person)
        assert child.birth_date == dt.date(2019, 5, 1)

    async def test_a_pasted_number_with_zero_width_characters_and_a_bom_is_accepted(
        self, client: AsyncTestClient[Litestar], me: Me
    ) -> None:
        await sign_in(client, me.persona)
        number = valid_my_number(71)
        pasted = "\ufeff" + "\u200b".join([number[:4], number[4:8], number[8:]]) + "\u200e"

        response = await post(client, "/me/number", {"number": pasted})

        assert response.status_code in (302, 303), response.text[:1500]
        assert "数字以外" not in response.text


class TestSearch:
    async def test_a_name_is_found_without_its_space_and_in_either_kana_script(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
    ) -> None:
        person = await make_employee(db, world.tenant.id, "301", "河合 康則", kana="カワイ ヤスノリ")
        await make_employee(db, world.tenant.id, "302", "鈴木 一郎", kana="スズキ イチロウ")
        payee = await make_payee(db, world.tenant.id, "河合　康則")
        await give_number(db, vault, person, valid_my_number(72), Channel.PROXY)
        await db.commit()
        await sign_in(client, world.admin)

        for query in ("河合康則", "かわい", "ｶﾜｲ", "カワイヤスノリ"):
            employees = (await client.get("/admin/people", params={"q": query})).text
            numbers = (await client.get("/admin/numbers", params={"name": query})).text
            assert "河合 康則" in employees and "鈴木 一郎" not in employees, query
            assert "河合 康則" in numbers and "鈴木 一郎" not in numbers, query
        payees = (await client.get("/admin/payees", params={"q": "河合康則"})).text
        assert payee.name in payees

    async def test_the_search_key_follows_an_edit(self, world: World, db: AsyncSession) -> None:
        person = await make_employee(db, world.tenant.id, "303", "山田 太郎", kana="ヤマダ タロウ")
        person.name = "河合 太郎"
        await db.flush()

        assert person.search_key.startswith("河合太郎|")
        assert (await db.execute(select(Person.kind).where(Person.search_key.contains("河合太郎")))).scalar_one() is (
            PersonKind.EMPLOYEE
        )


class TestDisplay:
    async def test_a_registration_date_is_the_same_japanese_day_on_the_list_and_the_detail_page(
        self, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
    ) -> None:
        person = await make_employee(db, world.tenant.id, "304", "佐藤 花子")
        await give_number(db, vault, person, valid_my_number(73), Channel.PROXY)
        await db.commit()
        await sign_in(client, world.admin)
        today_in_japan = (utcnow() + dt.timedelta(hours=9)).strftime("%Y/%m/%d")

        detail = (await client.get(f"/admin/people/{person.id}")).text
        listed = (await client.get("/admin/numbers")).text

        assert today_in_japan in detail and today_in_japan in listed

    def test_no_template_formats_a_date_itself(self) -> None:
        from pathlib import Path

        templates = Path(__file__).resolve().parents[2] / "templates"
        for path in templates.rglob("*.html"):
            text = path.read_text()
            assert "strftime" not in text and "astimezone" not in text, path
