"""Payee one-time links: the admin issues, the payee enters and confirms on a phone page, the link is used up."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import re
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlparse

import httpx
import msgspec
import pytest
from aiosmtpd.controller import Controller as SMTPController
from aiosmtpd.smtp import Envelope
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.config import Settings
from app.db import utcnow
from selfservice import payees
from tenants.models import CollectionStatus, PayeeLink, PayeeType, Person
from tests.support.audit import entries
from tests.support.cards import card_html, confirmation_token, hides, shown_numbers
from tests.support.people import give_number, make_employee, make_payee, valid_my_number
from tests.support.world import World, post_form, second_device, sign_in

CORPORATE_NUMBER = "7000012050002"
PAYEE_NAME = "山田 太郎"


# Helpers --------------------------------------------------------------------------------------------------------


async def payee(db: AsyncSession, world: World, *, kind: PayeeType = PayeeType.INDIVIDUAL, email: str = "") -> Person:
    person = await make_payee(db, world.tenant.id, PAYEE_NAME if kind is PayeeType.INDIVIDUAL else "株式会社山田", kind)
    person.email = email
    await db.commit()
    return person


def wrong_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def grouped(number: str) -> str:
    """A number shown in full: 4-4-4 spans (copying it gives the bare digits)."""
    return card_html(number)


async def issue(client: AsyncTestClient[Litestar], person: Person) -> tuple[str, str, str]:
    """Issue a link as the signed-in staff; returns (url, path, issued page html)."""
    response: Any = await post_form(client, f"/admin/payees/{person.id}/link")
    assert response.status_code == 200, response.text[:500]
    match = re.search(r'id="payee-link-url"[^>]*value="([^"]+)"', response.text)
    assert match, "no link URL on the issued page"
    url = match.group(1)
    return url, urlparse(url).path, response.text


def token_of(path: str) -> str:
    return path.rsplit("/", 1)[1]


async def reload(db: AsyncSession, person: Person) -> Person:
    statement = (
        select(Person)
        .where(Person.tenant_id == person.tenant_id, Person.id == person.id)
        .execution_options(populate_existing=True)
    )
    return (await db.execute(statement)).scalar_one()


async def links_of(db: AsyncSession, person: Person) -> list[PayeeLink]:
    statement = (
        select(PayeeLink)
        .where(PayeeLink.tenant_id == person.tenant_id, PayeeLink.person_id == person.id)
        .order_by(PayeeLink.created_at)
        .execution_options(populate_existing=True)
    )
    return list((await db.execute(statement)).scalars())


class AsPayee:
    """The payee's own phone: a separate cookie jar on the same test client, never signed in."""

    def __init__(self, client: AsyncTestClient[Litestar], path: str) -> None:
        self.client = client
        self.path = path
        self.jar = httpx.Cookies()
        self.confirmation = ""  # the token of the last confirmation screen this phone was shown

    async def open(self) -> Any:
        with second_device(self.client, self.jar):
            return await self.client.get(self.path)

    async def enter(self, number: str) -> Any:
        with second_device(self.client, self.jar):
            await self.client.get(self.path)  # the page sets the CSRF cookie
            response: Any = await post_form(self.client, self.path, {"number": number})
            self.confirmation = confirmation_token(response.text)
            return response

    async def confirm(self, token: str | None = None) -> Any:
        """Press 確定する on the last confirmation screen (or send ``token`` instead of its token)."""
        data = {"confirmation": self.confirmation if token is None else token}
        with second_device(self.client, self.jar):
            return await post_form(self.client, self.path + "/confirm", data)


# The whole lifecycle --------------------------------------------------------------------------------------------


async def test_a_payee_registers_through_the_link_and_the_admin_sees_only_a_mask(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await payee(db, world)
    number = valid_my_number(5)
    await sign_in(client, world.admin)
    page = await client.get(f"/admin/payees/{person.id}/link")
    assert page.status_code == 200
    assert "リンクはまだ発行されていません" in page.text

    _, path, issued = await issue(client, person)
    assert path.startswith("/p/acme/")
    assert len(token_of(path)) >= 32  # secrets.token_urlsafe(24): 192 bits
    assert 'src="data:image/svg+xml' in issued
    phone = AsPayee(client, path)

    opened = await phone.open()
    assert opened.status_code == 200
    for expected in ("アクメ商事株式会社", PAYEE_NAME, "報酬・料金等の支払調書作成事務", 'inputmode="numeric"'):
        assert expected in opened.text
    assert opened.headers["referrer-policy"] == "no-referrer"

    refused = await phone.enter(wrong_check_digit(number))
    assert refused.status_code == 400
    assert "チェックデジットが一致しません" in refused.text
    assert hides(refused.text, wrong_check_digit(number))
    assert (await reload(db, person)).status is CollectionStatus.NOT_REGISTERED

    shown = await phone.enter(number)
    assert shown.status_code == 200
    assert grouped(number) in shown.text
    assert "確定する" in shown.text and "入力し直す" in shown.text
    assert "content-encoding" not in shown.headers
    assert (await reload(db, person)).status is CollectionStatus.REGISTERED

    done = await phone.confirm()
    assert done.status_code == 200
    assert "ご登録ありがとうございました" in done.text
    assert number not in done.text and grouped(number) not in done.text

    again = await phone.open()
    assert again.status_code == 410
    assert "このリンクは使用済みです" in again.text
    assert (await phone.enter(valid_my_number(6))).status_code == 410

    admin_page = await client.get(f"/admin/payees/{person.id}/link")
    assert "本人番号確認済" in admin_page.text
    assert "*" * 10 + number[-2:] in admin_page.text
    assert hides(admin_page.text, number)
    assert "使用済" in admin_page.text
    assert (await reload(db, person)).status is CollectionStatus.SELF_CONFIRMED


async def test_the_payee_acts_in_the_log_without_an_account(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await payee(db, world)
    await sign_in(client, world.admin)
    _, path, _ = await issue(client, person)
    phone = AsPayee(client, path)
    await phone.enter(valid_my_number(7))
    await phone.confirm()

    (issued,) = await entries(db, world.tenant.id, AuditAction.UPDATE)
    assert issued.function == "取引先リンク発行" and issued.actor_login_id == "admin"
    registered, viewed, confirmed = [
        (await entries(db, world.tenant.id, action))[-1]
        for action in (AuditAction.REGISTER, AuditAction.VIEW, AuditAction.SELF_CONFIRM)
    ]
    for entry in (registered, viewed, confirmed):
        assert entry.actor_user_id is None
        assert entry.actor_login_id == "payee-link"
        assert entry.actor_name == PAYEE_NAME
        assert entry.actor_role == "取引先"
        assert entry.actor_organisation == "アクメ商事株式会社"
        assert entry.ip
        assert entry.function == "取引先登録"
        assert entry.subject_person_id == person.id
    assert viewed.purpose == "本人による番号確認"


async def test_entering_again_replaces_the_number_while_the_link_is_unused(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, app: Litestar
) -> None:
    person = await payee(db, world)
    first, second = valid_my_number(11), valid_my_number(12)
    await sign_in(client, world.admin)
    _, path, _ = await issue(client, person)
    phone = AsPayee(client, path)
    assert (await phone.enter(first)).status_code == 200

    reopened = await phone.open()
    assert reopened.status_code == 200
    assert "まだ確定していません" in reopened.text
    assert first not in reopened.text and grouped(first) not in reopened.text

    shown = await phone.enter(second)
    assert grouped(second) in shown.text
    assert (await phone.confirm()).status_code == 200
    info = await app.state["vault"].number_info(db, world.tenant.id, [person.id])
    assert info[person.id].masked.endswith(second[-2:])


async def test_confirming_without_entering_is_refused(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, app: Litestar
) -> None:
    person = await payee(db, world)
    await give_number(db, app.state["vault"], person, valid_my_number(21))  # 代理登録 by the admin
    await db.commit()
    await sign_in(client, world.admin)
    _, path, _ = await issue(client, person)

    refused = await AsPayee(client, path).confirm()
    assert refused.status_code == 400
    assert "番号を入力してから確定してください" in refused.text
    assert (await reload(db, person)).status is CollectionStatus.PROXY_REGISTERED
    assert (await links_of(db, person))[-1].used_at is None


async def test_a_corporation_gives_its_corporate_number_and_a_my_number_is_refused(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await payee(db, world, kind=PayeeType.CORPORATION)
    await sign_in(client, world.handler)
    _, path, _ = await issue(client, person)
    phone = AsPayee(client, path)

    opened = await phone.open()
    assert "法人番号（13桁）" in opened.text
    refused = await phone.enter(valid_my_number(8))
    assert refused.status_code == 400
    assert "法人番号は13桁で入力してください" in refused.text

    shown = await phone.enter(CORPORATE_NUMBER)
    assert shown.status_code == 200
    assert "<span>7</span><span>0000</span><span>1205</span><span>0002</span>" in shown.text
    assert shown_numbers(shown.text) == [CORPORATE_NUMBER]
    assert (await phone.confirm()).status_code == 200
    assert (await reload(db, person)).status is CollectionStatus.SELF_CONFIRMED
    admin_page = await client.get(f"/admin/payees/{person.id}/link")
    assert "*" * 11 + "02" in admin_page.text
    assert hides(admin_page.text, CORPORATE_NUMBER)


# Links that cannot be used ------------------------------------------------------------------------------------


async def test_an_expired_link_says_so_with_410(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await payee(db, world)
    await sign_in(client, world.admin)
    _, path, _ = await issue(client, person)
    await db.execute(
        update(PayeeLink)
        .where(PayeeLink.tenant_id == person.tenant_id, PayeeLink.person_id == person.id)
        .values(expires_at=utcnow() - dt.timedelta(minutes=1))
    )
    await db.commit()
    phone = AsPayee(client, path)

    opened = await phone.open()
    assert opened.status_code == 410
    assert "このリンクは有効期限が切れています" in opened.text
    assert "新しいリンクの発行をご依頼ください" in opened.text
    assert (await phone.enter(valid_my_number(9))).status_code == 410
    assert (await reload(db, person)).status is CollectionStatus.NOT_REGISTERED
    assert "期限切れ" in (await client.get(f"/admin/payees/{person.id}/link")).text


async def test_issuing_again_revokes_the_previous_link(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await payee(db, world)
    await sign_in(client, world.admin)
    _, old_path, _ = await issue(client, person)
    _, new_path, issued = await issue(client, person)
    assert old_path != new_path
    assert "以前に発行したリンクは使えなくなりました" in issued

    old = await AsPayee(client, old_path).open()
    assert old.status_code == 410
    assert "このリンクは無効になっています" in old.text
    assert (await AsPayee(client, new_path).open()).status_code == 200
    links = await links_of(db, person)
    assert [link.revoked_at is None for link in links] == [False, True]


async def test_revoking_ends_the_active_link(client: AsyncTestClient[Litestar], db: AsyncSession, world: World) -> None:
    person = await payee(db, world)
    await sign_in(client, world.admin)
    _, path, _ = await issue(client, person)
    response: Any = await post_form(client, f"/admin/payees/{person.id}/link/revoke")
    assert response.status_code in (302, 303)
    assert (await AsPayee(client, path).open()).status_code == 410
    assert "無効化済" in (await client.get(f"/admin/payees/{person.id}/link")).text
    (revoked,) = [
        e for e in await entries(db, world.tenant.id, AuditAction.UPDATE) if e.function == "取引先リンク無効化"
    ]
    assert revoked.subject_person_id == person.id


async def test_unknown_tenant_and_unknown_token_get_the_same_404_page(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await payee(db, world)
    await sign_in(client, world.admin)
    _, path, _ = await issue(client, person)
    token = token_of(path)
    client.cookies.clear()

    unknown_tenant = await client.get(f"/p/nosuchco/{token}")
    unknown_token = await client.get(f"/p/acme/{payees.new_token()}")
    other_tenant = await client.get(f"/p/other/{token}")
    assert unknown_tenant.status_code == unknown_token.status_code == other_tenant.status_code == 404
    assert unknown_tenant.text == unknown_token.text == other_tenant.text
    assert "このリンクは見つかりません" in unknown_token.text
    assert "アクメ" not in unknown_token.text


async def test_an_admin_confirmed_payee_gets_no_link(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, app: Litestar
) -> None:
    person = await payee(db, world)
    await give_number(db, app.state["vault"], person, valid_my_number(41))
    person.status = CollectionStatus.ADMIN_CONFIRMED
    await db.commit()
    await sign_in(client, world.admin)
    response: Any = await post_form(client, f"/admin/payees/{person.id}/link")
    assert response.status_code in (302, 303)
    page = await client.get(f"/admin/payees/{person.id}/link")
    assert "管理者確認済みの番号があるため、リンクは発行できません" in page.text
    assert await links_of(db, person) == []


# Isolation, CSRF, rate limit ---------------------------------------------------------------------------------


async def test_another_tenants_person_is_not_found_on_every_admin_route(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await payee(db, world)
    employee = await make_employee(db, world.tenant.id, "E1", "社員 一郎")
    await db.commit()
    await sign_in(client, world.other_admin)
    base = f"/admin/payees/{person.id}/link"
    assert (await client.get(base)).status_code == 404
    for path in (base, base + "/sheet", base + "/revoke"):
        response: Any = await post_form(client, path, {"token": "x"})
        assert response.status_code == 404, path
    assert await links_of(db, person) == []

    client.cookies.clear()
    await sign_in(client, world.admin)
    assert (await client.get(f"/admin/payees/{employee.id}/link")).status_code == 404
    assert ((await post_form(client, f"/admin/payees/{employee.id}/link")).status_code) == 404  # type: ignore[attr-defined]


async def test_viewers_and_employees_cannot_issue_links(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await payee(db, world)
    for persona in (world.viewer, world.employee):
        client.cookies.clear()
        await sign_in(client, persona)
        assert (await client.get(f"/admin/payees/{person.id}/link")).status_code == 403
        assert ((await post_form(client, f"/admin/payees/{person.id}/link")).status_code) == 403  # type: ignore[attr-defined]


async def test_the_public_post_needs_the_csrf_token(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await payee(db, world)
    await sign_in(client, world.admin)
    _, path, _ = await issue(client, person)
    phone = AsPayee(client, path)
    with second_device(client, phone.jar):
        await client.get(path)
        response: Any = await post_form(client, path, {"number": valid_my_number(3)}, csrf=False)
    assert response.status_code == 403
    assert (await reload(db, person)).status is CollectionStatus.NOT_REGISTERED


async def test_public_posts_are_rate_limited_per_client_address(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    from selfservice.controllers import PAYEE_POSTS_PER_MINUTE

    person = await payee(db, world)
    await sign_in(client, world.admin)
    _, path, _ = await issue(client, person)
    phone = AsPayee(client, path)
    with second_device(client, phone.jar):
        await client.get(path)
        statuses = [
            (await post_form(client, path, {"number": "123"})).status_code  # type: ignore[attr-defined]
            for _ in range(PAYEE_POSTS_PER_MINUTE + 1)
        ]
        opened = await client.get(path)
    # Ten wrong entries lock the link (423); the rate limit counts every post all the same.
    assert statuses[:-1] == [400] * 9 + [423] * (PAYEE_POSTS_PER_MINUTE - 9)
    assert statuses[-1] == 429
    assert opened.status_code == 423  # reading is not limited: the page says the link is locked


# What is stored, printed, mailed and logged -----------------------------------------------------------------


async def test_the_token_is_stored_only_as_its_hash(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await payee(db, world)
    await sign_in(client, world.admin)
    _, path, _ = await issue(client, person)
    token = token_of(path)

    rows = (await db.execute(text("SELECT * FROM payee_links"))).all()
    assert len(rows) == 1
    dumped = repr([tuple(row) for row in rows])
    assert token not in dumped
    assert hashlib.sha256(token.encode()).hexdigest() in dumped
    audit = (await db.execute(text("SELECT * FROM audit_entries"))).all()
    assert token not in repr([tuple(row) for row in audit])


async def test_the_printed_sheet_carries_the_link(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await payee(db, world)
    await sign_in(client, world.admin)
    url, path, issued = await issue(client, person)
    token = re.search(r'name="token" value="([^"]+)"', issued)
    assert token and token.group(1) == token_of(path)

    response: Any = await post_form(client, f"/admin/payees/{person.id}/link/sheet", {"token": token.group(1)})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment")
    text_of_pdf = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert url in re.sub(r"\s+", "", text_of_pdf)
    assert PAYEE_NAME.replace(" ", "") in re.sub(r"\s+", "", text_of_pdf)
    assert [e.function for e in await entries(db, world.tenant.id, AuditAction.PRINT)] == ["取引先リンク印刷"]

    forged: Any = await post_form(client, f"/admin/payees/{person.id}/link/sheet", {"token": payees.new_token()})
    assert forged.status_code in (302, 303)
    await issue(client, person)  # the first link is revoked now
    stale: Any = await post_form(client, f"/admin/payees/{person.id}/link/sheet", {"token": token.group(1)})
    assert stale.status_code in (302, 303)


class Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    inbox = Inbox()
    controller = SMTPController(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
async def mailing_client(settings: Settings, smtp_inbox: tuple[Inbox, int]) -> AsyncIterator[AsyncTestClient[Litestar]]:
    from app.main import create_app

    mail_settings = msgspec.structs.replace(
        settings, smtp_host="127.0.0.1", smtp_port=smtp_inbox[1], base_url="http://mnv.example.jp"
    )
    async with AsyncTestClient(app=create_app(mail_settings), base_url="http://testserver.local") as test_client:
        yield test_client


async def test_the_link_is_mailed_when_smtp_is_set_up(
    mailing_client: AsyncTestClient[Litestar], smtp_inbox: tuple[Inbox, int], db: AsyncSession, world: World
) -> None:
    inbox, _ = smtp_inbox
    person = await payee(db, world, email="yamada@example.jp")
    await sign_in(mailing_client, world.admin)
    url, _, issued = await issue(mailing_client, person)
    assert url.startswith("http://mnv.example.jp/p/acme/")
    assert "yamada@example.jp にリンクをメールで送信しました" in issued
    (envelope,) = inbox.envelopes
    assert envelope.rcpt_tos == ["yamada@example.jp"]
    assert isinstance(envelope.content, bytes)
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert url in message.get_content()
    assert [e.function for e in await entries(db, world.tenant.id, AuditAction.UPDATE)] == [
        "取引先リンク発行",
        "取引先リンク送信",
    ]


async def test_no_mail_is_attempted_without_smtp(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    person = await payee(db, world, email="yamada@example.jp")
    await sign_in(client, world.admin)
    _, _, issued = await issue(client, person)
    assert "メール送信は設定されていません" in issued


async def test_no_log_line_records_the_token(
    client: AsyncTestClient[Litestar],
    db: AsyncSession,
    world: World,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    person = await payee(db, world)
    await sign_in(client, world.admin)
    _, path, _ = await issue(client, person)
    phone = AsPayee(client, path)
    await phone.enter(wrong_check_digit(valid_my_number(51)))
    await phone.enter(valid_my_number(51))
    await phone.confirm()
    await phone.open()

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(payees, "resolve_link", broken)
    failed = await phone.open()
    assert failed.status_code == 500
    token = token_of(path)
    assert any(getattr(r, "path", "") == "/p/{tenant_code}/{token}" for r in caplog.records)
    # The test client's own httpx logger prints the URLs it requests; only the server's lines matter here.
    for record in (r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))):
        assert token not in record.getMessage()
        assert token not in repr(vars(record))


def test_tokens_are_random_and_hashed_with_sha256() -> None:
    tokens = {payees.new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) == 32 for t in tokens)
    token = tokens.pop()
    assert payees.hash_token(token) == hashlib.sha256(token.encode()).hexdigest()


def test_link_state_prefers_used_over_revoked_over_expired() -> None:
    now = utcnow()
    past = now - dt.timedelta(days=1)
    link = PayeeLink(tenant_id=uuid.uuid4(), person_id=uuid.uuid4(), token_hash="x", expires_at=now)
    assert payees.link_state(None) is payees.LinkState.NONE
    assert payees.link_state(link, past) is payees.LinkState.ACTIVE
    assert payees.link_state(link, now) is payees.LinkState.EXPIRED
    link.revoked_at = past
    assert payees.link_state(link, past) is payees.LinkState.REVOKED
    link.used_at = past
    assert payees.link_state(link, past) is payees.LinkState.USED
