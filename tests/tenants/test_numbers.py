"""Admin number management: the masked list, proxy registration, admin confirmation, reveal, correction requests."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth import sessions as sessions_module
from app.config import Settings
from app.vault import Vault
from app.vault.numbers import mask_my_number
from tenants.models import (
    CollectionStatus,
    CorrectionRequest,
    DuplicateStatus,
    NumberDuplicate,
    Person,
    Relationship,
    RequestStatus,
)
from tenants.purposes import PURPOSES
from tenants.services import _records
from tests.support.audit import entries
from tests.support.cards import card_html, hides, shown_numbers
from tests.support.people import (
    ACTOR,
    give_number,
    make_department,
    make_dependant,
    make_employee,
    make_payee,
    valid_my_number,
)
from tests.support.world import World, post_form, sign_in, step_up

Client = AsyncTestClient[Litestar]


@dataclass
class Office:
    """Seed 003's people: 河合 (confirmed), 東野 with two children, 井原 (no number), 佐藤 (declined), a payee."""

    kawai: Person
    higashino: Person
    junko: Person
    manami: Person
    ihara: Person
    sato: Person
    payee: Person
    numbers: dict[str, str]


async def arrange(db: AsyncSession, vault: Vault, world: World) -> Office:
    tenant_id = world.tenant.id
    president = await make_department(db, tenant_id, "101", "社長室")
    personnel = await make_department(db, tenant_id, "105", "人事部")
    kawai = await make_employee(db, tenant_id, "001", "河合康則", department=president, kana="カワイヤスノリ")
    higashino = await make_employee(db, tenant_id, "104", "東野二郎", department=personnel)
    junko = await make_dependant(db, higashino, "東野順子", Relationship.SPOUSE)
    manami = await make_dependant(db, higashino, "東野真奈美", Relationship.CHILD)
    ihara = await make_employee(db, tenant_id, "1000", "井原はじめ", department=personnel)
    sato = await make_employee(db, tenant_id, "201", "佐藤一郎", department=president)
    payee = await make_payee(db, tenant_id, "講師 山田花子")
    numbered = {"kawai": kawai, "higashino": higashino, "junko": junko, "manami": manami, "payee": payee}
    numbers = {name: valid_my_number(seed) for seed, name in enumerate(numbered)}
    for name, person in numbered.items():
        await give_number(db, vault, person, numbers[name])
    await _records.confirm_by_self(db, actor=ACTOR, person=kawai, function="じぶんで登録")
    await _records.confirm_by_admin(db, actor=ACTOR, person=kawai)
    await _records.decline(
        db, actor=ACTOR, person=sato, reason="家族の事情で提出を見合わせます", function="じぶんで登録"
    )
    await db.commit()
    return Office(kawai, higashino, junko, manami, ihara, sato, payee, numbers)


async def other_person(db: AsyncSession, vault: Vault, world: World) -> Person:
    """Someone of the other company, with a number."""
    person = await make_employee(db, world.other_tenant.id, "001", "よその人")
    await give_number(db, vault, person, valid_my_number(99))
    await db.commit()
    return person


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    """A vault for arranging and checking, with its own key-store connections (the app's live on another loop)."""
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


def body_rows(html: str) -> list[str]:
    tbody = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [row for row in tbody.split("<tr")[1:]]


async def reload(db: AsyncSession, person: Person) -> Person:
    statement = (
        select(Person)
        .where(Person.tenant_id == person.tenant_id, Person.id == person.id)
        .execution_options(populate_existing=True)
    )
    return (await db.execute(statement)).scalar_one()


# The masked list ------------------------------------------------------------------------------------------------


async def test_the_list_shows_masks_and_never_a_full_number(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    response = await client.get("/admin/numbers")
    assert response.status_code == 200
    for number in office.numbers.values():
        assert hides(response.text, number)
        assert mask_my_number(number) in response.text
    assert "東野二郎 &gt; 東野順子" in response.text
    assert "続柄：子" in response.text and "続柄：配偶者" in response.text
    for header in (
        "本人<br>番号確認",
        "管理者<br>番号確認",
        "部門コード",
        "社員コード",
        "対象者",
        "発行日",
        "扶養者情報",
    ):
        assert header in response.text


async def test_dependants_are_listed_right_under_their_employee_and_payees_last(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    rows = body_rows((await client.get("/admin/numbers")).text)
    names = [re.search(r'class="subject">([^<\n]+)', row).group(1).strip() for row in rows]  # type: ignore[union-attr]
    assert names == [
        "河合康則",
        "佐藤一郎",
        "井原はじめ",
        "東野二郎",
        "東野二郎 &gt; 東野順子",
        "東野二郎 &gt; 東野真奈美",
        "講師 山田花子",
    ]


async def test_sorting_by_employee_code_descending_keeps_families_together(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    html = (await client.get("/admin/numbers?sort=code&order=desc")).text
    names = [re.search(r'class="subject">([^<\n]+)', row).group(1).strip() for row in body_rows(html)]  # type: ignore[union-attr]
    assert names == [
        "佐藤一郎",  # codes compare as text: 201 > 104 > 1000 > 001
        "東野二郎",
        "東野二郎 &gt; 東野順子",
        "東野二郎 &gt; 東野真奈美",
        "井原はじめ",
        "河合康則",
        "講師 山田花子",
    ]


async def test_the_list_counts_people_per_status(client: Client, world: World, db: AsyncSession, vault: Vault) -> None:
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    html = (await client.get("/admin/numbers")).text
    counts = dict(re.findall(r'<span class="label">([^<]+)</span> <span class="count">(\d+)</span>', html))
    assert counts["未登録"] == "1"
    assert counts["未確認"] == "4"  # 東野, his two dependants, the payee
    assert counts["代理登録済"] == "4"
    assert counts["管理者確認済"] == "1"
    assert counts["提供拒否"] == "1"
    assert counts["削除済"] == "0"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=unconfirmed", {"東野二郎", "東野二郎 &gt; 東野順子", "東野二郎 &gt; 東野真奈美", "講師 山田花子"}),
        ("status=not_registered", {"井原はじめ"}),
        ("status=admin_confirmed", {"河合康則"}),
        ("status=declined", {"佐藤一郎"}),
        ("kind=payee", {"講師 山田花子"}),
        ("kind=dependant", {"東野二郎 &gt; 東野順子", "東野二郎 &gt; 東野真奈美"}),
        ("name=真奈美", {"東野二郎 &gt; 東野真奈美"}),  # 3+ characters: anywhere in the name
        ("name=真奈", set()),  # 1-2 characters: the start of the name or フリガナ only
        ("name=東野", {"東野二郎", "東野二郎 &gt; 東野順子", "東野二郎 &gt; 東野真奈美"}),
        ("name=カワイ", {"河合康則"}),
        ("code=104", {"東野二郎", "東野二郎 &gt; 東野順子", "東野二郎 &gt; 東野真奈美"}),
        ("code=10", set()),  # exact, not partial
        ("name=%25", set()),  # a LIKE wildcard is taken literally
    ],
)
async def test_filters_narrow_the_list(
    client: Client, world: World, db: AsyncSession, vault: Vault, query: str, expected: set[str]
) -> None:
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    html = (await client.get(f"/admin/numbers?{query}")).text
    found = {m.strip() for m in re.findall(r'class="subject">([^<\n]+)', html)}
    assert found == expected


async def test_the_department_filter_uses_the_employees_department(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    html = (await client.get(f"/admin/numbers?department={office.higashino.department_id}")).text
    found = {m.strip() for m in re.findall(r'class="subject">([^<\n]+)', html)}
    assert found == {"東野二郎", "東野二郎 &gt; 東野順子", "東野二郎 &gt; 東野真奈美", "井原はじめ"}


async def test_the_list_pages_by_the_chosen_size(client: Client, world: World, db: AsyncSession, vault: Vault) -> None:
    for index in range(25):
        await make_employee(db, world.tenant.id, f"E{index:03d}", f"社員{index:03d}")
    await db.commit()
    await sign_in(client, world.admin)
    first = await client.get("/admin/numbers?sort=code")
    assert len(body_rows(first.text)) == 20
    assert "25 件中 1〜20 件を表示" in first.text
    assert "page=2" in first.text
    second = await client.get("/admin/numbers?sort=code&page=2")
    assert len(body_rows(second.text)) == 5 and "社員024" in second.text and "社員000" not in second.text
    assert len(body_rows((await client.get("/admin/numbers?per_page=50")).text)) == 25
    assert len(body_rows((await client.get("/admin/numbers?per_page=7")).text)) == 20  # only 20, 50 or 100
    beyond = await client.get("/admin/numbers?sort=code&page=99")
    assert beyond.status_code == 200 and "社員024" in beyond.text


async def test_declined_rows_show_the_reason_and_changed_identities_a_warning(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    _records.note_identity_change(office.kawai, name="河合康明", kana=office.kawai.kana, birth_date=None)
    office.kawai.name = "河合康明"
    await db.commit()
    await sign_in(client, world.admin)
    html = (await client.get("/admin/numbers")).text
    assert "提供拒否" in html and "家族の事情で提出を見合わせます" in html
    kawai_row = next(row for row in body_rows(html) if "河合康明" in row)
    assert "本人情報変更あり" in kawai_row
    assert f"/admin/numbers/{office.kawai.id}/confirm" in kawai_row  # to be confirmed again


async def test_a_viewer_sees_masks_but_no_operations(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    await sign_in(client, world.viewer)
    response = await client.get("/admin/numbers")
    assert response.status_code == 200
    assert mask_my_number(office.numbers["kawai"]) in response.text
    assert "/reveal" not in response.text and "/register" not in response.text


async def test_the_list_never_shows_another_companys_people(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    await arrange(db, vault, world)
    await other_person(db, vault, world)
    await sign_in(client, world.other_admin)
    html = (await client.get("/admin/numbers")).text
    assert "よその人" in html and "河合康則" not in html and "東野" not in html


async def test_viewing_the_masked_list_is_not_logged(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    await arrange(db, vault, world)
    before = len(await entries(db, world.tenant.id))
    await sign_in(client, world.admin)
    await client.get("/admin/numbers")
    logged = await entries(db, world.tenant.id)
    assert [e.action for e in logged[before:]] == [AuditAction.LOGIN]


# Proxy registration ---------------------------------------------------------------------------------------------


async def test_a_handler_registers_a_number_for_someone(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    number = valid_my_number(42)
    await sign_in(client, world.handler)
    page = await client.get(f"/admin/numbers/{office.ihara.id}/register")
    assert page.status_code == 200
    assert 'inputmode="numeric"' in page.text and 'autocomplete="off"' in page.text
    response = await post_form(client, f"/admin/numbers/{office.ihara.id}/register", {"number": number})
    assert response.status_code == 302 and response.headers["location"] == "/admin/numbers"  # type: ignore[attr-defined]
    listing = await client.get("/admin/numbers")
    assert f"井原はじめ さんの番号（{mask_my_number(number)}）を代理登録しました" in listing.text
    assert hides(listing.text, number)
    ihara = await reload(db, office.ihara)
    assert ihara.status is CollectionStatus.PROXY_REGISTERED and ihara.registered_at is not None
    logged = await entries(db, world.tenant.id, AuditAction.PROXY_REGISTER)
    assert logged[-1].subject_person_id == office.ihara.id and logged[-1].actor_login_id == "handler"
    assert number not in str(logged[-1].detail)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "個人番号を入力してください。"),
        ("1234abcd5678", "数字だけで入力してください"),
        ("12345678901", "12桁で入力してください（入力されたのは11桁です）"),
        ("wrong-check-digit", "チェックデジットが一致しません"),
    ],
)
async def test_a_wrong_number_is_refused_with_a_japanese_message_and_not_rendered_back(
    client: Client, world: World, db: AsyncSession, vault: Vault, typed: str, message: str
) -> None:
    office = await arrange(db, vault, world)
    if typed == "wrong-check-digit":
        good = valid_my_number(7)
        typed = good[:11] + str((int(good[11]) + 1) % 10)
    await sign_in(client, world.admin)
    response = await post_form(client, f"/admin/numbers/{office.ihara.id}/register", {"number": typed})
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert message in response.text  # type: ignore[attr-defined]
    assert re.search(r'name="number" type="text" value=""', response.text)  # type: ignore[attr-defined]
    if typed:
        assert typed not in response.text  # type: ignore[attr-defined]
    assert (await reload(db, office.ihara)).status is CollectionStatus.NOT_REGISTERED
    registered = await entries(db, world.tenant.id, AuditAction.PROXY_REGISTER)
    assert all(e.subject_person_id != office.ihara.id for e in registered)


async def test_a_proxy_registered_duplicate_is_kept_flagged_and_the_admin_is_told_whose(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    response = await post_form(
        client, f"/admin/numbers/{office.ihara.id}/register", {"number": office.numbers["junko"]}
    )
    assert response.status_code == 302  # type: ignore[attr-defined]
    home = await client.get("/admin/numbers")
    assert "東野二郎 &gt; 東野順子 さんの番号としても登録されています（重複の疑い）" in home.text
    assert (await reload(db, office.ihara)).status is CollectionStatus.PROXY_REGISTERED
    (case,) = (await db.execute(select(NumberDuplicate))).scalars()
    assert (case.person_id, case.other_person_id) == (office.ihara.id, office.junko.id)
    assert case.status is DuplicateStatus.OPEN


async def test_registering_again_replaces_the_number_and_logs_both(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    new_number = valid_my_number(1234)
    await sign_in(client, world.admin)
    response = await post_form(client, f"/admin/numbers/{office.kawai.id}/register", {"number": new_number})
    assert response.status_code == 302  # type: ignore[attr-defined]
    kawai = await reload(db, office.kawai)
    assert kawai.status is CollectionStatus.PROXY_REGISTERED and kawai.admin_confirmed_at is None
    infos = await vault.number_info(db, world.tenant.id, [kawai.id])
    assert infos[kawai.id].masked == mask_my_number(new_number)
    deleted = [e for e in await entries(db, world.tenant.id, AuditAction.DELETE) if e.subject_person_id == kawai.id]
    registered = await entries(db, world.tenant.id, AuditAction.PROXY_REGISTER)
    assert len(deleted) == 1 and registered[-1].subject_person_id == kawai.id


async def test_a_number_of_one_repeated_digit_is_kept_with_a_warning(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    response = await post_form(client, f"/admin/numbers/{office.ihara.id}/register", {"number": "0000 0000 0000"})
    assert response.status_code == 302  # type: ignore[attr-defined]
    listing = await client.get("/admin/numbers")
    assert "同じ数字の繰り返しの番号です" in listing.text


# Admin confirmation -----------------------------------------------------------------------------------------------


async def test_an_admin_confirms_a_number_after_checking_a_document(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    await sign_in(client, world.handler)
    page = await client.get(f"/admin/numbers/{office.higashino.id}/confirm")
    assert page.status_code == 200
    assert "通知カード" in page.text and "個人番号カード" in page.text and "住民票" in page.text
    assert mask_my_number(office.numbers["higashino"]) in page.text
    assert hides(page.text, office.numbers["higashino"])
    typed = "-".join(office.numbers["higashino"][i : i + 4] for i in range(0, 12, 4))  # as printed on the card
    response = await post_form(client, f"/admin/numbers/{office.higashino.id}/confirm", {"number": typed})
    assert response.status_code == 302  # type: ignore[attr-defined]
    higashino = await reload(db, office.higashino)
    assert higashino.status is CollectionStatus.ADMIN_CONFIRMED and higashino.admin_confirmed_by == "handler さん"
    logged = await entries(db, world.tenant.id, AuditAction.ADMIN_CONFIRM)
    assert logged[-1].subject_person_id == office.higashino.id and logged[-1].function == "管理者番号確認"
    assert logged[-1].detail == {"method": "typed", "result": "一致"}


async def test_confirming_needs_a_registered_number(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    response = await post_form(client, f"/admin/numbers/{office.ihara.id}/confirm")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "確認する番号が登録されていません" in response.text  # type: ignore[attr-defined]
    assert (await reload(db, office.ihara)).status is CollectionStatus.NOT_REGISTERED


async def test_the_confirmation_page_warns_when_the_identity_changed(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    _records.note_identity_change(
        office.kawai, name=office.kawai.name, kana=office.kawai.kana, birth_date=dt.date(1990, 1, 1)
    )
    await db.commit()
    await sign_in(client, world.admin)
    page = await client.get(f"/admin/numbers/{office.kawai.id}/confirm")
    assert "本人情報が変更されています" in page.text


# Reveal -----------------------------------------------------------------------------------------------------------


async def test_revealing_needs_a_recent_password_and_writes_one_entry_with_the_purpose(
    client: Client, world: World, db: AsyncSession, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    office = await arrange(db, vault, world)
    path = f"/admin/numbers/{office.higashino.id}/reveal"
    await sign_in(client, world.admin)
    real_now = sessions_module.now_ts
    later = lambda: real_now() + 6 * 60  # noqa: E731
    monkeypatch.setattr(sessions_module, "now_ts", later)
    stale_get = await client.get(path, follow_redirects=False)
    assert stale_get.status_code in (302, 303) and stale_get.headers["location"].startswith("/reauth?next=")
    stale_post = await post_form(client, path, {"purpose": PURPOSES[0]})
    assert stale_post.status_code in (302, 303)  # type: ignore[attr-defined]
    assert hides(stale_post.text, office.numbers["higashino"])  # type: ignore[attr-defined]
    assert await entries(db, world.tenant.id, AuditAction.REVEAL) == []

    await step_up(client, world.admin, path)
    form = await client.get(path, follow_redirects=False)
    assert form.status_code == 200 and PURPOSES[0] in form.text
    assert hides(form.text, office.numbers["higashino"])
    posted = await post_form(client, path, {"purpose": PURPOSES[0]})
    assert posted.status_code in (302, 303)  # type: ignore[attr-defined]  # POST → redirect → GET
    assert office.numbers["higashino"] not in posted.headers["location"]  # type: ignore[attr-defined]
    response = await client.get(posted.headers["location"])  # type: ignore[attr-defined]
    assert response.status_code == 200
    html = response.text
    assert shown_numbers(html) == [office.numbers["higashino"]]
    assert 'data-reveal-seconds="30"' in html and "/static/reveal.js" in html
    assert f'data-mask="{mask_my_number(office.numbers["higashino"])}"' in html
    assert response.headers["cache-control"] == "no-store"  # type: ignore[attr-defined]
    revealed = await entries(db, world.tenant.id, AuditAction.REVEAL)
    assert len(revealed) == 1
    assert revealed[0].subject_person_id == office.higashino.id and revealed[0].purpose == PURPOSES[0]
    assert office.numbers["higashino"] not in str(revealed[0].detail)


async def test_a_revealed_number_is_never_compressed(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    form = await client.get(f"/admin/numbers/{office.higashino.id}/reveal", headers={"accept-encoding": "gzip"})
    assert form.headers.get("content-encoding") == "gzip"  # other pages are compressed
    response = await client.post(
        f"/admin/numbers/{office.higashino.id}/reveal",
        data={"purpose": PURPOSES[1], "_csrf_token": client.cookies.get("mnv_csrf") or ""},
        headers={"accept-encoding": "gzip"},
    )
    assert len(response.history) == 1  # followed the redirect to the one-time result page
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert card_html(office.numbers["higashino"]) in response.text


@pytest.mark.parametrize("purpose", ["", "営業リストの作成"])
async def test_a_missing_or_unknown_purpose_reveals_nothing_and_logs_nothing(
    client: Client, world: World, db: AsyncSession, vault: Vault, purpose: str
) -> None:
    office = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    response = await post_form(client, f"/admin/numbers/{office.higashino.id}/reveal", {"purpose": purpose})
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "利用目的を一覧から選択してください" in response.text  # type: ignore[attr-defined]
    assert hides(response.text, office.numbers["higashino"])  # type: ignore[attr-defined]
    assert await entries(db, world.tenant.id, AuditAction.REVEAL) == []


async def test_revealing_a_person_without_a_number_says_so(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    response = await post_form(client, f"/admin/numbers/{office.ihara.id}/reveal", {"purpose": PURPOSES[0]})
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "番号は登録されていません" in response.text  # type: ignore[attr-defined]
    assert await entries(db, world.tenant.id, AuditAction.REVEAL) == []


# Correction requests ------------------------------------------------------------------------------------------------


async def file_correction(db: AsyncSession, world: World, person: Person) -> CorrectionRequest:
    request = await _records.request_correction(
        db, actor=ACTOR, person=person, account_id=world.employee.account.id, reason="reissued", note="再発行されました"
    )
    await db.commit()
    return request


async def test_approving_a_correction_erases_the_old_number(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    request = await file_correction(db, world, office.kawai)
    await sign_in(client, world.admin)
    page = await client.get("/admin/corrections")
    assert page.status_code == 200
    assert "河合康則" in page.text and "番号が変わった（再発行）" in page.text and "再発行されました" in page.text
    assert mask_my_number(office.numbers["kawai"]) in page.text and hides(page.text, office.numbers["kawai"])
    response = await post_form(client, f"/admin/corrections/{request.id}/approve", {"confirmed": "yes"})
    assert response.status_code == 302  # type: ignore[attr-defined]
    kawai = await reload(db, office.kawai)
    assert kawai.status is CollectionStatus.NOT_REGISTERED and kawai.admin_confirmed_at is None
    assert await vault.number_info(db, world.tenant.id, [kawai.id]) == {}
    decided = (
        await db.execute(
            select(CorrectionRequest)
            .where(CorrectionRequest.tenant_id == world.tenant.id, CorrectionRequest.id == request.id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    assert decided.status is RequestStatus.APPROVED and decided.decided_by == "岡 昌平"
    assert [e.subject_person_id for e in await entries(db, world.tenant.id, AuditAction.DELETE)] == [kawai.id]
    assert [e.subject_person_id for e in await entries(db, world.tenant.id, AuditAction.CORRECTION_APPROVE)] == [
        kawai.id
    ]
    again = await post_form(client, f"/admin/corrections/{request.id}/approve", {"confirmed": "yes"})
    assert again.status_code == 302  # type: ignore[attr-defined]
    assert "すでに処理されています" in (await client.get("/admin/corrections")).text


async def test_rejecting_a_correction_keeps_the_number(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    request = await file_correction(db, world, office.kawai)
    await sign_in(client, world.handler)
    response = await post_form(client, f"/admin/corrections/{request.id}/reject")
    assert response.status_code == 302  # type: ignore[attr-defined]
    kawai = await reload(db, office.kawai)
    assert kawai.status is CollectionStatus.ADMIN_CONFIRMED
    assert kawai.id in await vault.number_info(db, world.tenant.id, [kawai.id])
    assert await entries(db, world.tenant.id, AuditAction.DELETE) == []
    assert "承認待ちの依頼はありません" in (await client.get("/admin/corrections")).text


# Isolation and roles --------------------------------------------------------------------------------------------------

PERSON_ROUTES = [
    ("GET", "/admin/numbers/{id}/register"),
    ("POST", "/admin/numbers/{id}/register"),
    ("GET", "/admin/numbers/{id}/confirm"),
    ("POST", "/admin/numbers/{id}/confirm"),
    ("GET", "/admin/numbers/{id}/reveal"),
    ("POST", "/admin/numbers/{id}/reveal"),
]
CORRECTION_ROUTES = [("POST", "/admin/corrections/{id}/approve"), ("POST", "/admin/corrections/{id}/reject")]


async def _call(client: Client, method: str, path: str, data: dict[str, str]) -> int:
    if method == "GET":
        return (await client.get(path, follow_redirects=False)).status_code
    return (await post_form(client, path, data)).status_code  # type: ignore[attr-defined]


async def test_another_companys_person_or_request_is_not_found_on_every_route(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    stranger = await other_person(db, vault, world)
    await _records.confirm_by_admin(db, actor=ACTOR, person=stranger)
    request = await file_correction(db, world, stranger)
    data = {"number": valid_my_number(5), "purpose": PURPOSES[0]}
    await sign_in(client, world.admin)
    statuses = {path: await _call(client, method, path.format(id=stranger.id), data) for method, path in PERSON_ROUTES}
    statuses |= {
        path: await _call(client, method, path.format(id=request.id), {}) for method, path in CORRECTION_ROUTES
    }
    assert set(statuses.values()) == {404}, statuses
    assert (await reload(db, stranger)).status is CollectionStatus.ADMIN_CONFIRMED
    assert await entries(db, world.other_tenant.id, AuditAction.REVEAL) == []
    assert "よその人" not in (await client.get("/admin/corrections")).text


async def test_a_viewer_may_not_register_confirm_reveal_or_decide(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    office = await arrange(db, vault, world)
    request = await file_correction(db, world, office.kawai)
    await sign_in(client, world.viewer)
    data = {"number": valid_my_number(5), "purpose": PURPOSES[0]}
    statuses = [await _call(client, m, p.format(id=office.higashino.id), data) for m, p in PERSON_ROUTES]
    statuses += [await _call(client, m, p.format(id=request.id), {}) for m, p in CORRECTION_ROUTES]
    statuses.append(await _call(client, "GET", "/admin/corrections", {}))
    assert set(statuses) == {403}
    assert await entries(db, world.tenant.id, AuditAction.REVEAL) == []


async def test_a_malformed_person_id_is_not_found(client: Client, world: World) -> None:
    await sign_in(client, world.admin)
    assert (await client.get("/admin/numbers/not-a-uuid/register")).status_code == 404
    assert (await client.get(f"/admin/numbers/{uuid.uuid4()}/confirm")).status_code == 404
