"""Published documents (定型文書, issue 15): an office publishes to all its clients or chosen ones; the clients read
and download them; limits, sealing, replacing, deleting, roles, isolation and the home page's notice."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.models import Account, Role
from app.blobs import LocalBlobStore
from app.config import Settings
from app.db import utcnow
from app.documents import storage_used, wait_for_cleanup
from partners.models import (
    DocumentAudience,
    LinkPower,
    LinkStatus,
    PartnerDocument,
    PartnerDocumentClient,
    PartnerLink,
    partner_document_blob_key,
)
from partners.services import client_documents, new_documents_count, office_documents
from tests.partners.exchange_support import pdf, post
from tests.support.audit import entries
from tests.support.page_plans import plans_of
from tests.support.partners import Office, make_link, make_office
from tests.support.principals import principal_of
from tests.support.world import Persona, World, csrf_token, make_persona, make_tenant, post_form, second_device, sign_in

AREA = "partner-documents"
NEW_PASSWORD = "atarashii pasuwaado 2026 desu"
SECRET_TEXT = "入社連絡票 本文 ひみつ"


def _blobs(settings: Settings) -> list[bytes]:
    root = LocalBlobStore(settings.effective_blob_dir).root / "partner-documents"
    return [path.read_bytes() for path in root.rglob("*") if path.is_file()] if root.exists() else []


async def _documents(db: AsyncSession) -> list[PartnerDocument]:
    found = await db.execute(
        select(PartnerDocument).order_by(PartnerDocument.created_at).execution_options(populate_existing=True)
    )
    return list(found.scalars())


async def publish(
    client: AsyncTestClient[Litestar],
    path: str = "/partner/documents",
    *,
    title: str = "入社連絡票",
    description: str = "入社手続きを依頼するときに記入して送ってください。",
    audience: str = "all",
    client_ids: list[str] | None = None,
    client_codes: str = "",
    file: tuple[str, bytes] | None = ("入社連絡票.pdf", pdf(SECRET_TEXT)),
) -> httpx.Response:
    """POST the publish (or change) form, multipart, with the CSRF token."""
    data: dict[str, str | list[str]] = {
        "_csrf_token": await csrf_token(client),
        "title": title,
        "description": description,
        "audience": audience,
    }
    if client_ids:
        data["client_ids"] = client_ids
    if client_codes:
        data["client_codes"] = client_codes
    files = [("file", (file[0], file[1], "application/octet-stream"))] if file else [("file", ("", b"", "x"))]
    return await client.post(path, data=data, files=files, follow_redirects=False)


async def _third_client(app: Litestar, db: AsyncSession, settings: Settings) -> Persona:
    """A company not linked with the office, with its admin."""
    tenant = await make_tenant(db, app.state["vault"], "third", "三番目株式会社")
    persona = await make_persona(db, settings, app.state["vault"], tenant, "third-admin", Role.ADMIN, name="三 太郎")
    await db.commit()
    return persona


async def _office_with_two_clients(app: Litestar, db: AsyncSession, settings: Settings, world: World) -> Office:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.FILES)
    await make_link(db, world.other_tenant, office.tenant, LinkPower.VIEW)
    return office


async def test_a_document_published_to_all_reaches_every_linked_client_and_no_other(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_two_clients(app, db, settings, world)
    third = await _third_client(app, db, settings)
    await sign_in(client, office.admin)
    page = await client.get("/partner/documents")
    assert page.status_code == 200 and "書類を公開する" in page.text and world.tenant.name in page.text
    published = await publish(client)
    assert published.status_code == 302, published.text[:800]
    (document,) = await _documents(db)
    assert document.audience is DocumentAudience.ALL and document.published_by_name == "社労 太郎"
    assert document.file_name == "入社連絡票.pdf" and document.size == len(pdf(SECRET_TEXT))
    listing = await client.get("/partner/documents")
    assert "入社連絡票" in listing.text and "すべての顧問先" in listing.text
    # Sealed under the office's key: the stored bytes do not contain the file's text.
    (blob,) = _blobs(settings)
    assert SECRET_TEXT.encode() not in blob and b"%PDF" not in blob and len(blob) == document.sealed_size
    assert await storage_used(db, office.tenant.id, area=AREA) == document.sealed_size
    (logged,) = await entries(db, office.tenant.id, AuditAction.DOCUMENT_PUBLISH)
    assert logged.actor_name == "社労 太郎" and logged.detail["document_id"] == str(document.id)

    for persona in (world.viewer, world.other_admin):
        with second_device(client, httpx.Cookies()):
            await sign_in(client, persona)
            home = await client.get("/admin")
            assert "事務所から新しい書類が 1 件公開されています" in home.text
            mine = await client.get("/admin/documents")
            assert mine.status_code == 200 and "入社連絡票" in mine.text and office.tenant.name in mine.text
            assert "入社手続きを依頼するときに記入して送ってください。" in mine.text
            download = await client.get(f"/admin/documents/{document.id}/download")
            assert download.status_code == 200 and download.content == pdf(SECRET_TEXT)
            assert download.headers["content-disposition"].startswith("attachment")
            assert "no-store" in download.headers["cache-control"]
    (got,) = await entries(db, world.tenant.id, AuditAction.FILE_DOWNLOAD)
    assert got.detail["event"] == "document_downloaded" and got.detail["tenant_name"] == office.tenant.name
    assert got.actor_name == world.viewer.account.name

    with second_device(client, httpx.Cookies()):
        await sign_in(client, third)
        assert "入社連絡票" not in (await client.get("/admin/documents")).text
        assert "新しい書類" not in (await client.get("/admin")).text
        assert (await client.get(f"/admin/documents/{document.id}/download")).status_code == 404
    assert await entries(db, third.tenant.id, AuditAction.FILE_DOWNLOAD) == []


async def test_a_document_published_to_chosen_clients_reaches_only_them(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_two_clients(app, db, settings, world)
    await sign_in(client, office.admin)
    published = await publish(client, title="アクメ様専用 規程", audience="chosen", client_ids=[str(world.tenant.id)])
    assert published.status_code == 302, published.text[:800]
    (document,) = await _documents(db)
    assert document.audience is DocumentAudience.CHOSEN
    assert "選んだ顧問先（1社）" in (await client.get("/partner/documents")).text

    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.handler)
        assert "アクメ様専用 規程" in (await client.get("/admin/documents")).text
        assert (await client.get(f"/admin/documents/{document.id}/download")).status_code == 200
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.other_admin)
        assert "アクメ様専用 規程" not in (await client.get("/admin/documents")).text
        assert "新しい書類" not in (await client.get("/admin")).text
        assert (await client.get(f"/admin/documents/{document.id}/download")).status_code == 404

    # The office turns it to the other client only: the first no longer reaches it.
    edit = await client.get(f"/partner/documents/{document.id}")
    assert edit.status_code == 200 and "アクメ様専用 規程" in edit.text
    changed = await publish(
        client,
        f"/partner/documents/{document.id}",
        title="よその会社様専用 規程",
        audience="chosen",
        client_ids=[str(world.other_tenant.id)],
        file=None,
    )
    assert changed.status_code == 302, changed.text[:800]
    (document,) = await _documents(db)
    assert document.title == "よその会社様専用 規程"
    chosen = (await db.execute(select(PartnerDocumentClient.client_id))).scalars().all()
    assert chosen == [world.other_tenant.id]
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.handler)
        assert "専用 規程" not in (await client.get("/admin/documents")).text
        assert (await client.get(f"/admin/documents/{document.id}/download")).status_code == 404
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.other_admin)
        assert (await client.get(f"/admin/documents/{document.id}/download")).status_code == 200

    # Choosing nobody, or a company the office is not linked with, is refused in Japanese.
    none = await publish(client, audience="chosen", client_ids=[])
    assert none.status_code == 400 and "1社以上選んでください" in none.text
    third = await _third_client(app, db, settings)
    outsider = await publish(client, audience="chosen", client_ids=[str(third.tenant.id)])
    assert outsider.status_code == 400 and "選び直してください" in outsider.text
    await wait_for_cleanup()
    assert len(await _documents(db)) == 1 and len(_blobs(settings)) == 1


async def test_an_ended_link_hides_the_offices_documents_at_once(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_two_clients(app, db, settings, world)
    await sign_in(client, office.admin)
    assert (await publish(client)).status_code == 302
    (document,) = await _documents(db)
    await db.execute(
        update(PartnerLink)
        .where(PartnerLink.tenant_id == world.tenant.id, PartnerLink.partner_id == office.tenant.id)
        .values(status=LinkStatus.ENDED, ended_at=utcnow())
    )
    await db.commit()
    await sign_in(client, world.admin)
    assert "入社連絡票" not in (await client.get("/admin/documents")).text
    assert "新しい書類" not in (await client.get("/admin")).text
    assert (await client.get(f"/admin/documents/{document.id}/download")).status_code == 404


async def test_the_limits_refuse_in_japanese_and_write_nothing(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_two_clients(app, db, settings, world)
    await sign_in(client, office.admin)
    big = await publish(client, file=("大きい.pdf", b"%PDF" + b"x" * settings.partner_document_max_bytes))
    assert big.status_code == 400 and "「大きい.pdf」" in big.text and "20MBまで" in big.text
    program = await publish(client, file=("請求書.pdf", b"MZ\x90\x00" + b"\x00" * 60))
    assert program.status_code == 400 and "プログラム（Windows）" in program.text and "公開できません" in program.text
    named = await publish(client, file=("setup.exe", b"just text"))
    assert named.status_code == 400 and "実行できる形式（.exe）" in named.text
    nothing = await publish(client, file=None)
    assert nothing.status_code == 400 and "公開するファイルを選んでください" in nothing.text
    untitled = await publish(client, title="", description="あ" * 1001)
    assert untitled.status_code == 400 and "名称を入力してください" in untitled.text
    assert "解説は1000文字以内で入力してください" in untitled.text
    long_title = await publish(client, title="あ" * 101)
    assert long_title.status_code == 400 and "名称は100文字以内で入力してください" in long_title.text
    # Titles and descriptions are kept in clear for every client to read: what may be a My Number is refused.
    numbered = await publish(client, title="山田 1234-5678-9018", description="番号 １２３４ ５６７８ ９０１８ です")
    assert numbered.status_code == 400 and "名称にマイナンバーの可能性がある12桁以上の数字" in numbered.text
    assert "解説にマイナンバーの可能性がある12桁以上の数字" in numbered.text and "9018" not in numbered.text
    await wait_for_cleanup()
    assert await _documents(db) == [] and _blobs(settings) == []
    assert await entries(db, office.tenant.id, AuditAction.DOCUMENT_PUBLISH) == []

    # 100 documents per office: the 101st is refused, nothing put.
    now = utcnow()
    for n in range(100):
        db.add(
            PartnerDocument(
                tenant_id=office.tenant.id,
                title=f"書類{n}",
                file_name=f"{n}.pdf",
                content_type="application/pdf",
                size=1,
                sealed_size=1,
                sha256="0" * 64,
                published_by_name="テスト",
                created_at=now,
                updated_at=now,
            )
        )
    await db.commit()
    full = await publish(client)
    assert full.status_code == 400 and "1事務所100件まで" in full.text
    await wait_for_cleanup()
    assert len(await _documents(db)) == 100 and _blobs(settings) == []


async def test_replacing_and_deleting_a_document(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_two_clients(app, db, settings, world)
    await sign_in(client, office.admin)
    assert (await publish(client)).status_code == 302
    (old,) = await _documents(db)
    replaced = await publish(
        client,
        f"/partner/documents/{old.id}",
        description="2027年版に差し替えました。",
        file=("入社連絡票2027.pdf", pdf("新しい版")),
    )
    assert replaced.status_code == 302, replaced.text[:800]
    (new,) = await _documents(db)
    assert (
        new.id != old.id and new.file_name == "入社連絡票2027.pdf" and new.description == "2027年版に差し替えました。"
    )
    assert len(_blobs(settings)) == 1
    assert not (
        LocalBlobStore(settings.effective_blob_dir).root / partner_document_blob_key(office.tenant.id, old.id)
    ).exists()
    assert await storage_used(db, office.tenant.id, area=AREA) == new.sealed_size
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.admin)
        assert "2027年版に差し替えました。" in (await client.get("/admin/documents")).text
        assert (await client.get(f"/admin/documents/{old.id}/download")).status_code == 404
        assert (await client.get(f"/admin/documents/{new.id}/download")).content == pdf("新しい版")
    # The office checks its own file.
    own = await client.get(f"/partner/documents/{new.id}/download")
    assert own.status_code == 200 and own.content == pdf("新しい版")

    deleted = await post(client, f"/partner/documents/{new.id}/delete")
    assert deleted.status_code == 302  # type: ignore[attr-defined]
    assert await _documents(db) == [] and _blobs(settings) == []
    assert await storage_used(db, office.tenant.id, area=AREA) == 0
    assert len(await entries(db, office.tenant.id, AuditAction.DOCUMENT_DELETE)) == 1
    assert len(await entries(db, office.tenant.id, AuditAction.DOCUMENT_PUBLISH)) == 2
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.admin)
        assert (await client.get(f"/admin/documents/{new.id}/download")).status_code == 404
        assert "入社連絡票" not in (await client.get("/admin/documents")).text


async def test_roles_staff_read_employees_are_refused_and_another_office_gets_404(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_two_clients(app, db, settings, world)
    await sign_in(client, office.admin)
    assert (await publish(client)).status_code == 302
    (document,) = await _documents(db)

    with second_device(client, httpx.Cookies()):
        await sign_in(client, office.staff)
        listing = await client.get("/partner/documents")
        assert listing.status_code == 200 and "入社連絡票" in listing.text and "書類を公開する" not in listing.text
        assert (await publish(client)).status_code == 404
        assert (await client.get(f"/partner/documents/{document.id}")).status_code == 404
        assert (await post(client, f"/partner/documents/{document.id}/delete")).status_code == 404  # type: ignore[attr-defined]
        assert (await client.get(f"/partner/documents/{document.id}/download")).status_code == 200
        # Working inside a client, the staff member has no documents page there.
        assert (await post_form(client, f"/partner/clients/{world.other_tenant.id}/enter")).status_code == 302  # type: ignore[attr-defined]
        assert (await client.get("/admin/documents")).status_code == 404
        assert (await client.get(f"/admin/documents/{document.id}/download")).status_code == 404

    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.employee)
        assert (await client.get("/admin/documents")).status_code == 403
        assert (await client.get(f"/admin/documents/{document.id}/download")).status_code == 403
        assert (await client.get("/partner/documents")).status_code == 403

    other = await make_office(db, settings, app.state["vault"], code="sr-other", name="よその事務所")
    await make_link(db, world.tenant, other.tenant, LinkPower.FILES)
    with second_device(client, httpx.Cookies()):
        await sign_in(client, other.admin)
        assert "入社連絡票" not in (await client.get("/partner/documents")).text
        assert (await client.get(f"/partner/documents/{document.id}")).status_code == 404
        assert (await client.get(f"/partner/documents/{document.id}/download")).status_code == 404
        assert (await post(client, f"/partner/documents/{document.id}/delete")).status_code == 404  # type: ignore[attr-defined]
        changed = await publish(client, f"/partner/documents/{document.id}", file=None)
        assert changed.status_code == 404
    assert len(await _documents(db)) == 1


async def test_the_home_notice_counts_only_the_last_seven_days(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_two_clients(app, db, settings, world)
    await sign_in(client, office.admin)
    for title in ("入社連絡票", "退社連絡票"):
        assert (await publish(client, title=title)).status_code == 302
    documents = await _documents(db)
    await db.execute(
        update(PartnerDocument)
        .where(PartnerDocument.tenant_id == office.tenant.id, PartnerDocument.id == documents[0].id)
        .values(updated_at=utcnow() - dt.timedelta(days=8))
    )
    await db.commit()
    await sign_in(client, world.admin)
    home = await client.get("/admin")
    assert "事務所から新しい書類が 1 件公開されています" in home.text and 'href="/admin/documents"' in home.text
    listing = await client.get("/admin/documents")
    assert "入社連絡票" in listing.text and "退社連絡票" in listing.text  # the list keeps both


async def test_the_home_says_first_which_documents_arrived_since_the_previous_sign_in(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    """Issue 14 (seed 000 FAQ13): new since the last sign-in, not "in the last 7 days" (that is only the fallback
    for a first sign-in): a document of 10 days ago is new to someone away for 20, and old news the next sign-in."""
    office = await _office_with_two_clients(app, db, settings, world)
    await sign_in(client, office.admin)
    for title in ("入社連絡票", "退社連絡票", "扶養異動届"):
        assert (await publish(client, title=title)).status_code == 302
    ten_days, month, fresh = await _documents(db)
    now = utcnow()
    ages = {ten_days.id: dt.timedelta(days=10), month.id: dt.timedelta(days=30), fresh.id: dt.timedelta(minutes=5)}
    for document_id, age in ages.items():
        await db.execute(
            update(PartnerDocument)
            .where(PartnerDocument.tenant_id == office.tenant.id, PartnerDocument.id == document_id)
            .values(updated_at=now - age)
        )
    await db.execute(
        update(Account).where(Account.id == world.admin.account.id).values(last_login_at=now - dt.timedelta(days=20))
    )
    await db.commit()
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.admin)
        home = await client.get("/admin")
        assert "事務所から新しい書類が 2 件公開されています" in home.text, home.text[:3000]
        assert home.text.index("document-notice") < home.text.index("収集状況")  # the home page says so first
        assert "事務所から新しい書類が 2 件公開されています" in (await client.get("/admin")).text  # all session long
    admin_jar = httpx.Cookies()
    with second_device(client, admin_jar):
        await sign_in(client, world.admin)
        assert "事務所から新しい書類" not in (await client.get("/admin")).text  # nothing since the last sign-in
    await db.execute(
        update(PartnerDocument)
        .where(PartnerDocument.tenant_id == office.tenant.id, PartnerDocument.id == month.id)
        .values(updated_at=utcnow())
    )
    await db.commit()
    with second_device(client, admin_jar):
        assert "事務所から新しい書類が 1 件公開されています" in (await client.get("/admin")).text
        # Changing the password starts a new session id, not a new sign-in: still "since the previous sign-in".
        changed = await post_form(
            client,
            "/account/password",
            {"current_password": world.admin.password, "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD},
        )
        assert changed.status_code in (302, 303)  # type: ignore[attr-defined]
        assert "事務所から新しい書類が 1 件公開されています" in (await client.get("/admin")).text


async def test_the_lists_and_the_notice_read_index_ranges(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    if db.bind.dialect.name != "sqlite":
        pytest.skip("SQLite's EXPLAIN QUERY PLAN")
    office = await _office_with_two_clients(app, db, settings, world)
    await sign_in(client, office.admin)
    assert (await publish(client, audience="chosen", client_ids=[str(world.tenant.id)])).status_code == 302
    client_side, office_side = principal_of(world.viewer), principal_of(office.staff)
    calls = [
        lambda: client_documents(db, client_side),
        lambda: new_documents_count(db, client_side),
        lambda: office_documents(db, office_side),
    ]
    tables = {"partner_documents", "partner_document_clients", "partner_links"}
    for call in calls:
        _, plans = await plans_of(db, call)
        for plan in plans:
            assert plan.full_scans(tables) == [], plan.text
            assert "FROM partner_documents" not in plan.sql or "LIMIT" in plan.sql, plan.sql


async def test_a_document_whose_bytes_are_lost_is_never_served(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await _office_with_two_clients(app, db, settings, world)
    await sign_in(client, office.admin)
    assert (await publish(client)).status_code == 302
    (document,) = await _documents(db)
    blob = LocalBlobStore(settings.effective_blob_dir).root / partner_document_blob_key(office.tenant.id, document.id)
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")
    await sign_in(client, world.admin)
    response = await client.get(f"/admin/documents/{document.id}/download", follow_redirects=True)
    assert response.status_code == 200 and "失われたか破損している" in response.text
    assert await entries(db, world.tenant.id, AuditAction.FILE_DOWNLOAD) == []


async def test_a_suspended_offices_documents_are_hidden_from_its_clients(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    from app.tenancy import Tenant, TenantStatus

    office = await _office_with_two_clients(app, db, settings, world)
    await sign_in(client, office.admin)
    assert (await publish(client)).status_code == 302
    (document,) = await _documents(db)
    await sign_in(client, world.admin)
    assert "入社連絡票" in (await client.get("/admin/documents")).text
    await db.execute(update(Tenant).where(Tenant.id == office.tenant.id).values(status=TenantStatus.SUSPENDED))
    await db.commit()
    assert "入社連絡票" not in (await client.get("/admin/documents")).text
    assert (await client.get(f"/admin/documents/{document.id}/download")).status_code == 404
