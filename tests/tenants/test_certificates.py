"""削除証明書 (issue 11): the PDF's text (names with 𠮷, reasons, 和暦 and 西暦 dates, the tenant's details), one row
per record for a period, the header repeated on every page, the records page, the 印刷 entry, and the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.config import Settings
from app.text import JST, format_japanese_era, today_in_japan
from app.vault import Vault
from tenants.certificates import render_deletion_certificate
from tenants.models import DeletionRecord, DeletionResult, PersonKind
from tests.support.audit import entries
from tests.support.world import World, sign_in
from tests.tenants.test_erasure import Client, arrange, erase, post


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


def texts(pdf: bytes) -> list[str]:
    return [re.sub(r"\s+", "", page.extract_text()) for page in PdfReader(io.BytesIO(pdf)).pages]


async def set_tenant_details(db: AsyncSession, world: World) -> None:
    tenant = world.tenant
    tenant.address = "愛知県〇〇市〇〇町1-2-5"
    tenant.phone = "0569-99-8888"
    tenant.representative = "〇〇 太郎"
    db.add(tenant)
    await db.commit()


def seed_record(tenant_id: uuid.UUID, when: dt.datetime, name: str, **values: Any) -> DeletionRecord:
    """A record as the erasure writes it (the seed's example: 平成27年8月10日, 井上 通, 退職のため, 小林 良二)."""
    defaults: dict[str, Any] = {
        "handler_login_id": "inoue",
        "handler_name": "井上 通",
        "reason": "retired",
        "subject_kind": PersonKind.EMPLOYEE,
        "person_id": uuid.uuid4(),
        "number_id": uuid.uuid4(),
    }
    return DeletionRecord(tenant_id=tenant_id, erased_at=when, subject_name=name, **(defaults | values))


def jst(year: int, month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=JST).astimezone(dt.UTC)


async def test_a_persons_certificate_names_them_with_the_reason_dates_and_the_company(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    family = await arrange(db, vault, world)
    await set_tenant_details(db, world)
    await sign_in(client, world.admin)
    await erase(client, [family.yoshida.id], reason="retired")
    listed = await client.get("/admin/erasure/records")
    (record_id,) = re.findall(r"/admin/erasure/records/([0-9a-f-]{36})/certificate", listed.text)

    response = await post(client, f"/admin/erasure/records/{record_id}/certificate", {})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "no-store" in response.headers["cache-control"]
    (page,) = texts(response.content)
    today = today_in_japan()
    for expected in (
        "削除証明書",
        "以下のとおり特定個人情報を削除したことを証明します。",
        "処理年月日",
        "担当者",
        "理由",
        "対象者",
        "結果",
        "𠮷田太郎",
        "岡昌平",
        "退職のため",
        "削除済",
        format_japanese_era(today),
        today.strftime("%Y/%m/%d"),
        "所在地愛知県〇〇市〇〇町1-2-5",
        "電話番号0569-99-8888",
        "名称アクメ商事株式会社",
        "代表者〇〇太郎",
    ):
        assert expected in page, expected
    for number in family.numbers.values():
        assert number not in page
    (printed,) = await entries(db, world.tenant.id, AuditAction.PRINT)
    assert printed.function == "削除証明書の発行" and printed.subject_name == "𠮷田太郎"
    assert printed.actor_login_id == "admin" and printed.detail["records"] == 1
    # Issued again later from the same record: the same certificate, logged again.
    again = await post(client, f"/admin/erasure/records/{record_id}/certificate", {})
    assert again.status_code == 200 and "𠮷田太郎" in texts(again.content)[0]
    assert len(await entries(db, world.tenant.id, AuditAction.PRINT)) == 2


async def test_a_period_certificate_has_one_row_per_record_in_the_period_with_both_calendars(
    client: Client, world: World, db: AsyncSession
) -> None:
    tenant_id = world.tenant.id
    db.add_all(
        [
            seed_record(tenant_id, jst(2015, 8, 10), "小林 良二"),
            seed_record(tenant_id, jst(2015, 8, 11), "𠮷田 花子", reason="other", reason_text="扶養から外れたため"),
            seed_record(
                tenant_id,
                jst(2015, 8, 12),
                "𠮷田 一郎",
                reason="request",
                approver_name="岡 昌平",
                approver_login_id="a",
            ),
            seed_record(tenant_id, jst(2015, 8, 13), "範囲外 次郎"),
            seed_record(world.other_tenant.id, jst(2015, 8, 11), "よその人"),
        ]
    )
    await db.commit()
    await sign_in(client, world.admin)
    listed = await client.get("/admin/erasure/records?from=2015/08/10&to=H27.8.12")
    assert listed.status_code == 200
    assert "小林 良二" in listed.text and "範囲外 次郎" not in listed.text and "よその人" not in listed.text
    assert "期間の削除証明書（2015/08/10〜2015/08/12）" in listed.text

    response = await post(client, "/admin/erasure/certificate", {"from": "2015/08/10", "to": "H27.8.12"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    (page,) = texts(response.content)
    assert "平成27年8月10日（2015/08/10）" in page and "平成27年8月12日（2015/08/12）" in page
    assert "小林良二" in page and "𠮷田花子" in page and "𠮷田一郎" in page
    assert "範囲外" not in page and "よその人" not in page
    assert "扶養から外れたため" in page and "本人の申出" in page and "退職のため" in page
    assert "井上通（承認：岡昌平）" in page
    assert page.count("削除済") == 3
    (printed,) = await entries(db, world.tenant.id, AuditAction.PRINT)
    assert printed.detail == {"scope": "range", "records": 3, "from": "2015-08-10", "to": "2015-08-12"}


async def test_many_records_split_across_pages_with_the_header_on_each(
    client: Client, world: World, db: AsyncSession
) -> None:
    db.add_all(
        [seed_record(world.tenant.id, jst(2024, 4, 1) + dt.timedelta(minutes=i), f"対象 {i:03d}") for i in range(90)]
    )
    await db.commit()
    await sign_in(client, world.admin)
    response = await post(client, "/admin/erasure/certificate", {"from": "2024-04-01", "to": "2024-04-01"})
    pages = texts(response.content)
    with_rows = [page for page in pages if "削除済" in page]
    assert len(with_rows) >= 2
    assert all(
        page.startswith("削除証明書-") and "処理年月日担当者理由対象者結果令和6年" in page for page in with_rows[1:]
    )  # the header, repeated
    assert all(f"削除証明書-{n}-" in page for n, page in enumerate(pages, start=1))  # the page numbers
    joined = "".join(pages)
    assert all(f"対象{i:03d}" in joined for i in range(90))
    assert joined.count("令和6年4月1日（2024/04/01）") == 90
    # The records page shows 50 newest first, and the next page by cursor.
    first = await client.get("/admin/erasure/records")
    names = re.findall(r"<td>(対象 \d{3})</td>", first.text)
    assert names[:2] == ["対象 089", "対象 088"] and len(names) == 50
    following = re.search(r'href="(/admin/erasure/records\?[^"]*page=2[^"]*)"', first.text)
    assert following is not None
    second = await client.get(following.group(1).replace("&amp;", "&"))
    assert re.findall(r"<td>(対象 \d{3})</td>", second.text)[0] == "対象 039"


async def test_certificate_requests_are_checked(client: Client, world: World, db: AsyncSession) -> None:
    foreign = seed_record(world.other_tenant.id, jst(2015, 8, 11), "よその人")
    mine = seed_record(world.tenant.id, jst(2015, 8, 11), "小林 良二")
    db.add_all([foreign, mine])
    await db.commit()
    anonymous = await client.get("/admin/erasure/records", follow_redirects=False)
    assert anonymous.headers["location"].startswith("/login")

    await sign_in(client, world.viewer)
    assert (await post(client, f"/admin/erasure/records/{mine.id}/certificate", {})).status_code == 403
    assert (
        await post(client, "/admin/erasure/certificate", {"from": "2015-08-01", "to": "2015-08-31"})
    ).status_code == 403

    client.cookies.clear()
    await sign_in(client, world.admin)
    assert (await post(client, f"/admin/erasure/records/{foreign.id}/certificate", {})).status_code == 404
    assert (await post(client, "/admin/erasure/records/nonsense/certificate", {})).status_code == 404
    no_csrf = await post(client, f"/admin/erasure/records/{mine.id}/certificate", {}, csrf=False)
    assert no_csrf.status_code == 403
    bad = await post(client, "/admin/erasure/certificate", {"from": "2015-13-45", "to": "2015-08-31"})
    assert bad.status_code in (302, 303)
    shown = await client.get(bad.headers["location"])
    assert "開始日" in shown.text
    empty = await post(client, "/admin/erasure/certificate", {"from": "2016-01-01", "to": "2016-01-31"})
    assert "この期間の削除記録はありません。" in (await client.get(empty.headers["location"])).text
    reversed_ = await client.get("/admin/erasure/records?from=2015-09-01&to=2015-08-01")
    assert reversed_.status_code == 400 and "終了日は開始日と同じ日かそれより後の日付にしてください。" in reversed_.text
    assert await entries(db, world.tenant.id, AuditAction.PRINT) == []


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "MNV_DATA_DIR": settings.data_dir,
        "MNV_DATABASE_URL": settings.effective_database_url,
        "MNV_KEYSTORE_URL": settings.effective_keystore_url,
        "MNV_MASTER_KEY": settings.master_key,
    }


async def test_the_cli_reissues_a_period_certificate(
    settings: Settings, world: World, db: AsyncSession, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from app.cli import main

    db.add_all(
        [
            seed_record(world.tenant.id, jst(2015, 8, 10), "小林 良二"),
            seed_record(world.tenant.id, jst(2015, 8, 11), "𠮷田 花子"),
        ]
    )
    await db.commit()
    output = tmp_path / "certificate.pdf"
    args = [
        "certificates",
        "issue",
        "--tenant",
        "acme",
        "--from",
        "2015-08-01",
        "--to",
        "2015-08-31",
        "-o",
        str(output),
    ]
    result = await asyncio.to_thread(CliRunner().invoke, main, args, env=cli_env(settings))
    assert result.exit_code == 0, result.output
    assert "削除記録 2 件" in result.output
    (page,) = texts(output.read_bytes())
    assert "小林良二" in page and "𠮷田花子" in page and "平成27年8月10日（2015/08/10）" in page
    (printed,) = await entries(db, world.tenant.id, AuditAction.PRINT)
    assert printed.actor_login_id == "mnvault certificates" and printed.function == "削除証明書の発行"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "acme", "--from", "2015-02-30", "--to", "2015-08-31"], "--from の日付"),
        (["--tenant", "acme", "--from", "yesterday", "--to", "2015-08-31"], "--from の日付は"),
        (["--tenant", "acme", "--from", "2015-09-01", "--to", "2015-08-31"], "--to は --from と同じ日かそれより後"),
        (["--tenant", "nope", "--from", "2015-08-01", "--to", "2015-08-31"], "事業者 nope が見つかりません"),
        (["--tenant", "acme", "--from", "2016-08-01", "--to", "2016-08-31"], "この期間の削除記録はありません"),
    ],
)
async def test_the_cli_explains_bad_input_in_japanese(
    settings: Settings, world: World, tmp_path: Path, args: list[str], message: str
) -> None:
    from click.testing import CliRunner

    from app.cli import main

    output = tmp_path / "c.pdf"
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["certificates", "issue", *args, "-o", str(output)], env=cli_env(settings)
    )
    assert result.exit_code == 1
    assert "エラー:" in result.output and message in result.output, result.output
    assert not output.exists()


async def test_the_date_and_approver_cells_wrap_before_their_brackets_never_inside(world: World) -> None:
    """A narrow cell broke 「令和8年12月1日（」/「2026/12/01）」 and 「岡 昌平（承認：井上」/「通）」.

    The bracket now starts a line."""
    record = seed_record(world.tenant.id, jst(2026, 12, 1), "真田 竜也 > 真田 真奈美", approver_name="岡 昌平")
    record.handler_name = "井上 通"
    record.result = DeletionResult.ERASED
    pdf = await asyncio.to_thread(render_deletion_certificate, [record], world.tenant, dt.date(2026, 12, 1))
    lines = [line.strip() for line in PdfReader(io.BytesIO(pdf)).pages[0].extract_text().splitlines()]
    assert "令和8年12月1日" in lines and "（2026/12/01）" in lines
    assert "井上 通" in lines and "（承認：岡 昌平）" in lines
    assert not [line for line in lines if line.endswith("（")]


async def test_the_log_searched_for_deletions_over_a_period_issues_that_periods_certificate(
    client: Client, world: World, db: AsyncSession
) -> None:
    """Seed 000: 「処理を削除に限定すれば、対象期間の削除リストが表示されますので、そこから「削除証明書」も印刷できる」.

    Admins and handlers (who may issue certificates) get the button; a viewer does not."""
    tenant_id = world.tenant.id
    db.add_all(
        [seed_record(tenant_id, jst(2015, 8, 10), "小林 良二"), seed_record(tenant_id, jst(2015, 9, 1), "範囲外 次郎")]
    )
    await db.commit()
    await sign_in(client, world.handler)
    page = await client.get("/admin/log?operation=削除&since=2015/08/01&until=2015/08/31")
    assert page.status_code == 200 and 'action="/admin/erasure/certificate"' in page.text
    fields = dict(re.findall(r'<input type="hidden" name="(from|to)" value="([^"]+)"', page.text))
    assert fields == {"from": "2015-08-01", "to": "2015-08-31"}
    response = await post(client, "/admin/erasure/certificate", fields)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    (text,) = texts(response.content)
    assert "小林良二" in text and "範囲外" not in text
    without_period = await client.get("/admin/log?operation=削除")
    assert 'action="/admin/erasure/certificate"' not in without_period.text
    assert "期間の削除証明書を発行できます" in without_period.text
    other_operation = await client.get("/admin/log?operation=閲覧&since=2015/08/01&until=2015/08/31")
    assert "削除証明書" not in other_operation.text
    client.cookies.clear()
    await sign_in(client, world.viewer)
    as_viewer = await client.get("/admin/log?operation=削除&since=2015/08/01&until=2015/08/31")
    assert as_viewer.status_code == 200 and "削除証明書" not in as_viewer.text
