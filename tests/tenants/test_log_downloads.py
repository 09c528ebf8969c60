"""Downloads of the 操作履歴 search (CSV in cp932 and UTF-8, PDF A4 landscape), each logged before it is sent; the
chain's state at the top of the page (改ざんなし / 改ざん検出) and the signed checkpoint file; who may do which."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain_state import VERIFY_JOB, chain_state, note_checkpoint_run, verify_and_save
from app.audit.checkpoints import read_checkpoint_file, write_checkpoints
from app.audit.events import AuditAction
from app.audit.keys import key_source
from app.audit.models import AuditEntry
from app.jobs.models import Job, JobState
from app.text import JST
from tests.audit.conftest import tamper
from tests.jobs.conftest import wait_for
from tests.support.world import World, csrf_token, post_form, sign_in
from tests.tenants.test_log_search import Log, all_entries
from tests.tenants.test_log_search import log as log

Client = AsyncTestClient[Litestar]


async def download(client: Client, data: dict[str, str], *, csrf: bool = True) -> object:
    payload = dict(data)
    if csrf:
        payload["_csrf_token"] = await csrf_token(client)
    return await client.post("/admin/log/download", data=payload)


async def download_entries(db: AsyncSession, tenant_id: uuid.UUID) -> list[AuditEntry]:
    found = await db.execute(
        select(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id, AuditEntry.function == "操作履歴のダウンロード")
        .order_by(AuditEntry.seq)
    )
    return list(found.scalars())


async def test_the_csv_is_cp932_with_the_searched_rows_and_is_logged(
    client: Client, db: AsyncSession, world: World, log: Log
) -> None:
    await sign_in(client, world.admin)
    wanted = [e for e in reversed(await all_entries(db, world.tenant.id)) if e.subject_department_code == "D01"]
    response = await download(client, {"department": "D01", "format": "csv"})
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("text/csv; charset=Shift_JIS")  # type: ignore[attr-defined]
    assert "attachment" in response.headers["content-disposition"]  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(response.content.decode("cp932"))))  # type: ignore[attr-defined]
    assert rows[0][:6] == ["NO", "操作日時", "部門コード", "部門", "社員コード", "対象者"]
    assert "IP" in rows[0] and "ユーザーエージェント" in rows[0]
    assert [int(row[0]) for row in rows[1:]] == [e.seq for e in wanted]
    assert {row[2] for row in rows[1:]} == {"D01"}
    assert rows[1][1] == wanted[0].occurred_at.astimezone(JST).strftime("%Y/%m/%d %H:%M:%S")
    assert rows[1][1].endswith(" 09:30:00")  # JST
    logged = await download_entries(db, world.tenant.id)
    assert [(e.action, e.detail["format"], e.detail["filters"]["部門コード"]) for e in logged] == [
        (AuditAction.CSV_EXPORT, "CSV（Shift_JIS）", "D01")
    ]
    assert logged[0].actor_login_id == world.admin.account.login_id


async def test_the_utf8_csv_has_a_bom_and_every_entry(client: Client, db: AsyncSession, world: World, log: Log) -> None:
    await sign_in(client, world.admin)
    before = len(await all_entries(db, world.tenant.id))
    response = await download(client, {"format": "csv-utf8", "order": "old"})
    assert response.status_code == 200
    body = response.content  # type: ignore[attr-defined]
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    seqs = [int(row[0]) for row in rows[1:]]
    assert seqs == sorted(seqs) and len(seqs) >= before  # oldest first; the download's own entry may be in it


async def test_the_pdf_has_one_row_per_entry_and_numbered_pages(
    client: Client, db: AsyncSession, world: World, log: Log
) -> None:
    await sign_in(client, world.admin)
    wanted = [e for e in await all_entries(db, world.tenant.id) if e.function.startswith("機能")]
    response = await download(client, {"format": "pdf", "since": "2026-04-01", "until": "2026-04-04"})
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/pdf"  # type: ignore[attr-defined]
    reader = PdfReader(io.BytesIO(response.content))  # type: ignore[attr-defined]
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) >= 2
    box = reader.pages[0].mediabox
    assert float(box.width) > float(box.height)  # landscape
    for number, page_text in enumerate(pages, start=1):
        assert f"{number} / {len(pages)} ページ" in page_text
        assert "操作履歴" in page_text and "アクメ商事株式会社" in page_text and "操作日時" in page_text
    everything = "\n".join(pages)
    times = [line for line in everything.split("\n") if line.startswith("2026/04/0")]
    assert len(times) == len(wanted) == 48
    logged = await download_entries(db, world.tenant.id)
    assert [(e.action, e.detail["entries"]) for e in logged] == [(AuditAction.PRINT, 48)]


async def test_a_pdf_over_the_limit_is_refused_in_japanese_and_not_logged(
    client: Client, db: AsyncSession, world: World, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tenants.controllers._log as log_controller
    import tenants.services._log_export as log_export

    monkeypatch.setattr(log_export, "PDF_MAX_ENTRIES", 10)
    monkeypatch.setattr(log_controller, "PDF_MAX_ENTRIES", 10)
    await sign_in(client, world.admin)
    response = await download(client, {"format": "pdf"})
    assert response.status_code == 400
    assert "PDF にできるのは 10 件までです" in response.text  # type: ignore[attr-defined]
    assert await download_entries(db, world.tenant.id) == []


async def test_bad_filters_and_formats_are_refused_before_anything_is_logged(
    client: Client, db: AsyncSession, world: World, log: Log
) -> None:
    await sign_in(client, world.admin)
    bad_date = await download(client, {"format": "csv", "since": "昨日"})
    assert bad_date.status_code == 400 and "日付で入力してください" in bad_date.text  # type: ignore[attr-defined]
    no_format = await download(client, {"format": "exe"})
    assert no_format.status_code == 400 and "形式" in no_format.text  # type: ignore[attr-defined]
    assert await download_entries(db, world.tenant.id) == []


@pytest.mark.parametrize("persona", ["handler", "viewer", "employee"])
async def test_only_admins_download_the_log(
    client: Client, db: AsyncSession, world: World, log: Log, persona: str
) -> None:
    await sign_in(client, getattr(world, persona))
    assert (await download(client, {"format": "csv"})).status_code == 403
    assert (await post_form(client, "/admin/log/checkpoint")).status_code == 403  # type: ignore[attr-defined]
    assert (await post_form(client, "/admin/log/verify")).status_code == 403  # type: ignore[attr-defined]
    assert await download_entries(db, world.tenant.id) == []


async def test_a_download_needs_the_csrf_token_and_a_session(client: Client, world: World, log: Log) -> None:
    anonymous = await client.post("/admin/log/download", data={"format": "csv"}, follow_redirects=False)
    assert anonymous.status_code in (302, 303, 401, 403)
    await sign_in(client, world.admin)
    assert (await download(client, {"format": "csv"}, csrf=False)).status_code == 403


async def test_another_company_downloads_only_its_own_log(
    client: Client, db: AsyncSession, world: World, log: Log
) -> None:
    await sign_in(client, world.other_admin)
    response = await download(client, {"format": "csv-utf8", "employee_code": "E002"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))  # type: ignore[attr-defined]
    assert rows[1:] == []
    everything = await download(client, {"format": "csv-utf8"})
    body = everything.content.decode("utf-8-sig")  # type: ignore[attr-defined]
    assert "山本 一郎" not in body and "機能1" not in body and "よそ" in body


# The chain's state ---------------------------------------------------------------------------------------------------


async def acme_raw_id(db: AsyncSession, world: World) -> object:
    """The tenant id as the database stores it (hex text on SQLite), for raw SQL."""
    for (raw,) in (await db.execute(text("SELECT DISTINCT tenant_id FROM audit_entries"))).all():
        if uuid.UUID(str(raw)) == world.tenant.id:
            return raw
    raise AssertionError("no entries")


async def test_the_page_shows_an_intact_chain_then_the_tampered_entry(
    client: Client, db: AsyncSession, world: World, log: Log
) -> None:
    await sign_in(client, world.viewer)
    assert "未検証" in (await client.get("/admin/log")).text
    run = await write_checkpoints(db)
    await note_checkpoint_run(db, run)
    await db.commit()
    page = await client.get("/admin/log")
    assert "改ざんなし" in page.text and "最終チェックポイント: 20" in page.text
    assert "全件を今すぐ検証" not in page.text  # viewers see the state; admins verify
    raw = await acme_raw_id(db, world)
    await tamper(db, "UPDATE audit_entries SET function = 'x' WHERE seq = 5 AND tenant_id = :t", t=raw)
    assert not await verify_and_save(db, world.tenant.id)
    await db.commit()
    state = await chain_state(db, world.tenant.id)
    assert (state.status, state.first_bad_seq) == ("broken", 5)
    broken = await client.get("/admin/log")
    assert "改ざん検出" in broken.text and '番号 <span class="mono">5</span> の記録から不整合があります' in broken.text


async def test_maintenance_reports_a_break_since_the_last_checkpoint(db: AsyncSession, world: World, log: Log) -> None:
    await note_checkpoint_run(db, await write_checkpoints(db))
    await db.commit()
    raw = await acme_raw_id(db, world)
    last = (await all_entries(db, world.tenant.id))[-1].seq
    from app.audit.events import Actor, AuditEvent
    from app.audit.log import record

    await record(db, AuditEvent(world.tenant.id, AuditAction.VIEW, Actor.system(), "後から"))
    await db.commit()
    await tamper(db, "UPDATE audit_entries SET function = 'y' WHERE seq = :s AND tenant_id = :t", s=last + 1, t=raw)
    await note_checkpoint_run(db, await write_checkpoints(db))
    await db.commit()
    state = await chain_state(db, world.tenant.id)
    assert (state.status, state.first_bad_seq) == ("broken", last + 1)
    assert state.checkpoint_seq == last  # the checkpoint before the break stays the newest


async def test_the_verify_button_queues_the_full_check(client: Client, db: AsyncSession, world: World) -> None:
    await sign_in(client, world.admin)
    response = await post_form(client, "/admin/log/verify")
    assert response.status_code in (302, 303)  # type: ignore[attr-defined]
    job = (await db.execute(select(Job).where(Job.tenant_id == world.tenant.id, Job.kind == VERIFY_JOB))).scalar_one()
    assert response.headers["location"] == f"/admin/jobs/{job.id}"  # type: ignore[attr-defined]


async def test_the_verify_job_keeps_the_full_check_for_the_page(
    client: Client, db: AsyncSession, world: World, log: Log
) -> None:
    await key_source(db).keystore.engine.dispose()  # type: ignore[attr-defined]  # its connections: this test's loop
    await sign_in(client, world.admin)
    response = await post_form(client, "/admin/log/verify")
    job_id = uuid.UUID(response.headers["location"].rsplit("/", 1)[1])  # type: ignore[attr-defined]
    await wait_for(db, job_id, JobState.SUCCEEDED)  # the app's own runner takes it
    state = await chain_state(db, world.tenant.id)
    assert state.status == "ok" and state.full_checked_at is not None and state.unchecked == 0
    page = await client.get("/admin/log")
    assert "改ざんなし" in page.text and "全件検証: 20" in page.text


async def test_the_checkpoint_file_is_signed_holds_only_this_company_and_is_logged(
    client: Client, db: AsyncSession, world: World, log: Log, tmp_path: Path
) -> None:
    await note_checkpoint_run(db, await write_checkpoints(db))
    await db.commit()
    await key_source(db).keystore.engine.dispose()  # type: ignore[attr-defined]  # its connections: this test's loop
    await sign_in(client, world.admin)
    response = await post_form(client, "/admin/log/checkpoint")
    assert response.status_code == 200  # type: ignore[attr-defined]
    document = json.loads(response.content)  # type: ignore[attr-defined]
    assert [head["tenant_code"] for head in document["heads"]] == ["acme"]
    path = tmp_path / "checkpoint.json"
    path.write_bytes(response.content)  # type: ignore[attr-defined]
    heads = await read_checkpoint_file(key_source(db), path)
    assert [(c.tenant_id, c.seq) for c in heads] == [(world.tenant.id, document["heads"][0]["seq"])]
    logged = await db.execute(
        select(AuditEntry).where(
            AuditEntry.tenant_id == world.tenant.id, AuditEntry.function == "チェックポイントファイルのダウンロード"
        )
    )
    assert len(list(logged.scalars())) == 1


async def test_no_checkpoint_is_written_over_a_break_a_full_check_found(
    db: AsyncSession, world: World, log: Log
) -> None:
    """A break before the last checkpoint is invisible to the incremental scan: once a full check has found it, the
    periodic run reports it and signs no new checkpoint over it (tester's report, issue 11)."""
    await note_checkpoint_run(db, await write_checkpoints(db))
    await db.commit()
    raw = await acme_raw_id(db, world)
    await tamper(db, "UPDATE audit_entries SET function = 'x' WHERE seq = 5 AND tenant_id = :t", t=raw)
    assert not await verify_and_save(db, world.tenant.id)
    await db.commit()
    from app.audit.events import Actor, AuditEvent
    from app.audit.log import record

    await record(db, AuditEvent(world.tenant.id, AuditAction.VIEW, Actor.system(), "後から"))
    await db.commit()
    before = (await chain_state(db, world.tenant.id)).checkpoint_seq
    run = await write_checkpoints(db)
    assert world.tenant.id in run.broken and run.broken[world.tenant.id][0] == 5
    assert world.tenant.id not in [c.tenant_id for c in run.written]
    await note_checkpoint_run(db, run)
    await db.commit()
    state = await chain_state(db, world.tenant.id)
    assert (state.status, state.first_bad_seq, state.checkpoint_seq) == ("broken", 5, before)


async def test_without_a_checkpoint_the_file_is_refused_in_japanese_and_nothing_is_logged(
    client: Client, db: AsyncSession, world: World, log: Log
) -> None:
    await key_source(db).keystore.engine.dispose()  # type: ignore[attr-defined]  # its connections: this test's loop
    await sign_in(client, world.admin)
    response = await post_form(client, "/admin/log/checkpoint")
    assert response.status_code in (302, 303)  # type: ignore[attr-defined]
    assert response.headers["location"] == "/admin/log"  # type: ignore[attr-defined]
    assert "チェックポイントはまだ作成されていません" in (await client.get("/admin/log")).text
    logged = await db.execute(
        select(AuditEntry).where(
            AuditEntry.tenant_id == world.tenant.id, AuditEntry.function == "チェックポイントファイルのダウンロード"
        )
    )
    assert list(logged.scalars()) == []
