"""Imports by background jobs: a big file's check job, its report, its commit job; cancel, reload, restart; and
uploads that never spill to a temporary file."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import socket
import tempfile
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

import exchange.services._import_jobs as import_jobs
from app.config import Settings
from app.db import utcnow
from app.jobs import JobState, submit_job
from app.jobs.runner import INTERRUPTED_MESSAGE
from app.main import create_app
from app.vault import Vault
from exchange import Encoding, write_file
from exchange.controllers._jobs import UPLOAD_GONE
from exchange.layouts import SEED
from exchange.reading import NO_DATA_ROWS
from tests.exchange.importing import N, arrange, counters_match, csv_file, files_holding, snapshot
from tests.exchange.test_import_pages import GOOD, WITH_WARNING, post, upload
from tests.jobs.conftest import job_row, wait_for, wait_for_done
from tests.jobs.test_pages import actor_of
from tests.jobs.test_restart import mark_running
from tests.support.world import World, sign_in, step_up

Client = AsyncTestClient[Litestar]
JOB = re.compile(r"/admin/jobs/([0-9a-f-]{36})")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Runners that look for work five times a second."""
    return msgspec.structs.replace(settings, job_poll_seconds=0.2)


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of more than two rows go to a background job."""
    monkeypatch.setattr("exchange.controllers._import.SYNC_MAX_ROWS", 2)


def job_of(answer: Any) -> uuid.UUID:
    assert answer.status_code in (302, 303), answer.text[:300]
    found = JOB.fullmatch(answer.headers["location"])
    assert found, answer.headers["location"]
    return uuid.UUID(found.group(1))


async def checked(client: Client, db: AsyncSession, data: bytes) -> tuple[uuid.UUID, str]:
    """Upload a big file, wait for its check job; returns the job's id and the report page's path."""
    job_id = job_of(await upload(client, data))
    await wait_for(db, job_id, JobState.SUCCEEDED)
    page = await client.get(f"/admin/jobs/{job_id}")
    found = re.search(r'href="(/admin/imports/[0-9a-f-]{36})"', page.text)
    assert found and "確認結果を見て取り込む" in page.text
    return job_id, found.group(1)


async def test_a_big_file_is_checked_then_committed_by_jobs_and_its_numbers_are_registered(
    client: Client, vault: Vault, db: AsyncSession, world: World, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await arrange(db, vault, world)
    tenant_id = world.tenant.id
    await sign_in(client, world.admin)
    before = await snapshot(db, tenant_id)

    check_id, report_path = await checked(client, db, csv_file(SEED, WITH_WARNING, "cp932"))

    assert await snapshot(db, tenant_id) == before  # a check writes nothing
    check = await job_row(db, check_id)
    assert check.summary is not None and check.summary["登録する番号"] == 2 and check.summary["置き換える番号"] == 1
    assert check.summary["警告"] == 1
    page = await client.get(report_path)
    assert page.status_code == 200 and "警告を確認しました" in page.text
    assert "氏名が登録されている内容と違います" in page.text
    csv = await client.get(f"/admin/jobs/{check_id}/report")
    assert csv.headers["content-type"] == "text/csv; charset=Shift_JIS"
    assert csv.content.decode("cp932").splitlines()[0] == "行,列,区分,内容"
    assert (await client.get(f"{report_path}/report.csv")).content == csv.content
    numbers = [N[3], N[10], N[12]]
    for number in numbers:
        assert number not in page.text and number.encode() not in csv.content

    await step_up(client, world.admin)
    refused = await post(client, f"{report_path}/commit")  # warnings not accepted
    assert refused.status_code == 400  # type: ignore[attr-defined]
    commit_id = job_of(await post(client, f"{report_path}/commit", {"accepted": "on"}))
    commit = await wait_for(db, commit_id, JobState.SUCCEEDED)

    assert commit.summary is not None and (commit.summary["代理登録した番号"], commit.summary["置き換えた番号"]) == (
        2,
        1,
    )
    after = await snapshot(db, tenant_id)
    assert after.numbers == before.numbers + 3 and after.people == before.people  # the replaced one kept erased
    assert await counters_match(db, tenant_id)
    assert (await client.get(report_path)).status_code == 404  # the sealed upload is gone after the commit
    check_page = await client.get(f"/admin/jobs/{check_id}")  # field trial: its link still led to that 404
    assert "確認結果を見て取り込む" not in check_page.text and UPLOAD_GONE in check_page.text
    for number in numbers:
        assert number not in caplog.text
    if settings.is_sqlite:
        assert files_holding(Path(settings.data_dir), numbers) == []


async def test_only_who_uploaded_a_checked_file_is_offered_its_import(
    client: Client, vault: Vault, db: AsyncSession, world: World
) -> None:
    """Field trial: another handler opening the check job's page was offered 「確認結果を見て取り込む」, a 404."""
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    check_id, report_path = await checked(client, db, csv_file(SEED, GOOD, "cp932"))

    await sign_in(client, world.handler)
    page = await client.get(f"/admin/jobs/{check_id}")

    assert page.status_code == 200 and "確認結果を見て取り込む" not in page.text
    assert "読み込んだ方" in page.text and "だけが確認結果を見て取り込めます" in page.text
    assert (await client.get(report_path)).status_code == 404


HOLD_SECONDS = 30.0


def holding(real: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``commit_import`` that, once it has written everything, keeps reporting progress before the job's commit."""

    async def commit_then_hold(*args: Any, **kwargs: Any) -> Any:
        outcome = await real(*args, **kwargs)
        progress = args[7]
        deadline = asyncio.get_running_loop().time() + HOLD_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            await progress(99, 100)
            await asyncio.sleep(0.05)
        return outcome

    return commit_then_hold


async def test_a_commit_job_cancelled_before_its_commit_writes_nothing_and_its_page_survives_a_reload(
    client: Client, vault: Vault, db: AsyncSession, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await arrange(db, vault, world)
    tenant_id = world.tenant.id
    await sign_in(client, world.admin)
    before = await snapshot(db, tenant_id)
    _, report_path = await checked(client, db, csv_file(SEED, GOOD))
    monkeypatch.setattr(import_jobs, "commit_import", holding(import_jobs.commit_import))
    await step_up(client, world.admin)

    commit_id = job_of(await post(client, f"{report_path}/commit"))
    await wait_for(db, commit_id, JobState.RUNNING)
    await wait_for_done(db, commit_id, 99)  # every row written in the job's transaction, not committed
    for _ in range(2):  # a reload reads the table again
        page = await client.get(f"/admin/jobs/{commit_id}")
        assert page.status_code == 200 and "実行中" in page.text and "キャンセル</button>" in page.text
    cancelled = await post(client, f"/admin/jobs/{commit_id}/cancel")
    assert cancelled.status_code in (302, 303)  # type: ignore[attr-defined]

    job = await wait_for(db, commit_id, JobState.CANCELLED)
    assert "保存されていません" in job.message
    assert await snapshot(db, tenant_id) == before
    assert await counters_match(db, tenant_id)


async def test_an_import_job_cut_by_a_restart_is_failed_when_the_app_starts_with_nothing_written(
    app: Litestar, db: AsyncSession, world: World, settings: Settings
) -> None:
    vault: Vault = app.state["vault"]
    await arrange(db, vault, world)
    tenant_id = world.tenant.id
    before = await snapshot(db, tenant_id)
    job = await submit_job(
        db,
        vault,
        tenant_id=tenant_id,
        actor=actor_of(world.admin),
        kind=import_jobs.IMPORT_COMMIT,
        title="ファイルの取込（numbers.csv）",
        payload=csv_file(SEED, GOOD),
        params={"layout": "seed", "accepted": False},
    )
    await db.commit()
    await mark_running(db, job.id, f"{socket.gethostname()}:{os.getpid()}:0badcafe", utcnow())  # this process, before

    restarted = create_app(settings)
    async with AsyncTestClient(app=restarted, base_url="http://testserver.local") as client:
        failed = await wait_for(db, job.id, JobState.FAILED, within=10)
        assert failed.message == INTERRUPTED_MESSAGE
        await sign_in(client, world.admin)
        page = await client.get(f"/admin/jobs/{job.id}")
        assert page.status_code == 200 and "中断されました" in page.text
    after = await snapshot(db, tenant_id)
    assert (after.people, after.numbers) == (before.people, before.numbers)  # (the sign-in is logged)


async def test_a_workbook_is_checked_by_a_job(client: Client, vault: Vault, db: AsyncSession, world: World) -> None:
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    workbook = b"".join(write_file(SEED.columns, [["", "002", "山田 一郎", "", "", "", N[3]]], Encoding.XLSX))
    job_id = job_of(await upload(client, workbook, filename="numbers.xlsx"))
    job = await wait_for(db, job_id, JobState.SUCCEEDED)
    assert job.summary is not None and job.summary["登録する番号"] == 1 and job.summary["エラー"] == 0


def _zip_of(names: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in names.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("workbook", "told"),
    [
        (
            lambda: _zip_of({"xl/workbook.xml": b"junk", "readme.txt": b"hello"}),
            "Excel ブック（.xlsx）として読めません。",
        ),
        (lambda: b"".join(write_file(SEED.columns, [], Encoding.XLSX)), NO_DATA_ROWS),
    ],
    ids=["damaged workbook", "header alone"],
)
async def test_a_workbook_that_cannot_be_imported_fails_its_job_with_the_reason(
    client: Client, vault: Vault, db: AsyncSession, world: World, workbook: Callable[[], bytes], told: str
) -> None:
    """Field trial: a zip of junk named .xlsx ended its check job as 完了 (a green badge) with the refusal hidden in
    the report; a file that cannot be imported at all fails its job, and the job's page says why."""
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    job_id = job_of(await upload(client, workbook(), filename="numbers.xlsx"))
    job = await wait_for(db, job_id, JobState.FAILED)
    assert job.message is not None and job.message.startswith(told)
    page = await client.get(f"/admin/jobs/{job_id}")
    assert page.status_code == 200 and "失敗" in page.text and told in page.text
    assert "確認結果を見て取り込む" not in page.text


async def test_an_upload_over_two_megabytes_stays_in_memory_and_is_imported(
    client: Client, vault: Vault, db: AsyncSession, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    rows = [*(f"*,{k:06d},名前,,,," for k in range(110_000)), f",002,山田 一郎,,,,{N[3]}"]
    data = csv_file(SEED, rows)
    assert len(data) > 2_000_000
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    made: list[str] = []
    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        real = getattr(tempfile, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            made.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(tempfile, name, spy)

    job_id = job_of(await upload(client, data, filename="big.csv"))

    assert made == [] and list(private.iterdir()) == []
    job = await wait_for(db, job_id, JobState.SUCCEEDED, within=120)
    assert job.summary is not None and job.summary["行数"] == 110_001 and job.summary["処理スキップ"] == 110_000


async def test_the_lists_answer_while_an_import_job_holds_its_written_rows(
    client: Client, vault: Vault, db: AsyncSession, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9: the employee and payee pages stay usable while an import runs in the same process (the job's
    work yields to the event loop; reads never wait for its write transaction)."""
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    _, report_path = await checked(client, db, csv_file(SEED, GOOD))
    monkeypatch.setattr(import_jobs, "commit_import", holding(import_jobs.commit_import))
    await step_up(client, world.admin)
    commit_id = job_of(await post(client, f"{report_path}/commit"))
    await wait_for_done(db, commit_id, 99)  # every row written in the job's open transaction

    loop = asyncio.get_running_loop()
    for path in ("/admin/numbers", "/admin/people", "/admin/payees", "/admin", "/healthz"):
        started = loop.time()
        page = await client.get(path)
        assert page.status_code == 200, (path, page.status_code)
        assert loop.time() - started < 5, path  # not behind the job (SQLite's busy timeout is 15 s)
    await post(client, f"/admin/jobs/{commit_id}/cancel")
    await wait_for(db, commit_id, JobState.CANCELLED)
    for page in ("-1", "0", "99999999999", "abc", "２"):  # field trial: a generic 400; every other list: page 1
        listed = await client.get("/admin/jobs", params={"page": page})
        assert listed.status_code == 200, page
        assert "numbers.xlsx" in listed.text or "取込" in listed.text, page
