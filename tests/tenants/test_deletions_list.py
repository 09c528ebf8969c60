"""削除管理の一覧 (/admin/deletions): the seed's columns, the extraction filters, masks only, keyset pages, the
erasure form's fields, and isolation."""

from __future__ import annotations

import datetime as dt
import html as html_text
import re
import uuid
from collections.abc import AsyncIterator
from urllib.parse import unquote

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.vault import Vault
from tenants.models import Person
from tests.support.people import give_number, make_department, make_dependant, make_employee, valid_my_number
from tests.support.world import World, sign_in

COLUMNS = [
    "削除",
    "部門コード",
    "部門",
    "社員コード",
    "対象者",
    "発行日",
    "マイナンバー",
    "退職日",
    "喪失日",
    "削除予定日",
    "操作",
]


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    opened = Vault.from_settings(settings)
    yield opened
    await opened.close()


async def arrange(db: AsyncSession, vault: Vault, world: World) -> dict[str, Person]:
    """acme: one person per filter (and one in another tenant, past due)."""
    office = await make_department(db, world.tenant.id, "101", "社長室")
    insured = await make_employee(db, world.tenant.id, "001", "社保 加入", department=office)
    insured.social_insurance_acquired_on = dt.date(2016, 1, 1)
    lost = await make_employee(db, world.tenant.id, "002", "社保 喪失")
    lost.social_insurance_acquired_on = dt.date(2016, 1, 1)
    lost.social_insurance_lost_on = dt.date(2015, 9, 1)
    employment = await make_employee(db, world.tenant.id, "003", "雇保 加入")
    employment.employment_insurance_acquired_on = dt.date(2016, 1, 1)
    retired = await make_employee(db, world.tenant.id, "004", "退職 一郎")
    retired.retirement_date = dt.date(2015, 7, 31)
    retired.deletion_due_on = dt.date(2023, 1, 1)
    child = await make_dependant(db, retired, "退職 花子")
    child.deletion_due_on = dt.date(2023, 1, 1)
    late = await make_employee(db, world.tenant.id, "005", "退職 遅い")
    late.retirement_date = dt.date(2015, 8, 1)  # outside 2014/08/01 + 12 months
    late.deletion_due_on = dt.date(2099, 1, 1)
    theirs = await make_employee(db, world.other_tenant.id, "004", "よその 退職")
    theirs.deletion_due_on = dt.date(2020, 1, 1)
    for index, person in enumerate((insured, lost, employment, retired, child, late, theirs)):
        await give_number(db, vault, person, valid_my_number(100 + index))
    nobody = await make_employee(db, world.tenant.id, "006", "未登録 人")
    await db.commit()
    return {p.name: p for p in (insured, lost, employment, retired, child, late, theirs, nobody)}


def names(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [html_text.unescape(re.sub(r"<[^>]+>", "", cells[4]).strip()) for cells in _rows(body)]


def _rows(body: str) -> list[list[str]]:
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


async def test_the_list_has_the_seeds_columns_masks_and_the_erasure_form(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
) -> None:
    people = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    page = await client.get("/admin/deletions")
    assert page.status_code == 200
    header = page.text.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert re.findall(r"<th>(.*?)</th>", header) == COLUMNS
    assert "7 件" in page.text  # from the counters (another tenant's people not among them)
    assert '<form method="post" action="/admin/erasure/confirm"' in page.text
    assert 'name="_csrf_token"' in page.text and "選択した番号を削除" in page.text
    boxes = re.findall(r'name="person_id" value="([^"]+)"', page.text)
    assert str(people["社保 加入"].id) in boxes and str(people["未登録 人"].id) not in boxes  # no number, no box
    assert str(people["よその 退職"].id) not in page.text
    for index in range(7):
        assert valid_my_number(100 + index) not in page.text
    assert "**********" + valid_my_number(100)[-2:] in page.text
    row = next(r for r in _rows(page.text.split("<tbody>", 1)[1]) if "社保 加入" in r[4])
    assert [re.sub(r"<[^>]+>", "", c).strip() for c in row[1:4]] == ["101", "社長室", "001"]
    assert "退職 一郎 &gt; 退職 花子" in page.text
    assert f"/admin/deletions/{people['退職 一郎'].id}/due" in page.text


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filter": "social_insurance"}, ["社保 加入"]),
        ({"filter": "employment_insurance"}, ["雇保 加入"]),
        ({"filter": "retired", "retired_from": "2014/08/01", "months": "12"}, ["退職 一郎"]),
        ({"filter": "retired", "retired_from": "平成26年8月1日", "months": "13"}, ["退職 一郎", "退職 遅い"]),
        ({"filter": "not_registered"}, ["未登録 人"]),
        ({"filter": "past_due"}, ["退職 一郎", "退職 一郎 > 退職 花子"]),
    ],
)
async def test_each_extraction_keeps_only_its_people(
    client: AsyncTestClient[Litestar],
    world: World,
    db: AsyncSession,
    vault: Vault,
    params: dict[str, str],
    expected: list[str],
) -> None:
    await arrange(db, vault, world)
    await sign_in(client, world.viewer)
    page = await client.get("/admin/deletions", params=params)
    assert page.status_code == 200
    assert sorted(names(page.text)) == sorted(expected)
    assert "選択した番号を削除" not in page.text and 'name="person_id"' not in page.text  # viewers read only
    await client.post("/logout", follow_redirects=False)
    await sign_in(client, world.handler)  # handlers too (seed 000: erasing is the admin's act)
    page = await client.get("/admin/deletions")
    assert page.status_code == 200
    assert "選択した番号を削除" not in page.text and 'name="person_id"' not in page.text
    assert "/admin/erasure/confirm" not in page.text and '/due"' not in page.text


async def test_a_bad_retirement_range_is_a_japanese_error(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
) -> None:
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    bad = await client.get("/admin/deletions", params={"filter": "retired", "retired_from": "2014/02/30"})
    assert bad.status_code == 400 and "開始日を正しい日付で入力してください" in bad.text
    missing = await client.get("/admin/deletions", params={"filter": "retired"})
    assert missing.status_code == 400 and "開始日を入力してください" in missing.text
    months = await client.get(
        "/admin/deletions", params={"filter": "retired", "retired_from": "2014/08/01", "months": "x"}
    )
    assert months.status_code == 400 and "月数は1から120までの数字" in months.text


async def test_pages_follow_the_cursor_without_repeating_anyone(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
) -> None:
    ids: set[uuid.UUID] = set()
    for index in range(57):
        person = await make_employee(db, world.tenant.id, f"{index:03d}", f"期限 {index:03d}")
        person.deletion_due_on = dt.date(2020, 1, 1) + dt.timedelta(days=index % 5)
        await give_number(db, vault, person, valid_my_number(200 + index))
        ids.add(person.id)
    await db.commit()
    await sign_in(client, world.admin)
    seen: list[str] = []
    page = await client.get("/admin/deletions", params={"filter": "past_due"})
    first = re.findall(r'name="person_id" value="([^"]+)"', page.text)
    assert len(first) == 50 and "57 件" in page.text
    seen += first
    next_link = re.search(r'rel="next" href="([^"]+)"', page.text)
    assert next_link is not None
    second = await client.get(next_link.group(1).replace("&amp;", "&"))
    rest = re.findall(r'name="person_id" value="([^"]+)"', second.text)
    assert len(rest) == 7
    seen += rest
    assert {uuid.UUID(s) for s in seen} == ids and len(seen) == 57
    # Beyond the numbered pages a cursor reads the page after the row it names.
    after = await client.get("/admin/deletions", params={"filter": "past_due", "after": second_cursor(page.text)})
    assert re.findall(r'name="person_id" value="([^"]+)"', after.text) == rest


def second_cursor(html: str) -> str:
    match = re.search(r'after=([^&"]+)', html)
    assert match is not None
    return unquote(match.group(1))
