"""利用目的 per tenant and per kind of person, the notice built from them, the correction approval's confirmation
step and the reveal's POST → redirect → GET."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.config import Settings
from app.vault import Vault
from tenants.models import CollectionStatus
from tenants.purposes import CATALOGUE, PURPOSES, Audience, catalogue_for, render_notice
from tests.support.audit import entries
from tests.support.cards import card_html, shown_numbers
from tests.support.world import World, post_form, second_device, sign_in, step_up
from tests.tenants.test_numbers import Office, arrange, file_correction, reload

Client = AsyncTestClient[Litestar]
EMPLOYMENT_INSURANCE = "雇用保険届出事務"
PAYEE_PURPOSE = "報酬・料金等の支払調書作成事務"


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


@pytest.fixture
async def office(db: AsyncSession, vault: Vault, world: World) -> Office:
    return await arrange(db, vault, world)


def offered(html: str) -> list[str]:
    """The purposes a reveal page's select offers."""
    select = re.search(r'<select[^>]*name="purpose".*?</select>', html, re.S)
    assert select, html[:500]
    return [value for value in re.findall(r'<option value="([^"]*)"', select.group(0)) if value]


def settings_form(employee: list[str], payee: list[str], own_words: str = "") -> dict[str, str]:
    # Several ticks of one checkbox name: sent as repeated fields.
    return {"purposes_shown": "1", "purpose_notice": own_words, "employee_purpose": employee, "payee_purpose": payee}  # type: ignore[dict-item]


async def test_the_reveal_page_offers_only_the_purposes_notified_to_that_kind_of_person(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    assert len(PURPOSES) == 9  # the catalogue; employees were notified of 6 of them
    await sign_in(client, world.admin)
    employee = await client.get(f"/admin/numbers/{office.higashino.id}/reveal")
    assert offered(employee.text) == list(PURPOSES[:6])
    dependant = await client.get(f"/admin/numbers/{office.junko.id}/reveal")
    assert offered(dependant.text) == list(PURPOSES[:6])  # notified together with the employee
    payee = await client.get(f"/admin/numbers/{office.payee.id}/reveal")
    assert offered(payee.text) == [PAYEE_PURPOSE]
    for person, wrong in ((office.higashino, PAYEE_PURPOSE), (office.payee, PURPOSES[0])):
        refused = await post_form(client, f"/admin/numbers/{person.id}/reveal", {"purpose": wrong})
        assert refused.status_code == 400  # type: ignore[attr-defined]
        assert "本人に通知した利用目的だけを選べます" in refused.text  # type: ignore[attr-defined]
    unnotified = await post_form(client, f"/admin/numbers/{office.higashino.id}/reveal", {"purpose": PURPOSES[8]})
    assert unnotified.status_code == 400  # type: ignore[attr-defined]  # 財形: in the catalogue, never notified
    assert await entries(db, world.tenant.id, AuditAction.REVEAL) == []


async def test_the_settings_page_edits_the_purposes_and_shows_the_notice_employees_read(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    page = await client.get("/admin/settings")
    assert page.status_code == 200
    for name in catalogue_for(Audience.EMPLOYEE):
        assert f'value="{name}"' in page.text
    employee_purposes = [p for p in PURPOSES[:6] if p != EMPLOYMENT_INSURANCE]
    own_words = "ご不明な点は総務部（内線 205）までお問い合わせください。"
    saved = await post_form(client, "/admin/settings/", settings_form(employee_purposes, [PAYEE_PURPOSE], own_words))
    assert saved.status_code in (302, 303), saved.text[:500]  # type: ignore[attr-defined]
    await db.refresh(world.tenant)
    assert world.tenant.notified_purposes == {"employee": employee_purposes, "payee": [PAYEE_PURPOSE]}
    # Reveal: 雇用保険 is no longer offered nor accepted for an employee.
    reveal = await client.get(f"/admin/numbers/{office.higashino.id}/reveal")
    assert offered(reveal.text) == employee_purposes
    refused = await post_form(client, f"/admin/numbers/{office.higashino.id}/reveal", {"purpose": EMPLOYMENT_INSURANCE})
    assert refused.status_code == 400  # type: ignore[attr-defined]
    # The settings page shows exactly the notice the employee reads (one rendering function, one partial).
    settings_page = await client.get("/admin/settings")
    preview = _notice_html(settings_page.text, "employee-notice")
    expected = render_notice(world.tenant, Audience.EMPLOYEE)
    assert EMPLOYMENT_INSURANCE not in expected and own_words in expected and world.tenant.name in expected
    assert _text(preview) == _text_of_notice(expected)
    me = await _employee_notice(client, db, world)
    assert _text(me) == _text(preview)


async def test_settings_refuse_no_purpose_or_one_outside_the_catalogue(client: Client, world: World) -> None:
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    none = await post_form(client, "/admin/settings/", settings_form([], [PAYEE_PURPOSE]))
    assert none.status_code == 400  # type: ignore[attr-defined]
    assert "従業員・扶養家族に通知する利用目的を1つ以上選択してください" in none.text  # type: ignore[attr-defined]
    foreign = await post_form(client, "/admin/settings/", settings_form([PURPOSES[0]], [PURPOSES[0]]))
    assert foreign.status_code == 400  # type: ignore[attr-defined]
    assert "取引先の利用目的は一覧から選択してください" in foreign.text  # type: ignore[attr-defined]
    assert all(p.audiences for p in CATALOGUE)


def _notice_html(html: str, notice_id: str) -> str:
    found = re.search(rf'<section class="panel notice-text" id="{notice_id}">(.*?)</section>', html, re.S)
    assert found, html[:1000]
    return found.group(1)


def _text(html: str) -> str:
    section = re.search(r'<section class="panel notice-text"[^>]*>(.*?)</section>', html, re.S)
    inner = section.group(1) if section else html
    return re.sub(r"\s+", "", re.sub(r"<[^>]+>", "", inner))


def _text_of_notice(notice: str) -> str:
    return re.sub(r"\s+", "", notice)


async def _employee_notice(client: Client, db: AsyncSession, world: World) -> str:
    """The notice page as an employee linked to a record reads it."""
    from tests.support.people import make_employee

    person = await make_employee(db, world.tenant.id, "9001", "通知 読子")
    world.employee.account.person_id = person.id
    db.add(world.employee.account)
    await db.commit()
    with second_device(client, __import__("httpx").Cookies()):
        await sign_in(client, world.employee)
        response = await client.get("/me/notice")
    assert response.status_code == 200
    return response.text


# Approving a correction asks first ------------------------------------------------------------------------------


async def test_approving_a_correction_asks_for_confirmation_before_erasing(
    client: Client, world: World, db: AsyncSession, vault: Vault, office: Office
) -> None:
    request = await file_correction(db, world, office.kawai)
    await sign_in(client, world.admin)
    listing = await client.get("/admin/corrections")
    assert f'href="/admin/corrections/{request.id}/approve"' in listing.text
    # A bare POST (an old form, a forged click) only leads to the confirmation page: nothing is erased.
    bare = await post_form(client, f"/admin/corrections/{request.id}/approve")
    assert bare.status_code in (302, 303)  # type: ignore[attr-defined]
    assert bare.headers["location"] == f"/admin/corrections/{request.id}/approve"  # type: ignore[attr-defined]
    assert (await reload(db, office.kawai)).status is CollectionStatus.ADMIN_CONFIRMED
    page = await client.get(f"/admin/corrections/{request.id}/approve")
    assert page.status_code == 200
    assert "削除した番号は元に戻せません" in page.text and "河合康則" in page.text
    assert 'name="confirmed" value="yes"' in page.text
    assert await entries(db, world.tenant.id, AuditAction.DELETE) == []
    done = await post_form(client, f"/admin/corrections/{request.id}/approve", {"confirmed": "yes"})
    assert done.status_code in (302, 303)  # type: ignore[attr-defined]
    assert (await reload(db, office.kawai)).status is CollectionStatus.NOT_REGISTERED
    again = await client.get(f"/admin/corrections/{request.id}/approve", follow_redirects=False)
    assert again.status_code in (302, 303)  # already decided: back to the list with a message


# Reloading a reveal -------------------------------------------------------------------------------------------------


async def test_reloading_a_revealed_number_does_not_post_again_and_shows_it_only_once(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    await sign_in(client, world.admin)
    path = f"/admin/numbers/{office.higashino.id}/reveal"
    posted = await post_form(client, path, {"purpose": PURPOSES[0]})
    assert posted.status_code in (302, 303)  # type: ignore[attr-defined]
    location = posted.headers["location"]  # type: ignore[attr-defined]
    number = office.numbers["higashino"]
    assert location == f"/admin/numbers/{office.higashino.id}/revealed" and number not in location
    assert number not in str(dict(client.cookies))
    shown = await client.get(location)
    assert shown.status_code == 200 and shown_numbers(shown.text) == [number]
    reloaded = await client.get(location, follow_redirects=False)
    assert reloaded.status_code in (302, 303) and reloaded.headers["location"] == path
    asked = await client.get(location)
    assert shown_numbers(asked.text) == [] and card_html(number) not in asked.text
    assert "もう一度表示するには利用目的を選んでください" in asked.text
    assert len(await entries(db, world.tenant.id, AuditAction.REVEAL)) == 1
    # A ticket for one person does not open another.
    await post_form(client, path, {"purpose": PURPOSES[0]})
    other = await client.get(f"/admin/numbers/{office.kawai.id}/revealed")
    assert shown_numbers(other.text) == [] and card_html(office.numbers["kawai"]) not in other.text
    assert len(await entries(db, world.tenant.id, AuditAction.REVEAL)) == 1
