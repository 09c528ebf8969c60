"""The export pages: choose, confirm, download; every layout × encoding; the log; permissions; cp932's limits."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import sessions as sessions_module
from app.config import Settings
from app.vault import Vault
from exchange.layouts import layout_named
from tests.exchange.export_support import (
    PURPOSE,
    Client,
    Office,
    add_family,
    arrange,
    confirm_path,
    download,
    exports_logged,
    params,
    read_rows,
)
from tests.support.audit import details
from tests.support.people import give_number, make_department, make_employee, valid_my_number
from tests.support.world import World, sign_in, step_up

LAYOUTS = ("seed", "full", "withholding")
ENCODINGS = ("cp932", "utf-8-sig", "xlsx")


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    """A vault for arranging (the app's lives on its own connections)."""
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


@pytest.fixture
async def office(db: AsyncSession, vault: Vault, world: World) -> Office:
    return await arrange(db, vault, world)


async def as_admin(client: Client, world: World, *, fresh: bool = True) -> None:
    await sign_in(client, world.admin)
    if fresh:
        await step_up(client, world.admin)


def column(rows: list[list[str]], name: str) -> list[str]:
    index = rows[0].index(name)
    return [row[index] if index < len(row) else "" for row in rows[1:]]


# From the list ------------------------------------------------------------------------------------------------------


async def test_the_list_offers_csv_export_with_its_filters_and_ticks_for_rows(
    client: Client, world: World, office: Office
) -> None:
    await sign_in(client, world.handler)
    department = office.departments["105"].id
    page = await client.get(f"/admin/numbers?department={department}&kind=employee")
    assert page.status_code == 200
    link = re.search(r'<a class="button" href="(/admin/exports\?[^"]+)">CSV出力</a>', page.text)
    assert link is not None
    query = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)
    assert query == {"department": [str(department)], "kind": ["employee"]}
    assert '<form id="export-selected" method="get" action="/admin/exports"' in page.text
    assert '<input type="hidden" name="ticked" value="1">' in page.text
    assert f'name="person" value="{office["ihara"].id}" form="export-selected"' in page.text
    assert "選択した行を出力" in page.text

    nothing = await client.get("/admin/exports?ticked=1", follow_redirects=False)
    assert nothing.status_code in (302, 303) and nothing.headers["location"] == "/admin/numbers"
    assert "出力する行を一覧で選択してから" in (await client.get("/admin/numbers")).text
    chosen = await client.get(f"/admin/exports?ticked=1&person={office['ihara'].id}&person={office['kawai'].id}")
    assert chosen.status_code == 200 and "一覧で選択した 2 人" in chosen.text
    assert chosen.text.count(f'name="person" value="{office["ihara"].id}"') == 1
    filtered = await client.get(link.group(1).replace("&amp;", "&"))
    assert "部門：105 人事部、種別：従業員" in filtered.text
    assert 'value="源泉徴収票作成事務"' in filtered.text  # the notified purposes to choose from


# Every layout × encoding --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("layout", LAYOUTS)
async def test_each_layout_and_encoding_downloads_and_decodes_with_leading_zeros(
    client: Client, world: World, office: Office, layout: str, encoding: str
) -> None:
    await as_admin(client, world)
    response = await download(client, params(layout=layout, encoding=encoding, replace=encoding == "cp932"))

    assert response.status_code == 200, response.text[:500]
    assert response.headers["cache-control"] == "no-store"
    assert "content-encoding" not in response.headers  # never gzipped
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="mynumber_')
    japanese = unquote(disposition.split("filename*=UTF-8''", 1)[1])
    assert japanese.startswith("マイナンバー_") and japanese.endswith(".xlsx" if encoding == "xlsx" else ".csv")
    expected_type = {"cp932": "text/csv; charset=Shift_JIS", "utf-8-sig": "text/csv; charset=utf-8"}
    assert response.headers["content-type"] == expected_type.get(encoding, layout_type_xlsx())
    rows = read_rows(response.content, encoding)
    assert rows[0] == list(layout_named(layout).header)
    numbers = "個人番号" if layout == "withholding" else "マイナンバー"
    codes = column(rows, "社員コード")
    kawai = codes.index("001")
    assert column(rows, numbers)[kawai] == office.numbers["kawai"]  # 0000000000…: leading zeros intact
    assert "0007" in codes and "1000" in codes
    name_column = "氏名" if layout == "withholding" else "社員名"
    # A cell a spreadsheet would run is neutralised: a leading ' in CSV, Excel's quote prefix (a style) in .xlsx.
    assert ("=SUM(A1)" if encoding == "xlsx" else "'=SUM(A1)") in column(rows, name_column)
    if layout == "withholding":
        row = rows[1 + codes.index("104")]
        assert row[rows[0].index("控除対象配偶者 個人番号")] == office.numbers["junko"]
        assert row[rows[0].index("16歳未満の扶養親族1 個人番号")] == office.numbers["manami"]  # born 2012
    assert office.numbers["payee"] not in response.content.decode("latin-1")  # not notified of 源泉徴収票作成事務


def layout_type_xlsx() -> str:
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# The log ------------------------------------------------------------------------------------------------------------


async def test_one_csv_export_entry_per_person_exported_with_the_purpose_and_never_the_number(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    await as_admin(client, world)
    response = await download(client, params(layout="full", encoding="utf-8-sig"))
    assert response.status_code == 200

    logged = await exports_logged(db, world)
    people = len(read_rows(response.content, "utf-8-sig")) - 1
    employees = {p.id for p in office.people.values() if not p.is_payee}
    assert len(logged) == people == len(employees) == 8
    assert {entry.subject_person_id for entry in logged} == employees
    assert {entry.purpose for entry in logged} == {PURPOSE}
    assert {entry.function for entry in logged} == {"マイナンバー出力（詳細・CSV UTF-8）"}
    assert "東野 二郎 > 東野 順子" in {entry.subject_name for entry in logged}
    without = [entry for entry in logged if (entry.detail or {}).get("number") == "なし"]
    assert [entry.subject_name for entry in without] == ["井原 はじめ"]
    text = json.dumps(details(logged), ensure_ascii=False)
    assert all(number not in text for number in office.all_numbers)


async def test_an_export_without_numbers_needs_no_step_up_and_is_logged_once(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    await sign_in(client, world.viewer)  # a viewer may export the list itself
    confirm = await client.get(confirm_path(params(numbers=False, kind="employee")))
    assert confirm.status_code == 200 and "含めない" in confirm.text
    response = await download(client, params(numbers=False, encoding="utf-8-sig", kind="employee"))

    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith('attachment; filename="people_seed_')
    rows = read_rows(response.content, "utf-8-sig")
    assert column(rows, "マイナンバー") == [""] * (len(rows) - 1)
    assert all(number not in response.text for number in office.all_numbers)
    (entry,) = await exports_logged(db, world)
    assert entry.subject_person_id is None and entry.purpose is None
    assert entry.function == "一覧出力（基本・CSV UTF-8）"
    assert entry.detail["people"] == 6 and entry.detail["selection"]["kind"] == "employee"


# Permissions --------------------------------------------------------------------------------------------------------


async def test_numbers_need_a_step_up_and_come_back_to_the_confirmation(
    client: Client, world: World, db: AsyncSession, office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    await as_admin(client, world, fresh=False)
    real_now = sessions_module.now_ts
    monkeypatch.setattr(sessions_module, "now_ts", lambda: real_now() + 6 * 60)  # the sign-in's step-up is stale
    path = confirm_path(params(layout="full"))
    asked = await client.get(path, follow_redirects=False)
    assert asked.status_code in (302, 303)
    location = asked.headers["location"]
    assert location.startswith("/reauth?")
    assert parse_qs(urlsplit(location).query)["next"] == [path]

    posted = await download(client, params(layout="full"))
    assert posted.status_code in (302, 303)
    back = parse_qs(urlsplit(posted.headers["location"]).query)["next"][0]
    assert back.startswith("/admin/exports/confirm?") and "numbers=1" in back
    assert await exports_logged(db, world) == []

    await step_up(client, world.admin, back)
    assert (await client.get(back)).status_code == 200


async def test_numbers_need_a_notified_purpose(client: Client, world: World, db: AsyncSession, office: Office) -> None:
    await as_admin(client, world)
    missing = await client.get(confirm_path(params(purpose=None)))
    assert missing.status_code == 400 and "利用目的を選択してください" in missing.text
    unknown = await download(client, params(purpose="何となく"))
    assert unknown.status_code == 400 and "利用目的を一覧から選択してください" in unknown.text
    assert await exports_logged(db, world) == []


async def test_numbers_go_only_to_the_people_the_purpose_was_notified_to(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    await as_admin(client, world)
    employees = await client.get(confirm_path(params(layout="full")))
    assert "取引先 2 人には利用目的「源泉徴収票作成事務」を通知していないため、出力しません" in employees.text
    payees = params(layout="full", encoding="utf-8-sig", purpose="報酬・料金等の支払調書作成事務")
    confirm = await client.get(confirm_path(payees))
    assert "従業員・扶養家族 8 人には利用目的「報酬・料金等の支払調書作成事務」を通知していない" in confirm.text
    response = await download(client, payees)
    rows = read_rows(response.content, "utf-8-sig")
    assert column(rows, "区分") == ["取引先", "取引先"]
    assert sorted(column(rows, "マイナンバー") + column(rows, "法人番号")) == sorted(
        ["", "", office.numbers["payee"], office.numbers["company"]]
    )
    logged = await exports_logged(db, world)
    assert {e.subject_person_id for e in logged} == {office["payee"].id, office["company"].id}


async def test_a_viewer_cannot_export_numbers(client: Client, world: World, db: AsyncSession, office: Office) -> None:
    await sign_in(client, world.viewer)
    await step_up(client, world.viewer)
    form = await client.get("/admin/exports")
    assert form.status_code == 200 and 'name="numbers"' not in form.text
    assert (await client.get(confirm_path(params()))).status_code == 403
    response = await download(client, params(encoding="utf-8-sig"))
    assert response.status_code == 403
    assert all(number not in response.text for number in office.all_numbers)
    assert await exports_logged(db, world) == []


@pytest.mark.parametrize("persona", ["employee", "operator"])
async def test_only_company_staff_reach_the_export_pages(
    client: Client, world: World, office: Office, persona: str
) -> None:
    await sign_in(client, getattr(world, persona))
    assert (await client.get("/admin/exports")).status_code == 403
    assert (await download(client, params(numbers=False))).status_code == 403


async def test_another_tenants_ids_give_404_and_never_appear(
    client: Client, world: World, db: AsyncSession, vault: Vault, office: Office
) -> None:
    stranger = await make_employee(db, world.other_tenant.id, "001", "よその 人")
    foreign_number = valid_my_number(99)
    await give_number(db, vault, stranger, foreign_number)
    elsewhere = await make_department(db, world.other_tenant.id, "101", "よその部門")
    await db.commit()
    await as_admin(client, world)
    for persons in ([stranger.id], [office["kawai"].id, stranger.id], ["not-an-id"]):
        assert (await client.get(f"/admin/exports?person={persons[-1]}")).status_code == 404
        assert (await client.get(confirm_path(params(), persons))).status_code == 404
        response = await download(client, params(encoding="utf-8-sig"), persons)
        assert response.status_code == 404
        assert "よその" not in response.text and foreign_number not in response.text
    assert (await download(client, params(department=str(elsewhere.id)))).status_code == 404
    assert (await client.get(f"/admin/exports?department={elsewhere.id}")).status_code == 404
    assert await exports_logged(db, world) == []


async def test_ticked_rows_export_only_those_and_a_ticked_dependant_under_their_employee(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    await as_admin(client, world)
    ticked = [office["kawai"].id, office["manami"].id]
    response = await download(client, params(encoding="utf-8-sig"), ticked)

    rows = read_rows(response.content, "utf-8-sig")
    assert [row[:5] for row in rows[1:]] == [
        ["", "001", "河合 康則", "", ""],
        ["*", "104", "東野 二郎", "", ""],  # heads 真奈美, unchosen: no number, left alone on import
        ["", "104", "東野 二郎", "1", "東野 真奈美"],
    ]
    assert column(rows, "マイナンバー") == [office.numbers["kawai"], "", office.numbers["manami"]]
    assert {e.subject_person_id for e in await exports_logged(db, world)} == set(ticked)


# cp932 --------------------------------------------------------------------------------------------------------------


async def test_characters_cp932_cannot_hold_are_listed_then_replaced_by_geta_and_reported(
    client: Client, world: World, db: AsyncSession, office: Office
) -> None:
    await as_admin(client, world)
    confirm = await client.get(confirm_path(params()))
    assert confirm.status_code == 200
    assert "𠮷" in confirm.text and "U+20BB7" in confirm.text and "𠮷田 太郎" in confirm.text
    assert "U+845B U+E0100" in confirm.text and "異体字セレクタを外し" in confirm.text  # 葛󠄀: dropped, reported
    for choice in (
        "UTF-8（BOM付き）の CSV で出力",
        "Excel（.xlsx）で出力",
        "cp932 で出力（出力できない文字は「〓」に置き換え）",
    ):
        assert choice in confirm.text
    assert ">ダウンロード<" not in confirm.text

    refused = await download(client, params())
    assert refused.status_code == 422 and "cp932（Shift_JIS）で出力できない文字が 1 か所" in refused.text
    assert await exports_logged(db, world) == []

    replacing = await client.get(confirm_path(params(replace=True)))
    assert "「〓」に置き換えます" in replacing.text and ">ダウンロード<" in replacing.text
    response = await download(client, params(replace=True))
    assert response.status_code == 200
    names = column(read_rows(response.content, "cp932"), "社員名")
    assert "〓田 太郎" in names and "葛城 花子" in names

    utf8 = await download(client, params(encoding="utf-8-sig"))
    assert "𠮷田 太郎" in column(read_rows(utf8.content, "utf-8-sig"), "社員名")


async def test_the_withholding_layout_lists_dependants_without_a_slot_and_leaves_them_out(
    client: Client, world: World, db: AsyncSession, vault: Vault, office: Office
) -> None:
    employee, kids = await add_family(db, vault, world, children=5)
    await as_admin(client, world)
    values = params(layout="withholding", encoding="utf-8-sig", year=2025, department="")
    confirm = await client.get(confirm_path(values, [employee.id, *(k.id for k in kids)]))
    assert "源泉徴収票の欄に入らない扶養家族（1 人）" in confirm.text and "大家 子5" in confirm.text

    response = await download(client, values, [employee.id, *(k.id for k in kids)])
    rows = read_rows(response.content, "utf-8-sig")
    assert len(rows) == 2 and "大家 子5" not in rows[1] and "大家 子4" in rows[1]
    logged = {e.subject_name for e in await exports_logged(db, world)}
    assert logged == {"大家 族男", *(f"大家 族男 > 大家 子{n}" for n in range(1, 5))}


@pytest.mark.parametrize("chosen", ["ticked", "filtered"])
async def test_a_withholding_row_of_an_employee_chosen_alone_carries_the_dependants(
    client: Client, world: World, db: AsyncSession, vault: Vault, office: Office, chosen: str
) -> None:
    """Field trial: ticking the employees (or filtering 種別=従業員) and choosing 源泉徴収票 gave a file with every
    spouse and dependant slot empty, without a word; a 源泉徴収票 row is a whole family."""
    await as_admin(client, world)
    if chosen == "ticked":
        values, persons = params(layout="withholding", encoding="utf-8-sig", year=2025), [office["higashino"].id]
    else:
        values, persons = params(layout="withholding", encoding="utf-8-sig", year=2025, kind="employee"), []

    confirm = await client.get(confirm_path(values, persons))
    response = await download(client, values, persons)

    assert confirm.status_code == 200 and response.status_code == 200, response.text[:300]
    rows = read_rows(response.content, "utf-8-sig")
    [higashino] = [row for row in rows[1:] if row[1] == "104"]
    assert office.numbers["junko"] in higashino and office.numbers["manami"] in higashino
    assert "東野 順子" in higashino and "東野 真奈美" in higashino
    logged = {e.subject_name for e in await exports_logged(db, world)}
    assert {"東野 二郎 > 東野 順子", "東野 二郎 > 東野 真奈美"} <= logged


# Nothing kept -------------------------------------------------------------------------------------------------------


async def test_the_number_never_appears_in_the_database_files_or_the_logs(
    client: Client, world: World, db: AsyncSession, office: Office, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await as_admin(client, world)
    for encoding in ENCODINGS:
        for purpose in (PURPOSE, "報酬・料金等の支払調書作成事務"):
            values = params(layout="full", encoding=encoding, replace=encoding == "cp932", purpose=purpose)
            assert (await download(client, values)).status_code == 200
    logged = caplog.text + "\n".join(repr(r.__dict__) for r in caplog.records)
    assert all(number not in logged for number in office.all_numbers)
    if settings.is_sqlite:
        await db.close()
        content = database_files(Path(settings.data_dir))
        assert b"**********" in content  # the scan does read the rows
        assert all(number.encode() not in content for number in office.all_numbers)


def database_files(directory: Path) -> bytes:
    """The main database and the key store, with their WAL and shared-memory files."""
    files = [p for p in directory.iterdir() if p.name.startswith(("mnvault.db", "keystore.db"))]
    return b"".join(p.read_bytes() for p in files)


async def test_bad_choices_show_the_form_again_with_what_to_fix(client: Client, world: World, office: Office) -> None:
    await as_admin(client, world)
    odd = await client.get("/admin/exports?layout=payroll&encoding=sjis&kind=employee")
    assert odd.status_code == 400
    assert "出力形式を一覧から選択してください" in odd.text
    assert "文字コード・ファイル形式を一覧から選択してください" in odd.text
    assert 'name="kind" value="employee"' in odd.text  # the selection is kept
    year = await download(client, params(layout="withholding", year=1999))
    assert year.status_code == 400 and "年分は2016年（平成28年）から" in year.text
    kind = await client.get(confirm_path(params(kind="robot")))
    assert kind.status_code == 400 and "種別を一覧から選択してください" in kind.text
    replace = await download(client, params(encoding="utf-8-sig", replace=True))
    assert replace.status_code == 400 and "cp932（Shift_JIS）の CSV だけで指定できます" in replace.text
