"""本人確認 for payees (取引先): the documents go up through the payee's one-time link, the admin reviews them in the
same queue, the payee follows the result through the same link while it is valid.

The ladder of each public page: an unusable link (unknown, another tenant's, expired, locked, revoked, replaced),
the option off, a corporation, missing CSRF token, invalid input, valid.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.config import Settings
from app.db import utcnow
from tenants.models import PayeeLink, PayeeType, Person
from tests.support.audit import entries
from tests.support.cards import confirmation_token
from tests.support.people import make_payee, valid_my_number
from tests.support.world import World, csrf_token, post_form, second_device, sign_in
from tests.verification.images import GPS_TEXT, phone_jpeg
from tests.verification.test_verification import enable, images, jpeg, submitted
from verification import services
from verification.documents import NOT_ACCEPTED
from verification.models import VerificationRecord, VerificationStatus

CAMERA = 'accept="image/*" capture="environment"'
AGENT = "PayeePhone/1.0 (serial 123456789012)"  # a 12-digit run: the log keeps it redacted


def card(front: bytes | None = None) -> dict[str, tuple[str, bytes, str]]:
    return {
        "image_0_front": ("front.jpg", front or jpeg("red"), "image/jpeg"),
        "image_0_back_file": ("back.jpg", jpeg("blue"), "image/jpeg"),  # chosen from the phone's photos
    }


class Phone:
    """The payee's phone: its own cookie jar on the shared test client, never signed in."""

    def __init__(self, client: AsyncTestClient[Litestar], path: str) -> None:
        self.client = client
        self.path = path  # /p/<tenant code>/<token>
        self.documents = f"{path}/verification"
        self.jar = httpx.Cookies()

    async def get(self, path: str) -> Any:
        with second_device(self.client, self.jar):
            return await self.client.get(path, follow_redirects=False)

    async def register(self, number: str) -> Any:
        """Enter the number and confirm it on the screen that shows it: returns the done page."""
        with second_device(self.client, self.jar):
            await self.client.get(self.path)
            shown: Any = await post_form(self.client, self.path, {"number": number})
            assert shown.status_code == 200, shown.text[:500]
            data = {"confirmation": confirmation_token(shown.text)}
            return await post_form(self.client, f"{self.path}/confirm", data)

    async def upload(
        self, files: dict[str, tuple[str, bytes, str]], choice: dict[str, str] | None = None, *, csrf: bool = True
    ) -> Any:
        with second_device(self.client, self.jar):
            await self.client.get(self.documents)  # the page sets the CSRF cookie
            data = dict(choice or {"number_document": "mynumber_card"})
            if csrf:
                data["_csrf_token"] = await csrf_token(self.client)
            return await self.client.post(
                f"{self.documents}/upload",
                data=data,
                files=files,
                headers={"user-agent": AGENT},
                follow_redirects=False,
            )


async def new_payee(db: AsyncSession, world: World, kind: PayeeType = PayeeType.INDIVIDUAL) -> Person:
    person = await make_payee(
        db, world.tenant.id, "佐藤 花子" if kind is PayeeType.INDIVIDUAL else "株式会社佐藤", kind
    )
    await db.commit()
    return person


async def as_admin(client: AsyncTestClient[Litestar], world: World) -> None:
    """The shared client's own jar is the admin's (signed in once: a TOTP code is not taken twice)."""
    if (await client.get("/admin", follow_redirects=False)).status_code != 200:
        client.cookies.clear()
        await sign_in(client, world.admin)


async def issue(client: AsyncTestClient[Litestar], world: World, person: Person) -> str:
    """The admin issues a link; returns its path."""
    await as_admin(client, world)
    response: Any = await post_form(client, f"/admin/payees/{person.id}/link")
    assert response.status_code == 200, response.text[:500]
    match = re.search(r'id="payee-link-url"[^>]*value="([^"]+)"', response.text)
    assert match
    return urlparse(match.group(1)).path


async def link_of(db: AsyncSession, person: Person) -> PayeeLink:
    statement = (
        select(PayeeLink)
        .where(PayeeLink.tenant_id == person.tenant_id, PayeeLink.person_id == person.id)
        .order_by(PayeeLink.created_at.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return (await db.execute(statement)).scalar_one()


async def registered_phone(client: AsyncTestClient[Litestar], db: AsyncSession, world: World, person: Person) -> Phone:
    """The option on, a link issued, the payee's number entered and confirmed through it."""
    await enable(db, world.tenant)
    phone = Phone(client, await issue(client, world, person))
    done = await phone.register(valid_my_number(3))
    assert done.status_code == 200, done.text[:500]
    assert f'href="{phone.documents}"' in done.text  # the next step is offered on the done page
    return phone


async def decide(
    client: AsyncTestClient[Litestar], world: World, verification_id: uuid.UUID, action: str, **data: str
) -> Any:
    await as_admin(client, world)
    return await post_form(client, f"/admin/verifications/{verification_id}/{action}", data)


# The whole way ----------------------------------------------------------------------------------------------------


async def test_a_payee_uploads_through_the_link_the_admin_approves_and_the_payee_sees_it(
    client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, world: World
) -> None:
    person = await new_payee(db, world)
    phone = await registered_phone(client, db, world, person)
    link = await link_of(db, person)
    assert link.used_at is not None  # the number can no longer be entered through it

    # The used link leads to the documents; the page asks for the documents like the employee's.
    opened = await phone.get(phone.path)
    assert opened.status_code in (302, 303) and opened.headers["location"] == phone.documents
    page = await phone.get(phone.documents)
    assert page.status_code == 200
    assert NOT_ACCEPTED in page.text and world.tenant.name in page.text and "佐藤 花子 様" in page.text
    assert "扶養家族の書類は提出不要" not in page.text  # the employee's note on dependants
    assert f'action="{phone.documents}/upload"' in page.text
    form = await phone.get(f"{phone.documents}/upload?number_document=mynumber_card")
    assert form.status_code == 200
    assert form.text.count(CAMERA) == 2 and f'action="{phone.documents}/upload"' in form.text
    assert "1枚10MBまで" in form.text

    photo = phone_jpeg()
    sent = await phone.upload(card(photo))
    assert sent.status_code in (302, 303) and sent.headers["location"] == phone.documents, sent.text[:1000]
    (verification,) = await submitted(db, person.id)
    assert verification.status is VerificationStatus.PENDING
    assert verification.submitted_by == link.id  # payees have no account: the link submitted it
    assert verification.department_id is None
    assert len(await images(db, verification)) == 2
    raw = b"".join(path.read_bytes() for path in settings.data_path.rglob("*") if path.is_file())
    assert photo not in raw and GPS_TEXT.encode() not in raw and b"JFIF" not in raw

    (upload,) = [e for e in await entries(db, world.tenant.id, "登録") if e.function == services.FUNCTION_UPLOAD]
    assert upload.subject_person_id == person.id
    assert (upload.actor_login_id, upload.actor_role, upload.actor_user_id) == ("payee-link", "取引先", None)
    assert upload.actor_name == "佐藤 花子" and upload.actor_organisation == world.tenant.name
    assert upload.user_agent is not None and "PayeePhone" in upload.user_agent
    assert "123456789012" not in upload.user_agent  # redacted as every client text in the log

    status = await phone.get(phone.documents)
    assert "審査中" in status.text and f"{phone.documents}/upload" not in status.text
    again = await phone.upload(card())  # a second submission while one is under review: nothing new
    assert again.status_code in (302, 303)
    assert len(await submitted(db, person.id)) == 1

    # The admin's queue and review page show a payee: its kind, no department.
    await as_admin(client, world)
    queue = await client.get("/admin/verifications")
    assert str(verification.id) in queue.text
    row = queue.text[queue.text.index(str(verification.id)) - 1500 : queue.text.index(str(verification.id))]
    assert '<td class="person-kind">取引先</td>' in row and "佐藤 花子" in row
    review = await client.get(f"/admin/verifications/{verification.id}")
    assert review.status_code == 200
    assert 'id="person-kind">取引先' in review.text and "部門・社員コード" not in review.text
    (image,) = [i for i in await images(db, verification) if i.side == "front"]
    shown = await client.get(f"/admin/verifications/{verification.id}/images/{image.id}")
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    assert GPS_TEXT.encode() not in shown.content

    approved = await decide(client, world, verification.id, "approve")
    assert approved.status_code in (302, 303)
    (record,) = (
        await db.execute(select(VerificationRecord).where(VerificationRecord.person_id == person.id))
    ).scalars()
    assert record.tenant_id == world.tenant.id and record.verification_id == verification.id
    assert [e.function for e in await entries(db, world.tenant.id, "本人確認承認")] == [services.FUNCTION_APPROVE]

    result = await phone.get(phone.documents)
    assert result.status_code == 200
    assert re.search(r'id="verification-status">承認<', result.text) and "本人確認が完了しました" in result.text
    assert f"{phone.documents}/upload" not in result.text


async def test_a_rejected_payee_sees_the_reason_and_submits_again(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await new_payee(db, world)
    phone = await registered_phone(client, db, world, person)
    assert (await phone.upload(card())).status_code in (302, 303)
    (first,) = await submitted(db, person.id)
    rejected = await decide(client, world, first.id, "reject", reason="glare", note="照明の映り込みを避けてください")
    assert rejected.status_code in (302, 303)

    page = await phone.get(phone.documents)
    assert "差戻し" in page.text
    assert services.REJECT_REASONS["glare"] in page.text and "照明の映り込みを避けてください" in page.text
    assert f'action="{phone.documents}/upload"' in page.text  # the choice is offered again

    refused = await phone.upload({"image_0_front": ("front.jpg", b"%PDF-1.4 not an image", "image/jpeg")})
    assert refused.status_code == 400 and "読み取れませんでした" in refused.text
    missing = await phone.upload(card(), {"number_document": ""})
    assert missing.status_code == 400
    assert len(await submitted(db, person.id)) == 1

    again = await phone.upload(card())
    assert again.status_code in (302, 303)
    first_again, second = await submitted(db, person.id)
    assert (first_again.status, second.status) == (VerificationStatus.REJECTED, VerificationStatus.PENDING)
    assert await images(db, first_again) == []  # the resubmission replaces the rejected images
    assert "審査中" in (await phone.get(phone.documents)).text
    deleted = [e for e in await entries(db, world.tenant.id, "削除") if e.function == services.FUNCTION_DELETE]
    assert [(e.actor_login_id, e.subject_person_id) for e in deleted] == [("payee-link", person.id)]


async def test_an_upload_without_a_csrf_token_is_refused(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await new_payee(db, world)
    phone = await registered_phone(client, db, world, person)
    assert (await phone.upload(card(), csrf=False)).status_code == 403
    assert await submitted(db, person.id) == []


async def test_before_the_number_the_page_asks_for_it_first(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await new_payee(db, world)
    await enable(db, world.tenant)
    phone = Phone(client, await issue(client, world, person))
    entry = await phone.get(phone.path)
    assert entry.status_code == 200 and "本人確認書類" in entry.text  # the enter page says what comes next
    page = await phone.get(phone.documents)
    assert page.status_code == 200
    assert "先にマイナンバーを登録" in page.text and f'href="{phone.path}"' in page.text
    assert f"{phone.documents}/upload" not in page.text
    assert (await phone.upload(card())).status_code in (302, 303)
    assert await submitted(db, person.id) == []


# Links that cannot be used ----------------------------------------------------------------------------------------


async def _refusals(phone: Phone) -> list[int]:
    answers = [
        await phone.get(phone.documents),
        await phone.get(f"{phone.documents}/upload?number_document=mynumber_card"),
        await phone.upload(card()),
    ]
    return [response.status_code for response in answers]


@pytest.mark.parametrize(
    ("change", "status", "title"),
    [
        ({"expires_at": utcnow() - dt.timedelta(minutes=1)}, 410, "有効期限が切れています"),
        ({"locked_at": utcnow()}, 423, "ロックされました"),
        ({"revoked_at": utcnow()}, 410, "無効になっています"),
    ],
)
async def test_an_expired_locked_or_revoked_link_gets_the_payee_pages_refusal(
    client: AsyncTestClient[Litestar],
    db: AsyncSession,
    world: World,
    change: dict[str, object],
    status: int,
    title: str,
) -> None:
    person = await new_payee(db, world)
    phone = await registered_phone(client, db, world, person)
    link = await link_of(db, person)
    await db.execute(update(PayeeLink).where(PayeeLink.id == link.id).values(**change))
    await db.commit()
    assert await _refusals(phone) == [status, status, status]
    page = await phone.get(phone.documents)
    assert title in page.text
    assert await submitted(db, person.id) == []


async def test_a_used_link_replaced_by_a_new_one_is_refused_and_the_new_one_works(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await new_payee(db, world)
    phone = await registered_phone(client, db, world, person)
    newer = Phone(client, await issue(client, world, person))  # e.g. the first one was about to expire
    assert await _refusals(phone) == [410, 410, 410]
    assert "使用済み" in (await phone.get(phone.documents)).text
    entry = await newer.get(newer.path)  # the new link's page leads to the documents without typing the number
    assert entry.status_code == 200 and f'href="{newer.documents}" id="payee-documents"' in entry.text
    assert (await newer.get(newer.documents)).status_code == 200
    assert (await newer.upload(card())).status_code in (302, 303)
    (verification,) = await submitted(db, person.id)
    assert verification.submitted_by == (await link_of(db, person)).id


async def test_another_tenants_address_or_ids_give_404(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await new_payee(db, world)
    phone = await registered_phone(client, db, world, person)
    token = phone.path.rsplit("/", 1)[1]
    for wrong in (f"/p/{world.other_tenant.code}/{token}", f"{phone.path[:-4]}xxxx", "/p/acme/x"):
        stranger = Phone(client, wrong)
        assert await _refusals(stranger) == [404, 404, 404]
    assert (await phone.upload(card())).status_code in (302, 303)
    (verification,) = await submitted(db, person.id)
    (image, *_) = await images(db, verification)
    client.cookies.clear()
    await sign_in(client, world.other_admin)
    assert str(verification.id) not in (await client.get("/admin/verifications")).text
    for path in (
        f"/admin/verifications/{verification.id}",
        f"/admin/verifications/{verification.id}/images/{image.id}",
        f"/admin/verifications/people/{person.id}/record",
    ):
        assert (await client.get(path)).status_code == 404, path
    for action in ("approve", "reject"):
        response: Any = await post_form(client, f"/admin/verifications/{verification.id}/{action}", {"reason": "glare"})
        assert response.status_code == 404
    (still,) = await submitted(db, person.id)
    assert still.status is VerificationStatus.PENDING


async def test_without_the_option_or_for_a_corporation_the_link_keeps_to_the_number(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await new_payee(db, world)
    phone = await registered_phone(client, db, world, person)
    await enable(db, world.tenant, False)
    assert (await phone.get(phone.documents)).headers["location"] == phone.path
    assert (await phone.upload(card())).headers["location"] == phone.path
    assert (await phone.get(phone.path)).status_code == 410  # used: today's page, no way to the documents
    await enable(db, world.tenant)
    corporation = await new_payee(db, world, PayeeType.CORPORATION)
    corporate = Phone(client, await issue(client, world, corporation))
    assert (await corporate.get(corporate.documents)).headers["location"] == corporate.path
    assert "本人確認書類" not in (await corporate.get(corporate.path)).text
    assert await submitted(db, person.id) == [] and await submitted(db, corporation.id) == []
    assert [
        e for e in await entries(db, world.tenant.id, AuditAction.REGISTER) if e.function == services.FUNCTION_UPLOAD
    ] == []


# The upload page's size limit ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_bytes", "label"),
    [(512 * 1024, "0.5MB"), (1024 * 1024, "1.0MB"), (int(2.99 * 1024 * 1024), "2.9MB"), (10 * 1024 * 1024, "10MB")],
)
def test_the_size_limit_is_shown_with_one_decimal_below_10_mb(max_bytes: int, label: str) -> None:
    from verification.controllers import max_image_label

    assert max_image_label(max_bytes) == label  # never more than the limit, never "0MB"
