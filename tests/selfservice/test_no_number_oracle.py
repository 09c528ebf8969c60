"""Nobody learns whose number is held, and confirming means the person saw the number.

A number already held for another person gives the same pages and status codes at every step as a fresh one
(employees for themselves and their dependants, payees through a link); the record is kept flagged 重複の疑い for
the admin. Failed entries through a payee link are logged and lock it at ten. A confirmation needs the one-time
token of the page that showed the number.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditResult
from app.config import Settings
from app.vault import Vault
from app.vault.numbers import mask_my_number
from selfservice.payees import MAX_FAILURES
from tenants.models import CollectionStatus, DuplicateStatus, NumberDuplicate, Person
from tenants.services._records import Channel
from tests.selfservice.test_employee_flow import DEPENDANT, dependants, fresh, linked_employee, post, vault
from tests.selfservice.test_payee_links import AsPayee, issue, links_of, wrong_check_digit
from tests.support.audit import entries
from tests.support.cards import card_html, confirmation_token, shown_numbers
from tests.support.people import give_number, make_employee, make_payee, valid_my_number
from tests.support.world import World, second_device, sign_in

__all__ = ["vault"]  # the arranging vault fixture

Step = tuple[int, str, str]  # status, location, page

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalised(response: Any, replacements: dict[str, str]) -> Step:
    """A response with what differs between two people by construction (ids, tokens, the number) masked out."""

    def clean(text: str) -> str:
        for old, new in replacements.items():
            text = text.replace(old, new)
        text = re.sub(r'(name="(?:_csrf_token|confirmation)" value=)"[^"]*"', r'\1"TOKEN"', text)
        text = re.sub(r'nonce="[^"]*"', 'nonce="NONCE"', text)
        text = re.sub(r"\d{4}年\d{2}月\d{2}日 \d{2}:\d{2}", "TIME", text)
        return UUID.sub("ID", text)

    return response.status_code, clean(response.headers.get("location", "")), clean(response.text)


def replacements_for(number: str, *others: tuple[str, str]) -> dict[str, str]:
    return {card_html(number): "CARD", number: "NUMBER", mask_my_number(number): "MASK", **dict(others)}


async def held_number(db: AsyncSession, vault: Vault, world: World) -> str:
    """A number the company already holds for a colleague."""
    number = valid_my_number(701)
    colleague = await make_employee(db, world.tenant.id, "7001", "鈴木 奈々子")
    await give_number(db, vault, colleague, number)
    await db.commit()
    return number


async def cases(db: AsyncSession) -> list[NumberDuplicate]:
    statement = select(NumberDuplicate).execution_options(populate_existing=True)
    return list((await db.execute(statement)).scalars())


# Held vs fresh: the same pages ----------------------------------------------------------------------------------


async def employee_run(
    client: AsyncTestClient[Litestar],
    db: AsyncSession,
    settings: Settings,
    vault: Vault,
    world: World,
    code: str,
    number: str,
    steps: Callable[[AsyncTestClient[Litestar], str], Awaitable[list[Any]]],
) -> tuple[Person, list[Step]]:
    """Sign in as a new employee named 山田 太郎 on a fresh browser and walk ``steps`` with ``number``."""
    me = await linked_employee(db, settings, vault, world, code, "山田 太郎")
    with second_device(client, httpx.Cookies()):
        await sign_in(client, me.persona)
        responses = await steps(client, number)
    codes = (f"d{code}", "DEPT"), (f"e{code}", "LOGIN"), (code, "CODE")
    return me.person, [normalised(r, replacements_for(number, *codes)) for r in responses]


async def own_number_steps(client: AsyncTestClient[Litestar], number: str) -> list[Any]:
    responses: list[Any] = [await client.get("/me/number")]
    responses.append(await post(client, "/me/number", {"number": wrong_check_digit(number)}))
    entered = await post(client, "/me/number", {"number": number})
    page = await client.get(entered.headers["location"])
    confirmed = await post(client, entered.headers["location"], {"confirmation": confirmation_token(page.text)})
    return [*responses, entered, page, confirmed, await client.get("/me")]


async def dependant_steps(client: AsyncTestClient[Litestar], number: str) -> list[Any]:
    responses: list[Any] = [await client.get("/me/dependants/new")]
    responses.append(await post(client, "/me/dependants/new", {**DEPENDANT, "number": wrong_check_digit(number)}))
    entered = await post(client, "/me/dependants/new", {**DEPENDANT, "number": number})
    page = await client.get(entered.headers["location"])
    confirmed = await post(client, entered.headers["location"], {"confirmation": confirmation_token(page.text)})
    return [*responses, entered, page, confirmed, await client.get("/me")]


async def test_an_employees_own_held_number_gives_the_same_pages_as_a_fresh_one(
    client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, vault: Vault, world: World
) -> None:
    held = await held_number(db, vault, world)
    fresh_person, with_fresh = await employee_run(
        client, db, settings, vault, world, "2001", valid_my_number(702), own_number_steps
    )
    held_person, with_held = await employee_run(client, db, settings, vault, world, "2002", held, own_number_steps)

    assert [step[0] for step in with_held] == [200, 400, 302, 200, 302, 200]
    assert "CARD" in with_held[3][2] and "MASK" in with_held[5][2]  # the pages did show the number
    assert with_held == with_fresh
    assert "別の方" not in str(with_held) and "鈴木" not in str(with_held)
    assert (await fresh(db, held_person)).status is CollectionStatus.SELF_CONFIRMED
    assert (await fresh(db, fresh_person)).status is CollectionStatus.SELF_CONFIRMED
    (case,) = await cases(db)
    assert case.person_id == held_person.id and case.status is DuplicateStatus.OPEN
    (flagged,) = [e for e in await entries(db, world.tenant.id) if e.function == "重複の疑い"]
    assert flagged.subject_person_id == held_person.id and held not in str(flagged.detail)


async def test_a_dependants_held_number_gives_the_same_pages_as_a_fresh_one(
    client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, vault: Vault, world: World
) -> None:
    held = await held_number(db, vault, world)
    _, with_fresh = await employee_run(
        client, db, settings, vault, world, "2003", valid_my_number(703), dependant_steps
    )
    held_person, with_held = await employee_run(client, db, settings, vault, world, "2004", held, dependant_steps)

    assert [step[0] for step in with_held] == [200, 400, 302, 200, 302, 200]
    assert with_held == with_fresh
    (spouse,) = await dependants(db, held_person)
    assert spouse.status is CollectionStatus.SELF_CONFIRMED
    (case,) = await cases(db)
    assert case.person_id == spouse.id


async def payee_run(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, number: str
) -> tuple[Person, list[Step]]:
    person = await make_payee(db, world.tenant.id, "山田 太郎")
    await db.commit()
    _, path, _ = await issue(client, person)
    phone = AsPayee(client, path)
    responses = [
        await phone.open(),
        await phone.enter(wrong_check_digit(number)),
        await phone.enter(number),
        await phone.confirm(),
        await phone.open(),
    ]
    token = path.rsplit("/", 1)[1]
    return person, [normalised(r, replacements_for(number, (token, "LINK"))) for r in responses]


async def test_a_payees_held_number_gives_the_same_pages_as_a_fresh_one(
    client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, world: World
) -> None:
    held = await held_number(db, vault, world)
    await sign_in(client, world.admin)
    _, with_fresh = await payee_run(client, db, world, valid_my_number(704))
    held_person, with_held = await payee_run(client, db, world, held)

    assert [step[0] for step in with_held] == [200, 400, 200, 200, 410]
    assert "CARD" in with_held[2][2]
    assert with_held == with_fresh
    assert "すでに登録されています" not in str(with_held)
    (case,) = await cases(db)
    assert case.person_id == held_person.id and case.function == "取引先登録"


# Payee link failures --------------------------------------------------------------------------------------------


async def test_ten_failed_entries_lock_the_link_and_every_one_is_logged(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await make_payee(db, world.tenant.id, "山田 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    _, path, _ = await issue(client, person)
    phone = AsPayee(client, path)
    number = valid_my_number(705)

    statuses = [(await phone.enter(wrong_check_digit(number))).status_code for _ in range(MAX_FAILURES)]
    locked = await phone.open()
    too_late = await phone.enter(number)

    assert statuses == [400] * (MAX_FAILURES - 1) + [423]
    assert locked.status_code == 423 and "このリンクはロックされました" in locked.text
    assert too_late.status_code == 423
    assert (await db.get(Person, (person.tenant_id, person.id), populate_existing=True)).status is (  # type: ignore[union-attr]
        CollectionStatus.NOT_REGISTERED
    )
    failures = [e for e in await entries(db, world.tenant.id, AuditAction.REGISTER) if e.result == AuditResult.FAILURE]
    assert len(failures) == MAX_FAILURES
    assert all(e.subject_person_id == person.id and e.detail["reason"] == "check_digit" for e in failures)
    assert [e.detail["failures"] for e in failures] == list(range(1, MAX_FAILURES + 1))
    (lock,) = [e for e in await entries(db, world.tenant.id) if e.function == "取引先リンクのロック"]
    assert lock.detail["link_id"] == str((await links_of(db, person))[-1].id)
    home = await client.get("/admin")
    assert "ロックされた取引先リンク" in home.text and "山田 太郎" in home.text
    link_page = await client.get(f"/admin/payees/{person.id}/link")
    assert "ロック中" in link_page.text


async def test_a_failed_entry_is_logged_although_the_answer_is_a_400(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await make_payee(db, world.tenant.id, "山田 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    _, path, _ = await issue(client, person)

    refused = await AsPayee(client, path).enter("12345")

    assert refused.status_code == 400
    (failure,) = [e for e in await entries(db, world.tenant.id, AuditAction.REGISTER)]
    assert failure.result == AuditResult.FAILURE and failure.function == "取引先登録"
    assert (await links_of(db, person))[-1].failures == 1


# Confirmation tokens --------------------------------------------------------------------------------------------


async def test_reloading_the_confirmation_page_shows_no_number_and_cannot_confirm(
    client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, vault: Vault, world: World
) -> None:
    me = await linked_employee(db, settings, vault, world, "3001", "山田 太郎")
    await sign_in(client, me.persona)
    number = valid_my_number(706)
    location = (await post(client, "/me/number", {"number": number})).headers["location"]
    shown = await client.get(location)
    token = confirmation_token(shown.text)

    reloaded = await client.get(location, follow_redirects=False)
    with_old_token = await post(client, location, {"confirmation": token})
    without_token = await post(client, location, {})

    assert shown_numbers(shown.text) == [number] and token
    assert reloaded.status_code == 302 and reloaded.headers["location"] == "/me/number"
    assert with_old_token.headers["location"] == "/me/number"
    assert without_token.headers["location"] == "/me/number"
    assert (await fresh(db, me.person)).status is CollectionStatus.REGISTERED
    entry_page = await client.get("/me/number")
    assert "もう一度番号を入力してください" in entry_page.text
    assert await entries(db, world.tenant.id, AuditAction.SELF_CONFIRM) == []


async def test_a_confirmation_token_is_single_use_and_bound_to_the_number_shown(
    client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, vault: Vault, world: World
) -> None:
    me = await linked_employee(db, settings, vault, world, "3002", "山田 太郎")
    await sign_in(client, me.persona)
    location = (await post(client, "/me/number", {"number": valid_my_number(707)})).headers["location"]
    first_token = confirmation_token((await client.get(location)).text)
    await post(client, "/me/number", {"number": valid_my_number(708)})  # entered again: a new number row

    refused = await post(client, location, {"confirmation": first_token})
    shown = await client.get(location)
    confirmed = await post(client, location, {"confirmation": confirmation_token(shown.text)})
    again = await post(client, location, {"confirmation": confirmation_token(shown.text)})

    assert refused.headers["location"] == "/me/number"
    assert confirmed.headers["location"] == "/me"
    assert again.headers["location"] in ("/me", "/me/number")
    assert len(await entries(db, world.tenant.id, AuditAction.SELF_CONFIRM)) == 1


async def test_a_payee_confirms_only_from_the_screen_that_showed_the_number(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await make_payee(db, world.tenant.id, "山田 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    _, path, _ = await issue(client, person)
    phone = AsPayee(client, path)
    number = valid_my_number(709)
    shown = await phone.enter(number)

    returned = await phone.open()
    forged = await phone.confirm(token="")
    wrong = await phone.confirm(token="x" * 32)

    assert shown_numbers(shown.text) == [number]
    assert returned.status_code == 200 and "この番号で確定する" not in returned.text and "確定する" not in returned.text
    assert forged.status_code == 400 and "もう一度番号を入力して" in forged.text
    assert wrong.status_code == 400
    assert (await links_of(db, person))[-1].used_at is None
    done = await phone.confirm()
    assert done.status_code == 200
    assert (await links_of(db, person))[-1].confirm_token_hash is None


async def test_a_held_number_registered_through_self_service_keeps_both_records(
    db: AsyncSession, vault: Vault, world: World
) -> None:
    held = await held_number(db, vault, world)
    spouse = await make_employee(db, world.tenant.id, "7002", "鈴木 一郎")
    await give_number(db, vault, spouse, held, Channel.SELF)
    await db.commit()

    infos = await vault.number_info(db, world.tenant.id, [spouse.id])
    assert infos[spouse.id].masked == mask_my_number(held)
    (case,) = await cases(db)
    assert case.person_id == spouse.id and case.status is DuplicateStatus.OPEN
