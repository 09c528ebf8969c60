"""The import pages: upload and check, the report (paginated, CSV), commit with step-up, and who may see what."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import app.auth.sessions as sessions_module
from app.config import Settings
from app.vault import NumberField, Vault
from exchange import Encoding, write_file
from exchange.layouts import SEED
from exchange.services import REPORT_PER_PAGE, SYNC_MAX_ROWS
from tenants.models import CollectionStatus, Person
from tests.exchange.importing import N, arrange, csv_file, files_holding, snapshot
from tests.support.audit import entries
from tests.support.world import World, csrf_token, sign_in, step_up

Client = AsyncTestClient[Litestar]
GOOD = [f",002,山田 一郎,,,,{N[3]}", f",003,佐藤 花子,,,,{N[10]}", f",004,鈴木 次郎,,,,{N[12]}"]
WITH_WARNING = [*GOOD, f",005,伊藤 吾郎,,,,{N[9]}"]  # 005's own number under another spelling of the name


async def upload(client: Client, data: bytes, layout: str = "seed", filename: str = "numbers.csv") -> object:
    token = await csrf_token(client)
    return await client.post(
        "/admin/imports",
        data={"_csrf_token": token, "layout": layout},
        files={"file": (filename, data, "text/csv")},
        follow_redirects=False,
    )


async def post(client: Client, path: str, data: dict[str, str] | None = None) -> object:
    token = await csrf_token(client)
    return await client.post(path, data={"_csrf_token": token, **(data or {})}, follow_redirects=False)


async def test_a_small_csv_is_checked_kept_sealed_then_committed_as_proxy_registrations(
    client: Client, vault: Vault, db: AsyncSession, world: World, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    people = await arrange(db, vault, world)
    tenant_id = world.tenant.id
    await sign_in(client, world.admin)
    before = await snapshot(db, tenant_id)
    assert "ファイルの形式" in (await client.get("/admin/imports")).text

    sent = await upload(client, csv_file(SEED, WITH_WARNING, "cp932"))

    assert sent.status_code in (302, 303)  # type: ignore[attr-defined]
    location = sent.headers["location"]  # type: ignore[attr-defined]
    assert re.fullmatch(r"/admin/imports/[0-9a-f-]{36}", location)
    page = await client.get(location)
    assert page.status_code == 200
    assert "まだ何も登録していません" in page.text and "警告を確認しました" in page.text
    assert "氏名が登録されている内容と違います" in page.text
    assert await snapshot(db, tenant_id) == before
    numbers = [N[3], N[10], N[12]]
    for number in numbers:
        assert number not in page.text
    if settings.is_sqlite:
        assert files_holding(Path(settings.data_dir), numbers) == []  # the upload is kept sealed
    report = await client.get(f"{location}/report.csv")
    assert report.headers["content-type"] == "text/csv; charset=Shift_JIS"  # one charset (field trial: two)
    lines = report.content.decode("cp932").splitlines()
    assert lines[:2] == ["行,列,区分,内容", ",行数,集計,4"]  # the counts first, as on the screen
    assert ",エラー,集計,0" in lines and ",警告,集計,1" in lines
    assert [line for line in lines if ",集計," not in line][:2] == [
        "行,列,区分,内容",
        "5,社員名,警告,氏名が登録されている内容と違います。同じ方か確かめてください。登録されている内容は変わりません。",
    ]

    refused = await post(client, f"{location}/commit")
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "「警告を確認しました」にチェックを入れてください。" in refused.text  # type: ignore[attr-defined]
    committed = await post(client, f"{location}/commit", {"accepted": "on"})

    assert committed.status_code in (302, 303)  # type: ignore[attr-defined]
    assert committed.headers["location"] == "/admin/numbers"  # type: ignore[attr-defined]
    await db.rollback()
    for person, number in ((people.yamada, N[3]), (people.sato, N[10]), (people.suzuki, N[12])):
        assert await vault.same_number(db, tenant_id, person.id, NumberField.MY_NUMBER, number)
        status = (await db.execute(select(Person.status).where(Person.id == person.id))).scalar_one()
        assert status is CollectionStatus.PROXY_REGISTERED
    proxy = await entries(db, tenant_id, "代理登録")
    assert sorted(e.subject_name for e in proxy[-3:]) == ["佐藤 花子", "山田 一郎", "鈴木 次郎"]
    assert {e.actor_name for e in proxy[-3:]} == {"岡 昌平"}
    listing = (await client.get("/admin/numbers")).text
    assert "ファイルを取り込みました（2件の番号を代理登録しました、1件の番号を置き換えました）。" in listing
    assert (await client.get(location)).status_code == 404  # the upload is gone with its commit
    for number in numbers:
        assert number not in caplog.text
    if settings.is_sqlite:
        assert files_holding(Path(settings.data_dir), numbers) == []


async def test_the_commit_asks_for_a_recent_password(
    client: Client, vault: Vault, db: AsyncSession, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await arrange(db, vault, world)
    tenant_id = world.tenant.id
    await sign_in(client, world.admin)
    location = (await upload(client, csv_file(SEED, GOOD))).headers["location"]  # type: ignore[attr-defined]
    before = await snapshot(db, tenant_id)
    real_now = sessions_module.now_ts
    monkeypatch.setattr(sessions_module, "now_ts", lambda: real_now() + 6 * 60)

    token = await csrf_token(client)
    referer = {"referer": f"http://testserver.local{location}"}  # the page the commit button is on
    stale = await client.post(
        f"{location}/commit", data={"_csrf_token": token}, headers=referer, follow_redirects=False
    )

    assert stale.status_code in (302, 303)
    assert stale.headers["location"] == f"/reauth?next={quote(location, safe='')}"  # the page, not the POST path
    # A browser sends no Referer (the pages say Referrer-Policy: no-referrer): the commit's own GET, which leads
    # back to the report (field trial: sent to /admin).
    bare = await client.post(f"{location}/commit", data={"_csrf_token": token}, follow_redirects=False)
    assert bare.headers["location"] == f"/reauth?next={quote(location + '/commit', safe='')}"
    assert await snapshot(db, tenant_id) == before
    await step_up(client, world.admin, f"{location}/commit")
    back = await client.get(f"{location}/commit", follow_redirects=False)
    assert back.headers["location"] == location
    assert (await post(client, f"{location}/commit")).status_code in (302, 303)  # type: ignore[attr-defined]
    assert len(await entries(db, tenant_id, "代理登録")) == 3 + 3


async def test_a_file_with_errors_shows_them_a_page_at_a_time_and_cannot_be_committed(
    client: Client, vault: Vault, db: AsyncSession, world: World
) -> None:
    await arrange(db, vault, world)
    tenant_id = world.tenant.id
    await sign_in(client, world.admin)
    before = await snapshot(db, tenant_id)
    lines = [f",{900 + k},誰か {k},,,,12345678901X" for k in range(REPORT_PER_PAGE)]  # two lines a row

    location = (await upload(client, csv_file(SEED, lines))).headers["location"]  # type: ignore[attr-defined]
    first = await client.get(location)
    second = await client.get(f"{location}?page=2")

    assert "取り込む</button>" not in first.text and "エラーがあるため取り込めません" in first.text
    assert first.text.count('<td class="mono">') == REPORT_PER_PAGE
    assert 'rel="next"' in first.text and 'rel="prev"' in second.text
    assert second.text.count('<td class="mono">') == REPORT_PER_PAGE
    refused = await post(client, f"{location}/commit", {"accepted": "on"})
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert await snapshot(db, tenant_id) == before


async def test_files_for_a_background_job_go_to_a_check_job_and_files_of_another_layout_are_told_on_the_form(
    client: Client, vault: Vault, db: AsyncSession, world: World
) -> None:
    await sign_in(client, world.admin)
    big = csv_file(SEED, [f"*,{k},名前 {k},,,," for k in range(SYNC_MAX_ROWS + 1)])
    workbook = b"".join(write_file(SEED.columns, [["", "001", "河合 康則", "", "", "", N[1]]], Encoding.XLSX))

    for data, filename in ((big, "big.csv"), (workbook, "numbers.xlsx")):
        answer = await upload(client, data, filename=filename)
        assert answer.status_code in (302, 303)  # type: ignore[attr-defined]
        assert re.fullmatch(r"/admin/jobs/[0-9a-f-]{36}", answer.headers["location"])  # type: ignore[attr-defined]
    wrong = await upload(client, csv_file(SEED, [f",001,河合 康則,,,,{N[1]}"]), layout="full")
    assert wrong.status_code == 400  # type: ignore[attr-defined]
    assert "1行目の見出しが「詳細" in wrong.text  # type: ignore[attr-defined]
    missing = await upload(client, b"", layout="seed", filename="")  # what a browser sends when none was chosen
    assert "取り込むファイル（CSV か Excel ブック）を選択してください。" in missing.text  # type: ignore[attr-defined]
    empty = await upload(client, b"", layout="seed")  # a 0-byte file chosen (field trial: "select a file")
    assert empty.status_code == 400  # type: ignore[attr-defined]
    assert "選択したファイルは空です（0 バイト）" in empty.text  # type: ignore[attr-defined]


async def test_an_upload_is_its_senders_alone_and_a_viewer_has_no_import(
    client: Client, vault: Vault, db: AsyncSession, world: World
) -> None:
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    location = (await upload(client, csv_file(SEED, GOOD))).headers["location"]  # type: ignore[attr-defined]

    client.cookies.clear()
    await sign_in(client, world.handler)
    assert (await client.get(location)).status_code == 404
    assert (await post(client, f"{location}/commit", {"accepted": "on"})).status_code == 404  # type: ignore[attr-defined]
    assert (await client.get("/admin/imports")).status_code == 200
    client.cookies.clear()
    await sign_in(client, world.other_admin)
    assert (await client.get(location)).status_code == 404
    assert (await client.get(f"{location}/report.csv")).status_code == 404
    client.cookies.clear()
    await sign_in(client, world.viewer)
    assert (await client.get("/admin/imports")).status_code == 403


async def test_a_discarded_upload_is_gone(client: Client, vault: Vault, db: AsyncSession, world: World) -> None:
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    location = (await upload(client, csv_file(SEED, GOOD))).headers["location"]  # type: ignore[attr-defined]

    discarded = await post(client, f"{location}/discard")

    assert discarded.headers["location"] == "/admin/imports"  # type: ignore[attr-defined]
    assert (await client.get(location)).status_code == 404
