"""個人ボックス (seed 002: 機密, at most 10 files a person): keep, open, delete with their entries; the limit and the
file checks; who sees it (機密 permission, admins, partner staff by power); erasure; isolation."""

from __future__ import annotations

import uuid

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction
from app.auth.models import Account
from app.blobs import blob_store_from_settings
from app.config import Settings
from app.documents import DocumentBlob, blob_key, purge_unopenable
from app.vault import Vault
from partners.models import LinkPower, PersonBoxFile
from tenants.services import person_subject
from tests.support.audit import entries
from tests.support.partners import make_link, make_office
from tests.support.people import give_number, make_dependant, make_employee, make_payee, valid_my_number
from tests.support.world import Persona, World, csrf_token, second_device, sign_in

SECRET_TEXT = "給与明細 秘密の内容 ABCDEFGH"


async def upload(
    client: AsyncTestClient[Litestar],
    person_id: object,
    name: str = "明細.txt",
    data: bytes = SECRET_TEXT.encode(),
    note: str = "源泉徴収票",
    *,
    csrf: bool = True,
) -> httpx.Response:
    form = {"note": note}
    if csrf:
        form["_csrf_token"] = await csrf_token(client)
    return await client.post(
        f"/admin/people/{person_id}/box",
        data=form,
        files={"file": (name, data, "application/octet-stream")},
        follow_redirects=False,
    )


async def box_rows(db: AsyncSession, person_id: uuid.UUID) -> list[PersonBoxFile]:
    await db.commit()  # a fresh snapshot of what the app committed
    statement = (
        select(PersonBoxFile).where(PersonBoxFile.person_id == person_id).execution_options(populate_existing=True)
    )
    return list((await db.execute(statement)).scalars())


async def grant(db: AsyncSession, persona: Persona, allowed: bool = True) -> None:
    await db.execute(update(Account).where(Account.id == persona.account.id).values(confidential_access=allowed))
    await db.commit()


async def test_an_admin_keeps_opens_and_deletes_a_file_with_entries_naming_the_person(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    person = await make_employee(db, world.tenant.id, "E001", "山田 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    page = await client.get(f"/admin/people/{person.id}")
    assert "個人ボックス" in page.text
    kept = await upload(client, person.id)
    assert kept.status_code == 302, kept.text
    (row,) = await box_rows(db, person.id)
    assert row.file_name == "明細.txt" and row.note == "源泉徴収票" and row.size == len(SECRET_TEXT.encode())
    assert row.uploaded_by_name == "岡 昌平" and row.uploaded_by_side.value == "client"
    listing = await client.get(f"/admin/people/{person.id}/box")
    assert listing.status_code == 200 and "明細.txt" in listing.text and "源泉徴収票" in listing.text
    # The sealed blob does not carry the file's text.
    sealed = await blob_store_from_settings(settings).get(blob_key(world.tenant.id, row.document_id))
    assert SECRET_TEXT.encode() not in sealed and "秘密".encode() not in sealed
    download = await client.get(f"/admin/people/{person.id}/box/{row.id}")
    assert download.status_code == 200 and download.content == SECRET_TEXT.encode()
    assert download.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E6%98%8E%E7%B4%B0.txt" in download.headers["content-disposition"]
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["cache-control"] == "no-store"
    token = await csrf_token(client)
    deleted = await client.post(
        f"/admin/people/{person.id}/box/{row.id}/delete", data={"_csrf_token": token}, follow_redirects=False
    )
    assert deleted.status_code == 302
    assert await box_rows(db, person.id) == []
    assert (await db.execute(select(func.count()).select_from(DocumentBlob))).scalar_one() == 0
    logged = [
        e
        for e in await entries(db, world.tenant.id)
        if e.action in (AuditAction.BOX_STORE, AuditAction.BOX_OPEN, AuditAction.BOX_DELETE)
    ]
    assert [e.action for e in logged] == [AuditAction.BOX_STORE, AuditAction.BOX_OPEN, AuditAction.BOX_DELETE]
    assert all(e.subject_person_id == person.id and e.detail["file_name"] == "明細.txt" for e in logged)


async def test_a_dependant_and_a_payee_have_their_own_boxes(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    employee = await make_employee(db, world.tenant.id, "E001", "山田 太郎")
    child = await make_dependant(db, employee, "山田 次郎")
    payee = await make_payee(db, world.tenant.id, "講師 一郎")
    await db.commit()
    await sign_in(client, world.admin)
    page = await client.get(f"/admin/people/{employee.id}")
    assert f"/admin/people/{child.id}/box" in page.text
    assert f"/admin/people/{payee.id}/box" in (await client.get("/admin/payees")).text
    assert (await upload(client, child.id)).status_code == 302
    assert (await upload(client, payee.id)).status_code == 302
    assert len(await box_rows(db, child.id)) == 1 and len(await box_rows(db, payee.id)) == 1
    stored = await entries(db, world.tenant.id, AuditAction.BOX_STORE)
    (entry,) = [e for e in stored if e.subject_person_id == child.id]
    assert entry.subject_name == "山田 太郎 > 山田 次郎"


async def test_a_person_keeps_at_most_ten_files(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    person = await make_employee(db, world.tenant.id, "E001", "山田 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    for index in range(settings.person_box_limit):
        assert (await upload(client, person.id, name=f"f{index}.pdf", data=b"%PDF-1.4 x")).status_code == 302
    refused = await upload(client, person.id, name="eleventh.pdf", data=b"%PDF-1.4 x")
    assert refused.status_code == 400
    assert "1人10件まで" in refused.text
    assert len(await box_rows(db, person.id)) == 10


@pytest.mark.parametrize(
    ("name", "data", "note", "message"),
    [
        ("tool.exe", b"MZ\x90\x00program", "", "プログラム"),
        ("empty.txt", b"", "", "空のファイル"),
        ("note.txt", b"hello", "番号 123456789012", "12桁以上の数字"),
        ("note.txt", b"hello", "番号 1234 5678 9018", "12桁以上の数字"),  # grouped as people write it
        ("note.txt", b"hello", "番号 1234-5678-9018", "12桁以上の数字"),
        ("note.txt", b"hello", "番号 一二三四五六七八九〇一八", "12桁以上の数字"),
        ("note.txt", b"hello", "あ" * 201, "200文字以内"),
    ],
)
async def test_refused_files_and_notes_keep_nothing_and_say_why(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, name: str, data: bytes, note: str, message: str
) -> None:
    person = await make_employee(db, world.tenant.id, "E001", "山田 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    refused = await upload(client, person.id, name=name, data=data, note=note)
    assert refused.status_code == 400 and message in refused.text
    if "12桁" in message:  # what may be a number is never shown back
        assert note.split(" ", 1)[1] not in refused.text
    assert await box_rows(db, person.id) == []
    assert (await db.execute(select(func.count()).select_from(DocumentBlob))).scalar_one() == 0


async def test_a_file_too_large_and_a_missing_csrf_token_are_refused(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    person = await make_employee(db, world.tenant.id, "E001", "山田 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    big = await upload(client, person.id, data=b"x" * (settings.exchange_max_file_bytes + 1))
    assert big.status_code == 400 and "10MB" in big.text
    assert (await upload(client, person.id, csrf=False)).status_code == 403
    assert await box_rows(db, person.id) == []


async def test_only_principals_with_the_confidential_permission_see_boxes(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    person = await make_employee(db, world.tenant.id, "E001", "山田 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    await upload(client, person.id)
    (row,) = await box_rows(db, person.id)
    paths = [f"/admin/people/{person.id}/box", f"/admin/people/{person.id}/box/{row.id}"]
    for persona in (world.handler, world.viewer):
        with second_device(client, httpx.Cookies()):
            await sign_in(client, persona)
            assert "個人ボックス" not in (await client.get(f"/admin/people/{person.id}")).text
            assert [(await client.get(path)).status_code for path in paths] == [404, 404]
            assert (await upload(client, person.id)).status_code == 404
    await grant(db, world.handler)
    await grant(db, world.viewer)
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.handler)
        assert [(await client.get(path)).status_code for path in paths] == [200, 200]
        assert (await upload(client, person.id, name="h.txt")).status_code == 302
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.viewer)  # opens, but neither keeps nor deletes
        listing = await client.get(paths[0])
        assert listing.status_code == 200 and "保管する" not in listing.text
        assert (await client.get(paths[1])).status_code == 200
        assert (await upload(client, person.id, name="v.txt")).status_code == 403
        token = await csrf_token(client)
        gone = await client.post(f"{paths[1]}/delete", data={"_csrf_token": token}, follow_redirects=False)
        assert gone.status_code == 403
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.employee)
        assert (await client.get(paths[0])).status_code == 403
    assert len(await box_rows(db, person.id)) == 2


@pytest.mark.parametrize(
    ("power", "permission", "expected"),
    [
        (LinkPower.NUMBERS, True, {"list": 200, "keep": 302}),
        (LinkPower.NUMBERS, False, {"list": 404, "keep": 404}),
        (LinkPower.VIEW, True, {"list": 200, "keep": 403}),
        (LinkPower.VIEW, False, {"list": 404, "keep": 404}),
    ],
)
async def test_partner_staff_inside_a_client_need_the_permission_and_the_numbers_power_to_keep(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    world: World,
    db: AsyncSession,
    settings: Settings,
    power: LinkPower,
    permission: bool,
    expected: dict[str, int],
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, power)
    await grant(db, office.staff, permission)
    person = await make_employee(db, world.tenant.id, "E001", "山田 太郎")
    await db.commit()
    await sign_in(client, office.staff)
    token = await csrf_token(client)
    await client.post(f"/partner/clients/{world.tenant.id}/enter", data={"_csrf_token": token})
    assert (await client.get(f"/admin/people/{person.id}/box")).status_code == expected["list"]
    assert (await upload(client, person.id)).status_code == expected["keep"]
    if expected["keep"] == 302:
        (row,) = await box_rows(db, person.id)
        assert row.uploaded_by_side.value == "partner"
        assert row.uploaded_by_name == "山田 花子（山田社会保険労務士事務所）"
        (entry,) = await entries(db, world.tenant.id, AuditAction.BOX_STORE)
        assert entry.actor_partner_id == office.tenant.id and entry.subject_person_id == person.id


async def test_erasing_the_number_makes_the_files_unopenable_deletable_and_purged(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    vault = Vault.from_settings(settings)  # its own key-store connections (the app's live on another loop)
    person = await make_employee(db, world.tenant.id, "E001", "山田 太郎")
    await give_number(db, vault, person, valid_my_number(301))
    await db.commit()
    await sign_in(client, world.admin)
    await upload(client, person.id, name="a.txt")
    await upload(client, person.id, name="b.txt")
    first, second = sorted(await box_rows(db, person.id), key=lambda r: r.file_name)
    actor = Actor(user_id=None, login_id="t", name="テスト", role="管理者", organisation="")
    try:
        await vault.erase(
            db,
            tenant_id=world.tenant.id,
            subject=person_subject(person, None, None),
            actor=actor,
            function="削除",
            reason="退職",
        )
        await vault.commit(db)
    finally:
        await vault.close()
    listing = await client.get(f"/admin/people/{person.id}/box")
    assert listing.text.count("番号の削除により開けません") == 2
    refused = await client.get(f"/admin/people/{person.id}/box/{first.id}", follow_redirects=False)
    assert refused.status_code == 302
    assert not await entries(db, world.tenant.id, AuditAction.BOX_OPEN)
    token = await csrf_token(client)
    deleted = await client.post(
        f"/admin/people/{person.id}/box/{first.id}/delete", data={"_csrf_token": token}, follow_redirects=False
    )
    assert deleted.status_code == 302
    # The periodic purge removes the other's document and its box row.
    store = blob_store_from_settings(settings)
    assert await purge_unopenable(db, store) == 1
    await db.commit()
    assert await box_rows(db, person.id) == []
    assert second.document_id not in [r for r in (await db.execute(select(DocumentBlob.id))).scalars()]


async def test_another_tenants_person_or_file_is_not_found(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    mine = await make_employee(db, world.tenant.id, "E001", "山田 太郎")
    theirs = await make_employee(db, world.other_tenant.id, "X001", "他社 一郎")
    await db.commit()
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.other_admin)
        await upload(client, theirs.id, name="theirs.txt")
    (their_file,) = await box_rows(db, theirs.id)
    await sign_in(client, world.admin)
    assert (await client.get(f"/admin/people/{theirs.id}/box")).status_code == 404
    assert (await upload(client, theirs.id)).status_code == 404
    assert (await client.get(f"/admin/people/{mine.id}/box/{their_file.id}")).status_code == 404
    assert (await client.get(f"/admin/people/{theirs.id}/box/{their_file.id}")).status_code == 404
    assert (await client.get(f"/admin/people/{mine.id}/box/not-an-id")).status_code == 404
    token = await csrf_token(client)
    gone = await client.post(
        f"/admin/people/{mine.id}/box/{their_file.id}/delete", data={"_csrf_token": token}, follow_redirects=False
    )
    assert gone.status_code == 404
    assert len(await box_rows(db, theirs.id)) == 1


async def test_anonymous_visitors_are_sent_to_sign_in(client: AsyncTestClient[Litestar], db: AsyncSession) -> None:
    response = await client.get(f"/admin/people/{uuid.uuid4()}/box", follow_redirects=False)
    assert response.status_code in (302, 303, 401)


def test_the_box_kind_is_not_an_id_image_kind() -> None:
    from partners.services._person_box import DOCUMENT_KIND
    from verification.services import DOCUMENT_KIND as ID_KIND

    assert DOCUMENT_KIND != ID_KIND
