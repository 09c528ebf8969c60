"""本人確認オプション end to end through the pages: upload on the phone, review, records, deletion, isolation.

Each page walks the ladder: anonymous, another tenant, insufficient role, missing CSRF token, invalid input, valid.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, Subject
from app.auth.models import Role
from app.blobs import blob_store_from_settings
from app.config import Settings
from app.db import utcnow
from app.tenancy import Tenant
from app.vault import NumberField, Vault
from tenants.models import Person
from tests.support.audit import entries
from tests.support.people import ACTOR, give_number, make_department, make_dependant, make_employee, valid_my_number
from tests.support.world import Persona, World, csrf_token, make_persona, post_form, sign_in
from verification import services
from verification.documents import NOT_ACCEPTED
from verification.models import Verification, VerificationImage, VerificationRecord, VerificationStatus


@dataclass
class Me:
    person_id: uuid.UUID
    persona: Persona


def jpeg(color: str = "red", size: tuple[int, int] = (640, 400)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


CARD = {
    "image_0_front": ("front.jpg", jpeg("red"), "image/jpeg"),
    "image_0_back": ("back.jpg", jpeg("blue"), "image/jpeg"),
}


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


async def enable(db: AsyncSession, tenant: Tenant, on: bool = True) -> None:
    await db.execute(update(Tenant).where(Tenant.id == tenant.id).values(verification_enabled=on))
    await db.commit()


@pytest.fixture
async def me(db: AsyncSession, settings: Settings, vault: Vault, world: World) -> Me:
    department = await make_department(db, world.tenant.id, "d10", "総務課")
    person = await make_employee(db, world.tenant.id, "1001", "山田 太郎", department=department)
    person.notice_acknowledged_at = utcnow()
    await give_number(db, vault, person, valid_my_number(7))
    persona = await make_persona(db, settings, vault, world.tenant, "e1001", Role.EMPLOYEE)
    persona.account.person_id = person.id
    await db.commit()
    await enable(db, world.tenant)
    return Me(person.id, persona)


async def upload(
    client: AsyncTestClient[Litestar],
    choice: dict[str, str],
    files: dict[str, tuple[str, bytes, str]],
    *,
    csrf: bool = True,
) -> httpx.Response:
    data = dict(choice)
    if csrf:
        data["_csrf_token"] = await csrf_token(client)
    return await client.post("/me/verification/upload", data=data, files=files, follow_redirects=False)


async def submitted(db: AsyncSession, person_id: uuid.UUID) -> list[Verification]:
    statement = (
        select(Verification)
        .where(Verification.person_id == person_id)
        .order_by(Verification.submitted_at)
        .execution_options(populate_existing=True)
    )
    return list((await db.execute(statement)).scalars())


async def images(db: AsyncSession, verification: Verification) -> list[VerificationImage]:
    statement = select(VerificationImage).where(
        VerificationImage.tenant_id == verification.tenant_id, VerificationImage.verification_id == verification.id
    )
    return list((await db.execute(statement)).scalars())


async def submit_card(client: AsyncTestClient[Litestar], db: AsyncSession, me: Me) -> Verification:
    await sign_in(client, me.persona)
    response = await upload(client, {"number_document": "mynumber_card"}, CARD)
    assert response.status_code == 302, response.text[:2000]
    (verification,) = await submitted(db, me.person_id)
    return verification


# The employee's side -----------------------------------------------------------------------------------------------


async def test_the_upload_page_exists_only_with_the_option(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    await enable(db, world.tenant, False)
    await sign_in(client, me.persona)
    assert (await client.get("/me/verification", follow_redirects=False)).headers["location"] == "/me"
    assert "/me/verification" not in (await client.get("/me")).text
    await enable(db, world.tenant)
    assert "/me/verification" in (await client.get("/me")).text
    page = await client.get("/me/verification")
    assert page.status_code == 200
    assert NOT_ACCEPTED in page.text
    assert "扶養家族の書類は提出不要" in page.text


async def test_the_upload_form_opens_the_camera_for_each_image_the_choice_needs(
    client: AsyncTestClient[Litestar], me: Me
) -> None:
    await sign_in(client, me.persona)
    page = await client.get("/me/verification/upload?number_document=resident_record&identity_1=passport")
    assert page.status_code == 200
    assert page.text.count('accept="image/*" capture="environment"') == 3  # 住民票 2 pages, the passport's photo page
    refused = await client.get("/me/verification/upload?number_document=resident_record&identity_1=health_insurance")
    assert refused.status_code == 400
    assert "顔写真のない書類を異なる2種類" in refused.text


async def test_an_employee_uploads_the_card_and_sees_it_under_review(
    client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, world: World, me: Me
) -> None:
    verification = await submit_card(client, db, me)
    assert verification.status is VerificationStatus.PENDING
    stored = await images(db, verification)
    assert sorted(image.side for image in stored) == ["back", "front"]
    # Nowhere under the data directory (blobs, and on SQLite the database and its WAL): the upload's bytes, or the
    # re-encoded image in clear (it is sealed).
    raw = b"".join(path.read_bytes() for path in settings.data_path.rglob("*") if path.is_file())
    assert CARD["image_0_front"][1] not in raw
    assert b"JFIF" not in raw  # no JPEG in clear at all (the re-encoded one is sealed too)
    (entry,) = [e for e in await entries(db, world.tenant.id, "登録") if e.function == services.FUNCTION_UPLOAD]
    assert entry.subject_person_id == me.person_id
    page = await client.get("/me/verification")
    assert "審査中" in page.text
    assert "/me/verification/upload" not in page.text  # no second submission while one is under review
    again = await upload(client, {"number_document": "mynumber_card"}, CARD)
    assert again.status_code == 302
    assert len(await submitted(db, me.person_id)) == 1


async def test_an_upload_without_a_csrf_token_is_refused(
    client: AsyncTestClient[Litestar], db: AsyncSession, me: Me
) -> None:
    await sign_in(client, me.persona)
    response = await upload(client, {"number_document": "mynumber_card"}, CARD, csrf=False)
    assert response.status_code == 403
    assert await submitted(db, me.person_id) == []


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"image_0_front": ("front.jpg", jpeg(), "image/jpeg")}, "裏面）の写真を撮影するか"),
        (
            {"image_0_front": ("a.jpg", b"%PDF-1.4 not an image", "image/jpeg"), "image_0_back": CARD["image_0_back"]},
            "読み取れませんでした",
        ),
        (
            {"image_0_front": ("a.jpg", jpeg()[:200], "image/jpeg"), "image_0_back": CARD["image_0_back"]},
            "読み取れませんでした",
        ),
    ],
)
async def test_a_missing_or_unreadable_image_gives_a_japanese_error_on_the_form(
    client: AsyncTestClient[Litestar], db: AsyncSession, me: Me, files: dict[str, tuple[str, bytes, str]], message: str
) -> None:
    await sign_in(client, me.persona)
    response = await upload(client, {"number_document": "mynumber_card"}, files)
    assert response.status_code == 400
    assert message in response.text
    assert await submitted(db, me.person_id) == []


async def test_a_notification_card_must_be_confirmed_as_still_valid(
    client: AsyncTestClient[Litestar], db: AsyncSession, me: Me
) -> None:
    await sign_in(client, me.persona)
    choice = {"number_document": "notification_card", "identity_1": "passport"}
    files = {"image_0_front": ("n.jpg", jpeg(), "image/jpeg"), "image_1_photo": ("p.jpg", jpeg("green"), "image/jpeg")}
    response = await upload(client, choice, files)
    assert response.status_code == 400
    assert "通知カードが使える条件" in response.text
    response = await upload(client, {**choice, "notification_card_confirmed": "yes"}, files)
    assert response.status_code == 302
    (verification,) = await submitted(db, me.person_id)
    assert verification.notification_card_confirmed
    assert verification.identity_documents == ["passport"]


async def test_the_quota_is_a_clear_error_for_the_uploader(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, me: Me
) -> None:
    app.state["settings"] = settings_with(app.state["settings"], verification_quota_bytes=1000)
    await sign_in(client, me.persona)
    response = await upload(client, {"number_document": "mynumber_card"}, CARD)
    assert response.status_code == 400
    assert 'class="form-error' in response.text  # app.documents.QuotaExceeded's message, on the form
    assert await submitted(db, me.person_id) == []
    assert await images_stored(db) == 0


async def images_stored(db: AsyncSession) -> int:
    return len(list((await db.execute(select(VerificationImage))).scalars()))


async def test_a_refusal_for_quota_is_logged_and_shown_to_the_admins(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    await sign_in(client, world.admin)
    assert 'id="storage-warning"' not in (await client.get("/admin")).text
    client.cookies.clear()
    app.state["settings"] = settings_with(app.state["settings"], verification_quota_bytes=1000)
    await sign_in(client, me.persona)
    assert (await upload(client, {"number_document": "mynumber_card"}, CARD)).status_code == 400
    (entry,) = [e for e in await entries(db, world.tenant.id, "登録") if e.function == services.FUNCTION_QUOTA_REFUSED]
    assert entry.result.value == "拒否" and entry.subject_person_id == me.person_id
    # Usage is below 90 % (nothing was kept), yet the admins are told an upload was refused.
    app.state["settings"] = settings_with(app.state["settings"], verification_quota_bytes=10**9)
    client.cookies.clear()
    await sign_in(client, world.admin)
    for path in ("/admin/verifications", "/admin"):
        page = await client.get(path)
        assert (
            'id="storage-warning"' in page.text
            and "保存容量の上限のため従業員の本人確認書類の提出を断りました" in page.text
        )
    client.cookies.clear()
    await sign_in(client, world.viewer)
    assert 'id="storage-warning"' not in (await client.get("/admin")).text


async def test_a_refusal_for_quota_older_than_30_days_is_no_longer_shown(
    db: AsyncSession, settings: Settings, world: World, me: Me
) -> None:
    from app.audit.models import AuditEntry
    from tests.support.principals import principal_of

    await services.record_quota_refusal(db, principal_of(world.admin), me.person_id)
    await db.commit()
    assert await services.last_quota_refusal(db, world.tenant.id, utcnow()) is not None
    later = utcnow() + dt.timedelta(days=services.QUOTA_NOTICE_DAYS + 1)
    assert await services.last_quota_refusal(db, world.tenant.id, later) is None
    assert (await db.execute(select(AuditEntry).where(AuditEntry.tenant_id == world.tenant.id))).first() is not None


def settings_with(settings: Settings, **changes: object) -> Settings:
    import msgspec

    return msgspec.structs.replace(settings, **changes)


# The admin's side --------------------------------------------------------------------------------------------------


async def test_the_queue_lists_submissions_for_handlers_only(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    verification = await submit_card(client, db, me)
    client.cookies.clear()
    assert (await client.get("/admin/verifications", follow_redirects=False)).status_code in (302, 303)
    await sign_in(client, world.viewer)
    assert (await client.get("/admin/verifications")).status_code == 403
    client.cookies.clear()
    await sign_in(client, world.other_admin)
    assert str(verification.id) not in (await client.get("/admin/verifications")).text
    for path in (
        f"/admin/verifications/{verification.id}",
        f"/admin/verifications/{verification.id}/images/{uuid.uuid4()}",
    ):
        assert (await client.get(path)).status_code == 404
    for action in ("approve", "reject"):
        response = await post_form(client, f"/admin/verifications/{verification.id}/{action}", {"reason": "blurry"})
        assert response.status_code == 404  # type: ignore[attr-defined]
    client.cookies.clear()
    await sign_in(client, world.handler)
    page = await client.get("/admin/verifications")
    assert f"/admin/verifications/{verification.id}" in page.text
    assert "山田 太郎" in page.text


async def test_the_queue_filters_by_status_department_and_date_and_pages_by_keyset(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me, monkeypatch: pytest.MonkeyPatch
) -> None:
    verification = await submit_card(client, db, me)
    other_department = await make_department(db, world.tenant.id, "d20", "営業課")
    for n in range(3):
        person = await make_employee(db, world.tenant.id, f"20{n}", f"佐藤 {n}郎", department=other_department)
        db.add(
            Verification(
                tenant_id=world.tenant.id,
                person_id=person.id,
                submitted_by=world.admin.account.id,
                department_id=other_department.id,
                number_document="mynumber_card",
                identity_documents=[],
                notification_card_confirmed=False,
                submitted_at=utcnow() - dt.timedelta(days=10 + n),
            )
        )
    await db.commit()
    monkeypatch.setattr(services, "QUEUE_PER_PAGE", 2)
    client.cookies.clear()
    await sign_in(client, world.admin)
    mine = await client.get(f"/admin/verifications?department={me_department(verification)}")
    assert "山田 太郎" in mine.text and "佐藤" not in mine.text
    first = await client.get(f"/admin/verifications?department={other_department.id}")
    assert first.text.count("佐藤") == 2
    next_link = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert next_link is not None
    second = await client.get(html.unescape(next_link.group(1)))
    assert second.text.count("佐藤") == 1 and "営業課" in second.text
    names = re.findall(r"佐藤 \w郎", first.text + second.text)
    assert sorted(names) == ["佐藤 0郎", "佐藤 1郎", "佐藤 2郎"]
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=9))).date()
    recent = await client.get(f"/admin/verifications?submitted_from={today.isoformat()}")
    assert "山田 太郎" in recent.text and "佐藤" not in recent.text
    bad = await client.get("/admin/verifications?submitted_from=きのう")
    assert bad.status_code == 400 and "提出日（から）は2024/04/01" in bad.text
    approved = await client.get("/admin/verifications?status=approved")
    assert "山田 太郎" not in approved.text


def me_department(verification: Verification) -> str:
    return str(verification.department_id)


async def test_viewing_an_image_decrypts_it_without_caching_and_logs_a_view(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    verification = await submit_card(client, db, me)
    stored = await images(db, verification)
    client.cookies.clear()
    await sign_in(client, world.handler)
    review = await client.get(f"/admin/verifications/{verification.id}")
    assert review.status_code == 200
    assert "**********" in review.text  # the registered number, masked
    assert f"/admin/numbers/{me.person_id}/reveal" in review.text
    response = await client.get(f"/admin/verifications/{verification.id}/images/{stored[0].id}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"] == "inline"
    with Image.open(io.BytesIO(response.content)) as opened:
        assert opened.format == "JPEG"
    views = [e for e in await entries(db, world.tenant.id, "閲覧") if e.function == services.FUNCTION_VIEW]
    assert len(views) == 1 and views[0].subject_person_id == me.person_id


async def test_approval_writes_the_record_deletes_the_images_and_the_employee_sees_it(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    verification = await submit_card(client, db, me)
    stored = await images(db, verification)
    client.cookies.clear()
    await sign_in(client, world.handler)
    assert (await post_form(client, f"/admin/verifications/{verification.id}/approve", csrf=False)).status_code == 403  # type: ignore[attr-defined]
    response = await post_form(client, f"/admin/verifications/{verification.id}/approve")
    assert response.status_code == 302  # type: ignore[attr-defined]
    (verification,) = await submitted(db, me.person_id)
    assert verification.status is VerificationStatus.APPROVED
    assert verification.images_deleted_at is not None
    assert await images(db, verification) == []
    gone = await client.get(f"/admin/verifications/{verification.id}/images/{stored[0].id}")
    assert gone.status_code == 404
    (record,) = (await db.execute(select(VerificationRecord))).scalars()
    assert (record.number_checked, record.identity_checked, record.method.value) == (True, True, "画像")
    assert record.document_kinds == ["mynumber_card"] and record.reviewer_name == world.handler.account.name
    assert [e.function for e in await entries(db, world.tenant.id, "本人確認承認")] == [services.FUNCTION_APPROVE]
    assert [e.function for e in await entries(db, world.tenant.id, "削除")] == [services.FUNCTION_DELETE]
    again = await post_form(client, f"/admin/verifications/{verification.id}/approve")
    assert again.status_code == 302  # type: ignore[attr-defined]
    assert len(list((await db.execute(select(VerificationRecord))).scalars())) == 1
    client.cookies.clear()
    await sign_in(client, me.persona)
    assert "本人確認が完了しました" in (await client.get("/me/verification")).text


async def test_rejection_needs_a_reason_shows_it_to_the_employee_and_allows_a_resubmission(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    verification = await submit_card(client, db, me)
    first_images = await images(db, verification)
    client.cookies.clear()
    await sign_in(client, world.admin)
    path = f"/admin/verifications/{verification.id}/reject"
    assert (await post_form(client, path, {"reason": ""})).status_code == 400  # type: ignore[attr-defined]
    digits = await post_form(client, path, {"reason": "blurry", "note": "番号は 123456789012 です"})
    assert digits.status_code == 400 and "12桁以上" in digits.text  # type: ignore[attr-defined]
    response = await post_form(client, path, {"reason": "glare", "note": "照明の反射を避けて撮り直してください"})
    assert response.status_code == 302  # type: ignore[attr-defined]
    (verification,) = await submitted(db, me.person_id)
    assert verification.status is VerificationStatus.REJECTED
    assert verification.images_expire_at is not None
    assert len(await images(db, verification)) == 2  # kept until the resubmission or 30 days
    assert len(await entries(db, world.tenant.id, "本人確認差戻し")) == 1
    client.cookies.clear()
    await sign_in(client, me.persona)
    page = await client.get("/me/verification")
    assert "差戻し" in page.text and "光の反射" in page.text and "照明の反射を避けて" in page.text
    response = await upload(client, {"number_document": "mynumber_card"}, CARD)
    assert response.status_code == 302
    first, second = await submitted(db, me.person_id)
    assert second.status is VerificationStatus.PENDING
    assert await images(db, first) == [] and first.images_deleted_at is not None
    assert {i.id for i in await images(db, second)}.isdisjoint({i.id for i in first_images})


async def test_images_kept_after_approval_are_purged_when_due(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, world: World, me: Me
) -> None:
    app.state["settings"] = settings_with(app.state["settings"], verification_keep_days=7)
    verification = await submit_card(client, db, me)
    client.cookies.clear()
    await sign_in(client, world.admin)
    await post_form(client, f"/admin/verifications/{verification.id}/approve")
    (verification,) = await submitted(db, me.person_id)
    assert len(await images(db, verification)) == 2
    store = blob_store_from_settings(settings)
    assert await services.purge_verification_images(db, store, utcnow() + dt.timedelta(days=6)) == 0
    assert await services.purge_verification_images(db, store, utcnow() + dt.timedelta(days=8)) == 1
    await db.commit()
    (verification,) = await submitted(db, me.person_id)
    assert await images(db, verification) == [] and verification.images_deleted_at is not None
    automatic = [e for e in await entries(db, world.tenant.id, "削除") if e.function == services.FUNCTION_AUTO_DELETE]
    assert len(automatic) == 1 and automatic[0].actor_name == "システム"
    assert len(list((await db.execute(select(VerificationRecord))).scalars())) == 1  # the record remains


async def test_a_record_lives_as_long_as_the_number_it_verified(
    client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, world: World, me: Me
) -> None:
    verification = await submit_card(client, db, me)
    client.cookies.clear()
    await sign_in(client, world.admin)
    await post_form(client, f"/admin/verifications/{verification.id}/approve")
    assert len(await services.records_of(db, world.tenant.id, me.person_id)) == 1
    await vault.erase(
        db,
        tenant_id=world.tenant.id,
        subject=Subject(person_id=me.person_id),
        actor=ACTOR,
        function="削除",
        reason="退職",
    )
    await db.commit()
    assert await services.records_of(db, world.tenant.id, me.person_id) == []
    assert await services.purge_verification_records(db) == 1
    await db.commit()
    assert list((await db.execute(select(VerificationRecord))).scalars()) == []
    # Each removal is logged (issue 11): one 保存期間経過データの削除 entry for the tenant, with the count.
    (purged,) = [e for e in await entries(db, world.tenant.id) if e.function == "保存期間経過データの削除"]
    assert purged.actor_name == "システム" and purged.subject_person_id is None
    assert (purged.detail["kind"], purged.detail["count"]) == ("verification_records", 1)
    assert await services.purge_verification_records(db) == 0
    await db.commit()
    assert len([e for e in await entries(db, world.tenant.id) if e.function == "保存期間経過データの削除"]) == 1


async def test_an_admin_records_an_in_person_check_without_images(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    path = f"/admin/verifications/people/{me.person_id}/record"
    await sign_in(client, world.other_admin)
    assert (await client.get(path)).status_code == 404
    client.cookies.clear()
    await sign_in(client, world.admin)
    assert (await client.get(path)).status_code == 200
    bad = await post_form(client, path, {"method": "対面", "number_document": "notification_card"})
    assert bad.status_code == 400 and "身元確認の書類は" in bad.text  # type: ignore[attr-defined]
    ok = await post_form(
        client, path, {"method": "対面", "number_document": "notification_card", "identity_1": "drivers_license"}
    )
    assert ok.status_code == 302  # type: ignore[attr-defined]
    (record,) = (await db.execute(select(VerificationRecord))).scalars()
    assert record.method.value == "対面" and record.document_kinds == ["notification_card", "drivers_license"]
    assert "対面" in (await client.get(path)).text


async def test_the_operator_turns_the_option_on_from_the_tenant_page(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    path = f"/operator/tenants/{world.tenant.id}/verification"
    await sign_in(client, world.admin)
    assert (await post_form(client, path, {"enabled": "yes"})).status_code == 403  # type: ignore[attr-defined]
    client.cookies.clear()
    await sign_in(client, world.operator)
    assert "本人確認オプション" in (await client.get(f"/operator/tenants/{world.tenant.id}")).text
    assert (await post_form(client, path, {"enabled": "yes"})).status_code == 302  # type: ignore[attr-defined]
    tenant = (
        await db.execute(select(Tenant).where(Tenant.id == world.tenant.id).execution_options(populate_existing=True))
    ).scalar_one()
    assert tenant.verification_enabled
    assert (
        await post_form(client, f"/operator/tenants/{uuid.uuid4()}/verification", {"enabled": "yes"})
    ).status_code == 404  # type: ignore[attr-defined]


async def test_the_admin_is_told_when_the_storage_quota_is_nearly_or_fully_used(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    await submit_card(client, db, me)
    client.cookies.clear()
    await sign_in(client, world.admin)
    assert 'id="storage-warning"' not in (await client.get("/admin/verifications")).text
    used = (await services.storage_use(db, world.tenant.id, app.state["settings"])).used
    assert used > 0
    app.state["settings"] = settings_with(app.state["settings"], verification_quota_bytes=used)
    page = await client.get("/admin/verifications")
    assert "保存容量の上限に達したため" in page.text


async def test_the_periodic_maintenance_purges_due_images(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, world: World, me: Me
) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    verification = await submit_card(client, db, me)
    client.cookies.clear()
    await sign_in(client, world.admin)
    response = await post_form(client, f"/admin/verifications/{verification.id}/reject", {"reason": "blurry"})
    assert response.status_code == 302  # type: ignore[attr-defined]
    await db.execute(
        update(Verification)
        .where(Verification.id == verification.id)
        .values(images_expire_at=utcnow() - dt.timedelta(seconds=1))
    )
    await db.commit()
    step = services.maintenance_step(settings)
    sessions = async_sessionmaker(db.bind, expire_on_commit=False)
    assert await step(sessions) == 1
    assert await step(sessions) == 0
    (verification,) = await submitted(db, me.person_id)
    assert await images(db, verification) == [] and verification.images_deleted_at is not None


async def test_approval_is_refused_once_the_number_is_gone_and_nothing_is_recorded(
    client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, world: World, me: Me
) -> None:
    verification = await submit_card(client, db, me)
    await vault.erase(
        db,
        tenant_id=world.tenant.id,
        subject=Subject(person_id=me.person_id),
        actor=ACTOR,
        function="削除",
        reason="誤登録",
    )
    await db.commit()
    await vault.shredder.wait()
    client.cookies.clear()
    await sign_in(client, world.admin)
    response = await post_form(client, f"/admin/verifications/{verification.id}/approve")
    assert response.status_code == 302  # type: ignore[attr-defined]
    page = (await client.get(f"/admin/verifications/{verification.id}")).text
    assert "無効です。承認・差戻しはできません" in page
    assert "番号を表示して照合" not in page
    (verification,) = await submitted(db, me.person_id)
    assert verification.status is VerificationStatus.VOID
    assert list((await db.execute(select(VerificationRecord))).scalars()) == []


async def test_an_employee_without_a_registered_number_is_asked_to_register_it_first(
    client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, vault: Vault, world: World
) -> None:
    await enable(db, world.tenant)
    person = await make_employee(db, world.tenant.id, "3001", "番号 なし")
    person.notice_acknowledged_at = utcnow()
    persona = await make_persona(db, settings, vault, world.tenant, "e3001", Role.EMPLOYEE)
    persona.account.person_id = person.id
    await db.commit()
    await sign_in(client, persona)
    page = await client.get("/me/verification")
    assert "先にマイナンバーを登録してから" in page.text
    assert (
        await client.get("/me/verification/upload?number_document=mynumber_card", follow_redirects=False)
    ).status_code == 302
    response = await upload(client, {"number_document": "mynumber_card"}, CARD)
    assert response.status_code == 302
    assert await submitted(db, person.id) == []


async def test_two_reviewers_deciding_at_once_make_one_decision_and_one_record(
    client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, vault: Vault, world: World, me: Me
) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from tests.support.principals import principal_of

    verification = await submit_card(client, db, me)
    store = blob_store_from_settings(settings)
    maker = async_sessionmaker(db.bind, expire_on_commit=False)
    async with maker() as first, maker() as second:
        seen_by_first = await services.get_verification(first, principal_of(world.admin), str(verification.id))
        seen_by_second = await services.get_verification(second, principal_of(world.handler), str(verification.id))
        await services.approve_verification(
            second, vault, store, principal_of(world.handler), seen_by_second, keep_days=0
        )
        await second.commit()
        with pytest.raises(services.VerificationRefused):
            await services.reject_verification(
                first, principal_of(world.admin), seen_by_first, reason="blurry", note=""
            )
        await first.rollback()
    (verification,) = await submitted(db, me.person_id)
    assert verification.status is VerificationStatus.APPROVED
    assert len(list((await db.execute(select(VerificationRecord))).scalars())) == 1


async def test_mnvault_purge_deletes_due_images_too(
    client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, world: World, me: Me
) -> None:
    from verification.cli import run_purge

    verification = await submit_card(client, db, me)
    await db.execute(
        update(Verification)
        .where(Verification.id == verification.id)
        .values(
            status=VerificationStatus.REJECTED,
            reject_reason="blurry",
            images_expire_at=utcnow() - dt.timedelta(minutes=1),
        )
    )
    await db.commit()
    assert await run_purge(settings) == 1
    (verification,) = await submitted(db, me.person_id)
    assert await images(db, verification) == []
    assert [e.function for e in await entries(db, world.tenant.id, "削除")] == [services.FUNCTION_AUTO_DELETE]


async def test_two_submissions_at_once_leave_one_under_review(
    client: AsyncTestClient[Litestar], db: AsyncSession, me: Me, monkeypatch: pytest.MonkeyPatch
) -> None:
    await submit_card(client, db, me)

    async def none_yet(*_: object) -> None:
        return None  # as a request that checked before the other one committed

    monkeypatch.setattr(services, "latest_submission", none_yet)
    response = await upload(client, {"number_document": "mynumber_card"}, CARD)
    assert response.status_code == 302
    assert "結果が出るまでお待ちください" in (await client.get("/me/verification")).text
    assert len(await submitted(db, me.person_id)) == 1


# A submission belongs to the number it was made for (tester's report, issue 12) ----------------------------------


async def replace_number(db: AsyncSession, vault: Vault, world: World, me: Me, number: str) -> None:
    """Route A: the number is replaced after the submission (as /me/number re-entry does, via the vault)."""
    await vault.replace_number(
        db,
        tenant_id=world.tenant.id,
        subject=Subject(person_id=me.person_id),
        field=NumberField.MY_NUMBER,
        number=number,
        actor=ACTOR,
        action=AuditAction.REGISTER,
        function="番号の変更",
    )
    await db.commit()
    await vault.shredder.wait()  # this arranging vault shreds after its commit, as the app's vault does


async def erase_and_register_again(db: AsyncSession, vault: Vault, world: World, me: Me, number: str) -> None:
    """Route B: the number is erased (削除管理, early deletion) and registered again."""
    await vault.erase(
        db,
        tenant_id=world.tenant.id,
        subject=Subject(person_id=me.person_id),
        actor=ACTOR,
        function="削除",
        reason="誤登録",
    )
    await db.commit()
    await vault.shredder.wait()
    person = (await db.execute(select(Person).where(Person.id == me.person_id))).scalar_one()
    await give_number(db, vault, person, number)
    await db.commit()


@pytest.mark.parametrize("route", ["replace", "erase_and_register"])
async def test_a_pending_submission_is_void_once_its_number_is_replaced_or_erased(
    client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, world: World, me: Me, route: str
) -> None:
    verification = await submit_card(client, db, me)
    (image, *_) = await images(db, verification)
    if route == "replace":
        await replace_number(db, vault, world, me, valid_my_number(8))
    else:
        await erase_and_register_again(db, vault, world, me, valid_my_number(8))
    client.cookies.clear()
    await sign_in(client, world.admin)
    page = await client.get(f"/admin/verifications/{verification.id}")
    assert page.status_code == 200
    assert "無効" in page.text and "画像は番号とともに失われた" in page.text
    assert "/images/" not in page.text and "承認する" not in page.text
    picture = await client.get(f"/admin/verifications/{verification.id}/images/{image.id}")
    assert picture.status_code == 410 and "番号が変更・削除されたため無効" in picture.text
    response = await post_form(client, f"/admin/verifications/{verification.id}/approve")
    assert response.status_code == 302  # type: ignore[attr-defined]
    assert "無効です。承認・差戻しはできません" in (await client.get(response.headers["location"])).text  # type: ignore[attr-defined]
    rejected = await post_form(client, f"/admin/verifications/{verification.id}/reject", {"reason": "blurry"})
    assert rejected.status_code == 302  # type: ignore[attr-defined]
    assert list((await db.execute(select(VerificationRecord))).scalars()) == []
    (verification,) = await submitted(db, me.person_id)
    assert verification.status is VerificationStatus.VOID
    client.cookies.clear()
    await sign_in(client, me.persona)
    mine = await client.get("/me/verification")
    assert services.VOID_MESSAGE in mine.text and 'action="/me/verification/upload"' in mine.text
    assert (await upload(client, {"number_document": "mynumber_card"}, CARD)).status_code == 302
    first, second = await submitted(db, me.person_id)
    assert (first.status, second.status) == (VerificationStatus.VOID, VerificationStatus.PENDING)


async def test_an_employee_resubmits_at_once_after_replacing_the_number(
    client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, world: World, me: Me
) -> None:
    await submit_card(client, db, me)
    await replace_number(db, vault, world, me, valid_my_number(9))
    response = await upload(client, {"number_document": "mynumber_card"}, CARD)  # without opening the page first
    assert response.status_code == 302
    first, second = await submitted(db, me.person_id)
    assert (first.status, second.status) == (VerificationStatus.VOID, VerificationStatus.PENDING)


async def test_a_rejected_submission_awaiting_resubmission_is_void_too(
    client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, world: World, me: Me
) -> None:
    verification = await submit_card(client, db, me)
    client.cookies.clear()
    await sign_in(client, world.admin)
    await post_form(client, f"/admin/verifications/{verification.id}/reject", {"reason": "blurry"})
    await replace_number(db, vault, world, me, valid_my_number(10))
    client.cookies.clear()
    await sign_in(client, me.persona)
    assert services.VOID_MESSAGE in (await client.get("/me/verification")).text
    (verification,) = await submitted(db, me.person_id)
    assert verification.status is VerificationStatus.VOID


async def test_the_purge_voids_submissions_of_replaced_numbers_and_deletes_their_images(
    client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, settings: Settings, world: World, me: Me
) -> None:
    verification = await submit_card(client, db, me)
    assert await services.void_stale_submissions(db, utcnow()) == 0
    await replace_number(db, vault, world, me, valid_my_number(11))
    assert await services.void_stale_submissions(db, utcnow()) == 1
    assert await services.purge_verification_images(db, blob_store_from_settings(settings), utcnow()) == 1
    await db.commit()
    (verification,) = await submitted(db, me.person_id)
    assert verification.status is VerificationStatus.VOID and await images(db, verification) == []


# Damaged or lost images -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("harm", "status", "message"),
    [("tamper", 409, "画像が破損しているため表示できません。"), ("lose", 410, "保存先から失われた")],
)
async def test_a_damaged_or_lost_image_is_a_japanese_page_not_a_500(
    client: AsyncTestClient[Litestar],
    db: AsyncSession,
    settings: Settings,
    world: World,
    me: Me,
    harm: str,
    status: int,
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from app.documents import blob_key

    verification = await submit_card(client, db, me)
    first, second = await images(db, verification)
    store = blob_store_from_settings(settings)
    key = blob_key(world.tenant.id, first.document_id)
    if harm == "tamper":
        await store.put(key, await store.get(blob_key(world.tenant.id, second.document_id)))  # swapped blob
    else:
        await store.delete(key)
    client.cookies.clear()
    await sign_in(client, world.admin)
    response = await client.get(f"/admin/verifications/{verification.id}/images/{first.id}")
    assert response.status_code == status
    assert message in response.text
    assert any(record.levelname == "WARNING" and "document" in record.getMessage() for record in caplog.records)


# Small defects of the forms -----------------------------------------------------------------------------------


async def test_recording_a_check_for_a_dependant_names_them_escaped_once(
    client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, world: World, me: Me
) -> None:
    employee = (await db.execute(select(Person).where(Person.id == me.person_id))).scalar_one()
    child = await make_dependant(db, employee, "山田 翔")
    await give_number(db, vault, child, valid_my_number(12))
    await db.commit()
    await sign_in(client, world.admin)
    path = f"/admin/verifications/people/{child.id}/record"
    ok = await post_form(
        client, path, {"method": "対面", "number_document": "notification_card", "identity_1": "drivers_license"}
    )
    assert ok.status_code == 302  # type: ignore[attr-defined]
    page = (await client.get(path)).text
    assert "山田 太郎 &gt; 山田 翔 さんの本人確認を記録しました" in page
    assert "&amp;gt;" not in page, page[page.find("flash") :][:400]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date_from=abc", "提出日（から）は2024/04/01、2024-04-01、令和6年4月1日、R6.4.1 のように入力してください。"),
        ("submitted_to=2026/13/45", "提出日（まで）は存在しない日付です（2026年13月45日）。"),
        ("submitted_from=2026/04/02&submitted_to=2026/04/01", "それより後の日付を入力してください"),
        ("status=bogus", "状態は一覧から選んでください。"),
        ("department=nope", "部門は一覧から選んでください。"),
    ],
)
async def test_bad_queue_filters_are_a_japanese_field_error_not_silently_dropped(
    client: AsyncTestClient[Litestar], world: World, query: str, message: str
) -> None:
    await sign_in(client, world.admin)
    response = await client.get(f"/admin/verifications?{query}")
    assert response.status_code == 400
    assert message in html.unescape(response.text)
    assert "has-error" in response.text


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("撮り直してください😀", "に絵文字は使えません"),
        ("撮り直して\u202eください", "コメント"),
        ("撮り直して\x07ください", "コメント"),
    ],
)
async def test_a_reject_comment_follows_the_free_text_rules(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me, note: str, message: str
) -> None:
    verification = await submit_card(client, db, me)
    client.cookies.clear()
    await sign_in(client, world.admin)
    response = await post_form(
        client, f"/admin/verifications/{verification.id}/reject", {"reason": "other", "note": note}
    )
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert f"コメント{message}" in response.text or message in response.text  # type: ignore[attr-defined]
    assert "has-error" in response.text  # type: ignore[attr-defined]
    (verification,) = await submitted(db, me.person_id)
    assert verification.status is VerificationStatus.PENDING
    ok = await post_form(
        client, f"/admin/verifications/{verification.id}/reject", {"reason": "other", "note": "暗い\r\n撮り直し"}
    )
    assert ok.status_code == 302  # type: ignore[attr-defined]
    (verification,) = await submitted(db, me.person_id)
    assert verification.reject_note == "暗い 撮り直し"


@pytest.mark.parametrize("note", ["対面で確認😀", "対面\u202eで確認", "対面\x1fで確認"])
async def test_a_manual_check_memo_follows_the_free_text_rules(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me, note: str
) -> None:
    await sign_in(client, world.admin)
    path = f"/admin/verifications/people/{me.person_id}/record"
    form = {"method": "対面", "number_document": "mynumber_card", "note": note}
    response = await post_form(client, path, form)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "メモに" in response.text or "メモは" in response.text  # type: ignore[attr-defined]
    assert list((await db.execute(select(VerificationRecord))).scalars()) == []


async def test_each_image_can_come_from_the_camera_or_from_the_photo_library(
    client: AsyncTestClient[Litestar], db: AsyncSession, me: Me
) -> None:
    await sign_in(client, me.persona)
    page = await client.get("/me/verification/upload?number_document=mynumber_card")
    assert page.text.count("カメラで撮影</label>") == 2 and page.text.count("写真・ファイルを選ぶ</label>") == 2
    assert page.text.count('name="image_0_front_file" type="file" accept="image/*" >') == 1  # no capture
    chosen = {"image_0_front_file": CARD["image_0_front"], "image_0_back": CARD["image_0_back"]}
    response = await upload(client, {"number_document": "mynumber_card"}, chosen)
    assert response.status_code == 302
    (verification,) = await submitted(db, me.person_id)
    assert len(await images(db, verification)) == 2


async def test_a_slot_filled_both_from_the_camera_and_the_library_is_refused_clearly(
    client: AsyncTestClient[Litestar], db: AsyncSession, me: Me
) -> None:
    await sign_in(client, me.persona)
    both = {**CARD, "image_0_front_file": ("other.jpg", jpeg("green"), "image/jpeg")}
    response = await upload(client, {"number_document": "mynumber_card"}, both)
    assert response.status_code == 400
    assert "カメラで撮影した写真と選んだ写真の両方が送られました" in response.text
    assert await submitted(db, me.person_id) == []


@pytest.mark.parametrize("route", ["replace", "erase_and_register"])
async def test_an_approval_for_a_replaced_number_asks_the_employee_to_submit_again(
    client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, world: World, me: Me, route: str
) -> None:
    """The approval (and its record) belongs to the number the photos showed: once that number is replaced, or
    erased and registered again, the new number is unverified and the employee may submit for it."""
    verification = await submit_card(client, db, me)
    client.cookies.clear()
    await sign_in(client, world.admin)
    await post_form(client, f"/admin/verifications/{verification.id}/approve")
    if route == "replace":
        await replace_number(db, vault, world, me, valid_my_number(11))
    else:
        await erase_and_register_again(db, vault, world, me, valid_my_number(11))
    client.cookies.clear()
    await sign_in(client, me.persona)
    mine = await client.get("/me/verification")
    assert services.APPROVAL_OUTDATED in mine.text and "本人確認が完了しました" not in mine.text
    assert 'action="/me/verification/upload"' in mine.text
    assert (await client.get("/me/verification/upload?number_document=mynumber_card")).status_code == 200
    assert (await upload(client, {"number_document": "mynumber_card"}, CARD)).status_code == 302
    first, second = await submitted(db, me.person_id)
    assert (first.status, second.status) == (VerificationStatus.APPROVED, VerificationStatus.PENDING)
    assert len(await images(db, second)) == 2


async def test_an_approval_for_the_live_number_still_refuses_a_second_submission(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    verification = await submit_card(client, db, me)
    client.cookies.clear()
    await sign_in(client, world.admin)
    await post_form(client, f"/admin/verifications/{verification.id}/approve")
    client.cookies.clear()
    await sign_in(client, me.persona)
    mine = await client.get("/me/verification")
    assert "本人確認が完了しました" in mine.text and 'action="/me/verification/upload"' not in mine.text
    assert (await upload(client, {"number_document": "mynumber_card"}, CARD)).status_code == 302
    assert len(await submitted(db, me.person_id)) == 1


async def test_another_tenants_admin_gets_404_with_the_real_ids_of_every_route(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    verification = await submit_card(client, db, me)
    (image, *_) = await images(db, verification)
    client.cookies.clear()
    await sign_in(client, world.other_admin)
    base = f"/admin/verifications/{verification.id}"
    for path in (base, f"{base}/images/{image.id}", f"/admin/verifications/people/{me.person_id}/record"):
        response = await client.get(path)
        assert response.status_code == 404 and "山田 太郎" not in response.text
    for path, form in (
        (f"{base}/approve", {}),
        (f"{base}/reject", {"reason": "blurry"}),
        (f"/admin/verifications/people/{me.person_id}/record", {"method": "対面", "number_document": "mynumber_card"}),
    ):
        assert (await post_form(client, path, form)).status_code == 404  # type: ignore[attr-defined]
    (verification,) = await submitted(db, me.person_id)
    assert verification.status is VerificationStatus.PENDING
    assert list((await db.execute(select(VerificationRecord))).scalars()) == []
    assert await entries(db, world.tenant.id, "閲覧") == []


async def test_a_resubmission_refused_for_quota_keeps_the_rejected_images(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
) -> None:
    """Nothing of a refused upload is kept, and nothing is lost either: the rejected submission's images (kept for
    the resubmission or 30 days) still open, and the storage use is what it was."""
    verification = await submit_card(client, db, me)
    (image, *_) = await images(db, verification)
    client.cookies.clear()
    await sign_in(client, world.admin)
    await post_form(client, f"/admin/verifications/{verification.id}/reject", {"reason": "blurry"})
    used = (await services.storage_use(db, world.tenant.id, app.state["settings"])).used
    app.state["settings"] = settings_with(app.state["settings"], verification_quota_bytes=used + 1000)
    client.cookies.clear()
    await sign_in(client, me.persona)
    bigger = {name: (file, jpeg("green", (1200, 900)), kind) for name, (file, _, kind) in CARD.items()}
    response = await upload(client, {"number_document": "mynumber_card"}, bigger)
    assert response.status_code == 400 and 'class="form-error' in response.text
    (verification,) = await submitted(db, me.person_id)
    assert verification.status is VerificationStatus.REJECTED and verification.images_deleted_at is None
    client.cookies.clear()
    await sign_in(client, world.admin)
    picture = await client.get(f"/admin/verifications/{verification.id}/images/{image.id}")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert (await services.storage_use(db, world.tenant.id, app.state["settings"])).used == used


async def document_expiries(db: AsyncSession, verification: Verification) -> list[dt.datetime | None]:
    from app.documents import DocumentBlob

    statement = (
        select(DocumentBlob.expires_at)
        .join(VerificationImage, VerificationImage.document_id == DocumentBlob.id)
        .where(VerificationImage.verification_id == verification.id)
        .execution_options(populate_existing=True)
    )
    return list((await db.execute(statement)).scalars())


@pytest.mark.parametrize("decision", ["approve", "reject", "void"])
async def test_the_stored_images_metadata_says_when_they_expire(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    db: AsyncSession,
    vault: Vault,
    world: World,
    me: Me,
    decision: str,
) -> None:
    """The database keeps kind, size, sha256, created and expires of every sealed image (issue 12)."""
    app.state["settings"] = settings_with(app.state["settings"], verification_keep_days=7)
    verification = await submit_card(client, db, me)
    assert await document_expiries(db, verification) == [None, None]  # under review: not due
    if decision == "void":
        await replace_number(db, vault, world, me, valid_my_number(13))
        assert await services.void_if_stale(db, vault, verification)
        await db.commit()
    else:
        client.cookies.clear()
        await sign_in(client, world.admin)
        response = await post_form(client, f"/admin/verifications/{verification.id}/{decision}", {"reason": "blurry"})
        assert response.status_code == 302  # type: ignore[attr-defined]
    (verification,) = await submitted(db, me.person_id)
    due = verification.images_expire_at
    assert due is not None and verification.images_deleted_at is None
    days = {"approve": 7, "reject": services.REJECTED_KEEP_DAYS, "void": 0}[decision]
    assert abs(due - (verification.reviewed_at or verification.updated_at) - dt.timedelta(days=days)) < dt.timedelta(
        seconds=5
    )
    assert await document_expiries(db, verification) == [due, due]
