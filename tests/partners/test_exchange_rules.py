"""The file exchange's rules: refusals (nothing half-written), sealing, isolation, roles, expiry, the badge cap."""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import AuditAction
from app.blobs import LocalBlobStore
from app.config import Settings
from app.db import utcnow
from app.documents import storage_used, wait_for_cleanup
from app.forms import FormInvalid
from app.retention import retention_kinds, run_retention
from partners.models import ExchangeFile, LinkPower, LinkStatus, PartnerLink, exchange_blob_key
from partners.retention import KIND
from partners.services import FileFilters, list_files, send_files, unread_count
from tests.partners.exchange_support import pdf, post, rows, send
from tests.support.audit import entries
from tests.support.page_plans import plans_of
from tests.support.partners import Office, make_link, make_office
from tests.support.principals import principal_of
from tests.support.world import World, sign_in


def _zip_bomb() -> bytes:
    """30 MB of zeros deflated to about 30 KB (a ratio far past what an archive of documents has)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\x00" * (30 * 1024 * 1024))
    return buffer.getvalue()


BOMB = _zip_bomb()


def _blobs(settings: Settings) -> list[bytes]:
    root = LocalBlobStore(settings.effective_blob_dir).root / "exchange"
    return [path.read_bytes() for path in root.rglob("*") if path.is_file()] if root.exists() else []


async def _office_with_link(app: Litestar, db: AsyncSession, settings: Settings, world: World) -> Office:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.FILES)
    return office


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("請求書.pdf", b"MZ\x90\x00" + b"\x00" * 60, "プログラム（Windows）"),  # a renamed .exe
        ("手順.txt", b"#!/bin/sh\nrm -rf /\n", "プログラム（スクリプト）"),
        ("setup.exe", b"just text", "実行できる形式（.exe）"),
        ("資料.zip", BOMB, "展開すると極端に大きくなる"),  # a zip bomb: archives are accepted
    ],
)
async def test_one_refused_file_among_good_ones_stores_nothing(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    world: World,
    db: AsyncSession,
    settings: Settings,
    name: str,
    content: bytes,
    said: str,
) -> None:
    office = await _office_with_link(app, db, settings, world)
    await sign_in(client, world.admin)
    good = [("良い.pdf", pdf("good")), ("良い2.pdf", pdf("good 2"))]
    refused = await send(client, "/admin/files/", [*good, (name, content)], office_id=office.tenant.id)
    assert refused.status_code == 400  # type: ignore[attr-defined]
    text = refused.text  # type: ignore[attr-defined]
    assert f"「{name}」" in text and said in text and "どのファイルも送信していません" in text
    await wait_for_cleanup()
    assert await rows(db) == [] and _blobs(settings) == []
    assert await entries(db, world.tenant.id, AuditAction.FILE_SEND) == []
    assert await storage_used(db, world.tenant.id, area="exchange") == 0


async def test_oversize_empty_too_many_and_long_messages_are_refused_in_japanese(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_link(app, db, settings, world)
    await sign_in(client, world.admin)
    big = b"%PDF" + b"x" * settings.exchange_max_file_bytes
    oversize = await send(client, "/admin/files/", [("大きい.pdf", big)], office_id=office.tenant.id)
    assert oversize.status_code == 400 and "「大きい.pdf」" in oversize.text and "10MBまで" in oversize.text  # type: ignore[attr-defined]
    nothing = await send(client, "/admin/files/", [], office_id=office.tenant.id)
    assert nothing.status_code == 400 and "送信するファイルを選んでください" in nothing.text  # type: ignore[attr-defined]
    many = [(f"{n}.pdf", pdf(str(n))) for n in range(6)]
    too_many = await send(client, "/admin/files/", many, office_id=office.tenant.id)
    assert too_many.status_code == 400 and "5ファイルまで" in too_many.text  # type: ignore[attr-defined]
    long = await send(client, "/admin/files/", [("a.pdf", pdf("a"))], message="あ" * 2001, office_id=office.tenant.id)
    assert long.status_code == 400 and "2,000文字以内" in long.text  # type: ignore[attr-defined]
    no_office = await send(client, "/admin/files/", [("a.pdf", pdf("a"))], office_id="")
    assert no_office.status_code == 400 and "送信先の社労士事務所を選んでください" in no_office.text  # type: ignore[attr-defined]
    await wait_for_cleanup()
    assert await rows(db) == [] and _blobs(settings) == []


async def test_a_message_or_file_name_that_may_hold_a_my_number_is_refused_and_not_shown_back(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_link(app, db, settings, world)
    await sign_in(client, world.admin)
    said = await send(
        client, "/admin/files/", [("a.pdf", pdf("a"))], message="番号は 1234 5678 9018 です", office_id=office.tenant.id
    )
    assert said.status_code == 400 and "12桁以上の数字" in said.text  # type: ignore[attr-defined]
    assert "5678" not in said.text  # type: ignore[attr-defined]
    named = await send(client, "/admin/files/", [("山田_123456789018.pdf", pdf("a"))], office_id=office.tenant.id)
    assert named.status_code == 400 and "ファイル名を変えてから" in named.text  # type: ignore[attr-defined]
    assert "123456789018" not in named.text  # type: ignore[attr-defined]
    await wait_for_cleanup()
    assert await rows(db) == [] and _blobs(settings) == []


async def test_the_quota_refuses_a_send_that_would_pass_it(
    app: Litestar, world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_link(app, db, settings, world)
    small = msgspec.structs.replace(settings, exchange_quota_bytes=200)  # one sealed 70-byte file fits, two do not
    store = LocalBlobStore(settings.effective_blob_dir)
    vault = app.state["vault"]
    principal = principal_of(world.admin)
    sent = await send_files(
        db, vault, store, small, principal, to=office.tenant.id, files=[("a.pdf", pdf("a" * 60))], message=""
    )
    await db.commit()
    assert len(sent) == 1
    with pytest.raises(FormInvalid) as refused:
        await send_files(
            db, vault, store, small, principal, to=office.tenant.id, files=[("b.pdf", pdf("b" * 60))], message=""
        )
    assert "保存容量" in refused.value.message
    await db.rollback()
    await wait_for_cleanup()
    assert [f.file_name for f in await rows(db)] == ["a.pdf"] and len(_blobs(settings)) == 1


async def test_nothing_is_kept_in_clear(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_link(app, db, settings, world)
    await sign_in(client, world.admin)
    secret = "マイナンバー一覧 山田太郎 NUMBERLIST-7f3a"
    await send(client, "/admin/files/", [("一覧.csv", secret.encode())], office_id=office.tenant.id)
    (sealed,) = _blobs(settings)
    assert secret.encode() not in sealed and b"NUMBERLIST-7f3a" not in sealed
    (file,) = await rows(db)
    assert file.sealed_size == len(sealed) and file.size == len(secret.encode())
    assert (await client.get(f"/admin/files/{file.id}/download")).content == secret.encode()


async def test_outsiders_get_404_on_every_route(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_link(app, db, settings, world)
    other_office = await make_office(db, settings, app.state["vault"], code="sr-other", name="他社労士事務所")
    await make_link(db, world.other_tenant, other_office.tenant, LinkPower.FILES)
    await sign_in(client, world.admin)
    await send(client, "/admin/files/", [("acme.pdf", pdf("acme"))], office_id=office.tenant.id)
    (file,) = await rows(db)
    # Sending to an office it is not linked with is refused like a wrong choice.
    refused = await send(client, "/admin/files/", [("x.pdf", pdf("x"))], office_id=other_office.tenant.id)
    assert refused.status_code == 400  # type: ignore[attr-defined]

    async def every_route_404(prefix: str) -> None:
        for path in (f"{prefix}/{file.id}", f"{prefix}/{file.id}/download", f"{prefix}/{uuid.uuid4()}", f"{prefix}/x"):
            assert (await client.get(path)).status_code == 404, path
        for action in ("save", "delete"):
            response = await post(client, f"{prefix}/{file.id}/{action}", {"save_as": "normal"})
            assert response.status_code == 404, action  # type: ignore[attr-defined]

    await sign_in(client, world.other_admin)
    await every_route_404("/admin/files")
    assert "acme.pdf" not in (await client.get("/admin/files")).text
    await sign_in(client, other_office.staff)
    await every_route_404("/partner/files")
    assert "acme.pdf" not in (await client.get("/partner/files")).text
    assert (await client.get(f"/partner/clients/{world.tenant.id}/files/new")).status_code == 404
    sent = await send(client, f"/partner/clients/{world.tenant.id}/files", [("x.pdf", pdf("x"))])
    assert sent.status_code == 404  # type: ignore[attr-defined]
    assert len(await rows(db)) == 1


async def test_an_ended_link_hides_the_clients_files_from_the_office_at_once(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_link(app, db, settings, world)
    await sign_in(client, office.staff)
    await send(client, f"/partner/clients/{world.tenant.id}/files", [("x.pdf", pdf("x"))])
    (file,) = await rows(db)
    assert (await client.get(f"/partner/files/{file.id}")).status_code == 200
    await db.execute(update(PartnerLink).values(status=LinkStatus.ENDED, ended_at=utcnow()))
    await db.commit()
    for path in (
        f"/partner/files/{file.id}",
        f"/partner/files/{file.id}/download",
        f"/partner/clients/{world.tenant.id}/files/new",
    ):
        assert (await client.get(path)).status_code == 404, path
    for action in ("save", "delete"):
        assert (await post(client, f"/partner/files/{file.id}/{action}")).status_code == 404  # type: ignore[attr-defined]
    assert (await send(client, f"/partner/clients/{world.tenant.id}/files", [("y.pdf", pdf("y"))])).status_code == 404  # type: ignore[attr-defined]
    assert "x.pdf" not in (await client.get("/partner/files")).text
    assert "新しいファイル" not in (await client.get("/partner")).text
    # The client still has its file (and may delete it), but cannot send to the office any more.
    await sign_in(client, world.admin)
    assert "x.pdf" in (await client.get("/admin/files")).text
    refused = await send(client, "/admin/files/", [("z.pdf", pdf("z"))], office_id=office.tenant.id)
    assert refused.status_code == 400  # type: ignore[attr-defined]


async def test_viewers_employees_and_staff_working_inside_a_client_have_no_exchange(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.NUMBERS)
    for persona in (world.viewer, world.employee):
        await sign_in(client, persona)
        assert (await client.get("/admin/files")).status_code == 403
        assert (await client.get("/admin/files/new")).status_code == 403
        assert (await client.get("/partner/files")).status_code in (403, 404)
    await sign_in(client, world.admin)
    assert (await client.get("/partner/files")).status_code == 403
    client.cookies.clear()
    assert (await client.get("/admin/files", follow_redirects=False)).status_code in (302, 303)
    await sign_in(client, office.staff)
    assert (await client.get("/admin/files")).status_code == 404  # an office's account never sees a client's page
    entered = await post(client, f"/partner/clients/{world.tenant.id}/enter")
    assert entered.status_code == 302  # type: ignore[attr-defined]
    assert (await client.get("/admin/files")).status_code == 404  # inside the client: the office's pages exchange
    assert (await client.get("/partner/files")).status_code == 200
    # Missing CSRF token: refused.
    response = await client.post(
        f"/partner/clients/{world.tenant.id}/files", files=[("files", ("a.pdf", pdf("a"), "application/pdf"))]
    )
    assert response.status_code == 403 and await rows(db) == []


async def test_the_retention_run_deletes_unsaved_files_past_their_time(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    world: World,
    db: AsyncSession,
    settings: Settings,
    test_databases: object,
) -> None:
    office = await _office_with_link(app, db, settings, world)
    await make_link(db, world.other_tenant, office.tenant, LinkPower.FILES)
    await sign_in(client, office.staff)
    await send(client, f"/partner/clients/{world.tenant.id}/files", [("old.pdf", pdf("o")), ("kept.pdf", pdf("k"))])
    await send(client, f"/partner/clients/{world.tenant.id}/files", [("new.pdf", pdf("n"))])
    await send(client, f"/partner/clients/{world.other_tenant.id}/files", [("other.pdf", pdf("x"))])
    files = {f.file_name: f for f in await rows(db)}
    await sign_in(client, world.admin)
    await post(client, f"/admin/files/{files['kept.pdf'].id}/save", {"save_as": "normal"})
    past = utcnow() - dt.timedelta(minutes=1)
    for name in ("old.pdf", "kept.pdf", "other.pdf"):
        await db.execute(
            update(ExchangeFile)
            .where(ExchangeFile.id == files[name].id)
            .values(expires_at=past, created_at=past - dt.timedelta(days=30))
        )
    await db.commit()
    (kind,) = [k for k in retention_kinds() if k.name == KIND]
    sessions = async_sessionmaker(db.bind, expire_on_commit=False)
    report = await run_retention(sessions, kinds=[kind], batch=1)
    assert sum(report.removed.values()) == 2 and not report.failed
    assert sorted(f.file_name for f in await rows(db)) == ["kept.pdf", "new.pdf"]
    store = LocalBlobStore(settings.effective_blob_dir)
    assert not (store.root / exchange_blob_key(world.tenant.id, files["old.pdf"].id)).exists()
    assert (store.root / exchange_blob_key(world.tenant.id, files["kept.pdf"].id)).exists()
    for tenant_id in (world.tenant.id, world.other_tenant.id):
        (removal,) = await entries(db, tenant_id, AuditAction.FILE_DELETE)
        assert removal.actor_role == "system" and removal.detail["by"] == "retention"
        (summary,) = await entries(db, tenant_id, AuditAction.MAINTENANCE)
        assert summary.detail["kind"] == KIND and summary.detail["count"] == 1
    assert await storage_used(db, world.other_tenant.id, area="exchange") == 0


async def test_the_badge_stops_counting_at_100(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_link(app, db, settings, world)
    await sign_in(client, office.staff)
    await send(client, f"/partner/clients/{world.tenant.id}/files", [("seed.pdf", pdf("s"))])
    (seed,) = await rows(db)
    now = utcnow()
    for n in range(120):
        db.add(
            ExchangeFile(
                tenant_id=world.tenant.id,
                partner_id=office.tenant.id,
                link_id=seed.link_id,
                batch_id=uuid.uuid4(),
                sender_side=seed.sender_side,
                sender_name="x",
                file_name=f"{n}.pdf",
                content_type="application/pdf",
                size=1,
                sealed_size=1,
                sha256="0" * 64,
                expires_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    await db.commit()
    await sign_in(client, world.admin)
    home = await client.get("/admin")
    assert 'data-unread="100"' in home.text and ">99+<" in home.text
    assert "新しいファイルが 99+ 件届いています" in home.text


async def test_the_lists_and_the_badge_read_index_ranges(
    app: Litestar, world: World, db: AsyncSession, settings: Settings
) -> None:
    if db.bind.dialect.name != "sqlite":
        pytest.skip("SQLite's EXPLAIN QUERY PLAN")
    office = await _office_with_link(app, db, settings, world)
    client_side, office_side = principal_of(world.admin), principal_of(office.staff)
    calls = [
        lambda: list_files(db, client_side, FileFilters()),
        lambda: list_files(db, office_side, FileFilters(kind="unread")),
        lambda: unread_count(db, client_side),
        lambda: unread_count(db, office_side),
    ]
    for call in calls:
        _, plans = await plans_of(db, call)
        for plan in plans:
            assert plan.full_scans({"exchange_files", "partner_links"}) == [], plan.text
            assert "exchange_files" not in plan.sql or "LIMIT" in plan.sql, plan.sql


async def test_a_file_whose_bytes_are_lost_or_altered_is_never_served(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_link(app, db, settings, world)
    await sign_in(client, world.admin)
    await send(client, "/admin/files/", [("a.pdf", pdf("a")), ("b.pdf", pdf("b"))], office_id=office.tenant.id)
    a, b = await rows(db)
    root = LocalBlobStore(settings.effective_blob_dir).root
    (root / exchange_blob_key(world.tenant.id, a.id)).unlink()
    swapped = root / exchange_blob_key(world.tenant.id, b.id)
    swapped.write_bytes(swapped.read_bytes()[:-1] + b"\x00")
    for file in (a, b):
        response = await client.get(f"/admin/files/{file.id}/download", follow_redirects=True)
        assert response.status_code == 200 and "失われたか破損している" in response.text
    assert await entries(db, world.tenant.id, AuditAction.FILE_DOWNLOAD) == []
