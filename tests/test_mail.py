"""Mailer against a real SMTP server on loopback (aiosmtpd), and the invitation mail's wording."""

from __future__ import annotations

import datetime as dt
import logging
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from app.config import Settings
from app.mail import Mailer, MailError, invitation_mail, payee_link_mail
from selfservice.letters import InvitationLetter, PayeeLinkSheet

BODY_MARKER = "本文だけに含まれる目印-7f3a"


class Inbox:
    """aiosmtpd handler that keeps every accepted message."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def message(self, index: int = 0) -> EmailMessage:
        content = self.envelopes[index].content
        assert isinstance(content, bytes)
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def unix_lines(text: str) -> str:
    return text.replace("\r\n", "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accept_only(user: str, password: str) -> Any:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (user.encode(), password.encode())
        return AuthResult(success=ok, handled=False)

    return authenticate


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def mailer_for(port: int, **settings: Any) -> Mailer:
    return Mailer(Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_from="mynumber@takara.example.jp", **settings))


def invitation() -> InvitationLetter:
    return InvitationLetter(
        company_name="株式会社たからづか製作所",
        employee_name="佐藤 一郎",
        employee_code="201",
        department_name="東京営業部",
        tenant_code="takara01",
        login_id="e201-takara",
        initial_password="Kx7hT-9mRq-4wPz",
        sign_in_url="https://mnv.example.jp/s/takara01/signin",
        expires_on=dt.date(2026, 12, 6),
        contact="総務課 岡 昌平（内線 123）",
    )


class TestMailer:
    async def test_it_delivers_a_utf8_plain_text_message(self, inbox: tuple[Inbox, int]) -> None:
        handler, port = inbox

        await mailer_for(port).send(
            "ichiro.sato@example.jp", "マイナンバー登録のお願い", f"佐藤 一郎 様\n{BODY_MARKER}\n"
        )

        assert len(handler.envelopes) == 1
        envelope = handler.envelopes[0]
        assert envelope.mail_from == "mynumber@takara.example.jp"
        assert envelope.rcpt_tos == ["ichiro.sato@example.jp"]
        message = handler.message()
        assert message["To"] == "ichiro.sato@example.jp"
        assert message["From"] == "mynumber@takara.example.jp"
        assert message["Subject"] == "マイナンバー登録のお願い"
        assert message["Message-ID"]
        assert message["Date"]
        assert message.get_content_type() == "text/plain"
        assert message.get_content_charset() == "utf-8"
        assert unix_lines(message.get_content()) == f"佐藤 一郎 様\n{BODY_MARKER}\n"

    @pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
    async def test_it_signs_in_when_a_user_is_configured(self) -> None:
        handler, port = Inbox(), free_port()
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=port,
            authenticator=accept_only("mailer", "s3cret"),
            auth_required=True,
            auth_require_tls=False,
        )
        controller.start()
        try:
            await mailer_for(port, smtp_user="mailer", smtp_password="s3cret").send("a@example.jp", "件名", "本文")
            with pytest.raises(MailError):
                await mailer_for(port, smtp_user="mailer", smtp_password="wrong").send("a@example.jp", "件名", "本文")
        finally:
            controller.stop()

        assert len(handler.envelopes) == 1

    async def test_it_logs_the_delivery_without_the_body(
        self, inbox: tuple[Inbox, int], caplog: pytest.LogCaptureFixture
    ) -> None:
        _, port = inbox
        caplog.set_level(logging.INFO, logger="mnvault.mail")

        await mailer_for(port).send("ichiro.sato@example.jp", "件名", BODY_MARKER)

        ours = [record for record in caplog.records if record.name.startswith("mnvault")]
        assert [record.getMessage() for record in ours] == ["mail sent"]
        for record in caplog.records:
            assert BODY_MARKER not in repr(vars(record))

    async def test_it_is_disabled_without_an_smtp_host(self) -> None:
        mailer = Mailer(Settings(smtp_host=""))

        assert mailer.enabled is False
        with pytest.raises(MailError, match="設定されていません"):
            await mailer.send("ichiro.sato@example.jp", "件名", "本文")

    async def test_it_is_enabled_with_an_smtp_host(self) -> None:
        assert mailer_for(25).enabled is True

    async def test_a_refused_connection_raises_a_japanese_mail_error(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO, logger="mnvault.mail")

        with pytest.raises(MailError, match="メールを送信できませんでした") as raised:
            await mailer_for(free_port()).send("ichiro.sato@example.jp", "件名", BODY_MARKER)

        assert isinstance(raised.value.__cause__, OSError)
        assert [record.getMessage() for record in caplog.records] == ["mail not sent"]
        assert BODY_MARKER not in caplog.text

    @pytest.mark.parametrize("subject", ["件名\r\nBcc: victim@example.jp", "件名\nX-Injected: 1"])
    async def test_it_refuses_line_breaks_in_the_subject(self, inbox: tuple[Inbox, int], subject: str) -> None:
        handler, port = inbox

        with pytest.raises(MailError):
            await mailer_for(port).send("ichiro.sato@example.jp", subject, "本文")

        assert handler.envelopes == []

    @pytest.mark.parametrize(
        "address",
        ["", "ichiro", "ichiro@", "@example.jp", "a b@example.jp", "a@example.jp\r\nBcc: b@example.jp", "a@b"],
    )
    async def test_it_refuses_a_malformed_address(self, inbox: tuple[Inbox, int], address: str) -> None:
        handler, port = inbox

        with pytest.raises(MailError, match="メールアドレス"):
            await mailer_for(port).send(address, "件名", "本文")

        assert handler.envelopes == []


class TestInvitationMail:
    def test_it_gives_the_sign_in_url_tenant_code_and_login_id(self) -> None:
        subject, body = invitation_mail(invitation())

        assert "マイナンバー登録のお願い" in subject
        assert "株式会社たからづか製作所" in subject
        assert "佐藤 一郎 様" in body
        assert "https://mnv.example.jp/s/takara01/signin" in body
        assert "事業者コード：takara01" in body
        assert "ログインID：e201-takara" in body
        assert "2026/12/06まで" in body
        assert "総務課 岡 昌平（内線 123）" in body

    def test_it_never_contains_the_initial_password_and_says_where_it_is(self) -> None:
        subject, body = invitation_mail(invitation())

        assert "Kx7hT-9mRq-4wPz" not in subject + body
        assert "初回パスワードは、安全のためこのメールには記載していません" in body
        assert "書面" in body

    async def test_it_arrives_intact_through_smtp(self, inbox: tuple[Inbox, int]) -> None:
        handler, port = inbox
        subject, body = invitation_mail(invitation())

        await mailer_for(port).send("ichiro.sato@example.jp", subject, body)

        message = handler.message()
        assert message["Subject"] == subject
        assert unix_lines(message.get_content()) == body


class TestPayeeLinkMail:
    def test_it_gives_the_one_time_link_and_its_expiry(self) -> None:
        sheet = PayeeLinkSheet(
            company_name="株式会社たからづか製作所",
            payee_name="山田 太郎",
            link_url="https://mnv.example.jp/p/3q2Zr8uYtK0Lw9vXc4bQe1NpM7sDfGhJ",
            expires_on=dt.date(2026, 12, 6),
            contact="経理課（内線 456）",
        )

        subject, body = payee_link_mail(sheet)

        assert "ご提供のお願い" in subject
        assert "山田 太郎 様" in body
        assert sheet.link_url in body
        assert "2026/12/06まで" in body
        assert "一度だけ" in body
