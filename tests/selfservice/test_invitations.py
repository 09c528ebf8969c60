"""Invitations (admin side): the page, issuing letters as a PDF, re-issue, expiry, mail through a real SMTP server."""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from aiosmtpd.controller import Controller
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account, Role
from app.auth.services import ONE_TIME_PASSWORD_ALPHABET
from app.config import Settings
from app.db import utcnow
from selfservice.services import JST
from tenants.models import Person
from tests.support.audit import details, entries
from tests.support.people import make_department, make_employee
from tests.support.world import World, csrf_token, second_device, sign_in
from tests.test_mail import Inbox, free_port

NEW_PASSWORD = "kumo no ue no sora 2026"


def pdf_pages(content: bytes) -> list[str]:
    """Each page's text with whitespace removed."""
    return [re.sub(r"\s+", "", page.extract_text()) for page in PdfReader(io.BytesIO(content)).pages]


def one_time_password(page: str) -> str:
    match = re.search(rf"初回パスワード([{ONE_TIME_PASSWORD_ALPHABET}]{{12}})", page)
    assert match, "no initial password on the page"
    return match.group(1)


async def invite(client: AsyncTestClient[Litestar], *people: Person | str) -> httpx.Response:
    ids = [str(p.id) if isinstance(p, Person) else p for p in people]
    data: dict[str, Any] = {"_csrf_token": await csrf_token(client), "person_id": ids}
    return await client.post("/admin/invitations", data=data, follow_redirects=False)


async def invite_as_admin(client: AsyncTestClient[Litestar], world: World, *people: Person) -> list[str]:
    """Sign the admin in on its own cookie jar, invite, and return each letter's page text."""
    with second_device(client, httpx.Cookies()):
        await sign_in(client, world.admin)
        response = await invite(client, *people)
    assert response.status_code == 200, response.text[:500]
    return pdf_pages(response.content)


async def sign_in_with(
    client: AsyncTestClient[Litestar], tenant_code: str, login_id: str, password: str
) -> httpx.Response:
    data = {"_csrf_token": await csrf_token(client), "tenant_code": tenant_code, "login_id": login_id}
    return await client.post("/login", data={**data, "password": password}, follow_redirects=False)


async def first_sign_in(client: AsyncTestClient[Litestar], tenant_code: str, login_id: str, password: str) -> None:
    """One-time password, then the forced password change; lands on /me."""
    response = await sign_in_with(client, tenant_code, login_id, password)
    assert response.headers["location"] == "/login/password"
    data = {"_csrf_token": await csrf_token(client), "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    response = await client.post("/login/password", data=data, follow_redirects=False)
    assert response.status_code in (302, 303), response.text[:500]
    assert response.headers["location"] == "/me"


async def account_of(db: AsyncSession, person: Person) -> Account | None:
    statement = (
        select(Account)
        .where(Account.tenant_id == person.tenant_id, Account.person_id == person.id)
        .execution_options(populate_existing=True)
    )
    return (await db.execute(statement)).scalar_one_or_none()


@pytest.fixture
async def staff(db: AsyncSession, world: World) -> dict[str, Person]:
    department = await make_department(db, world.tenant.id, "105", "人事部")
    people = {
        "higashino": await make_employee(db, world.tenant.id, "104", "東野 二郎", department=department),
        "sato": await make_employee(db, world.tenant.id, "201", "佐藤 一郎"),
    }
    people["sato"].email = "ichiro.sato@example.jp"
    await db.commit()
    return people


class TestInvitationPage:
    async def test_it_lists_employees_with_their_invitation_state(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World, staff: dict[str, Person]
    ) -> None:
        await invite_as_admin(client, world, staff["higashino"])
        expired = await make_employee(db, world.tenant.id, "301", "期限 切子")
        active = await make_employee(db, world.tenant.id, "302", "利用 中子")
        retired = await make_employee(db, world.tenant.id, "303", "退職 太郎")
        retired.retirement_date = dt.date(2025, 3, 31)  # the 退職日 is the one source of truth
        await db.commit()
        await invite_as_admin(client, world, expired, active)
        (await account_of(db, expired)).password_expires_at = utcnow() - dt.timedelta(minutes=1)  # type: ignore[union-attr]
        (await account_of(db, active)).must_change_password = False  # type: ignore[union-attr]
        await db.commit()
        await sign_in(client, world.handler)

        response = await client.get("/admin/invitations")

        assert response.status_code == 200
        rows = {name: row for name, row in table_rows(response.text)}
        assert "招待中" in rows["東野 二郎"] and "まで" in rows["東野 二郎"]
        assert "未招待" in rows["佐藤 一郎"]
        assert "期限切れ" in rows["期限 切子"]
        assert "利用中" in rows["利用 中子"]
        assert "退職" in rows["退職 太郎"]
        assert 'name="person_id"' not in rows["退職 太郎"]
        assert f'value="{staff["sato"].id}"' in rows["佐藤 一郎"]

    async def test_it_shows_the_copyable_sign_in_url_and_login_ids(
        self, client: AsyncTestClient[Litestar], settings: Settings, world: World, staff: dict[str, Person]
    ) -> None:
        await invite_as_admin(client, world, staff["higashino"])
        await sign_in(client, world.admin)

        html = (await client.get("/admin/invitations")).text

        url = f"{settings.effective_base_url}/t/acme/login"
        assert f'value="{url}"' in html
        assert f'value="{url} ログインID: 104"' in html
        assert 'data-copy="sign-in-url"' in html
        assert "/static/copy.js" in html


def table_rows(html: str) -> Iterator[tuple[str, str]]:
    for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S):
        name = re.search(r"<label for=\"p-[^\"]+\">([^<]+)</label>", row)
        if name:
            yield name.group(1), row


class TestIssuing:
    async def test_it_returns_one_letter_page_per_employee_as_an_attachment(
        self, client: AsyncTestClient[Litestar], world: World, staff: dict[str, Person]
    ) -> None:
        await sign_in(client, world.admin)

        response = await invite(client, staff["sato"], staff["higashino"])

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        today = utcnow().astimezone(JST).strftime("%Y%m%d")
        assert response.headers["content-disposition"] == f'attachment; filename="invitations-{today}.pdf"'
        pages = pdf_pages(response.content)
        assert len(pages) == 2
        assert "東野二郎様" in pages[0] and "ログインＩＤ104" in pages[0]
        assert "佐藤一郎様" in pages[1] and "ログインＩＤ201" in pages[1]
        assert "http://127.0.0.1:8000/t/acme/login" in pages[0]
        assert one_time_password(pages[0]) != one_time_password(pages[1])

    async def test_it_creates_employee_accounts_linked_to_the_person(
        self,
        client: AsyncTestClient[Litestar],
        db: AsyncSession,
        settings: Settings,
        world: World,
        staff: dict[str, Person],
    ) -> None:
        await sign_in(client, world.handler)

        await invite(client, staff["sato"])

        account = await account_of(db, staff["sato"])
        assert account is not None
        assert (account.login_id, account.role, account.name) == ("201", Role.EMPLOYEE, "佐藤 一郎")
        assert account.must_change_password is True
        assert account.password_expires_at is not None
        remaining = account.password_expires_at - utcnow()
        assert (
            dt.timedelta(days=settings.invitation_days - 1) < remaining <= dt.timedelta(days=settings.invitation_days)
        )

    async def test_each_issuance_is_logged_without_the_password(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World, staff: dict[str, Person]
    ) -> None:
        await sign_in(client, world.admin)
        password = one_time_password(pdf_pages((await invite(client, staff["sato"])).content)[0])
        await invite(client, staff["sato"])

        logged = [e for e in await entries(db, world.tenant.id, "アカウント変更") if e.function == "招待"]

        assert [d["login_id"] for d in details(logged)] == ["201", "201"]
        assert [d["event"] for d in details(logged)] == ["invited", "reissued"]
        assert logged[0].subject_name == "佐藤 一郎"
        assert logged[0].actor_login_id == "admin"
        assert password not in repr([vars(e) for e in logged])

    async def test_the_login_id_is_the_employee_code_unless_it_is_taken(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
    ) -> None:
        clash = await make_employee(db, world.tenant.id, "emp001", "同じ コード")  # the world's employee login id
        await db.commit()
        await sign_in(client, world.admin)

        pages = pdf_pages((await invite(client, clash)).content)

        assert "ログインＩＤemp001-2" in pages[0]
        assert (await account_of(db, clash)).login_id == "emp001-2"  # type: ignore[union-attr]

    async def test_nothing_selected_is_refused_in_japanese(
        self, client: AsyncTestClient[Litestar], world: World, staff: dict[str, Person]
    ) -> None:
        await sign_in(client, world.admin)

        response = await invite(client)

        assert response.status_code == 400
        assert "招待する従業員を選択してください。" in response.text

    async def test_a_retired_employee_is_not_invited(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World, staff: dict[str, Person]
    ) -> None:
        staff["higashino"].retirement_date = dt.date(2020, 3, 31)
        await db.commit()
        await sign_in(client, world.admin)

        response = await invite(client, staff["sato"], staff["higashino"])

        assert response.status_code == 400
        assert "退職済みまたは無効の従業員は招待できません（東野 二郎）" in response.text
        assert (
            f'value="{staff["sato"].id}" id="p-{staff["sato"].id}" aria-label="佐藤 一郎 を選択" checked'
            in response.text
        )
        assert await account_of(db, staff["sato"]) is None

    async def test_another_tenants_employee_is_not_found(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World, staff: dict[str, Person]
    ) -> None:
        stranger = await make_employee(db, world.other_tenant.id, "201", "よその 社員")
        await db.commit()
        await sign_in(client, world.admin)

        assert (await invite(client, stranger)).status_code == 404
        assert (await invite(client, staff["sato"], stranger)).status_code == 404
        assert (await invite(client, str(uuid.uuid4()))).status_code == 404
        assert await account_of(db, stranger) is None
        assert await account_of(db, staff["sato"]) is None

    async def test_a_viewer_cannot_invite(
        self, client: AsyncTestClient[Litestar], world: World, staff: dict[str, Person]
    ) -> None:
        await sign_in(client, world.viewer)

        assert (await client.get("/admin/invitations")).status_code == 403
        assert (await invite(client, staff["sato"])).status_code == 403

    async def test_a_post_without_csrf_token_is_refused(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World, staff: dict[str, Person]
    ) -> None:
        await sign_in(client, world.admin)

        response = await client.post("/admin/invitations", data={"person_id": str(staff["sato"].id)})

        assert response.status_code == 403
        assert await account_of(db, staff["sato"]) is None


class TestSigningInWithAnInvitation:
    async def test_the_one_time_password_leads_to_a_password_change_then_home(
        self, client: AsyncTestClient[Litestar], world: World, staff: dict[str, Person]
    ) -> None:
        (page,) = await invite_as_admin(client, world, staff["sato"])

        await first_sign_in(client, "acme", "201", one_time_password(page))

        assert (await client.get("/me", follow_redirects=False)).headers["location"] == "/me/notice"
        assert (await sign_in_with(client, "acme", "201", NEW_PASSWORD)).status_code in (302, 303)

    async def test_re_issuing_invalidates_the_old_password(
        self, client: AsyncTestClient[Litestar], world: World, staff: dict[str, Person]
    ) -> None:
        (first,) = await invite_as_admin(client, world, staff["sato"])
        (second,) = await invite_as_admin(client, world, staff["sato"])

        refused = await sign_in_with(client, "acme", "201", one_time_password(first))
        accepted = await sign_in_with(client, "acme", "201", one_time_password(second))

        assert refused.status_code == 400
        assert "いずれかが正しくないか" in refused.text
        assert accepted.headers["location"] == "/login/password"

    async def test_re_issuing_ends_the_employees_sessions(
        self, client: AsyncTestClient[Litestar], world: World, staff: dict[str, Person]
    ) -> None:
        (page,) = await invite_as_admin(client, world, staff["sato"])
        await first_sign_in(client, "acme", "201", one_time_password(page))
        assert (await client.get("/me/notice")).status_code == 200

        await invite_as_admin(client, world, staff["sato"])

        response = await client.get("/me/notice", follow_redirects=False)
        assert response.status_code in (302, 303)
        assert response.headers["location"].startswith("/login")

    async def test_an_expired_invitation_is_refused(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World, staff: dict[str, Person]
    ) -> None:
        (page,) = await invite_as_admin(client, world, staff["sato"])
        account = await account_of(db, staff["sato"])
        assert account is not None
        account.password_expires_at = utcnow() - dt.timedelta(seconds=1)
        await db.commit()

        response = await sign_in_with(client, "acme", "201", one_time_password(page))

        assert response.status_code == 400
        assert "いずれかが正しくないか" in response.text
        failures = details(await entries(db, world.tenant.id, "ログイン失敗"))
        assert failures[-1]["reason"] == "expired_one_time_password"

    async def test_totp_is_asked_only_when_the_tenant_requires_it_for_employees(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World, staff: dict[str, Person]
    ) -> None:
        world.tenant.require_totp_for_employees = True
        db.add(world.tenant)
        await db.commit()
        (page,) = await invite_as_admin(client, world, staff["sato"])
        await sign_in_with(client, "acme", "201", one_time_password(page))
        data = {"_csrf_token": await csrf_token(client), "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}

        response = await client.post("/login/password", data=data, follow_redirects=False)

        assert response.headers["location"] == "/login/enroll"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


class TestInvitationMail:
    @pytest.fixture
    def app(self, settings: Settings, inbox: tuple[Inbox, int]) -> Litestar:
        from app.main import create_app

        smtp = {"smtp_host": "127.0.0.1", "smtp_port": inbox[1], "smtp_from": "mynumber@acme.example.jp"}
        return create_app(msgspec.structs.replace(settings, **smtp))

    async def test_it_mails_employees_with_an_address_but_never_the_password(
        self, client: AsyncTestClient[Litestar], world: World, staff: dict[str, Person], inbox: tuple[Inbox, int]
    ) -> None:
        handler, _ = inbox
        await sign_in(client, world.admin)

        response = await invite(client, staff["sato"], staff["higashino"])

        assert response.status_code == 200
        assert len(pdf_pages(response.content)) == 2
        assert len(handler.envelopes) == 1
        assert handler.envelopes[0].rcpt_tos == ["ichiro.sato@example.jp"]
        message = handler.message()
        body = message.get_content()
        assert "マイナンバー登録のお願い" in message["Subject"]
        assert "ログインID：201" in body
        assert "http://127.0.0.1:8000/t/acme/login" in body
        assert one_time_password(pdf_pages(response.content)[1]) not in body
        page = await client.get("/admin/invitations")
        assert "1 名に招待メールを送信しました" in page.text

    async def test_a_mail_failure_still_gives_the_letters(
        self, client: AsyncTestClient[Litestar], world: World, staff: dict[str, Person], inbox: tuple[Inbox, int]
    ) -> None:
        handler, _ = inbox
        handler.handle_DATA = refuse  # type: ignore[method-assign]
        await sign_in(client, world.admin)

        response = await invite(client, staff["sato"])

        assert response.status_code == 200
        assert len(pdf_pages(response.content)) == 1
        page = await client.get("/admin/invitations")
        assert "1 名へのメールを送信できませんでした" in page.text


async def refuse(server: Any, session: Any, envelope: Any) -> str:
    return "554 Transaction failed"
