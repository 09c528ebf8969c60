"""Numbers through the API: 代理登録 (the admin's rule, duplicate flag, entry) and reading for a notified purpose (one
閲覧 entry per number returned), never cached or compressed, never in a log."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.config import Settings
from app.logs import JsonFormatter, TextFormatter
from app.tenancy import Tenant
from app.vault import Vault
from tenants.models import CollectionStatus, NumberDuplicate, PayeeType
from tests.exchange.test_api_auth import assert_problem
from tests.support.api import bearer, make_token
from tests.support.audit import entries
from tests.support.people import give_number, make_dependant, make_employee, make_payee, valid_my_number
from tests.support.world import World

READ = "/api/v1/numbers:read"
PURPOSE = "源泉徴収票作成事務"


def register_path(person_id: object) -> str:
    return f"/api/v1/people/{person_id}/number"


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    """A vault of the test's own for arranging numbers (the app's engines belong to the app's event loop)."""
    opened = Vault.from_settings(settings)
    yield opened
    await opened.close()


async def _token(app: Litestar, db: AsyncSession, world: World, *scopes: str) -> dict[str, str]:
    return bearer(await make_token(db, app.state["vault"], world.tenant, scopes=scopes or ("numbers:read",)))


class TestRegister:
    async def test_a_number_is_registered_as_proxy_with_its_entry(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        person = await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
        await db.commit()
        number = valid_my_number(11)
        spaced = f"{number[:4]} {number[4:8]}-{number[8:]}"
        response = await client.post(
            register_path(person.id),
            json={"number": spaced},
            headers={**await _token(app, db, world, "numbers:write"), "accept-encoding": "gzip"},
        )
        assert response.status_code == 201, response.text
        assert "content-encoding" not in response.headers and response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["masked"] == "**********" + number[-2:] and body["status"] == "proxy_registered"
        assert body["duplicate_suspected"] is False and number not in response.text
        await db.refresh(person)
        assert person.status is CollectionStatus.PROXY_REGISTERED
        (entry,) = await entries(db, world.tenant.id, AuditAction.PROXY_REGISTER)
        assert entry.actor_name == "給与ソフト" and entry.actor_role == "APIトークン"
        assert entry.subject_person_id == person.id

    async def test_a_number_another_person_holds_is_flagged_by_the_duplicate_rule(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
    ) -> None:
        first = await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
        second = await make_employee(db, world.tenant.id, "A002", "山田 次郎", kana="ヤマダ ジロウ")
        number = valid_my_number(12)
        await give_number(db, vault, first, number)
        await db.commit()
        headers = await _token(app, db, world, "numbers:write")
        response = await client.post(register_path(second.id), json={"number": number}, headers=headers)
        assert response.status_code == 201
        assert response.json()["duplicate_suspected"] is True and response.json()["warnings"]
        cases = await db.execute(select(NumberDuplicate).where(NumberDuplicate.tenant_id == world.tenant.id))
        assert len(cases.scalars().all()) == 1

    async def test_a_wrong_number_is_a_422_in_japanese_and_nothing_is_stored(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        person = await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
        await db.commit()
        number = valid_my_number(13)
        wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
        headers = await _token(app, db, world, "numbers:write")
        refused = await client.post(register_path(person.id), json={"number": wrong}, headers=headers)
        problem = assert_problem(refused, 422)
        assert problem["errors"][0]["field"] == "number"  # type: ignore[index]
        assert wrong not in json.dumps(problem, ensure_ascii=False)
        assert_problem(await client.post(register_path(person.id), json={}, headers=headers), 400)  # number is required
        assert_problem(await client.post(register_path(person.id), json={"number": ""}, headers=headers), 422)
        await db.refresh(person)
        assert person.status is CollectionStatus.NOT_REGISTERED
        assert await entries(db, world.tenant.id, AuditAction.PROXY_REGISTER) == []

    async def test_another_tenants_person_is_a_404_and_gets_no_number(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        theirs = await make_employee(db, world.other_tenant.id, "A001", "よその 人", kana="ヨソノ ヒト")
        await db.commit()
        headers = await _token(app, db, world, "numbers:write")
        response = await client.post(register_path(theirs.id), json={"number": valid_my_number(14)}, headers=headers)
        assert_problem(response, 404)
        await db.refresh(theirs)
        assert theirs.status is CollectionStatus.NOT_REGISTERED


class TestRead:
    async def test_numbers_come_back_with_one_view_entry_per_number_returned(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
    ) -> None:
        taro = await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
        hanako = await make_dependant(db, taro, "山田 花子")
        nobody = await make_employee(db, world.tenant.id, "A002", "未登録 三郎", kana="ミトウロク サブロウ")
        numbers = {taro.id: valid_my_number(21), hanako.id: valid_my_number(22)}
        for person in (taro, hanako):
            await give_number(db, vault, person, numbers[person.id])
        await db.commit()
        ids = [str(hanako.id), str(nobody.id), str(taro.id)]
        response = await client.post(
            READ,
            json={"ids": ids, "purpose": PURPOSE},
            headers={**await _token(app, db, world), "accept-encoding": "gzip"},
        )
        assert response.status_code == 200, response.text
        assert "content-encoding" not in response.headers and response.headers["cache-control"] == "no-store"
        body = response.json()
        assert [(i["person_id"], i["number"]) for i in body["items"]] == [
            (str(hanako.id), numbers[hanako.id]),
            (str(taro.id), numbers[taro.id]),
        ]
        assert body["without_number"] == [str(nobody.id)]
        viewed = await entries(db, world.tenant.id, AuditAction.VIEW)
        assert sorted(str(e.subject_person_id) for e in viewed) == sorted([str(taro.id), str(hanako.id)])
        assert all(e.purpose == PURPOSE and e.actor_name == "給与ソフト" for e in viewed)
        assert viewed[0].subject_name in ("山田 太郎", "山田 太郎 > 山田 花子")

    async def test_the_purpose_is_required_and_must_be_notified_to_the_persons_kind(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
    ) -> None:
        taro = await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
        lecturer = await make_payee(db, world.tenant.id, "講師 一郎", PayeeType.INDIVIDUAL)
        await give_number(db, vault, taro, valid_my_number(31))
        await give_number(db, vault, lecturer, valid_my_number(32))
        await db.commit()
        headers = await _token(app, db, world)
        missing = assert_problem(await client.post(READ, json={"ids": [str(taro.id)]}, headers=headers), 400)
        assert missing["errors"][0]["field"] == "purpose"  # type: ignore[index]
        unknown = await client.post(READ, json={"ids": [str(taro.id)], "purpose": "営業活動"}, headers=headers)
        assert assert_problem(unknown, 422)["errors"][0]["field"] == "purpose"  # type: ignore[index]
        payee_purpose = {"ids": [str(taro.id)], "purpose": "報酬・料金等の支払調書作成事務"}
        assert_problem(await client.post(READ, json=payee_purpose, headers=headers), 422)
        mixed = {"ids": [str(taro.id), str(lecturer.id)], "purpose": PURPOSE}
        assert_problem(await client.post(READ, json=mixed, headers=headers), 422)
        # A purpose the tenant stopped notifying is refused too.
        notified = {"employee": ["雇用保険届出事務"]}
        await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(notified_purposes=notified))
        await db.commit()
        assert_problem(await client.post(READ, json={"ids": [str(taro.id)], "purpose": PURPOSE}, headers=headers), 422)
        assert await entries(db, world.tenant.id, AuditAction.VIEW) == []

    async def test_another_tenants_ids_are_a_404_and_nothing_is_read(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
    ) -> None:
        ours = await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
        theirs = await make_employee(db, world.other_tenant.id, "A001", "よその 人", kana="ヨソノ ヒト")
        their_number = valid_my_number(41)
        await give_number(db, vault, ours, valid_my_number(42))
        await give_number(db, vault, theirs, their_number)
        await db.commit()
        headers = await _token(app, db, world)
        body = {"ids": [str(ours.id), str(theirs.id)], "purpose": PURPOSE}
        response = await client.post(READ, json=body, headers=headers)
        problem = assert_problem(response, 404)
        assert problem["errors"] == [  # the caller's own input, pointed at
            {"field": "ids[1]", "pointer": "#/ids/1", "detail": "この ID の対象者が見つかりません。"}
        ]
        assert their_number not in response.text
        assert await entries(db, world.tenant.id, AuditAction.VIEW) == []
        assert await entries(db, world.other_tenant.id, AuditAction.VIEW) == []

    async def test_a_batch_is_at_most_a_hundred(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        headers = await _token(app, db, world)
        ids = [str(world.admin.account.id)] * 101
        assert_problem(await client.post(READ, json={"ids": ids, "purpose": PURPOSE}, headers=headers), 400)
        assert_problem(await client.post(READ, json={"ids": [], "purpose": PURPOSE}, headers=headers), 400)


async def test_numbers_never_reach_a_log_line(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    person = await make_employee(db, world.tenant.id, "A001", "山田 太郎", kana="ヤマダ タロウ")
    await db.commit()
    headers = await _token(app, db, world, "numbers:read", "numbers:write", "people:read")
    number = valid_my_number(51)
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
        await client.post(register_path(person.id), json={"number": wrong}, headers=headers)
        await client.post(register_path(person.id), json={"number": number}, headers=headers)
        await client.post(READ, json={"ids": [str(person.id)], "purpose": PURPOSE}, headers=headers)
        await client.get(f"/api/v1/people/{number}", headers=headers)
        await client.get("/api/v1/people", params={"name": number, "code": number}, headers=headers)
        await client.post(READ, json={"ids": [number], "purpose": number}, headers=headers)
    # Every record of the service; httpx's are the test client's own (it logs the URLs this test sent).
    served = [record for record in caplog.records if not record.name.startswith("httpx")]
    text = "\n".join(
        JsonFormatter().format(record) + TextFormatter().format(record) + repr(record.__dict__) for record in served
    )
    assert "api call" in text  # the calls were logged
    calls = [TextFormatter().format(record) for record in served if record.getMessage() == "api call"]
    assert calls and all("token_name=" in line and "status=" in line for line in calls)  # text keeps the fields
    for value in (number, wrong):
        assert value not in text
