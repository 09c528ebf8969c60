"""The file exchange (Cellsドライブ): sending both ways, the lists, 閲覧済, 保存 通常/機密, deleting, the logs."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.models import Account
from app.blobs import LocalBlobStore
from app.config import Settings
from app.documents import storage_used
from partners.models import ExchangeFile, FileSave, LinkPower, LinkSide, exchange_blob_key
from partners.services import FILES_PER_PAGE
from tests.partners.exchange_support import pdf, post, rows, send
from tests.support.audit import entries
from tests.support.partners import make_link, make_office
from tests.support.world import World, second_device, sign_in


async def test_a_client_sends_files_and_the_office_downloads_them_once_read(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.FILES)
    await sign_in(client, world.handler)
    form = await client.get("/admin/files/new")
    assert form.status_code == 200 and office.tenant.name in form.text
    sent = await send(
        client,
        "/admin/files/",
        [("入社連絡票.pdf", pdf("入社 山田")), ("扶養 異動.pdf", pdf("扶養"))],
        message="今月の入社分です。\nよろしくお願いします。",
        office_id=office.tenant.id,
    )
    assert sent.status_code == 302, getattr(sent, "text", "")[:800]  # type: ignore[attr-defined]
    files = await rows(db)
    assert [f.file_name for f in files] == ["入社連絡票.pdf", "扶養 異動.pdf"]
    assert len({f.batch_id for f in files}) == 1 and files[0].sender_side is LinkSide.CLIENT
    assert files[0].expires_at is not None and files[0].read_at is None
    assert files[0].expires_at - files[0].created_at == dt.timedelta(days=settings.exchange_keep_days)
    listing = await client.get("/admin/files")
    assert "入社連絡票.pdf" in listing.text and "送信" in listing.text and office.tenant.name in listing.text
    used = await storage_used(db, world.tenant.id, area="exchange")
    assert used == sum(f.sealed_size for f in files)

    with second_device(client, httpx.Cookies()):
        await sign_in(client, office.staff)
        home = await client.get("/partner")
        assert "新しいファイルが 2 件届いています" in home.text
        assert 'data-unread="2"' in home.text  # the nav's badge
        page = await client.get("/partner/files?kind=unread")
        assert "入社連絡票.pdf" in page.text and world.tenant.name in page.text
        detail = await client.get(f"/partner/files/{files[0].id}")
        assert "よろしくお願いします" in detail.text and "扶養 異動.pdf" in detail.text
        download = await client.get(f"/partner/files/{files[0].id}/download")
        assert download.status_code == 200 and download.content == pdf("入社 山田")
        assert download.headers["content-disposition"].endswith(
            "filename*=UTF-8''%E5%85%A5%E7%A4%BE%E9%80%A3%E7%B5%A1%E7%A5%A8.pdf"
        )
        assert download.headers["x-content-type-options"] == "nosniff"
        assert "no-store" in download.headers["cache-control"]
        home = await client.get("/partner")
        assert "新しいファイルが 1 件届いています" in home.text
        await client.get(f"/partner/files/{files[0].id}/download")  # a second download changes nothing

    files = await rows(db)
    assert files[0].read_at is not None and files[0].read_by_name == "山田 花子" and files[1].read_at is None
    listing = await client.get("/admin/files")
    assert "閲覧済" in listing.text
    # The client downloading its own file does not make it read.
    await client.get(f"/admin/files/{files[1].id}/download")
    assert (await rows(db))[1].read_at is None
    sends = await entries(db, world.tenant.id, AuditAction.FILE_SEND)
    assert len(sends) == 2 and sends[0].actor_name == world.handler.account.name
    assert sends[0].actor_partner_id is None and sends[0].detail["tenant_name"] == office.tenant.name
    downloads = await entries(db, world.tenant.id, AuditAction.FILE_DOWNLOAD)
    assert len(downloads) == 3
    by_office = [d for d in downloads if d.actor_partner_id == office.tenant.id]
    assert len(by_office) == 2 and office.tenant.name in by_office[0].actor_name
    assert by_office[0].detail["first_read"] is True and by_office[1].detail["first_read"] is False
    # The office's cross-client log shows its staff's downloads.
    with second_device(client, httpx.Cookies()):
        await sign_in(client, office.admin)
        log = await client.get("/partner/log")
        assert "ファイル受信" in log.text and "山田 花子" in log.text and world.tenant.name in log.text
    log = await client.get("/admin/log")
    assert log.status_code == 200 and "ファイル受信" in log.text and f"山田 花子（{office.tenant.name}）" in log.text


async def test_an_office_sends_to_a_client_over_a_files_only_link_and_the_client_sees_the_notice(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.FILES)
    await sign_in(client, office.staff)
    form = await client.get(f"/partner/clients/{world.tenant.id}/files/new")
    assert form.status_code == 200 and world.tenant.name in form.text
    sent = await send(client, f"/partner/clients/{world.tenant.id}/files", [("給与明細.xlsx", pdf("明細"))])
    assert sent.status_code == 302  # type: ignore[attr-defined]
    (file,) = await rows(db)
    assert file.sender_side is LinkSide.PARTNER and file.sender_name == "山田 花子"
    (entry,) = await entries(db, world.tenant.id, AuditAction.FILE_SEND)
    assert entry.actor_partner_id == office.tenant.id and "山田 花子" in entry.actor_name
    await sign_in(client, world.admin)
    home = await client.get("/admin")
    assert "新しいファイルが 1 件届いています" in home.text and "/admin/files?kind=unread" in home.text
    listing = await client.get("/admin/files?kind=received")
    assert "給与明細.xlsx" in listing.text and "受信" in listing.text
    assert "給与明細.xlsx" not in (await client.get("/admin/files?kind=sent")).text
    await client.get(f"/admin/files/{file.id}/download")
    (file,) = await rows(db)
    assert file.read_by_name == "岡 昌平"
    assert "新しいファイル" not in (await client.get("/admin")).text


async def test_the_receiver_saves_normal_or_confidential_and_only_permitted_people_see_confidential_files(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.NUMBERS)
    await sign_in(client, office.staff)
    await send(client, f"/partner/clients/{world.tenant.id}/files", [("a.pdf", pdf("a")), ("b.pdf", pdf("b"))])
    a, b = await rows(db)
    # The sender cannot save what it sent.
    await post(client, f"/partner/files/{a.id}/save", {"save_as": "normal"})
    assert (await rows(db))[0].saved_as is None
    await sign_in(client, world.admin)
    bad = await post(client, f"/admin/files/{a.id}/save", {"save_as": "forever"})
    assert bad.status_code == 302  # type: ignore[attr-defined]
    assert (await rows(db))[0].saved_as is None
    await post(client, f"/admin/files/{a.id}/save", {"save_as": "normal"})
    await post(client, f"/admin/files/{b.id}/save", {"save_as": "confidential"})
    a, b = await rows(db)
    assert a.saved_as is FileSave.NORMAL and a.expires_at is None and a.saved_by_name == "岡 昌平"
    assert b.saved_as is FileSave.CONFIDENTIAL and b.expires_at is None
    saves = await entries(db, world.tenant.id, AuditAction.FILE_SAVE)
    assert [e.detail["saved_as"] for e in saves] == ["normal", "confidential"]
    assert "b.pdf" in (await client.get("/admin/files?kind=saved")).text  # the admin always may
    # A handler without the permission does not see the 機密 file at all.
    await sign_in(client, world.handler)
    listing = await client.get("/admin/files")
    assert "a.pdf" in listing.text and "b.pdf" not in listing.text
    for path in (f"/admin/files/{b.id}", f"/admin/files/{b.id}/download"):
        assert (await client.get(path)).status_code == 404
    assert (await post(client, f"/admin/files/{b.id}/delete")).status_code == 404  # type: ignore[attr-defined]
    await db.execute(update(Account).where(Account.id == world.handler.account.id).values(confidential_access=True))
    await db.commit()
    assert (await client.get(f"/admin/files/{b.id}/download")).status_code == 200
    # The sending office still sees what it sent (機密 is the receiver's keeping).
    await sign_in(client, office.staff)
    assert "b.pdf" in (await client.get("/partner/files")).text


async def test_on_the_office_side_too_only_admins_and_staff_with_the_permission_see_what_it_kept_as_confidential(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.FILES)
    await sign_in(client, world.admin)
    await send(client, "/admin/files/", [("給与.pdf", pdf("k")), ("通常.pdf", pdf("n"))], office_id=office.tenant.id)
    secret, plain = await rows(db)
    await sign_in(client, office.admin)
    assert (await post(client, f"/partner/files/{secret.id}/save", {"save_as": "confidential"})).status_code == 302  # type: ignore[attr-defined]
    assert (await rows(db))[0].saved_as is FileSave.CONFIDENTIAL
    assert "給与.pdf" in (await client.get("/partner/files?kind=saved")).text  # the office admin always may
    await sign_in(client, office.staff)  # no 機密ファイルの閲覧
    listing = await client.get("/partner/files")
    assert "通常.pdf" in listing.text and "給与.pdf" not in listing.text
    assert "給与.pdf" not in (await client.get(f"/partner/files/{plain.id}")).text  # nor beside it in its batch
    for path in (f"/partner/files/{secret.id}", f"/partner/files/{secret.id}/download"):
        assert (await client.get(path)).status_code == 404, path
    for action in ("save", "delete"):
        assert (await post(client, f"/partner/files/{secret.id}/{action}", {"save_as": "normal"})).status_code == 404  # type: ignore[attr-defined]
    await db.execute(update(Account).where(Account.id == office.staff.account.id).values(confidential_access=True))
    await db.commit()
    assert (await client.get(f"/partner/files/{secret.id}/download")).content == pdf("k")
    # The client that sent it still sees it (機密 is the receiver's keeping).
    await sign_in(client, world.handler)
    assert "給与.pdf" in (await client.get("/admin/files")).text


async def test_an_office_deletes_what_it_sent_and_the_client_no_longer_has_it(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.FILES)
    await sign_in(client, office.staff)
    await send(client, f"/partner/clients/{world.tenant.id}/files", [("誤送信.pdf", pdf("x"))])
    (file,) = await rows(db)
    assert (await post(client, f"/partner/files/{file.id}/delete")).status_code == 302  # type: ignore[attr-defined]
    assert await rows(db) == []
    assert not (LocalBlobStore(settings.effective_blob_dir).root / exchange_blob_key(world.tenant.id, file.id)).exists()
    (removal,) = await entries(db, world.tenant.id, AuditAction.FILE_DELETE)
    assert removal.actor_partner_id == office.tenant.id and removal.detail["sender_side"] == "partner"
    await sign_in(client, world.admin)
    assert (await client.get(f"/admin/files/{file.id}")).status_code == 404
    assert "誤送信.pdf" not in (await client.get("/admin/files")).text


async def test_each_side_deletes_what_it_sent_or_received(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.VIEW)
    store = LocalBlobStore(settings.effective_blob_dir)
    await sign_in(client, world.admin)
    await send(client, "/admin/files/", [("one.pdf", pdf("1")), ("two.pdf", pdf("2"))], office_id=office.tenant.id)
    one, two = await rows(db)
    deleted = await post(client, f"/admin/files/{one.id}/delete")
    assert deleted.status_code == 302  # type: ignore[attr-defined]
    await sign_in(client, office.admin)
    assert (await post(client, f"/partner/files/{two.id}/delete")).status_code == 302  # type: ignore[attr-defined]
    assert await rows(db) == []
    for file in (one, two):
        assert not (store.root / exchange_blob_key(world.tenant.id, file.id)).exists()
    assert await storage_used(db, world.tenant.id, area="exchange") == 0
    removals = await entries(db, world.tenant.id, AuditAction.FILE_DELETE)
    assert [e.actor_partner_id for e in removals] == [None, office.tenant.id]
    assert (await client.get(f"/partner/files/{two.id}")).status_code == 404


async def test_the_lists_filter_and_page_by_keyset(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    second = await make_office(db, settings, app.state["vault"], code="sr-second", name="第二社労士事務所")
    await make_link(db, world.tenant, office.tenant, LinkPower.FILES)
    await make_link(db, world.tenant, second.tenant, LinkPower.FILES)
    await make_link(db, world.other_tenant, office.tenant, LinkPower.FILES)
    await sign_in(client, world.admin)
    for n in range(FILES_PER_PAGE + 5):
        sent = await send(client, "/admin/files/", [(f"file-{n:03}.pdf", pdf(str(n)))], office_id=office.tenant.id)
        assert sent.status_code == 302  # type: ignore[attr-defined]
    await send(client, "/admin/files/", [("to-second.pdf", pdf("x"))], office_id=second.tenant.id)
    # Files sent in the same second share created_at: spread them so the order is known.
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    for index, file in enumerate(await rows(db)):
        await db.execute(
            update(ExchangeFile)
            .where(ExchangeFile.id == file.id)
            .values(created_at=start + dt.timedelta(minutes=index if file.file_name != "to-second.pdf" else 999))
        )
    await db.commit()
    seen: list[str] = []
    path = "/admin/files"
    for _ in range(4):
        page = await client.get(path)
        assert page.status_code == 200
        seen += re.findall(r"(file-\d{3}\.pdf|to-second\.pdf)", page.text)
        older = re.search(r'href="(/admin/files\?[^"]*after=[^"]+)"', page.text)
        if older is None:
            break
        path = older.group(1).replace("&amp;", "&")
    assert seen[0] == "to-second.pdf" and seen[1] == f"file-{FILES_PER_PAGE + 4:03}.pdf"
    assert len(seen) == FILES_PER_PAGE + 6 and len(set(seen)) == len(seen)
    only_second = await client.get(f"/admin/files?office={second.tenant.id}")
    assert "to-second.pdf" in only_second.text and "file-000.pdf" not in only_second.text
    assert "to-second.pdf" not in (await client.get("/admin/files?kind=received")).text
    assert (await client.get("/admin/files?kind=nonsense&office=junk&after=junk")).status_code == 200
    # The office sees acme's files, filtered by client; the second office sees only its own.
    await sign_in(client, second.staff)
    listing = await client.get("/partner/files")
    assert "to-second.pdf" in listing.text and "file-001.pdf" not in listing.text
    await sign_in(client, office.staff)
    filtered = await client.get(f"/partner/files?client_id={world.other_tenant.id}")
    assert "file-0" not in filtered.text
    unread = await client.get("/partner/files?kind=unread")
    assert "file-054.pdf" in unread.text


async def test_an_office_cannot_send_to_a_read_only_or_suspended_client(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    from app.tenancy import Tenant, TenantStatus

    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.FILES)
    await sign_in(client, office.staff)
    ended = dt.date.today() - dt.timedelta(days=3)
    await db.execute(
        update(Tenant).where(Tenant.id == world.tenant.id).values(status=TenantStatus.ACTIVE, contract_ends_on=ended)
    )
    await db.commit()
    refused = await send(client, f"/partner/clients/{world.tenant.id}/files", [("明細.pdf", pdf("明細"))])
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "読み取り専用のため、ファイルを送信できません" in refused.text  # type: ignore[attr-defined]
    await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(status=TenantStatus.SUSPENDED))
    await db.commit()
    gone = await send(client, f"/partner/clients/{world.tenant.id}/files", [("明細.pdf", pdf("明細"))])
    assert gone.status_code == 404  # type: ignore[attr-defined]
    assert await rows(db) == []


async def test_the_home_pages_say_first_how_many_files_arrived_since_the_previous_sign_in(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.FILES)
    # Before the client admin's first sign-in: an office file (unread, but not "since the previous sign-in").
    with second_device(client, httpx.Cookies()):
        await sign_in(client, office.staff)
        assert "以降に、ファイルが" not in (await client.get("/partner")).text  # a first sign-in: nothing to compare
        before = await send(client, f"/partner/clients/{world.tenant.id}/files", [("前月分.pdf", pdf("前月"))])
        assert before.status_code == 302  # type: ignore[attr-defined]
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.admin)
        home = await client.get("/admin")
        assert "以降に、ファイルが" not in home.text and "新しいファイルが 1 件届いています" in home.text
        # The client sends two files to the office after the staff member's sign-in.
        for name in ("入社.pdf", "退職.pdf"):
            sent = await send(client, "/admin/files/", [(name, pdf(name))], office_id=office.tenant.id)
            assert sent.status_code == 302  # type: ignore[attr-defined]
    with second_device(client, httpx.Cookies()):
        await sign_in(client, office.staff)  # the office sends one more after the client admin's sign-in
        after = await send(client, f"/partner/clients/{world.tenant.id}/files", [("今月分.pdf", pdf("今月"))])
        assert after.status_code == 302  # type: ignore[attr-defined]
        home = await client.get("/partner")
        assert "以降に、ファイルが 2 件届きました" in home.text and "/partner/files?kind=received" in home.text
        text = home.text
        assert (
            text.index("以降に、ファイルが")
            < text.index("新しいファイルが 2 件届いています")
            < text.index("<h1>顧問先")
        )
    await sign_in(client, world.admin)
    home = await client.get("/admin")
    assert "以降に、ファイルが 1 件届きました" in home.text  # 今月分 only: 前月分 came before the previous sign-in
    assert home.text.index("以降に、ファイルが") < home.text.index("新しいファイルが 2 件届いています")
    assert "/admin/files?kind=received" in home.text
    # Read or not, they arrived since the previous sign-in; other pages do not repeat it.
    (latest,) = [f for f in await rows(db) if f.file_name == "今月分.pdf"]
    await client.get(f"/admin/files/{latest.id}/download")
    home = await client.get("/admin")
    assert "以降に、ファイルが 1 件届きました" in home.text and "新しいファイルが 1 件届いています" in home.text
    assert "以降に、ファイルが" not in (await client.get("/admin/files")).text
