"""重複の疑い for the admin (both people, the list's flag and filter, resolution) and 管理者番号確認 by typing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditResult
from app.config import Settings
from app.vault import Vault
from app.vault.numbers import mask_my_number
from tenants.models import CollectionStatus, DuplicateStatus, NumberDuplicate, Person, Relationship
from tenants.purposes import PURPOSES
from tenants.services._records import Channel
from tests.support.audit import entries
from tests.support.cards import card_html, hides, shown_numbers
from tests.support.people import give_number, make_dependant, make_employee, valid_my_number
from tests.support.world import World, post_form, sign_in, step_up

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


@dataclass
class Pair:
    wife: Person  # an employee
    as_dependant: Person  # the same woman, entered as her husband's dependant
    bystander: Person
    number: str
    case: NumberDuplicate


async def reload(db: AsyncSession, row: Any) -> Any:
    return await db.get(type(row), (row.tenant_id, row.id), populate_existing=True)


async def arrange(db: AsyncSession, vault: Vault, world: World) -> Pair:
    tenant_id = world.tenant.id
    wife = await make_employee(db, tenant_id, "301", "東野順子")
    husband = await make_employee(db, tenant_id, "302", "東野二郎")
    as_dependant = await make_dependant(db, husband, "東野順子", Relationship.SPOUSE)
    bystander = await make_employee(db, tenant_id, "303", "佐藤一郎")
    number = valid_my_number(801)
    await give_number(db, vault, wife, number, Channel.SELF)
    await give_number(db, vault, bystander, valid_my_number(802), Channel.SELF)
    await give_number(db, vault, as_dependant, number, Channel.SELF)  # the husband typed it on his phone
    await db.commit()
    (case,) = (await db.execute(select(NumberDuplicate))).scalars()
    return Pair(wife, as_dependant, bystander, number, case)


# The admin sees it ------------------------------------------------------------------------------------------


async def test_the_admin_sees_both_people_and_the_list_flags_and_filters_them(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    pair = await arrange(db, vault, world)
    await sign_in(client, world.admin)

    listed = await client.get("/admin/numbers")
    filtered = await client.get("/admin/numbers?status=duplicate")
    page = await client.get("/admin/duplicates")
    home = await client.get("/admin")

    assert listed.text.count(">重複の疑い</a>") == 2
    assert "東野二郎 &gt; 東野順子" in filtered.text and "佐藤一郎" not in filtered.text
    assert page.status_code == 200
    for expected in (
        "東野二郎 &gt; 東野順子",
        "東野順子",
        "301",
        "302",
        "扶養家族",
        "従業員",
        mask_my_number(pair.number),
    ):
        assert expected in page.text
    assert hides(page.text, pair.number)
    assert "重複の疑い" in home.text and "/admin/duplicates" in home.text


async def test_employees_and_other_tenants_do_not_reach_the_cases(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    pair = await arrange(db, vault, world)
    await sign_in(client, world.other_admin)
    assert (await client.get("/admin/duplicates")).status_code == 200
    assert "東野" not in (await client.get("/admin/duplicates")).text
    same = await post_form(client, f"/admin/duplicates/{pair.case.id}/same")
    assert same.status_code == 404  # type: ignore[attr-defined]
    assert (await reload(db, pair.case)).status is DuplicateStatus.OPEN


# Resolution -------------------------------------------------------------------------------------------------


async def test_same_person_keeps_both_records_linked_and_clears_the_flag(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    pair = await arrange(db, vault, world)
    await sign_in(client, world.admin)

    response = await post_form(client, f"/admin/duplicates/{pair.case.id}/same")

    assert response.status_code == 302  # type: ignore[attr-defined]
    case = await reload(db, pair.case)
    assert case.status is DuplicateStatus.SAME_PERSON and case.resolved_by
    infos = await vault.number_info(db, world.tenant.id, [pair.wife.id, pair.as_dependant.id])
    assert {info.masked for info in infos.values()} == {mask_my_number(pair.number)}
    assert ">重複の疑い</a>" not in (await client.get("/admin/numbers")).text
    resolved = [e for e in await entries(db, world.tenant.id) if e.function == "重複の確認"]
    assert {e.subject_person_id for e in resolved} == {pair.wife.id, pair.as_dependant.id}
    assert all(e.detail["resolution"] == "same_person" for e in resolved)
    again = await post_form(client, f"/admin/duplicates/{pair.case.id}/same")
    assert again.status_code == 302  # type: ignore[attr-defined]
    assert "すでに処理されています" in (await client.get("/admin/duplicates")).text


async def test_a_mistake_erases_the_wrong_number_and_the_person_enters_it_again(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    pair = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    path = f"/admin/duplicates/{pair.case.id}/mistake"
    await step_up(client, world.admin, "/admin/duplicates")

    response = await post_form(client, path, {"wrong": str(pair.as_dependant.id)})

    assert response.status_code == 302  # type: ignore[attr-defined]
    case = await reload(db, pair.case)
    assert case.status is DuplicateStatus.MISTAKE and case.erased_person_id == pair.as_dependant.id
    dependant = await reload(db, pair.as_dependant)
    assert dependant.status is CollectionStatus.NOT_REGISTERED
    infos = await vault.number_info(db, world.tenant.id, [pair.wife.id, pair.as_dependant.id])
    assert list(infos) == [pair.wife.id]
    (erased,) = await entries(db, world.tenant.id, AuditAction.DELETE)
    assert erased.subject_person_id == pair.as_dependant.id and erased.detail["reason"] == "重複登録の誤り"


async def test_a_mistake_needs_a_recent_password_and_one_of_the_two(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    pair = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    path = f"/admin/duplicates/{pair.case.id}/mistake"
    await step_up(client, world.admin, "/admin/duplicates")

    outsider = await post_form(client, path, {"wrong": str(pair.bystander.id)})

    assert outsider.status_code == 302  # type: ignore[attr-defined]
    assert (await reload(db, pair.case)).status is DuplicateStatus.OPEN
    assert "番号が誤っている方を選択してください" in (await client.get("/admin/duplicates")).text
    assert await entries(db, world.tenant.id, AuditAction.DELETE) == []


async def test_re_entering_another_number_settles_the_case(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    pair = await arrange(db, vault, world)
    await give_number(db, vault, pair.as_dependant, valid_my_number(803), Channel.SELF)
    await db.commit()
    assert (await reload(db, pair.case)).status is DuplicateStatus.SUPERSEDED


# 管理者番号確認 by typing the number -------------------------------------------------------------------------


async def test_a_wrong_typed_number_does_not_confirm_and_is_logged(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    pair = await arrange(db, vault, world)
    await sign_in(client, world.handler)
    path = f"/admin/numbers/{pair.bystander.id}/confirm"

    page = await client.get(path)
    wrong = await post_form(client, path, {"number": valid_my_number(804)})
    invalid = await post_form(client, path, {"number": "12345"})
    last_two_only = await post_form(client, path, {"number": ""})

    assert "書類に記載された番号" in page.text and 'inputmode="numeric"' in page.text
    assert wrong.status_code == 400  # type: ignore[attr-defined]
    assert "登録されている番号と一致しません" in wrong.text  # type: ignore[attr-defined]
    assert invalid.status_code == 400 and last_two_only.status_code == 400  # type: ignore[attr-defined]
    assert (await reload(db, pair.bystander)).status is CollectionStatus.REGISTERED
    failures = await entries(db, world.tenant.id, AuditAction.ADMIN_CONFIRM)
    assert len(failures) == 3
    assert all(e.result == AuditResult.FAILURE and e.subject_person_id == pair.bystander.id for e in failures)
    assert failures[0].detail == {"method": "typed", "result": "不一致"}
    right = await post_form(client, path, {"number": valid_my_number(802)})
    assert right.status_code == 302  # type: ignore[attr-defined]
    confirmed = (await entries(db, world.tenant.id, AuditAction.ADMIN_CONFIRM))[-1]
    assert confirmed.result == AuditResult.SUCCESS and confirmed.detail["result"] == "一致"


async def test_a_reveal_then_confirm_works_only_with_the_reveal_pages_token(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    pair = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    reveal = f"/admin/numbers/{pair.bystander.id}/reveal"
    await step_up(client, world.admin, reveal)

    forged = await post_form(client, f"/admin/numbers/{pair.bystander.id}/confirm/revealed", {"token": "x" * 32})
    posted: Any = await post_form(client, reveal, {"purpose": PURPOSES[0]})
    shown = await client.get(posted.headers["location"])  # POST → redirect → GET shows the number once
    token = shown.text.split('name="token" value="', 1)[1].split('"', 1)[0]
    confirmed = await post_form(client, f"/admin/numbers/{pair.bystander.id}/confirm/revealed", {"token": token})

    assert forged.status_code == 400  # type: ignore[attr-defined]
    assert shown_numbers(shown.text) == [valid_my_number(802)]
    assert card_html(valid_my_number(802)) in shown.text
    assert confirmed.status_code == 302  # type: ignore[attr-defined]
    assert (await reload(db, pair.bystander)).status is CollectionStatus.ADMIN_CONFIRMED
    assert (await entries(db, world.tenant.id, AuditAction.ADMIN_CONFIRM))[-1].detail == {"method": "reveal"}


def test_the_script_that_hides_a_number_groups_the_mask_like_the_card() -> None:
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "app" / "static" / "reveal.js").read_text()
    assert "cardGroups" in script and 'createElement("span")' in script and "card-number" in script


async def test_a_batch_reuses_the_same_rule_for_imports(db: AsyncSession, vault: Vault, world: World) -> None:
    from app.audit.events import Actor, Subject
    from app.vault import NumberField
    from tenants.services import flag_duplicates

    tenant_id = world.tenant.id
    held = valid_my_number(805)
    holder = await make_employee(db, tenant_id, "401", "既存 太郎")
    await give_number(db, vault, holder, held)
    first = await make_employee(db, tenant_id, "402", "取込 一郎")
    second = await make_employee(db, tenant_id, "403", "取込 二郎")
    third = await make_employee(db, tenant_id, "404", "取込 三郎")
    twice = valid_my_number(806)
    people = [(first, held), (second, twice), (third, twice)]
    actor = Actor.system("import")

    stored = await vault.store_many(
        db,
        tenant_id=tenant_id,
        entries=[(Subject(person_id=p.id, name=p.name), number) for p, number in people],
        field=NumberField.MY_NUMBER,
        actor=actor,
        function="取込",
        allow_duplicates=True,
    )
    opened = await flag_duplicates(
        db, vault, actor=actor, entries=list(zip([p for p, _ in people], stored, strict=True)), function="取込"
    )
    await db.commit()

    assert [s.flagged for s in stored] == [True, True, True]
    assert sorted((c.person_id, c.other_person_id) for c in opened) == sorted(
        [(first.id, holder.id), (second.id, third.id)]
    )


async def test_two_people_storing_the_same_number_at_once_are_both_kept_one_flagged(
    db: AsyncSession, vault: Vault, world: World, settings: Settings
) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.audit.events import Actor, Subject
    from app.db import make_engine
    from app.vault import NumberField

    tenant_id = world.tenant.id
    first = await make_employee(db, tenant_id, "411", "同時 一郎")
    second = await make_employee(db, tenant_id, "412", "同時 二郎")
    await db.commit()
    number = valid_my_number(811)
    engine = make_engine(settings.effective_database_url, pool_size=4)
    maker = async_sessionmaker(engine, expire_on_commit=False)

    async def store(person: Any) -> bool:
        async with maker() as session:
            stored = await vault.store_number(
                session,
                tenant_id=tenant_id,
                subject=Subject(person_id=person.id, name=person.name),
                field=NumberField.MY_NUMBER,
                number=number,
                actor=Actor.system("race"),
                action=AuditAction.REGISTER,
                function="じぶんで登録",
                allow_duplicate=True,
            )
            await session.commit()
            return stored.flagged

    try:
        flags = await asyncio.gather(store(first), store(second))
    finally:
        await engine.dispose()

    assert sorted(flags) == [False, True]
