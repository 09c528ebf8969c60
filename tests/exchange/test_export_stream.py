"""The export service: batches keep families whole, an abandoned stream logs nothing, the request's checks."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import openpyxl
import pytest
from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy.ext.asyncio import AsyncSession

import exchange.services._export as export_module
from app.audit.log import verify_chain
from app.auth.principal import StepUpRequired
from app.config import Settings
from app.forms import FormInvalid
from app.vault import Vault
from exchange.encoding import CsvWriter, Encoding, XlsxWriter, write_csv, write_xlsx
from exchange.layouts import FULL, SEED
from exchange.services import (
    MAX_PERSON_IDS,
    ExportRequest,
    ExportSelection,
    UnencodableCharacters,
    plan_export,
    stream_export,
)
from tests.exchange.export_support import PURPOSE, Client, Office, arrange, exports_logged, read_rows
from tests.exchange.samples import families
from tests.support.principals import principal_of
from tests.support.world import World, csrf_token, sign_in, step_up


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


@pytest.fixture
async def office(db: AsyncSession, vault: Vault, world: World) -> Office:
    return await arrange(db, vault, world)


def numbers_request(**changes: Any) -> ExportRequest:
    values: dict[str, Any] = {
        "layout": "full",
        "encoding": Encoding.UTF8_BOM,
        "with_numbers": True,
        "purpose": PURPOSE,
    }
    values.update(changes)
    return ExportRequest(**values)


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


# Batches ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 2, 3, 1000])
async def test_small_batches_keep_families_whole_and_write_each_person_once(
    db: AsyncSession, vault: Vault, world: World, office: Office, batch_size: int
) -> None:
    principal = principal_of(world.admin)
    plan = await plan_export(db, principal, numbers_request())
    content = await collect(stream_export(db, vault, principal, principal.actor(), plan, batch_size=batch_size))

    rows = read_rows(content, "utf-8-sig")
    header = rows[0]
    assert [(r[header.index("社員コード")], r[header.index("扶養No")]) for r in rows[1:]] == [
        ("0007", ""),
        ("001", ""),
        ("1000", ""),
        ("104", ""),
        ("104", "1"),
        ("104", "2"),
        ("300", ""),
        ("301", ""),
    ]
    assert plan.people == plan.rows == 8 and plan.not_notified == 2
    assert len(await exports_logged(db, world)) == 8


async def test_the_stream_reports_what_it_replaced(
    db: AsyncSession, vault: Vault, world: World, office: Office
) -> None:
    principal = principal_of(world.admin)
    plan = await plan_export(db, principal, numbers_request(encoding=Encoding.CP932, replace_unencodable=True))
    stream = stream_export(db, vault, principal, principal.actor(), plan)
    content = await collect(stream)
    assert "〓田 太郎" in content.decode("cp932")
    assert stream.people == 8 and stream.report_count == 2
    assert sorted(issue.char for issue in stream.report) == ["葛\U000e0100", "𠮷"]


# Abandoned ----------------------------------------------------------------------------------------------------------


async def test_an_abandoned_stream_logs_nothing_and_lets_the_next_one_through(
    db: AsyncSession, vault: Vault, world: World, office: Office
) -> None:
    principal = principal_of(world.admin)
    plan = await plan_export(db, principal, numbers_request())
    stream = stream_export(db, vault, principal, principal.actor(), plan, batch_size=2)
    assert await stream.__anext__()  # the header, sent once the first batch (opened and logged) is made
    assert await stream.__anext__()
    assert stream.people >= 3  # opened and logged, not yet committed
    await stream.aclose()
    assert await exports_logged(db, world) == []

    again = stream_export(db, vault, principal, principal.actor(), plan, batch_size=2)
    await collect(again)  # SQLite: waits 15 s and fails if the first transaction still held the write lock
    assert len(await exports_logged(db, world)) == 8
    assert (await verify_chain(db, world.tenant.id)).ok  # the rolled-back batches left no gap in the chain


async def test_a_client_gone_mid_download_rolls_the_export_back(
    client: Client, world: World, db: AsyncSession, office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "BATCH_PEOPLE", 2)
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    token = await csrf_token(client)
    body = urlencode(
        {"layout": "full", "encoding": "utf-8-sig", "numbers": "1", "purpose": PURPOSE, "_csrf_token": token}
    ).encode()
    cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/admin/exports/download",
        "raw_path": b"/admin/exports/download",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver.local"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
            (b"cookie", cookies.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
        "state": {},
        "extensions": {},
    }

    async def drive() -> list[dict[str, Any]]:
        """The request as a browser whose tab closes after two chunks (on the app's own event loop)."""
        gone = asyncio.Event()
        sent: list[dict[str, Any]] = []
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if sum(1 for m in sent if m["type"] == "http.response.body" and m.get("body")) >= 2:
                gone.set()
                await asyncio.sleep(0.05)  # the next chunk waits on a slow network: cancelled there

        await asyncio.wait_for(client.app(scope, receive, send), timeout=30)  # type: ignore[arg-type]
        return sent

    # The test client serves the app from a portal thread with its own loop (its connections live there).
    sent = await asyncio.to_thread(client.blocking_portal.call, drive)

    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert not any(m["type"] == "http.response.body" and m.get("more_body") is False for m in sent)
    assert await exports_logged(db, world) == []
    # The transaction was rolled back at once: the next export goes through (SQLite would otherwise be locked).
    complete = await client.post(
        "/admin/exports/download",
        data={"layout": "full", "encoding": "utf-8-sig", "numbers": "1", "purpose": PURPOSE, "_csrf_token": token},
    )
    assert complete.status_code == 200
    assert len(await exports_logged(db, world)) == 8


# Checks -------------------------------------------------------------------------------------------------------------


async def test_a_blocked_plan_cannot_be_streamed(db: AsyncSession, vault: Vault, world: World, office: Office) -> None:
    principal = principal_of(world.admin)
    plan = await plan_export(db, principal, numbers_request(encoding=Encoding.CP932))
    assert plan.blocked and plan.refused_count == 1
    with pytest.raises(UnencodableCharacters) as refused:
        stream_export(db, vault, principal, principal.actor(), plan)
    assert [issue.char for issue in refused.value.issues] == ["𠮷"]
    assert "1か所" in refused.value.message
    assert await exports_logged(db, world) == []


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"layout": "payroll"}, "layout"),
        ({"encoding": "shift_jis"}, "encoding"),
        ({"numbers": "maybe"}, "numbers"),
        ({"year": "平成32"}, "year"),  # 平成 ended in its 31st year
    ],
)
def test_unreadable_values_are_named_in_japanese(values: dict[str, str], field: str) -> None:
    with pytest.raises(FormInvalid) as invalid:
        ExportRequest.from_params(values)
    assert list(invalid.value.errors) == [field]


def test_a_request_reads_back_from_its_own_params() -> None:
    request = ExportRequest(
        layout="withholding",
        encoding=Encoding.XLSX,
        selection=ExportSelection(person_ids=("a", "b")),
        with_numbers=True,
        purpose=PURPOSE,
        year=2025,
    )
    pairs = request.params()
    single = {k: v for k, v in pairs if k != "person"}
    assert ExportRequest.from_params(single, [v for k, v in pairs if k == "person"]) == request


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (numbers_request(layout="withholding", year=2010), "year"),
        (numbers_request(replace_unencodable=True), "replace"),
        (numbers_request(selection=ExportSelection(kind="robot")), "kind"),
        (numbers_request(selection=ExportSelection(status="lost")), "status"),
        (numbers_request(selection=ExportSelection(person_ids=("x",) * (MAX_PERSON_IDS + 1))), "person"),
        (numbers_request(purpose=None), "purpose"),
    ],
)
async def test_bad_requests_are_refused_with_the_field_to_fix(
    db: AsyncSession, world: World, request_: ExportRequest, field: str
) -> None:
    with pytest.raises(FormInvalid) as invalid:
        await plan_export(db, principal_of(world.admin), request_)
    assert field in invalid.value.errors


async def test_numbers_need_the_role_and_a_fresh_step_up(db: AsyncSession, world: World) -> None:
    with pytest.raises(PermissionDeniedException):
        await plan_export(db, principal_of(world.viewer), numbers_request())
    stale = dataclasses.replace(principal_of(world.handler), stepup_fresh=False)
    with pytest.raises(StepUpRequired):
        await plan_export(db, stale, numbers_request())
    plan = await plan_export(db, stale, numbers_request(with_numbers=False, purpose=None))
    assert plan.people == 0  # nobody arranged here; a list export needs no step-up


async def test_another_tenants_people_are_404(db: AsyncSession, world: World, office: Office) -> None:
    principal = principal_of(world.other_admin)
    for ids in ((office["kawai"].id,), (str(uuid.uuid4()),), ("nonsense",)):
        with pytest.raises(NotFoundException):
            await plan_export(db, principal, numbers_request(selection=ExportSelection(person_ids=ids)))
    department = ExportSelection(department=str(office.departments["101"].id))
    with pytest.raises(NotFoundException):
        await plan_export(db, principal, numbers_request(selection=department))


# The writers the stream uses ----------------------------------------------------------------------------------------


def test_the_batch_writers_write_what_the_streamed_writers_write() -> None:
    rows = list(FULL.table(families()))
    csv_writer = CsvWriter(FULL.columns, encoding=Encoding.UTF8_BOM)
    by_batches = csv_writer.start() + b"".join(csv_writer.write(rows[i : i + 3]) for i in range(0, len(rows), 3))
    assert by_batches + csv_writer.finish() == b"".join(write_csv(FULL.columns, rows, encoding=Encoding.UTF8_BOM))

    chosen = [f for f in families() if f.role in SEED.roles]
    seed_rows = list(SEED.table(chosen))
    xlsx_writer = XlsxWriter(SEED.columns)
    parts = [xlsx_writer.start(), *(xlsx_writer.write([row]) for row in seed_rows), xlsx_writer.finish()]

    def values(data: bytes) -> list[tuple[Any, ...]]:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        try:
            return list(workbook.worksheets[0].iter_rows(values_only=True))
        finally:
            workbook.close()

    assert values(b"".join(parts)) == values(b"".join(write_xlsx(SEED.columns, seed_rows)))
